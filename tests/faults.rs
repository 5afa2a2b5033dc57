//! PID 1 never hangs, never dies, never lies: the real binary under injected
//! system-call faults (`strace -e inject=...`), resource limits (`prlimit`)
//! and a hostile launcher, as PID 1 and not. One test per row of the fault
//! table in the README ("What happens, exactly"), each asserting the exact
//! outcome: exit code, events, a time bound, no process left.
//!
//! strace slows the traced process, so time bounds are generous. Without
//! strace (scripts/setup installs it) the tests that need it fail, unless
//! `FAULTS_SKIP_STRACE=1` says to skip them.
mod common;
use common::*;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(30);
const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// hookinit's signal mask: every signal but KILL and STOP, which cannot be blocked.
const ALL_BLOCKED: &str = "fffffffffffbfeff";

fn have_strace() -> bool {
    let ok = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var("FAULTS_SKIP_STRACE").is_ok_and(|v| v == "1") {
        eprintln!("skipping: strace is not installed (scripts/setup installs it)");
        return false;
    }
    assert!(ok, "strace is not installed (scripts/setup installs it)");
    true
}

/// strace's arguments for `injects`: only the injected system calls are
/// traced (an injection applies only to traced calls), output discarded.
fn strace_args(injects: &[&str]) -> Vec<String> {
    let calls: Vec<&str> = injects
        .iter()
        .map(|r| r.split(':').next().unwrap())
        .collect();
    let mut args = vec![
        "-o".to_string(),
        "/dev/null".to_string(),
        "-e".to_string(),
        format!("trace={}", calls.join(",")),
    ];
    for rule in injects {
        args.push("-e".into());
        args.push(format!("inject={rule}"));
    }
    args
}

/// `hookinit ARGS` traced by strace (not -f: only hookinit) with the given
/// `-e inject=` rules. Returns the run and hookinit's own pid.
fn traced(injects: &[&str], args: &[&str], env: &[(&str, &str)]) -> (Running, i32) {
    let r = Running::start(traced_command(injects, args, env), false);
    let mut pid = 0;
    assert!(
        eventually(secs(10.0), || {
            pid = children(r.pid).first().copied().unwrap_or(0);
            pid > 0 && exe_is_hookinit(pid)
        }),
        "strace never started hookinit"
    );
    (r, pid)
}

/// Runs a traced hookinit that needs no signal to its end (it may end
/// before its pid could be looked up).
fn run_traced(injects: &[&str], args: &[&str], env: &[(&str, &str)]) -> Finished {
    Running::start(traced_command(injects, args, env), false).wait(secs(15.0))
}

fn traced_command(injects: &[&str], args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("strace");
    cmd.args(strace_args(injects));
    cmd.arg(bin()).args(args).env_clear().env("PATH", PATH);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn exe_is_hookinit(pid: i32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == bin())
}

