//! Core init behaviours, without lifecycle hooks: exit codes, signal
//! forwarding, reaping, leftovers at exit, start-up errors, configuration
//! errors, the signal configuration and descriptors handed to the app,
//! subreaper mode and idle wake-ups. Every test drives the release binary,
//! as PID 1 of a fresh PID namespace unless it is about non-PID-1 mode.
mod common;
use common::*;

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Upper bound for anything that should happen "soon" (readiness markers,
/// a forwarded signal's effect); generous, as the machine is shared.
const SOON: Duration = Duration::from_secs(20);
/// Upper bound for a whole run.
const RUN: Duration = Duration::from_secs(60);

// ---- helpers ----------------------------------------------------------------

/// `hookinit -- sh -c SCRIPT sh ARGS...` as argv (the script sees ARGS as $1...).
fn sh_argv<'a>(script: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--", "sh", "-c", script, "sh"];
    v.extend_from_slice(args);
    v
}

/// Sends `sig` to `pid`, asserting it was delivered.
fn kill(pid: i32, sig: i32) {
    // SAFETY: kill takes any pid and signal.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// The process exists and is neither a zombie nor dead.
fn alive(pid: i32) -> bool {
    matches!(proc_status_field(pid, "State"), Some(s) if !s.starts_with('Z') && !s.starts_with('X'))
}

/// Host pids of processes whose command line contains `tag`.
fn host_procs_with(tag: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(tag))
                .unwrap_or(false)
        })
        .collect()
}

/// Kills what a failing test would leave running: hookinit's process tree
/// (as PID 1, SIGKILL to hookinit takes the whole namespace with it) and,
/// with a tag, every host process whose command line contains it. Acts only
/// while the test is panicking.
struct Guard {
    pid: i32,
    tag: Option<String>,
}

