//! hookinit as the runtime's own init, in an image that does not contain it:
//! `docker run --init` with a dockerd of this test's own whose `--init-path`
//! is hookinit (Docker mounts it at `/sbin/docker-init` and runs
//! `docker-init -- CMD`: hookinit answers to tini's name), and
//! `podman run --init --init-path hookinit` (mounted at `/run/podman-init`:
//! catatonit's name). `HOOKINIT_*` variables given to `run` bring the hooks:
//! PostStart runs, PreStop runs before the app's TERM, exit codes pass
//! through; `docker info` shows the init version without a warning.
//!
//! The image is a static busybox and its applet links, imported from a
//! tarball (no registry, no hookinit inside).
//!
//! The second dockerd has its own data root, exec root (with its own
//! containerd), socket, containerd namespaces and the `vfs` storage driver,
//! so it touches nothing of the suite's engine; it is stopped and its
//! directory removed when the test ends. podman runs as in
//! `tests/runtimes.rs` (`--runtime runc`, cgroupfs, file events, explicit
//! ulimits: see there why).
//!
//! The Debian package (`scripts/deb`, which `scripts/release` runs for every
//! platform) is installed with `dpkg -i` in a minbase Debian container (the
//! suite's cached `debootstrap` image, `tests/common/images.rs`, on the
//! suite's engine), used, and purged: nothing of it may be left.
//!
//! Without dockerd (or podman) the test says why and passes, unless
//! `E2E_REQUIRE_DOCKER=1` (or `E2E_REQUIRE_RUNTIMES=1`), as in CI, which
//! makes it fail.

mod common;
#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/images.rs"]
mod images;

use e2e::{assert_order, run_id, system_path, LABEL, PREFIX};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const APP: &str =
    "trap 'echo app: got TERM; exit 0' TERM\necho app: serving\nwhile :; do sleep 0.1; done";
const POST_START: &str = r#"["sh","-c","echo poststart: ran"]"#;
const PRE_STOP: &str = r#"["sh","-c","echo prestop: ran"]"#;

/// Skips (after saying why) unless `require` is set, which makes it fail.
fn skip(require: &str, test: &str, why: &str) {
    if e2e::required(require) {
        panic!("{require}=1, but {why}");
    }
    eprintln!("skipping {test}: {why}");
}

