//! Regression tests for the review fixes of 407fc24, one test per finding,
//! each through the real release binary and each able to fail on the
//! behaviour before the fix:
//!
//! 1. a write to a shared, stalled stdout pipe blocked PID 1;
//! 2. a stdout pipe whose reader died while it was full made hookinit spin;
//! 3. closed fds 1 and 2 at start-up were taken by hookinit's own descriptors;
//! 4. a PreStop sleep as long as the PreStop window was cut at every stop;
//! 5. the app exiting during PreStop was logged as a PreStop failure;
//! 6. with `HOOKINIT_PRE_STOP_ON_EXIT`, the first stop signal cut PreStop short;
//! 7. a timed-out exec hook lost its output in the failure message;
//! 8. a cut JSON event line could split a `\u001b` escape (invalid JSON);
//! 9. a FIFO as ready file blocked PID 1 in `open`.
//!
//! Apps print `APP-READY` on stdout once their traps are set; tests wait for
//! markers (lines, files, pipe fill levels) rather than sleep.

mod common;
use common::*;

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const SIGTERM: i32 = libc::SIGTERM;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// A path inside a test directory, as text for scripts and JSON.
fn p(d: &TempDir, name: &str) -> String {
    d.path(name).display().to_string()
}

/// An app script: `traps`, then `APP-READY`, then idle in interruptible waits.
fn app(traps: &str) -> String {
    format!("{traps}\necho APP-READY\nwhile :; do sleep 1 & wait $!; done 2>/dev/null")
}

/// hookinit's event lines (text format) named `event`, without the prefix.
fn events<'a>(stderr: &'a str, event: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .filter(|l| {
            l.strip_prefix(event)
                .is_some_and(|r| r.starts_with([' ', ':']))
        })
        .collect()
}

/// utime + stime of a process, in clock ticks (fields 14 and 15 of
/// /proc/PID/stat; also readable for an unreaped zombie).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
    // after_comm starts at field 3 (state): fields 14 and 15 are at 11 and 12.
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A pipe (both ends close-on-exec): (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Bytes waiting in a pipe, and its capacity.
fn pipe_fill(read_end: &OwnedFd) -> (usize, usize) {
    let mut queued: libc::c_int = 0;
    let fd = read_end.as_raw_fd();
    assert_eq!(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) }, 0);
    let size = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    (queued as usize, size as usize)
}

/// Whether the pipe is full: no room for another page, or no longer growing
/// for half a second (writers blocked: small writes can take all 16 of the
/// pipe's page slots before its 64 KiB are queued).
fn stalled(read_end: &OwnedFd) -> impl FnMut() -> bool + '_ {
    let mut last = (usize::MAX, Instant::now());
    move || {
        let (queued, size) = pipe_fill(read_end);
        if queued != last.0 {
            last = (queued, Instant::now());
        }
        queued + 4096 >= size || last.1.elapsed() > secs(0.5)
    }
}

/// hookinit's descriptors other than 0-2 open on the same file as its `fd`
/// and in non-blocking mode (`None` if `fd` cannot be read).
fn nonblocking_twins(pid: i32, fd: i32) -> Option<Vec<i32>> {
    let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let Some(n) = entry.ok()?.file_name().to_str()?.parse::<i32>().ok() else {
            continue;
        };
        if n <= 2 || std::fs::read_link(format!("/proc/{pid}/fd/{n}")).ok()? != target {
            continue;
        }
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{n}")).ok()?;
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())?;
        if flags & libc::O_NONBLOCK as u32 != 0 {
            found.push(n);
        }
    }
    Some(found)
}

/// hookinit started with its stdio wired by the test (a stalled pipe,
/// closed descriptors); everything is SIGKILLed on drop unless it exited.
struct Custom {
    child: Child,
    /// hookinit's host pid (in PID-1 mode: unshare's child).
    pid: i32,
    stderr: Arc<Mutex<Vec<u8>>>,
    exited: bool,
}

