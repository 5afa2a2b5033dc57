//! Hardening: hookinit must never fall over, whatever the app, the hooks,
//! the network or the kernel throws at it.
//!
//! - signal storm: 10,000 mixed signals; still responsive, bounded memory;
//! - zombie storm: 10,000 orphans while hooks run; the app's status is never
//!   lost to the reap loop;
//! - hook faults: TERM-ignoring forking exec hooks, silent / garbage / closed
//!   HTTP servers, 100 MB of hook output, a stalled stdout (also one shared
//!   with the app, and one whose reader died), missing binaries;
//! - resource hygiene: descriptors, environment, argv and header injection,
//!   over 200 lives;
//! - non-root and non-PID-1 runs.
//!
//! Figures (signals sent, orphans reaped, RSS) are printed on stderr: run with
//! `cargo test --test hardening -- --nocapture` to see them.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// ---- starting hookinit --------------------------------------------------------

/// How hookinit is started: PID 1 of a new PID namespace or not, as root or
/// as nobody (65534, through setpriv).
#[derive(Clone, Copy, Debug)]
struct Mode {
    pid1: bool,
    nobody: bool,
}

const PID1: Mode = Mode {
    pid1: true,
    nobody: false,
};
const PLAIN: Mode = Mode {
    pid1: false,
    nobody: false,
};

fn os(items: &[&str]) -> Vec<OsString> {
    items.iter().map(OsString::from).collect()
}

fn os_env(env: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    env.iter().map(|(k, v)| (k.into(), v.into())).collect()
}

