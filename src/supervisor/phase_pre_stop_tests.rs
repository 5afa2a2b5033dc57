//! The table's PreStop rows (`phase.rs`): PreStop ends, drains, stop
//! signals during it, and the app's exit meanwhile; the world and helpers
//! are `phase_tests.rs`'s.

use super::*;

#[test]
fn pre_stop_done_failed_timed_out_or_second_stop_signal_sends_the_stop_signal() {
    let w = World::new();
    let d = w.now + secs(5);
    let pre_stop = Phase::PreStop {
        deadline: d,
        signal: Some(TERM),
        received: true,
    };
    let stopping = Phase::Stopping { deadline: d };
    let send = SendStopSignal {
        signal: TERM,
        announce: None,
    };
    // Done, or failed (a timeout is a failure).
    for outcome in [Outcome::Succeeded, Outcome::Failed, Outcome::Cancelled] {
        w.check(pre_stop, Event::PreStopEnded(outcome), stopping, &[send]);
    }
    w.check(
        pre_stop,
        stop_signal(INT),
        stopping,
        &[CutShort(HookKind::PreStop, INT), send],
    );
    // The app left during the hook: nothing to signal, drain.
    let w = World::new().app_gone();
    w.check(
        pre_stop,
        Event::PreStopEnded(Outcome::Succeeded),
        Phase::Draining {
            deadline: w.now + secs(2),
        },
        &[RemoveReadyFile, TermLeftovers],
    );
}

#[test]
fn pre_stop_that_drains_awaits_the_apps_exit_until_its_reserve() {
    let mut w = World::new();
    w.policy.pre_stop_drains = true;
    let t = w.now;
    let pre_stop = Phase::PreStop {
        deadline: t + secs(10),
        signal: Some(TERM),
        received: true,
    };
    w.check(
        pre_stop,
        Event::PreStopEnded(Outcome::Succeeded),
        Phase::AwaitingExit {
            deadline: t + secs(10),
            signal_at: t + secs(8),
            signal: TERM,
        },
        &[LogAwaitingExit {
            signal: TERM,
            left: secs(8),
        }],
    );
    // A failed hook started no shutdown; a late one leaves no time to wait.
    let send = SendStopSignal {
        signal: TERM,
        announce: None,
    };
    let stopping = Phase::Stopping {
        deadline: t + secs(10),
    };
    w.check(
        pre_stop,
        Event::PreStopEnded(Outcome::Failed),
        stopping,
        &[send],
    );
    let late = Phase::PreStop {
        deadline: t + secs(1),
        signal: Some(TERM),
        received: true,
    };
    w.check(
        late,
        Event::PreStopEnded(Outcome::Succeeded),
        Phase::Stopping {
            deadline: t + secs(1),
        },
        &[send],
    );
}

/// A stop a probe or PostStart began runs on through the first stop signal
/// (the runtime's `docker stop` meets it under way), as the kubelet lets a
/// liveness kill finish under a pod's deletion; a second cuts PreStop short.
#[test]
fn pre_stop_of_a_stop_no_signal_began_goes_on_through_the_first_stop_signal() {
    let w = World::new();
    let t = w.now;
    let probe_stop = Phase::PreStop {
        deadline: t + secs(10),
        signal: Some(TERM),
        received: false,
    };
    let signalled = Phase::PreStop {
        deadline: t + secs(10),
        signal: Some(TERM),
        received: true,
    };
    w.check(
        probe_stop,
        stop_signal(INT),
        signalled,
        &[LogPreStopGoesOn(INT)],
    );
    w.check(
        signalled,
        stop_signal(TERM),
        Phase::Stopping {
            deadline: t + secs(10),
        },
        &[
            CutShort(HookKind::PreStop, TERM),
            SendStopSignal {
                signal: TERM,
                announce: None,
            },
        ],
    );
    // Begun by a liveness probe with PreStop: not yet received.
    let mut out = Vec::new();
    let facts = Facts {
        now: t,
        app_alive: true,
        window: WINDOW,
    };
    let restart = Event::ProbeRestart {
        kind: ProbeKind::Liveness,
        window: WINDOW,
    };
    let got = step(Phase::Running, restart, &w.policy, &facts, &mut |a| {
        out.push(a)
    });
    assert_eq!(got, probe_stop);
}

#[test]
fn pre_stop_app_exited_lets_the_hook_end_then_drains() {
    let w = World::new().app_gone();
    let t = w.now;
    let exit = [StopProber, CancelAppHooks(Cancel::AppExited)];
    let for_exit = Phase::PreStop {
        deadline: t + secs(10),
        signal: None,
        received: false,
    };
    w.check(
        Phase::PreStop {
            deadline: t + secs(10),
            signal: Some(TERM),
            received: true,
        },
        Event::AppExited,
        for_exit,
        &join(&exit, &[LetPreStopFinish { until: t + secs(2) }]),
    );
    // Never past the deadline.
    let near = Phase::PreStop {
        deadline: t + secs(1),
        signal: None,
        received: false,
    };
    w.check(
        near,
        Event::AppExited,
        near,
        &join(&exit, &[LetPreStopFinish { until: t + secs(1) }]),
    );
    // A hook that cannot wait (a sleep) is cancelled.
    w.check(
        for_exit,
        Event::PreStopCannotWait,
        Phase::Draining {
            deadline: t + secs(2),
        },
        &[
            CancelHook(HookKind::PreStop, Cancel::AppExited),
            RemoveReadyFile,
            TermLeftovers,
        ],
    );
    // The hook ended on its own: drain.
    w.check(
        for_exit,
        Event::PreStopEnded(Outcome::Succeeded),
        Phase::Draining {
            deadline: t + secs(2),
        },
        &[RemoveReadyFile, TermLeftovers],
    );
}

#[test]
fn pre_stop_for_the_apps_exit_goes_on_at_a_stop_signal() {
    let w = World::new().app_gone();
    let d = w.now + secs(10);
    w.check(
        Phase::PreStop {
            deadline: d,
            signal: None,
            received: false,
        },
        stop_signal(TERM),
        Phase::PreStop {
            deadline: d,
            signal: Some(TERM),
            received: true,
        },
        &[LogPreStopGoesOn(TERM)],
    );
}
