//! End to end in a real Docker engine: the release image (`docker/Dockerfile`,
//! built from `scripts/release`'s binaries) copied into the example images of
//! `docker/examples/`, which are run, stopped and signalled as users would.
//!
//! Needs `docker`, and either a running engine or `dockerd` and root (the engine
//! is then started here: `dockerd --iptables=false --bridge=none`, left
//! running), and a static busybox for the images' userland (`scripts/setup`
//! installs docker.io and busybox-static). Without them every test prints why
//! and passes, unless `E2E_REQUIRE_DOCKER=1` (CI), which makes it fail.
//!
//! No registry is used: every image is built `FROM scratch`, and containers run
//! with `--network none`. The images are built once per run with unique tags
//! and a `hookinit.e2e.run` label, and removed when the test binary exits,
//! failures included (`E2E_KEEP_IMAGES=1` keeps them); every container is
//! removed by a drop guard. Images left by an interrupted run are removed by
//! the next run.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{
    docker, docker_combined, docker_ok, remove_docker_runs, run_id, run_is_stale, start_engine,
    static_busybox, tag, LABEL, PREFIX, ROOT,
};

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// How long a container gets to print an expected line.
const LOG_TIMEOUT: Duration = Duration::from_secs(15);

// ---- running docker ---------------------------------------------------------

// ---- the engine and the prerequisites ---------------------------------------

/// Everything the tests need from the machine, checked once.
fn prerequisites() -> Result<PathBuf, String> {
    static PRE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PRE.get_or_init(|| {
        start_engine()?;
        static_busybox()
    })
    .clone()
}

/// The images, or `None` when the test must be skipped (after saying why).
fn setup(test: &str) -> Option<&'static Images> {
    if let Err(why) = prerequisites() {
        if std::env::var("E2E_REQUIRE_DOCKER").is_ok_and(|v| v == "1") {
            panic!("E2E_REQUIRE_DOCKER=1, but {why}");
        }
        eprintln!("skipping {test}: {why}");
        return None;
    }
    static IMAGES: OnceLock<Result<Images, String>> = OnceLock::new();
    match IMAGES.get_or_init(build_images) {
        Ok(images) => Some(images),
        Err(e) => panic!("{e}"),
    }
}

// ---- this run's images, and cleaning up ----------------------------------------

/// Runs when the test binary exits, whatever the outcome (libtest returns from
/// `main` or calls `exit`; both run atexit handlers).
extern "C" fn remove_this_run() {
    if std::env::var("E2E_KEEP_IMAGES").is_ok_and(|v| v == "1") {
        eprintln!("docker e2e: keeping the images {PREFIX}{}:*", run_id());
        return;
    }
    // A panic must not unwind out of an extern "C" function.
    let _ = std::panic::catch_unwind(|| remove_docker_runs(|run| run == run_id()));
}

/// The statically linked hookinit binaries put in the release image, read
/// once (another process may rewrite dist/ meanwhile).
struct Binaries {
    /// Where the amd64 binary came from.
    source: PathBuf,
    amd64: Vec<u8>,
    arm64: Option<Vec<u8>>,
    /// `dist/hookinit-linux-arm-v7`: a platform with a TARGETVARIANT.
    arm_v7: Option<Vec<u8>>,
    /// The checksum line `scripts/release` wrote for amd64.
    amd64_sha256: Option<String>,
}