/// `[unshare ...] [setpriv ...] hookinit ARGS` with exactly `PATH` and `env`.
fn hookinit_cmd(mode: Mode, args: &[OsString], env: &[(OsString, OsString)]) -> Command {
    let mut argv: Vec<OsString> = Vec::new();
    if mode.pid1 {
        argv.extend(os(&[
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",
        ]));
    }
    if mode.nobody {
        argv.extend(os(&[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ]));
    }
    argv.push(bin().into_os_string());
    argv.extend(args.iter().cloned());
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env_clear().env("PATH", PATH);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn start(mode: Mode, args: &[&str], env: &[(&str, &str)]) -> Running {
    Running::start(hookinit_cmd(mode, &os(args), &os_env(env)), mode.pid1)
}

/// hookinit with its stdout wired as the test wants (a stalled pipe, /dev/null).
struct Custom {
    child: Child,
    pid: i32,
    stderr: Arc<Mutex<Vec<u8>>>,
    started: Instant,
}

impl Custom {
    fn start(mode: Mode, args: &[&str], env: &[(&str, &str)], stdout: Stdio) -> Custom {
        let mut cmd = hookinit_cmd(mode, &os(args), &os_env(env));
        cmd.stdout(stdout);
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn hookinit");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (mut from, into) = (child.stderr.take().unwrap(), stderr.clone());
        thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while let Ok(n) = from.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                into.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        let id = child.id() as i32;
        let pid = if mode.pid1 {
            let mut found = 0;
            assert!(
                eventually(secs(5.0), || {
                    found = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children"))
                        .ok()
                        .and_then(|c| c.split_whitespace().next()?.parse().ok())
                        .unwrap_or(0);
                    found > 0
                }),
                "unshare never forked hookinit"
            );
            found
        } else {
            id
        };
        Custom {
            child,
            pid,
            stderr,
            started,
        }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// The exit code, or `None` (after killing everything) if hookinit did
    /// not exit within `timeout`.
    fn wait(mut self, timeout: Duration) -> (Option<Option<i32>>, String, Duration) {
        let end = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let elapsed = self.started.elapsed();
                thread::sleep(Duration::from_millis(20));
                return (Some(status.code()), self.stderr(), elapsed);
            }
            if Instant::now() > end {
                kill(self.pid, libc::SIGKILL);
                let _ = self.child.kill();
                let _ = self.child.wait();
                return (None, self.stderr(), self.started.elapsed());
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

// ---- small helpers ------------------------------------------------------------

fn kill(pid: i32, sig: i32) -> bool {
    // SAFETY: kill takes any pid and signal.
    unsafe { libc::kill(pid, sig) == 0 }
}

fn wait_file(path: &std::path::Path, timeout: Duration, r: &Running) {
    assert!(
        eventually(timeout, || path.exists()),
        "{} did not appear within {timeout:?}\nstderr: {}",
        path.display(),
        r.stderr()
    );
}

/// A `/proc/PID/status` size field in kB (`VmRSS`, `VmHWM`).
fn kb(pid: i32, field: &str) -> u64 {
    proc_status_field(pid, field)
        .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} for pid {pid}"))
}

/// A hexadecimal signal mask field of `/proc/PID/status` (`ShdPnd`, `SigPnd`).
fn mask(pid: i32, field: &str) -> u64 {
    proc_status_field(pid, field)
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(0)
}

/// (state, ppid) from `/proc/PID/stat`.
fn stat(pid: i32) -> Option<(char, i32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = s[s.rfind(')')? + 1..].split_whitespace();
    let state = rest.next()?.chars().next()?;
    Some((state, rest.next()?.parse().ok()?))
}

fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Zombies waiting for `parent` to reap them.
fn zombie_children(parent: i32) -> usize {
    all_pids()
        .into_iter()
        .filter(|&p| matches!(stat(p), Some(('Z', pp)) if pp == parent))
        .count()
}

/// Host pids of processes with `arg` as one of their arguments.
fn pids_with_arg(arg: &str) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .map(|c| c.split(|&b| b == 0).any(|a| a == arg.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// A unique number usable as `sleep`'s argument, to find a process by it.
fn tag() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    format!(
        "{}",
        900_000_000 + (std::process::id() as usize % 100_000) * 100 + n
    )
}

/// SIGKILLs, on drop, whatever still runs with one of the tags (a failed
/// test must not leave sleepers behind on the host).
struct TagGuard(Vec<String>);

impl Drop for TagGuard {
    fn drop(&mut self) {
        for t in &self.0 {
            for p in pids_with_arg(t) {
                kill(p, libc::SIGKILL);
            }
        }
    }
}

/// Lines of the event `name` (text format).
fn events<'a>(stderr: &'a str, name: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter(|l| {
            l.strip_prefix("hookinit: ")
                .and_then(|r| r.strip_prefix(name))
                .is_some_and(|r| r.starts_with([' ', ':']))
        })
        .collect()
}

fn count(stderr: &str, name: &str) -> usize {
    events(stderr, name).len()
}

/// A scratch directory anyone may write to (the app may run as nobody).
fn open_dir(tag: &str) -> TempDir {
    let t = TempDir::new(tag);
    std::fs::set_permissions(&t.0, std::fs::Permissions::from_mode(0o777)).unwrap();
    t
}

/// The smallest xorshift64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

// ---- 1. signal storm ------------------------------------------------------------

#[test]
fn signal_storm_of_10000_mixed_signals_leaves_hookinit_responsive_and_small() {
    let t = TempDir::new("storm");
    let (marker, ready) = (t.path("usr1"), t.path("ready"));
    let mut ignored: Vec<String> = [
        "USR2", "HUP", "WINCH", "URG", "CONT", "ALRM", "PWR", "VTALRM", "PROF", "IO",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    ignored.extend((35..=60).map(|s| s.to_string()));
    let script = format!(
        "trap 'echo x >> {m}' USR1; trap '' {ign}; : > {r}; while :; do sleep 1; done",
        m = marker.display(),
        ign = ignored.join(" "),
        r = ready.display()
    );
    // The whole group gets each signal: the shell's `sleep 1` dies of USR1
    // at once, so its trap runs at once (with the app only, the shell would
    // run it after the `sleep` it waits for).
    let mut r = start(
        PID1,
        &["--", "sh", "-c", &script],
        &[("HOOKINIT_SIGNAL_GROUP", "1")],
    );
    wait_file(&ready, secs(5.0), &r);
    thread::sleep(Duration::from_millis(100));
    let rss_before = kb(r.pid, "VmRSS");

    let mut kinds = vec![
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGHUP,
        libc::SIGWINCH,
        libc::SIGURG,
        libc::SIGCONT,
        libc::SIGALRM,
        libc::SIGPWR,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
    ];
    kinds.extend(35..=60);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut sent, mut queue_full) = (0u32, 0u32);
    let storm = Instant::now();
    for _ in 0..10_000 {
        let sig = kinds[rng.below(kinds.len())];
        loop {
            if kill(r.pid, sig) {
                sent += 1;
                break;
            }
            // Real-time signals queue; a full queue is EAGAIN: send it again.
            let e = std::io::Error::last_os_error();
            assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "kill: {e}");
            queue_full += 1;
            thread::yield_now();
        }
    }
    let send_time = storm.elapsed();
    // hookinit has taken every signal from its queue...
    assert!(
        eventually(secs(20.0), || mask(r.pid, "ShdPnd") == 0
            && mask(r.pid, "SigPnd") == 0),
        "hookinit still has signals pending 20 s after the storm: ShdPnd {:x}",
        mask(r.pid, "ShdPnd")
    );
    let drained = storm.elapsed();
    // ...and the app has run its last storm USR1 trap.
    let mut last = (u64::MAX, Instant::now());
    assert!(eventually(secs(10.0), || {
        let len = std::fs::metadata(&marker).map(|m| m.len()).unwrap_or(0);
        if len != last.0 {
            last = (len, Instant::now());
        }
        last.1.elapsed() > Duration::from_millis(300)
    }));
    let storm_usr1_lines = t.read("usr1").lines().count();
    let rss_after = kb(r.pid, "VmRSS");
    let hwm = kb(r.pid, "VmHWM");

    // Still responsive: one more USR1 reaches the app's trap at once.
    std::fs::remove_file(&marker).unwrap();
    let asked = Instant::now();
    r.signal(libc::SIGUSR1);
    wait_file(&marker, secs(3.0), &r);
    let latency = asked.elapsed();

    // And TERM still stops everything, with the app's status.
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(15.0));
    eprintln!(
        "signal storm: {sent} signals sent in {send_time:?} ({queue_full} EAGAIN retries), \
         all taken by hookinit after {drained:?}; the app ran its USR1 trap {storm_usr1_lines} \
         times; RSS before {rss_before} kB, after {rss_after} kB (VmHWM {hwm} kB); USR1 after \
         the storm handled in {latency:?}; TERM -> exit in {:?}",
        f.elapsed
    );
    assert_eq!(sent, 10_000);
    assert!(
        storm_usr1_lines > 0,
        "no USR1 reached the app during the storm"
    );
    assert!(
        rss_after <= rss_before + 512,
        "RSS grew from {rss_before} kB to {rss_after} kB"
    );
    assert!(latency < secs(2.0), "USR1 took {latency:?} after the storm");
    assert_eq!(f.code, Some(128 + libc::SIGTERM), "{f:?}");
    assert!(f.elapsed < secs(2.0), "TERM took {:?}", f.elapsed);
}

// ---- 2. zombie storm ------------------------------------------------------------

/// `n` orphans in bursts of 100: each `(: &)` leaves a grandchild whose parent
/// exits at once, so hookinit (PID 1 or subreaper) must reap it.
fn orphan_bursts(n: usize) -> String {
    format!(
        "for b in $(seq {}); do for i in $(seq 100); do (: &); done; done",
        n / 100
    )
}

#[test]
fn zombie_storm_of_10000_orphans_while_hooks_run() {
    let t = TempDir::new("zombies");
    let (storm_done, ps_done, pre_done) = (t.path("storm"), t.path("ps"), t.path("pre"));
    let app = format!(
        "{}; : > {}; while :; do sleep 1; done",
        orphan_bursts(10_000),
        storm_done.display()
    );
    // PostStart runs during the storm and forks orphans of its own.
    let post_start = serde_json::json!([
        "sh",
        "-c",
        format!(
            "{}; sleep 0.3; : > {}",
            orphan_bursts(200),
            ps_done.display()
        )
    ]);
    let pre_stop = serde_json::json!([
        "sh",
        "-c",
        format!("{}; : > {}", orphan_bursts(1000), pre_done.display())
    ]);
    let mut r = start(
        PID1,
        &["--verbosity", "3", "--", "sh", "-c", &app],
        &[
            ("HOOKINIT_POST_START", &post_start.to_string()),
            ("HOOKINIT_PRE_STOP", &pre_stop.to_string()),
        ],
    );
    let began = Instant::now();
    wait_file(&storm_done, secs(60.0), &r);
    let storm_time = began.elapsed();
    wait_file(&ps_done, secs(10.0), &r);
    // Every orphan is reaped, none is left a zombie.
    let mut reaped = 0;
    let all_reaped = eventually(secs(10.0), || {
        reaped = count(&r.stderr(), "Reaped");
        reaped >= 10_200 && zombie_children(r.pid) == 0
    });
    let zombies = zombie_children(r.pid);
    assert!(
        all_reaped,
        "{reaped} orphans reaped, {zombies} zombies left (want 10200, 0)"
    );
    r.wait_for("HookSucceeded hook=PostStart", secs(5.0));

    // PreStop forks 1000 more orphans; then the app gets TERM.
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    let total = count(&f.stderr, "Reaped");
    eprintln!(
        "zombie storm: 10000 orphans forked by the app in {storm_time:?}, {reaped} reaped before \
         the stop, {total} in all; zombies left: {zombies}; stop took {:?}",
        f.elapsed
    );
    assert!(pre_done.exists(), "PreStop did not finish: {}", f.stderr);
    assert_eq!(count(&f.stderr, "HookSucceeded"), 2, "{}", f.stderr);
    assert!(total >= 11_200, "only {total} orphans reaped");
    assert_eq!(f.code, Some(128 + libc::SIGTERM), "{}", f.stderr);
    assert!(!f.stderr.contains("still not reaped"), "{}", f.stderr);
}

/// The app exits (or is killed) in the middle of a storm of dying orphans: its
/// status must come out of the reap loop intact.
#[test]
fn app_status_is_not_lost_when_it_exits_amid_an_orphan_storm() {
    let cases: &[(&str, &str, i32)] = &[
        // Background bursts that die with the TERM sent at the app's exit.
        (
            "plain",
            "(for i in $(seq 3000); do (: &); done) & for i in $(seq 300); do (: &); done; exit 42",
            42,
        ),
        // Bursts that ignore TERM: they keep dying while hookinit drains.
        (
            "term-ignored",
            "(trap '' TERM; for i in $(seq 2000); do (: &); done) & sleep 0.05; exit 42",
            42,
        ),
        // The app dies by a signal amid its own burst.
        (
            "killed",
            "(for i in $(seq 2000); do (: &); done) & for i in $(seq 200); do (: &); done; kill -KILL $$",
            137,
        ),
        // The app's own last orphans die as it exits: one SIGCHLD for all.
        ("own burst", "for i in $(seq 300); do (: &); done; exit 42", 42),
        ("own burst", "for i in $(seq 300); do (: &); done; exit 42", 42),
        ("background", "for i in $(seq 500); do (: &); done & exit 42", 42),
    ];
    for (name, script, want) in cases {
        let f = start(
            PID1,
            &["--verbosity", "3", "--", "sh", "-c", script],
            &[("HOOKINIT_CLEANUP_TIMEOUT", "5")],
        )
        .wait(secs(20.0));
        eprintln!(
            "{name}: exit {:?} after {:?}, {} orphans reaped",
            f.code,
            f.elapsed,
            count(&f.stderr, "Reaped")
        );
        assert_eq!(f.code, Some(*want), "{name}: {}", f.stderr);
        assert!(!f.stderr.contains("still not reaped"), "{}", f.stderr);
    }
}

// ---- 3. hook faults -------------------------------------------------------------

/// PreStop ignores TERM and forks children, one of them in a session of its
/// own: at the PreStop deadline its group is killed, the stop goes on, and
/// what escaped the group is SIGKILLed at the cleanup deadline.
fn term_ignoring_forking_pre_stop(mode: Mode) {
    let t = open_dir("prestop-forks");
    let (in_group, escaped) = (tag(), tag());
    let _guard = TagGuard(vec![in_group.clone(), escaped.clone()]);
    let (ready, hook_up) = (t.path("ready"), t.path("hook"));
    let hook = serde_json::json!([
        "sh",
        "-c",
        format!(
        "trap '' TERM; sleep {in_group} & sleep {in_group} & setsid sleep {escaped} & : > {}; wait",
        hook_up.display()
    )
    ]);
    let app = format!(
        "trap 'exit 3' TERM; : > {}; while :; do sleep 1; done",
        ready.display()
    );
    let mut r = start(
        mode,
        &["--", "sh", "-c", &app],
        &[
            ("HOOKINIT_PRE_STOP", &hook.to_string()),
            ("HOOKINIT_PRE_STOP_TIMEOUT", "1"),
            ("HOOKINIT_GRACE_PERIOD", "6"),
            ("HOOKINIT_CLEANUP_TIMEOUT", "1"),
        ],
    );
    wait_file(&ready, secs(5.0), &r);
    r.mark();
    r.signal(libc::SIGTERM);
    wait_file(&hook_up, secs(3.0), &r);
    // The hook wrote its file after forking its children, not after they
    // exec'd `sleep` (only then does their argv carry the tag): wait.
    assert!(eventually(secs(2.0), || pids_with_arg(&escaped).len() == 1));
    assert!(
        eventually(secs(2.0), || pids_with_arg(&in_group).len() == 2),
        "the hook's children: {:?}",
        pids_with_arg(&in_group)
    );
    r.wait_for("FailedPreStopHook", secs(3.0));
    // The hook's whole group went with it.
    assert!(
        eventually(secs(0.5), || pids_with_arg(&in_group).is_empty()),
        "the PreStop hook's children survived its deadline: {:?}",
        pids_with_arg(&in_group)
    );
    let f = r.wait(secs(10.0));
    let left: Vec<i32> = [&in_group, &escaped]
        .iter()
        .flat_map(|t| pids_with_arg(t))
        .collect();
    eprintln!("{mode:?}: stop took {:?}; left: {left:?}", f.elapsed);
    assert!(left.is_empty(), "survivors after hookinit exited: {left:?}");
    assert_eq!(f.code, Some(3), "{}", f.stderr);
    let failed = events(&f.stderr, "FailedPreStopHook").join("\n");
    assert!(failed.contains("timed out"), "{failed}");
    assert_eq!(count(&f.stderr, "SigkillSent"), 1, "{}", f.stderr);
    // PreStop 1 s + cleanup 1 s; far from the 6 s grace period.
    assert!(
        f.elapsed >= secs(1.9) && f.elapsed < secs(3.5),
        "{:?}\n{}",
        f.elapsed,
        f.stderr
    );
}

#[test]
fn pre_stop_ignoring_term_and_forking_is_killed_at_its_deadline_as_pid1() {
    term_ignoring_forking_pre_stop(PID1);
}

#[test]
fn pre_stop_ignoring_term_and_forking_is_killed_at_its_deadline_not_pid1() {
    term_ignoring_forking_pre_stop(PLAIN);
}

/// A local HTTP server; `handle` gets each connection on its own thread.
fn serve(handle: impl Fn(TcpStream) + Send + Sync + 'static) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let handle = Arc::new(handle);
    thread::spawn(move || {
        for s in l.incoming().flatten() {
            let h = handle.clone();
            thread::spawn(move || h(s));
        }
    });
    port
}

/// Reads a request head (up to the blank line, at most 64 KiB).
fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let _ = s.set_read_timeout(Some(secs(5.0)));
    let mut head = Vec::new();
    let mut b = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match s.read(&mut b) {
            Ok(n) if n > 0 => head.extend_from_slice(&b[..n]),
            _ => break,
        }
    }
    head
}

