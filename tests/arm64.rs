//! The aarch64 release binary, run as PID 1 of a fresh PID namespace under
//! `qemu-aarch64-static` (qemu-user):
//!
//! ```text
//! unshare --pid --fork --mount-proc --kill-child \
//!     qemu-aarch64-static target/aarch64-unknown-linux-musl/release/hookinit -- APP...
//! ```
//!
//! qemu runs in the namespace's PID 1 process and translates hookinit's
//! syscalls, so `getpid()` is 1 and hookinit takes its PID-1 paths
//! (`kill(-1)`, no subreaper). The app and the hooks it starts are this host's
//! x86_64 programs (`/bin/sh`), exec'd natively by the kernel: hookinit's own
//! code is what is emulated, its children are not.
//!
//! The binary is built with `scripts/build aarch64-unknown-linux-musl` when it
//! is missing. Without qemu, the binary or root, every test prints why and
//! passes, unless `E2E_REQUIRE_QEMU=1` (then it fails).
//!
//! # What qemu-user 7.2 cannot carry (so it is not tested here)
//!
//! Checked on this machine with a trap-everything app (see the report of
//! issue 7); the numbers are the host's, as sent with `kill -N`:
//!
//! - **Signals 32 and 33 never reach hookinit.** qemu is a static glibc
//!   program and glibc keeps them for itself (SIGCANCEL, SIGSETXID); qemu maps
//!   no guest signal to them (`signal_table_init` in linux-user/signal.c).
//!   32 has no handler in qemu, so the kernel drops it (a namespace's init
//!   ignores default-action signals); 33 is eaten by glibc's handler. A real
//!   arm64 machine has no such gap; the x86_64 suite covers 32–34.
//! - **Real-time signal numbers are shifted by 2 inside the guest.** qemu
//!   maps host 34..=64 to guest 32..=62 and back, so a forward from the
//!   emulated hookinit to a native app arrives with the number that was sent
//!   (34, 40, 64 all round-trip: tested below), but hookinit's own logs name
//!   the guest number (`Forwarded: SIG32` for a host `kill -34`), and guest
//!   63/64 do not exist on the host. Real-time stop signals given by number
//!   (`HOOKINIT_STOP_SIGNAL=40`) would therefore be off by 2 with a native
//!   app; not tested.
//! - **Not PID 1, hookinit cannot become a subreaper**: qemu 7.2 answers
//!   `prctl(PR_SET_CHILD_SUBREAPER)` with EINVAL (a "TODO" in its `do_prctl`;
//!   later qemu passes it through), and hookinit logs a `Subreaper` warning.
//!   Only PID-1 mode is tested here, where no subreaper is needed.
//!
//! Timings: hookinit's own work is emulated, but it is mostly waiting, and
//! qemu adds only milliseconds per step (measured: see the grace-window
//! test), so the issue's bounds are kept as they are. The tests take one lock
//! and run one at a time, so that the 200-orphan storm does not load the 2
//! shared cores under the timing test.

mod common;
use common::*;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

const TRIPLE: &str = "aarch64-unknown-linux-musl";
const QEMU: &str = "qemu-aarch64-static";

/// Prints past libtest's output capture, so a skip is visible in a normal run.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// Why qemu cannot run hookinit as PID 1 here, if it cannot.
fn emulation() -> Result<(), String> {
    static OK: OnceLock<Result<(), String>> = OnceLock::new();
    OK.get_or_init(|| {
        if !is_root() {
            return Err("not root: PID namespaces (unshare --pid) need it".into());
        }
        let qemu_ok = Command::new(QEMU)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !qemu_ok {
            return Err(format!(
                "{QEMU} not found (Debian: apt-get install qemu-user-static, or scripts/setup)"
            ));
        }
        Ok(())
    })
    .clone()
}

/// The aarch64 release binary, built once with `scripts/build` if missing.
fn arm64_bin() -> Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let path = root.join(format!("target/{TRIPLE}/release/hookinit"));
        if !path.exists() {
            say(&format!("arm64: building {} ...", path.display()));
            let built = Command::new(root.join("scripts/build"))
                .arg(TRIPLE)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !built || !path.exists() {
                return Err(format!(
                    "the binary is missing and `scripts/build {TRIPLE}` failed"
                ));
            }
        }
        Ok(path)
    })
    .clone()
}