/// `scripts/release` once per run; if it fails (no arm64 target, say), the
/// amd64 build of `scripts/build`. `HOOKINIT_BIN` overrides both.
fn release_binaries() -> Binaries {
    let built = |path: PathBuf| Binaries {
        amd64: fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        source: path,
        arm64: None,
        arm_v7: None,
        amd64_sha256: None,
    };
    if std::env::var_os("HOOKINIT_BIN").is_some() {
        return built(common::bin());
    }
    let root = Path::new(ROOT);
    let started = Instant::now();
    let out = Command::new(root.join("scripts/release"))
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/release");
    if out.status.success() {
        eprintln!(
            "docker e2e: scripts/release took {:.1}s",
            started.elapsed().as_secs_f64()
        );
        let dist = root.join("dist");
        return Binaries {
            arm64: fs::read(dist.join("hookinit-linux-arm64")).ok(),
            arm_v7: fs::read(dist.join("hookinit-linux-arm-v7")).ok(),
            amd64_sha256: fs::read_to_string(dist.join("hookinit-linux-amd64.sha256")).ok(),
            ..built(dist.join("hookinit-linux-amd64"))
        };
    }
    eprintln!(
        "docker e2e: scripts/release failed ({}), using scripts/build's amd64 binary:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    built(common::bin())
}

struct Images {
    /// docker/Dockerfile: only /hookinit.
    release: String,
    /// docker/examples/exec-prestop.
    exec: String,
    /// docker/examples/http-drain.
    http: String,
    /// `exec` with `STOPSIGNAL SIGQUIT`.
    quit: String,
    bins: Binaries,
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            // fs::copy keeps the mode: app scripts and CGIs stay executable.
            fs::copy(entry.path(), &dest).unwrap();
        }
    }
}

/// `docker build` with this run's label; `dockerfile` is relative to `ctx`.
fn build(tag: &str, ctx: &Path, dockerfile: &str, args: &[(&str, &str)]) -> Result<(), String> {
    let mut cmd = Command::new("docker");
    cmd.args(["build", "--force-rm", "--network", "none", "--label"])
        .arg(format!("{LABEL}={}", run_id()))
        .args(["-t", tag, "-f"])
        .arg(ctx.join(dockerfile));
    for (k, v) in args {
        cmd.arg("--build-arg").arg(format!("{k}={v}"));
    }
    let out = cmd
        .arg(ctx)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "docker build -t {tag} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The release image's build context: what `docker/Dockerfile` uses of the
/// repository root (dist/ and the Dockerfile), so that the legacy builder,
/// which ignores `docker/Dockerfile.dockerignore`, does not send target/.
fn release_context(bins: &Binaries) -> common::TempDir {
    let ctx = common::TempDir::new("docker-release");
    fs::create_dir_all(ctx.path("dist")).unwrap();
    fs::create_dir_all(ctx.path("docker")).unwrap();
    fs::copy(
        Path::new(ROOT).join("docker/Dockerfile"),
        ctx.path("docker/Dockerfile"),
    )
    .unwrap();
    let executable = |name: &str, bytes: &[u8]| {
        let path = ctx.path(name);
        fs::write(&path, bytes).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    };
    executable("dist/hookinit-linux-amd64", &bins.amd64);
    if let Some(arm64) = &bins.arm64 {
        executable("dist/hookinit-linux-arm64", arm64);
    }
    if let Some(arm_v7) = &bins.arm_v7 {
        executable("dist/hookinit-linux-arm-v7", arm_v7);
    }
    ctx
}

fn build_images() -> Result<Images, String> {
    let started = Instant::now();
    remove_docker_runs(run_is_stale);
    // SAFETY: registers a plain function to run at exit.
    unsafe { libc::atexit(remove_this_run) };

    let busybox = prerequisites()?;
    let bins = release_binaries();
    let release = tag("release");
    build(
        &release,
        &release_context(&bins).0,
        "docker/Dockerfile",
        &[],
    )?;

    // The examples, as users build them: their directory plus a static busybox.
    let example = |name: &str| -> Result<String, String> {
        let ctx = common::TempDir::new(&format!("docker-{name}"));
        copy_dir(&Path::new(ROOT).join("docker/examples").join(name), &ctx.0);
        fs::copy(&busybox, ctx.path("busybox")).map_err(|e| e.to_string())?;
        let image = tag(name);
        build(
            &image,
            &ctx.0,
            "Dockerfile",
            &[("HOOKINIT_IMAGE", &release)],
        )?;
        Ok(image)
    };
    let (exec, http) = thread::scope(|s| {
        let http = s.spawn(|| example("http-drain"));
        (example("exec-prestop"), http.join().unwrap())
    });
    let (exec, http) = (exec?, http?);

    let quit = tag("quit");
    let ctx = common::TempDir::new("docker-quit");
    fs::write(
        ctx.path("Dockerfile"),
        format!("FROM {exec}\nSTOPSIGNAL SIGQUIT\n"),
    )
    .unwrap();
    build(&quit, &ctx.0, "Dockerfile", &[])?;

    eprintln!(
        "docker e2e: images built in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(Images {
        release,
        exec,
        http,
        quit,
        bins,
    })
}

