//! The table at the top of `phase.rs`, one test per row: each case names
//! the phase, the event, and the exact next phase and actions.

use super::*;
use Action::*;

const TERM: i32 = libc::SIGTERM;
const INT: i32 = libc::SIGINT;
const QUIT: i32 = libc::SIGQUIT;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A grace period of 10 s with the 2 s reserve.
const WINDOW: Window = Window {
    grace: Duration::from_secs(10),
    reserve: Duration::from_secs(2),
};

/// The facts and settings of a case: by default a PreStop is configured,
/// the app runs, grace 10 s, cleanup timeout 2 s.
struct World {
    now: Instant,
    policy: Policy,
    app_alive: bool,
    /// The window before a stop (the setting's).
    window: Window,
}

impl World {
    fn new() -> World {
        // One moment for every world, so that cases compare instants.
        static NOW: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        World {
            now: *NOW.get_or_init(Instant::now),
            policy: Policy {
                pre_stop: true,
                pre_stop_on_exit: false,
                pre_stop_drains: false,
                stop_signal: None,
                grace: WINDOW.grace,
                cleanup_timeout: secs(2),
                post_stop: false,
            },
            app_alive: true,
            window: WINDOW,
        }
    }

    fn without_pre_stop(mut self) -> World {
        self.policy.pre_stop = false;
        self
    }

    fn app_gone(mut self) -> World {
        self.app_alive = false;
        self
    }

    /// Asserts that `event` in `phase` leads to `next` by exactly `actions`.
    fn check(&self, phase: Phase, event: Event, next: Phase, actions: &[Action]) {
        let facts = Facts {
            now: self.now,
            app_alive: self.app_alive,
            window: self.window,
        };
        let mut out = Vec::new();
        let got = step(phase, event, &self.policy, &facts, &mut |a| out.push(a));
        assert_eq!(
            (got, out.as_slice()),
            (next, actions),
            "{phase:?} + {event:?}"
        );
    }
}

fn stop_signal(signal: i32) -> Event {
    Event::StopSignal {
        signal,
        window: WINDOW,
    }
}

/// What every stop does first.
fn opening(window: Window) -> [Action; 4] {
    [
        StopProber,
        OpenWindow(window),
        RemoveReadyFile,
        CancelAppHooks(Cancel::ContainerStopping),
    ]
}

fn join(a: &[Action], b: &[Action]) -> Vec<Action> {
    [a, b].concat()
}

#[test]
fn running_stop_signal_post_start_failure_or_probe_restart_begin_the_stop() {
    let w = World::new();
    let t = w.now;
    // A stop signal, with PreStop: the hook runs first, in the window minus the reserve.
    w.check(
        Phase::Running,
        stop_signal(TERM),
        Phase::PreStop {
            deadline: t + secs(10),
            signal: Some(TERM),
            received: true,
        },
        &join(
            &opening(WINDOW),
            &[
                AnnounceStop(StopReason::Signal(TERM)),
                StartPreStop {
                    budget_start: t,
                    hook_deadline: t + secs(8),
                },
            ],
        ),
    );
    // PostStart failed: the same stop, with SIGTERM.
    w.check(
        Phase::Running,
        Event::PostStartEnded {
            outcome: Outcome::Failed,
            window: WINDOW,
        },
        Phase::PreStop {
            deadline: t + secs(10),
            signal: Some(TERM),
            received: false,
        },
        &join(
            &opening(WINDOW),
            &[
                AnnounceStop(StopReason::PostStartFailed),
                StartPreStop {
                    budget_start: t,
                    hook_deadline: t + secs(8),
                },
            ],
        ),
    );
    // No PreStop: the stop signal at once, the configured one if any.
    let mut w = World::new().without_pre_stop();
    w.policy.stop_signal = Some(QUIT);
    w.check(
        Phase::Running,
        stop_signal(INT),
        Phase::Stopping {
            deadline: t + secs(10),
        },
        &join(
            &opening(WINDOW),
            &[SendStopSignal {
                signal: QUIT,
                announce: Some(StopReason::Signal(INT)),
            }],
        ),
    );
    // A probe's restart: recorded (exit 5), in the probe's own window.
    let w = World::new().without_pre_stop();
    let probe_window = Window {
        grace: secs(30),
        reserve: secs(2),
    };
    w.check(
        Phase::Running,
        Event::ProbeRestart {
            kind: ProbeKind::Liveness,
            window: probe_window,
        },
        Phase::Stopping {
            deadline: t + secs(30),
        },
        &join(
            &[RecordProbeFailure(ProbeKind::Liveness)],
            &join(
                &opening(probe_window),
                &[SendStopSignal {
                    signal: TERM,
                    announce: Some(StopReason::Probe(ProbeKind::Liveness)),
                }],
            ),
        ),
    );
    // Neither a PostStart failure nor a probe stops an app that is gone.
    let w = World::new().app_gone();
    let failed = Event::PostStartEnded {
        outcome: Outcome::Failed,
        window: WINDOW,
    };
    w.check(Phase::Running, failed, Phase::Running, &[]);
    let restart = Event::ProbeRestart {
        kind: ProbeKind::Startup,
        window: WINDOW,
    };
    w.check(Phase::Running, restart, Phase::Running, &[]);
    // Nor once a stop began.
    let stopping = Phase::Stopping { deadline: t };
    World::new().check(stopping, restart, stopping, &[]);
    World::new().check(stopping, failed, stopping, &[]);
}

