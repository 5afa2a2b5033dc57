//! What the kubelet's probe workers decide from results, without processes
//! or clocks (`pkg/kubelet/prober/worker.go` `doProbe`, and `prober_manager.go`
//! for started and ready):
//! - each probe starts from the kubelet's initial value: startup unknown,
//!   liveness success, readiness failure (not ready until it succeeds);
//! - a result changes the probe's value only after `successThreshold` /
//!   `failureThreshold` equal results in a row;
//! - an error (the handler could not run: the kubelet's "probe errored") is
//!   tried again at once, up to 3 times in all, then thrown away: it never
//!   reaches the counters. A probe process that crashed or exited before
//!   reporting is such an error too; one that hookinit killed at its
//!   deadline is a failure (the kubelet's exec timeout);
//! - the startup probe gates liveness and readiness until it succeeds;
//! - a liveness failure, or a startup probe reaching either threshold, puts
//!   that probe on hold: it runs no more.

use crate::spec::probe::ProbeKind;

/// The kubelet's `maxProbeRetries`: a probe that errors is tried this often.
pub(crate) const MAX_TRIES: u32 = 3;

/// What the supervisor must act on after a probe result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The startup probe succeeded (liveness and readiness begin).
    Started,
    /// Readiness may have changed: recompute the ready file.
    Readiness,
    /// A liveness failure, or a startup probe that failed: restart.
    Restart(ProbeKind),
}

/// The cached result of a probe (the kubelet's results manager).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Unknown,
    Success,
    Failure,
}

/// One run's result, as the counters see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ran {
    /// Success, or a warning (a final 3xx).
    Success,
    /// Failure, or a run killed at its deadline.
    Failure,
    /// The handler could not run at all, or its process ended without a
    /// report.
    Error,
}

/// What became of a run's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// An error below [`MAX_TRIES`]: the probe runs again at once.
    Retry,
    /// The last of [`MAX_TRIES`] errors in a row: thrown away (and logged).
    Discarded,
    /// Counted toward its threshold; what the supervisor must act on, if any.
    Counted(Option<Change>),
}

/// The two thresholds of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Thresholds {
    pub success: u32,
    pub failure: u32,
}

/// One probe's worker state.
struct State {
    kind: ProbeKind,
    thresholds: Thresholds,
    value: Value,
    last_result: Option<Value>,
    /// How many times in a row `last_result` came.
    result_run: u32,
    on_hold: bool,
    /// Errors in a row.
    tries: u32,
}

/// The three probes' states and whether the container has started.
pub(crate) struct Health {
    states: [Option<State>; 3],
    started: bool,
}

/// The slot of a probe kind, in [`Health`] and in the prober.
pub(crate) fn index(kind: ProbeKind) -> usize {
    match kind {
        ProbeKind::Startup => 0,
        ProbeKind::Liveness => 1,
        ProbeKind::Readiness => 2,
    }
}

impl Health {
    /// The probes that are set, in the order startup, liveness, readiness.
    pub(crate) fn new(thresholds: [Option<Thresholds>; 3]) -> Health {
        let [startup, liveness, readiness] = thresholds;
        let state = |kind, thresholds: Option<Thresholds>| {
            thresholds.map(|thresholds| State {
                kind,
                thresholds,
                // The kubelet's initial values.
                value: match kind {
                    ProbeKind::Readiness => Value::Failure,
                    ProbeKind::Liveness => Value::Success,
                    ProbeKind::Startup => Value::Unknown,
                },
                last_result: None,
                result_run: 0,
                on_hold: false,
                tries: 0,
            })
        };
        Health {
            started: startup.is_none(),
            states: [
                state(ProbeKind::Startup, startup),
                state(ProbeKind::Liveness, liveness),
                state(ProbeKind::Readiness, readiness),
            ],
        }
    }

    /// Whether the container has started (startup succeeded, or there is none).
    pub(crate) fn started(&self) -> bool {
        self.started
    }

    /// Ready as the kubelet says: started, and readiness succeeded (or none).
    pub(crate) fn ready(&self) -> bool {
        self.started
            && self.states[index(ProbeKind::Readiness)]
                .as_ref()
                .is_none_or(|s| s.value == Value::Success)
    }

