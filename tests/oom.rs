//! `HOOKINIT_REPORT_OOM` end to end: hookinit as PID 1 of a fresh PID
//! namespace inside a memory cgroup the test makes under /sys/fs/cgroup
//! (v1 `memory/` or v2, whichever holds the memory controller) with a small
//! limit and no swap, and an app (or hook) that allocates past it: `tail
//! /dev/zero` keeps the "line" it never finds the end of. Real OOM kills by
//! the kernel, against a plain SIGKILL from outside.

mod common;
use common::*;

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LIMIT: u64 = 48 << 20;

/// A memory cgroup of this test, removed on drop (once its processes are gone).
struct Cgroup {
    dir: PathBuf,
    v2: bool,
}

impl Cgroup {
    fn new(tag: &str) -> Cgroup {
        assert!(is_root(), "needs root: it makes a cgroup");
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("hookinit-oom-{tag}-{}-{n}", std::process::id());
        let v1 = PathBuf::from("/sys/fs/cgroup/memory");
        let (dir, v2) = if v1.join("memory.limit_in_bytes").exists() {
            (v1.join(name), false)
        } else {
            let root = PathBuf::from("/sys/fs/cgroup");
            let controllers =
                std::fs::read_to_string(root.join("cgroup.subtree_control")).unwrap_or_default();
            if !controllers.split_whitespace().any(|c| c == "memory") {
                std::fs::write(root.join("cgroup.subtree_control"), "+memory")
                    .expect("enable the memory controller for child cgroups");
            }
            (root.join(name), true)
        };
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        let cg = Cgroup { dir, v2 };
        if v2 {
            cg.write("memory.max", &LIMIT.to_string());
            cg.write("memory.swap.max", "0");
        } else {
            cg.write("memory.limit_in_bytes", &LIMIT.to_string());
            // No swap either (the kernel may have none; then the file is absent).
            if cg.dir.join("memory.memsw.limit_in_bytes").exists() {
                cg.write("memory.memsw.limit_in_bytes", &LIMIT.to_string());
            }
        }
        cg
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.dir.join(file);
        std::fs::write(&path, value).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// The file hookinit reads the counter from.
    fn events(&self) -> String {
        let file = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        self.dir.join(file).display().to_string()
    }

    /// hookinit as PID 1 of a new PID namespace, in this cgroup.
    fn start(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut inner = vec![
            "unshare".to_string(),
            "--pid".into(),
            "--fork".into(),
            "--mount-proc".into(),
            "--kill-child".into(),
            bin().display().to_string(),
        ];
        inner.extend(args.iter().map(|a| a.to_string()));
        let procs = self.dir.join("cgroup.procs");
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(format!("echo $$ > {} && exec \"$@\"", procs.display()))
            .arg("sh")
            .args(&inner)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Running::start(cmd, true)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The namespace's processes die with hookinit; their charge may
        // take a moment to leave.
        let end = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.dir).is_err() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// hookinit's event lines named `name` (text format), without the prefix.
fn events<'a>(stderr: &'a str, name: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .filter(|l| l.starts_with(&format!("{name}:")))
        .collect()
}

const REPORT: (&str, &str) = ("HOOKINIT_REPORT_OOM", "1");

#[test]
fn an_app_killed_by_the_oom_killer_is_named_and_still_exits_137() {
    let cg = Cgroup::new("app");
    let f = cg
        .start(&["--", "tail", "/dev/zero"], &[REPORT])
        .wait(Duration::from_secs(30));
    assert_eq!(f.code, Some(137), "{f:#?}");
    let oom = events(&f.stderr, "OOMKilled");
    assert_eq!(oom.len(), 1, "{f:#?}");
    let want = "OOMKilled: the app (pid 2) was OOM-killed (oom_kill 0 -> 1); memory limit 50331648 bytes, peak ";
    assert!(oom[0].starts_with(want), "{}\n{f:#?}", oom[0]);
    // The peak is the limit, give or take a page or so.
    let peak: u64 = oom[0]
        .rsplit_once(", peak ")
        .and_then(|(_, b)| b.strip_suffix(" bytes"))
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no peak in {}", oom[0]));
    assert!(
        peak > LIMIT - (1 << 20) && peak <= LIMIT,
        "peak {peak}\n{f:#?}"
    );
}

/// SIGKILL from outside to hookinit's one child, the app; how it ended.
fn kill_app(r: Running) -> Finished {
    let mut app = Vec::new();
    assert!(
        eventually(Duration::from_secs(5), || {
            app = children(r.pid);
            app.len() == 1
        }),
        "no app under hookinit {}",
        r.pid
    );
    // SAFETY: kill takes any pid and signal; the result is checked.
    assert_eq!(unsafe { libc::kill(app[0], libc::SIGKILL) }, 0);
    r.wait(Duration::from_secs(10))
}

#[test]
fn a_plain_sigkill_from_outside_is_not_called_oom() {
    let cg = Cgroup::new("kill");
    let r = cg.start(&["--", "sleep", "1000"], &[REPORT]);
    let f = kill_app(r);
    assert_eq!(f.code, Some(137), "{f:#?}");
    assert!(!f.stderr.contains("OOMKilled"), "{f:#?}");
    assert!(!f.stderr.contains("MemoryCgroup"), "{f:#?}");
}

/// A process the app left, OOM-killed and reaped by hookinit, is named, and
/// its kill counted: the app's later SIGKILL from outside is not OOM.
#[test]
fn an_orphan_oom_kill_is_named_and_moves_the_count_the_app_is_judged_by() {
    let cg = Cgroup::new("orphan");
    let app = "(tail /dev/zero &); exec sleep 1000";
    let r = cg.start(&["--", "sh", "-c", app], &[REPORT]);
    r.wait_for(
        "OOMKilled: a process the app left (pid ",
        Duration::from_secs(20),
    );
    let f = kill_app(r);
    assert_eq!(f.code, Some(137), "{f:#?}");
    let oom = events(&f.stderr, "OOMKilled");
    assert_eq!(oom.len(), 1, "{f:#?}");
    assert!(
        oom[0].contains("was OOM-killed (oom_kill 0 -> 1)"),
        "{f:#?}"
    );
}

#[test]
fn without_the_setting_an_oom_kill_is_a_bare_137() {
    let cg = Cgroup::new("off");
    let f = cg
        .start(&["--", "tail", "/dev/zero"], &[])
        .wait(Duration::from_secs(30));
    assert_eq!(f.code, Some(137), "{f:#?}");
    assert_eq!(f.stderr, "", "{f:#?}");
}

/// A PostStart hook that allocates past the limit: named as the hook's
/// process, in JSON, before the hook's failure; the container stops (exit 4).
#[test]
fn a_hook_killed_by_the_oom_killer_is_named_in_json() {
    let cg = Cgroup::new("hook");
    let f = cg
        .start(
            &["--", "sleep", "1000"],
            &[
                REPORT,
                ("HOOKINIT_POST_START", r#"["tail","/dev/zero"]"#),
                ("HOOKINIT_LOG_FORMAT", "json"),
            ],
        )
        .wait(Duration::from_secs(30));
    assert_eq!(f.code, Some(4), "{f:#?}");
    let lines: Vec<Value> = f
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let names: Vec<&str> = lines.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        &names[..3],
        ["HookStarted", "OOMKilled", "FailedPostStartHook"],
        "{f:#?}"
    );
    let msg = lines[1]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("the PostStart hook's process (pid 3) was OOM-killed (oom_kill 0 -> 1); memory limit 50331648 bytes"),
        "{msg}"
    );
    assert_eq!(
        lines[2]["message"],
        "PostStart hook failed: command 'tail /dev/zero' was killed by SIGKILL"
    );
}

