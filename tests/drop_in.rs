//! hookinit under the names of the inits it replaces: `tini`, `tini-static`
//! and `docker-init` (tini's flags and `TINI_*`), `dumb-init` (its flags and
//! `DUMB_INIT_SETSID`), `catatonit` and `podman-init` (catatonit's flags).
//! Written from each peer's documentation and its behaviour observed here
//! (Debian's tini 0.19.0, dumb-init 1.2.5, catatonit 0.1.7): every flag and
//! variable, exit codes, where signals go, `-p`, `-e`, `--rewrite` and the
//! verbosity levels. Each run is hookinit as PID 1 of a fresh PID namespace,
//! started through a symlink of that name.
mod common;
use common::*;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

const SOON: Duration = Duration::from_secs(20);
const RUN: Duration = Duration::from_secs(60);
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn links_dir() -> PathBuf {
    std::env::temp_dir().join(format!("hookinit-drop-in-{}", std::process::id()))
}

extern "C" fn remove_links() {
    let _ = std::fs::remove_dir_all(links_dir());
}

/// A symlink to the binary under test with the peer's name (in a directory
/// of this test binary's, removed when it exits).
fn named(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(remove_links) };
        let d = links_dir();
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for n in [
            "tini",
            "tini-static",
            "docker-init",
            "dumb-init",
            "catatonit",
            "podman-init",
        ] {
            std::os::unix::fs::symlink(bin(), d.join(n)).unwrap();
        }
        d
    });
    dir.join(name)
}

/// `unshare ... NAME ARGS` with exactly `PATH` and `env`, as `common::command`.
fn command_as(name: &str, pid1: bool, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = if pid1 {
        let mut c = Command::new("unshare");
        c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(named(name));
        c
    } else {
        Command::new(named(name))
    };
    cmd.args(args).env_clear().env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Running {
    Running::start(command_as(name, true, args, env), true)
}

fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Finished {
    start(name, args, env).wait(RUN)
}

/// `[flags..., "--", "sh", "-c", script, "sh"]`.
fn sh<'a>(flags: &[&'a str], script: &'a str) -> Vec<&'a str> {
    let mut v = flags.to_vec();
    v.extend(["--", "sh", "-c", script, "sh"]);
    v
}

fn count(text: &str, line: &str) -> usize {
    text.lines().filter(|l| *l == line).count()
}

/// hookinit's own lines on stderr.
fn hookinit_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("hookinit: "))
        .collect()
}

/// Waits for `line` as a whole line of stdout (event lines on stderr quote
/// the app's command, which may contain it).
fn wait_line(r: &Running, line: &str) {
    if !eventually(SOON, || r.stdout().lines().any(|l| l == line)) {
        panic!(
            "no {line:?}\nstdout: {}\nstderr: {}",
            r.stdout(),
            r.stderr()
        );
    }
}

