//! The stop, as a pure function: [`step`] takes the phase, an event and the
//! facts of the moment (the time among them) and returns the next phase,
//! handing out the actions the loop carries out, in order. No system call,
//! no clock.
//!
//! | phase    | event                                          | next                          |
//! |----------|------------------------------------------------|-------------------------------|
//! | Running  | PostStart succeeded                            | Running: the probes it held start, readiness is updated |
//! | Running  | stop signal, PostStart failed or a probe's restart | PreStop, or Stopping if none or the grace period is 0 |
//! | Running  | app exited                                     | Draining (or PreStop, with `HOOKINIT_PRE_STOP_ON_EXIT` and a grace period above 0) |
//! | PreStop  | hook done, failed or timed out; 2nd stop signal | Stopping: stop signal sent   |
//! | PreStop  | hook succeeded, with `HOOKINIT_PRE_STOP_DRAINS` | AwaitingExit                 |
//! | PreStop  | app exited                                     | PreStop (the hook may end on its own for the cleanup timeout), then Draining |
//! | PreStop for the app's exit, a probe or PostStart | first stop signal | PreStop: the hook goes on |
//! | AwaitingExit | the app's reserve begins; a stop signal    | Stopping: stop signal sent    |
//! | Stopping | stop signal                                    | Stopping: the signal forwarded |
//! | AwaitingExit, Stopping | app exited                       | Draining: leftovers get TERM  |
//! | PreStop, AwaitingExit, Stopping, Draining | the deadline  | Killed: SIGKILL to everything |
//! | Draining, Killed | stop signal                            | unchanged: ignored            |
//! | Draining, Killed | no child left (Killed: or after 1 s)   | exit                          |
//! | Running  | reload signal                                  | Running: the reload hook runs (or runs once more after the running one) |
//! | Running  | reload hook succeeded / failed                 | Running: the reload signal forwarded / not; a queued reload runs |
//! | any other | reload signal                                 | unchanged: neither run nor forwarded |
//! | PreStart | stop signal                                    | PreStart: the step gets the stop signal, SIGKILL at the deadline |
//! | PreStart | step failed; stopped: step ended, 2nd stop signal | Draining: what the steps left gets TERM; the app never starts |
//! | PreStart | stopped: the deadline                          | Killed: SIGKILL to everything |
//! | Running  | the app could not be started                   | Draining                      |
//!
//! Where the table says exit, a post-stop handler runs first if there is
//! one (`PostStop`: stop signals are ignored; its own deadline ends it).
//!
//! Every stop and the app's exit cancel a running reload hook (and a queued
//! one), as they cancel PostStart.
//!
//! The grace window starts when the stop signal arrives; its deadline is the
//! moment SIGKILL lands, whatever runs then. PreStop gets the window minus a
//! reserve kept for the app's own shutdown.

use crate::hooks::{HookKind, Outcome};
use crate::spec::probe::ProbeKind;
use std::time::{Duration, Instant};

/// How far the stop is: the one place that says what a SIGTERM does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The pre-start steps run (`HOOKINIT_PRE_START`): no app yet. After a
    /// stop signal, `stop` holds the deadline the step is killed at.
    PreStart { stop: Option<Instant> },
    /// The app runs; PostStart may be running.
    Running,
    /// PreStop runs; the app has not been signalled yet. SIGKILL at
    /// `deadline`. `signal` is the stop signal the app gets next; `None` when
    /// PreStop runs for the app's own exit (`HOOKINIT_PRE_STOP_ON_EXIT`) and
    /// no stop signal has come yet.
    PreStop {
        deadline: Instant,
        signal: Option<i32>,
        /// A stop signal came: a further one cuts PreStop short. A stop a
        /// probe or PostStart began runs on through the first (the
        /// runtime's `docker stop` meets one already under way: as the
        /// kubelet, which lets a liveness kill finish under a pod's deletion).
        received: bool,
    },
    /// PreStop asked the app to shut down (`HOOKINIT_PRE_STOP_DRAINS`): wait
    /// for it to exit; `signal` goes to it at `signal_at`, when the reserve
    /// kept for its shutdown begins. SIGKILL at `deadline`.
    AwaitingExit {
        deadline: Instant,
        signal_at: Instant,
        signal: i32,
    },
    /// The app has its stop signal. SIGKILL at `deadline`.
    Stopping { deadline: Instant },
    /// The app is gone; what it left behind got SIGTERM. SIGKILL at `deadline`.
    Draining { deadline: Instant },
    /// SIGKILL sent to everything; waiting for the kernel to finish it,
    /// at most until `deadline` (a process stuck in the kernel cannot hold us).
    Killed { deadline: Instant },
    /// Everything is gone; the post-stop handler runs (to its own deadline).
    PostStop,
}

