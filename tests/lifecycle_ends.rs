//! The ends of a container's life as PID 1: the post-stop handler after
//! every kind of end (`HOOKINIT_POST_STOP`), and what PreStop, post-stop and
//! the reload hook are told (the reason, the SIGKILL time, the app's exit).
//! Hooks print what they are told on stdout (a hook's output is copied to
//! hookinit's); hookinit's events on stderr.

mod common;
use common::*;

use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A post-stop (or any hook) that prints what it is told, prefixed.
fn told(prefix: &str) -> String {
    let script = format!(
        "echo \"{prefix} reason=$HOOKINIT_STOP_REASON code=$HOOKINIT_EXIT_CODE sig=$HOOKINIT_EXIT_SIGNAL\"; echo \"{prefix}-IN $HOOKINIT_KILL_IN_MS\""
    );
    serde_json::json!(["/bin/sh", "-c", script]).to_string()
}

/// The `PREFIX-IN` line's milliseconds.
fn kill_in(stdout: &str, prefix: &str) -> u64 {
    let tag = format!("{prefix}-IN ");
    let line = stdout.lines().find_map(|l| l.strip_prefix(tag.as_str()));
    line.unwrap_or_else(|| panic!("no {tag}in {stdout}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The lines but the `-IN` ones (their values vary) and the app's `READY`.
fn said(stdout: &str) -> Vec<&str> {
    let lines = stdout.lines();
    lines
        .filter(|l| !l.contains("-IN") && *l != "READY")
        .collect()
}

/// An app that says it runs, then sleeps (and dies by TERM or HUP).
const APP_SLEEPS: &[&str] = &["--", "/bin/sh", "-c", "echo READY; exec sleep 100"];

fn stopped(env: &[(&str, &str)], sig: i32) -> Finished {
    let mut r = Running::pid1(APP_SLEEPS, env);
    r.wait_for("READY", secs(10.0));
    r.mark();
    r.signal(sig);
    r.wait(secs(15.0))
}

#[test]
fn post_stop_after_a_stop_signal_gets_the_reason_the_exit_code_and_the_signal() {
    let post = told("POST");
    let f = stopped(
        &[("HOOKINIT_POST_STOP", &post), ("HOOKINIT_VERBOSITY", "3")],
        libc::SIGTERM,
    );
    assert_eq!(f.code, Some(143), "{f:#?}");
    assert_eq!(
        said(&f.stdout),
        ["POST reason=signal:SIGTERM code=143 sig=SIGTERM"],
        "{f:#?}"
    );
    // What remains of the 9 s grace window.
    let left = kill_in(&f.stdout, "POST");
    assert!((8000..=9000).contains(&left), "{left}\n{f:#?}");
    let names = f.events();
    let from = names.iter().position(|n| n == "StopSignalSent").unwrap();
    let tail: Vec<&str> = names[from..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "StopSignalSent",
            "Exited",
            "HookStarted",
            "HookSucceeded",
            "Exiting"
        ],
        "{f:#?}"
    );
    assert!(
        f.stderr
            .contains("Exiting: exit code 143; 0 heap allocations after start-up"),
        "{f:#?}"
    );
}

#[test]
fn post_stop_after_the_apps_own_exit_has_the_cleanup_timeout() {
    let post = told("POST");
    let f = run_pid1(
        &["--", "/bin/sh", "-c", "exit 3"],
        &[
            ("HOOKINIT_POST_STOP", &post),
            ("HOOKINIT_CLEANUP_TIMEOUT", "4"),
        ],
    );
    assert_eq!(f.code, Some(3), "{f:#?}");
    assert_eq!(
        said(&f.stdout),
        ["POST reason=appExit code=3 sig="],
        "{f:#?}"
    );
    let left = kill_in(&f.stdout, "POST");
    assert!((3500..=4000).contains(&left), "{left}\n{f:#?}");
}

#[test]
fn post_stop_after_liveness_startup_and_post_start_failures() {
    let post = told("POST");
    let failing = r#"{"exec":{"command":["false"]},"periodSeconds":1,"failureThreshold":1}"#;
    for (var, value, reason, code) in [
        ("HOOKINIT_LIVENESS_PROBE", failing, "liveness", 5),
        ("HOOKINIT_STARTUP_PROBE", failing, "startup", 5),
        ("HOOKINIT_POST_START", r#"["false"]"#, "postStart", 4),
    ] {
        let f = run_pid1(APP_SLEEPS, &[("HOOKINIT_POST_STOP", &post), (var, value)]);
        assert_eq!(f.code, Some(code), "{var}\n{f:#?}");
        let want = format!("POST reason={reason} code=143 sig=SIGTERM");
        assert_eq!(said(&f.stdout), [want.as_str()], "{var}\n{f:#?}");
    }
}

#[test]
fn post_stop_after_a_failed_or_stopped_pre_start_knows_no_app() {
    let post = told("POST");
    let f = run_pid1(
        APP_SLEEPS,
        &[
            ("HOOKINIT_POST_STOP", &post),
            ("HOOKINIT_PRE_START", r#"[["false"]]"#),
        ],
    );
    assert_eq!(f.code, Some(6), "{f:#?}");
    assert_eq!(
        said(&f.stdout),
        ["POST reason=preStart code= sig="],
        "{f:#?}"
    );
    let steps = r#"[{"sleep":{"seconds":30}}]"#;
    let r = Running::pid1(
        APP_SLEEPS,
        &[("HOOKINIT_POST_STOP", &post), ("HOOKINIT_PRE_START", steps)],
    );
    r.wait_for("HookStarted", secs(10.0));
    r.signal(libc::SIGINT);
    let f = r.wait(secs(15.0));
    assert_eq!(f.code, Some(130), "{f:#?}");
    assert_eq!(
        said(&f.stdout),
        ["POST reason=signal:SIGINT code= sig="],
        "{f:#?}"
    );
}

/// An app whose program cannot be started ends as one that ran and failed:
/// post-stop runs, told `startError` and the exit code (127 or 126).
#[test]
fn post_stop_after_an_app_that_could_not_start() {
    let post = told("POST");
    let d = TempDir::new("lifecycle-start-error");
    let noexec = d.path("noexec");
    std::fs::write(&noexec, "#!/bin/sh\n").unwrap();
    for (app, code) in [("/nonexistent/app", 127), (noexec.to_str().unwrap(), 126)] {
        let f = run_pid1(&["--", app], &[("HOOKINIT_POST_STOP", &post)]);
        assert_eq!(f.code, Some(code), "{f:#?}");
        assert_eq!(
            said(&f.stdout),
            [format!("POST reason=startError code={code} sig=")],
            "{f:#?}"
        );
    }
}

/// The app's leftovers get SIGTERM and are gone before post-stop runs.
#[test]
fn post_stop_runs_once_every_leftover_is_gone() {
    let d = TempDir::new("lifecycle-leftover");
    let ready = d.path("ready").display().to_string();
    let app = format!(
        "(trap 'echo LEFTOVER-TERM; exit 0' TERM; echo LEFTOVER-READY; touch {ready}; while :; do sleep 0.05; done) & \
         while [ ! -e {ready} ]; do sleep 0.01; done; exit 0"
    );
    let post = told("POST");
    let f = run_pid1(
        &["--", "/bin/sh", "-c", &app],
        &[("HOOKINIT_POST_STOP", &post)],
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(
        said(&f.stdout),
        [
            "LEFTOVER-READY",
            "LEFTOVER-TERM",
            "POST reason=appExit code=0 sig="
        ],
        "{f:#?}"
    );
}

#[test]
fn a_failing_post_stop_is_logged_and_changes_no_exit_code() {
    let post = r#"["/bin/sh","-c","echo POST-BROKEN >&2; exit 9"]"#;
    let f = run_pid1(
        &["--", "/bin/sh", "-c", "exit 0"],
        &[("HOOKINIT_POST_STOP", post)],
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    let lines = events(&f.stderr, "FailedPostStopHook");
    assert_eq!(
        lines,
        ["FailedPostStopHook hook=PostStop handler=exec: PostStop hook failed: command '/bin/sh -c echo POST-BROKEN >&2; exit 9' exited with 9: POST-BROKEN"],
        "{f:#?}"
    );
}

/// Post-stop has what remains of the grace window: past it, it is killed;
/// with nothing left (the app was killed at the deadline), it is skipped.
#[test]
fn post_stop_is_held_to_what_remains_of_the_grace_window() {
    let post = r#"["sleep","100"]"#;
    let f = stopped(
        &[("HOOKINIT_POST_STOP", post), ("HOOKINIT_GRACE_PERIOD", "2")],
        libc::SIGTERM,
    );
    assert_eq!(f.code, Some(143), "{f:#?}");
    assert!(
        f.elapsed >= secs(2.0) && f.elapsed < secs(2.5),
        "{:?}\n{f:#?}",
        f.elapsed
    );
    assert_eq!(
        events(&f.stderr, "FailedPostStopHook"),
        ["FailedPostStopHook hook=PostStop handler=exec: PostStop hook failed: timed out after 2.0s"],
        "{f:#?}"
    );
    let app = &[
        "--",
        "/bin/sh",
        "-c",
        "trap '' TERM; echo READY; while :; do sleep 1; done",
    ];
    let r = Running::pid1(
        app,
        &[("HOOKINIT_POST_STOP", post), ("HOOKINIT_GRACE_PERIOD", "2")],
    );
    r.wait_for("READY", secs(10.0));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(15.0));
    assert_eq!(f.code, Some(137), "{f:#?}");
    assert_eq!(
        events(&f.stderr, "PostStopSkipped"),
        ["PostStopSkipped: no time left"],
        "{f:#?}"
    );
}

/// PreStop is told the reason and its deadline; the deadline it is given
/// is when SIGKILL really comes, within 10 ms. The app holds the write end
/// of a FIFO the test reads: end of file is the moment the SIGKILL ended it.
#[test]
fn pre_stop_is_told_the_reason_and_the_sigkill_time_within_10ms() {
    let d = TempDir::new("lifecycle-deadline");
    let fifo = d.path("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let pre_stop = r#"["/bin/sh","-c","echo \"PRE reason=$HOOKINIT_STOP_REASON at=$HOOKINIT_KILL_AT\"; echo \"PRE-IN $HOOKINIT_KILL_IN_MS\"; sleep 100"]"#;
    let app = format!(
        "trap '' TERM; exec 3>{}; echo READY; while :; do sleep 1; done",
        fifo.display()
    );
    let r = Running::pid1(
        &["--", "/bin/sh", "-c", &app],
        &[
            ("HOOKINIT_PRE_STOP", pre_stop),
            ("HOOKINIT_GRACE_PERIOD", "3"),
        ],
    );
    // Not blocking while the app opens its end (it has once it is READY);
    // then blocking, until the end of file.
    use std::os::unix::fs::OpenOptionsExt;
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    r.wait_for("READY", secs(10.0));
    let fd = std::os::fd::AsRawFd::as_raw_fd(&reader);
    // SAFETY: `fd` is the open FIFO's.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFL, 0) }, 0);
    r.signal(libc::SIGTERM);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    let died = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let f = r.wait(secs(15.0));
    assert_eq!(f.code, Some(137), "{f:#?}");
    let line = f
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("PRE reason=signal:SIGTERM at="))
        .unwrap_or_else(|| panic!("{f:#?}"));
    let at = Duration::from_secs_f64(line.parse().unwrap());
    let gap = at.abs_diff(died);
    assert!(gap < Duration::from_millis(10), "{gap:?}\n{f:#?}");
    let left = kill_in(&f.stdout, "PRE");
    assert!((2900..=3000).contains(&left), "{left}\n{f:#?}");
}

/// An httpGet post-stop gets the same as request headers.
#[test]
fn an_http_post_stop_gets_headers() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !request.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        String::from_utf8_lossy(&request).into_owned()
    });
    let post = format!(r#"{{"httpGet":{{"host":"127.0.0.1","port":{port},"path":"/done"}}}}"#);
    let f = run_pid1(
        &["--", "/bin/sh", "-c", "kill -KILL $$"],
        &[("HOOKINIT_POST_STOP", &post)],
    );
    assert_eq!(f.code, Some(137), "{f:#?}");
    let request = server.join().unwrap();
    for header in [
        "\r\nHookinit-Stop-Reason: appExit\r\n",
        "\r\nHookinit-Exit-Code: 137\r\n",
        "\r\nHookinit-Exit-Signal: SIGKILL\r\n",
        "\r\nHookinit-Kill-In-Ms: ",
        "\r\nHookinit-Kill-At: ",
    ] {
        assert!(request.contains(header), "{header:?} in {request}");
    }
}

#[test]
fn the_reload_hook_is_told_its_reason() {
    let reload = told("RELOAD");
    let r = Running::pid1(APP_SLEEPS, &[("HOOKINIT_RELOAD", &reload)]);
    r.wait_for("READY", secs(10.0));
    r.signal(libc::SIGHUP);
    // The reload succeeds: the app gets HUP, and dies of it.
    let f = r.wait(secs(15.0));
    assert_eq!(f.code, Some(129), "{f:#?}");
    assert_eq!(
        said(&f.stdout),
        ["RELOAD reason=reload code= sig="],
        "{f:#?}"
    );
    assert_eq!(kill_in_or_empty(&f.stdout, "RELOAD"), "", "{f:#?}");
}

fn kill_in_or_empty<'a>(stdout: &'a str, prefix: &str) -> &'a str {
    let tag = format!("{prefix}-IN");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(tag.as_str()))
        .unwrap_or("missing")
        .trim()
}