fn http_pre_stop(port: u16) -> String {
    serde_json::json!({"httpGet": {"port": port, "path": "/pre-stop"}}).to_string()
}

/// Runs an app that exits 143 on TERM with `env`, sends TERM, returns the run
/// and the highest VmHWM of hookinit seen while it ran.
fn stop_with(env: &[(&str, &str)]) -> (Finished, u64) {
    let t = TempDir::new("stop-with");
    let ready = t.path("ready");
    let app = format!(": > {}; while :; do sleep 1; done", ready.display());
    let mut r = start(PID1, &["--", "sh", "-c", &app], env);
    wait_file(&ready, secs(5.0), &r);
    let pid = r.pid;
    let hwm = Arc::new(Mutex::new(0u64));
    let h = hwm.clone();
    let sampler = thread::spawn(move || {
        while let Some(v) = proc_status_field(pid, "VmHWM") {
            let v: u64 = v.trim_end_matches(" kB").trim().parse().unwrap_or(0);
            let mut m = h.lock().unwrap();
            *m = (*m).max(v);
            drop(m);
            thread::sleep(Duration::from_millis(5));
        }
    });
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    let _ = sampler.join();
    let peak = *hwm.lock().unwrap();
    (f, peak)
}

#[test]
fn http_pre_stop_to_a_server_that_never_answers_is_bounded() {
    // Accepts, reads the request, then holds the connection without a word.
    let port = serve(|mut s| {
        let _ = read_head(&mut s);
        thread::sleep(secs(60.0));
    });
    // Bounded by HOOKINIT_PRE_STOP_TIMEOUT...
    let (f, _) = stop_with(&[
        ("HOOKINIT_PRE_STOP", &http_pre_stop(port)),
        ("HOOKINIT_PRE_STOP_TIMEOUT", "1"),
    ]);
    eprintln!("silent server, 1 s timeout: stop took {:?}", f.elapsed);
    assert_eq!(f.code, Some(143), "{}", f.stderr);
    assert_eq!(count(&f.stderr, "FailedPreStopHook"), 1, "{}", f.stderr);
    assert!(f.elapsed >= secs(0.95) && f.elapsed < secs(1.8), "{f:?}");
    // ...and without it by the grace window less the app's reserve (3 - 1.5 s).
    let (f, _) = stop_with(&[
        ("HOOKINIT_PRE_STOP", &http_pre_stop(port)),
        ("HOOKINIT_GRACE_PERIOD", "3"),
    ]);
    eprintln!("silent server, grace 3 s: stop took {:?}", f.elapsed);
    assert_eq!(f.code, Some(143), "{}", f.stderr);
    assert_eq!(count(&f.stderr, "FailedPreStopHook"), 1, "{}", f.stderr);
    assert!(f.elapsed >= secs(1.45) && f.elapsed < secs(2.5), "{f:?}");
}

