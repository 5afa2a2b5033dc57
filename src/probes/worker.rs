//! What the kubelet's probe workers decide from results, without processes
//! or clocks (`pkg/kubelet/prober/worker.go` `doProbe`, and `prober_manager.go`
//! for started and ready):
//! - each probe starts from the kubelet's initial value: startup unknown,
//!   liveness success, readiness failure (not ready until it succeeds);
//! - a result changes the probe's value only after `successThreshold` /
//!   `failureThreshold` equal results in a row;
//! - an error (the handler could not run: the kubelet's "probe errored") is
//!   tried again at once, up to 3 times in all, then thrown away: it never
//!   reaches the counters. A probe process that crashed before reporting, or
//!   that was killed at its deadline, is a failure (the kubelet's exec timeout);
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
    /// Failure, a process that ended without a report, or a run killed at
    /// its deadline.
    Failure,
    /// The handler could not run at all.
    Error,
}

/// What became of a run's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counted {
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
    pub(crate) fn record(&mut self, kind: ProbeKind, ran: Ran) -> Counted {
        let Some(s) = self.states[index(kind)].as_mut() else {
            return Counted::Counted(None);
        };
        let result = match ran {
            Ran::Success => Value::Success,
            Ran::Failure => Value::Failure,
            Ran::Error => {
                s.tries += 1;
                if s.tries < MAX_TRIES {
                    return Counted::Retry;
                }
                s.tries = 0;
                return Counted::Discarded;
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
            return Counted::Counted(None);
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
        Counted::Counted(match (s.kind, result) {
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
mod tests {}