fn kill(pid: i32, sig: i32) {
    // SAFETY: kill takes any pid and signal.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// The app waits for signals; TERM ends it with 0.
const WAITS: &str = "trap 'echo got-TERM; exit 0' TERM\necho ready\nwhile :; do sleep 0.05; done";

// ---- versions, help, license, usage errors ------------------------------------

/// moby's `parseInitVersion` (daemon/info_unix.go), as `docker info` runs it
/// on `docker-init --version`: (version, commit), or an error.
fn docker_parse_init_version(v: &str) -> Result<(String, String), String> {
    let mut parts: Vec<&str> = v.split(" - ").collect();
    let mut commit = String::new();
    if parts.len() >= 2 {
        let git: Vec<&str> = parts[1].trim().split('.').collect();
        if git.len() == 2 && git[0] == "git" {
            commit = git[1].to_string();
        }
    }
    parts[0] = parts[0].trim();
    let version = parts[0]
        .strip_prefix("tini version ")
        .unwrap_or("")
        .to_string();
    if version.is_empty() && commit.is_empty() {
        return Err(format!("unknown output format: {v}"));
    }
    Ok((version, commit))
}

#[test]
fn version_lines_are_the_ones_docker_and_scripts_parse() {
    let tini_line = format!("tini version {VERSION}_hookinit - git.hookinit\n");
    for (name, flag) in [
        ("tini", "--version"),
        ("tini-static", "--version"),
        ("docker-init", "--version"),
        ("catatonit", "--version"),
        ("catatonit", "-V"),
        ("podman-init", "-V"),
    ] {
        let f = run(name, &[flag], &[]);
        assert_eq!(
            (f.code, f.stdout.as_str()),
            (Some(0), tini_line.as_str()),
            "{name} {flag}: {f:?}"
        );
        assert_eq!(
            docker_parse_init_version(&f.stdout),
            Ok((format!("{VERSION}_hookinit"), "hookinit".to_string())),
            "{name}"
        );
    }
    // dumb-init prints its version on stderr.
    for flag in ["--version", "-V"] {
        let f = run("dumb-init", &[flag], &[]);
        assert_eq!(f.code, Some(0), "{f:?}");
        assert_eq!(
            f.stderr,
            format!("dumb-init v{VERSION}_hookinit\n"),
            "{f:?}"
        );
    }
    // Under its own name, hookinit's line is unchanged.
    let f = Running::start(command(true, &["--version"], &[]), true).wait(RUN);
    assert_eq!(f.stdout, format!("hookinit {VERSION}\n"));
}

#[test]
fn help_and_license_exit_0_on_the_peers_stream() {
    // tini: help and license on stdout; dumb-init and catatonit: help on stderr.
    for (name, flag, on_stdout, needle) in [
        ("tini", "-h", true, "-p SIG"),
        ("tini", "-l", true, "MIT OR Apache-2.0"),
        ("dumb-init", "-h", false, "--rewrite"),
        ("dumb-init", "--help", false, "--single-child"),
        ("catatonit", "-h", false, "-g"),
        ("catatonit", "-L", true, "MIT OR Apache-2.0"),
    ] {
        let f = run(name, &[flag], &[]);
        let (text, other) = match on_stdout {
            true => (&f.stdout, &f.stderr),
            false => (&f.stderr, &f.stdout),
        };
        assert_eq!(f.code, Some(0), "{name} {flag}: {f:?}");
        assert!(
            text.contains(needle) && other.is_empty(),
            "{name} {flag}: {f:?}"
        );
    }
}

#[test]
fn usage_errors_exit_1_under_a_peers_name_and_start_nothing() {
    for (name, args) in [
        ("tini", &[][..]),
        ("tini", &["-x", "--", "true"]),
        ("tini", &["-e", "256", "--", "true"]),
        ("tini", &["-e", "x", "--", "true"]),
        ("tini", &["-p", "KILL", "--", "true"]),
        ("tini", &["-p"]),
        ("tini", &["--pre-stop", "[\"true\"]", "true"]),
        ("docker-init", &["--version", "true"]),
        ("dumb-init", &["-r", "0:1", "true"]),
        ("dumb-init", &["--rewrite", "15", "true"]),
        ("dumb-init", &["--bogus", "true"]),
        ("catatonit", &["-P"]),
        ("catatonit", &["-z", "true"]),
    ] {
        let mut a = args.to_vec();
        let marker = TempDir::new("usage");
        let touch = format!("touch {}", marker.path("ran").display());
        a.extend(["sh", "-c", &touch]);
        let f = run(name, if args.is_empty() { args } else { &a }, &[]);
        assert_eq!(f.code, Some(1), "{name} {args:?}: {f:?}");
        assert!(f.stderr.starts_with("hookinit: "), "{name} {args:?}: {f:?}");
        assert!(
            !marker.path("ran").exists(),
            "{name} {args:?} ran the command"
        );
    }
    // An unknown HOOKINIT_ variable is an error in every mode.
    let f = run("tini", &["--", "true"], &[("HOOKINIT_PRE_STPO", "x")]);
    assert_eq!(f.code, Some(1), "{f:?}");
    assert!(
        f.stderr.contains("HOOKINIT_PRE_STPO: unknown variable"),
        "{f:?}"
    );
}

// ---- exit codes ---------------------------------------------------------------

#[test]
fn exit_codes_pass_through_and_tini_e_remaps_them_to_0() {
    for name in ["tini", "dumb-init", "catatonit"] {
        assert_eq!(run(name, &sh(&[], "exit 7"), &[]).code, Some(7), "{name}");
        // Killed by a signal: 128 + its number.
        assert_eq!(
            run(name, &sh(&[], "kill -USR1 $$"), &[]).code,
            Some(138),
            "{name}"
        );
        // The command cannot be run: 127 not found, 126 not executable.
        assert_eq!(
            run(name, &["--", "/nonexistent/app"], &[]).code,
            Some(127),
            "{name}"
        );
        assert_eq!(
            run(name, &["--", "/etc/passwd"], &[]).code,
            Some(126),
            "{name}"
        );
    }
    for (flags, script, code) in [
        (&["-e", "7"][..], "exit 7", 0),
        (&["-e7", "-e", "9"], "exit 9", 0),
        (&["-e", "7"], "exit 8", 8),
        (&["-e", "138"], "kill -USR1 $$", 0),
        (&["-e", "0"], "exit 0", 0),
    ] {
        let f = run("tini", &sh(flags, script), &[]);
        assert_eq!(f.code, Some(code), "{flags:?} {script}: {f:?}");
    }
}

// ---- where signals go ----------------------------------------------------------

/// The app starts a child in its own process group and (after `--`) prints
/// how many USR1 that child saw when the app gets USR1, and the app's session
/// id and pid. The child takes the signals with `sigwait` (exact counts).
const GROUP_PROBE: &str = r#"
echo "app pid=$$ sid=$(cut -d' ' -f6 /proc/$$/stat)"
trap 'got=1; echo app-got-USR1' USR1
python3 -c '
import signal
wanted = {signal.SIGUSR1, signal.SIGUSR2}
signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
print("child-ready", flush=True)
n = 0
while signal.sigwait(wanted) == signal.SIGUSR1:
    n += 1
print("child-usr1-count=%d" % n, flush=True)
' &
child=$!
echo app-ready
while [ -z "$got" ]; do sleep 0.05; done
kill -USR2 $child
wait $child
exit 0
"#;

/// (USR1 seen by the app's child, whether the app leads its own session).
fn where_usr1_goes(name: &str, flags: &[&str], env: &[(&str, &str)]) -> (String, bool) {
    let r = start(name, &sh(flags, GROUP_PROBE), env);
    wait_line(&r, "child-ready");
    wait_line(&r, "app-ready");
    r.signal(libc::SIGUSR1);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
    assert_eq!(count(&f.stdout, "app-got-USR1"), 1, "{f:?}");
    let child = f
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("child-usr1-count="))
        .unwrap_or_else(|| panic!("{f:?}"))
        .to_string();
    let ids = f
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("app "))
        .unwrap_or_else(|| panic!("{f:?}"));
    let leader = ids == "pid=2 sid=2";
    (child, leader)
}