/// Attaches strace to a running hookinit (as PID 1, hookinit cannot be
/// started under strace itself) with the given injection rules.
fn attach(pid: i32, injects: &[&str]) -> Child {
    let child = Command::new("strace")
        .args(strace_args(injects))
        .args(["-p", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace");
    assert!(
        eventually(secs(10.0), || proc_status_field(pid, "TracerPid")
            .is_some_and(|t| t != "0")),
        "strace did not attach to {pid}"
    );
    child
}

fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: kill takes any pid and signal.
    unsafe { libc::kill(pid, sig) == 0 }
}

fn alive(pid: i32) -> bool {
    // A zombie counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// CPU ticks `pid` uses while the test sleeps for `window` (a spin uses
/// about 100 a second).
fn ticks_over(pid: i32, window: Duration) -> u64 {
    let before = cpu_ticks(pid);
    thread::sleep(window);
    cpu_ticks(pid) - before
}

fn events<'a>(stderr: &'a str, name: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .filter(|l| l.starts_with(name))
        .collect()
}

/// The app's pid: hookinit's child that is not one of its handler processes.
fn app_of(hookinit: i32) -> i32 {
    let mut app = 0;
    assert!(
        eventually(secs(10.0), || {
            app = children(hookinit).first().copied().unwrap_or(0);
            app > 0
        }),
        "no app under {hookinit}"
    );
    app
}

/// The app prints `app-ready` from `app-rea""dy`, so that a debug `Started`
/// event (which quotes the script) cannot be taken for the app's own line.
const APP_TERM_7: &str =
    "trap 'echo app-got-TERM; exit 7' TERM; echo app-rea\"\"dy; while :; do sleep 0.05; done";

// ---- 1. SIGCHLD ignored by the launcher -----------------------------------------------

/// A launcher that starts hookinit with SIGCHLD ignored (as some Python and
/// Perl supervisors do): left so, the kernel would reap the app and hookinit
/// would sleep forever. hookinit resets SIGCHLD for itself, hands the
/// ignored disposition on to the app, and exits with the app's code.
#[test]
fn sigchld_ignored_by_the_launcher_as_pid1_and_not() {
    const LAUNCH: &str = "import signal, os, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])";
    for pid1 in [false, true] {
        let launch = |app: &[&str]| {
            let mut cmd = if pid1 {
                let mut c = Command::new("unshare");
                c.args(["--pid", "--fork", "--mount-proc", "--kill-child", "python3"]);
                c
            } else {
                Command::new("python3")
            };
            cmd.args(["-c", LAUNCH])
                .arg(bin())
                .arg("--")
                .args(app)
                .env_clear()
                .env("PATH", PATH)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            Running::start(cmd, pid1).wait(secs(10.0))
        };
        let f = launch(&["sh", "-c", "sleep 0.2; exit 7"]);
        assert_eq!(f.code, Some(7), "pid1={pid1}: {f:?}");
        assert!(f.elapsed < secs(5.0), "pid1={pid1}: {f:?}");
        // The app still gets SIGCHLD ignored, as hookinit was started with
        // it (not a shell: dash resets SIGCHLD for itself).
        let f = launch(&["grep", "SigIgn", "/proc/self/status"]);
        assert_eq!(f.code, Some(0), "pid1={pid1}: {f:?}");
        let ign = f
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("SigIgn:"))
            .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
            .unwrap_or_else(|| panic!("{f:?}"));
        assert_ne!(ign & (1 << (libc::SIGCHLD - 1)), 0, "pid1={pid1}: {f:?}");
    }
    // And a stop: the app's own code, not a made-up 137 after the grace period.
    let mut cmd = Command::new("python3");
    cmd.args(["-c", LAUNCH])
        .arg(bin())
        .args(["--", "sh", "-c", APP_TERM_7])
        .env_clear()
        .env("PATH", PATH)
        .env("HOOKINIT_GRACE_PERIOD", "20")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut r = Running::start(cmd, false);
    r.wait_for("app-ready", secs(10.0));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(7), "{f:?}");
    assert!(f.elapsed < secs(5.0), "{f:?}");
}

// ---- closed standard descriptors from the launcher ---------------------------------------

