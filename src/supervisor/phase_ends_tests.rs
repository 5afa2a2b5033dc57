//! The table's pre-start rows and the post-stop handler (`phase.rs`): each
//! case names the phase, the event, and the exact next phase and actions.

use super::*;
use Action::*;

const TERM: i32 = libc::SIGTERM;
const INT: i32 = libc::SIGINT;

const WINDOW: Window = Window {
    grace: Duration::from_secs(10),
    reserve: Duration::from_secs(2),
};

fn check(
    now: Instant,
    stop_signal: Option<i32>,
    phase: Phase,
    event: Event,
    next: Phase,
    actions: &[Action],
) {
    let policy = Policy {
        pre_stop: true,
        pre_stop_on_exit: false,
        pre_stop_drains: false,
        stop_signal,
        grace: WINDOW.grace,
        cleanup_timeout: Duration::from_secs(2),
        post_stop: false,
    };
    let facts = Facts {
        now,
        app_alive: false,
        window: WINDOW,
    };
    let mut out = Vec::new();
    let got = step(phase, event, &policy, &facts, &mut |a| out.push(a));
    assert_eq!(
        (got, out.as_slice()),
        (next, actions),
        "{phase:?} + {event:?}"
    );
}

fn stop_signal(signal: i32) -> Event {
    Event::StopSignal {
        signal,
        window: WINDOW,
    }
}

const RUNNING: Phase = Phase::PreStart { stop: None };

#[test]
fn a_stop_signal_ends_the_step_with_the_stop_signal_and_opens_the_window() {
    let t = Instant::now();
    let stopping = Phase::PreStart {
        stop: Some(t + WINDOW.grace),
    };
    // `Killing`, as for any stop: the signal received.
    let asks = |to_step| StopPreStart {
        received: TERM,
        to_step,
        window: WINDOW,
    };
    check(t, None, RUNNING, stop_signal(TERM), stopping, &[asks(TERM)]);
    // HOOKINIT_STOP_SIGNAL goes to the step; the exit code keeps the one received.
    check(
        t,
        Some(INT),
        RUNNING,
        stop_signal(TERM),
        stopping,
        &[asks(INT)],
    );
}

/// What the steps left gets SIGTERM, as an app's leftovers: the cleanup
/// timeout, within a stop's deadline.
fn drain(deadline: Instant) -> (Phase, [Action; 2]) {
    (
        Phase::Draining { deadline },
        [RemoveReadyFile, TermLeftovers],
    )
}

#[test]
fn a_failed_step_drains_and_a_stopped_step_drains_whatever_its_outcome() {
    let t = Instant::now();
    let (draining, acts) = drain(t + Duration::from_secs(2));
    for outcome in [Outcome::Failed, Outcome::Cancelled] {
        let e = Event::PreStartEnded(outcome);
        let want = [&[LogPreStartFailed][..], &acts].concat();
        check(t, None, RUNNING, e, draining, &want);
    }
    // Stopping: within the stop's deadline (here sooner than the cleanup's).
    let deadline = t + Duration::from_secs(1);
    let stopping = Phase::PreStart {
        stop: Some(deadline),
    };
    let (draining, acts) = drain(deadline);
    for outcome in [Outcome::Succeeded, Outcome::Failed, Outcome::Cancelled] {
        let e = Event::PreStartEnded(outcome);
        check(t, None, stopping, e, draining, &acts);
    }
    // Nothing left: the exit.
    check(t, None, draining, Event::NoChildLeft, draining, &[Finish]);
}

#[test]
fn a_second_stop_signal_drains_and_the_deadline_kills_everything() {
    let t = Instant::now();
    let deadline = t + WINDOW.grace;
    let stopping = Phase::PreStart {
        stop: Some(deadline),
    };
    let (draining, acts) = drain(t + Duration::from_secs(2));
    check(
        t,
        None,
        stopping,
        stop_signal(INT),
        draining,
        &[&[CutShort(HookKind::PreStart, INT)][..], &acts].concat(),
    );
    check(t, None, stopping, Event::Tick, stopping, &[]);
    check(
        deadline,
        None,
        stopping,
        Event::Tick,
        Phase::Killed {
            deadline: deadline + KILLED_WAIT,
        },
        &[KillEverything(KillReason::GraceOver)],
    );
    assert_eq!(stopping.wake_at(), Some(deadline));
    assert_eq!(RUNNING.wake_at(), None);
    assert!(!stopping.exiting());
}

#[test]
fn the_reload_signal_and_time_do_nothing_before_the_app() {
    let t = Instant::now();
    check(t, None, RUNNING, Event::ReloadSignal, RUNNING, &[]);
    check(t, None, RUNNING, Event::Tick, RUNNING, &[]);
}

fn check_post_stop(now: Instant, phase: Phase, event: Event, next: Phase, actions: &[Action]) {
    let policy = Policy {
        pre_stop: false,
        pre_stop_on_exit: false,
        pre_stop_drains: false,
        stop_signal: None,
        grace: WINDOW.grace,
        cleanup_timeout: Duration::from_secs(2),
        post_stop: true,
    };
    let facts = Facts {
        now,
        app_alive: false,
        window: WINDOW,
    };
    let mut out = Vec::new();
    let got = step(phase, event, &policy, &facts, &mut |a| out.push(a));
    assert_eq!(
        (got, out.as_slice()),
        (next, actions),
        "{phase:?} + {event:?}"
    );
}

#[test]
fn with_a_post_stop_handler_every_exit_runs_it_first() {
    let t = Instant::now();
    let d = t + WINDOW.grace;
    let draining = Phase::Draining { deadline: d };
    let killed = Phase::Killed { deadline: t };
    let post = Phase::PostStop;
    check_post_stop(t, draining, Event::NoChildLeft, post, &[StartPostStop]);
    check_post_stop(t, killed, Event::NoChildLeft, post, &[StartPostStop]);
    check_post_stop(t, killed, Event::Tick, post, &[LogNotReaped, StartPostStop]);
}

#[test]
fn post_stop_ends_in_the_exit_and_ignores_stop_signals_and_time() {
    let t = Instant::now();
    let post = Phase::PostStop;
    check_post_stop(t, post, Event::PostStopEnded, post, &[Finish]);
    check_post_stop(t, post, stop_signal(INT), post, &[LogStopIgnored(INT)]);
    check_post_stop(t, post, Event::Tick, post, &[]);
    check_post_stop(t, post, Event::NoChildLeft, post, &[]);
    assert_eq!(post.wake_at(), None);
    assert!(!post.exiting());
}

/// An app that could not be started ends the run as a failed step does:
/// what the steps left (if any) is drained, then the exit.
#[test]
fn an_app_that_could_not_start_drains() {
    let t = Instant::now();
    let (draining, acts) = drain(t + Duration::from_secs(2));
    check(
        t,
        None,
        Phase::Running,
        Event::AppNotStarted,
        draining,
        &acts,
    );
}
