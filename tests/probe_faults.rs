//! Probes, the ready file and the exit's cleanup never lie (issue 24), under
//! the faults that once made them: an address-space clamp on PID 1 (a probe
//! process that crashes), a TERM-ignoring exec probe command, `pidfd_open`
//! refused, a stale ready file owned by another user, failing `unlink`,
//! `poll` and `/proc/PID/stat` opens. Each test asserts the exact outcome.
//!
//! strace slows the traced processes, so the time bounds of the traced tests
//! are generous; the untraced ones are tight.
mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The app prints `app-ready` from `app-rea""dy`, so that a debug `Started`
/// event (which quotes the script) cannot be taken for the app's own line.
const APP: &str =
    "trap 'echo app-got-TERM; exit 0' TERM; echo app-rea\"\"dy; while :; do sleep 0.05; done";

fn have_strace() -> bool {
    Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// strace's arguments: only the injected calls traced, output discarded;
/// `-f` follows hookinit's children (probe processes) too.
fn strace_args(follow: bool, injects: &[&str]) -> Vec<String> {
    let calls: Vec<&str> = injects
        .iter()
        .map(|r| r.split(':').next().unwrap())
        .collect();
    let mut args: Vec<String> = ["-o", "/dev/null", "-e"].map(String::from).to_vec();
    args.push(format!("trace={}", calls.join(",")));
    if follow {
        args.push("-f".into());
    }
    for rule in injects {
        args.push("-e".into());
        args.push(format!("inject={rule}"));
    }
    args
}

/// `strace ... hookinit ARGS` (not PID 1), stdout and stderr piped.
fn traced(follow: bool, injects: &[&str], args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("strace");
    cmd.args(strace_args(follow, injects))
        .arg(bin())
        .args(args)
        .env_clear()
        .env("PATH", PATH);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// hookinit's own pid under strace (strace's first child running it).
fn hookinit_under(strace: i32) -> i32 {
    let mut pid = 0;
    assert!(
        eventually(secs(10.0), || {
            pid = children(strace).first().copied().unwrap_or(0);
            pid > 0 && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == bin())
        }),
        "strace never started hookinit"
    );
    pid
}

/// Live (not zombie) processes whose command line is exactly `cmdline`.
fn processes(cmdline: &str) -> Vec<i32> {
    let want: Vec<u8> = cmdline
        .split(' ')
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        })
        .collect()
}