#[test]
fn http_pre_stop_to_servers_sending_garbage_fails_cleanly() {
    type Reply = fn(&mut TcpStream);
    let replies: &[(&str, Reply)] = &[
        ("binary garbage", |s| {
            let mut rng = Rng(42);
            let junk: Vec<u8> = (0..65536).map(|_| rng.next() as u8).collect();
            let _ = s.write_all(b"\x00\xffNOT HTTP\r\n\r\n");
            let _ = s.write_all(&junk);
        }),
        ("truncated status line", |s| {
            let _ = s.write_all(b"HTT");
        }),
        ("bogus status code", |s| {
            let _ = s.write_all(b"HTTP/1.1 999999 Whatever\r\n\r\n");
        }),
        ("negative content length", |s| {
            let _ = s.write_all(b"HTTP/1.1 500 Oops\r\nContent-Length: -1\r\n\r\nabc");
        }),
        ("endless headers", |s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
            let line = format!("X-Junk: {}\r\n", "a".repeat(1000));
            let end = Instant::now() + secs(10.0);
            while Instant::now() < end && s.write_all(line.as_bytes()).is_ok() {}
        }),
        ("endless header line", |s| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nX-Junk: ");
            let chunk = [b'a'; 4096];
            let end = Instant::now() + secs(10.0);
            while Instant::now() < end && s.write_all(&chunk).is_ok() {}
        }),
        ("redirect loop", |s| {
            let _ = s.write_all(
                b"HTTP/1.1 302 Found\r\nLocation: /pre-stop\r\nContent-Length: 0\r\n\r\n",
            );
        }),
    ];
    for (name, reply) in replies {
        let reply = *reply;
        let port = serve(move |mut s| {
            let _ = read_head(&mut s);
            reply(&mut s);
        });
        let (f, peak) = stop_with(&[
            ("HOOKINIT_PRE_STOP", &http_pre_stop(port)),
            ("HOOKINIT_PRE_STOP_TIMEOUT", "2"),
        ]);
        let failure = events(&f.stderr, "FailedPreStopHook").join(" ");
        eprintln!(
            "{name}: stop took {:?}, hookinit VmHWM {peak} kB: {failure}",
            f.elapsed
        );
        assert_eq!(f.code, Some(143), "{name}: {}", f.stderr);
        assert!(
            !failure.is_empty(),
            "{name}: PreStop did not fail\n{}",
            f.stderr
        );
        assert!(
            failure.len() < 2048,
            "{name}: {} byte message",
            failure.len()
        );
        assert!(f.elapsed < secs(2.6), "{name}: {:?}", f.elapsed);
        assert!(peak < 8 * 1024, "{name}: VmHWM {peak} kB");
        assert_eq!(
            count(&f.stderr, "StopSignalSent"),
            1,
            "{name}: {}",
            f.stderr
        );
    }
}

#[test]
fn http_and_tcp_pre_stop_to_a_closed_port_fail_at_once() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for hook in [
        http_pre_stop(port),
        serde_json::json!({"tcpSocket": {"port": port}}).to_string(),
    ] {
        let (f, _) = stop_with(&[("HOOKINIT_PRE_STOP", &hook)]);
        let failure = events(&f.stderr, "FailedPreStopHook").join(" ");
        assert_eq!(f.code, Some(143), "{}", f.stderr);
        assert!(
            failure.to_lowercase().contains("refused"),
            "{hook}: {failure}"
        );
        assert!(f.elapsed < secs(1.0), "{hook}: {:?}", f.elapsed);
    }
}

#[test]
fn exec_hook_writing_100_mb_does_not_deadlock_or_grow_hookinit() {
    let t = TempDir::new("bigout");
    let ready = t.path("ready");
    let app = format!(
        "while [ ! -e {r} ]; do sleep 0.01; done; while :; do sleep 1; done",
        r = ready.display()
    );
    let post_start = r#"["sh","-c","head -c 100000000 /dev/zero"]"#;
    let pre_stop =
        r#"["sh","-c","yes hookinit-output-line | head -c 30000000; echo last words >&2; exit 3"]"#;
    let ready_s = ready.display().to_string();
    // hookinit's stdout is /dev/null: the harness need not hold 100 MB.
    let r = Custom::start(
        PID1,
        &["--", "sh", "-c", &app],
        &[
            ("HOOKINIT_POST_START", post_start),
            ("HOOKINIT_PRE_STOP", pre_stop),
            ("HOOKINIT_READY_FILE", &ready_s),
        ],
        Stdio::null(),
    );
    assert!(
        eventually(secs(60.0), || ready.exists()),
        "PostStart did not finish: {}",
        r.stderr()
    );
    let post_start_time = r.started.elapsed();
    let (rss, hwm) = (kb(r.pid, "VmRSS"), kb(r.pid, "VmHWM"));
    kill(r.pid, libc::SIGTERM);
    let asked = Instant::now();
    let (code, stderr, _) = r.wait(secs(20.0));
    let stop_time = asked.elapsed();
    eprintln!(
        "100 MB PostStart output copied in {post_start_time:?}; hookinit VmRSS {rss} kB, VmHWM \
         {hwm} kB; stop with a 30 MB failing PreStop took {stop_time:?}"
    );
    assert!(stderr.contains("HookSucceeded hook=PostStart"), "{stderr}");
    assert!(hwm < 8 * 1024, "VmHWM {hwm} kB");
    let failure = events(&stderr, "FailedPreStopHook").join(" ");
    assert!(
        failure.contains("exited with 3") && failure.contains("last words"),
        "{failure}"
    );
    assert!(failure.len() < 4096, "{} byte message", failure.len());
    assert_eq!(code, Some(Some(143)), "{stderr}");
}

