//! When a probe runs: the kubelet's ticker (`worker.go` `run`), with the
//! time given, never read:
//! - ticks fall every `periodSeconds` from the app's start (the anchor);
//! - a tick before `initialDelaySeconds` is skipped (the kubelet checks the
//!   delay at each tick), so the first run is the first tick at or after it;
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
            None => grid(anchor + Duration::from_nanos(1)),
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
mod tests {}