impl Phase {
    /// The next moment this phase acts by itself, if any.
    pub fn wake_at(self) -> Option<Instant> {
        match self {
            Phase::Running | Phase::PostStop => None,
            Phase::PreStart { stop } => stop,
            Phase::AwaitingExit { signal_at, .. } => Some(signal_at),
            Phase::PreStop { deadline, .. }
            | Phase::Stopping { deadline }
            | Phase::Draining { deadline }
            | Phase::Killed { deadline } => Some(deadline),
        }
    }

    /// The app and its hooks are done with: only leftovers remain.
    pub fn exiting(self) -> bool {
        matches!(self, Phase::Draining { .. } | Phase::Killed { .. })
    }

    /// When SIGKILL lands while the app may still ask for more time
    /// (`EXTEND_TIMEOUT_USEC=`): PreStop, AwaitingExit, Stopping.
    pub fn kill_deadline(self) -> Option<Instant> {
        match self {
            Phase::PreStop { deadline, .. }
            | Phase::AwaitingExit { deadline, .. }
            | Phase::Stopping { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// The same phase with SIGKILL at `at` (nothing else moves: the app's
    /// stop signal in AwaitingExit keeps its time).
    pub fn with_kill_deadline(mut self, at: Instant) -> Phase {
        if let Phase::PreStop { deadline, .. }
        | Phase::AwaitingExit { deadline, .. }
        | Phase::Stopping { deadline } = &mut self
        {
            *deadline = at;
        }
        self
    }
}

/// How long to wait for SIGKILLed processes to be reaped before exiting anyway.
pub const KILLED_WAIT: Duration = Duration::from_secs(1);

/// A grace period and the app's reserve in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub grace: Duration,
    pub reserve: Duration,
}

impl Window {
    /// PreStop runs only with time for it: a grace period of 0 leaves it
    /// none (the whole window is the app's reserve).
    pub fn has_pre_stop_time(self) -> bool {
        self.grace > self.reserve
    }
}

/// The settings the transitions read (fixed at start-up).
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub pre_stop: bool,
    pub pre_stop_on_exit: bool,
    pub pre_stop_drains: bool,
    /// `HOOKINIT_STOP_SIGNAL`; without it, the signal that began the stop.
    pub stop_signal: Option<i32>,
    pub grace: Duration,
    pub cleanup_timeout: Duration,
    /// A post-stop handler runs before the exit.
    pub post_stop: bool,
}

/// What is true when an event is handled.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub now: Instant,
    pub app_alive: bool,
    /// The window of the stop in progress (before one: the setting's).
    pub window: Window,
}

/// Something that happened. `window` is the one a stop begun by the event
/// would open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A signal of `HOOKINIT_STOP_ON`.
    StopSignal {
        signal: i32,
        window: Window,
    },
    PostStartEnded {
        outcome: Outcome,
        window: Window,
    },
    /// A startup or liveness probe failed: the container is restarted.
    ProbeRestart {
        kind: ProbeKind,
        window: Window,
    },
    PreStopEnded(Outcome),
    /// The app exited during PreStop, and the hook cannot be given time to
    /// end on its own (it is not a process).
    PreStopCannotWait,
    AppExited,
    /// Time passed: deadlines up to `Facts::now` are due.
    Tick,
    /// `wait4` says there is no child left.
    NoChildLeft,
    /// The reload signal (`HOOKINIT_RELOAD_SIGNAL`), with a reload hook.
    ReloadSignal,
    /// The reload hook ended (or could not start).
    ReloadEnded(Outcome),
    /// A pre-start step ended, other than by success with the app still to
    /// start (the loop starts the next step, or the app, itself).
    PreStartEnded(Outcome),
    /// The post-stop handler ended (or could not start, or was skipped).
    PostStopEnded,
    /// The app could not be started (its program missing, not executable):
    /// nothing ran, nothing is left.
    AppNotStarted,
}