/// The container's log reader stalls (hookinit's stdout is a full pipe
/// nobody reads) while an exec hook is chatty. Signals must still work: the
/// stop has to finish within the grace period.
#[test]
fn a_stalled_stdout_does_not_freeze_hookinit() {
    let t = TempDir::new("stalled");
    let ready = t.path("ready");
    let app = format!(": > {}; while :; do sleep 1; done", ready.display());
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both slots on success.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let (read_end, write_end) =
        // SAFETY: fresh descriptors owned by nobody else.
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let r = Custom::start(
        PID1,
        &["--", "sh", "-c", &app],
        &[
            (
                "HOOKINIT_POST_START",
                r#"["sh","-c","head -c 1000000 /dev/zero; sleep 1000"]"#,
            ),
            ("HOOKINIT_GRACE_PERIOD", "2"),
        ],
        Stdio::from(write_end),
    );
    assert!(eventually(secs(5.0), || ready.exists()), "{}", r.stderr());
    // Let the pipe fill up (64 KiB) with the hook's output.
    thread::sleep(secs(0.5));
    kill(r.pid, libc::SIGTERM);
    let (code, stderr, elapsed) = r.wait(secs(6.0));
    drop(read_end);
    eprintln!("stalled stdout: exit {code:?} after {elapsed:?}");
    assert_eq!(
        code,
        Some(Some(143)),
        "hookinit did not stop within 6 s of TERM (grace period 2 s) while its stdout \
         was full: it blocks writing hook output\n{stderr}"
    );
}

/// A pipe (both ends close-on-exec): (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both slots on success.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh descriptors owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Bytes waiting in a pipe, and its capacity.
fn pipe_fill(read_end: &OwnedFd) -> (usize, usize) {
    let mut queued: libc::c_int = 0;
    let fd = read_end.as_raw_fd();
    // SAFETY: FIONREAD writes one int into `queued`.
    assert_eq!(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) }, 0);
    // SAFETY: F_GETPIPE_SZ on our own descriptor.
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

/// The app (`yes`) and a chatty PostStart share hookinit's stdout, a pipe
/// nobody reads. Polling fd 1 for room and then writing to it blocking is
/// not enough: when `yes` takes the room in between, PID 1 hangs in
/// `write(2)` for good and ignores every signal.
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
    let mut h = Wired::start(cmd, true);
    // The marker: the pipe is full (nobody reads it; `yes` and the hook now
    // wait for room).
    let full = eventually(secs(10.0), stalled(&read_end));
    assert!(full, "the pipe never filled: {:?}", pipe_fill(&read_end));
    // The log reader then takes a page now and then before it stalls for
    // good: each page freed wakes both writers, and `yes`, woken inside its
    // write, takes the room before hookinit gets from poll to write.
    let mut page = [0u8; 4096];
    for _ in 0..40 {
        // SAFETY: reads at most 4096 bytes into the 4096-byte page.
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
    // pins the behaviour down even when `yes` loses the race that hangs a
    // blocking write (it needs `yes` to take the room between hookinit's
    // poll and its write).
    let own = nonblocking_twins(h.pid, 1);
    h.signal(libc::SIGTERM);
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

/// hookinit's stdout is full of a hook's output, then its reader exits. The
/// pending output must not wait for POLLOUT: poll reports POLLERR at once,
/// forever, and PID 1 would spin at 100% CPU (~180 ticks in 2 s).
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
    let mut h = Wired::start(cmd, true);
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
    h.signal(libc::SIGTERM);
    let code = h.wait(secs(5.0));
    let stderr = h.stderr();
    assert_eq!(code, Ok(Some(143)), "{stderr}");
    assert!(
        stderr.contains("HookCancelled hook=PostStart"),
        "PostStart (still sleeping) should have been cancelled\n{stderr}"
    );
}

#[test]
fn missing_or_unrunnable_hook_binaries_fail_clearly_and_the_stop_continues() {
    let t = TempDir::new("missing");
    let not_exec = t.path("not-executable");
    std::fs::write(&not_exec, "#!/bin/sh\ntrue\n").unwrap();
    let ready = t.path("ready");
    let app = format!(": > {}; while :; do sleep 1; done", ready.display());
    // PostStart missing: the container stops, PreStop cannot run either.
    let f = start(
        PID1,
        &["--", "sh", "-c", &app],
        &[
            ("HOOKINIT_POST_START", r#"["/nonexistent/hookinit-ps"]"#),
            (
                "HOOKINIT_PRE_STOP",
                &serde_json::json!([not_exec.display().to_string()]).to_string(),
            ),
        ],
    )
    .wait(secs(10.0));
    let ps = events(&f.stderr, "FailedPostStartHook").join(" ");
    let pre = events(&f.stderr, "FailedPreStopHook").join(" ");
    assert!(
        ps.contains("/nonexistent/hookinit-ps") && ps.contains("not found"),
        "{ps}"
    );
    assert!(
        pre.contains("not-executable") && pre.contains("permission denied"),
        "{pre}"
    );
    assert_eq!(f.code, Some(4), "PostStart failed: {}", f.stderr);
    assert!(f.elapsed < secs(1.5), "{:?}", f.elapsed);

    // PreStop missing on an ordinary stop (a fresh ready file: a TERM sent
    // before hookinit has blocked signals would be dropped by the kernel).
    let _ = std::fs::remove_file(&ready);
    let mut r = start(
        PID1,
        &["--", "sh", "-c", &app],
        &[("HOOKINIT_PRE_STOP", r#"["/nonexistent/hookinit-pre","x"]"#)],
    );
    wait_file(&ready, secs(5.0), &r);
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    let pre = events(&f.stderr, "FailedPreStopHook").join(" ");
    assert!(pre.contains("/nonexistent/hookinit-pre"), "{pre}");
    assert_eq!(count(&f.stderr, "StopSignalSent"), 1, "{}", f.stderr);
    assert_eq!(f.code, Some(143), "{}", f.stderr);
    assert!(f.elapsed < secs(1.0), "{:?}", f.elapsed);
}

// ---- 5. resource hygiene --------------------------------------------------------

/// Descriptors the test process hands to every child (not close-on-exec):
/// what hookinit inherits, and so what the app and hooks may have beyond 0-2.
fn inherited_fds() -> BTreeSet<u32> {
    let mut set = BTreeSet::from([0, 1, 2]);
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let flags = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))
            .ok()
            .and_then(|i| {
                i.lines()
                    .find_map(|l| l.strip_prefix("flags:"))
                    .and_then(|f| u64::from_str_radix(f.trim(), 8).ok())
            });
        if flags.is_some_and(|f| f & libc::O_CLOEXEC as u64 == 0) {
            set.insert(fd);
        }
    }
    set
}

