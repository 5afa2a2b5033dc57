//! The notify protocol's lines, senders and budgets, without a socket.

use super::*;
use crate::os::notify_socket::Held;

fn notify() -> Notify {
    let budget = Budget::new(None, Some(Duration::from_secs(60)));
    let mut n = Notify::open(&Address::default(), Some(Duration::from_secs(5)), budget).unwrap();
    n.app_pid = std::process::id() as i32;
    n.own_pid = 1;
    n
}

fn feed(n: &mut Notify, text: &[u8]) -> Changes {
    let mut changes = Changes::default();
    n.buf[..text.len()].copy_from_slice(text);
    let pid = n.app_pid;
    n.datagram(
        Datagram {
            len: text.len(),
            pid,
            fds: Held::NONE,
        },
        &mut changes,
    );
    changes
}

#[test]
fn ready_starts_once_and_reloading_takes_readiness_until_the_next_ready() {
    let mut n = notify();
    assert!(!n.ready() && !n.started());
    let c = feed(&mut n, b"STATUS=warming up\nREADY=1\n");
    assert_eq!((c.started, c.readiness, n.ready()), (true, true, true));
    assert_eq!(feed(&mut n, b"READY=1"), Changes::default());
    let c = feed(&mut n, b"RELOADING=1\nMAINPID=5");
    assert_eq!((c.started, c.readiness, n.ready()), (false, true, false));
    let c = feed(&mut n, b"READY=1");
    assert_eq!((c.started, c.readiness, n.ready()), (false, true, true));
    let c = feed(&mut n, b"STOPPING=1");
    assert_eq!(
        (c.readiness, n.ready(), n.heard.state),
        (true, false, State::Stopping)
    );
}

#[test]
fn watchdog_pings_push_the_deadline_usec_changes_it_and_trigger_fails() {
    let mut n = notify();
    n.set_app(n.app_pid);
    let first = n.wake_at().unwrap();
    assert!(n.on_time(Instant::now()).is_none());
    std::thread::sleep(Duration::from_millis(2));
    feed(&mut n, b"WATCHDOG=1");
    assert!(n.wake_at().unwrap() > first);
    feed(&mut n, b"WATCHDOG_USEC=1000");
    assert_eq!(
        n.heard.watchdog.map(|w| w.interval),
        Some(Duration::from_millis(1))
    );
    let at = n.wake_at().unwrap();
    assert!(at <= Instant::now() + Duration::from_millis(1));
    assert_eq!(
        n.on_time(at),
        Some(Failure::Watchdog(Duration::from_millis(1)))
    );
    // Failed: disarmed, pings do not re-arm it.
    feed(&mut n, b"WATCHDOG=1");
    assert_eq!(n.wake_at(), None);
    assert!(feed(&mut n, b"WATCHDOG=trigger").triggered);
    let mut n = notify();
    n.set_app(n.app_pid);
    feed(&mut n, b"WATCHDOG_USEC=0");
    assert_eq!(n.wake_at(), None);
    feed(&mut n, b"WATCHDOG_USEC=x");
    assert_eq!(n.heard.watchdog.map(|w| w.interval), Some(Duration::ZERO));
}

#[test]
fn microseconds_are_digits_with_a_plus_allowed() {
    for (text, want) in [
        (&b"1000"[..], Some(1000)),
        (b"+1000", Some(1000)),
        (b" 7", None),
        (b"-1", None),
        (b"1000 ", None),
        (b"1e3", None),
        (b"+", None),
        (b"", None),
    ] {
        assert_eq!(usec(text), want, "{:?}", String::from_utf8_lossy(text));
    }
}