#[test]
fn check_names_the_counter_file() {
    let cg = Cgroup::new("check");
    let f = cg
        .start(&["--check", "--report-oom=1", "app"], &[])
        .wait(Duration::from_secs(10));
    assert_eq!(f.code, Some(0), "{f:#?}");
    let line = f
        .stdout
        .lines()
        .find(|l| l.starts_with("OOM kills:"))
        .unwrap_or_else(|| panic!("{f:#?}"));
    assert_eq!(
        line,
        format!("OOM kills:      reported (OOMKilled), from {}", cg.events())
    );
}

#[path = "common/e2e.rs"]
mod e2e;

/// Docker's `--memory` (no swap), the way users meet it: a `FROM scratch`
/// image with hookinit and a static busybox whose `tail /dev/zero` runs
/// past the limit. Under Docker hookinit finds the container's own cgroup
/// (its cgroup namespace, or the mount's root on cgroup v1).
#[test]
fn docker_memory_limit_oom_kill_is_named() {
    let ctx = TempDir::new("oom-image");
    let rest = "ENTRYPOINT [\"/hookinit\", \"--\"]\n";
    let Some(image) = e2e::scratch_image("oom", &bin(), &ctx.0, rest) else {
        return;
    };
    let opts = [
        "--memory",
        "32m",
        "--memory-swap",
        "32m",
        "-e",
        "HOOKINIT_REPORT_OOM=1",
    ];
    let c = e2e::Container::start("oom", &image, &opts, &["/busybox", "tail", "/dev/zero"]);
    assert_eq!(c.exit_code(), 137, "{}", c.logs().all());
    assert_eq!(c.inspect("{{.State.OOMKilled}}"), "true");
    let logs = c.logs();
    let oom = events(&logs.err, "OOMKilled");
    assert_eq!(oom.len(), 1, "{}", logs.all());
    assert!(
        oom[0].contains(" was OOM-killed (oom_kill 0 -> 1); memory limit 33554432 bytes, peak "),
        "{}",
        logs.all()
    );
    // `docker kill -s KILL` of the app from outside: not OOM.
    let c = e2e::Container::start(
        "oom-kill",
        &image,
        &["-e", "HOOKINIT_REPORT_OOM=1"],
        &["/busybox", "sleep", "1000"],
    );
    let app = {
        let mut kids = Vec::new();
        assert!(eventually(Duration::from_secs(10), || {
            kids = children(c.pid());
            kids.len() == 1
        }));
        kids[0]
    };
    // SAFETY: kill takes any pid and signal; the result is checked.
    assert_eq!(unsafe { libc::kill(app, libc::SIGKILL) }, 0);
    assert_eq!(c.exit_code(), 137, "{}", c.logs().all());
    let logs = c.logs();
    assert_eq!(logs.err, "", "{}", logs.all());
}