/// `ls -l /proc/X/fd` output as fd -> target.
fn parse_ls_fds(text: &str) -> BTreeMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.to_string()))
        })
        .collect()
}

/// What `ls -l /proc/self/fd` run by a process saw, without the directory
/// `ls` itself opened to list it: the descriptors that process inherited.
fn inherited_by_ls(text: &str) -> BTreeMap<u32, String> {
    let mut fds = parse_ls_fds(text);
    let own: Vec<u32> = fds
        .iter()
        .filter(|(_, t)| t.starts_with("/proc/") && t.ends_with("/fd"))
        .map(|(fd, _)| *fd)
        .collect();
    assert_eq!(own.len(), 1, "ls's own directory in {text}");
    fds.remove(&own[0]);
    fds
}

/// NUL-separated `KEY=VALUE` entries, as a set.
fn env_set(bytes: &[u8]) -> BTreeSet<Vec<u8>> {
    bytes
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// 200 lives, each with one PostStart and one PreStop (exec, httpGet,
/// tcpSocket, sleep in turn): the app and exec hooks hold only 0-2 and what
/// hookinit inherited; hookinit holds no socket or hook pipe after PostStart;
/// the app's and hooks' environment is exactly hookinit's, HOOKINIT_* included.
#[test]
fn two_hundred_lives_leak_no_descriptor_and_keep_the_environment() {
    let requests = Arc::new(AtomicUsize::new(0));
    let rq = requests.clone();
    let http = serve(move |mut s| {
        let _ = read_head(&mut s);
        rq.fetch_add(1, Ordering::SeqCst);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    let connects = Arc::new(AtomicUsize::new(0));
    let tcp = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let c = connects.clone();
        thread::spawn(move || {
            for s in l.incoming().flatten() {
                c.fetch_add(1, Ordering::SeqCst);
                drop(s);
            }
        });
        port
    };
    let t = TempDir::new("lives");
    let d = t.0.display().to_string();
    let expected_fds = inherited_fds();
    let (mut http_hooks, mut tcp_hooks, mut exec_hooks) = (0, 0, 0);
    let mut hookinit_fd_counts = BTreeMap::new();
    let began = Instant::now();
    const LIVES: usize = 200;
    for life in 0..LIVES {
        for f in [
            "app-fds", "app-env", "ps-fds", "ps-env", "pre-fds", "pre-env", "hk-fds", "ready",
        ] {
            let _ = std::fs::remove_file(t.path(f));
        }
        let dump = |who: &str| {
            serde_json::json!([
                "sh",
                "-c",
                format!(
                "ls -l /proc/self/fd > {d}/{who}-fds; cat /proc/$$/environ > {d}/{who}-env; true"
            )
            ])
            .to_string()
        };
        let post_start = match life % 4 {
            0 => {
                exec_hooks += 1;
                dump("ps")
            }
            1 => {
                http_hooks += 1;
                http_pre_stop(http)
            }
            2 => {
                tcp_hooks += 1;
                serde_json::json!({"tcpSocket": {"port": tcp}}).to_string()
            }
            _ => r#"{"sleep":{"seconds":0}}"#.to_string(),
        };
        let pre_stop = match (life / 4) % 3 {
            0 => {
                exec_hooks += 1;
                dump("pre")
            }
            1 => {
                http_hooks += 1;
                http_pre_stop(http)
            }
            _ => {
                tcp_hooks += 1;
                serde_json::json!({"tcpSocket": {"port": tcp}}).to_string()
            }
        };
        let ready = format!("{d}/ready");
        let app = format!(
            "ls -l /proc/self/fd > {d}/app-fds; cat /proc/$$/environ > {d}/app-env; \
             while [ ! -e {ready} ]; do sleep 0.002; done; ls -l /proc/1/fd > {d}/hk-fds; true"
        );
        let env: Vec<(OsString, OsString)> = vec![
            ("HOOKINIT_POST_START".into(), post_start.clone().into()),
            ("HOOKINIT_PRE_STOP".into(), pre_stop.clone().into()),
            ("HOOKINIT_PRE_STOP_ON_EXIT".into(), "1".into()),
            ("HOOKINIT_READY_FILE".into(), ready.clone().into()),
            ("HOOKINIT_VERBOSITY".into(), " 1 ".into()),
            ("EMPTY".into(), "".into()),
            ("WITH_EQUALS".into(), "a=b=c".into()),
            ("MULTI_LINE".into(), "line 1\nline 2\r\n".into()),
            (
                "NOT_UTF8".into(),
                OsString::from_vec(vec![0xff, 0xfe, b'x', 0x80]),
            ),
            ("LIFE".into(), life.to_string().into()),
        ];
        let mut want_env: BTreeSet<Vec<u8>> = env
            .iter()
            .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
            .collect();
        want_env.insert(format!("PATH={PATH}").into_bytes());
        let f = Running::start(
            hookinit_cmd(PID1, &os(&["--", "sh", "-c", &app]), &env),
            true,
        )
        .wait(secs(20.0));
        let ctx = || {
            format!(
                "life {life}: PostStart {post_start}, PreStop {pre_stop}\n{}",
                f.stderr
            )
        };
        assert_eq!(f.code, Some(0), "{}", ctx());
        assert!(f.stderr.is_empty(), "{}", ctx());

        let mut checked = vec!["app"];
        if life % 4 == 0 {
            checked.push("ps");
        }
        if (life / 4) % 3 == 0 {
            checked.push("pre");
        }
        for who in checked {
            let fds = inherited_by_ls(&t.read(&format!("{who}-fds")));
            let got: BTreeSet<u32> = fds.keys().copied().collect();
            assert_eq!(got, expected_fds, "{who} descriptors {fds:?}: {}", ctx());
            let env = std::fs::read(t.path(&format!("{who}-env"))).unwrap();
            let mut got = env_set(&env);
            if who == "pre" {
                // PreStop is told why and until when (README, "Reason and deadline").
                let told = ["HOOKINIT_STOP_REASON=appExit", "HOOKINIT_KILL_IN_MS="];
                for prefix in told {
                    assert!(
                        got.iter().any(|e| e.starts_with(prefix.as_bytes())),
                        "{prefix}: {}",
                        ctx()
                    );
                }
                got.retain(|e| {
                    !e.starts_with(b"HOOKINIT_STOP_REASON=")
                        && !e.starts_with(b"HOOKINIT_KILL_")
                        && !e.starts_with(b"HOOKINIT_EXIT_")
                });
            }
            assert_eq!(got, want_env, "{who} environment: {}", ctx());
        }
        // hookinit after PostStart: its signalfd, the app's pidfd, its own
        // non-blocking description of stdout and of stderr (at most one each,
        // on the same object: src/os/stdio.rs), nothing else of its own: a
        // network hook's report pipe is closed once its process is reaped.
        let hk = parse_ls_fds(&t.read("hk-fds"));
        let mut own: Vec<&String> = hk
            .iter()
            .filter(|(fd, _)| !expected_fds.contains(fd))
            .map(|(_, target)| target)
            .collect();
        for std_fd in [1, 2] {
            if let Some(target) = hk.get(&std_fd).filter(|t| t.starts_with("pipe:")) {
                if let Some(i) = own.iter().position(|t| *t == target) {
                    own.remove(i);
                }
            }
        }
        let signalfds = own.iter().filter(|t| t.contains("signalfd")).count();
        let pidfds = own.iter().filter(|t| t.contains("pidfd")).count();
        assert_eq!(signalfds, 1, "hookinit's descriptors {hk:?}: {}", ctx());
        assert!(
            pidfds <= 1 && own.len() == signalfds + pidfds,
            "hookinit holds more than its signalfd and the app's pidfd after PostStart: {hk:?}: {}",
            ctx()
        );
        *hookinit_fd_counts.entry(hk.len()).or_insert(0) += 1;
    }
    let elapsed = began.elapsed();
    eprintln!(
        "{LIVES} lives in {elapsed:?}: {exec_hooks} exec, {http_hooks} httpGet, {tcp_hooks} \
         tcpSocket hooks; hookinit descriptor counts after PostStart (count: lives): \
         {hookinit_fd_counts:?}; descriptors the test hands down: {expected_fds:?}"
    );
    assert_eq!(requests.load(Ordering::SeqCst), http_hooks);
    assert_eq!(connects.load(Ordering::SeqCst), tcp_hooks);
}

/// Flags, variables, and the name the error must start with.
type Source = (Vec<String>, Vec<(&'static str, String)>, &'static str);

#[test]
fn header_injection_through_any_source_is_a_config_error() {
    let t = TempDir::new("inject");
    let marker = t.path("app-ran");
    let app = format!(": > {}", marker.display());
    let bad_values = ["a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\rb", "a\u{0}b"];
    let mut cases = 0;
    for value in bad_values {
        let handler = serde_json::json!({"httpGet": {"port": 8080,
            "httpHeaders": [{"name": "X-Test", "value": value}]}});
        let lifecycle = serde_json::json!({ "preStop": handler });
        let file = t.path("config.json");
        std::fs::write(
            &file,
            serde_json::json!({ "postStart": handler }).to_string(),
        )
        .unwrap();
        let file_s = file.display().to_string();
        let sources: Vec<Source> = vec![
            (
                vec![],
                vec![("HOOKINIT_PRE_STOP", handler.to_string())],
                "HOOKINIT_PRE_STOP",
            ),
            (
                vec![],
                vec![("HOOKINIT_POST_START", handler.to_string())],
                "HOOKINIT_POST_START",
            ),
            (
                vec![],
                vec![("HOOKINIT_LIFECYCLE", lifecycle.to_string())],
                "HOOKINIT_LIFECYCLE",
            ),
            (
                vec!["--pre-stop".into(), handler.to_string()],
                vec![],
                "--pre-stop",
            ),
            (
                vec![format!("--lifecycle={lifecycle}")],
                vec![],
                "--lifecycle",
            ),
            (
                vec![],
                vec![("HOOKINIT_CONFIG", file_s.clone())],
                "config file",
            ),
            (
                vec!["--config".into(), file_s.clone()],
                vec![],
                "config file",
            ),
        ];
        for (flags, env, source) in sources {
            let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
            args.extend(["--", "sh", "-c", &app]);
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let f = start(PLAIN, &args, &env).wait(secs(10.0));
            cases += 1;
            assert_eq!(f.code, Some(2), "{value:?} via {source}: {f:?}");
            let line = f.stderr.lines().next().unwrap_or_default();
            assert!(
                line.starts_with(&format!("hookinit: {source}"))
                    && line.contains("httpHeaders[0].value"),
                "{value:?} via {source}: {}",
                f.stderr
            );
            assert!(!marker.exists(), "the app ran for {value:?} via {source}");
        }
    }
    // Header names and paths cannot smuggle a line either.
    for bad in [
        r#"{"httpGet":{"port":8080,"httpHeaders":[{"name":"X-A\r\nX-B","value":"1"}]}}"#,
        r#"{"httpGet":{"port":8080,"httpHeaders":[{"name":"X-A: 1","value":"1"}]}}"#,
        r#"{"httpGet":{"port":8080,"path":"/a HTTP/1.1\r\nX-B: 1"}}"#,
        r#"{"httpGet":{"port":8080,"path":"/a\nb"}}"#,
        r#"{"httpGet":{"port":8080,"host":"127.0.0.1\r\nX-B: 1"}}"#,
    ] {
        let f = start(
            PLAIN,
            &["--", "sh", "-c", &app],
            &[("HOOKINIT_PRE_STOP", bad)],
        )
        .wait(secs(10.0));
        cases += 1;
        assert_eq!(f.code, Some(2), "{bad}: {f:?}");
        assert!(
            f.stderr.starts_with("hookinit: HOOKINIT_PRE_STOP: "),
            "{bad}: {}",
            f.stderr
        );
        assert!(!marker.exists(), "the app ran for {bad}");
    }
    eprintln!("{cases} injection attempts rejected");
}

#[test]
fn odd_but_valid_header_values_and_paths_arrive_verbatim_once() {
    let heads = Arc::new(Mutex::new(Vec::new()));
    let h = heads.clone();
    let port = serve(move |mut s| {
        let head = read_head(&mut s);
        h.lock().unwrap().push(head);
        let _ = s.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    });
    let value = r#"a:b; c=d, "q" 'q' %0d%0aX-Injected: 1 \r\n $(id) `id`"#;
    let hook = serde_json::json!({"httpGet": {"port": port, "path": "/p%0D%0AX-Injected:1?q=$(id)",
        "httpHeaders": [{"name": "X-Test", "value": value}]}});
    let (f, _) = stop_with(&[("HOOKINIT_PRE_STOP", &hook.to_string())]);
    assert_eq!(f.code, Some(143), "{}", f.stderr);
    assert_eq!(count(&f.stderr, "HookSucceeded"), 1, "{}", f.stderr);
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 1);
    let head = String::from_utf8_lossy(&heads[0]).into_owned();
    let lines: Vec<&str> = head.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0], "GET /p%0D%0AX-Injected:1?q=$(id) HTTP/1.1",
        "{head}"
    );
    let tests: Vec<&&str> = lines
        .iter()
        .filter(|l| l.to_ascii_lowercase().starts_with("x-test:"))
        .collect();
    assert_eq!(tests.len(), 1, "{head}");
    assert_eq!(tests[0].split_once(':').unwrap().1.trim(), value, "{head}");
    assert!(
        !lines
            .iter()
            .any(|l| l.to_ascii_lowercase().starts_with("x-injected")),
        "{head}"
    );
}

