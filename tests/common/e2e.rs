//! Docker plumbing for the e2e suites with real servers (`tests/servers.rs`)
//! and other runtimes (`tests/runtimes.rs`): running `docker`, starting the
//! engine when it is installed but not running, this run's id and names, and
//! the clean-up of what a run made (containers, volumes, images), also when
//! an earlier run was interrupted.
//!
//! The naming and labelling scheme is `tests/docker.rs`'s (prefix
//! `hookinit-e2e-PID-NANOS`, label `hookinit.e2e.run=PID-NANOS`), so each
//! suite also removes what an interrupted run of another one left behind.
//! Included with `#[path = "common/e2e.rs"] mod e2e;` (tests/common/mod.rs
//! stays as it is).
#![allow(dead_code)]

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub const LABEL: &str = "hookinit.e2e.run";
/// Prefix of every image repository, container and volume name of a run.
pub const PREFIX: &str = "hookinit-e2e-";
/// How long a container gets to print an expected line.
pub const LOG_TIMEOUT: Duration = Duration::from_secs(20);

/// Whether the variable is `1` (the CI's "this suite must not skip").
pub fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

// ---- running programs ------------------------------------------------------------

/// `PROGRAM ARGS`, output captured.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env("PATH", system_path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

/// `PROGRAM ARGS`, which must succeed; its stdout.
pub fn run_ok(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker ARGS`, output captured.
pub fn docker(args: &[&str]) -> Output {
    run("docker", args)
}

/// `docker ARGS`, which must succeed; its stdout.
pub fn docker_ok(args: &[&str]) -> String {
    run_ok("docker", args)
}

/// The stdout of `docker ARGS`, empty if it fails (for cleaning up).
pub fn docker_lines(args: &[&str]) -> String {
    let out = docker(args);
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        String::new()
    }
}

/// `cmd` with stdout and stderr in one pipe, interleaved as a terminal shows
/// them; the exit code and the text. After `timeout` the command is killed
/// and the code is `None`.
pub fn combined(mut cmd: Command, timeout: Duration) -> (Option<i32>, String) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let mut child = {
        cmd.stdin(Stdio::null())
            .stdout(writer.try_clone().expect("pipe"))
            .stderr(writer);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        drop(cmd); // our write ends: EOF when the command exits
        child
    };
    let collector = thread::spawn(move || {
        let mut text = Vec::new();
        let _ = reader.read_to_end(&mut text);
        text
    });
    let end = Instant::now() + timeout;
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let text = collector.join().unwrap_or_default();
    (code, String::from_utf8_lossy(&text).into_owned())
}

/// `docker ARGS` through [`combined`].
pub fn docker_combined(args: &[&str], timeout: Duration) -> (Option<i32>, String) {
    let mut cmd = Command::new("docker");
    cmd.args(args).env("PATH", system_path());
    combined(cmd, timeout)
}

// ---- the engine and the prerequisites ------------------------------------------------

fn engine_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// PATH plus the sbin directories, where dockerd, runc and debootstrap live.
pub fn system_path() -> String {
    let mut path = std::env::var("PATH").unwrap_or_default();
    for dir in [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ] {
        if !path.split(':').any(|d| d == dir) {
            if !path.is_empty() {
                path.push(':');
            }
            path.push_str(dir);
        }
    }
    path
}

pub fn find_program(name: &str) -> Option<PathBuf> {
    system_path()
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// The last lines of a file, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Makes sure a Docker engine answers: starts dockerd (as tests/docker.rs
/// does) if it is installed and not running. `Err` says why there is none.
pub fn start_engine() -> Result<(), String> {
    static ENGINE: OnceLock<Result<(), String>> = OnceLock::new();
    ENGINE.get_or_init(start_engine_once).clone()
}

fn start_engine_once() -> Result<(), String> {
    match Command::new("docker").arg("--version").output() {
        Err(e) => return Err(format!("docker is not installed ({e})")),
        Ok(o) if !o.status.success() => return Err("`docker --version` failed".into()),
        Ok(_) => {}
    }
    if engine_answers() {
        return Ok(());
    }
    let Some(dockerd) = find_program("dockerd") else {
        return Err("the Docker engine is not running and dockerd is not installed".into());
    };
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the Docker engine is not running and starting dockerd needs root".into());
    }
    let log = std::env::temp_dir().join(format!("hookinit-e2e-dockerd-{}.log", std::process::id()));
    let file = fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new(&dockerd)
        .args(["--iptables=false", "--bridge=none"])
        .env("PATH", system_path())
        .stdin(Stdio::null())
        .stdout(file.try_clone().map_err(|e| e.to_string())?)
        .stderr(file)
        // Its own process group: a Ctrl-C meant for cargo leaves it alone.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", dockerd.display()))?;
    eprintln!(
        "e2e: started {} (pid {}), log in {}",
        dockerd.display(),
        child.id(),
        log.display()
    );
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if engine_answers() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            // Another test process may have started an engine at the same time.
            thread::sleep(Duration::from_secs(1));
            if engine_answers() {
                return Ok(());
            }
            return Err(format!(
                "dockerd exited ({status}); the end of {}:\n{}",
                log.display(),
                tail(&log, 15)
            ));
        }
        thread::sleep(Duration::from_millis(200));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "dockerd did not answer within 60 s; the end of {}:\n{}",
        log.display(),
        tail(&log, 15)
    ))
}

/// Whether an ELF file has no program interpreter (is statically linked).
pub fn is_static_elf(bytes: &[u8]) -> bool {
    let u16_at = |o: usize| {
        bytes
            .get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        bytes
            .get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    if !bytes.starts_with(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return false;
    };
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| u32_at(phoff + i * phentsize).is_some_and(|t| t != PT_INTERP))
}

/// A static busybox (package busybox-static).
pub fn static_busybox() -> Result<PathBuf, String> {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if fs::read(p).is_ok_and(|b| is_static_elf(&b)) {
            return Ok(PathBuf::from(p));
        }
    }
    Err(
        "no static busybox at /bin/busybox (package busybox-static; scripts/setup installs it)"
            .into(),
    )
}

/// Builds this run's `FROM scratch` image `name`, holding only `/hookinit`
/// (the binary at `hookinit`) and a static `/busybox`, its Dockerfile going on
/// with `rest`, in `ctx` (an empty scratch directory). `None` when the test is
/// to be skipped: no engine or no static busybox, said on stderr (a panic
/// instead under `E2E_REQUIRE_DOCKER=1`).
pub fn scratch_image(name: &str, hookinit: &Path, ctx: &Path, rest: &str) -> Option<String> {
    let busybox = match start_engine().and_then(|()| static_busybox()) {
        Ok(b) => b,
        Err(why) => {
            assert!(
                !required("E2E_REQUIRE_DOCKER"),
                "E2E_REQUIRE_DOCKER=1, but {why}"
            );
            eprintln!("skipping: {why}");
            return None;
        }
    };
    docker_cleanup_at_exit();
    fs::copy(hookinit, ctx.join("hookinit")).unwrap();
    fs::copy(&busybox, ctx.join("busybox")).unwrap();
    let dockerfile =
        format!("FROM scratch\nCOPY hookinit /hookinit\nCOPY busybox /busybox\n{rest}");
    fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let image = tag(name);
    let label = format!("{LABEL}={}", run_id());
    docker_build(&image, ctx, &[label], "none", Duration::from_secs(120)).unwrap();
    Some(image)
}

// ---- this run's names, and cleaning up -------------------------------------------------

/// This run's id: our pid (to tell whether a run is still alive) and the time.
pub fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        format!("{}-{nanos:08x}", std::process::id())
    })
}

/// An image tag of this run.
pub fn tag(name: &str) -> String {
    format!("{PREFIX}{}:{name}", run_id())
}

/// A unique container (or volume, bundle...) name of this run.
pub fn unique_name(what: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    format!("{PREFIX}{}-{what}-{n}", run_id())
}

/// Whether resources of run `run` (named `PID-RANDOM`) may be removed: not
/// ours, and its test process is gone.
pub fn run_is_stale(run: &str) -> bool {
    let Some(pid) = run.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
        return false;
    };
    run != run_id() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// The run id in a name made by [`tag`] or [`unique_name`].
pub fn run_of(name: &str) -> Option<String> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.split(['-', ':']);
    let pid = parts.next()?;
    let nanos = parts.next()?;
    pid.parse::<u32>().ok()?;
    Some(format!("{pid}-{nanos}"))
}

/// Removes the containers, volumes and images of the runs `which` selects.
pub fn remove_docker_runs(which: impl Fn(&str) -> bool) {
    let format = format!("{{{{.ID}}}} {{{{.Label \"{LABEL}\"}}}}");
    let containers: Vec<String> = docker_lines(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={LABEL}"),
        "--format",
        &format,
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .filter(|(_, run)| which(run))
    .map(|(id, _)| id.to_string())
    .collect();
    if !containers.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(containers.iter().map(String::as_str));
        docker(&args);
    }
    let volumes: Vec<String> = docker_lines(&["volume", "ls", "-q"])
        .lines()
        .filter(|v| run_of(v).is_some_and(|r| which(&r)))
        .map(str::to_string)
        .collect();
    if !volumes.is_empty() {
        let mut args = vec!["volume", "rm", "-f"];
        args.extend(volumes.iter().map(String::as_str));
        docker(&args);
    }
    let images: Vec<String> = docker_lines(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .lines()
        .filter(|i| run_of(i).is_some_and(|r| which(&r)))
        .map(str::to_string)
        .collect();
    if !images.is_empty() {
        let mut args = vec!["rmi", "-f"];
        args.extend(images.iter().map(String::as_str));
        docker(&args);
    }
}

extern "C" fn remove_this_docker_run() {
    if required_keep() {
        eprintln!("e2e: keeping the images {PREFIX}{}:*", run_id());
        return;
    }
    // A panic must not unwind out of an extern "C" function.
    let _ = std::panic::catch_unwind(|| remove_docker_runs(|run| run == run_id()));
}

fn required_keep() -> bool {
    required("E2E_KEEP_IMAGES")
}

/// Once per test binary: removes what interrupted runs left, and arranges
/// for this run's containers, volumes and images to go when the binary exits
/// (libtest returns from `main` or calls `exit`: both run atexit handlers).
pub fn docker_cleanup_at_exit() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        remove_docker_runs(run_is_stale);
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(remove_this_docker_run) };
    });
}

/// `docker build -t TAG --label L... --network NETWORK CTX`, killed after
/// `timeout`; `network` is `none` or `host`.
pub fn docker_build(
    tag: &str,
    ctx: &Path,
    labels: &[String],
    network: &str,
    timeout: Duration,
) -> Result<(), String> {
    let mut cmd = Command::new("docker");
    cmd.args(["build", "--force-rm", "--network", network, "-t", tag]);
    for l in labels {
        cmd.arg("--label").arg(l);
    }
    cmd.arg(ctx).env("PATH", system_path());
    match combined(cmd, timeout) {
        (Some(0), _) => Ok(()),
        (code, out) => Err(format!(
            "docker build -t {tag} failed ({}):\n{out}",
            code.map_or(format!("killed after {timeout:?}"), |c| format!("exit {c}"))
        )),
    }
}

// ---- containers ------------------------------------------------------------------------

/// A container's log, stream by stream: the order of lines within a stream is
/// the order they were written, but not across streams (docker copies the two
/// pipes separately), so ordering checks stay within one stream.
pub struct Logs {
    pub out: String,
    pub err: String,
}

impl Logs {
    pub fn all(&self) -> String {
        format!("--- stdout ---\n{}--- stderr ---\n{}", self.out, self.err)
    }

    /// Panics unless each needle is found in `text` after the previous one.
    pub fn assert_order(&self, text: &str, needles: &[&str]) {
        assert_order(text, needles, &self.all());
    }
}

/// Panics unless each needle is found in `text` after the previous one.
pub fn assert_order(text: &str, needles: &[&str], context: &str) {
    let mut from = 0;
    for needle in needles {
        match text[from..].find(needle) {
            Some(i) => from += i + needle.len(),
            None => {
                panic!("{needle:?} missing, or not after {needles:?}'s earlier items\n{context}")
            }
        }
    }
}

/// A Docker container of this run, removed (killed if need be) on drop.
pub struct Container {
    pub name: String,
}

impl Container {
    /// `docker run -d --network none OPTS IMAGE CMD...`
    pub fn start(test: &str, image: &str, opts: &[&str], cmd: &[&str]) -> Container {
        let c = Container {
            name: unique_name(test),
        };
        let label = format!("{LABEL}={}", run_id());
        let mut args = vec!["run", "-d", "--name", &c.name, "--label", &label];
        args.extend(["--network", "none"]);
        args.extend(opts);
        args.push(image);
        args.extend(cmd);
        docker_ok(&args);
        c
    }

    pub fn logs(&self) -> Logs {
        let out = docker(&["logs", &self.name]);
        Logs {
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Waits until the log holds `needle` `count` times; the log then.
    pub fn wait_for_n(&self, needle: &str, count: usize, timeout: Duration) -> Logs {
        let end = Instant::now() + timeout;
        loop {
            let logs = self.logs();
            if logs.out.matches(needle).count() + logs.err.matches(needle).count() >= count {
                return logs;
            }
            if Instant::now() > end {
                panic!(
                    "{needle:?} not {count} times within {timeout:?} in {}\n{}",
                    self.name,
                    logs.all()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the log has `needle`; the log then.
    pub fn wait_for(&self, needle: &str) -> Logs {
        self.wait_for_n(needle, 1, LOG_TIMEOUT)
    }

    /// `docker stop -t SECS`; how long it took.
    pub fn stop(&self, secs: u32) -> Duration {
        let started = Instant::now();
        docker_ok(&["stop", "-t", &secs.to_string(), &self.name]);
        started.elapsed()
    }

    /// Waits (at most 30 s) for the exit; the exit code.
    pub fn exit_code(&self) -> i32 {
        let (code, out) = docker_combined(&["wait", &self.name], Duration::from_secs(30));
        match (code, out.trim().parse()) {
            (Some(0), Ok(n)) => n,
            _ => panic!(
                "the container did not exit within 30 s ({code:?}: {out})\n{}",
                self.logs().all()
            ),
        }
    }

    pub fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.name])
            .trim()
            .to_string()
    }

    /// The host pid of the container's PID 1.
    pub fn pid(&self) -> i32 {
        let pid = self.inspect("{{.State.Pid}}");
        pid.parse()
            .unwrap_or_else(|_| panic!("{}: State.Pid is {pid:?}", self.name))
    }

    /// `docker exec CONTAINER ARGS` (at most 30 s): exit code and output.
    pub fn exec(&self, opts: &[&str], args: &[&str]) -> (Option<i32>, String) {
        let mut all = vec!["exec"];
        all.extend(opts);
        all.push(&self.name);
        all.extend(args);
        docker_combined(&all, Duration::from_secs(30))
    }

    /// `docker exec`, which must exit 0; its output.
    pub fn exec_ok(&self, opts: &[&str], args: &[&str]) -> String {
        let (code, out) = self.exec(opts, args);
        assert_eq!(
            code,
            Some(0),
            "docker exec {opts:?} {} {args:?}:\n{out}\n{}",
            self.name,
            self.logs().all()
        );
        out
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A named volume of this run, removed on drop (after the containers using
/// it, which are dropped first when declared after it).
pub struct Volume {
    pub name: String,
}

impl Volume {
    pub fn create(what: &str) -> Volume {
        let v = Volume {
            name: unique_name(what),
        };
        docker_ok(&[
            "volume",
            "create",
            "--label",
            &format!("{LABEL}={}", run_id()),
            &v.name,
        ]);
        v
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["volume", "rm", "-f", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---- processes seen from the host --------------------------------------------------------

/// `pid` and all its descendants (host pids), from /proc.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        for task in fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let children = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
        i += 1;
    }
    all.sort_unstable();
    all.dedup();
    all
}

/// `(pid, comm, state)` of a process, from /proc/PID/stat.
pub fn proc_state(pid: i32) -> Option<(i32, String, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(") ")?;
    let comm = head.split_once(" (")?.1.to_string();
    Some((pid, comm, rest.chars().next()?))
}

/// The zombies among `pid`'s own children: those `pid` has yet to reap.
/// (A grandchild's zombie is its parent's to reap, and may be there for a
/// moment: an app's shell between its child's exit and its `wait`.)
pub fn zombie_children(pid: i32) -> Vec<(i32, String, char)> {
    descendants(pid)
        .into_iter()
        .filter(|&p| p != pid && parent_of(p) == Some(pid))
        .filter_map(proc_state)
        .filter(|(_, _, s)| *s == 'Z')
        .collect()
}

/// The parent pid of `pid` (field 4 of /proc/PID/stat).
fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.split(' ').nth(1)?.parse().ok()
}