/// Serialises the tests (see the module comment on timings) and returns the
/// binary, or `None` after printing why the test is skipped (a failure with
/// `E2E_REQUIRE_QEMU=1`). `emulated`: the test runs the binary under qemu.
fn setup(test: &str, emulated: bool) -> Option<(MutexGuard<'static, ()>, PathBuf)> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let ready = if emulated { emulation() } else { Ok(()) };
    match ready.and_then(|()| arm64_bin()) {
        Ok(bin) => Some((guard, bin)),
        Err(why) => {
            if std::env::var("E2E_REQUIRE_QEMU").as_deref() == Ok("1") {
                panic!("{test}: E2E_REQUIRE_QEMU=1 but {why}");
            }
            say(&format!("arm64: skipping {test}: {why}"));
            None
        }
    }
}

/// Starts the aarch64 hookinit under qemu as PID 1 of a new PID namespace.
fn start(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child", QEMU])
        .arg(bin)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Running::start(cmd, true)
}

fn run(bin: &Path, args: &[&str], env: &[(&str, &str)]) -> Finished {
    start(bin, args, env).wait(Duration::from_secs(60))
}

/// Waits until the app's stdout contains `needle`; panics after `timeout`.
/// Not `Running::wait_for`: it also reads stderr, where hookinit's events
/// quote the app's script and the hooks' argv, needle included.
fn wait_stdout(r: &Running, needle: &str, timeout: Duration) {
    let end = Instant::now() + timeout;
    while !r.stdout().contains(needle) {
        assert!(
            Instant::now() < end,
            "no {needle:?} on stdout within {timeout:?}\nstdout: {}\nstderr: {}",
            r.stdout(),
            r.stderr()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[test]
fn builds_static_aarch64_under_600k() {
    let Some((_lock, bin)) = setup("builds_static_aarch64_under_600k", false) else {
        return;
    };
    let data = std::fs::read(&bin).unwrap();
    // ELF64, little endian, e_machine EM_AARCH64 (183), e_type ET_EXEC (static, non-PIE).
    assert_eq!(&data[..6], b"\x7fELF\x02\x01", "not a 64-bit LE ELF");
    assert_eq!(u16::from_le_bytes([data[18], data[19]]), 183, "not aarch64");
    assert_eq!(u16::from_le_bytes([data[16], data[17]]), 2, "not ET_EXEC");
    // No PT_INTERP (3) and no PT_DYNAMIC (2) program header: fully static.
    let phoff = u64::from_le_bytes(data[32..40].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes([data[54], data[55]]) as usize;
    let phnum = u16::from_le_bytes([data[56], data[57]]) as usize;
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
        assert!(p_type != 2 && p_type != 3, "program header {i} is {p_type}");
    }
    assert!(data.len() < 600_000, "{} bytes", data.len());
    // And it runs: the version under emulation, if qemu is here.
    if let Err(why) = emulation() {
        say(&format!("arm64: not running --version: {why}"));
        return;
    }
    let out = Command::new(QEMU)
        .arg(&bin)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("hookinit "),
        "{out:?}"
    );
}

#[test]
fn exit_codes_as_pid1() {
    let Some((_lock, bin)) = setup("exit_codes_as_pid1", true) else {
        return;
    };
    // The app's parent is PID 1: hookinit, i.e. the qemu process.
    let f = run(&bin, &["--", "sh", "-c", "echo ppid=$PPID; exit 0"], &[]);
    assert_eq!(f.code, Some(0), "{f:?}");
    assert!(f.stdout.contains("ppid=1\n"), "{f:?}");

    let f = run(&bin, &["--", "sh", "-c", "exit 7"], &[]);
    assert_eq!(f.code, Some(7), "{f:?}");

    // Killed by SIGTERM (sent by itself): 128 + 15.
    let f = run(&bin, &["--", "sh", "-c", "kill -TERM $$; sleep 5"], &[]);
    assert_eq!(f.code, Some(143), "{f:?}");
    assert!(f.elapsed < Duration::from_secs(4), "{f:?}");
}

/// USR1 and real-time signals (host numbering) are forwarded to the app; TERM
/// stops it and hookinit exits 143. 32 and 33 are left out: qemu cannot
/// deliver them (module comment).
#[test]
fn forwards_signals_as_pid1() {
    let Some((_lock, bin)) = setup("forwards_signals_as_pid1", true) else {
        return;
    };
    let script = "for s in USR1 34 40 64; do trap \"echo got-$s\" $s; done; \
                  echo ready ppid=$PPID; while :; do sleep 0.05; done";
    let mut r = start(&bin, &["--", "sh", "-c", script], &[]);
    wait_stdout(&r, "ready", Duration::from_secs(20));
    assert!(r.stdout().contains("ready ppid=1\n"), "{}", r.stdout());
    // What the host runs as PID 1 of the namespace is qemu, not hookinit itself.
    let exe = std::fs::read_link(format!("/proc/{}/exe", r.pid)).unwrap();
    assert!(exe.ends_with(QEMU), "{}", exe.display());

    for (sig, name) in [(libc::SIGUSR1, "USR1"), (34, "34"), (40, "40"), (64, "64")] {
        r.signal(sig);
        wait_stdout(&r, &format!("got-{name}\n"), Duration::from_secs(10));
    }
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(Duration::from_secs(20));
    assert_eq!(f.code, Some(143), "{f:?}");
    assert!(f.elapsed < Duration::from_secs(5), "{f:?}");
    // Each signal arrived once.
    for name in ["USR1", "34", "40", "64"] {
        let n = f.stdout.matches(&format!("got-{name}\n")).count();
        assert_eq!(n, 1, "{name}: {}", f.stdout);
    }
}

/// 200 orphans re-parented to hookinit (PID 1): every one is reaped (200
/// `Reaped` events) and none is left as a zombie, checked from inside the
/// namespace while hookinit still runs.
#[test]
fn reaps_200_orphans_as_pid1() {
    let Some((_lock, bin)) = setup("reaps_200_orphans_as_pid1", true) else {
        return;
    };
    // `(sleep 1 &)`: the subshell exits at once, its sleep is orphaned to PID 1.
    // Then wait (at most 30 s) until no sleep is left, live or zombie.
    let script = r#"
        for i in $(seq 200); do (sleep 1 &); done
        echo "orphans-of-pid1=$(ps -e -o ppid=,comm= | awk '$1 == 1 && $2 == "sleep"' | wc -l)"
        end=$(( $(date +%s) + 30 ))
        while :; do
            z=$(ps -e -o stat= | grep -c '^Z')
            s=$(ps -e -o comm= | grep -c '^sleep$')
            [ "$z" -eq 0 ] && [ "$s" -eq 0 ] && break
            [ "$(date +%s)" -ge "$end" ] && { echo "left: zombies=$z sleeps=$s"; ps -e -o pid,ppid,stat,comm; exit 1; }
            sleep 0.1
        done
        echo zombies=0
    "#;
    let f = run(
        &bin,
        &["--", "sh", "-c", script],
        &[("HOOKINIT_VERBOSITY", "3")],
    );
    assert_eq!(f.code, Some(0), "{f:?}");
    assert!(f.stdout.contains("zombies=0\n"), "{}", f.stdout);
    let reaped = f.events().iter().filter(|e| *e == "Reaped").count();
    assert_eq!(reaped, 200, "Reaped events\n{}", f.stderr);
    // Sanity: the orphans really were PID 1's children while they ran.
    let orphans: usize = f
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("orphans-of-pid1="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(orphans > 0, "{}", f.stdout);
}

/// PreStop (exec) runs to completion before the app gets TERM.
#[test]
fn pre_stop_runs_before_the_stop_signal() {
    let Some((_lock, bin)) = setup("pre_stop_runs_before_the_stop_signal", true) else {
        return;
    };
    let dir = TempDir::new("arm64-prestop");
    let marker = dir.path("order");
    let m = marker.to_str().unwrap();
    let hook = serde_json::json!([
        "sh",
        "-c",
        format!("echo prestop-start >> {m}; sleep 0.5; echo prestop-end >> {m}")
    ])
    .to_string();
    let app = format!(
        "trap 'echo app-term >> {m}; exit 0' TERM; echo ready; while :; do sleep 0.05; done"
    );
    let mut r = start(
        &bin,
        &["--", "sh", "-c", &app],
        &[("HOOKINIT_PRE_STOP", &hook)],
    );
    wait_stdout(&r, "ready", Duration::from_secs(20));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(Duration::from_secs(20));
    assert_eq!(f.code, Some(0), "{f:?}");
    assert_eq!(
        dir.read("order"),
        "prestop-start\nprestop-end\napp-term\n",
        "{f:?}"
    );
    assert!(f.elapsed >= Duration::from_millis(500), "{f:?}");
    assert!(f.elapsed < Duration::from_secs(5), "{f:?}");
    let events = f.events();
    let at = |name: &str| {
        events
            .iter()
            .position(|e| e == name)
            .unwrap_or_else(|| panic!("no {name} event: {events:?}"))
    };
    assert!(
        at("Killing") < at("HookStarted")
            && at("HookStarted") < at("HookSucceeded")
            && at("HookSucceeded") < at("StopSignalSent"),
        "{events:?}"
    );
}

/// A PreStop that hangs, HOOKINIT_GRACE_PERIOD=3: PreStop may use 3 s minus
/// the app's reserve (min(2 s, 3 s / 2) = 1.5 s), so the app gets TERM at
/// ~1.5 s; it ignores TERM and is SIGKILLed at 3 s; hookinit exits right after.
///
/// Lower bounds are exact (hookinit may not act early, and the clock starts
/// before the signal is sent). The upper bounds are the issue's own (TERM by
/// 2.0 s, exit by 3.5 s), not loosened for emulation: measured here, qemu adds
/// under 20 ms to each step (TERM at 1.505-1.517 s, exit at 3.007-3.050 s,
/// also with four busy loops on the 2 shared cores), so the slack left is for
/// load, as in the native suite.
#[test]
fn hung_pre_stop_is_bounded_by_the_grace_period() {
    let Some((_lock, bin)) = setup("hung_pre_stop_is_bounded_by_the_grace_period", true) else {
        return;
    };
    let app = "trap 'echo app-got-term' TERM; echo ready; while :; do sleep 0.05; done";
    let mut r = start(
        &bin,
        &["--", "sh", "-c", app],
        &[
            ("HOOKINIT_GRACE_PERIOD", "3"),
            ("HOOKINIT_PRE_STOP", r#"["sleep","100"]"#),
        ],
    );
    wait_stdout(&r, "ready", Duration::from_secs(20));
    r.mark();
    let sent = Instant::now();
    r.signal(libc::SIGTERM);
    wait_stdout(&r, "app-got-term", Duration::from_secs(5));
    let term_at = sent.elapsed();
    let f = r.wait(Duration::from_secs(20));
    eprintln!(
        "app got TERM after {:.3}s, hookinit exited after {:.3}s",
        secs(term_at),
        secs(f.elapsed)
    );
    assert!(
        term_at >= Duration::from_millis(1500) && term_at <= Duration::from_millis(2000),
        "app got TERM after {:.3}s\n{f:?}",
        secs(term_at)
    );
    assert!(
        f.elapsed >= Duration::from_millis(3000) && f.elapsed <= Duration::from_millis(3500),
        "hookinit exited after {:.3}s\n{f:?}",
        secs(f.elapsed)
    );
    assert_eq!(f.code, Some(137), "the app is SIGKILLed: {f:?}");
    let events = f.events();
    for name in [
        "HookStarted",
        "FailedPreStopHook",
        "StopSignalSent",
        "SigkillSent",
    ] {
        assert!(events.iter().any(|e| e == name), "no {name}: {events:?}");
    }
    assert_eq!(f.stdout.matches("app-got-term").count(), 1, "{f:?}");
}