#[test]
fn extend_timeout_is_handed_on_with_a_ceiling_and_the_start_budget_ends_at_ready() {
    let budget = Budget::new(Some(Duration::from_secs(1)), None);
    let mut n = Notify::open(&Address::default(), None, budget).unwrap();
    n.app_pid = std::process::id() as i32;
    n.own_pid = 1;
    n.set_app(n.app_pid);
    // No ceiling: ignored.
    assert_eq!(feed(&mut n, b"EXTEND_TIMEOUT_USEC=5000000").extend, None);
    let due = n.wake_at().unwrap();
    assert_eq!(n.on_time(due), Some(Failure::Start(Duration::from_secs(1))));
    assert_eq!(n.wake_at(), None);
    // A ceiling, and no start-up budget: nothing to move.
    let mut n = notify();
    n.set_app(n.app_pid);
    assert_eq!(feed(&mut n, b"EXTEND_TIMEOUT_USEC=5000000").extend, None);
    n.budget().start_timeout = Some(Duration::from_secs(1));
    n.set_app(n.app_pid);
    let c = feed(
        &mut n,
        b"EXTEND_TIMEOUT_USEC=5000000\nEXTEND_TIMEOUT_USEC=7",
    );
    assert_eq!(c.extend, Some(7));
    assert_eq!(feed(&mut n, b"EXTEND_TIMEOUT_USEC=soon").extend, None);
    assert!(n.heard.budget.start_due.is_some());
    feed(&mut n, b"READY=1");
    assert_eq!(n.heard.budget.start_due, None);
    // Started: no budget runs until the stop's.
    assert_eq!(feed(&mut n, b"EXTEND_TIMEOUT_USEC=5").extend, None);
    n.disarm();
    assert_eq!(feed(&mut n, b"EXTEND_TIMEOUT_USEC=5").extend, Some(5));
}

#[test]
fn every_name_of_the_table_is_found_and_only_those() {
    let names = [
        "READY",
        "RELOADING",
        "STOPPING",
        "STATUS",
        "MAINPID",
        "ERRNO",
        "BUSERROR",
        "FDSTORE",
        "FDSTOREREMOVE",
        "FDNAME",
        "FDPOLL",
        "EXTEND_TIMEOUT_USEC",
        "WATCHDOG",
        "WATCHDOG_USEC",
        "BARRIER",
    ];
    for (name, want) in names.iter().zip(KEYS) {
        assert_eq!(
            key(name.as_bytes()).map(|k| k as u8),
            Some(want as u8),
            "{name}"
        );
    }
    for other in ["", "READ", "READYY", "FDSTOR", "WATCHDOG_USE", "BARRIER_"] {
        assert!(key(other.as_bytes()).is_none(), "{other}");
    }
}

#[test]
fn ready_with_another_value_or_in_one_line_with_more_is_not_ready() {
    let mut n = notify();
    feed(&mut n, b"READY=0\nREADY=10\nXREADY=1\nREADY");
    assert!(!n.ready() && !n.started());
}

#[test]
fn each_key_of_the_table_is_heard_and_watchdog_with_another_value_is_unknown() {
    let mut n = notify();
    feed(&mut n, b"READY=0\nBARRIER=1\nFDNAME=x\nFDPOLL=0");
    assert_eq!(n.heard.logged, Once::FdStore as u16);
    feed(&mut n, b"WATCHDOG=0");
    assert_eq!(n.heard.logged, Once::FdStore as u16 | Once::Unknown as u16);
}

#[test]
fn a_sender_outside_the_apps_tree_is_not_heard() {
    let mut n = notify();
    // Our own parent is not a descendant of us.
    let parent = std::os::unix::process::parent_id() as i32;
    assert_eq!(n.sender(parent), Sender::Outsider);
    assert_eq!(n.sender(n.app_pid), Sender::App);
    assert_eq!(n.sender(0), Sender::Outsider);
    let mut child = std::process::Command::new("sleep")
        .arg("5")
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    assert_eq!(n.sender(pid), Sender::App);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(n.sender(pid), Sender::Gone);
    n.app_pid = 0;
    assert_eq!(n.sender(std::process::id() as i32), Sender::Outsider);
}