/// A scratch directory of this test, removed on drop (short: unix socket
/// paths under it must stay below 108 bytes).
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let d = PathBuf::from(format!("/tmp/hi-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A busybox root without hookinit, as a tarball in `dir`.
fn busybox_tar(dir: &Path) -> Result<PathBuf, String> {
    let busybox = e2e::static_busybox()?;
    let root = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "sbin", "run"] {
        fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
    }
    fs::copy(&busybox, root.join("bin/busybox")).map_err(|e| e.to_string())?;
    let list = e2e::run(busybox.to_str().unwrap(), &["--list"]);
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
                .map_err(|e| e.to_string())?;
        }
    }
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").map_err(|e| e.to_string())?;
    let tar = dir.join("rootfs.tar");
    let r = root.to_str().unwrap();
    let out = e2e::run("tar", &["-C", r, "-cf", tar.to_str().unwrap(), "."]);
    if !out.status.success() {
        return Err(format!("tar: {}", String::from_utf8_lossy(&out.stderr)));
    }
    fs::set_permissions(&tar, fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
    Ok(tar)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Waits until `logs()` (stdout, stderr) has `needle` on stdout.
fn wait_for(what: &str, needle: &str, logs: impl Fn() -> (String, String)) -> (String, String) {
    let end = Instant::now() + e2e::LOG_TIMEOUT;
    loop {
        let (out, err) = logs();
        if out.contains(needle) {
            return (out, err);
        }
        assert!(
            Instant::now() < end,
            "{what}: no {needle:?} within {:?}\n--- stdout ---\n{out}--- stderr ---\n{err}",
            e2e::LOG_TIMEOUT
        );
        thread::sleep(Duration::from_millis(50));
    }
}

// ---- Docker ------------------------------------------------------------------------------

/// A dockerd of this test's own, stopped (and its directory removed) on drop.
struct Engine {
    dockerd: Child,
    host: String,
    log: PathBuf,
    dir: Dir,
}

impl Engine {
    fn start(init: &Path) -> Result<Engine, String> {
        let Some(dockerd) = e2e::find_program("dockerd") else {
            return Err("dockerd is not installed".into());
        };
        if e2e::find_program("docker").is_none() {
            return Err("docker is not installed".into());
        }
        if !common::is_root() {
            return Err("a dockerd of its own needs root".into());
        }
        let dir = Dir::new("dockerd");
        let d = |p: &str| dir.0.join(p).to_str().unwrap().to_string();
        let host = format!("unix://{}", d("docker.sock"));
        let log = dir.0.join("dockerd.log");
        let file = fs::File::create(&log).map_err(|e| e.to_string())?;
        let ns = format!("{PREFIX}{}", run_id());
        let child = Command::new(dockerd)
            .args(["--data-root", &d("data"), "--exec-root", &d("exec")])
            .args(["--pidfile", &d("docker.pid"), "-H", &host])
            .args(["--containerd-namespace", &ns])
            .args(["--containerd-plugins-namespace", &format!("{ns}-plugins")])
            .args([
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--bridge=none",
            ])
            .arg("--init-path")
            .arg(init)
            .env("PATH", system_path())
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start dockerd: {e}"))?;
        let mut engine = Engine {
            dockerd: child,
            host,
            log,
            dir,
        };
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            if engine.docker(&["version"]).status.success() {
                return Ok(engine);
            }
            if let Ok(Some(status)) = engine.dockerd.try_wait() {
                return Err(format!(
                    "dockerd exited ({status}):\n{}",
                    e2e::tail(&engine.log, 15)
                ));
            }
            thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "dockerd did not answer within 60 s:\n{}",
            e2e::tail(&engine.log, 15)
        ))
    }

    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .env("PATH", system_path())
            .stdin(Stdio::null())
            .output()
            .expect("docker")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn logs(&self, name: &str) -> (String, String) {
        let out = self.docker(&["logs", name]);
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id]);
        }
        // SAFETY: kill takes any pid; dockerd is our child, not yet waited for.
        unsafe { libc::kill(self.dockerd.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + Duration::from_secs(30);
        while self.dockerd.try_wait().ok().flatten().is_none() && Instant::now() < end {
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.dockerd.kill();
        let _ = self.dockerd.wait();
        // vfs layers are plain directories; anything still mounted stays.
        let _ = Command::new("umount")
            .arg("-R")
            .arg(self.dir.0.join("exec"))
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn docker_run_init_with_hookinit_as_the_daemons_init_path() {
    let test = "docker_run_init_with_hookinit_as_the_daemons_init_path";
    // The daemon runs `<init-path> --version` for `docker info`: under the
    // name docker-init hookinit prints tini's line.
    let bin_dir = Dir::new("init");
    let init = bin_dir.0.join("docker-init");
    fs::copy(common::bin(), &init).unwrap();
    let engine = match Engine::start(&init) {
        Ok(e) => e,
        Err(why) => return skip("E2E_REQUIRE_DOCKER", test, &why),
    };
    let tar = busybox_tar(&engine.dir.0).unwrap();
    let image = format!("{PREFIX}{}-init:busybox", run_id());
    engine.ok(&["import", tar.to_str().unwrap(), &image]);

    // docker info: the init's version parsed, no warning in the daemon's log.
    let id = engine.ok(&["info", "--format", "{{.InitCommit.ID}}"]);
    assert_eq!(id.trim(), "hookinit");
    let log = fs::read_to_string(&engine.log).unwrap_or_default();
    assert!(
        !log.lines()
            .any(|l| l.contains("docker-init") && l.contains("level=warn")),
        "{log}"
    );

    let name = "hookinit-init-core";
    engine.ok(&[
        "run",
        "-d",
        "--init",
        "--name",
        name,
        "--network",
        "none",
        "--label",
        &format!("{LABEL}={}", run_id()),
        "-e",
        &format!("HOOKINIT_POST_START={POST_START}"),
        "-e",
        &format!("HOOKINIT_PRE_STOP={PRE_STOP}"),
        "-e",
        "HOOKINIT_VERBOSITY=2",
        &image,
        "sh",
        "-c",
        APP,
    ]);
    wait_for("docker", "poststart: ran", || engine.logs(name));
    wait_for("docker", "app: serving", || engine.logs(name));
    let cmdline = engine.ok(&["exec", name, "cat", "/proc/1/cmdline"]);
    assert!(
        cmdline.starts_with("/sbin/docker-init\0--\0sh\0"),
        "{cmdline:?}"
    );
    engine.ok(&["stop", "-t", "10", name]);
    let code = engine.ok(&["inspect", "-f", "{{.State.ExitCode}}", name]);
    let (out, err) = engine.logs(name);
    let all = format!("--- stdout ---\n{out}--- stderr ---\n{err}");
    assert_eq!(code.trim(), "0", "{all}");
    assert_order(
        &out,
        &["poststart: ran", "prestop: ran", "app: got TERM"],
        &all,
    );
    assert_order(
        &err,
        &[
            "hookinit: Killing: stopping the container: received SIGTERM",
            "hookinit: HookStarted hook=PreStop",
            "hookinit: StopSignalSent: sent SIGTERM to the app",
        ],
        &all,
    );

    // The app's own exit code passes through.
    let out = engine.docker(&[
        "run",
        "--init",
        "--rm",
        "--network",
        "none",
        &image,
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
}

// ---- podman --------------------------------------------------------------------------------

/// `podman` as `tests/runtimes.rs` runs it, with explicit ulimits.
fn podman(args: &[&str]) -> Output {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let nofile = lim.rlim_max.min(1 << 20);
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
        .args(["--events-backend", "file"]);
    if args.first() == Some(&"run") {
        cmd.arg("run")
            .args(["--ulimit", &format!("nofile={nofile}:{nofile}")])
            .args(["--ulimit", "nproc=4096:4096"])
            .args(&args[1..]);
    } else {
        cmd.args(args);
    }
    cmd.env("PATH", system_path())
        .stdin(Stdio::null())
        .output()
        .expect("podman")
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman(args);
    assert!(out.status.success(), "podman {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the container and the image when the test ends, however it ends.
struct PodmanRun {
    image: String,
    name: String,
}

impl Drop for PodmanRun {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", &self.name]);
        let _ = podman(&["rmi", "-f", &self.image]);
    }
}

#[test]
fn podman_run_init_with_hookinit_as_init_path() {
    let test = "podman_run_init_with_hookinit_as_init_path";
    let why = if !common::is_root() {
        Some("podman as root needs root")
    } else if e2e::find_program("podman").is_none() {
        Some("podman is not installed (scripts/setup installs it)")
    } else if e2e::find_program("runc").is_none() {
        Some("runc is not installed (podman runs with --runtime runc here)")
    } else {
        None
    };
    if let Some(why) = why {
        return skip("E2E_REQUIRE_RUNTIMES", test, why);
    }
    let dir = Dir::new("podman");
    let tar = busybox_tar(&dir.0).unwrap();
    let run = PodmanRun {
        image: format!("localhost/{PREFIX}{}-init:busybox", run_id()),
        name: e2e::unique_name("podman-init"),
    };
    let label = format!("LABEL {LABEL}={}", run_id());
    podman_ok(&[
        "import",
        "--change",
        &label,
        tar.to_str().unwrap(),
        &run.image,
    ]);
    let init = common::bin();
    podman_ok(&[
        "run",
        "-d",
        "--init",
        "--init-path",
        init.to_str().unwrap(),
        "--name",
        &run.name,
        "--network",
        "none",
        "-e",
        &format!("HOOKINIT_POST_START={POST_START}"),
        "-e",
        &format!("HOOKINIT_PRE_STOP={PRE_STOP}"),
        "-e",
        "HOOKINIT_VERBOSITY=2",
        &run.image,
        "sh",
        "-c",
        APP,
    ]);
    let logs = || {
        let o = podman(&["logs", &run.name]);
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    wait_for("podman", "poststart: ran", logs);
    wait_for("podman", "app: serving", logs);
    let cmdline = podman_ok(&["exec", &run.name, "cat", "/proc/1/cmdline"]);
    assert!(
        cmdline.starts_with("/run/podman-init\0--\0sh\0"),
        "{cmdline:?}"
    );
    podman_ok(&["stop", "-t", "10", &run.name]);
    let code = podman_ok(&["wait", &run.name]);
    let (out, err) = logs();
    let all = format!("--- stdout ---\n{out}--- stderr ---\n{err}");
    assert_eq!(code.trim(), "0", "{all}");
    assert_order(
        &out,
        &["poststart: ran", "prestop: ran", "app: got TERM"],
        &all,
    );
    assert_order(
        &err,
        &[
            "hookinit: Killing: stopping the container: received SIGTERM",
            "hookinit: HookStarted hook=PreStop",
            "hookinit: StopSignalSent: sent SIGTERM to the app",
        ],
        &all,
    );
    let out = podman(&[
        "run",
        "--rm",
        "--init",
        "--init-path",
        init.to_str().unwrap(),
        "--network",
        "none",
        &run.image,
        "sh",
        "-c",
        "exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
}

// ---- the Debian package ---------------------------------------------------------------------

/// Removes the container when the test ends, however it ends.
struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = e2e::docker(&["rm", "-f", &self.0]);
    }
}

#[test]
fn debian_package_installs_offers_the_names_and_purges_cleanly() {
    let test = "debian_package_installs_offers_the_names_and_purges_cleanly";
    if let Err(why) = e2e::start_engine() {
        return skip("E2E_REQUIRE_DOCKER", test, &why);
    }
    if e2e::find_program("dpkg-deb").is_none() {
        return skip("E2E_REQUIRE_DOCKER", test, "dpkg-deb is not installed");
    }
    e2e::docker_cleanup_at_exit();
    let base = match images::debian_base() {
        Ok(tag) => tag,
        Err(why) => return skip("E2E_REQUIRE_DOCKER", test, &why),
    };
    let dir = Dir::new("deb");
    let bin = common::bin();
    let deb = e2e::run_ok(
        &format!("{}/scripts/deb", e2e::ROOT),
        &["amd64", bin.to_str().unwrap(), dir.0.to_str().unwrap()],
    );
    let deb = Path::new(deb.trim())
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let name = Removed(e2e::unique_name("deb"));
    e2e::docker_ok(&[
        "run",
        "-d",
        "--name",
        &name.0,
        "--label",
        &format!("{LABEL}={}", run_id()),
        "--network",
        "none",
        "-v",
        &format!("{}:/pkg:ro", dir.0.display()),
        &base,
        "sleep",
        "infinity",
    ]);
    let sh = |script: &str| {
        e2e::docker_combined(
            &["exec", &name.0, "sh", "-c", script],
            Duration::from_secs(60),
        )
    };
    let ok = |script: &str| {
        let (code, out) = sh(script);
        assert_eq!(code, Some(0), "{script}: {out}");
        out
    };
    let snapshot = "find /usr /etc /var/lib/dpkg/alternatives /var/lib/dpkg/info -xdev | sort";
    let before = ok(snapshot);
    ok(&format!("dpkg -i /pkg/{deb}"));
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(ok("hookinit --version"), format!("hookinit {version}\n"));
    // Offered, never taken by default.
    ok("for n in tini dumb-init; do test ! -e /usr/bin/$n && test ! -L /usr/bin/$n; done");
    for n in ["tini", "dumb-init"] {
        let q = ok(&format!("update-alternatives --query {n}"));
        assert!(
            q.contains("Alternative: /usr/bin/hookinit\nPriority: 10\n"),
            "{q}"
        );
    }
    // Taken by choice: the names behave as the peers'.
    ok("update-alternatives --set tini /usr/bin/hookinit");
    ok("update-alternatives --set dumb-init /usr/bin/hookinit");
    let tini = format!("tini version {version}_hookinit - git.hookinit\n");
    assert_eq!(ok("tini --version"), tini);
    assert_eq!(ok("/usr/libexec/hookinit/docker-init --version"), tini);
    assert_eq!(
        ok("dumb-init --version"),
        format!("dumb-init v{version}_hookinit\n")
    );
    assert_eq!(sh("tini -e 3 -- sh -c 'exit 3'").0, Some(0));
    assert_eq!(sh("dumb-init sh -c 'exit 3'").0, Some(3));
    assert_eq!(sh("hookinit -- sh -c 'exit 3'").0, Some(3));
    assert_eq!(
        ok("zcat /usr/share/doc/hookinit/README.md.gz | head -n 1; cat /usr/share/doc/hookinit/copyright | head -n 2 | tail -n 1"),
        "# hookinit\nUpstream-Name: hookinit\n"
    );
    // An upgrade (the same package again) keeps the choice.
    ok(&format!("dpkg -i /pkg/{deb}"));
    assert_eq!(ok("readlink -f /usr/bin/tini"), "/usr/bin/hookinit\n");
    // Purged: nothing of it is left.
    ok("dpkg --purge hookinit");
    let after = ok(snapshot);
    assert_eq!(before, after, "left after the purge");
}