#[test]
fn exec_hook_and_app_arguments_arrive_verbatim() {
    let t = TempDir::new("argv");
    let sentinel = t.path("sentinel");
    std::fs::create_dir(&sentinel).unwrap();
    let pwn = t.path("pwned");
    let nasty: Vec<String> = vec![
        format!("; rm -rf {}", sentinel.display()),
        format!("$(touch {})", pwn.display()),
        format!("`touch {}`", pwn.display()),
        format!("&& touch {} ||", pwn.display()),
        format!("| touch {}", pwn.display()),
        r#"'"'\"\\"#.to_string(),
        "a b\tc\nd".to_string(),
        "*".to_string(),
        String::new(),
        "--".to_string(),
        "${HOME}$PATH".to_string(),
        "é ✓ \u{7f}".to_string(),
        "-c".to_string(),
    ];
    let d = t.0.display().to_string();
    let ready = format!("{d}/ready");
    let dump = |who: &str| -> Vec<String> {
        // The app waits for PostStart (the ready file) before it exits.
        let wait = if who == "app" {
            format!("while [ ! -e {ready} ]; do sleep 0.01; done")
        } else {
            "true".to_string()
        };
        let mut v = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            format!("cat /proc/$$/cmdline > {d}/{who}; {wait}"),
            "argv0".to_string(),
        ];
        v.extend(nasty.iter().cloned());
        v
    };
    let expected = |who: &str| -> Vec<u8> {
        dump(who)
            .iter()
            .flat_map(|a| a.bytes().chain([0]))
            .collect()
    };
    let app = dump("app");
    let mut args = vec!["--"];
    args.extend(app.iter().map(String::as_str));
    let mut r = start(
        PID1,
        &args,
        &[
            (
                "HOOKINIT_POST_START",
                &serde_json::json!(dump("ps")).to_string(),
            ),
            (
                "HOOKINIT_PRE_STOP",
                &serde_json::json!({"exec": {"command": dump("pre")}}).to_string(),
            ),
            ("HOOKINIT_PRE_STOP_ON_EXIT", "1"),
            ("HOOKINIT_READY_FILE", &ready),
        ],
    );
    r.mark();
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    for who in ["app", "ps", "pre"] {
        let got = std::fs::read(t.path(who)).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected(who)),
            "{who}: argv changed on the way"
        );
    }
    assert!(
        sentinel.is_dir() && !pwn.exists(),
        "an argument was interpreted"
    );
}