/// Why a stop began (the `Killing` event says it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Signal(i32),
    PostStartFailed,
    Probe(ProbeKind),
}

/// Why a hook is cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    ContainerStopping,
    AppExited,
}

/// Why everything gets SIGKILL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    GraceOver,
    LeftoversIgnoredTerm,
}

/// What the loop does, in the order given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    StopProber,
    /// The stop's grace period and reserve are now these.
    OpenWindow(Window),
    RemoveReadyFile,
    /// PostStart succeeded while the app runs: the probes it held start, as
    /// the kubelet's start only once the container's status is Running.
    StartProbes,
    /// PostStart succeeded: the ready file may now be due.
    UpdateReady,
    /// The container stops for this probe's failure (exit code 5).
    RecordProbeFailure(ProbeKind),
    CancelHook(HookKind, Cancel),
    /// The app's hooks end: PostStart, and the reload hook (a queued run
    /// with it).
    CancelAppHooks(Cancel),
    /// A second stop signal: PreStop (or the pre-start step) fails, cut short.
    CutShort(HookKind, i32),
    /// The `Killing` event, before PreStop starts.
    AnnounceStop(StopReason),
    StartPreStop {
        budget_start: Instant,
        hook_deadline: Instant,
    },
    /// The app exited during PreStop: the hook may end on its own until then.
    LetPreStopFinish {
        until: Instant,
    },
    /// The stop signal to the app, then SIGCONT; with a reason, the
    /// `Killing` event comes between the signal and its report.
    SendStopSignal {
        signal: i32,
        announce: Option<StopReason>,
    },
    /// The grace period is 0: PreStop is not run, as the kubelet does not.
    LogPreStopSkipped,
    /// "received X: the PreStop hook for the app's exit goes on".
    LogPreStopGoesOn(i32),
    LogAwaitingExit {
        signal: i32,
        left: Duration,
    },
    Forward(i32),
    LogStopIgnored(i32),
    /// SIGTERM to whatever the app left behind, if anything.
    TermLeftovers,
    KillEverything(KillReason),
    LogNotReaped,
    /// Exit with the code the app's status and the stop's cause make.
    Finish,
    /// Run the reload hook, or, while it runs, once more after it.
    StartReload,
    /// The reload hook ended while the app runs: the reload signal goes
    /// to the app if it succeeded, is not forwarded if it failed; then a
    /// reload queued meanwhile runs.
    EndReload(Outcome),
    /// A reload signal during the stop: neither run nor forwarded.
    LogReloadSkipped,
    /// A stop signal during pre-start: the window opens, the stop is
    /// announced (as any stop), and the step gets `to_step`.
    StopPreStart {
        received: i32,
        to_step: i32,
        window: Window,
    },
    /// A step failed: the app is not started.
    LogPreStartFailed,
    /// Everything is gone: run the post-stop handler.
    StartPostStop,
}

/// The next phase. What to do to get there goes to `out`, in order, as it
/// is decided: the caller carries it out at once (no buffer, no copy), and
/// stores the phase after.
pub fn step(
    phase: Phase,
    event: Event,
    policy: &Policy,
    facts: &Facts,
    out: &mut impl FnMut(Action),
) -> Phase {
    Transition { policy, facts, out }.on(phase, event)
}

struct Transition<'a, F> {
    policy: &'a Policy,
    facts: &'a Facts,
    out: &'a mut F,
}