#[test]
fn running_app_exited_drains_or_runs_pre_stop_on_exit() {
    let w = World::new().app_gone();
    let t = w.now;
    let exit = [StopProber, CancelAppHooks(Cancel::AppExited)];
    w.check(
        Phase::Running,
        Event::AppExited,
        Phase::Draining {
            deadline: t + secs(2),
        },
        &join(&exit, &[RemoveReadyFile, TermLeftovers]),
    );
    // HOOKINIT_PRE_STOP_ON_EXIT: PreStop gets the whole window, no signal pending.
    let mut w = World::new().app_gone();
    w.policy.pre_stop_on_exit = true;
    w.check(
        Phase::Running,
        Event::AppExited,
        Phase::PreStop {
            deadline: t + secs(10),
            signal: None,
            received: false,
        },
        &join(
            &exit,
            &[
                RemoveReadyFile,
                OpenWindow(WINDOW),
                StartPreStop {
                    budget_start: t,
                    hook_deadline: t + secs(10),
                },
            ],
        ),
    );
    // ... but only with a PreStop.
    w.policy.pre_stop = false;
    w.check(
        Phase::Running,
        Event::AppExited,
        Phase::Draining {
            deadline: t + secs(2),
        },
        &join(&exit, &[RemoveReadyFile, TermLeftovers]),
    );
}

/// A grace period of 0: the window is the kubelet's 2 s minimum, all of it
/// the app's reserve.
const ZERO_GRACE: Window = Window {
    grace: Duration::from_secs(2),
    reserve: Duration::from_secs(2),
};

#[test]
fn running_stop_with_a_grace_period_of_0_skips_pre_stop_and_signals_the_app() {
    let w = World::new();
    let t = w.now;
    let event = Event::StopSignal {
        signal: TERM,
        window: ZERO_GRACE,
    };
    w.check(
        Phase::Running,
        event,
        Phase::Stopping {
            deadline: t + secs(2),
        },
        &join(
            &opening(ZERO_GRACE),
            &[
                SendStopSignal {
                    signal: TERM,
                    announce: Some(StopReason::Signal(TERM)),
                },
                LogPreStopSkipped,
            ],
        ),
    );
    // Without a PreStop there is nothing to say it skipped.
    World::new().without_pre_stop().check(
        Phase::Running,
        event,
        Phase::Stopping {
            deadline: t + secs(2),
        },
        &join(
            &opening(ZERO_GRACE),
            &[SendStopSignal {
                signal: TERM,
                announce: Some(StopReason::Signal(TERM)),
            }],
        ),
    );
    // HOOKINIT_PRE_STOP_ON_EXIT with a grace period of 0: skipped too.
    let mut w = World::new().app_gone();
    w.policy.pre_stop_on_exit = true;
    w.window = ZERO_GRACE;
    w.check(
        Phase::Running,
        Event::AppExited,
        Phase::Draining {
            deadline: t + secs(2),
        },
        &[
            StopProber,
            CancelAppHooks(Cancel::AppExited),
            LogPreStopSkipped,
            RemoveReadyFile,
            TermLeftovers,
        ],
    );
}

#[test]
fn awaiting_exit_sends_the_stop_signal_when_the_reserve_begins_or_at_a_stop_signal() {
    let w = World::new();
    let t = w.now;
    let awaiting = |signal_at| Phase::AwaitingExit {
        deadline: t + secs(2),
        signal_at,
        signal: QUIT,
    };
    let stopping = Phase::Stopping {
        deadline: t + secs(2),
    };
    let send = SendStopSignal {
        signal: QUIT,
        announce: None,
    };
    w.check(awaiting(t), Event::Tick, stopping, &[send]);
    w.check(awaiting(t + secs(1)), stop_signal(TERM), stopping, &[send]);
    // Not yet.
    let early = awaiting(t + secs(1));
    w.check(early, Event::Tick, early, &[]);
}

#[test]
fn stopping_forwards_another_stop_signal() {
    let w = World::new();
    let stopping = Phase::Stopping {
        deadline: w.now + secs(3),
    };
    w.check(stopping, stop_signal(INT), stopping, &[Forward(INT)]);
}

#[test]
fn awaiting_exit_or_stopping_app_exited_drains_within_the_deadline() {
    let w = World::new().app_gone();
    let t = w.now;
    let exit = [StopProber, CancelAppHooks(Cancel::AppExited)];
    let drain = join(&exit, &[RemoveReadyFile, TermLeftovers]);
    for deadline in [t + secs(1), t + secs(5)] {
        let next = Phase::Draining {
            deadline: deadline.min(t + secs(2)),
        };
        let awaiting = Phase::AwaitingExit {
            deadline,
            signal_at: t,
            signal: TERM,
        };
        w.check(awaiting, Event::AppExited, next, &drain);
        w.check(Phase::Stopping { deadline }, Event::AppExited, next, &drain);
    }
}

