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
        reload_signal: libc::SIGHUP,
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
        stop: Some((TERM, t + WINDOW.grace)),
    };
    let asks = |signal| StopPreStart {
        signal,
        received: TERM,
    };
    check(
        t,
        None,
        RUNNING,
        stop_signal(TERM),
        stopping,
        &[OpenWindow(WINDOW), asks(TERM)],
    );
    // HOOKINIT_STOP_SIGNAL goes to the step; the exit code keeps the one received.
    check(
        t,
        Some(INT),
        RUNNING,
        stop_signal(TERM),
        stopping,
        &[OpenWindow(WINDOW), asks(INT)],
    );
}

#[test]
fn a_failed_step_exits_and_a_stopped_step_exits_whatever_its_outcome() {
    let t = Instant::now();
    for outcome in [Outcome::Failed, Outcome::Cancelled] {
        let e = Event::PreStartEnded(outcome);
        check(t, None, RUNNING, e, RUNNING, &[LogPreStartFailed, Finish]);
    }
    let stopping = Phase::PreStart {
        stop: Some((TERM, t + WINDOW.grace)),
    };
    for outcome in [Outcome::Succeeded, Outcome::Failed, Outcome::Cancelled] {
        let e = Event::PreStartEnded(outcome);
        check(t, None, stopping, e, stopping, &[Finish]);
    }
}

#[test]
fn a_second_stop_signal_or_the_deadline_kills_the_step_and_exits() {
    let t = Instant::now();
    let deadline = t + WINDOW.grace;
    let stopping = Phase::PreStart {
        stop: Some((TERM, deadline)),
    };
    check(
        t,
        None,
        stopping,
        stop_signal(INT),
        stopping,
        &[CutPreStartShort(INT), Finish],
    );
    check(t, None, stopping, Event::Tick, stopping, &[]);
    check(
        deadline,
        None,
        stopping,
        Event::Tick,
        stopping,
        &[KillPreStart, Finish],
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
        reload_signal: libc::SIGHUP,
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
    let failed = Event::PreStartEnded(Outcome::Failed);
    check_post_stop(
        t,
        RUNNING,
        failed,
        post,
        &[LogPreStartFailed, StartPostStop],
    );
    let stopping = Phase::PreStart {
        stop: Some((TERM, d)),
    };
    check_post_stop(
        d,
        stopping,
        Event::Tick,
        post,
        &[KillPreStart, StartPostStop],
    );
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
