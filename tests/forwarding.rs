//! What the loop's signal dispatch forwards, and what it keeps: a signal
//! hookinit raised on itself is never the app's. The release binary, as
//! PID 1 of a fresh PID namespace.
mod common;
use common::*;

use std::process::Stdio;

/// A shell app that records each trapped signal as a file in `dir`.
fn recording_app(dir: &TempDir) -> String {
    let d = dir.0.display();
    format!(
        "for s in PIPE USR1 USR2; do trap \"touch {d}/got-$s\" $s; done; \
         trap 'exit 0' TERM; touch {d}/ready; while :; do sleep 0.05; done"
    )
}

/// With stderr a pipe nobody reads any more, hookinit's debug event for a
/// forwarded USR1 fails with EPIPE and raises SIGPIPE on hookinit itself:
/// that SIGPIPE comes through the signalfd like any other, and is not
/// forwarded; the USR1 before it and the USR2 after it are.
#[test]
fn hookinits_own_sigpipe_is_not_forwarded_but_signals_from_outside_are() {
    let dir = TempDir::new("own-sigpipe");
    let app = recording_app(&dir);
    let mut cmd = command(
        true,
        &["--", "sh", "-c", &app],
        &[("HOOKINIT_VERBOSITY", "3")],
    );
    let (reader, writer) = std::io::pipe().expect("pipe");
    cmd.stdout(Stdio::null()).stderr(writer);
    // (`start` drops `cmd`: only hookinit and the app hold the write end.)
    let mut r = Wired::start(cmd, true);
    assert!(
        eventually(secs(10.0), || dir.path("ready").exists()),
        "app never ready"
    );
    // From here on every event line hookinit writes raises SIGPIPE.
    drop(reader);
    r.signal(libc::SIGUSR1);
    assert!(
        eventually(secs(10.0), || dir.path("got-USR1").exists()),
        "USR1 not forwarded"
    );
    r.signal(libc::SIGUSR2);
    assert!(
        eventually(secs(10.0), || dir.path("got-USR2").exists()),
        "USR2 not forwarded"
    );
    r.signal(libc::SIGTERM);
    // The app ran its traps in signal order (PIPE before TERM) before it
    // exited: had SIGPIPE been forwarded, its file would be there.
    assert_eq!(r.wait(secs(20.0)), Ok(Some(0)));
    assert!(!dir.path("got-PIPE").exists(), "SIGPIPE forwarded");
}