/// The termination message: a failed container's exit code, reason and
/// last failure, where the container object says; the app's own message
/// wins; a success writes nothing.
#[test]
fn a_failed_container_leaves_its_reason_as_the_termination_message() {
    let d = TempDir::new("lifecycle-message");
    let path = d.path("termination-log");
    let container = serde_json::json!({
        "name": "web",
        "terminationMessagePath": path.to_str().unwrap(),
        "livenessProbe": {
            "exec": {"command": ["/bin/sh", "-c", "echo database unreachable; exit 1"]},
            "periodSeconds": 1,
            "failureThreshold": 1
        }
    })
    .to_string();
    let f = run_pid1(
        APP_SLEEPS,
        &[
            ("HOOKINIT_CONTAINER", &container),
            ("HOOKINIT_VERBOSITY", "3"),
        ],
    );
    assert_eq!(f.code, Some(5), "{f:#?}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "exit code 5; reason liveness\nUnhealthy: Liveness probe failed: database unreachable\n"
    );
    assert!(
        f.stderr
            .contains("Exiting: exit code 5; 0 heap allocations after start-up"),
        "{f:#?}"
    );
    // The app's own message stays; a success writes nothing.
    let own = path.display().to_string();
    let env = [("HOOKINIT_TERMINATION_MESSAGE_PATH", own.as_str())];
    let app = format!("echo 'the app says' > {own}; exit 3");
    let f = run_pid1(&["--", "/bin/sh", "-c", &app], &env);
    assert_eq!(f.code, Some(3), "{f:#?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "the app says\n");
    std::fs::remove_file(&path).unwrap();
    let f = run_pid1(&["--", "true"], &env);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(!path.exists());
    // A failed hook's output; and a failed pre-start (no app at all).
    let post_start = r#"["/bin/sh","-c","echo no schema >&2; exit 3"]"#;
    let f = run_pid1(APP_SLEEPS, &[env[0], ("HOOKINIT_POST_START", post_start)]);
    assert_eq!(f.code, Some(4), "{f:#?}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "exit code 4; reason postStart\nFailedPostStartHook: PostStart hook failed: command '/bin/sh -c echo no schema >&2; exit 3' exited with 3: no schema\n"
    );
    std::fs::remove_file(&path).unwrap();
    let f = run_pid1(
        APP_SLEEPS,
        &[env[0], ("HOOKINIT_PRE_START", r#"[["false"]]"#)],
    );
    assert_eq!(f.code, Some(6), "{f:#?}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "exit code 6; reason preStart\nFailedPreStartHook: PreStart hook failed: command 'false' exited with 1\n"
    );
    // Each run starts with the file empty, as the kubelet gives each run a
    // new one: an earlier run's message neither blocks this run's nor
    // outlives a success.
    let f = run_pid1(&["--", "/bin/sh", "-c", "exit 7"], &env);
    assert_eq!(f.code, Some(7), "{f:#?}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "exit code 7; reason appExit\n"
    );
    let f = run_pid1(&["--", "true"], &env);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    // An app that could not be started: why, as the kubelet's StartError.
    let f = run_pid1(&["--", "/nonexistent/app"], &env);
    assert_eq!(f.code, Some(127), "{f:#?}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "exit code 127; reason startError\ncannot run '/nonexistent/app': command not found\n"
    );
}