#[test]
fn tini_and_catatonit_signal_the_app_only_and_the_group_with_g() {
    let only = ("0".to_string(), false);
    let group = ("1".to_string(), false);
    for name in ["tini", "docker-init", "catatonit", "podman-init"] {
        assert_eq!(where_usr1_goes(name, &[], &[]), only, "{name}");
        assert_eq!(where_usr1_goes(name, &["-g"], &[]), group, "{name} -g");
    }
    // Set at all counts, as tini's getenv.
    let env = [("TINI_KILL_PROCESS_GROUP", "")];
    assert_eq!(where_usr1_goes("tini", &[], &env), group);
}

#[test]
fn dumb_init_runs_the_app_in_a_session_and_signals_its_group() {
    let session = ("1".to_string(), true);
    let only = ("0".to_string(), false);
    assert_eq!(where_usr1_goes("dumb-init", &[], &[]), session);
    assert_eq!(where_usr1_goes("dumb-init", &["-c"], &[]), only);
    assert_eq!(where_usr1_goes("dumb-init", &["--single-child"], &[]), only);
    let env = [("DUMB_INIT_SETSID", "0")];
    assert_eq!(where_usr1_goes("dumb-init", &[], &env), only);
    // Any other value keeps the session, as dumb-init.
    let env = [("DUMB_INIT_SETSID", "1")];
    assert_eq!(where_usr1_goes("dumb-init", &[], &env), session);
    // HOOKINIT_SIGNAL_GROUP still decides where signals go.
    let env = [("HOOKINIT_SIGNAL_GROUP", "0")];
    assert_eq!(where_usr1_goes("dumb-init", &[], &env), ("0".into(), true));
}