#[test]
fn the_deadline_kills_everything() {
    let w = World::new();
    let t = w.now;
    let killed = Phase::Killed {
        deadline: t + KILLED_WAIT,
    };
    for phase in [
        Phase::PreStop {
            deadline: t,
            signal: Some(TERM),
            received: true,
        },
        Phase::AwaitingExit {
            deadline: t,
            signal_at: t,
            signal: TERM,
        },
        Phase::Stopping { deadline: t },
    ] {
        w.check(
            phase,
            Event::Tick,
            killed,
            &[KillEverything(KillReason::GraceOver)],
        );
    }
    w.check(
        Phase::Draining { deadline: t },
        Event::Tick,
        killed,
        &[KillEverything(KillReason::LeftoversIgnoredTerm)],
    );
    // Before it, nothing.
    for phase in [
        Phase::Stopping {
            deadline: t + secs(1),
        },
        Phase::Draining {
            deadline: t + secs(1),
        },
    ] {
        w.check(phase, Event::Tick, phase, &[]);
    }
}

#[test]
fn draining_or_killed_ignores_stop_signals() {
    let w = World::new().app_gone();
    for phase in [
        Phase::Draining { deadline: w.now },
        Phase::Killed { deadline: w.now },
    ] {
        w.check(phase, stop_signal(TERM), phase, &[LogStopIgnored(TERM)]);
    }
}

#[test]
fn draining_or_killed_exits_when_no_child_is_left_or_a_second_after_sigkill() {
    let w = World::new().app_gone();
    let later = w.now + secs(1);
    for phase in [
        Phase::Draining { deadline: later },
        Phase::Killed { deadline: later },
    ] {
        w.check(phase, Event::NoChildLeft, phase, &[Finish]);
    }
    let killed = Phase::Killed { deadline: w.now };
    w.check(killed, Event::Tick, killed, &[LogNotReaped, Finish]);
    // Children left: the run goes on.
    let killed = Phase::Killed { deadline: later };
    w.check(killed, Event::Tick, killed, &[]);
    World::new().check(Phase::Running, Event::NoChildLeft, Phase::Running, &[]);
}

#[test]
fn post_start_success_starts_the_probes_while_running_and_updates_readiness_in_any_phase() {
    let w = World::new();
    let succeeded = Event::PostStartEnded {
        outcome: Outcome::Succeeded,
        window: WINDOW,
    };
    let cancelled = Event::PostStartEnded {
        outcome: Outcome::Cancelled,
        window: WINDOW,
    };
    let stopping = Phase::Stopping { deadline: w.now };
    w.check(
        Phase::Running,
        succeeded,
        Phase::Running,
        &[StartProbes, UpdateReady],
    );
    // The stop stopped the prober: nothing starts again.
    w.check(stopping, succeeded, stopping, &[UpdateReady]);
    for phase in [Phase::Running, stopping] {
        w.check(phase, cancelled, phase, &[]);
    }
}

#[test]
fn reload_runs_only_while_running_and_forwards_its_signal_only_on_success() {
    let w = World::new();
    let run = Phase::Running;
    let stopping = Phase::Stopping { deadline: w.now };
    w.check(run, Event::ReloadSignal, run, &[StartReload]);
    let ended = |o| Event::ReloadEnded(o);
    w.check(
        run,
        ended(Outcome::Succeeded),
        run,
        &[EndReload(Outcome::Succeeded)],
    );
    w.check(
        run,
        ended(Outcome::Failed),
        run,
        &[EndReload(Outcome::Failed)],
    );
    // During a stop, or once the app is gone: neither run nor forwarded.
    for (world, phase) in [
        (World::new(), stopping),
        (World::new(), Phase::Draining { deadline: w.now }),
        (World::new().app_gone(), run),
    ] {
        world.check(phase, Event::ReloadSignal, phase, &[LogReloadSkipped]);
        world.check(phase, ended(Outcome::Succeeded), phase, &[]);
    }
}

#[test]
fn a_stop_or_the_apps_exit_cancels_a_running_reload() {
    let w = World::new().without_pre_stop();
    let mut out = Vec::new();
    let facts = Facts {
        now: w.now,
        app_alive: true,
        window: WINDOW,
    };
    step(
        Phase::Running,
        stop_signal(TERM),
        &w.policy,
        &facts,
        &mut |a| out.push(a),
    );
    assert!(out.contains(&CancelAppHooks(Cancel::ContainerStopping)));
    out.clear();
    step(
        Phase::Running,
        Event::AppExited,
        &w.policy,
        &facts,
        &mut |a| out.push(a),
    );
    assert!(out.contains(&CancelAppHooks(Cancel::AppExited)));
}

/// The PreStop rows of the table.
#[path = "phase_pre_stop_tests.rs"]
mod pre_stop;
