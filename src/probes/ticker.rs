//! When a probe runs: the kubelet's ticker (`worker.go` `run`), with the
//! time given, never read:
//! - ticks fall every `periodSeconds` from the app's start (the anchor);
//! - a tick before `initialDelaySeconds` is skipped (the kubelet checks the
//!   delay at each tick), so the first run is the first tick at or after it;
//! - a probe first asked for late (held back by the startup probe or
//!   PostStart) runs at the next tick from then: the kubelet's worker
//!   returned early at the ticks that passed;
//! - a run slower than its period runs again as soon as it ends, and the
//!   grid goes on from the last tick that passed (a Go ticker keeps one tick
//!   and drops the others);
//! - readiness runs at once when the container has started (the kubelet's
//!   manual trigger), then every period from that moment (it resets the
//!   ticker).

use std::time::{Duration, Instant};

pub(crate) struct Ticker {
    /// At least 1 ms, so that the grid always moves on.
    period: Duration,
    /// The app's start plus `initialDelaySeconds`: no run before.
    earliest: Instant,
    /// Ticks fall on `anchor + k * period`.
    anchor: Instant,
    /// The tick the last run took (the ticker's phase).
    last_tick: Option<Instant>,
    /// Runs at once if the initial delay has passed (the manual trigger).
    triggered: bool,
}

impl Ticker {
    pub(crate) fn new(app_started: Instant, period: Duration, initial_delay: Duration) -> Ticker {
        Ticker {
            period: period.max(Duration::from_millis(1)),
            earliest: app_started + initial_delay,
            anchor: app_started,
            last_tick: None,
            triggered: false,
        }
    }

    pub(crate) fn period(&self) -> Duration {
        self.period
    }

    /// The kubelet's manual trigger at `now`: the next run is at once (unless
    /// the initial delay has not passed), and the ticks restart from `now`.
    pub(crate) fn trigger(&mut self, now: Instant) {
        self.anchor = now;
        self.last_tick = None;
        self.triggered = true;
    }