/// Traps USR1, USR2, QUIT and TERM, each printing `got-NAME`; USR2 and
/// QUIT end the app with 3 and 4.
const TRAPS: &str = "ulimit -c 0
trap 'echo got-USR1' USR1
trap 'echo got-USR2; exit 3' USR2
trap 'echo got-QUIT; exit 4' QUIT
trap 'echo got-TERM; exit 5' TERM
echo ready
while :; do sleep 0.05; done";

#[test]
fn dumb_init_rewrite_handles_a_signal_as_another_or_drops_it() {
    // USR1 arrives as USR2.
    let r = start("dumb-init", &sh(&["-r", "10:12"], TRAPS), &[]);
    wait_line(&r, "ready");
    r.signal(libc::SIGUSR1);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(3), "{f:?}");
    assert_eq!(
        (count(&f.stdout, "got-USR1"), count(&f.stdout, "got-USR2")),
        (0, 1),
        "{f:?}"
    );

    // s:0 drops it: USR1 and USR2 sent together, only USR2 arrives.
    let r = start("dumb-init", &sh(&["--rewrite=10:0"], TRAPS), &[]);
    wait_line(&r, "ready");
    r.signal(libc::SIGUSR1);
    r.signal(libc::SIGUSR2);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(3), "{f:?}");
    assert_eq!(count(&f.stdout, "got-USR1"), 0, "{f:?}");

    // The runtime's TERM becomes QUIT: the stop starts and the app gets QUIT.
    let r = start("dumb-init", &sh(&["-v", "-r", "15:3"], TRAPS), &[]);
    wait_line(&r, "ready");
    r.signal(libc::SIGTERM);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(4), "{f:?}");
    assert_eq!(
        (count(&f.stdout, "got-QUIT"), count(&f.stdout, "got-TERM")),
        (1, 0),
        "{f:?}"
    );
    assert!(
        f.stderr
            .contains("hookinit: Rewritten: SIGTERM handled as SIGQUIT (--rewrite)"),
        "{f:?}"
    );
    // The rewrite allocates nothing on the stop path.
    assert!(
        f.stderr.contains("; 0 heap allocations after start-up"),
        "{f:?}"
    );
}

#[test]
fn dumb_init_rewrite_of_term_to_a_plain_signal_starts_no_stop() {
    let r = start("dumb-init", &sh(&["-v", "-r", "15:10"], TRAPS), &[]);
    wait_line(&r, "ready");
    r.signal(libc::SIGTERM);
    wait_line(&r, "got-USR1");
    r.signal(libc::SIGUSR2);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(3), "{f:?}");
    assert_eq!(count(&f.stdout, "got-TERM"), 0, "{f:?}");
    assert!(!f.events().iter().any(|e| e == "Killing"), "{f:?}");
}

/// The state letter of `/proc/PID/stat`.
fn state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|s| s.trim().chars().next())
        .unwrap_or('?')
}