fn kill_all(cmdline: &str) {
    for pid in processes(cmdline) {
        // SAFETY: kill takes any pid and signal.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// A sleep duration unique to this test run, so its processes can be found.
fn tag(n: u32) -> String {
    format!("{n}{}", std::process::id() % 1000)
}

/// Clamps `pid`'s address space to its current size: any new memory fails.
fn clamp_address_space(pid: i32) {
    let vm: u64 = proc_status_field(pid, "VmSize")
        .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
        .expect("VmSize");
    let ok = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--as={}", vm * 1024)])
        .status()
        .unwrap()
        .success();
    assert!(ok, "prlimit failed");
}

// ---- 1. a crashed probe process is an error, not a failure ------------------------------

/// RLIMIT_AS clamped on PID 1 after start: every probe process (a fork of
/// PID 1) that needs memory dies by a signal before it reports. That is the
/// kubelet's "probe errored ... unknown state", never a failure: a healthy
/// container with three probes at 1 s and liveness failureThreshold 2 keeps
/// running (it once exited 5 within 3 s), and stops with the app's code.
/// `PROBE_CLAMP_SECS` runs it longer (the acceptance's 60 s, by hand).
#[test]
fn probe_processes_that_crash_under_a_memory_clamp_never_restart_the_container() {
    let hold: f64 = std::env::var("PROBE_CLAMP_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6.0);
    let port = http_ok_server();
    // Startup (before the clamp) is an exec: under the clamp the command
    // itself could not load (a real failure, as the kubelet would count it).
    let startup = r#"{"exec":{"command":["true"]},"periodSeconds":1}"#;
    let liveness = format!(
        r#"{{"httpGet":{{"port":{port},"path":"/"}},"periodSeconds":1,"failureThreshold":2}}"#
    );
    let readiness =
        format!(r#"{{"tcpSocket":{{"port":{port}}},"periodSeconds":1,"failureThreshold":2}}"#);
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[
            ("HOOKINIT_STARTUP_PROBE", startup),
            ("HOOKINIT_LIVENESS_PROBE", &liveness),
            ("HOOKINIT_READINESS_PROBE", &readiness),
        ],
    );
    r.wait_for("app-ready", secs(10.0));
    r.wait_for("the container is ready", secs(10.0));
    clamp_address_space(r.pid);
    let clamped = Instant::now();
    let errored =
        "Liveness probe errored and resulted in unknown state: the handler process was killed by";
    r.wait_for(errored, secs(10.0));
    thread::sleep(secs(hold).saturating_sub(clamped.elapsed()));
    assert!(
        !r.stderr().contains("Killing"),
        "stopped by a crashed probe: {}",
        r.stderr()
    );
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    let ctx = format!("{f:#?}");
    assert_eq!(f.code, Some(0), "the app's own code: {ctx}");
    assert!(f.stdout.contains("app-got-TERM"), "{ctx}");
    assert!(!f.stderr.contains("probe failed"), "{ctx}");
    assert!(!f.stderr.contains("failed liveness probe"), "{ctx}");
    let killing = events(&f.stderr, "Killing");
    assert_eq!(killing.len(), 1, "{ctx}");
    assert!(killing[0].contains("received SIGTERM"), "{ctx}");
    // One `Unhealthy ... errored` per thrown-away round of 3 tries, about one
    // a second: the probes kept running and kept being counted as errors.
    let rounds = events(&f.stderr, "Unhealthy")
        .iter()
        .filter(|l| l.contains(errored))
        .count();
    assert!(rounds as f64 >= hold / 2.0 - 1.0, "{rounds} rounds: {ctx}");
    eprintln!("clamped {:.1}s: {rounds} liveness error rounds", hold);
}

// ---- 2. an exec probe's command dies with its probe --------------------------------------

/// A stop that catches an exec probe whose command ignores TERM: the probe
/// process's group is SIGKILLed with the command in it, so the stop ends as
/// soon as the app has exited, not after the 2 s cleanup timeout; nothing
/// is left behind (not PID 1, where the namespace would not clean up).
#[test]
fn a_stop_during_a_term_ignoring_exec_probe_ends_at_once() {
    for pid1 in [true, false] {
        let t = TempDir::new("probe-stop");
        let log = t.path("log");
        let sleep = format!("sleep {}", tag(41));
        let probe = format!(
            r#"{{"exec":{{"command":["sh","-c","trap '' TERM; echo run >> {}; {sleep}; true"]}},"periodSeconds":1,"timeoutSeconds":60}}"#,
            log.display()
        );
        // The app dies on TERM at once (default disposition): what remains of
        // the stop is hookinit's.
        let args = ["--", "sleep", "1000"];
        let env = [("HOOKINIT_LIVENESS_PROBE", probe.as_str())];
        let mut r = if pid1 {
            Running::pid1(&args, &env)
        } else {
            Running::plain(&args, &env)
        };
        assert!(
            eventually(secs(10.0), || t.read("log").contains("run")
                && !processes(&sleep).is_empty()),
            "the probe never ran: {}",
            r.stderr()
        );
        r.mark();
        r.signal(libc::SIGTERM);
        let f = r.wait(secs(10.0));
        let left = processes(&sleep);
        kill_all(&sleep);
        let ctx = format!("pid1={pid1}: {f:#?}");
        assert_eq!(f.code, Some(143), "{ctx}");
        assert!(f.elapsed < secs(0.1), "{:?}: {ctx}", f.elapsed);
        assert!(
            left.is_empty(),
            "the probe's command survived: {left:?}: {ctx}"
        );
        eprintln!("pid1={pid1}: stop took {:?}", f.elapsed);
    }
}

/// A timed-out exec probe whose command closed its output and forked (a
/// shell running `sleep`): the command, and its child, die with the probe,
/// one run at a time, never one more per period. With `pidfd_open` the probe
/// process kills the command at its own deadline and hookinit the rest of
/// its group once it reaped it; with `pidfd_open` refused (kernels before
/// 5.3, some seccomp profiles) the probe process waits for the command with
/// no deadline of its own, and hookinit kills its group, command included,
/// at the hard deadline (4 commands were left after 4 runs).
#[test]
fn a_timed_out_exec_probe_takes_its_command_along_with_or_without_pidfd() {
    for pidfd in [true, false] {
        if !pidfd && !have_strace() {
            eprintln!("skipping without pidfd: no strace");
            return;
        }
        let t = TempDir::new("probe-timeout");
        let log = t.path("log");
        let sleep = format!("sleep {}", tag(42));
        let probe = format!(
            r#"{{"exec":{{"command":["sh","-c","echo run >> {}; exec >/dev/null 2>&1; {sleep}; true"]}},"periodSeconds":1,"timeoutSeconds":1,"failureThreshold":100}}"#,
            log.display()
        );
        let args = ["--", "sh", "-c", APP];
        let env = [("HOOKINIT_LIVENESS_PROBE", probe.as_str())];
        let (mut r, hookinit) = if pidfd {
            let r = Running::plain(&args, &env);
            let pid = r.pid;
            (r, pid)
        } else {
            let cmd = traced(true, &["pidfd_open:error=ENOSYS"], &args, &env);
            let r = Running::start(cmd, false);
            let pid = hookinit_under(r.pid);
            (r, pid)
        };
        r.wait_for("app-ready", secs(10.0));
        let runs = || t.read("log").lines().count();
        assert!(eventually(secs(20.0), || runs() >= 4), "{}", r.stderr());
        let alive = processes(&sleep);
        r.mark();
        // SAFETY: kill takes any pid and signal.
        unsafe { libc::kill(hookinit, libc::SIGTERM) };
        let f = r.wait(secs(20.0));
        let left = processes(&sleep);
        kill_all(&sleep);
        let ctx = format!("pidfd={pidfd}: {f:#?}");
        assert!(
            alive.len() <= 1,
            "{} commands alive: {alive:?}: {ctx}",
            alive.len()
        );
        assert!(left.is_empty(), "left behind: {left:?}: {ctx}");
        assert_eq!(f.code, Some(0), "{ctx}");
        let timed_out = events(&f.stderr, "Unhealthy")
            .iter()
            .filter(|l| l.contains("timed out"))
            .count();
        assert!(timed_out >= 3, "{ctx}");
    }
}

// ---- 3. the ready file is true or gone ---------------------------------------------------

/// hookinit as uid 65534 beside a stale root-owned ready file in a sticky
/// directory (as /tmp): it cannot remove the file, which would say "ready"
/// before the app even runs, so it refuses to start, naming the variable.
#[test]
fn a_stale_ready_file_that_cannot_be_removed_refuses_the_start() {
    let t = TempDir::new("ready-stale");
    std::fs::set_permissions(&t.0, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let ready = t.path("ready");
    std::fs::write(&ready, "").unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(bin())
        .args(["--", "sh", "-c", "echo app-ran"])
        .env_clear()
        .env("PATH", PATH)
        .env("HOOKINIT_READY_FILE", &ready)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let f = Running::start(cmd, false).wait(secs(10.0));
    let ctx = format!("{f:#?}");
    assert_eq!(f.code, Some(1), "{ctx}");
    assert!(!f.stdout.contains("app-ran"), "{ctx}");
    let want = format!(
        "hookinit: cannot remove the stale ready file {} (HOOKINIT_READY_FILE): Operation not permitted (errno 1)",
        ready.display()
    );
    assert!(f.stderr.contains(&want), "{ctx}");
    assert!(ready.exists());
}

/// `hookinit --ready` says ready only for a regular file, what hookinit
/// itself makes: not for a directory (or a FIFO) at the path.
#[test]
fn ready_requires_a_regular_file() {
    let t = TempDir::new("ready-kind");
    let ready = t.path("ready");
    let check = |what: &str| {
        let f = run_plain(
            &["--ready"],
            &[("HOOKINIT_READY_FILE", ready.to_str().unwrap())],
        );
        (f.code, what.to_string())
    };
    assert_eq!(check("missing"), (Some(1), "missing".into()));
    std::fs::create_dir(&ready).unwrap();
    assert_eq!(check("directory"), (Some(1), "directory".into()));
    std::fs::remove_dir(&ready).unwrap();
    assert!(Command::new("mkfifo")
        .arg(&ready)
        .status()
        .unwrap()
        .success());
    assert_eq!(check("fifo"), (Some(1), "fifo".into()));
    std::fs::remove_file(&ready).unwrap();
    std::fs::write(&ready, "").unwrap();
    assert_eq!(check("file"), (Some(0), "file".into()));
}

/// The ready file cannot be removed at the stop (`unlink` fails after the
/// start's): a `ReadyFile` warning says the file is still there, rather
/// than the stop passing over it in silence.
#[test]
fn a_ready_file_that_cannot_be_removed_at_the_stop_is_reported() {
    if !have_strace() {
        eprintln!("skipping: no strace");
        return;
    }
    let t = TempDir::new("ready-unlink");
    let ready = t.path("ready");
    let path = ready.to_str().unwrap();
    // unlink #1 is the start's removal of a stale file.
    let cmd = traced(
        false,
        &["unlink:error=EACCES:when=2+"],
        &["--", "sh", "-c", APP],
        &[("HOOKINIT_READY_FILE", path)],
    );
    let mut r = Running::start(cmd, false);
    let hookinit = hookinit_under(r.pid);
    r.wait_for("app-ready", secs(10.0));
    assert!(eventually(secs(5.0), || ready.exists()));
    r.mark();
    // SAFETY: kill takes any pid and signal.
    unsafe { libc::kill(hookinit, libc::SIGTERM) };
    let f = r.wait(secs(15.0));
    let ctx = format!("{f:#?}");
    assert_eq!(f.code, Some(0), "{ctx}");
    let warned = events(&f.stderr, "ReadyFile");
    let want = format!("ReadyFile: cannot remove {path}: Permission denied (errno 13)");
    assert!(!warned.is_empty(), "{ctx}");
    assert!(warned.iter().all(|l| l.starts_with(&want)), "{ctx}");
}

// ---- 4. a walk that cannot see a process says so -----------------------------------------

/// Not PID 1, with one descriptor left: /proc opens, but no /proc/PID/stat
/// does (EMFILE). That is not "the process exited": the walk says it could
/// not see (`Leftovers` with the reason) and signals the app's process
/// group, where the TERM-ignoring leftover is; SIGKILL follows at the
/// cleanup timeout, and nothing claims a SIGKILL that was never sent.
#[test]
fn a_walk_that_cannot_open_stat_files_signals_the_apps_group() {
    let t = TempDir::new("walk-emfile");
    let go = t.path("go");
    let sleep = format!("sleep {}", tag(43));
    let app = format!(
        "(trap '' TERM; exec {sleep}) & echo leftover=$!; while [ ! -e {} ]; do sleep 0.02; done; exit 0",
        go.display()
    );
    let r = Running::plain(
        &["--", "sh", "-c", &app],
        &[("HOOKINIT_CLEANUP_TIMEOUT", "1")],
    );
    r.wait_for("leftover=", secs(10.0));
    assert!(eventually(secs(5.0), || !processes(&sleep).is_empty()));
    // The lowest free descriptor is the only one left.
    let open: Vec<i32> = std::fs::read_dir(format!("/proc/{}/fd", r.pid))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    let free = (0..).find(|fd| !open.contains(fd)).unwrap();
    let ok = Command::new("prlimit")
        .args([
            "--pid",
            &r.pid.to_string(),
            &format!("--nofile={}", free + 1),
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "prlimit failed");
    std::fs::write(&go, "").unwrap();
    let f = r.wait(secs(15.0));
    let left = processes(&sleep);
    kill_all(&sleep);
    let ctx = format!("{f:#?}");
    assert!(left.is_empty(), "the leftover survived: {ctx}");
    assert_eq!(f.code, Some(0), "{ctx}");
    let why = "the app's process group only: /proc cannot be walked (";
    let leftovers = events(&f.stderr, "Leftovers");
    assert_eq!(leftovers.len(), 2, "{ctx}");
    assert!(
        leftovers[0].starts_with(&format!("Leftovers: SIGTERM sent to {why}"))
            && leftovers[0].ends_with("(errno 24))"),
        "{ctx}"
    );
    assert!(
        leftovers[1].starts_with(&format!("Leftovers: SIGKILL sent to {why}")),
        "{ctx}"
    );
    assert!(!f.stderr.contains("NotReaped"), "{ctx}");
}

// ---- 5. event lines when poll fails ------------------------------------------------------

/// stderr is a regular file and every `poll` fails: event lines are still
/// written (a file always has room), the `LoopError` that explains the
/// failure included.
#[test]
fn event_lines_reach_a_file_while_poll_fails() {
    if !have_strace() {
        eprintln!("skipping: no strace");
        return;
    }
    let t = TempDir::new("poll-file");
    let (out, err) = (t.path("out"), t.path("err"));
    let mut cmd = traced(false, &["poll:error=ENOMEM"], &["--", "sh", "-c", APP], &[]);
    cmd.stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let mut w = Wired::start(cmd, false);
    let hookinit = hookinit_under(w.pid);
    assert!(eventually(secs(10.0), || t
        .read("out")
        .contains("app-ready")));
    let sent = Instant::now();
    // SAFETY: kill takes any pid and signal.
    unsafe { libc::kill(hookinit, libc::SIGTERM) };
    let code = w.wait(secs(15.0));
    let stderr = t.read("err");
    let ctx = format!("{code:?} after {:?}: {stderr}", sent.elapsed());
    assert_eq!(code, Ok(Some(0)), "{ctx}");
    assert_eq!(events(&stderr, "LoopError").len(), 1, "{ctx}");
    assert_eq!(events(&stderr, "Killing").len(), 1, "{ctx}");
    assert_eq!(events(&stderr, "StopSignalSent").len(), 1, "{ctx}");
}

// ---- 6. probe and hook processes have names of their own ---------------------------------

/// A probe's process is `hookinit-probe` and an httpGet/tcpSocket hook's
/// `hookinit-hook` (comm and command line), never PID 1's `hookinit`.
#[test]
fn probe_and_hook_processes_are_named_for_what_they_are() {
    let t = TempDir::new("names");
    let log = t.path("log");
    // $PPID of the probe's command is the probe process.
    let probe = format!(
        r#"{{"exec":{{"command":["sh","-c","(cat /proc/$PPID/comm; tr '\\0' '|' < /proc/$PPID/cmdline; echo) >> {}"]}},"periodSeconds":1}}"#,
        log.display()
    );
    // A PostStart httpGet that the server holds for a while.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        if let Some(mut s) = listener.incoming().flatten().next() {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf);
            let _ = rx.recv_timeout(secs(10.0));
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    let hook = format!(r#"{{"httpGet":{{"port":{port}}}}}"#);
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[
            ("HOOKINIT_LIVENESS_PROBE", &probe),
            ("HOOKINIT_POST_START", &hook),
        ],
    );
    let mut hook_name = (String::new(), String::new());
    let found = eventually(secs(10.0), || {
        children(r.pid).iter().any(|c| {
            let comm = std::fs::read_to_string(format!("/proc/{c}/comm")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{c}/cmdline")).unwrap_or_default();
            hook_name = (
                comm.trim().to_string(),
                String::from_utf8_lossy(&cmdline).into(),
            );
            hook_name.0 == "hookinit-hook"
        })
    });
    tx.send(()).unwrap();
    assert!(found, "no hookinit-hook process: last seen {hook_name:?}");
    assert_eq!(hook_name.1.trim_end_matches('\0'), "hookinit-hook");
    assert!(eventually(secs(10.0), || t.read("log").lines().count() >= 2));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    let lines: Vec<String> = t.read("log").lines().map(String::from).collect();
    assert_eq!(lines[..2], ["hookinit-probe", "hookinit-probe|"], "{f:#?}");
}