    /// When the next run starts, seen at `now` (when the last one ended):
    /// the next tick on the grid, not before the initial delay; a tick that
    /// passed while the last run ran is taken at once.
    pub(crate) fn next(&mut self, now: Instant) -> Instant {
        let period = self.period;
        let anchor = self.anchor;
        if std::mem::take(&mut self.triggered) && now >= self.earliest {
            self.anchor = now;
            self.last_tick = Some(now);
            return now;
        }
        let grid = |t: Instant| -> Instant {
            // The first tick at or after t.
            let since = t.saturating_duration_since(anchor);
            let k = since.as_nanos().div_ceil(period.as_nanos()).max(1);
            anchor + period * u32::try_from(k).unwrap_or(u32::MAX)
        };
        let candidate = match self.last_tick {
            // Never ran: ticks that passed while it was held back (the
            // startup probe, PostStart) were the kubelet's early returns,
            // lost; the first run is the next tick from now.
            None => grid(now.max(anchor + Duration::from_nanos(1))),
            Some(last) => last + period,
        };
        let (tick, at) = if candidate < now && self.last_tick.is_some() {
            // The ticker fired while the last run ran: one tick is kept.
            let since = now.saturating_duration_since(anchor);
            let k = (since.as_nanos() / period.as_nanos()).max(1);
            (anchor + period * u32::try_from(k).unwrap_or(u32::MAX), now)
        } else {
            (candidate, candidate)
        };
        let (tick, at) = if at < self.earliest {
            let t = grid(self.earliest);
            (t, t)
        } else {
            (tick, at)
        };
        self.last_tick = Some(tick);
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A moment `secs` after `t0`.
    fn at(t0: Instant, secs: f64) -> Instant {
        t0 + Duration::from_secs_f64(secs)
    }

    fn ticker(t0: Instant, period: u64, initial_delay: u64) -> Ticker {
        Ticker::new(
            t0,
            Duration::from_secs(period),
            Duration::from_secs(initial_delay),
        )
    }

    /// Runs that each end at the given moment; when each next run starts.
    fn runs(t: &mut Ticker, t0: Instant, ends: &[f64]) -> Vec<Instant> {
        ends.iter().map(|&end| t.next(at(t0, end))).collect()
    }

    fn moments(t0: Instant, secs: &[f64]) -> Vec<Instant> {
        secs.iter().map(|&s| at(t0, s)).collect()
    }

    #[test]
    fn ticks_fall_on_period_multiples_from_the_start_the_first_one_period_after_it() {
        let t0 = Instant::now();
        let mut t = ticker(t0, 10, 0);
        let starts = runs(&mut t, t0, &[0.0, 10.4, 20.01, 39.9]);
        assert_eq!(starts, moments(t0, &[10.0, 20.0, 30.0, 40.0]));
    }

    #[test]
    fn a_run_that_ends_on_a_tick_takes_that_tick() {
        let t0 = Instant::now();
        let mut t = ticker(t0, 10, 0);
        let starts = runs(&mut t, t0, &[0.0, 20.0, 20.5]);
        assert_eq!(starts, moments(t0, &[10.0, 20.0, 30.0]));
    }

    #[test]
    fn ticks_before_the_initial_delay_are_skipped_the_first_run_is_the_first_tick_at_or_after_it() {
        let t0 = Instant::now();
        // period, initialDelaySeconds, the first run.
        for (period, delay, first) in [(1, 3, 3.0), (10, 15, 20.0), (10, 20, 20.0), (4, 5, 8.0)] {
            let mut t = ticker(t0, period, delay);
            assert_eq!(t.next(t0), at(t0, first), "period {period}, delay {delay}");
            let then = t.next(at(t0, first + 0.2));
            assert_eq!(then, at(t0, first + period as f64), "{period}, {delay}");
        }
    }

    #[test]
    fn an_initial_delay_shorter_than_the_period_is_ignored() {
        let t0 = Instant::now();
        let mut t = ticker(t0, 10, 3);
        assert_eq!(t.next(t0), at(t0, 10.0));
    }

    #[test]
    fn a_run_slower_than_its_period_runs_again_as_soon_as_it_ends_then_the_grid_goes_on() {
        // A Go ticker keeps one tick for a slow receiver and drops the rest.
        let t0 = Instant::now();
        let mut t = ticker(t0, 10, 0);
        let starts = runs(&mut t, t0, &[0.0, 35.5, 36.0, 52.0, 52.5]);
        assert_eq!(starts, moments(t0, &[10.0, 35.5, 40.0, 52.0, 60.0]));
    }

    #[test]
    fn a_run_that_overruns_by_one_tick_runs_again_at_once() {
        let t0 = Instant::now();
        let mut t = ticker(t0, 10, 0);
        let starts = runs(&mut t, t0, &[0.0, 21.0, 21.5]);
        assert_eq!(starts, moments(t0, &[10.0, 21.0, 30.0]));
    }

    #[test]
    fn readiness_runs_at_once_at_the_start_then_every_period() {
        // The container starts with the app when there is no startup probe.
        let t0 = Instant::now();
        let mut t = ticker(t0, 10, 0);
        t.trigger(t0);
        let starts = runs(&mut t, t0, &[0.0, 0.2, 10.3]);
        assert_eq!(starts, moments(t0, &[0.0, 10.0, 20.0]));
    }

    #[test]
    fn readiness_runs_at_once_when_the_container_started_then_every_period_from_that_moment() {
        // The kubelet's manual trigger also resets the ticker.
        let t0 = Instant::now();
        let mut t = ticker(t0, 10, 0);
        t.trigger(t0);
        t.trigger(at(t0, 7.3));
        let starts = runs(&mut t, t0, &[7.3, 7.5, 17.4]);
        assert_eq!(starts, moments(t0, &[7.3, 17.3, 27.3]));
    }

    #[test]
    fn the_manual_trigger_before_the_initial_delay_waits_for_the_first_tick_after_the_delay() {
        // The triggered run is skipped (the delay has not passed); the
        // ticker restarted at the trigger.
        let t0 = Instant::now();
        for (delay, first) in [(5, 10.0), (15, 20.0)] {
            let mut t = ticker(t0, 10, delay);
            t.trigger(t0);
            assert_eq!(t.next(t0), at(t0, first), "delay {delay}");
        }
    }

    #[test]
    fn readiness_after_startup_still_waits_for_its_initial_delay_counted_from_the_app_start() {
        // As the kubelet's code does (its docs say otherwise:
        // kubernetes/website#42539): ticks from the trigger at 4 s, 3 s apart.
        let t0 = Instant::now();
        let mut t = ticker(t0, 3, 10);
        t.trigger(at(t0, 4.0));
        let starts = runs(&mut t, t0, &[4.0, 10.5]);
        assert_eq!(starts, moments(t0, &[10.0, 13.0]));
    }

    #[test]
    fn a_probe_first_asked_after_its_first_ticks_waits_for_the_next_one() {
        // Liveness held back by a startup probe that succeeded at 5.5 s: the
        // kubelet's worker returned early at 1..5 s, and runs at 6 s, with
        // its whole timeout (a past tick, taken at once, had its deadline
        // gone already: a healthy app was killed as timed out).
        let t0 = Instant::now();
        let mut t = ticker(t0, 1, 0);
        let starts = runs(&mut t, t0, &[5.5, 6.2, 7.1]);
        assert_eq!(starts, moments(t0, &[6.0, 7.0, 8.0]));
        // Exactly on a tick: that tick.
        let mut t = ticker(t0, 2, 0);
        assert_eq!(runs(&mut t, t0, &[4.0]), moments(t0, &[4.0]));
        // Held back past the initial delay too: the next tick after both.
        let mut t = ticker(t0, 3, 4);
        assert_eq!(runs(&mut t, t0, &[2.0]), moments(t0, &[6.0]));
        let mut t = ticker(t0, 3, 4);
        assert_eq!(runs(&mut t, t0, &[6.5]), moments(t0, &[9.0]));
    }
}