#[test]
fn dumb_init_turns_tstp_into_stop_for_the_session_and_forwards_it_with_c() {
    // One process, no forks: a shell's vfork child stopped before its exec
    // would leave the shell waiting in D rather than T.
    let r = start("dumb-init", &sh(&[], "echo ready; exec sleep 1000"), &[]);
    wait_line(&r, "ready");
    let app = children(r.pid)[0];
    r.signal(libc::SIGTSTP);
    assert!(
        eventually(SOON, || state(app) == 'T'),
        "the app was not stopped: {}",
        r.stderr()
    );
    // As PID 1 hookinit does not stop itself (the kernel would not let it).
    assert_ne!(state(r.pid), 'T');
    r.signal(libc::SIGCONT);
    assert!(
        eventually(SOON, || state(app) != 'T'),
        "the app was not continued"
    );
    r.signal(libc::SIGTERM);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(143), "{f:?}");

    // Single-child mode: TSTP is forwarded as it is.
    let script =
        "trap 'echo got-TSTP' TSTP; trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done";
    let r = start("dumb-init", &sh(&["-c"], script), &[]);
    wait_line(&r, "ready");
    r.signal(libc::SIGTSTP);
    wait_line(&r, "got-TSTP");
    r.signal(libc::SIGTERM);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
}

#[test]
fn dumb_init_suspends_itself_on_terminal_stop_signals_when_not_pid1() {
    for flags in [&[][..], &["-c"]] {
        let mut args = flags.to_vec();
        args.extend(["--", "sh", "-c", "echo ready; exec sleep 1000"]);
        let r = Running::start(command_as("dumb-init", false, &args, &[]), false);
        wait_line(&r, "ready");
        let app = children(r.pid)[0];
        for sig in [libc::SIGTSTP, libc::SIGTTIN, libc::SIGTTOU] {
            r.signal(sig);
            let both = || state(r.pid) == 'T' && state(app) == 'T';
            assert!(eventually(SOON, both), "{flags:?} {sig}: {}", r.stderr());
            r.signal(libc::SIGCONT);
            let neither = || state(r.pid) != 'T' && state(app) != 'T';
            assert!(eventually(SOON, neither), "{flags:?} {sig}: {}", r.stderr());
        }
        r.signal(libc::SIGTERM);
        let f = r.wait(RUN);
        assert_eq!(f.code, Some(143), "{f:?}");
    }
}

/// Started on a new terminal (as `docker run -it` does): the app's pid,
/// process group and the terminal's foreground group, as the app sees them.
const ON_A_TTY: &str = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1]] + sys.argv[2:] + ["sh", "-c",
        "echo app=$$ group=$(cut -d' ' -f5 /proc/$$/stat) foreground=$(cut -d' ' -f8 /proc/$$/stat)"])
out = b""
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode())
sys.exit(os.waitstatus_to_exitcode(status))
"#;

#[test]
fn dumb_init_with_a_terminal_gives_the_app_the_foreground() {
    for flags in [&[][..], &["-c"]] {
        let out = Command::new("python3")
            .arg("-c")
            .arg(ON_A_TTY)
            .arg(named("dumb-init"))
            .args(flags)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("app="))
            .unwrap_or_else(|| panic!("{text}"));
        let ids: Vec<&str> = line
            .split(' ')
            .map(|f| f.split('=').nth(1).unwrap())
            .collect();
        // The app leads its own group, which is the terminal's foreground.
        assert!(ids[0] == ids[1] && ids[1] == ids[2], "{flags:?}: {line}");
    }
}

// ---- tini -p, -s, -w ------------------------------------------------------------

/// Kills hookinit's parent (`unshare`): hookinit gets its `-p` signal.
fn kill_parent(r: &Running) {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", r.pid)).unwrap();
    let ppid: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kill(ppid, libc::SIGKILL);
}