// ---- 6. non-root, non-PID-1 -----------------------------------------------------

/// Exit codes, forwarding, reaping, hooks and leftovers in `mode`.
fn basics(mode: Mode) {
    let t = open_dir("basics");
    let d = t.0.display().to_string();
    let escaped = tag();
    let _guard = TagGuard(vec![escaped.clone()]);
    // Exit codes: plain, and death by signal.
    for (script, want) in [("exit 7", 7), ("kill -KILL $$", 137), ("exit 0", 0)] {
        let f = start(mode, &["--", "sh", "-c", script], &[]).wait(secs(10.0));
        assert_eq!(f.code, Some(want), "{mode:?} {script}: {}", f.stderr);
    }
    // A life: orphans, a forwarded signal, a hook, a TERM-ignoring leftover.
    let app = format!(
        "trap 'id -u > {d}/usr1' USR1; id -u > {d}/uid; {}; \
         (trap '' TERM; setsid sleep {escaped} &); : > {d}/ready; while :; do sleep 1; done",
        orphan_bursts(1000)
    );
    let pre_stop = serde_json::json!(["sh", "-c", format!("id -u > {d}/pre")]).to_string();
    let mut r = start(
        mode,
        &["--verbosity", "3", "--", "sh", "-c", &app],
        &[
            ("HOOKINIT_PRE_STOP", &pre_stop),
            ("HOOKINIT_CLEANUP_TIMEOUT", "1"),
        ],
    );
    wait_file(&t.path("ready"), secs(20.0), &r);
    let uid = if mode.nobody { "65534" } else { "0" };
    let status_uid = proc_status_field(r.pid, "Uid").unwrap_or_default();
    assert!(status_uid.starts_with(uid), "hookinit runs as {status_uid}");
    let mut reaped = 0;
    assert!(
        eventually(secs(10.0), || {
            reaped = count(&r.stderr(), "Reaped");
            reaped >= 1000 && zombie_children(r.pid) == 0
        }),
        "{mode:?}: {reaped} orphans reaped, {} zombies",
        zombie_children(r.pid)
    );
    r.signal(libc::SIGUSR1);
    // The shell creates the file before `id` writes to it: wait for the whole
    // line, or the stop's TERM to the group could catch `id` mid-way.
    assert!(
        eventually(secs(3.0), || t.read("usr1").ends_with('\n')),
        "{mode:?}: the trap's `id -u` never finished\nstderr: {}",
        r.stderr()
    );
    // (Its argv carries the tag once `setsid` exec'd `sleep`.)
    assert!(
        eventually(secs(2.0), || pids_with_arg(&escaped).len() == 1),
        "the leftover runs: {:?}",
        pids_with_arg(&escaped)
    );
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    eprintln!(
        "{mode:?}: {} orphans reaped; stop took {:?}",
        count(&f.stderr, "Reaped"),
        f.elapsed
    );
    assert_eq!(f.code, Some(143), "{mode:?}: {}", f.stderr);
    for who in ["uid", "usr1", "pre"] {
        assert_eq!(t.read(who).trim(), uid, "{mode:?}: {who}");
    }
    assert!(
        pids_with_arg(&escaped).is_empty(),
        "{mode:?}: the TERM-ignoring leftover survived hookinit"
    );
    assert!(f.elapsed < secs(3.0), "{mode:?}: {:?}", f.elapsed);
}

#[test]
fn as_nobody_in_a_pid_namespace() {
    basics(Mode {
        pid1: true,
        nobody: true,
    });
}

#[test]
fn as_nobody_not_pid1() {
    basics(Mode {
        pid1: false,
        nobody: true,
    });
}

#[test]
fn as_root_not_pid1() {
    basics(PLAIN);
}