    /// Whether the probe may run now: it is set, not on hold, and not gated
    /// (startup runs only before the container started, the others after).
    pub(crate) fn may_run(&self, kind: ProbeKind) -> bool {
        let gated = match kind {
            ProbeKind::Startup => self.started,
            _ => !self.started,
        };
        self.states[index(kind)]
            .as_ref()
            .is_some_and(|s| !s.on_hold && !gated)
    }

    /// Whether the probe's last run errored and it runs again at once.
    pub(crate) fn retrying(&self, kind: ProbeKind) -> bool {
        self.states[index(kind)]
            .as_ref()
            .is_some_and(|s| s.tries > 0)
    }

    /// Counts a run's result as the kubelet's worker does.
    pub(crate) fn record(&mut self, kind: ProbeKind, ran: Ran) -> Recorded {
        let Some(s) = self.states[index(kind)].as_mut() else {
            return Recorded::Counted(None);
        };
        let result = match ran {
            Ran::Success => Value::Success,
            Ran::Failure => Value::Failure,
            Ran::Error => {
                s.tries += 1;
                if s.tries < MAX_TRIES {
                    return Recorded::Retry;
                }
                s.tries = 0;
                return Recorded::Discarded;
            }
        };
        s.tries = 0;
        if s.last_result == Some(result) {
            s.result_run += 1;
        } else {
            s.last_result = Some(result);
            s.result_run = 1;
        }
        let threshold = match result {
            Value::Failure => s.thresholds.failure,
            _ => s.thresholds.success,
        };
        if s.result_run < threshold {
            return Recorded::Counted(None);
        }
        let changed = s.value != result;
        s.value = result;
        let at_hold = match s.kind {
            ProbeKind::Liveness => result == Value::Failure,
            ProbeKind::Startup => true,
            ProbeKind::Readiness => false,
        };
        if at_hold {
            s.on_hold = true;
            s.result_run = 0;
        }
        Recorded::Counted(match (s.kind, result) {
            (ProbeKind::Startup, Value::Success) => {
                self.started = true;
                Some(Change::Started)
            }
            // The supervisor's `Killing` event says "Container … failed … probe".
            (ProbeKind::Startup | ProbeKind::Liveness, Value::Failure) => {
                Some(Change::Restart(s.kind))
            }
            (ProbeKind::Readiness, _) if changed => Some(Change::Readiness),
            _ => None,
        })
    }