// ---- containers ------------------------------------------------------------------

/// A container of this run, removed (killed if need be) on drop.
struct Container {
    name: String,
}

/// A container's log, stream by stream: the order of lines within a stream is
/// the order they were written, but not across streams (docker copies the two
/// pipes separately), so ordering checks stay within one stream.
struct Logs {
    out: String,
    err: String,
}

impl Logs {
    fn all(&self) -> String {
        format!("--- stdout ---\n{}--- stderr ---\n{}", self.out, self.err)
    }

    /// Panics unless each needle is found in `text` after the previous one.
    fn assert_order(&self, text: &str, needles: &[&str]) {
        let mut from = 0;
        for needle in needles {
            match text[from..].find(needle) {
                Some(i) => from += i + needle.len(),
                None => panic!(
                    "{needle:?} missing, or not after {needles:?}'s earlier items\n{}",
                    self.all()
                ),
            }
        }
    }
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

impl Container {
    /// `docker run -d --network none OPTS IMAGE CMD...`
    fn start(test: &str, image: &str, opts: &[&str], cmd: &[&str]) -> Container {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let c = Container {
            name: format!("{PREFIX}{}-{test}-{n}", run_id()),
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

    fn logs(&self) -> Logs {
        let out = docker(&["logs", &self.name]);
        Logs {
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Waits until the log has `needle`; the log then.
    fn wait_for(&self, needle: &str) -> Logs {
        let end = Instant::now() + LOG_TIMEOUT;
        loop {
            let logs = self.logs();
            if logs.out.contains(needle) || logs.err.contains(needle) {
                return logs;
            }
            if Instant::now() > end {
                panic!("no {needle:?} within {LOG_TIMEOUT:?}\n{}", logs.all());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `docker stop -t SECS`; how long it took.
    fn stop(&self, secs: u32) -> Duration {
        let started = Instant::now();
        docker_ok(&["stop", "-t", &secs.to_string(), &self.name]);
        started.elapsed()
    }

    /// Waits (at most 30 s) for the exit; the exit code.
    fn exit_code(&self) -> i32 {
        let (code, out) = docker_combined(&["wait", &self.name], Duration::from_secs(30));
        match (code, out.trim().parse()) {
            (Some(0), Ok(n)) => n,
            _ => panic!(
                "the container did not exit within 30 s ({code:?}: {out})\n{}",
                self.logs().all()
            ),
        }
    }

    fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.name])
            .trim()
            .to_string()
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

/// `docker run --rm --network none OPTS IMAGE CMD...`, attached (at most
/// 30 s): the exit code and the output.
fn run_attached(image: &str, opts: &[&str], cmd: &[&str]) -> (Option<i32>, String) {
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    // Removes the container if it outlives the timeout.
    let c = Container {
        name: format!("{PREFIX}{}-attached-{n}", run_id()),
    };
    let label = format!("{LABEL}={}", run_id());
    let mut args = vec!["run", "--rm", "--name", &c.name, "--label", &label];
    args.extend(["--network", "none"]);
    args.extend(opts);
    args.push(image);
    args.extend(cmd);
    docker_combined(&args, Duration::from_secs(30))
}

/// hookinit's stop events at the default verbosity, in order, for a stop
/// started by `signal` with an exec PreStop that succeeds.
fn assert_stop_events(logs: &Logs, signal: &str) {
    let killing = format!("hookinit: Killing: stopping the container: received {signal}");
    let sent = format!("hookinit: StopSignalSent: sent {signal} to the app");
    logs.assert_order(
        &logs.err,
        &[
            &killing,
            "hookinit: HookStarted hook=PreStop handler=exec",
            "hookinit: HookSucceeded hook=PreStop handler=exec",
            &sent,
        ],
    );
    assert!(
        !logs.err.contains("SigkillSent") && !logs.err.contains("Failed"),
        "{}",
        logs.all()
    );
}

// ---- the tests -------------------------------------------------------------------

/// The release image holds only /hookinit, the `scripts/release` binary for
/// the architecture chosen by TARGETARCH (default amd64 on the legacy builder).
#[test]
fn release_image_holds_only_hookinit() {
    let Some(images) = setup("release_image_holds_only_hookinit") else {
        return;
    };
    let (code, out) = run_attached(&images.release, &[], &["--version"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("hookinit "), "{out}");
    // No command: a usage error, exit 2.
    let (code, out) = run_attached(&images.release, &[], &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("no command given"), "{out}");

    let tmp = common::TempDir::new("docker-export");
    // Every file of an image's container: runtime mount points aside, only /hookinit.
    let files_of = |image: &str| -> (Vec<String>, Vec<u8>) {
        let name = format!(
            "{PREFIX}{}-export-{}",
            run_id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        let c = Container { name };
        docker_ok(&["create", "--name", &c.name, image]);
        let tar = tmp.path(&format!("{}.tar", c.name));
        docker_ok(&["export", "-o", tar.to_str().unwrap(), &c.name]);
        let list = Command::new("tar")
            .arg("-tf")
            .arg(&tar)
            .output()
            .expect("tar");
        assert!(list.status.success(), "{list:?}");
        let runtime = [".dockerenv", "dev/", "etc/", "proc/", "sys/"];
        let files = String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter(|f| !runtime.iter().any(|r| f.starts_with(r)))
            .map(str::to_string)
            .collect();
        let bin = tmp.path(&format!("{}.bin", c.name));
        docker_ok(&[
            "cp",
            &format!("{}:/hookinit", c.name),
            bin.to_str().unwrap(),
        ]);
        (files, fs::read(&bin).unwrap())
    };
    let (files, bin) = files_of(&images.release);
    assert_eq!(files, ["hookinit"]);
    let source = images.bins.source.display();
    assert!(bin == images.bins.amd64, "/hookinit is not {source}");
    // The checksum scripts/release published matches what the image holds.
    if let Some(line) = &images.bins.amd64_sha256 {
        let copy = tmp.path("hookinit-linux-amd64");
        fs::write(&copy, &bin).unwrap();
        let out = Command::new("sha256sum")
            .arg(&copy)
            .output()
            .expect("sha256sum");
        let sum = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            sum.split_whitespace().next(),
            line.split_whitespace().next(),
            "dist/hookinit-linux-amd64.sha256 does not match the image's /hookinit"
        );
    }

    // --build-arg TARGETARCH=arm64 (what BuildKit sets for --platform linux/arm64).
    if let Some(arm64) = &images.bins.arm64 {
        let image = tag("release-arm64");
        let ctx = release_context(&images.bins);
        build(
            &image,
            &ctx.0,
            "docker/Dockerfile",
            &[("TARGETARCH", "arm64")],
        )
        .unwrap();
        let (files, bin) = files_of(&image);
        assert_eq!(files, ["hookinit"]);
        assert!(bin == *arm64, "/hookinit is not dist/hookinit-linux-arm64");
    }

    // What BuildKit sets for --platform linux/arm/v7: TARGETARCH=arm and
    // TARGETVARIANT=v7, which the Dockerfile joins with a dash.
    if let Some(arm_v7) = &images.bins.arm_v7 {
        let image = tag("release-arm-v7");
        let ctx = release_context(&images.bins);
        build(
            &image,
            &ctx.0,
            "docker/Dockerfile",
            &[("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")],
        )
        .unwrap();
        let (files, bin) = files_of(&image);
        assert_eq!(files, ["hookinit"]);
        assert!(
            bin == *arm_v7,
            "/hookinit is not dist/hookinit-linux-arm-v7"
        );
    }
}

/// The release image copied into an example image: the container exits with
/// the app's code.
#[test]
fn example_image_exits_with_the_apps_code() {
    let Some(images) = setup("example_image_exits_with_the_apps_code") else {
        return;
    };
    let cases: &[(&[&str], i32)] = &[
        (&["sh", "-c", "exit 0"], 0),
        (&["sh", "-c", "echo app: failing; exit 7"], 7),
        (&["sh", "-c", "kill -KILL $$"], 137),
        (&["no-such-command"], 127),
    ];
    thread::scope(|s| {
        let runs: Vec<_> = cases
            .iter()
            .map(|(cmd, want)| {
                let image = &images.exec;
                s.spawn(move || (cmd, want, run_attached(image, &[], cmd)))
            })
            .collect();
        for run in runs {
            let (cmd, want, (code, out)) = run.join().unwrap();
            assert_eq!(code, Some(*want), "{cmd:?}:\n{out}");
        }
    });
}

/// `docker stop`: PreStop runs first, then the app gets SIGTERM and exits, long
/// before docker's 10 s.
#[test]
fn docker_stop_runs_prestop_before_the_app_gets_term() {
    let Some(images) = setup("docker_stop_runs_prestop_before_the_app_gets_term") else {
        return;
    };
    let c = Container::start("stop", &images.exec, &[], &[]);
    c.wait_for("app: serving");
    let took = c.stop(10);
    let logs = c.logs();
    assert_eq!(c.exit_code(), 0, "{}", logs.all());
    // PreStop sleeps 1 s before the app may get TERM.
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "docker stop took {took:?}\n{}",
        logs.all()
    );
    // The hook writes to the container's stdout, as the app does.
    logs.assert_order(
        &logs.out,
        &[
            "app: serving",
            "prestop: draining",
            "prestop: drained",
            "app: got TERM",
        ],
    );
    assert_stop_events(&logs, "SIGTERM");
}

/// `STOPSIGNAL SIGQUIT`: docker stop sends QUIT, which starts the stop; the app
/// gets QUIT after PreStop.
#[test]
fn stopsignal_quit_starts_the_stop() {
    let Some(images) = setup("stopsignal_quit_starts_the_stop") else {
        return;
    };
    let c = Container::start("quit", &images.quit, &[], &[]);
    assert_eq!(c.inspect("{{.Config.StopSignal}}"), "SIGQUIT");
    c.wait_for("app: serving");
    let took = c.stop(10);
    let logs = c.logs();
    assert_eq!(c.exit_code(), 0, "{}", logs.all());
    assert!(
        took < Duration::from_secs(5),
        "docker stop took {took:?}\n{}",
        logs.all()
    );
    logs.assert_order(&logs.out, &["prestop: drained", "app: got QUIT"]);
    assert_stop_events(&logs, "SIGQUIT");
}

/// A failing PostStart stops the container: PreStop, TERM, and a non-zero exit
/// (1: the app itself exited 0).
#[test]
fn failed_poststart_stops_the_container() {
    let Some(images) = setup("failed_poststart_stops_the_container") else {
        return;
    };
    let c = Container::start(
        "poststart",
        &images.exec,
        &[
            "-e",
            r#"HOOKINIT_POST_START=["sh","-c","echo poststart: cannot warm up; exit 3"]"#,
        ],
        &[],
    );
    let code = c.exit_code();
    let logs = c.logs();
    assert_eq!(code, 4, "a failed PostStart exits 4: {}", logs.all());
    logs.assert_order(
        &logs.out,
        &[
            "poststart: cannot warm up",
            "prestop: drained",
            "app: got TERM",
        ],
    );
    logs.assert_order(
        &logs.err,
        &[
            "hookinit: FailedPostStartHook hook=PostStart handler=exec",
            "exited with 3",
            "hookinit: Killing: stopping the container: the PostStart hook failed",
            "hookinit: StopSignalSent: sent SIGTERM",
        ],
    );
}

/// 100 orphans re-parented to hookinit are all reaped: no zombie in the
/// container, seen from inside (`docker exec`) and from the host (`docker top`).
#[test]
fn orphans_are_reaped() {
    let Some(images) = setup("orphans_are_reaped") else {
        return;
    };
    let c = Container::start(
        "orphans",
        &images.exec,
        &["-e", "HOOKINIT_VERBOSITY=3", "-e", "HOOKINIT_PRE_STOP="],
        &[
            "sh",
            "-c",
            "for i in $(seq 100); do (sleep 0.05 &); done; echo orphans: left; exec sleep 300",
        ],
    );
    c.wait_for("orphans: left");
    let end = Instant::now() + Duration::from_secs(10);
    let (reaped, procs) = loop {
        let logs = c.logs();
        let reaped = logs
            .err
            .lines()
            .filter(|l| l.starts_with("hookinit: Reaped"))
            .count();
        // Every process's state, from inside: "pid (comm) S ...".
        let (code, stat) = docker_combined(
            &[
                "exec",
                &c.name,
                "sh",
                "-c",
                "cat /proc/[0-9]*/stat 2>/dev/null; true",
            ],
            Duration::from_secs(10),
        );
        assert_eq!(code, Some(0), "{stat}");
        let procs: Vec<(String, String)> = stat
            .lines()
            .filter_map(|l| {
                let (head, rest) = l.rsplit_once(") ")?;
                let comm = head.split_once(" (")?.1.to_string();
                Some((comm, rest.split(' ').next()?.to_string()))
            })
            .collect();
        let settled = reaped >= 100 && procs.iter().all(|(_, state)| state != "Z");
        if settled || Instant::now() > end {
            break (reaped, procs);
        }
        thread::sleep(Duration::from_millis(100));
    };
    let logs = c.logs();
    assert!(reaped >= 100, "{reaped} orphans reaped\n{}", logs.all());
    let zombies: Vec<_> = procs.iter().filter(|(_, s)| s == "Z").collect();
    assert!(zombies.is_empty(), "zombies: {zombies:?}\n{}", logs.all());
    // Left: hookinit, the app (now `sleep 300`), and what `docker exec` ran.
    let sleeps = procs.iter().filter(|(comm, _)| comm == "sleep").count();
    assert_eq!(sleeps, 1, "{procs:?}");
    assert!(logs.err.contains("hookinit: Started"), "{}", logs.all());

    let top = docker_ok(&["top", &c.name, "-o", "pid,stat,args"]);
    let stat_col = top
        .lines()
        .next()
        .and_then(|h| h.split_whitespace().position(|c| c == "STAT"))
        .expect("STAT column");
    for line in top.lines().skip(1) {
        let stat = line.split_whitespace().nth(stat_col).unwrap_or("");
        assert!(!stat.starts_with('Z'), "zombie in docker top:\n{top}");
    }
}

/// `docker kill -s USR1` reaches the app, which goes on running.
#[test]
fn docker_kill_usr1_reaches_the_app() {
    let Some(images) = setup("docker_kill_usr1_reaches_the_app") else {
        return;
    };
    // No PreStop: nothing here is about the stop.
    let c = Container::start("usr1", &images.exec, &["-e", "HOOKINIT_PRE_STOP="], &[]);
    c.wait_for("app: serving");
    docker_ok(&["kill", "-s", "USR1", &c.name]);
    c.wait_for("app: got USR1");
    assert_eq!(c.inspect("{{.State.Running}}"), "true");
    docker_ok(&["kill", "-s", "USR1", &c.name]);
    let end = Instant::now() + LOG_TIMEOUT;
    while c.logs().out.matches("app: got USR1").count() < 2 {
        assert!(
            Instant::now() < end,
            "second USR1 not seen\n{}",
            c.logs().all()
        );
        thread::sleep(Duration::from_millis(50));
    }
    c.stop(10);
    assert_eq!(c.exit_code(), 0, "{}", c.logs().all());
}

/// `docker run -t`: the app has the terminal, and its exit code comes back;
/// a TTY container stops as any other.
#[test]
fn tty_run() {
    let Some(images) = setup("tty_run") else {
        return;
    };
    let (code, out) = run_attached(
        &images.exec,
        &["-t"],
        &[
            "sh",
            "-c",
            r#"[ -t 0 ] && [ -t 1 ] && echo "app: has a tty"; exit 5"#,
        ],
    );
    assert_eq!(code, Some(5), "{out}");
    assert!(out.contains("app: has a tty"), "{out}");

    let c = Container::start("tty", &images.exec, &["-t"], &[]);
    c.wait_for("app: serving");
    let took = c.stop(10);
    let logs = c.logs(); // with a TTY everything is on stdout
    assert_eq!(c.exit_code(), 0, "{}", logs.all());
    assert!(
        took < Duration::from_secs(5),
        "docker stop took {took:?}\n{}",
        logs.all()
    );
    logs.assert_order(
        &logs.out,
        &["hookinit: Killing", "prestop: drained", "app: got TERM"],
    );
}

/// A PreStop that hangs, grace period 3 s, an app that ignores TERM: hookinit
/// SIGKILLs everything at 3 s, well before docker's 10 s.
#[test]
fn hanging_prestop_is_killed_at_the_grace_period() {
    let Some(images) = setup("hanging_prestop_is_killed_at_the_grace_period") else {
        return;
    };
    let c = Container::start(
        "hang",
        &images.exec,
        &[
            "-e",
            "HOOKINIT_GRACE_PERIOD=3",
            "-e",
            r#"HOOKINIT_PRE_STOP=["sleep","60"]"#,
        ],
        &[
            "sh",
            "-c",
            r#"trap "" TERM; echo "app: ignoring TERM"; while :; do sleep 1; done"#,
        ],
    );
    c.wait_for("app: ignoring TERM");
    let took = c.stop(10);
    let logs = c.logs();
    assert_eq!(c.exit_code(), 137, "{}", logs.all());
    assert!(
        took >= Duration::from_millis(2800) && took < Duration::from_secs(5),
        "docker stop took {took:?}\n{}",
        logs.all()
    );
    logs.assert_order(
        &logs.err,
        &[
            "hookinit: Killing: stopping the container: received SIGTERM; grace period 3s",
            "hookinit: FailedPreStopHook hook=PreStop handler=exec",
            "hookinit: StopSignalSent: sent SIGTERM",
            "hookinit: SigkillSent",
        ],
    );
}

/// The same hanging PreStop with an app that handles TERM: PreStop is cut
/// when only the app's reserve is left (min(2 s, grace/2) = 1.5 s), and the
/// app shuts down cleanly inside the window.
#[test]
fn hanging_prestop_leaves_the_app_its_reserve() {
    let Some(images) = setup("hanging_prestop_leaves_the_app_its_reserve") else {
        return;
    };
    let c = Container::start(
        "reserve",
        &images.exec,
        &[
            "-e",
            "HOOKINIT_GRACE_PERIOD=3",
            "-e",
            r#"HOOKINIT_PRE_STOP=["sleep","60"]"#,
        ],
        &[],
    );
    c.wait_for("app: serving");
    let took = c.stop(10);
    let logs = c.logs();
    assert_eq!(c.exit_code(), 0, "{}", logs.all());
    assert!(
        took >= Duration::from_millis(1300) && took < Duration::from_millis(2800),
        "docker stop took {took:?}\n{}",
        logs.all()
    );
    assert!(logs.out.contains("app: got TERM"), "{}", logs.all());
    logs.assert_order(
        &logs.err,
        &[
            "hookinit: FailedPreStopHook hook=PreStop handler=exec",
            "hookinit: StopSignalSent: sent SIGTERM",
        ],
    );
    assert!(!logs.err.contains("SigkillSent"), "{}", logs.all());
}

/// The http-drain example: PostStart waits for the server and the ready file
/// appears; on `docker stop` the httpGet PreStop reaches the app's own
/// endpoint before the app gets TERM.
#[test]
fn http_example_poststart_and_httpget_prestop() {
    let Some(images) = setup("http_example_poststart_and_httpget_prestop") else {
        return;
    };
    let c = Container::start("http", &images.http, &[], &[]);
    c.wait_for("hookinit: HookSucceeded hook=PostStart");
    let logs = c.logs();
    assert!(logs.out.contains("poststart: app is up"), "{}", logs.all());
    let (code, out) = docker_combined(
        &["exec", &c.name, "test", "-f", "/tmp/ready"],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(0), "no /tmp/ready: {out}\n{}", logs.all());

    let took = c.stop(10);
    let logs = c.logs();
    assert_eq!(c.exit_code(), 0, "{}", logs.all());
    assert!(
        took < Duration::from_secs(5),
        "docker stop took {took:?}\n{}",
        logs.all()
    );
    logs.assert_order(
        &logs.err,
        &[
            "hookinit: Killing: stopping the container: received SIGTERM",
            "hookinit: HookStarted hook=PreStop handler=httpGet",
            // The CGI's line (httpd's stderr), while the app still serves.
            "app: draining (GET /cgi-bin/drain from kube-lifecycle/1.34)",
            "hookinit: HookSucceeded hook=PreStop handler=httpGet",
            "hookinit: StopSignalSent: sent SIGTERM",
        ],
    );
    assert!(logs.out.contains("app: got TERM"), "{}", logs.all());
    assert!(!logs.err.contains("Failed"), "{}", logs.all());
}

/// The thing Docker users have asked for since 2016 (moby/moby#28400): a
/// liveness probe inside the container. The app hangs after a while; the
/// probe fails, PreStop runs before the app's stop signal, hookinit exits 5,
/// and `--restart unless-stopped` restarts the container, with no socket and
/// no sidecar.
#[test]
fn liveness_failure_is_restarted_by_docker() {
    let Some(images) = setup("liveness_failure_is_restarted_by_docker") else {
        return;
    };
    let app = "trap 'echo app: got TERM; exit 0' TERM; touch /alive; echo app: serving; \
               sleep 2; rm /alive; echo app: hung; while :; do sleep 1; done";
    let c = Container::start(
        "liveness",
        &images.exec,
        &[
            "--restart",
            "unless-stopped",
            "-e",
            r#"HOOKINIT_LIVENESS_PROBE={"exec":{"command":["test","-e","/alive"]},"periodSeconds":1,"failureThreshold":2}"#,
        ],
        &["sh", "-c", app],
    );
    let end = Instant::now() + Duration::from_secs(40);
    let restarts = loop {
        let n: u32 = c.inspect("{{.RestartCount}}").parse().unwrap_or(0);
        if n >= 1 || Instant::now() > end {
            break n;
        }
        thread::sleep(Duration::from_millis(200));
    };
    // The restarted app says so again.
    let end = Instant::now() + LOG_TIMEOUT;
    while c.logs().out.matches("app: serving").count() < 2 && Instant::now() < end {
        thread::sleep(Duration::from_millis(100));
    }
    let logs = c.logs();
    eprintln!("docker restarted the container {restarts} time(s)");
    assert!(restarts >= 1, "never restarted\n{}", logs.all());
    logs.assert_order(
        &logs.out,
        &[
            "app: serving",
            "app: hung",
            "prestop: drained",
            "app: got TERM",
            "app: serving",
        ],
    );
    logs.assert_order(
        &logs.err,
        &[
            "hookinit: Unhealthy handler=exec: Liveness probe failed: ",
            "hookinit: Unhealthy handler=exec: Liveness probe failed: ",
            "hookinit: Killing: stopping the container: Container app failed liveness probe, will be restarted",
            "hookinit: StopSignalSent: sent SIGTERM",
        ],
    );
    // The restart is Docker's answer to exit 5 (not a stop by the user).
    assert_eq!(c.inspect("{{.State.Running}}"), "true", "{}", logs.all());
}

/// `HEALTHCHECK CMD ["/hookinit", "--ready"]` in an image with no shell:
/// Docker's health follows hookinit's readiness probe both ways.
#[test]
fn healthcheck_follows_readiness_without_a_shell() {
    let Some(images) = setup("healthcheck_follows_readiness_without_a_shell") else {
        return;
    };
    let image = tag("health");
    let ctx = common::TempDir::new("docker-health");
    fs::write(
        ctx.path("Dockerfile"),
        format!(
            "FROM {}\nWORKDIR /run/hookinit\n\
             ENV HOOKINIT_READY_FILE=/run/hookinit/ready \\\n    \
             HOOKINIT_READINESS_PROBE='{{\"exec\":{{\"command\":[\"test\",\"-e\",\"/run/hookinit/healthy\"]}},\"periodSeconds\":1}}'\n\
             HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD [\"/hookinit\", \"--ready\"]\n",
            images.exec
        ),
    )
    .unwrap();
    build(&image, &ctx.0, "Dockerfile", &[]).unwrap();
    let c = Container::start(
        "health",
        &image,
        &[],
        &["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
    );
    let health = || c.inspect("{{.State.Health.Status}}");
    let wait = |want: &str| {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if health() == want {
                return true;
            }
            thread::sleep(Duration::from_millis(200));
        }
        false
    };
    assert!(
        wait("unhealthy"),
        "not unhealthy while not ready: {}",
        health()
    );
    docker_ok(&["exec", &c.name, "touch", "/run/hookinit/healthy"]);
    assert!(wait("healthy"), "never healthy: {}", health());
    docker_ok(&["exec", &c.name, "rm", "/run/hookinit/healthy"]);
    assert!(wait("unhealthy"), "never unhealthy again: {}", health());
}