fn guard(r: &Running, tag: Option<&str>) -> Guard {
    Guard {
        pid: r.pid,
        tag: tag.map(str::to_string),
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !thread::panicking() {
            return;
        }
        let mut victims = Vec::new();
        // Only if the pid is still hookinit (not reaped and reused).
        let exe = fs::read_link(format!("/proc/{}/exe", self.pid)).ok();
        if exe.is_some() && exe == fs::canonicalize(bin()).ok() {
            let mut queue = vec![self.pid];
            while let Some(pid) = queue.pop() {
                victims.push(pid);
                queue.extend(children(pid));
            }
        }
        if let Some(tag) = &self.tag {
            victims.extend(host_procs_with(tag));
        }
        for pid in victims {
            // SAFETY: plain syscall on processes this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// The value after `key=` on a line of `text`.
fn value_of(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_string())
}

/// Waits until the app printed `line` as a whole line on stdout. (Not
/// `Running::wait_for`: that also searches stderr, where hookinit's debug log
/// quotes the app's command line, script text included.)
fn wait_line(r: &Running, line: &str) {
    assert!(
        eventually(SOON, || count_lines(&r.stdout(), line) > 0),
        "no line {line:?} within {SOON:?}\nstdout: {}\nstderr: {}",
        r.stdout(),
        r.stderr()
    );
}

/// Waits until the app printed a `key=...` line on stdout and returns the value.
fn wait_value(r: &Running, key: &str) -> String {
    let mut value = None;
    assert!(
        eventually(RUN, || {
            value = value_of(&r.stdout(), key);
            value.is_some()
        }),
        "no {key}= within {RUN:?}\nstdout: {}\nstderr: {}",
        r.stdout(),
        r.stderr()
    );
    value.unwrap()
}

/// How many lines of `text` are exactly `line`.
fn count_lines(text: &str, line: &str) -> usize {
    text.lines().filter(|l| *l == line).count()
}

fn sig_bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Raw `rt_sigprocmask(SIG_BLOCK)`: glibc's wrapper refuses some real-time signals.
fn block_raw(set: u64) -> io::Result<()> {
    // SAFETY: `set` is a 64-signal kernel set; no old set is requested.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            &set as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Marks every descriptor from 3 up close-on-exec, so the spawned process
/// inherits only what the test hands it on purpose (whatever the test runner
/// itself inherited stays out).
fn cloexec_from_3() -> io::Result<()> {
    // SAFETY: plain syscall.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Runs `cmd` (a hookinit command line) to completion. Unlike the harness's
/// `run_pid1`, it never needs hookinit's pid, so a run that ends within a
/// millisecond (usage errors, `--help`) cannot race the lookup.
fn finish(mut cmd: Command) -> Finished {
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn hookinit");
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(RUN) {
        Ok(out) => {
            let out = out.expect("wait for hookinit");
            Finished {
                code: out.status.code(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                elapsed: started.elapsed(),
            }
        }
        Err(_) => {
            // unshare --kill-child takes hookinit with it.
            // SAFETY: kill takes any pid and signal.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("hookinit did not exit within {RUN:?}");
        }
    }
}

/// `run_pid1` without the pid lookup (see [`finish`]).
fn run1(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut cmd = command(true, args, &[]);
    cmd.envs(env.iter().copied());
    finish(cmd)
}

// ---- 1. exit codes ------------------------------------------------------------

#[test]
fn exit_code_propagates_as_pid1() {
    for (script, want) in [
        ("exit 0", 0),
        ("exit 7", 7),
        ("kill -KILL $$", 128 + 9),
        ("kill -TERM $$", 128 + 15),
    ] {
        let f = run1(&sh_argv(script, &[]), &[]);
        assert_eq!(f.code, Some(want), "{script}: {f:?}");
    }
}

#[test]
fn exit_code_propagates_not_pid1() {
    for (script, want) in [("exit 0", 0), ("exit 7", 7), ("kill -KILL $$", 137)] {
        let f = run_plain(&sh_argv(script, &[]), &[]);
        assert_eq!(f.code, Some(want), "{script}: {f:?}");
    }
}

// ---- 2. signal forwarding -------------------------------------------------------

/// Traps every signal in `names`, printing `got-NAME` and counting; exits 5
/// once `total` signals were seen.
const COUNTING_TRAPS: &str = r#"
ulimit -c 0
n=0
for s in $NAMES; do trap "echo got-$s; n=\$((n+1))" $s; done
echo ready
while [ $n -lt $TOTAL ]; do sleep 0.05; done
exit 5
"#;

fn counting_traps(names: &[&str], total: usize) -> String {
    format!(
        "NAMES='{}'; TOTAL={total}\n{COUNTING_TRAPS}",
        names.join(" ")
    )
}

#[test]
fn every_signal_is_forwarded_with_stop_on_none() {
    let sigs = [
        ("HUP", libc::SIGHUP),
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("WINCH", libc::SIGWINCH),
        ("TERM", libc::SIGTERM),
    ];
    let names: Vec<&str> = sigs.iter().map(|s| s.0).collect();
    let script = counting_traps(&names, sigs.len());
    let r = Running::pid1(&sh_argv(&script, &[]), &[("HOOKINIT_STOP_ON", "none")]);
    let _g = guard(&r, None);
    wait_line(&r, "ready");
    for (name, sig) in sigs {
        r.signal(sig);
        wait_line(&r, &format!("got-{name}"));
    }
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(5), "{f:?}");
    for name in names {
        assert_eq!(count_lines(&f.stdout, &format!("got-{name}")), 1, "{f:?}");
    }
    // Pure forwarding: no stop was started.
    assert!(!f.stderr.contains("StopSignalSent"), "{f:?}");
}

#[test]
fn non_stop_signals_are_forwarded_by_default() {
    let sigs = [
        ("HUP", libc::SIGHUP),
        ("USR1", libc::SIGUSR1),
        ("USR2", libc::SIGUSR2),
        ("WINCH", libc::SIGWINCH),
    ];
    let names: Vec<&str> = sigs.iter().map(|s| s.0).collect();
    // Never reaches the count: the app ends on TERM, its stop signal.
    let script = format!(
        "trap 'echo got-TERM; exit 6' TERM\n{}",
        counting_traps(&names, 99)
    );
    let r = Running::pid1(&sh_argv(&script, &[]), &[]);
    let _g = guard(&r, None);
    wait_line(&r, "ready");
    for (name, sig) in sigs {
        r.signal(sig);
        wait_line(&r, &format!("got-{name}"));
    }
    r.signal(libc::SIGTERM);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(6), "{f:?}");
    for name in names.iter().chain(&["TERM"]) {
        assert_eq!(count_lines(&f.stdout, &format!("got-{name}")), 1, "{f:?}");
    }
}

#[test]
fn stop_signals_reach_the_app_as_its_stop_signal() {
    for (name, sig) in [
        ("INT", libc::SIGINT),
        ("QUIT", libc::SIGQUIT),
        ("TERM", libc::SIGTERM),
    ] {
        let script = format!(
            "ulimit -c 0\ntrap 'echo got-{name}; exit 4' {name}\necho ready\nwhile :; do sleep 0.05; done"
        );
        let r = Running::pid1(&sh_argv(&script, &[]), &[]);
        let _g = guard(&r, None);
        wait_line(&r, "ready");
        r.signal(sig);
        let f = r.wait(RUN);
        assert_eq!(f.code, Some(4), "{name}: {f:?}");
        assert_eq!(count_lines(&f.stdout, &format!("got-{name}")), 1, "{f:?}");
        assert!(
            f.stderr
                .contains(&format!("StopSignalSent: sent SIG{name} to the app (pid ")),
            "{name}: {f:?}"
        );
    }
}

// ---- 3. group vs child-only -------------------------------------------------------

fn usr1_count_in_grandchild(env: &[(&str, &str)]) -> String {
    let r = Running::pid1(&sh_argv(GROUP_PROBE, &[]), env);
    let _g = guard(&r, None);
    wait_line(&r, "child-ready");
    wait_line(&r, "app-ready");
    r.signal(libc::SIGUSR1);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
    assert_eq!(count_lines(&f.stdout, "app-got-USR1"), 1, "{f:?}");
    value_of(&f.stdout, "child-usr1-count").unwrap_or_else(|| panic!("{f:?}"))
}

/// The default, as the runtimes themselves, tini and catatonit: the app
/// only (group signalling broke nginx's log reopening: its workers got USR1
/// from hookinit as well as from the master).
#[test]
fn signals_reach_the_app_only_by_default() {
    assert_eq!(usr1_count_in_grandchild(&[]), "0");
    assert_eq!(
        usr1_count_in_grandchild(&[("HOOKINIT_SIGNAL_GROUP", "0")]),
        "0"
    );
}

/// Opt-in, for `sh -c` wrappers that do not exec.
#[test]
fn signal_group_1_signals_the_whole_group() {
    assert_eq!(
        usr1_count_in_grandchild(&[("HOOKINIT_SIGNAL_GROUP", "1")]),
        "1"
    );
}

// ---- 4. zombies -----------------------------------------------------------------

/// 1,000 orphans, then count zombies in the namespace until none is left
/// (reaping is asynchronous; at most ~10 s), then wait for the test's go.
const ORPHANS: &str = r#"
i=0
while [ $i -lt 1000 ]; do (true &); i=$((i+1)); done
echo orphans-made
t=0
while :; do
  z=$(cat /proc/[0-9]*/status 2>/dev/null | grep -c '^State:[[:space:]]*Z')
  [ "$z" = 0 ] && break
  t=$((t+1)); [ $t -ge 200 ] && break
  sleep 0.05
done
echo zombies=$z
while [ ! -e "$1/go" ]; do sleep 0.02; done
exit 0
"#;

#[test]
fn reaps_1000_orphaned_zombies_as_pid1() {
    let dir = TempDir::new("orphans");
    let d = dir.0.to_str().unwrap();
    let r = Running::pid1(&sh_argv(ORPHANS, &[d]), &[("HOOKINIT_VERBOSITY", "3")]);
    let _g = guard(&r, Some(d));
    assert_eq!(wait_value(&r, "zombies"), "0");
    // From the host: none of hookinit's children is a zombie.
    let kids = children(r.pid);
    assert!(!kids.is_empty(), "the app should still run");
    for k in kids {
        let state = proc_status_field(k, "State").unwrap_or_default();
        assert!(!state.starts_with('Z'), "child {k} of hookinit is {state}");
    }
    fs::write(dir.path("go"), "").unwrap();
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
    // Every orphan was reaped by hookinit (the app reaps its own children).
    let reaped = f
        .stderr
        .lines()
        .filter(|l| l.starts_with("hookinit: Reaped: "))
        .count();
    assert_eq!(reaped, 1000, "{}", f.stderr);
}

// ---- 5./6. leftovers at exit -------------------------------------------------------

/// A leftover that reports SIGTERM in `$1/marker` (and its session in `$1/sid`).
const TERM_REPORTER: &str = r#"
trap 'echo TERM > "$1/marker"; exit 0' TERM
echo "$$ $(cut -d' ' -f6 /proc/$$/stat)" > "$1/sid"
echo x > "$1/ready"
while :; do sleep 0.05; done
"#;

/// The app leaves a `sleep 1000` (named after the scratch dir, to find it on
/// the host) and a TERM reporter behind, and exits 3.
const LEAVES_LEFTOVERS: &str = r#"
ln -s "$(command -v sleep)" "$1/sleeper"
"$1/sleeper" 1000 &
echo sleeper=$!
sh "$1/reporter.sh" "$1" &
while [ ! -e "$1/ready" ]; do sleep 0.01; done
echo app-exiting
exit 3
"#;

/// The app starts a grandchild that calls setsid (a new session, outside the
/// app's process group) and exits 0.
const LEAVES_SETSID: &str = r#"
setsid sh "$1/reporter.sh" "$1" &
while [ ! -e "$1/ready" ]; do sleep 0.01; done
echo app-exiting
exit 0
"#;

fn leftovers_are_killed(pid1: bool) {
    let dir = TempDir::new("leftovers");
    fs::write(dir.path("reporter.sh"), TERM_REPORTER).unwrap();
    let d = dir.0.to_str().unwrap();
    let argv = sh_argv(LEAVES_LEFTOVERS, &[d]);
    // A long cleanup timeout: exiting promptly means the leftovers went on SIGTERM.
    let env = [
        ("HOOKINIT_VERBOSITY", "3"),
        ("HOOKINIT_CLEANUP_TIMEOUT", "30"),
    ];
    let mut r = if pid1 {
        Running::pid1(&argv, &env)
    } else {
        Running::plain(&argv, &env)
    };
    let _g = guard(&r, Some(d));
    wait_line(&r, "app-exiting");
    r.mark();
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(3), "{f:?}");
    assert!(f.elapsed < Duration::from_secs(5), "{:?}: {f:?}", f.elapsed);
    assert_eq!(dir.read("marker").trim(), "TERM", "{f:?}");
    let sleeper = value_of(&f.stdout, "sleeper").unwrap();
    assert!(
        f.stderr
            .contains(&format!("Reaped: pid {sleeper} killed by SIGTERM\n")),
        "{f:?}"
    );
    assert!(!f.stderr.contains("SigkillSent"), "{f:?}");
    // The TERM is logged with its count: the sleeper, the reporter and, at
    // that moment perhaps, the reporter's own `sleep 0.05`.
    let counted = f
        .stderr
        .lines()
        .find_map(|l| {
            l.split_once("SigtermSent: SIGTERM sent to ")?
                .1
                .split_once(' ')
        })
        .filter(|(_, rest)| {
            *rest == "process(es) left after the app exited; SIGKILL follows for any that stay"
        })
        .and_then(|(n, _)| n.parse::<usize>().ok());
    assert!(matches!(counted, Some(2 | 3)), "{counted:?}: {f:?}");
    assert_eq!(host_procs_with(d), Vec::<i32>::new());
}

#[test]
fn leftovers_get_sigterm_at_exit_as_pid1() {
    leftovers_are_killed(true);
}

/// hookinit's own processes that it SIGKILLs when the app exits (a
/// cancelled PostStart's shell and its `sleep`, a running exec probe) are
/// not "left after the app exited"; what the app left is, and only that.
#[test]
fn processes_hookinit_kills_itself_are_not_counted_as_leftovers() {
    let probe = r#"{"exec":{"command":["sleep","30"]},"periodSeconds":1,"timeoutSeconds":20}"#;
    for (pid1, app, want) in [
        (true, "sleep 1.5", None),
        (false, "sleep 1.5", None),
        (true, "sleep 100 & sleep 1.5", Some("1 process(es) left")),
        (false, "sleep 100 & sleep 1.5", Some("1 process(es) left")),
    ] {
        let env = [
            ("HOOKINIT_VERBOSITY", "2"),
            ("HOOKINIT_POST_START", r#"["sh","-c","sleep 20"]"#),
            ("HOOKINIT_READINESS_PROBE", probe),
        ];
        let args = ["sh", "-c", app];
        let f = match pid1 {
            true => common::run_pid1(&args, &env),
            false => common::run_plain(&args, &env),
        };
        assert_eq!(f.code, Some(0), "{f:?}");
        assert!(f.stderr.contains("HookCancelled hook=PostStart"), "{f:?}");
        let sent: Vec<&str> = common::events(&f.stderr, "SigtermSent");
        match want {
            None => assert_eq!(sent, Vec::<&str>::new(), "{pid1} {app}: {f:?}"),
            Some(count) => {
                let line = format!(
                    "SIGTERM sent to {count} after the app exited; SIGKILL follows for any that stay"
                );
                assert_eq!(sent.len(), 1, "{pid1} {app}: {f:?}");
                assert!(sent[0].ends_with(&line), "{pid1} {app}: {f:?}");
            }
        }
    }
}

#[test]
fn leftovers_get_sigterm_at_exit_not_pid1() {
    leftovers_are_killed(false);
}

fn setsid_grandchild_is_stopped(pid1: bool) {
    let dir = TempDir::new("setsid");
    fs::write(dir.path("reporter.sh"), TERM_REPORTER).unwrap();
    let d = dir.0.to_str().unwrap();
    let argv = sh_argv(LEAVES_SETSID, &[d]);
    let env = [("HOOKINIT_CLEANUP_TIMEOUT", "30")];
    let mut r = if pid1 {
        Running::pid1(&argv, &env)
    } else {
        Running::plain(&argv, &env)
    };
    let _g = guard(&r, Some(d));
    wait_line(&r, "app-exiting");
    r.mark();
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
    // It really left the app's session.
    let sid = dir.read("sid");
    let ids: Vec<&str> = sid.split_whitespace().collect();
    assert!(ids.len() == 2 && ids[0] == ids[1], "pid and sid: {sid:?}");
    assert_eq!(dir.read("marker").trim(), "TERM", "{f:?}");
    assert!(f.elapsed < Duration::from_secs(5), "{:?}: {f:?}", f.elapsed);
    assert!(!f.stderr.contains("SigkillSent"), "{f:?}");
    assert_eq!(host_procs_with(d), Vec::<i32>::new());
}

/// dumb-init#191: a grandchild in its own session still gets SIGTERM.
#[test]
fn setsid_grandchild_is_stopped_at_exit_as_pid1() {
    setsid_grandchild_is_stopped(true);
}

#[test]
fn setsid_grandchild_is_stopped_at_exit_not_pid1() {
    setsid_grandchild_is_stopped(false);
}

// ---- 7. start-up failures ------------------------------------------------------------

fn assert_one_line_naming(f: &Finished, cmd: &str, what: &str) {
    let lines: Vec<&str> = f.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{f:?}");
    assert!(lines[0].starts_with("hookinit: "), "{f:?}");
    assert!(lines[0].contains(&format!("'{cmd}'")), "{f:?}");
    assert!(lines[0].contains(what), "{f:?}");
    assert_eq!(f.stdout, "", "{f:?}");
}

#[test]
fn missing_command_exits_127() {
    for cmd in ["/nonexistent/hookinit-no-such-cmd", "hookinit-no-such-cmd"] {
        let f = run1(&["--", cmd, "arg"], &[]);
        assert_eq!(f.code, Some(127), "{f:?}");
        assert_one_line_naming(&f, cmd, "not found");
    }
}

#[test]
fn non_executable_file_exits_126() {
    let dir = TempDir::new("noexec");
    let file = dir.path("script");
    fs::write(&file, "#!/bin/sh\nexit 0\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    let file = file.to_str().unwrap();
    let f = run1(&["--", file], &[]);
    assert_eq!(f.code, Some(126), "{f:?}");
    assert_one_line_naming(&f, file, "permission denied");
    // A directory cannot be executed either.
    let d = dir.0.to_str().unwrap();
    let f = run1(&["--", d], &[]);
    assert_eq!(f.code, Some(126), "{f:?}");
    assert_one_line_naming(&f, d, "permission denied");
}

// ---- 8. configuration errors ----------------------------------------------------------

#[test]
fn bad_env_values_are_rejected_before_the_app_runs() {
    let dir = TempDir::new("badenv");
    let ran = dir.path("ran");
    let ran_s = ran.to_str().unwrap();
    let cases = [
        ("HOOKINIT_VERBOSITY", "9"),
        ("HOOKINIT_LOG_FORMAT", "xml"),
        ("HOOKINIT_SIGNAL_GROUP", "maybe"),
        ("HOOKINIT_EXIT_REMAP", "abc"),
        ("HOOKINIT_GRACE_PERIOD", "-1"),
        ("HOOKINIT_CLEANUP_TIMEOUT", "soon"),
        ("HOOKINIT_SUBREAPER", "2"),
        ("HOOKINIT_STOP_ON", "BOGUS"),
        ("HOOKINIT_STOP_SIGNAL", "NOPE"),
    ];
    for (var, value) in cases {
        let f = run1(&["--", "touch", ran_s], &[(var, value)]);
        assert_eq!(f.code, Some(2), "{var}={value}: {f:?}");
        assert!(!ran.exists(), "{var}={value}: the app ran");
        let lines: Vec<&str> = f.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{var}={value}: {f:?}");
        assert!(
            lines[0].starts_with(&format!("hookinit: {var}: ")),
            "{var}={value}: {f:?}"
        );
        assert!(lines[0].contains(value), "{var}={value}: {f:?}");
    }
    // An unknown HOOKINIT_ variable (a typo) is an error too.
    let f = run1(&["--", "touch", ran_s], &[("HOOKINIT_VERBOSTY", "3")]);
    assert_eq!(f.code, Some(2), "{f:?}");
    assert!(
        f.stderr.starts_with("hookinit: HOOKINIT_VERBOSTY: "),
        "{f:?}"
    );
    // The same value given as a flag names the flag.
    let f = run1(&["--verbosity=9", "--", "touch", ran_s], &[]);
    assert_eq!(f.code, Some(2), "{f:?}");
    assert!(f.stderr.starts_with("hookinit: --verbosity: "), "{f:?}");
    assert!(f.stderr.contains("\"9\""), "{f:?}");
    assert!(!ran.exists(), "the app ran");
}

#[test]
fn no_command_is_a_usage_error() {
    for args in [&[][..], &["--"][..], &["--verbosity=1"][..]] {
        let f = run1(args, &[]);
        assert_eq!(f.code, Some(2), "{args:?}: {f:?}");
        assert_eq!(f.stderr.lines().count(), 1, "{args:?}: {f:?}");
        assert!(f.stderr.contains("no command"), "{args:?}: {f:?}");
        assert_eq!(f.stdout, "", "{f:?}");
    }
}

#[test]
fn help_and_version_exit_0() {
    for flag in ["--help", "-h"] {
        let f = run1(&[flag], &[]);
        assert_eq!(f.code, Some(0), "{f:?}");
        assert!(f.stdout.contains("Usage: hookinit"), "{f:?}");
        for var in [
            "HOOKINIT_LIFECYCLE",
            "HOOKINIT_POST_START",
            "HOOKINIT_PRE_STOP",
            "HOOKINIT_GRACE_PERIOD",
            "HOOKINIT_STOP_SIGNAL",
            "HOOKINIT_STOP_ON",
            "HOOKINIT_POST_START_TIMEOUT",
            "HOOKINIT_PRE_STOP_TIMEOUT",
            "HOOKINIT_READY_FILE",
            "HOOKINIT_PRE_STOP_ON_EXIT",
            "HOOKINIT_CLEANUP_TIMEOUT",
            "HOOKINIT_SIGNAL_GROUP",
            "HOOKINIT_SUBREAPER",
            "HOOKINIT_EXIT_REMAP",
            "HOOKINIT_VERBOSITY",
            "HOOKINIT_LOG_FORMAT",
            "HOOKINIT_CONFIG",
        ] {
            assert!(f.stdout.contains(var), "{var} missing from --help");
        }
        assert_eq!(f.stderr, "", "{f:?}");
    }
    for flag in ["--version", "-V"] {
        let f = run1(&[flag], &[]);
        assert_eq!(f.code, Some(0), "{f:?}");
        assert_eq!(
            f.stdout,
            format!("hookinit {}\n", env!("CARGO_PKG_VERSION")),
            "{f:?}"
        );
        assert_eq!(f.stderr, "", "{f:?}");
    }
}

// ---- 9. signal configuration handed to the app ------------------------------------------

/// Runs `cat /proc/self/status` as the app, hookinit started with `blocked`
/// blocked and `ignored` set to SIG_IGN; returns the app's (SigBlk, SigIgn).
fn app_sigconf(pid1: bool, blocked: u64, ignored: &'static [i32]) -> (String, String) {
    let mut cmd = command(pid1, &["--", "cat", "/proc/self/status"], &[]);
    // SAFETY: only async-signal-safe syscalls between fork and exec; this
    // runs after std's own reset of SIGPIPE and of the mask.
    unsafe {
        cmd.pre_exec(move || {
            all_default()?;
            block_raw(blocked)?;
            for &sig in ignored {
                hookinit::os::signals::set_ignored(sig, true)?;
            }
            Ok(())
        });
    }
    let f = finish(cmd);
    assert_eq!(f.code, Some(0), "{f:?}");
    let field = |name: &str| {
        f.stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {f:?}"))
    };
    (field("SigBlk"), field("SigIgn"))
}

#[test]
fn app_gets_empty_signal_configuration_unchanged() {
    for pid1 in [true, false] {
        assert_eq!(
            app_sigconf(pid1, 0, &[]),
            ("0000000000000000".into(), "0000000000000000".into()),
            "pid1={pid1}"
        );
    }
}

#[test]
fn app_gets_inherited_blocked_and_ignored_signals() {
    let rt = 37; // SIGRTMIN+3 (glibc's SIGRTMIN is 34)
    let blocked = sig_bit(libc::SIGUSR1) | sig_bit(rt);
    let ignored = sig_bit(libc::SIGUSR2) | sig_bit(libc::SIGPIPE);
    let want = (format!("{blocked:016x}"), format!("{ignored:016x}"));
    assert_eq!(want.0, "0000001000000200");
    assert_eq!(want.1, "0000000000001800");
    for pid1 in [true, false] {
        assert_eq!(
            app_sigconf(pid1, blocked, &[libc::SIGUSR2, libc::SIGPIPE]),
            want,
            "pid1={pid1}"
        );
    }
}

// ---- 10. descriptors ---------------------------------------------------------------------

/// Runs `ls /proc/self/fd` as the app, hookinit started with only 0, 1, 2
/// (and fd 7 on /dev/null when `extra_fd7`); returns the sorted fd numbers.
fn app_fds(pid1: bool, extra_fd7: bool) -> Vec<u32> {
    let devnull = fs::File::open("/dev/null").unwrap(); // close-on-exec
    let src = devnull.as_raw_fd();
    let mut cmd = command(pid1, &["--", "ls", "/proc/self/fd"], &[]);
    // SAFETY: only async-signal-safe syscalls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            cloexec_from_3()?;
            if extra_fd7 {
                if src == 7 {
                    if libc::fcntl(7, libc::F_SETFD, 0) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(src, 7) != 7 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let f = finish(cmd);
    drop(devnull);
    assert_eq!(f.code, Some(0), "{f:?}");
    let mut fds: Vec<u32> = f
        .stdout
        .split_whitespace()
        .map(|s| s.parse().unwrap_or_else(|_| panic!("{f:?}")))
        .collect();
    fds.sort();
    fds
}

#[test]
fn app_has_only_the_inherited_descriptors() {
    // fd 3 is the directory `ls` itself opens to read /proc/self/fd: the
    // lowest free number, so any descriptor hookinit leaked would show up.
    for pid1 in [true, false] {
        assert_eq!(app_fds(pid1, false), [0, 1, 2, 3], "pid1={pid1}");
        assert_eq!(app_fds(pid1, true), [0, 1, 2, 3, 7], "pid1={pid1}");
    }
}

// ---- 11. fault and libc-reserved signals, not PID 1 --------------------------------------------

#[test]
fn fault_and_reserved_signals_are_forwarded_not_fatal_when_not_pid1() {
    let sigs = [
        ("34", 34),
        ("SEGV", libc::SIGSEGV),
        ("BUS", libc::SIGBUS),
        ("ILL", libc::SIGILL),
        ("FPE", libc::SIGFPE),
        ("ABRT", libc::SIGABRT),
        ("TRAP", libc::SIGTRAP),
        ("SYS", libc::SIGSYS),
    ];
    let names: Vec<&str> = sigs.iter().map(|s| s.0).collect();
    let script = counting_traps(&names, sigs.len()).replace("exit 5", "exit 42");
    let r = Running::plain(&sh_argv(&script, &[]), &[]);
    let _g = guard(&r, None);
    wait_line(&r, "ready");
    for (i, (name, sig)) in sigs.into_iter().enumerate() {
        r.signal(sig);
        wait_line(&r, &format!("got-{name}"));
        // After the last one the app exits, and hookinit with it.
        if i + 1 < sigs.len() {
            assert!(alive(r.pid), "hookinit died of {name}");
        }
    }
    let f = r.wait(RUN);
    // hookinit lived to report the app's own exit code.
    assert_eq!(f.code, Some(42), "{f:?}");
    for name in names {
        assert_eq!(count_lines(&f.stdout, &format!("got-{name}")), 1, "{f:?}");
    }
}

/// glibc and musl reserve 32 and 33 (and musl 34): a set built with libc's
/// sigfillset would leave them out, and they would kill hookinit. hookinit is
/// started with every signal at SIG_DFL, so the app (`sleep`, which does not
/// catch them) dies of them.
#[test]
fn signals_32_and_33_are_forwarded_not_fatal_when_not_pid1() {
    for sig in [32, 33] {
        let mut cmd = command(false, &["--", "sleep", "30"], &[]);
        // SAFETY: only async-signal-safe syscalls between fork and exec.
        unsafe { cmd.pre_exec(all_default) };
        let r = Running::start(cmd, false);
        let _g = guard(&r, None);
        // The app runs once hookinit has a child that is `sleep`.
        assert!(
            eventually(SOON, || children(r.pid).iter().any(|&c| {
                fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|s| s.trim() == "sleep")
            })),
            "the app never started"
        );
        r.signal(sig);
        let f = r.wait(RUN);
        // The app died of the signal; hookinit lived to report it.
        assert_eq!(f.code, Some(128 + sig), "signal {sig}: {f:?}");
    }
}

// ---- 12. subreaper when not PID 1 ----------------------------------------------------------

/// The app orphans a `sleep 1000` and waits for the test's go.
const ORPHAN_ONE: &str = r#"
(sleep 1000 & echo gc=$!)
echo orphaned
while [ ! -e "$1/go" ]; do sleep 0.02; done
exit 0
"#;

#[test]
fn orphans_are_reparented_to_hookinit_when_not_pid1() {
    let dir = TempDir::new("subreaper");
    let d = dir.0.to_str().unwrap();
    let r = Running::plain(&sh_argv(ORPHAN_ONE, &[d]), &[]);
    let _g = guard(&r, Some(d));
    wait_line(&r, "orphaned");
    let gc: i32 = wait_value(&r, "gc").parse().unwrap();
    let ppid = proc_status_field(gc, "PPid");
    kill(gc, libc::SIGKILL);
    assert_eq!(ppid, Some(r.pid.to_string()), "the orphan's parent");
    // hookinit reaps it: no zombie is left behind.
    assert!(
        eventually(SOON, || proc_status_field(gc, "State").is_none()),
        "orphan {gc} not reaped: {:?}",
        proc_status_field(gc, "State")
    );
    fs::write(dir.path("go"), "").unwrap();
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
}

#[test]
fn subreaper_0_leaves_orphans_to_the_system() {
    let dir = TempDir::new("nosubreaper");
    let d = dir.0.to_str().unwrap();
    let r = Running::plain(&sh_argv(ORPHAN_ONE, &[d]), &[("HOOKINIT_SUBREAPER", "0")]);
    let _g = guard(&r, Some(d));
    let hookinit = r.pid;
    wait_line(&r, "orphaned");
    let gc: i32 = wait_value(&r, "gc").parse().unwrap();
    let ppid: i32 = proc_status_field(gc, "PPid").unwrap().parse().unwrap();
    kill(gc, libc::SIGKILL);
    fs::write(dir.path("go"), "").unwrap();
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
    assert_ne!(
        ppid, hookinit,
        "hookinit adopted the orphan with HOOKINIT_SUBREAPER=0"
    );
    assert_ne!(ppid, 0);
}

// ---- 13. idle ------------------------------------------------------------------------------

#[test]
fn no_wakeups_while_idle() {
    let r = Running::pid1(&["--", "sleep", "30"], &[]);
    let _g = guard(&r, None);
    assert!(
        eventually(SOON, || children(r.pid).iter().any(|&c| {
            fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|s| s.trim() == "sleep")
        })),
        "the app never started"
    );
    thread::sleep(Duration::from_millis(500));
    let before = context_switches(r.pid);
    thread::sleep(Duration::from_secs(3));
    let after = context_switches(r.pid);
    assert!(before > 0, "no context switch counters for {}", r.pid);
    assert_eq!(after - before, 0, "hookinit woke up while idle");
    r.signal(libc::SIGTERM);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(128 + libc::SIGTERM), "{f:?}");
}

// ---- 14. exit code remap ---------------------------------------------------------------------

#[test]
fn exit_remap_turns_143_into_0() {
    let script = "echo ready; exec sleep 30";
    let r = Running::pid1(&sh_argv(script, &[]), &[("HOOKINIT_EXIT_REMAP", "143:0")]);
    let _g = guard(&r, None);
    wait_line(&r, "ready");
    r.signal(libc::SIGTERM);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
    // Other codes pass through unchanged; a bare code means CODE:0.
    let f = run1(&sh_argv("exit 7", &[]), &[("HOOKINIT_EXIT_REMAP", "143:0")]);
    assert_eq!(f.code, Some(7), "{f:?}");
    let f = run1(&sh_argv("exit 7", &[]), &[("HOOKINIT_EXIT_REMAP", "7:9")]);
    assert_eq!(f.code, Some(9), "{f:?}");
    let f = run1(&sh_argv("exit 7", &[]), &[("HOOKINIT_EXIT_REMAP", "7")]);
    assert_eq!(f.code, Some(0), "{f:?}");
}

// ---- 15. real-time signals as PID 1 -------------------------------------------------------------

#[test]
fn realtime_signals_are_forwarded_as_pid1() {
    let sigs = [("34", 34), ("35", 35), ("39", 39), ("50", 50), ("64", 64)];
    let names: Vec<&str> = sigs.iter().map(|s| s.0).collect();
    let script = counting_traps(&names, sigs.len());
    let r = Running::pid1(&sh_argv(&script, &[]), &[]);
    let _g = guard(&r, None);
    wait_line(&r, "ready");
    for (name, sig) in sigs {
        r.signal(sig);
        wait_line(&r, &format!("got-{name}"));
    }
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(5), "{f:?}");
    for name in names {
        assert_eq!(count_lines(&f.stdout, &format!("got-{name}")), 1, "{f:?}");
    }
}