    #[cfg(test)]
    fn value(&self, kind: ProbeKind) -> Option<Value> {
        self.states[index(kind)].as_ref().map(|s| s.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProbeKind::{Liveness, Readiness, Startup};

    const S: Ran = Ran::Success;
    const F: Ran = Ran::Failure;
    const E: Ran = Ran::Error;

    fn thresholds(success: u32, failure: u32) -> Option<Thresholds> {
        Some(Thresholds { success, failure })
    }

    /// A liveness probe only (liveness's successThreshold is always 1).
    fn liveness(failure: u32) -> Health {
        Health::new([None, thresholds(1, failure), None])
    }

    fn readiness(success: u32, failure: u32) -> Health {
        Health::new([None, None, thresholds(success, failure)])
    }

    /// What each result in turn leads to.
    fn feed(h: &mut Health, kind: ProbeKind, results: &[Ran]) -> Vec<Recorded> {
        results.iter().map(|&r| h.record(kind, r)).collect()
    }

    fn nothing(n: usize) -> Vec<Recorded> {
        vec![Recorded::Counted(None); n]
    }

    fn change(c: Change) -> Recorded {
        Recorded::Counted(Some(c))
    }

    // ---- initial values ----------------------------------------------------------------

    #[test]
    fn each_probe_starts_from_the_kubelets_initial_value() {
        let h = Health::new([thresholds(1, 3), thresholds(1, 3), thresholds(1, 3)]);
        assert_eq!(h.value(Startup), Some(Value::Unknown));
        assert_eq!(h.value(Liveness), Some(Value::Success));
        assert_eq!(h.value(Readiness), Some(Value::Failure));
    }

    #[test]
    fn readiness_starts_as_failure_so_the_container_is_not_ready_until_it_succeeds() {
        let mut h = readiness(1, 3);
        assert!(h.started());
        assert!(!h.ready());
        assert_eq!(h.record(Readiness, S), change(Change::Readiness));
        assert!(h.ready());
    }

    #[test]
    fn without_a_readiness_probe_a_started_container_is_ready() {
        assert!(Health::new([None, None, None]).ready());
        assert!(liveness(3).ready());
    }

    #[test]
    fn liveness_starts_as_success_so_its_first_successes_change_nothing() {
        let mut h = liveness(3);
        assert_eq!(feed(&mut h, Liveness, &[S, S, S]), nothing(3));
        assert!(h.may_run(Liveness));
    }

    #[test]
    fn readiness_failing_from_its_initial_failure_reports_no_change() {
        let mut h = readiness(1, 2);
        assert_eq!(feed(&mut h, Readiness, &[F, F, F]), nothing(3));
        assert!(!h.ready());
    }

    // ---- failureThreshold ----------------------------------------------------------------

    #[test]
    fn failure_threshold_n_restarts_only_at_the_nth_consecutive_liveness_failure() {
        for n in 1..=5 {
            let mut h = liveness(n);
            let before = feed(&mut h, Liveness, &vec![F; n as usize - 1]);
            assert_eq!(before, nothing(n as usize - 1), "failureThreshold {n}");
            assert_eq!(
                h.record(Liveness, F),
                change(Change::Restart(Liveness)),
                "failureThreshold {n}"
            );
        }
    }

    #[test]
    fn a_success_between_failures_starts_the_failure_count_again() {
        let mut h = liveness(3);
        assert_eq!(feed(&mut h, Liveness, &[F, F, S, F, F]), nothing(5));
        assert_eq!(h.record(Liveness, F), change(Change::Restart(Liveness)));
    }

    #[test]
    fn a_liveness_failure_puts_liveness_on_hold_until_the_container_restarts() {
        let mut h = liveness(1);
        assert!(h.may_run(Liveness));
        h.record(Liveness, F);
        assert!(!h.may_run(Liveness));
    }

    #[test]
    fn readiness_at_its_failure_threshold_makes_the_container_unready_and_keeps_probing() {
        let mut h = readiness(1, 3);
        h.record(Readiness, S);
        assert!(h.ready());
        assert_eq!(feed(&mut h, Readiness, &[F, F]), nothing(2));
        assert!(h.ready());
        assert_eq!(h.record(Readiness, F), change(Change::Readiness));
        assert!(!h.ready());
        assert!(h.may_run(Readiness));
        // Readiness never restarts the container.
        assert_eq!(feed(&mut h, Readiness, &[F, F, F]), nothing(3));
    }

    // ---- successThreshold ----------------------------------------------------------------

    #[test]
    fn success_threshold_n_makes_readiness_ready_only_at_the_nth_consecutive_success() {
        for n in 1..=4 {
            let mut h = readiness(n, 3);
            let before = feed(&mut h, Readiness, &vec![S; n as usize - 1]);
            assert_eq!(before, nothing(n as usize - 1), "successThreshold {n}");
            assert!(!h.ready());
            assert_eq!(h.record(Readiness, S), change(Change::Readiness));
            assert!(h.ready(), "successThreshold {n}");
        }
    }

    #[test]
    fn a_failure_between_successes_starts_the_success_count_again() {
        let mut h = readiness(3, 3);
        assert_eq!(feed(&mut h, Readiness, &[S, S, F, S, S]), nothing(5));
        assert!(!h.ready());
        assert_eq!(h.record(Readiness, S), change(Change::Readiness));
    }

    #[test]
    fn readiness_reports_a_change_only_when_its_value_changes() {
        // The kubelet's results manager sends an update only on a change.
        let mut h = readiness(1, 1);
        assert_eq!(h.record(Readiness, S), change(Change::Readiness));
        assert_eq!(feed(&mut h, Readiness, &[S, S]), nothing(2));
        assert_eq!(h.record(Readiness, F), change(Change::Readiness));
        assert_eq!(feed(&mut h, Readiness, &[F, F]), nothing(2));
        assert_eq!(h.record(Readiness, S), change(Change::Readiness));
    }

    // ---- errors --------------------------------------------------------------------------

    #[test]
    fn an_error_is_tried_again_at_once_up_to_three_times_then_thrown_away() {
        let mut h = liveness(1);
        assert!(!h.retrying(Liveness));
        assert_eq!(h.record(Liveness, E), Recorded::Retry);
        assert!(h.retrying(Liveness));
        assert_eq!(h.record(Liveness, E), Recorded::Retry);
        assert!(h.retrying(Liveness));
        assert_eq!(h.record(Liveness, E), Recorded::Discarded);
        // Back on its ticker; the next error starts a new round of tries.
        assert!(!h.retrying(Liveness));
        let again = feed(&mut h, Liveness, &[E, E, E]);
        assert_eq!(
            again,
            [Recorded::Retry, Recorded::Retry, Recorded::Discarded]
        );
        // Errors never count as failures, even with failureThreshold 1.
        assert!(h.may_run(Liveness));
        assert_eq!(h.value(Liveness), Some(Value::Success));
    }

    #[test]
    fn a_result_after_an_error_ends_its_tries() {
        let mut h = liveness(3);
        h.record(Liveness, E);
        assert_eq!(h.record(Liveness, S), Recorded::Counted(None));
        assert!(!h.retrying(Liveness));
        assert_eq!(feed(&mut h, Liveness, &[E, E]), [Recorded::Retry; 2]);
    }

    #[test]
    fn a_thrown_away_error_leaves_a_run_of_failures_unbroken() {
        // The kubelet returns before its counters on a prober error.
        let mut h = liveness(3);
        assert_eq!(feed(&mut h, Liveness, &[F, F]), nothing(2));
        feed(&mut h, Liveness, &[E, E, E]);
        assert_eq!(h.record(Liveness, F), change(Change::Restart(Liveness)));
    }

    #[test]
    fn a_retried_error_leaves_a_run_of_successes_unbroken() {
        let mut h = readiness(2, 3);
        h.record(Readiness, S);
        assert_eq!(h.record(Readiness, E), Recorded::Retry);
        assert_eq!(h.record(Readiness, S), change(Change::Readiness));
    }

    // ---- startup -------------------------------------------------------------------------

    fn all_three(startup_failures: u32) -> Health {
        Health::new([
            thresholds(1, startup_failures),
            thresholds(1, 3),
            thresholds(1, 3),
        ])
    }

    #[test]
    fn the_startup_probe_gates_liveness_and_readiness_until_it_succeeds() {
        let mut h = all_three(3);
        assert!(!h.started());
        assert!(h.may_run(Startup));
        assert!(!h.may_run(Liveness));
        assert!(!h.may_run(Readiness));
        assert_eq!(feed(&mut h, Startup, &[F, F]), nothing(2));
        assert!(!h.may_run(Liveness));
        assert_eq!(h.record(Startup, S), change(Change::Started));
        assert!(h.started());
        assert!(h.may_run(Liveness));
        assert!(h.may_run(Readiness));
    }

    #[test]
    fn the_startup_probe_runs_no_more_once_it_succeeded() {
        let mut h = all_three(3);
        h.record(Startup, S);
        assert!(!h.may_run(Startup));
    }

    #[test]
    fn a_container_with_a_startup_probe_is_not_ready_until_it_started() {
        let mut h = Health::new([thresholds(1, 3), None, None]);
        assert!(!h.ready());
        h.record(Startup, S);
        assert!(h.ready());
    }

    #[test]
    fn after_startup_the_container_is_ready_only_once_readiness_succeeds() {
        let mut h = all_three(3);
        h.record(Startup, S);
        assert!(!h.ready());
        assert_eq!(h.record(Readiness, S), change(Change::Readiness));
        assert!(h.ready());
    }

    #[test]
    fn a_startup_probe_at_its_failure_threshold_restarts_and_goes_on_hold() {
        let mut h = all_three(3);
        assert_eq!(feed(&mut h, Startup, &[F, F]), nothing(2));
        assert_eq!(h.record(Startup, F), change(Change::Restart(Startup)));
        assert!(!h.may_run(Startup));
        // Never started: liveness and readiness never run.
        assert!(!h.started());
        assert!(!h.may_run(Liveness));
        assert!(!h.may_run(Readiness));
    }

    #[test]
    fn without_a_startup_probe_the_container_has_started_from_the_first_moment() {
        let h = Health::new([None, thresholds(1, 3), thresholds(1, 3)]);
        assert!(h.started());
        assert!(h.may_run(Liveness));
        assert!(h.may_run(Readiness));
        assert!(!h.may_run(Startup));
    }

    #[test]
    fn a_probe_that_is_not_set_never_runs() {
        let h = liveness(3);
        assert!(!h.may_run(Readiness));
        assert!(!h.retrying(Readiness));
    }
}