#[test]
fn tini_p_signal_arrives_when_the_parent_dies() {
    // A plain signal is forwarded to the app.
    let r = start("tini", &sh(&["-p", "SIGUSR2"], TRAPS), &[]);
    wait_line(&r, "ready");
    // Nothing before the parent dies (signals are forwarded in order).
    r.signal(libc::SIGUSR1);
    wait_line(&r, "got-USR1");
    assert!(!r.stdout().contains("got-USR2"), "{}", r.stdout());
    kill_parent(&r);
    wait_line(&r, "got-USR2");

    // A stop signal starts the stop: PreStop first, then the app's TERM.
    let env = [("HOOKINIT_PRE_STOP", r#"["sh","-c","echo pre-stop-ran"]"#)];
    let r = start("tini", &sh(&["-p", "SIGTERM"], TRAPS), &env);
    wait_line(&r, "ready");
    kill_parent(&r);
    wait_line(&r, "got-TERM");
    let out = r.stdout();
    let (pre, term) = (out.find("pre-stop-ran"), out.find("got-TERM"));
    assert!(pre.is_some() && pre < term, "{out}");
}

/// Not PID 1: the app leaves an orphan; whose child does it become?
fn orphan_is_adopted(flags: &[&str], env: &[(&str, &str)]) -> bool {
    let dir = TempDir::new("subreaper");
    let script = format!(
        "sh -c 'sleep 60 & echo orphan=$!'\necho ready\nwhile [ ! -e {}/go ]; do sleep 0.02; done",
        dir.0.display()
    );
    let mut args = flags.to_vec();
    args.extend(["--", "sh", "-c", &script]);
    let r = Running::start(command_as("tini", false, &args, env), false);
    wait_line(&r, "ready");
    let orphan: i32 = r
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("orphan="))
        .unwrap()
        .parse()
        .unwrap();
    let parent: i32 = proc_status_field(orphan, "PPid").unwrap().parse().unwrap();
    let hookinit = r.pid;
    kill(orphan, libc::SIGKILL);
    std::fs::write(dir.path("go"), "").unwrap();
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
    parent == hookinit
}

#[test]
fn tini_s_forces_the_subreaper_over_hookinit_subreaper_0() {
    assert!(orphan_is_adopted(&["-s"], &[("HOOKINIT_SUBREAPER", "0")]));
    assert!(!orphan_is_adopted(&[], &[("HOOKINIT_SUBREAPER", "0")]));
    // Not PID 1, hookinit is a subreaper anyway (tini only warns).
    assert!(orphan_is_adopted(&[], &[]));
}

#[test]
fn tini_w_warns_for_each_orphan_reaped() {
    let script = "(true &); (true &); sleep 0.2";
    let f = run("tini", &sh(&["-w"], script), &[]);
    assert_eq!(f.code, Some(0), "{f:?}");
    let reaped = hookinit_lines(&f.stderr)
        .iter()
        .filter(|l| l.starts_with("hookinit: Reaped: pid ") && l.ends_with(" exited with 0"))
        .count();
    assert_eq!(reaped, 2, "{f:?}");
    let f = run("tini", &sh(&[], script), &[]);
    assert_eq!(
        (f.code, hookinit_lines(&f.stderr).len()),
        (Some(0), 0),
        "{f:?}"
    );
}

// ---- verbosity --------------------------------------------------------------------

/// hookinit's event names in a run of `name` stopped by TERM, with a PreStop
/// that fails (`false`).
fn stop_events(name: &str, flags: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut all = vec![("HOOKINIT_PRE_STOP", r#"["false"]"#)];
    all.extend_from_slice(env);
    let r = start(name, &sh(flags, WAITS), &all);
    wait_line(&r, "ready");
    r.signal(libc::SIGTERM);
    let f = r.wait(RUN);
    assert_eq!(f.code, Some(0), "{f:?}");
    f.events()
}

#[test]
fn verbosity_follows_each_peers_flags_and_variables() {
    let has = |events: &[String], e: &str| events.iter().any(|x| x == e);
    // Default: failures only (the peers print only warnings and errors).
    for name in ["tini", "dumb-init", "catatonit"] {
        let ev = stop_events(name, &[], &[]);
        assert_eq!(ev, ["FailedPreStopHook"], "{name}");
    }
    // tini -v: lifecycle events; -vv and more: debug.
    let ev = stop_events("tini", &["-v"], &[]);
    assert!(
        has(&ev, "Killing") && has(&ev, "StopSignalSent") && !has(&ev, "Started"),
        "{ev:?}"
    );
    for flag in ["-vv", "-vvv"] {
        assert!(has(&stop_events("tini", &[flag], &[]), "Started"), "{flag}");
    }
    // TINI_VERBOSITY sets the level, over -v as in tini; 0 is silent.
    assert_eq!(
        stop_events("tini", &["-vv"], &[("TINI_VERBOSITY", "1")]),
        ["FailedPreStopHook"]
    );
    assert!(stop_events("tini", &[], &[("TINI_VERBOSITY", "0")]).is_empty());
    assert!(has(
        &stop_events("tini", &[], &[("TINI_VERBOSITY", "3")]),
        "Started"
    ));
    // HOOKINIT_VERBOSITY wins over the peer's variable.
    let env = [("TINI_VERBOSITY", "0"), ("HOOKINIT_VERBOSITY", "2")];
    let ev = stop_events("docker-init", &[], &env);
    assert!(has(&ev, "Killing") && !has(&ev, "Started"), "{ev:?}");
    // dumb-init -v and CATATONIT_DEBUG: debug.
    assert!(has(&stop_events("dumb-init", &["-v"], &[]), "Started"));
    assert!(has(
        &stop_events("dumb-init", &["--verbose"], &[]),
        "Started"
    ));
    assert!(has(
        &stop_events("catatonit", &[], &[("CATATONIT_DEBUG", "1")]),
        "Started"
    ));
}

// ---- leftovers ------------------------------------------------------------------

#[test]
fn leftovers_get_term_before_hookinit_exits_under_every_name() {
    // The app leaves a process that needs its TERM to finish its work.
    let script = "sh -c \"trap 'echo left-got-TERM; exit 0' TERM; touch $1/ready; \
                  while :; do sleep 0.05; done\" &\n\
                  while [ ! -e $1/ready ]; do sleep 0.01; done; exit 0";
    for name in ["tini", "dumb-init", "catatonit"] {
        let dir = TempDir::new("leftover");
        let d = dir.0.to_str().unwrap();
        let f = run(name, &["--", "sh", "-c", script, "sh", d], &[]);
        assert_eq!(f.code, Some(0), "{name}: {f:?}");
        assert_eq!(count(&f.stdout, "left-got-TERM"), 1, "{name}: {f:?}");
    }
}

// ---- hooks come along -----------------------------------------------------------

#[test]
fn hookinit_variables_work_under_every_name() {
    let env = [
        (
            "HOOKINIT_POST_START",
            r#"["sh","-c","echo post-start-ran"]"#,
        ),
        ("HOOKINIT_PRE_STOP", r#"["sh","-c","echo pre-stop-ran"]"#),
    ];
    for name in [
        "tini",
        "tini-static",
        "docker-init",
        "dumb-init",
        "catatonit",
        "podman-init",
    ] {
        let r = start(name, &sh(&[], WAITS), &env);
        wait_line(&r, "post-start-ran");
        wait_line(&r, "ready");
        r.signal(libc::SIGTERM);
        let f = r.wait(RUN);
        assert_eq!(f.code, Some(0), "{name}: {f:?}");
        let (pre, term) = (f.stdout.find("pre-stop-ran"), f.stdout.find("got-TERM"));
        assert!(pre.is_some() && pre < term, "{name}: {f:?}");
    }
}

/// A launcher that ignores SIGQUIT and SIGHUP (a shell's `trap '' QUIT`,
/// pytest's own start-up): as dumb-init, hookinit gives the app every signal
/// at its default, so `kill -QUIT $$` ends it (131); as tini and catatonit,
/// what hookinit inherited passes on unchanged, and the app survives it.
#[test]
fn dumb_init_resets_inherited_ignored_signals_tini_keeps_them() {
    for (name, want) in [("dumb-init", 131), ("tini", 3), ("catatonit", 3)] {
        let mut cmd = command_as(
            name,
            true,
            &sh(&[], "kill -QUIT $$; kill -HUP $$; exit 3"),
            &[],
        );
        // SAFETY: only rt_sigaction between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                for sig in [libc::SIGQUIT, libc::SIGHUP] {
                    hookinit::os::signals::set_ignored(sig, true)?;
                }
                Ok(())
            });
        }
        let f = Running::start(cmd, true).wait(RUN);
        assert_eq!(f.code, Some(want), "{name}: {f:?}");
    }
}
