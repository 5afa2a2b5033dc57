//! `EXTEND_TIMEOUT_USEC=`: the app asks for more time to start or to stop.
//! The start-up budget is `HOOKINIT_NOTIFY_START_TIMEOUT` (READY=1 due that
//! long after the app's start), the stop's is the grace period (SIGKILL at
//! its end). Either moves to `now + n` when that is later, but never past
//! `HOOKINIT_NOTIFY_EXTEND_LIMIT` after the budget began: a hung app cannot
//! hold the container for ever by asking again and again.

use crate::events::{self, Level};
use std::time::{Duration, Instant};

/// The start-up and stop budgets, as far as the app may move them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Budget {
    /// `HOOKINIT_NOTIFY_START_TIMEOUT`.
    pub start_timeout: Option<Duration>,
    /// `HOOKINIT_NOTIFY_EXTEND_LIMIT`: the ceiling, from each budget's start.
    pub limit: Option<Duration>,
    /// When the app started (0 before).
    app_start: Option<Instant>,
    /// When READY=1 is due; `None` once it came, or with no start timeout.
    pub start_due: Option<Instant>,
    /// When the stop began.
    stop_began: Option<Instant>,
}

impl Budget {
    pub fn new(start_timeout: Option<Duration>, limit: Option<Duration>) -> Budget {
        Budget {
            start_timeout,
            limit,
            ..Budget::default()
        }
    }

    /// The app started at `now`: the start-up budget runs.
    pub fn app_started(&mut self, now: Instant) {
        self.app_start = Some(now);
        self.start_due = self.start_timeout.map(|t| now + t);
    }

    /// READY=1 came, or the stop began: no more start-up budget.
    pub fn start_over(&mut self) {
        self.start_due = None;
    }

    /// The stop began at `now` (the first time counts).
    pub fn stop_began(&mut self, now: Instant) {
        self.start_due = None;
        self.stop_began.get_or_insert(now);
    }

    /// A budget runs for `EXTEND_TIMEOUT_USEC=` to move: the start-up's
    /// (no READY=1 yet), or the stop's.
    pub fn runs(&self) -> bool {
        self.start_due.is_some() || self.stop_began.is_some()
    }

    /// How long the start-up budget was, if it ran out by `now` (it is
    /// over then).
    pub fn start_failed(&mut self, now: Instant) -> Option<Duration> {
        let due = self.start_due.filter(|&due| now >= due)?;
        self.start_due = None;
        Some(due.saturating_duration_since(self.app_start.unwrap_or(due)))
    }

    /// `EXTEND_TIMEOUT_USEC=usec`: during start-up (`kill` is `None`) READY=1
    /// becomes due `usec` µs from `now`; during the stop, whose SIGKILL is due at
    /// `kill`, SIGKILL does: the new deadline, if it moved. Either way `due`
    /// moves only later, and never past the ceiling counted from the
    /// budget's start. One function for both (one log line).
    #[inline(never)]
    pub fn extend(&mut self, now: Instant, usec: u64, kill: Option<Instant>) -> Option<Instant> {
        let (due, began, what) = match (kill, self.start_due, self.app_start) {
            (Some(deadline), ..) => {
                let began = *self.stop_began.get_or_insert(now);
                (deadline, began, "the stop's budget (SIGKILL)")
            }
            (None, Some(due), Some(start)) => (due, start, "the start-up budget (READY=1 due)"),
            // No budget runs: the line was ignored and logged when heard
            // ([`Budget::runs`]), or READY=1 came after it in its batch.
            (None, ..) => return None,
        };
        let want = now + Duration::from_micros(usec);
        let to = due.max(want.min(began + self.limit.unwrap_or_default()));
        // When it ends; the ceiling itself is in --check.
        let capped = if want > to { " (at its ceiling)" } else { "" };
        let msg = format_args!(
            "the app sent EXTEND_TIMEOUT_USEC={usec}: {what} is {} from now{capped}",
            events::secs(to.saturating_duration_since(now)),
        );
        events::log(Level::Info, "AppNotify", msg);
        match kill {
            Some(deadline) => (to > deadline).then_some(to),
            None => {
                self.start_due = Some(to);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn us(d: Duration) -> u64 {
        d.as_micros() as u64
    }

    #[test]
    fn start_extends_to_now_plus_n_never_past_the_ceiling_nor_earlier() {
        let t0 = Instant::now();
        let mut b = Budget::new(Some(10 * S), Some(30 * S));
        b.app_started(t0);
        assert_eq!(b.start_due, Some(t0 + 10 * S));
        // Asking for less than is left changes nothing.
        b.extend(t0 + S, us(2 * S), None);
        assert_eq!(b.start_due, Some(t0 + 10 * S));
        b.extend(t0 + 5 * S, us(20 * S), None);
        assert_eq!(b.start_due, Some(t0 + 25 * S));
        b.extend(t0 + 20 * S, us(60 * S), None);
        assert_eq!(b.start_due, Some(t0 + 30 * S));
        assert_eq!(b.start_failed(t0 + 29 * S), None);
        assert_eq!(b.start_failed(t0 + 30 * S), Some(30 * S));
        assert_eq!(b.start_due, None);
    }

    #[test]
    fn without_a_start_timeout_or_after_ready_start_is_not_extended() {
        let t0 = Instant::now();
        let mut b = Budget::new(None, Some(30 * S));
        b.app_started(t0);
        b.extend(t0, us(5 * S), None);
        assert_eq!(b.start_due, None);
        let mut b = Budget::new(Some(S), Some(30 * S));
        b.app_started(t0);
        b.start_over();
        b.extend(t0, us(5 * S), None);
        assert_eq!((b.start_due, b.start_failed(t0 + 9 * S)), (None, None));
    }

    #[test]
    fn stop_extends_the_sigkill_deadline_up_to_the_ceiling_from_the_stops_start() {
        let t0 = Instant::now();
        let mut b = Budget::new(None, Some(20 * S));
        b.stop_began(t0);
        // A later stop_began (a second stop) does not move the ceiling.
        b.stop_began(t0 + 3 * S);
        let deadline = t0 + 9 * S;
        assert_eq!(b.extend(t0 + S, us(5 * S), Some(deadline)), None);
        assert_eq!(
            b.extend(t0 + 5 * S, us(10 * S), Some(deadline)),
            Some(t0 + 15 * S)
        );
        assert_eq!(
            b.extend(t0 + 15 * S, us(60 * S), Some(t0 + 15 * S)),
            Some(t0 + 20 * S)
        );
        assert_eq!(b.extend(t0 + 19 * S, us(60 * S), Some(t0 + 20 * S)), None);
    }
}