/// Started with fds 1 and 2 closed, hookinit must open 0-2 on /dev/null
/// first: its own descriptors (signalfd, pipes) would land on them, and
/// event lines and hook output would be written into them.
#[test]
fn closed_stdout_and_stderr_at_start_are_opened_on_dev_null() {
    let mut cmd = command(
        false,
        &["--", "sh", "-c", "sleep 1; exit 7"],
        &[(
            "HOOKINIT_POST_START",
            r#"["sh","-c","echo out; echo err >&2; exec >&-; sleep 5"]"#,
        )],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: the closure makes only async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            libc::close(2);
            Ok(())
        });
    }
    let mut h = Wired::start(cmd, false);
    let pid = h.pid;
    // The marker: app and PostStart both run.
    let both = eventually(secs(5.0), || children(pid).len() >= 2);
    let link = |fd: i32| {
        std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
            .map(|p| p.display().to_string())
            .unwrap_or_else(|e| format!("<{e}>"))
    };
    let (out, err) = (link(1), link(2));
    assert!(
        both,
        "app and PostStart never both ran: {:?}",
        children(pid)
    );
    // Total CPU of hookinit's life, read from its zombie before reaping it.
    let mut ticks = None;
    let exited = eventually(secs(10.0), || {
        // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: waitid writes only into `info`.
        let rc = unsafe { libc::waitid(libc::P_PID, pid as u32, &mut info, flags) };
        // SAFETY: `info` was filled by waitid (or is zeroed).
        if rc == 0 && unsafe { info.si_pid() } == pid {
            ticks = Some(cpu_ticks(pid));
            true
        } else {
            false
        }
    });
    let code = h.wait(secs(if exited { 1.0 } else { 0.0 }));
    eprintln!("closed fds: fd 1 -> {out}, fd 2 -> {err}; exit {code:?}, {ticks:?} ticks");
    assert_eq!(out, "/dev/null", "fd 1 of hookinit");
    assert_eq!(err, "/dev/null", "fd 2 of hookinit");
    assert_eq!(code, Ok(Some(7)), "exit code (the app's)");
    let ticks = ticks.unwrap();
    // A spin burns ~100 ticks a second. Not PID 1, the exit's walk of /proc
    // reads every process's stat file: a few ms a pass, more on a host busy
    // with hundreds of processes (17 ticks seen under a load of 10).
    assert!(
        ticks < 50,
        "hookinit used {ticks} clock ticks in ~1 s: it spins"
    );
}

// ---- 2. no allocation on the stop path ---------------------------------------------------