impl<F: FnMut(Action)> Transition<'_, F> {
    fn emit(&mut self, action: Action) {
        (self.out)(action);
    }

    fn on(&mut self, phase: Phase, event: Event) -> Phase {
        let now = self.facts.now;
        match (phase, event) {
            (Phase::PreStart { stop }, _) => self.pre_start(stop, event),
            (Phase::Running, Event::StopSignal { signal, window }) => {
                self.begin_stop(signal, StopReason::Signal(signal), window)
            }
            (Phase::Running, Event::PostStartEnded { outcome, window }) => match outcome {
                Outcome::Succeeded => {
                    self.emit(Action::StartProbes);
                    self.emit(Action::UpdateReady);
                    phase
                }
                Outcome::Failed if self.facts.app_alive => {
                    let signal = self.policy.stop_signal.unwrap_or(libc::SIGTERM);
                    self.begin_stop(signal, StopReason::PostStartFailed, window)
                }
                _ => phase,
            },
            (_, Event::PostStartEnded { outcome, .. }) => {
                if outcome == Outcome::Succeeded {
                    self.emit(Action::UpdateReady);
                }
                phase
            }
            (Phase::Running, Event::ProbeRestart { kind, window }) if self.facts.app_alive => {
                self.emit(Action::RecordProbeFailure(kind));
                let signal = self.policy.stop_signal.unwrap_or(libc::SIGTERM);
                self.begin_stop(signal, StopReason::Probe(kind), window)
            }
            (
                Phase::PreStop {
                    deadline,
                    signal,
                    received,
                },
                Event::StopSignal { signal: sig, .. },
            ) => {
                match received {
                    // PreStop of a stop no signal began (the app's exit, a
                    // probe, PostStart) already runs in its own window: the
                    // first stop signal changes nothing, a second cuts it
                    // short.
                    false => {
                        self.emit(Action::LogPreStopGoesOn(sig));
                        Phase::PreStop {
                            deadline,
                            signal: signal.or(Some(sig)),
                            received: true,
                        }
                    }
                    true => {
                        self.emit(Action::CutShort(HookKind::PreStop, sig));
                        self.after_pre_stop(deadline, signal, Outcome::Failed)
                    }
                }
            }
            (
                Phase::AwaitingExit {
                    deadline, signal, ..
                },
                Event::StopSignal { .. },
            ) => self.send_stop_signal(signal, deadline),
            (Phase::Stopping { .. }, Event::StopSignal { signal, .. }) => {
                self.emit(Action::Forward(signal));
                phase
            }
            (
                Phase::Draining { .. } | Phase::Killed { .. } | Phase::PostStop,
                Event::StopSignal { signal, .. },
            ) => {
                self.emit(Action::LogStopIgnored(signal));
                phase
            }
            (
                Phase::PreStop {
                    deadline, signal, ..
                },
                Event::PreStopEnded(outcome),
            ) => self.after_pre_stop(deadline, signal, outcome),
            (_, Event::AppExited) => self.on_app_exit(phase),
            (Phase::PreStop { deadline, .. }, Event::PreStopCannotWait) => {
                self.emit(Action::CancelHook(HookKind::PreStop, Cancel::AppExited));
                self.begin_drain(Some(deadline))
            }
            (_, Event::Tick) => self.on_time(phase, now),
            (Phase::Draining { .. } | Phase::Killed { .. }, Event::NoChildLeft) => {
                self.all_gone(phase)
            }
            (Phase::Running, Event::AppNotStarted) => self.begin_drain(None),
            (Phase::PostStop, Event::PostStopEnded) => {
                self.emit(Action::Finish);
                phase
            }
            (_, Event::ReloadSignal | Event::ReloadEnded(_)) => {
                self.reload(phase, event);
                phase
            }
            _ => phase,
        }
    }

    /// A stop begins: the grace window of `window` opens now.
    fn begin_stop(&mut self, trigger: i32, reason: StopReason, window: Window) -> Phase {
        let now = self.facts.now;
        self.emit(Action::StopProber);
        self.emit(Action::OpenWindow(window));
        self.emit(Action::RemoveReadyFile);
        self.emit(Action::CancelAppHooks(Cancel::ContainerStopping));
        let deadline = now + window.grace;
        let signal = self.policy.stop_signal.unwrap_or(trigger);
        if self.policy.pre_stop && window.has_pre_stop_time() {
            self.emit(Action::AnnounceStop(reason));
            self.emit(Action::StartPreStop {
                budget_start: now,
                hook_deadline: deadline - window.reserve,
            });
            Phase::PreStop {
                deadline,
                signal: Some(signal),
                received: matches!(reason, StopReason::Signal(_)),
            }
        } else {
            // Signal first, log after: the app should not wait for our log line.
            self.emit(Action::SendStopSignal {
                signal,
                announce: Some(reason),
            });
            if self.policy.pre_stop {
                self.emit(Action::LogPreStopSkipped);
            }
            Phase::Stopping { deadline }
        }
    }

    /// PreStop is over (done, failed, timed out or cut short): on to the app.
    /// With `HOOKINIT_PRE_STOP_DRAINS`, a PreStop that succeeded started the
    /// app's own graceful shutdown: wait for it, and send the stop signal
    /// only when the app's reserve begins.
    fn after_pre_stop(
        &mut self,
        deadline: Instant,
        signal: Option<i32>,
        outcome: Outcome,
    ) -> Phase {
        let now = self.facts.now;
        match signal {
            Some(signal) if self.facts.app_alive => {
                let signal_at = deadline - self.facts.window.reserve;
                if self.policy.pre_stop_drains && outcome == Outcome::Succeeded && now < signal_at {
                    self.emit(Action::LogAwaitingExit {
                        signal,
                        left: signal_at - now,
                    });
                    Phase::AwaitingExit {
                        deadline,
                        signal_at,
                        signal,
                    }
                } else {
                    self.send_stop_signal(signal, deadline)
                }
            }
            _ => self.begin_drain(Some(deadline)),
        }
    }

    fn send_stop_signal(&mut self, signal: i32, deadline: Instant) -> Phase {
        self.emit(Action::SendStopSignal {
            signal,
            announce: None,
        });
        Phase::Stopping { deadline }
    }

    fn on_app_exit(&mut self, phase: Phase) -> Phase {
        let now = self.facts.now;
        self.emit(Action::StopProber);
        self.emit(Action::CancelAppHooks(Cancel::AppExited));
        match phase {
            Phase::Running
                if self.policy.pre_stop_on_exit
                    && self.policy.pre_stop
                    && !self.facts.window.has_pre_stop_time() =>
            {
                self.emit(Action::LogPreStopSkipped);
                self.begin_drain(None)
            }
            Phase::Running if self.policy.pre_stop_on_exit && self.policy.pre_stop => {
                self.emit(Action::RemoveReadyFile);
                // No app to keep time for: PreStop may use the whole window.
                let grace = self.policy.grace;
                self.emit(Action::OpenWindow(Window {
                    grace,
                    reserve: self.facts.window.reserve,
                }));
                let deadline = now + grace;
                self.emit(Action::StartPreStop {
                    budget_start: now,
                    hook_deadline: deadline,
                });
                Phase::PreStop {
                    deadline,
                    signal: None,
                    received: false,
                }
            }
            Phase::Running => self.begin_drain(None),
            Phase::PreStop { deadline, .. } => {
                // An "ask, then wait" PreStop (`pg_ctl stop`, `nginx -s quit`
                // and a wait loop) is about to end: let it, for the cleanup
                // timeout, so that it is logged with its real outcome. If it
                // cannot wait, `PreStopCannotWait` follows.
                let until = (now + self.policy.cleanup_timeout).min(deadline);
                self.emit(Action::LetPreStopFinish { until });
                Phase::PreStop {
                    deadline,
                    signal: None,
                    received: false,
                }
            }
            Phase::AwaitingExit { deadline, .. } | Phase::Stopping { deadline } => {
                self.begin_drain(Some(deadline))
            }
            Phase::Draining { .. } | Phase::Killed { .. } | Phase::PreStart { .. } => phase,
            Phase::PostStop => phase,
        }
    }

    /// The app is gone: SIGTERM to whatever it left, SIGKILL at the deadline
    /// (the cleanup timeout, never past the grace deadline `cap`).
    fn begin_drain(&mut self, cap: Option<Instant>) -> Phase {
        self.emit(Action::RemoveReadyFile);
        let mut deadline = self.facts.now + self.policy.cleanup_timeout;
        if let Some(cap) = cap {
            deadline = deadline.min(cap);
        }
        self.emit(Action::TermLeftovers);
        Phase::Draining { deadline }
    }

    fn on_time(&mut self, phase: Phase, now: Instant) -> Phase {
        match phase {
            Phase::AwaitingExit {
                deadline,
                signal_at,
                signal,
            } if now >= signal_at && now < deadline => self.send_stop_signal(signal, deadline),
            Phase::PreStop { deadline, .. }
            | Phase::AwaitingExit { deadline, .. }
            | Phase::Stopping { deadline }
                if now >= deadline =>
            {
                self.kill_everything(KillReason::GraceOver)
            }
            Phase::Draining { deadline } if now >= deadline => {
                self.kill_everything(KillReason::LeftoversIgnoredTerm)
            }
            Phase::Killed { deadline } if now >= deadline => {
                self.emit(Action::LogNotReaped);
                self.all_gone(phase)
            }
            _ => phase,
        }
    }

    /// A reload signal runs the reload hook while the app runs (else it is
    /// skipped); the hook's end, then, forwards it or not. (Out of line:
    /// inlined, the dispatch grew by more than it takes.)
    #[inline(never)]
    fn reload(&mut self, phase: Phase, event: Event) {
        let app_runs = matches!(phase, Phase::Running) && self.facts.app_alive;
        let action = match (app_runs, event) {
            (true, Event::ReloadSignal) => Action::StartReload,
            (false, Event::ReloadSignal) => Action::LogReloadSkipped,
            (true, Event::ReloadEnded(outcome)) => Action::EndReload(outcome),
            _ => return,
        };
        self.emit(action);
    }

    /// Before the app: a stop ends the running step (its own way, then
    /// SIGKILL at the deadline); a failure or the stop's end exits.
    /// (Out of line: inlined, the dispatch grew by more than it takes.)
    #[inline(never)]
    fn pre_start(&mut self, stop: Option<Instant>, event: Event) -> Phase {
        let now = self.facts.now;
        match (stop, event) {
            (None, Event::StopSignal { signal, window }) => {
                let to_step = self.policy.stop_signal.unwrap_or(signal);
                self.emit(Action::StopPreStart {
                    received: signal,
                    to_step,
                    window,
                });
                Phase::PreStart {
                    stop: Some(now + window.grace),
                }
            }
            // Whatever the steps left gets SIGTERM, as an app's leftovers:
            // post-stop and the exit come once they are gone.
            (Some(_), Event::StopSignal { signal, .. }) => {
                self.emit(Action::CutShort(HookKind::PreStart, signal));
                self.begin_drain(stop)
            }
            // Failed, or (stopping) ended.
            (_, Event::PreStartEnded(_)) => {
                if stop.is_none() {
                    self.emit(Action::LogPreStartFailed);
                }
                self.begin_drain(stop)
            }
            (Some(deadline), Event::Tick) if now >= deadline => {
                self.kill_everything(KillReason::GraceOver)
            }
            _ => Phase::PreStart { stop },
        }
    }

    /// Nothing is left to end (or to wait for): the post-stop handler,
    /// else the exit.
    fn all_gone(&mut self, phase: Phase) -> Phase {
        if self.policy.post_stop {
            self.emit(Action::StartPostStop);
            return Phase::PostStop;
        }
        self.emit(Action::Finish);
        phase
    }

    fn kill_everything(&mut self, reason: KillReason) -> Phase {
        self.emit(Action::KillEverything(reason));
        Phase::Killed {
            deadline: self.facts.now + KILLED_WAIT,
        }
    }
}

#[cfg(test)]
#[path = "phase_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "phase_ends_tests.rs"]
mod ends_tests;