impl Custom {
    fn start(mut cmd: Command, pid1: bool) -> Custom {
        let mut child = cmd.spawn().expect("spawn hookinit");
        drop(cmd);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut from) = child.stderr.take() {
            let into = stderr.clone();
            thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n @ 1..) = from.read(&mut chunk) {
                    into.lock().unwrap().extend_from_slice(&chunk[..n]);
                }
            });
        }
        let id = child.id() as i32;
        let mut pid = id;
        if pid1 {
            assert!(
                eventually(secs(5.0), || {
                    pid = children(id).first().copied().unwrap_or(0);
                    pid > 0
                }),
                "unshare never forked hookinit"
            );
        }
        Custom {
            child,
            pid,
            stderr,
            exited: false,
        }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn signal(&self, sig: i32) {
        assert_eq!(unsafe { libc::kill(self.pid, sig) }, 0, "kill {sig}");
    }

    /// The exit code (`None`: killed by a signal), or `Err` after `timeout`
    /// (everything is then killed).
    fn wait(&mut self, timeout: Duration) -> Result<Option<i32>, String> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.exited = true;
                return Ok(status.code());
            }
            if Instant::now() > end {
                self.kill();
                return Err(format!("no exit within {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    fn kill(&mut self) {
        if !self.exited {
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.exited = true;
        }
    }
}

impl Drop for Custom {
    fn drop(&mut self) {
        self.kill();
    }
}

/// hookinit as PID 1 (harness output capture), SIGKILLed with its whole
/// namespace if the test panics before it exited.
struct Init(Option<Running>);

impl Init {
    fn start(env: &[(&str, &str)], script: &str) -> Init {
        Init(Some(Running::pid1(&["--", "/bin/sh", "-c", script], env)))
    }

    fn r(&self) -> &Running {
        self.0.as_ref().unwrap()
    }

    /// Waits for `needle` on stdout (markers of apps and hooks).
    fn out(&self, needle: &str, timeout: f64) {
        let found = eventually(secs(timeout), || self.r().stdout().contains(needle));
        assert!(
            found,
            "no {needle:?} on stdout within {timeout}s\nstdout: {}\nstderr: {}",
            self.r().stdout(),
            self.r().stderr()
        );
    }

    /// Waits for `needle` on stderr (hookinit's events).
    fn err(&self, needle: &str, timeout: f64) {
        let found = eventually(secs(timeout), || self.r().stderr().contains(needle));
        assert!(
            found,
            "no {needle:?} on stderr within {timeout}s\nstdout: {}\nstderr: {}",
            self.r().stdout(),
            self.r().stderr()
        );
    }

    /// Waits for a file to exist.
    fn file(&self, path: &str, timeout: f64) {
        let found = eventually(secs(timeout), || std::path::Path::new(path).exists());
        assert!(
            found,
            "no file {path} within {timeout}s\nstdout: {}\nstderr: {}",
            self.r().stdout(),
            self.r().stderr()
        );
    }

    /// Sends `sig` and restarts the clock of `Finished::elapsed`.
    fn signal_and_mark(&mut self, sig: i32) {
        self.r().signal(sig);
        self.0.as_mut().unwrap().mark();
    }

    fn wait(mut self, timeout: f64) -> Finished {
        self.0.take().unwrap().wait(secs(timeout))
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        if let Some(r) = &self.0 {
            unsafe { libc::kill(r.pid, libc::SIGKILL) };
        }
    }
}

// ---- 1. no write can block PID 1 --------------------------------------------

/// The app (`yes`) and a chatty PostStart share hookinit's stdout, a pipe
/// nobody reads. Before the fix hookinit polled fd 1 for room and then wrote
/// to it blocking: when `yes` took the room in between, PID 1 hung in
/// `write(2)` for good and ignored every signal.
#[test]
fn a_full_stdout_pipe_shared_with_the_app_never_blocks_pid1() {
    let (read_end, write_end) = pipe();
    let mut cmd = command(
        true,
        &["--", "yes"],
        &[
            (
                "HOOKINIT_POST_START",
                r#"["sh","-c","while :; do echo hookline; done"]"#,
            ),
            ("HOOKINIT_GRACE_PERIOD", "2"),
        ],
    );
    cmd.stdout(Stdio::from(write_end));
    let mut h = Custom::start(cmd, true);
    // The marker: the pipe is full (nobody reads it; `yes` and the hook now
    // wait for room).
    let full = eventually(secs(10.0), stalled(&read_end));
    assert!(full, "the pipe never filled: {:?}", pipe_fill(&read_end));
    // The log reader then takes a page now and then before it stalls for
    // good: each page freed wakes both writers, and `yes`, woken inside its
    // write, takes the room before hookinit gets from poll to write.
    let mut page = [0u8; 4096];
    for _ in 0..40 {
        let n = unsafe { libc::read(read_end.as_raw_fd(), page.as_mut_ptr().cast(), 4096) };
        assert!(n > 0, "read from the pipe: {n}");
        thread::sleep(secs(0.005));
    }
    let full = eventually(secs(5.0), stalled(&read_end));
    assert!(
        full,
        "the pipe never filled again: {:?}",
        pipe_fill(&read_end)
    );
    let hook_started = h.stderr().contains("HookStarted hook=PostStart");
    // How PID 1 writes there: through a non-blocking description of its own
    // (fd 1 itself is shared with the app and must stay blocking). This
    // pins the fix down even when `yes` loses the race that hangs a
    // blocking write (it needs `yes` to take the room between hookinit's
    // poll and its write).
    let own = nonblocking_twins(h.pid, 1);
    h.signal(SIGTERM);
    let asked = Instant::now();
    let code = h.wait(secs(4.0));
    let elapsed = asked.elapsed();
    eprintln!("shared full stdout: {code:?} {elapsed:?} after TERM");
    let stderr = h.stderr();
    assert!(hook_started, "PostStart never started\n{stderr}");
    assert_eq!(
        code,
        Ok(Some(143)),
        "hookinit did not stop within 4 s of TERM (grace period 2 s) while its stdout, \
         shared with the app, was full: a write blocked PID 1\n{stderr}"
    );
    assert!(elapsed < secs(4.0), "{elapsed:?}\n{stderr}");
    assert!(
        own.as_ref().is_some_and(|fds| !fds.is_empty()),
        "hookinit holds no non-blocking descriptor of its stdout pipe: {own:?}"
    );
    drop(read_end);
}

// ---- 2. no busy loop when the stdout reader dies -------------------------------

/// hookinit's stdout is full of a hook's output, then its reader exits. Before
/// the fix, the pending output waited for POLLOUT, but poll reported POLLERR
/// at once, forever: PID 1 spun at 100% CPU (~180 ticks in 2 s).
#[test]
fn a_dead_stdout_reader_with_a_full_pipe_causes_no_busy_loop() {
    let (read_end, write_end) = pipe();
    let mut cmd = command(
        true,
        &["--", "sleep", "30"],
        &[(
            "HOOKINIT_POST_START",
            r#"["sh","-c","head -c 200000 /dev/zero; sleep 20"]"#,
        )],
    );
    cmd.stdout(Stdio::from(write_end));
    let mut h = Custom::start(cmd, true);
    let full = eventually(secs(10.0), || {
        let (queued, size) = pipe_fill(&read_end);
        queued >= size
    });
    assert!(full, "the pipe never filled: {:?}", pipe_fill(&read_end));
    // The reader dies with the pipe full and hook output pending.
    drop(read_end);
    thread::sleep(secs(0.1));
    let before = cpu_ticks(h.pid);
    thread::sleep(secs(2.0));
    let spent = cpu_ticks(h.pid) - before;
    eprintln!("dead stdout reader: hookinit used {spent} ticks in 2 s");
    assert!(
        spent < 10,
        "hookinit used {spent} clock ticks of CPU in 2 s after its stdout reader died: \
         it spins\n{}",
        h.stderr()
    );
    h.signal(SIGTERM);
    let code = h.wait(secs(5.0));
    let stderr = h.stderr();
    assert_eq!(code, Ok(Some(143)), "{stderr}");
    assert!(
        stderr.contains("HookCancelled hook=PostStart"),
        "PostStart (still sleeping) should have been cancelled\n{stderr}"
    );
}

// ---- 3. closed standard descriptors at start -----------------------------------

/// Started with fds 1 and 2 closed, hookinit's own descriptors (signalfd,
/// pipes) used to land on them, so event lines and hook output were written
/// into them. Now 0-2 are opened on /dev/null first.
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
    unsafe {
        cmd.pre_exec(|| {
            libc::close(1);
            libc::close(2);
            Ok(())
        });
    }
    let mut h = Custom::start(cmd, false);
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
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        let rc = unsafe { libc::waitid(libc::P_PID, pid as u32, &mut info, flags) };
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

// ---- 4. a PreStop sleep must fit beside the app's reserve ------------------

fn check(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = command(false, &["--check", "--", "true"], env)
        .output()
        .expect("run --check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Before the fix a PreStop sleep was only checked against the whole grace
/// period, while PreStop only gets the window minus the app's reserve: a
/// sleep of that length timed out (`FailedPreStopHook`) at every stop.
#[test]
fn pre_stop_sleep_longer_than_its_window_is_a_config_error() {
    let (code, stderr) = check(&[
        ("HOOKINIT_GRACE_PERIOD", "3"),
        ("HOOKINIT_PRE_STOP", r#"{"sleep":{"seconds":3}}"#),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("HOOKINIT_PRE_STOP: sleep.seconds: 3s leaves the app no time")
            && stderr.contains("PreStop may use 1.5s of the 3s grace period"),
        "{stderr}"
    );
    let (code, stderr) = check(&[
        ("HOOKINIT_GRACE_PERIOD", "3"),
        (
            "HOOKINIT_LIFECYCLE",
            r#"{"preStop":{"sleep":{"seconds":3}}}"#,
        ),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("HOOKINIT_LIFECYCLE: preStop.sleep.seconds: 3s leaves the app no time"),
        "{stderr}"
    );
    let (code, stderr) = check(&[
        ("HOOKINIT_GRACE_PERIOD", "4"),
        ("HOOKINIT_PRE_STOP", r#"{"sleep":{"seconds":2}}"#),
    ]);
    assert_eq!(code, Some(0), "a 2 s sleep fits a 4 s window\n{stderr}");
}

/// A sleep exactly as long as PreStop's share of the window (4 s grace, 2 s
/// kept for the app) used to hit its deadline first and fail as "timed out".
#[test]
fn pre_stop_sleep_filling_its_window_succeeds_and_the_app_gets_term_after_it() {
    let mut init = Init::start(
        &[
            ("HOOKINIT_GRACE_PERIOD", "4"),
            ("HOOKINIT_PRE_STOP", r#"{"sleep":{"seconds":2}}"#),
        ],
        &app("trap 'echo APP-TERM; exit 0' TERM"),
    );
    init.out("APP-READY", 5.0);
    init.signal_and_mark(SIGTERM);
    init.out("APP-TERM", 6.0);
    let term_at = init.r().started.elapsed();
    let f = init.wait(5.0);
    eprintln!("PreStop sleep 2 s: app got TERM after {term_at:?}");
    assert!(
        events(&f.stderr, "FailedPreStopHook").is_empty(),
        "the sleep must not time out\n{f:#?}"
    );
    assert_eq!(
        events(&f.stderr, "HookSucceeded")
            .iter()
            .filter(|l| l.starts_with("HookSucceeded hook=PreStop"))
            .count(),
        1,
        "{f:#?}"
    );
    assert!(
        term_at >= secs(1.9) && term_at <= secs(3.2),
        "TERM after {term_at:?}, expected ~2 s\n{f:#?}"
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
}

// ---- 5. the app exiting during PreStop is a cancellation ------------------------

/// PreStop kills the app itself (a common "graceful stop" script). Before the
/// fix, the app's exit ended PreStop with a `FailedPreStopHook` warning.
#[test]
fn app_exiting_during_pre_stop_cancels_it_without_a_failure() {
    let t = TempDir::new("cancel");
    let pidfile = p(&t, "app.pid");
    let pre_stop = serde_json::json!(["sh", "-c", format!("kill $(cat {pidfile}); sleep 10")]);
    let mut init = Init::start(
        &[("HOOKINIT_PRE_STOP", &pre_stop.to_string())],
        &app(&format!(
            "echo $$ > {pidfile}; trap 'echo APP-TERM; exit 5' TERM"
        )),
    );
    init.out("APP-READY", 5.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    eprintln!(
        "app killed by PreStop: exit {:?} after {:?}",
        f.code, f.elapsed
    );
    assert!(f.stdout.contains("APP-TERM"), "{f:#?}");
    assert!(
        events(&f.stderr, "FailedPreStopHook").is_empty(),
        "the app's exit is not a PreStop failure\n{f:#?}"
    );
    let cancelled = events(&f.stderr, "HookCancelled");
    assert!(
        cancelled.iter().any(
            |l| l.starts_with("HookCancelled hook=PreStop handler=exec: the app exited and the hook did not end within the cleanup timeout")
        ),
        "{f:#?}"
    );
    assert_eq!(f.code, Some(5), "the app's status\n{f:#?}");
    assert!(f.elapsed < secs(4.0), "not prompt: {:?}\n{f:#?}", f.elapsed);
}

// ---- 6. PreStop on exit and stop signals ----------------------------------------

fn pre_stop_on_exit(t: &TempDir, sleep: u32) -> Init {
    let script = format!(
        "echo started > {mark}; sleep {sleep}; echo done > {done}",
        mark = p(t, "mark"),
        done = p(t, "done"),
    );
    let pre_stop = serde_json::json!(["sh", "-c", script]).to_string();
    Init::start(
        &[
            ("HOOKINIT_PRE_STOP_ON_EXIT", "1"),
            ("HOOKINIT_PRE_STOP", &pre_stop),
        ],
        "exit 3",
    )
}

/// The app exited by itself and PreStop runs for it; a stop signal arriving
/// then used to be taken as a second one and cut PreStop short.
#[test]
fn first_stop_signal_does_not_cut_short_a_pre_stop_on_exit() {
    let t = TempDir::new("onexit1");
    let mut init = pre_stop_on_exit(&t, 1);
    init.file(&p(&t, "mark"), 5.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    eprintln!("PreStop on exit + TERM: {:?} after {:?}", f.code, f.elapsed);
    assert_eq!(t.read("done"), "done\n", "PreStop did not complete\n{f:#?}");
    let killing = events(&f.stderr, "Killing");
    assert!(
        killing
            .iter()
            .any(|l| l.contains("received SIGTERM: the PreStop hook for the app's exit goes on")),
        "{f:#?}"
    );
    assert!(!f.stderr.contains("cut short"), "{f:#?}");
    assert!(events(&f.stderr, "FailedPreStopHook").is_empty(), "{f:#?}");
    assert_eq!(f.code, Some(3), "{f:#?}");
}

#[test]
fn second_stop_signal_cuts_short_a_pre_stop_on_exit() {
    let t = TempDir::new("onexit2");
    let mut init = pre_stop_on_exit(&t, 10);
    init.file(&p(&t, "mark"), 5.0);
    init.signal_and_mark(SIGTERM);
    init.err("the PreStop hook for the app's exit goes on", 5.0);
    assert!(!t.path("done").exists());
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    eprintln!(
        "PreStop on exit + 2 TERMs: {:?} after {:?}",
        f.code, f.elapsed
    );
    let failed = events(&f.stderr, "FailedPreStopHook");
    assert!(
        failed.len() == 1 && failed[0].contains("cut short by a second SIGTERM"),
        "{f:#?}"
    );
    assert!(!t.path("done").exists(), "PreStop was not cut\n{f:#?}");
    assert!(f.elapsed < secs(3.0), "{:?}\n{f:#?}", f.elapsed);
    assert_eq!(f.code, Some(3), "{f:#?}");
}

// ---- 7. a timed-out exec hook keeps its output ---------------------------------

#[test]
fn timed_out_exec_hook_reports_its_output() {
    let init = Init::start(
        &[
            (
                "HOOKINIT_POST_START",
                r#"["sh","-c","echo waiting for db; sleep 30"]"#,
            ),
            ("HOOKINIT_POST_START_TIMEOUT", "1"),
        ],
        &app("trap 'exit 0' TERM"),
    );
    init.out("APP-READY", 5.0);
    // The failed PostStart stops the container: the app gets TERM.
    let f = init.wait(10.0);
    let failed = events(&f.stderr, "FailedPostStartHook");
    eprintln!("{failed:?}");
    assert_eq!(failed.len(), 1, "{f:#?}");
    assert!(
        failed[0].contains("PostStart hook failed: timed out after 1.")
            && failed[0].ends_with("s: waiting for db"),
        "the output must follow the timeout\n{f:#?}"
    );
}

// ---- 8. JSON event lines stay valid when cut --------------------------------------

/// A failing hook's output full of ANSI colours: each ESC becomes a 6-byte
/// `\u001b` escape, and the line is cut at 4 KiB. The cut used to be able to
/// fall inside an escape (`...\u00...`), which is not JSON. Ten paddings of
/// the hook's command (quoted in the message) move the cut across every
/// alignment against the 10-byte escaped `\u001b[31m`.
#[test]
fn cut_json_event_lines_stay_valid() {
    let mut cut_lines = 0;
    for pad in 0..10 {
        let script = format!(
            ": {}; i=0; while [ $i -lt 1000 ]; do printf '\\033[31m'; i=$((i+1)); done; exit 1",
            "p".repeat(pad)
        );
        let post_start = serde_json::json!(["sh", "-c", script]).to_string();
        let init = Init::start(
            &[
                ("HOOKINIT_LOG_FORMAT", "json"),
                ("HOOKINIT_POST_START", &post_start),
            ],
            &app("trap 'exit 0' TERM"),
        );
        let f = init.wait(10.0);
        let mut failure = None;
        for line in f.stderr.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                let end = &line[line.len().saturating_sub(120)..];
                panic!("pad {pad}: invalid JSON ({e}), line ends with: {end}")
            });
            if v["event"] == "FailedPostStartHook" {
                failure = Some(v);
            }
        }
        let failure = failure.unwrap_or_else(|| panic!("pad {pad}: no failure\n{f:#?}"));
        let message = failure["message"].as_str().unwrap();
        assert!(message.ends_with("..."), "pad {pad}: not cut: {message:?}");
        assert!(
            message.contains("exited with 1: ") && message.contains("\u{1b}[31m"),
            "pad {pad}: {message:?}"
        );
        cut_lines += 1;
    }
    assert_eq!(cut_lines, 10);
}

// ---- 9. a ready file that is a FIFO does not block -----------------------------

#[test]
fn fifo_as_ready_file_does_not_block_pid1() {
    let t = TempDir::new("fifo");
    let fifo = p(&t, "ready");
    // A stale ready file is removed at start, so the FIFO is made after it,
    // by PostStart, just before hookinit creates the ready file.
    let post_start = serde_json::json!(["mkfifo", fifo]).to_string();
    let mut init = Init::start(
        &[
            ("HOOKINIT_READY_FILE", &fifo),
            ("HOOKINIT_POST_START", &post_start),
        ],
        &app("trap 'echo APP-TERM; exit 0' TERM"),
    );
    init.out("APP-READY", 5.0);
    init.err("hookinit: ReadyFile", 5.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(5.0);
    eprintln!("FIFO ready file: exit {:?} after {:?}", f.code, f.elapsed);
    let warned = events(&f.stderr, "ReadyFile");
    assert!(
        warned.len() == 1 && warned[0].contains(&format!("cannot create {fifo}")),
        "{f:#?}"
    );
    assert!(f.stdout.contains("APP-TERM"), "{f:#?}");
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(f.elapsed < secs(2.0), "not prompt: {:?}", f.elapsed);
}