/// RLIMIT_AS clamped to hookinit's current size after start: any new memory
/// would fail (and abort PID 1 with SIGILL before). The stop still runs:
/// PreStop runs or fails cleanly (its own process pays), the app gets TERM,
/// hookinit exits with the app's code.
#[test]
fn stop_with_rlimit_as_clamped_after_start_ends_with_the_apps_code() {
    let port = http_ok_server();
    let http = format!(r#"{{"httpGet":{{"port":{port}}}}}"#);
    for pre_stop in [r#"["sh","-c","echo pre-stop-ran"]"#, http.as_str()] {
        for pid1 in [true, false] {
            let env = [("HOOKINIT_PRE_STOP", pre_stop), ("HOOKINIT_VERBOSITY", "3")];
            let args = ["--", "sh", "-c", APP_TERM_7];
            let mut r = if pid1 {
                Running::pid1(&args, &env)
            } else {
                Running::plain(&args, &env)
            };
            r.wait_for("app-ready", secs(10.0));
            let vm: u64 = proc_status_field(r.pid, "VmSize")
                .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
                .expect("VmSize");
            let ok = Command::new("prlimit")
                .args(["--pid", &r.pid.to_string(), &format!("--as={}", vm * 1024)])
                .status()
                .unwrap()
                .success();
            assert!(ok, "prlimit failed");
            r.mark();
            r.signal(libc::SIGTERM);
            let f = r.wait(RUN);
            let ctx = format!("pid1={pid1} pre_stop={pre_stop}: {f:#?}");
            assert_eq!(f.code, Some(7), "{ctx}");
            assert!(f.stdout.contains("app-got-TERM"), "{ctx}");
            let hook_ended = events(&f.stderr, "HookSucceeded").len()
                + events(&f.stderr, "FailedPreStopHook").len();
            assert_eq!(hook_ended, 1, "{ctx}");
            assert_eq!(events(&f.stderr, "StopSignalSent").len(), 1, "{ctx}");
            assert!(
                f.stderr
                    .contains("Exiting: exit code 7; 0 heap allocations after start-up"),
                "{ctx}"
            );
            assert!(f.elapsed < secs(8.0), "{ctx}");
        }
    }
}

/// The loop allocates nothing after start-up, whatever it does: hooks of
/// every kind succeeding, failing and timing out, forwarded signals, the
/// stop, and the /proc walk for leftovers when not PID 1 (hookinit counts
/// its allocations; the debug `Exiting` event reports them).
#[test]
fn the_loop_never_allocates_after_start_up() {
    let port = http_ok_server();
    let http = format!(r#"{{"httpGet":{{"port":{port},"path":"/x"}}}}"#);
    let tcp = format!(r#"{{"tcpSocket":{{"port":{port}}}}}"#);
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused = format!(r#"{{"tcpSocket":{{"port":{closed}}}}}"#);
    let cases: Vec<(&str, &str, &str)> = vec![
        (
            r#"["sh","-c","echo ps; exit 0"]"#,
            r#"["sh","-c","echo pre; exit 3"]"#,
            "",
        ),
        (http.as_str(), tcp.as_str(), ""),
        (r#"{"sleep":{"seconds":0}}"#, refused.as_str(), ""),
        (r#"["sh","-c","echo ok"]"#, r#"["sh","-c","sleep 30"]"#, "1"),
    ];
    for (post_start, pre_stop, timeout) in cases {
        for pid1 in [true, false] {
            let mut env = vec![
                ("HOOKINIT_POST_START", post_start),
                ("HOOKINIT_PRE_STOP", pre_stop),
                ("HOOKINIT_VERBOSITY", "3"),
            ];
            if !timeout.is_empty() {
                env.push(("HOOKINIT_PRE_STOP_TIMEOUT", timeout));
            }
            // Leftovers for the exit's walk: a setsid grandchild.
            let app = "trap 'exit 0' TERM; trap 'echo usr1' USR1; setsid sleep 30 & echo app-rea\"\"dy; while :; do sleep 0.05; done";
            let args = ["--", "sh", "-c", app];
            let r = if pid1 {
                Running::pid1(&args, &env)
            } else {
                Running::plain(&args, &env)
            };
            r.wait_for("app-ready", secs(10.0));
            r.wait_for("PostStart hook", secs(10.0));
            for _ in 0..5 {
                r.signal(libc::SIGUSR1);
            }
            thread::sleep(secs(0.2));
            let stopped = kill(r.pid, libc::SIGTERM);
            let f = r.wait(RUN);
            let ctx = format!("pid1={pid1} {post_start} / {pre_stop}: {f:#?}");
            assert!(stopped, "hookinit ended before the stop: {ctx}");
            assert_eq!(f.code, Some(0), "{ctx}");
            assert!(
                f.stderr.contains("; 0 heap allocations after start-up"),
                "{ctx}"
            );
        }
    }
}

// ---- 3. no thread: the signal mask stays whole ------------------------------------------

/// After a hook of each kind has run, hookinit is still one thread with all
/// 64 signals blocked, and 34 and 33 are forwarded (an httpGet or tcpSocket
/// hook run in a thread would let musl unblock 33 and 34, and `kill -34`
/// would kill a non-PID-1 hookinit).
#[test]
fn signal_mask_and_single_thread_survive_every_handler_kind() {
    let port = http_ok_server();
    let handlers = [
        r#"["sh","-c","true"]"#.to_string(),
        format!(r#"{{"httpGet":{{"port":{port}}}}}"#),
        format!(r#"{{"tcpSocket":{{"port":{port}}}}}"#),
        r#"{"sleep":{"seconds":0}}"#.to_string(),
    ];
    let app = "trap 'echo app-got-34' 34; echo app-rea\"\"dy; while :; do sleep 0.05; done";
    for handler in &handlers {
        for pid1 in [true, false] {
            let env = [("HOOKINIT_POST_START", handler.as_str())];
            let mut cmd = command(pid1, &["--", "sh", "-c", app], &env);
            // SAFETY: the closure makes only async-signal-safe system calls.
            unsafe { cmd.pre_exec(all_default) };
            let r = Running::start(cmd, pid1);
            r.wait_for("app-ready", secs(10.0));
            r.wait_for("HookSucceeded", secs(10.0));
            let ctx = || format!("pid1={pid1} {handler}: {}", r.stderr());
            assert_eq!(
                proc_status_field(r.pid, "SigBlk").as_deref(),
                Some(ALL_BLOCKED),
                "{}",
                ctx()
            );
            let threads = std::fs::read_dir(format!("/proc/{}/task", r.pid))
                .unwrap()
                .count();
            assert_eq!(threads, 1, "{}", ctx());
            r.signal(34);
            r.wait_for("app-got-34", secs(10.0));
            // The app (a shell without a trap for 33) dies of it.
            r.signal(33);
            let f = r.wait(RUN);
            assert_eq!(f.code, Some(128 + 33), "pid1={pid1} {handler}: {f:?}");
        }
    }
}

// ---- 4. the app's exit is never learnt from one edge ------------------------------------

/// The `waitpid` after the app's exit fails once (ECHILD): hookinit tries
/// again and exits with the app's code instead of sleeping forever. Also
/// without pidfds (`pidfd_open` refused: the back-off retry alone).
#[test]
fn a_failed_waitpid_is_tried_again_not_pid1() {
    if !have_strace() {
        return;
    }
    for injects in [
        vec!["wait4:error=ECHILD:when=1"],
        vec!["wait4:error=EINTR:when=1", "wait4:error=ECHILD:when=2"],
        vec!["wait4:error=ECHILD:when=1", "pidfd_open:error=ENOSYS"],
        vec!["wait4:error=ENOMEM:when=1..3", "pidfd_open:error=ENOSYS"],
    ] {
        let f = run_traced(&injects, &["--", "sh", "-c", "sleep 0.3; exit 7"], &[]);
        assert_eq!(f.code, Some(7), "{injects:?}: {f:?}");
        // Not forever: the back-off's retries, slowed by strace (and a busy machine).
        assert!(f.elapsed < secs(10.0), "{injects:?}: {f:?}");
    }
}

#[test]
fn a_failed_waitpid_is_tried_again_as_pid1() {
    if !have_strace() {
        return;
    }
    let t = TempDir::new("waitpid");
    let go = t.path("go");
    let app = format!(
        "echo app-rea\"\"dy; while [ ! -e {} ]; do sleep 0.02; done; exit 7",
        go.display()
    );
    for injects in [
        vec!["wait4:error=ECHILD:when=1"],
        vec!["wait4:error=ECHILD:when=1", "pidfd_open:error=ENOSYS"],
    ] {
        let _ = std::fs::remove_file(&go);
        let r = Running::pid1(&["--", "sh", "-c", &app], &[]);
        r.wait_for("app-ready", secs(10.0));
        let mut strace = attach(r.pid, &injects);
        std::fs::write(&go, "").unwrap();
        let f = r.wait(secs(15.0));
        let _ = strace.wait();
        assert_eq!(f.code, Some(7), "{injects:?}: {f:?}");
    }
}

// ---- 5. never lie about signals --------------------------------------------------------

/// Signals refused by the kernel (EPERM: the app switched user through a
/// setuid helper): a warning naming the target and errno, no
/// `Forwarded`/`StopSignalSent`/`SigkillSent` for signals not delivered, and
/// at the deadline exit 3, "could not stop the app" (not 137, as if it had
/// been killed, while it runs on).
#[test]
fn refused_signals_are_reported_and_exit_3() {
    if !have_strace() {
        return;
    }
    let injects = ["kill:error=EPERM", "pidfd_send_signal:error=EPERM"];
    let env = [("HOOKINIT_GRACE_PERIOD", "1"), ("HOOKINIT_VERBOSITY", "3")];
    let (mut r, hookinit) = traced(&injects, &["--", "sh", "-c", APP_TERM_7], &env);
    r.wait_for("app-ready", secs(10.0));
    let app = app_of(hookinit);
    kill(hookinit, libc::SIGUSR1);
    r.wait_for("ForwardFailed", secs(10.0));
    r.mark();
    kill(hookinit, libc::SIGTERM);
    let f = r.wait(secs(15.0));
    let still_running = alive(app);
    kill(-app, libc::SIGKILL);
    kill(app, libc::SIGKILL);
    let ctx = format!("{f:#?}");
    assert_eq!(f.code, Some(3), "{ctx}");
    assert!(still_running, "the app should have survived: {ctx}");
    let fwd = events(&f.stderr, "ForwardFailed");
    assert!(
        fwd.len() == 1
            && fwd[0].contains("cannot forward SIGUSR1 to the app (pid ")
            && fwd[0].contains("Operation not permitted (errno 1)"),
        "{ctx}"
    );
    assert!(events(&f.stderr, "Forwarded").is_empty(), "{ctx}");
    assert!(events(&f.stderr, "StopSignalSent").is_empty(), "{ctx}");
    assert!(
        events(&f.stderr, "SigkillSent: SIGKILL sent to every").is_empty(),
        "{ctx}"
    );
    assert_eq!(events(&f.stderr, "StopSignalFailed").len(), 1, "{ctx}");
    assert!(
        events(&f.stderr, "SigkillFailed")
            .first()
            .is_some_and(|l| l.contains("it may still be running")),
        "{ctx}"
    );
    // The grace period is 1 s; strace and a loaded machine add the rest
    // (6.4 s seen under a load of 10).
    assert!(f.elapsed > secs(0.9) && f.elapsed < secs(10.0), "{ctx}");
}

// ---- 6. /proc cannot be walked -----------------------------------------------------------

/// Not PID 1, the exit's walk of /proc fails (getdents64: ENOMEM): the app's
/// process group gets the signal instead, and a warning says so (rather
/// than signalling nothing, logging `SigkillSent ... every process left`,
/// and leaving the leftover running).
#[test]
fn unreadable_proc_falls_back_to_the_apps_group() {
    if !have_strace() {
        return;
    }
    let tag = format!("31{}", std::process::id() % 1000);
    let app = format!("sleep {tag} & echo leftover=$!; exit 0");
    let f = run_traced(&["getdents64:error=ENOMEM"], &["--", "sh", "-c", &app], &[]);
    let leftover: i32 = f
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("leftover="))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("{f:?}"));
    let survived = eventually(secs(2.0), || !alive(leftover));
    kill(leftover, libc::SIGKILL);
    assert!(survived, "the leftover sleep {tag} is still running: {f:?}");
    assert_eq!(f.code, Some(0), "{f:?}");
    let warn = events(&f.stderr, "Leftovers");
    assert!(
        warn.first().is_some_and(|l| l.contains(
            "SIGTERM sent to the app's process group only: /proc cannot be walked (Out of memory (errno 12))"
        ) || l.contains("/proc cannot be walked (Cannot allocate memory (errno 12))")),
        "{f:?}"
    );
    assert!(!f.stderr.contains("every process left"), "{f:?}");
}

// ---- 7. exit codes that say what happened ------------------------------------------------

/// A transient failure to start the app (fork EAGAIN under a PID limit,
/// execve E2BIG/ENOMEM) exits 1 with the errno, not 126 "cannot be executed".
#[test]
fn transient_spawn_failures_exit_1() {
    if !have_strace() {
        return;
    }
    let f = run_traced(&["fork:error=EAGAIN"], &["--", "/bin/true"], &[]);
    assert_eq!(f.code, Some(1), "{f:?}");
    assert!(
        f.stderr.contains(
            "cannot run '/bin/true': cannot create the process: Resource temporarily unavailable (errno 11)"
        ),
        "{f:?}"
    );
    for (errno, text) in [
        ("E2BIG", "Argument list too long (errno 7)"),
        ("ENOMEM", "errno 12)"),
    ] {
        // -P: only the app's execve (not hookinit's own) is traced, and so injected.
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-P", "/usr/bin/true"])
            .args(strace_args(&[&format!("execve:error={errno}")]))
            .arg(bin())
            .args(["--", "/usr/bin/true"])
            .env_clear()
            .env("PATH", PATH);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{errno}: {stderr}");
        assert!(
            stderr.contains("cannot run '/usr/bin/true': cannot execute: ")
                && stderr.contains(text),
            "{errno}: {stderr}"
        );
    }
}

// ---- 8. a stopped app is continued --------------------------------------------------------

/// A SIGSTOPped app gets SIGCONT right after its stop signal, so it shuts
/// down gracefully instead of being SIGKILLed at the deadline (systemd does
/// the same).
#[test]
fn a_stopped_app_gets_sigcont_after_the_stop_signal() {
    for pid1 in [true, false] {
        let env = [("HOOKINIT_GRACE_PERIOD", "6")];
        let args = ["--", "sh", "-c", APP_TERM_7];
        let mut r = if pid1 {
            Running::pid1(&args, &env)
        } else {
            Running::plain(&args, &env)
        };
        r.wait_for("app-ready", secs(10.0));
        let app = app_of(r.pid);
        assert!(kill(app, libc::SIGSTOP));
        assert!(eventually(secs(5.0), || {
            std::fs::read_to_string(format!("/proc/{app}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('T')
            })
        }));
        r.mark();
        r.signal(libc::SIGTERM);
        let f = r.wait(RUN);
        assert_eq!(f.code, Some(7), "pid1={pid1}: {f:?}");
        assert!(f.elapsed < secs(3.0), "pid1={pid1}: {f:?}");
        assert!(
            f.stderr
                .contains("StopSignalSent: sent SIGTERM to the app (")
                && f.stderr.contains("), then SIGCONT"),
            "pid1={pid1}: {f:?}"
        );
    }
}

/// A running app gets the stop signal alone: no SIGCONT it did not ask for
/// (tini, dumb-init and catatonit send none either).
#[test]
fn a_running_app_gets_no_sigcont_with_the_stop_signal() {
    for pid1 in [true, false] {
        let app = "trap 'echo app-got-CONT' CONT; trap 'echo app-got-TERM; exit 7' TERM; \
                   echo app-rea\"\"dy; while :; do sleep 0.05; done";
        let args = ["--", "sh", "-c", app];
        let mut r = if pid1 {
            Running::pid1(&args, &[])
        } else {
            Running::plain(&args, &[])
        };
        r.wait_for("app-ready", secs(10.0));
        r.mark();
        r.signal(libc::SIGTERM);
        let f = r.wait(RUN);
        assert_eq!(f.code, Some(7), "pid1={pid1}: {f:?}");
        assert_eq!(
            f.stdout, "app-ready\napp-got-TERM\n",
            "pid1={pid1}: the app saw more than TERM"
        );
        assert!(
            f.stderr
                .contains("StopSignalSent: sent SIGTERM to the app (")
                && !f.stderr.contains("SIGCONT"),
            "pid1={pid1}: {f:?}"
        );
    }
}

// ---- 9. no spin -------------------------------------------------------------------------------

/// `poll` failing every time: hookinit backs off (logged once) instead of
/// spinning at 100% CPU, and still handles the stop signal.
#[test]
fn a_failing_poll_backs_off_and_the_stop_still_works() {
    if !have_strace() {
        return;
    }
    let (mut r, hookinit) = traced(&["poll:error=ENOMEM"], &["--", "sh", "-c", APP_TERM_7], &[]);
    r.wait_for("app-ready", secs(10.0));
    let used = ticks_over(hookinit, secs(2.0));
    r.mark();
    kill(hookinit, libc::SIGTERM);
    let f = r.wait(secs(15.0));
    assert!(
        used < 20,
        "hookinit used {used} ticks in 2 s: spinning: {f:?}"
    );
    assert_eq!(f.code, Some(7), "{f:?}");
    assert!(f.elapsed < secs(5.0), "{f:?}");
    assert_eq!(events(&f.stderr, "LoopError").len(), 1, "{f:?}");
}

/// The signalfd's `read` failing (EIO) for a while: no spin while it fails,
/// signals are handled once it works again.
#[test]
fn a_failing_signalfd_read_backs_off() {
    if !have_strace() {
        return;
    }
    // read #1 is the spawn's exec report; #2 on are the signalfd's.
    let (mut r, hookinit) = traced(
        &["read:error=EIO:when=2..7"],
        &["--", "sh", "-c", APP_TERM_7],
        &[],
    );
    r.wait_for("app-ready", secs(10.0));
    // WINCH: forwarded harmlessly once it can be read.
    kill(hookinit, libc::SIGWINCH);
    let used = ticks_over(hookinit, secs(1.5));
    r.mark();
    kill(hookinit, libc::SIGTERM);
    let f = r.wait(secs(15.0));
    assert!(
        used < 20,
        "hookinit used {used} ticks in 1.5 s: spinning: {f:?}"
    );
    assert_eq!(f.code, Some(7), "{f:?}");
    assert!(
        events(&f.stderr, "LoopError")
            .first()
            .is_some_and(|l| l.contains("reading the signalfd failed: I/O error (errno 5)")),
        "{f:?}"
    );
}

/// With nothing injected the whole start-and-stop takes a few hundred
/// microseconds: the bounds above are for strace, not for hookinit.
#[test]
fn baseline_stop_is_quick() {
    let mut r = Running::plain(&["--", "sh", "-c", APP_TERM_7], &[]);
    r.wait_for("app-ready", secs(10.0));
    let began = Instant::now();
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(7), "{f:?}");
    assert!(began.elapsed() < secs(2.0), "{f:?}");
}

// ---- probes under faults ---------------------------------------------------------------

/// A probe's process cannot be forked (EAGAIN: out of PIDs): an error, not a
/// failure (the container is not restarted for it), tried again a period
/// later; probing resumes when fork works again.
#[test]
fn a_probe_that_cannot_fork_is_retried_not_failed() {
    if !have_strace() {
        return;
    }
    let t = TempDir::new("probe-fork");
    let log = t.path("log");
    let probe = format!(
        r#"{{"exec":{{"command":["sh","-c","echo run >> {}"]}},"periodSeconds":1,"failureThreshold":1}}"#,
        log.display()
    );
    // fork #1 starts the app; #2 and #3 would start the first two probe runs.
    let (mut r, hookinit) = traced(
        &["fork:error=EAGAIN:when=2..3"],
        &["--", "sh", "-c", APP_TERM_7],
        &[("HOOKINIT_LIVENESS_PROBE", &probe)],
    );
    r.wait_for("app-ready", secs(10.0));
    let runs = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert!(eventually(secs(15.0), || runs() >= 2), "{}", r.stderr());
    r.mark();
    kill(hookinit, libc::SIGTERM);
    let f = r.wait(secs(15.0));
    assert_eq!(f.code, Some(7), "not restarted for an error: {f:#?}");
    let errored: Vec<&str> = events(&f.stderr, "Unhealthy")
        .into_iter()
        .filter(|l| l.contains("Liveness probe errored and resulted in unknown state: cannot create the process: Resource temporarily unavailable (errno 11)"))
        .collect();
    assert_eq!(errored.len(), 2, "{f:#?}");
    assert!(!f.stderr.contains("failed liveness probe"), "{f:#?}");
}
