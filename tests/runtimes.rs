//! hookinit under other container runtimes than Docker: runc and
//! crun from an OCI bundle (`runc spec`), podman as root and podman rootless.
//! The same core checks everywhere: hookinit is PID 1, PostStart runs,
//! PreStop runs before the app gets its stop signal, exit codes pass through
//! (0, 7, and 143 = 128 + TERM for an app with no TERM handler, which
//! hookinit, unlike a bare PID 1, lets the signal kill), and the 50 orphans
//! the app leaves are reaped (no `Z` process under PID 1, seen from the
//! host's /proc and from the container's own /proc through `exec`). For
//! rootless podman, PID 1's host uid is also checked to be the throwaway
//! user's (root in the container, not on the host).
//!
//! The image is a FROM-scratch-like root: a static busybox (`busybox-static`)
//! with its applet links, and this run's /hookinit. runc and crun run it as a
//! bundle directory (read-only root, a tmpfs on /tmp); podman imports the same
//! root as a tarball (`podman import`: no registry).
//!
//! What this machine needs, and why (each skip message says which is missing):
//! - root (runc, crun, podman as root; the rootless user is made here);
//! - **podman runs with `--runtime runc`**: its default OCI runtime here,
//!   crun 1.8.1, refuses the machine's hybrid cgroup layout ("cgroups in
//!   hybrid mode not supported, drop all controllers from cgroupv2": the
//!   cgroup2 mount at /sys/fs/cgroup/unified holds the hugetlb controller);
//! - **crun itself runs in a private mount namespace without that cgroup2
//!   mount** (`unshare --mount`, then `umount /sys/fs/cgroup/unified`), which
//!   turns the layout into plain cgroup v1 for crun alone; nothing on the
//!   host changes;
//! - podman gets explicit `--ulimit nofile=HARD:HARD --ulimit nproc=4096:4096`:
//!   its defaults (nofile 1048576; nproc above the 32768 its conmon gets) are
//!   above this machine's hard limits (nofile 20000), and raising a hard
//!   limit needs CAP_SYS_RESOURCE, which is not in our bounding set
//!   ("setrlimit `RLIMIT_NOFILE`: Operation not permitted");
//! - podman rootless runs as the user `hookinit-e2e` (created here when
//!   missing, with a subordinate id range), with the `vfs` storage driver,
//!   `cgroupfs`, file events and its storage, run root, HOME and
//!   XDG_RUNTIME_DIR in a directory of this run (short: podman refuses a run
//!   root over 50 characters); it needs `newuidmap` (package uidmap). The
//!   pause process rootless podman leaves per XDG_RUNTIME_DIR (`catatonit
//!   -P`) is killed with the directory.
//!
//! Without a runtime the test says why and passes, unless
//! `E2E_REQUIRE_RUNTIMES=1` (CI), which makes it fail. Containers and bundles
//! are removed by drop guards, images and directories when the test binary
//! exits; an interrupted run's are removed by the next.

mod common;
#[path = "common/e2e.rs"]
mod e2e;

use e2e::{assert_order, run, run_id, PREFIX};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const REQUIRE: &str = "E2E_REQUIRE_RUNTIMES";
const ROOTLESS_USER: &str = "hookinit-e2e";
const LABEL: &str = e2e::LABEL;

/// The app of the core check: reports who PID 1 is, handles TERM, leaves 50
/// orphans behind (re-parented to PID 1, which must reap them), then serves.
const CORE_APP: &str = r#"echo "app: pid1 is $(cat /proc/1/comm): $(tr '\0' ' ' < /proc/1/cmdline)"
trap 'echo app: got TERM; exit 0' TERM
for i in $(seq 50); do (sleep 0.05 &); done
echo app: serving
while :; do sleep 0.1; done"#;

const POST_START: &str = r#"["sh","-c","echo poststart: ran"]"#;
const PRE_STOP: &str = r#"["sh","-c","echo prestop: ran"]"#;

// ---- the root file system ------------------------------------------------------------

/// This run's directory for everything runtimes.rs makes on disk.
fn run_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        remove_stale_runs();
        // SAFETY: registers a plain function to run at exit.
        unsafe { libc::atexit(remove_this_run) };
        let dir = std::env::temp_dir().join(format!("{PREFIX}{}-runtimes", run_id()));
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        dir
    })
}

/// The root (static busybox, applet links, /hookinit) and its tarball.
struct Rootfs {
    dir: PathBuf,
    tar: PathBuf,
}

fn build_rootfs() -> Result<Rootfs, String> {
    let busybox = e2e::static_busybox()?;
    let dir = run_dir().join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
    }
    fs::copy(&busybox, dir.join("bin/busybox")).map_err(|e| e.to_string())?;
    let list = run(busybox.to_str().unwrap(), &["--list"]);
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet))
                .map_err(|e| e.to_string())?;
        }
    }
    fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").map_err(|e| e.to_string())?;
    fs::write(dir.join("etc/group"), "root:x:0:\n").map_err(|e| e.to_string())?;
    let hookinit = dir.join("hookinit");
    fs::copy(common::bin(), &hookinit).map_err(|e| e.to_string())?;
    fs::set_permissions(&hookinit, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    let tar = run_dir().join("rootfs.tar");
    let out = run(
        "tar",
        &[
            "-C",
            dir.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
    if !out.status.success() {
        return Err(format!("tar: {}", String::from_utf8_lossy(&out.stderr)));
    }
    fs::set_permissions(&tar, fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())?;
    Ok(Rootfs { dir, tar })
}

fn rootfs() -> Result<&'static Rootfs, String> {
    static ROOTFS: OnceLock<Result<Rootfs, String>> = OnceLock::new();
    ROOTFS
        .get_or_init(build_rootfs)
        .as_ref()
        .map_err(Clone::clone)
}

// ---- the runtimes ----------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Runc,
    Crun,
    Podman,
    PodmanRootless,
}

/// A runtime ready to run containers.
struct Runtime {
    kind: Kind,
    /// The command line prefix: e.g. `runc --root DIR`, or `runuser -u USER
    /// -- env ... podman --storage-driver vfs ...`.
    prefix: Vec<String>,
    /// podman's image of the root.
    image: String,
}

impl Runtime {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.prefix[0]);
        cmd.args(&self.prefix[1..])
            .args(args)
            .env("PATH", e2e::system_path())
            .stdin(Stdio::null());
        cmd
    }

    fn output(&self, args: &[&str]) -> std::process::Output {
        self.command(args)
            .output()
            .unwrap_or_else(|e| panic!("{:?} {args:?}: {e}", self.prefix))
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "{:?} {args:?} failed ({}):\n{}{}",
            self.prefix,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn is_podman(&self) -> bool {
        matches!(self.kind, Kind::Podman | Kind::PodmanRootless)
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Whether crun would refuse this machine's cgroups: a hybrid layout (v1
/// hierarchies, plus cgroup2 at /sys/fs/cgroup/unified) whose cgroup2 mount
/// holds a controller.
fn hybrid_cgroups_with_v2_controllers() -> Option<String> {
    let controllers = fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").ok()?;
    let controllers = controllers.trim();
    (!controllers.is_empty()).then(|| controllers.to_string())
}

fn oci_runtime(kind: Kind) -> Result<Runtime, String> {
    let program = if kind == Kind::Runc { "runc" } else { "crun" };
    if !common::is_root() {
        return Err(format!(
            "{program} needs root here (rootless runc/crun bundles are not set up)"
        ));
    }
    let Some(path) = e2e::find_program(program) else {
        return Err(format!(
            "{program} is not installed (scripts/setup installs it)"
        ));
    };
    let version = run(path.to_str().unwrap(), &["--version"]);
    if !version.status.success() {
        return Err(format!("`{program} --version` failed"));
    }
    let state = run_dir().join(format!("{program}-state"));
    fs::create_dir_all(&state).map_err(|e| e.to_string())?;
    if kind == Kind::Crun {
        if let Some(controllers) = hybrid_cgroups_with_v2_controllers() {
            if e2e::find_program("unshare").is_none() {
                return Err(format!("crun refuses hybrid cgroups with controllers ({controllers}) on /sys/fs/cgroup/unified, and unshare (util-linux) is missing to hide that mount"));
            }
            eprintln!("runtimes e2e: crun runs in a private mount namespace without /sys/fs/cgroup/unified (cgroup2 holds {controllers}: crun refuses that hybrid layout)");
        }
    }
    Ok(Runtime {
        kind,
        prefix: oci_prefix(&path, &state),
        image: String::new(),
    })
}

/// `runc --root STATE` or `crun --root STATE`; crun, on hybrid cgroups with
/// a controller on cgroup2, inside a private mount namespace without that
/// cgroup2 mount (see the top of the file).
fn oci_prefix(program: &Path, state: &Path) -> Vec<String> {
    let mut prefix = Vec::new();
    if program.ends_with("crun") && hybrid_cgroups_with_v2_controllers().is_some() {
        prefix = strings(&[
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            r#"umount /sys/fs/cgroup/unified && exec "$0" "$@""#,
        ]);
    }
    prefix.push(program.display().to_string());
    prefix.extend(strings(&["--root", state.to_str().unwrap()]));
    prefix
}

/// podman's hard limits that fit this machine (see the top of the file).
fn podman_ulimits() -> Vec<String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit into a local.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let nofile = lim.rlim_max.min(1 << 20);
    strings(&[
        "--ulimit",
        &format!("nofile={nofile}:{nofile}"),
        "--ulimit",
        "nproc=4096:4096",
    ])
}

fn podman_root() -> Result<Runtime, String> {
    if !common::is_root() {
        return Err("podman as root needs root".into());
    }
    let Some(podman) = e2e::find_program("podman") else {
        return Err("podman is not installed (scripts/setup installs it)".into());
    };
    if e2e::find_program("runc").is_none() {
        return Err("runc is not installed (podman runs with --runtime runc here)".into());
    }
    remove_podman_root_runs(e2e::run_is_stale);
    let rt = Runtime {
        kind: Kind::Podman,
        prefix: strings(&[
            podman.to_str().unwrap(),
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ]),
        image: format!("localhost/{PREFIX}{}:busybox", run_id()),
    };
    podman_import(&rt)?;
    Ok(rt)
}

fn podman_import(rt: &Runtime) -> Result<(), String> {
    let tar = rootfs()?.tar.clone();
    let label = format!("LABEL {LABEL}={}", run_id());
    let out = rt.output(&[
        "import",
        "--change",
        &label,
        tar.to_str().unwrap(),
        &rt.image,
    ]);
    if !out.status.success() {
        return Err(format!(
            "podman import failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The rootless user: created when missing, with subordinate ids.
fn rootless_user() -> Result<u32, String> {
    let uid = |_: ()| -> Option<u32> {
        let out = run("id", &["-u", ROOTLESS_USER]);
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if uid(()).is_none() {
        let out = run(
            "useradd",
            &[
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                ROOTLESS_USER,
            ],
        );
        if !out.status.success() {
            return Err(format!(
                "cannot create the user {ROOTLESS_USER}: useradd: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    let uid = uid(()).ok_or(format!("no uid for {ROOTLESS_USER}"))?;
    for (file, flag) in [
        ("/etc/subuid", "--add-subuids"),
        ("/etc/subgid", "--add-subgids"),
    ] {
        let has = fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                l.starts_with(&format!("{ROOTLESS_USER}:")) || l.starts_with(&format!("{uid}:"))
            });
        if !has {
            let out = run("usermod", &[flag, "300000-365535", ROOTLESS_USER]);
            if !out.status.success() {
                return Err(format!(
                    "no {file} range for {ROOTLESS_USER}, and usermod {flag} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
    }
    Ok(uid)
}

fn podman_rootless() -> Result<Runtime, String> {
    if !common::is_root() {
        return Err("the rootless test switches to a throwaway user, which needs root".into());
    }
    let Some(podman) = e2e::find_program("podman") else {
        return Err("podman is not installed (scripts/setup installs it)".into());
    };
    for (prog, package) in [
        ("newuidmap", "uidmap"),
        ("newgidmap", "uidmap"),
        ("runuser", "util-linux"),
    ] {
        if e2e::find_program(prog).is_none() {
            return Err(format!(
                "rootless podman needs {prog} (package {package}; scripts/setup installs it)"
            ));
        }
    }
    let uid = rootless_user()?;
    let home = rootless_dir();
    let xdg = home.join("xdg");
    fs::create_dir_all(&xdg).map_err(|e| e.to_string())?;
    fs::set_permissions(&xdg, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
    let chown = run(
        "chown",
        &["-R", &format!("{uid}:{uid}"), home.to_str().unwrap()],
    );
    if !chown.status.success() {
        return Err(format!("chown: {}", String::from_utf8_lossy(&chown.stderr)));
    }
    let h = home.display();
    let rt = Runtime {
        kind: Kind::PodmanRootless,
        prefix: vec![
            "runuser".into(),
            "-u".into(),
            ROOTLESS_USER.into(),
            "--".into(),
            "env".into(),
            "-i".into(),
            format!("PATH={}", e2e::system_path()),
            format!("HOME={h}"),
            format!("XDG_RUNTIME_DIR={}", xdg.display()),
            podman.display().to_string(),
            "--storage-driver".into(),
            "vfs".into(),
            "--root".into(),
            format!("{h}/storage"),
            "--runroot".into(),
            format!("{h}/run"),
            "--runtime".into(),
            "runc".into(),
            "--cgroup-manager".into(),
            "cgroupfs".into(),
            "--events-backend".into(),
            "file".into(),
        ],
        image: "localhost/hookinit-e2e:busybox".into(),
    };
    let info = rt.output(&["info", "--format", "{{.Host.Security.Rootless}}"]);
    let said = String::from_utf8_lossy(&info.stdout);
    if !info.status.success() || said.trim() != "true" {
        return Err(format!(
            "podman as {ROOTLESS_USER} does not run rootless here ({}): {}{}",
            info.status,
            said.trim(),
            String::from_utf8_lossy(&info.stderr).trim()
        ));
    }
    podman_import(&rt)?;
    Ok(rt)
}

/// The runtime, or `None` when the test must be skipped (after saying why).
fn setup(kind: Kind, test: &str) -> Option<&'static Runtime> {
    static RUNTIMES: [OnceLock<Result<Runtime, String>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let slot = &RUNTIMES[kind as usize];
    let rt = slot.get_or_init(|| {
        rootfs()?;
        match kind {
            Kind::Runc | Kind::Crun => oci_runtime(kind),
            Kind::Podman => podman_root(),
            Kind::PodmanRootless => podman_rootless(),
        }
    });
    match rt {
        Ok(rt) => Some(rt),
        Err(why) => {
            if e2e::required(REQUIRE) {
                panic!("{REQUIRE}=1, but {why}");
            }
            eprintln!("skipping {test}: {why}");
            None
        }
    }
}

// ---- cleaning up -------------------------------------------------------------------------

/// podman (as root) containers and images of the runs `which` selects.
fn remove_podman_root_runs(which: impl Fn(&str) -> bool) {
    if e2e::find_program("podman").is_none() {
        return;
    }
    let lines = |args: &[&str]| {
        let out = run("podman", args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let format = format!("{{{{.ID}}}} {{{{index .Labels \"{LABEL}\"}}}}");
    let containers: Vec<String> = lines(&[
        "ps",
        "-a",
        "--filter",
        &format!("label={LABEL}"),
        "--format",
        &format,
    ])
    .lines()
    .filter_map(|l| l.split_once(' '))
    .filter(|(_, r)| which(r))
    .map(|(id, _)| id.to_string())
    .collect();
    if !containers.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(containers.iter().map(String::as_str));
        run("podman", &args);
    }
    let images: Vec<String> = lines(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .lines()
        .filter_map(|i| {
            let name = i.strip_prefix("localhost/")?;
            e2e::run_of(name)
                .filter(|r| which(r))
                .map(|_| i.to_string())
        })
        .collect();
    if !images.is_empty() {
        let mut args = vec!["rmi", "-f"];
        args.extend(images.iter().map(String::as_str));
        run("podman", &args);
    }
}

/// Rootless podman's directory of this run (storage, run root, HOME,
/// XDG_RUNTIME_DIR): short, as podman refuses a run root over 50 characters.
fn rootless_dir() -> PathBuf {
    run_dir(); // the clean-up is set up
    std::env::temp_dir().join(format!("{PREFIX}{}-rl", run_id()))
}

/// Removes a run's directory (after its runc/crun containers and its
/// rootless podman containers).
fn remove_run_dir(dir: &Path) {
    for program in ["runc", "crun"] {
        let state = dir.join(format!("{program}-state"));
        let Some(path) = e2e::find_program(program).filter(|_| state.exists()) else {
            continue;
        };
        let prefix = oci_prefix(&path, &state);
        let oci = |args: &[&str]| {
            Command::new(&prefix[0])
                .args(&prefix[1..])
                .args(args)
                .env("PATH", e2e::system_path())
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        for id in oci(&["list", "-q"]).split_whitespace() {
            oci(&["kill", id, "KILL"]);
            oci(&["delete", "-f", id]);
        }
    }
    let home = dir;
    if home.join("storage").exists() {
        if let Some(podman) = e2e::find_program("podman") {
            let h = home.display();
            let _ = Command::new("runuser")
                .args(["-u", ROOTLESS_USER, "--", "env", "-i"])
                .arg(format!("HOME={h}"))
                .arg(format!("XDG_RUNTIME_DIR={h}/xdg"))
                .arg(podman)
                .args(["--storage-driver", "vfs", "--root"])
                .arg(format!("{h}/storage"))
                .arg("--runroot")
                .arg(format!("{h}/run"))
                .args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
                .args(["--events-backend", "file", "rm", "-f", "-a"])
                .env("PATH", e2e::system_path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
    // Rootless podman keeps a pause process (`catatonit -P`) per
    // XDG_RUNTIME_DIR to hold its user namespace; each run has its own.
    if let Some(pid) = fs::read_to_string(home.join("xdg/libpod/tmp/pause.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    {
        let ours = e2e::proc_state(pid).is_some_and(|(_, comm, _)| comm == "catatonit")
            && fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split('\0').any(|a| a == "-P"));
        if ours {
            // SAFETY: kill of the pause process this run's podman started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let _ = fs::remove_dir_all(dir);
}

fn remove_stale_runs() {
    for entry in fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with("-runtimes") && !name.ends_with("-rl") {
            continue;
        }
        if let Some(r) = e2e::run_of(&name) {
            if e2e::run_is_stale(&r) {
                remove_run_dir(&entry.path());
            }
        }
    }
    remove_podman_root_runs(e2e::run_is_stale);
}

extern "C" fn remove_this_run() {
    if e2e::required("E2E_KEEP_IMAGES") {
        return;
    }
    let _ = std::panic::catch_unwind(|| {
        remove_podman_root_runs(|r| r == run_id());
        remove_run_dir(&rootless_dir());
        remove_run_dir(&std::env::temp_dir().join(format!("{PREFIX}{}-runtimes", run_id())));
    });
}

// ---- containers ----------------------------------------------------------------------------

/// A container of one runtime, removed on drop.
struct Ctr<'a> {
    rt: &'a Runtime,
    id: String,
    /// runc/crun: the foreground `run`, whose exit status is the container's.
    child: Option<Child>,
    /// runc/crun: the bundle, with the container's stdout and stderr files.
    bundle: Option<PathBuf>,
}

struct Out {
    out: String,
    err: String,
}

impl Out {
    fn all(&self) -> String {
        format!("--- stdout ---\n{}--- stderr ---\n{}", self.out, self.err)
    }
}

impl<'a> Ctr<'a> {
    /// Runs `/hookinit -- ARGS` with the `HOOKINIT_*` settings `env`.
    fn start(rt: &'a Runtime, test: &str, env: &[(&str, &str)], args: &[&str]) -> Ctr<'a> {
        let id = e2e::unique_name(test);
        let mut argv = vec!["/hookinit", "--"];
        argv.extend(args);
        if rt.is_podman() {
            let label = format!("{LABEL}={}", run_id());
            let mut all: Vec<String> = strings(&["run", "-d", "--name", &id, "--label", &label]);
            all.extend(strings(&["--network", "none"]));
            all.extend(podman_ulimits());
            for (k, v) in env {
                all.push("-e".into());
                all.push(format!("{k}={v}"));
            }
            all.push(rt.image.clone());
            all.extend(strings(&argv));
            let all: Vec<&str> = all.iter().map(String::as_str).collect();
            rt.ok(&all);
            return Ctr {
                rt,
                id,
                child: None,
                bundle: None,
            };
        }
        let root = &rootfs().unwrap().dir;
        let bundle = run_dir().join(format!("bundle-{id}"));
        fs::create_dir_all(&bundle).unwrap();
        // `runc spec` is the starting point for both runc and crun.
        let spec = run("runc", &["spec", "--bundle", bundle.to_str().unwrap()]);
        assert!(spec.status.success(), "runc spec: {spec:?}");
        let path = bundle.join("config.json");
        let mut config: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        config["root"] = json!({"path": root, "readonly": true});
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(argv);
        let process_env = config["process"]["env"].as_array_mut().unwrap();
        for (k, v) in env {
            process_env.push(json!(format!("{k}={v}")));
        }
        config["hostname"] = json!("hookinit-e2e");
        config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777"]
        }));
        fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        let stdout = fs::File::create(bundle.join("stdout")).unwrap();
        let stderr = fs::File::create(bundle.join("stderr")).unwrap();
        let child = rt
            .command(&["run", "--bundle", bundle.to_str().unwrap(), &id])
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("spawn the runtime");
        Ctr {
            rt,
            id,
            child: Some(child),
            bundle: Some(bundle),
        }
    }

    fn logs(&self) -> Out {
        match &self.bundle {
            Some(b) => Out {
                out: fs::read_to_string(b.join("stdout")).unwrap_or_default(),
                err: fs::read_to_string(b.join("stderr")).unwrap_or_default(),
            },
            None => {
                let out = self.rt.output(&["logs", &self.id]);
                Out {
                    out: String::from_utf8_lossy(&out.stdout).into_owned(),
                    err: String::from_utf8_lossy(&out.stderr).into_owned(),
                }
            }
        }
    }

    fn wait_for(&self, needle: &str) -> Out {
        let end = Instant::now() + e2e::LOG_TIMEOUT;
        loop {
            let logs = self.logs();
            if logs.out.contains(needle) || logs.err.contains(needle) {
                return logs;
            }
            assert!(
                Instant::now() < end,
                "{:?}: no {needle:?} within {:?}\n{}",
                self.rt.kind,
                e2e::LOG_TIMEOUT,
                logs.all()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The host pid of the container's PID 1.
    fn pid(&self) -> i32 {
        let pid = if self.rt.is_podman() {
            self.rt
                .ok(&["inspect", "-f", "{{.State.Pid}}", &self.id])
                .trim()
                .to_string()
        } else {
            // `run` in the background: the state appears once it has started.
            let mut pid = String::new();
            let ok = common::eventually(Duration::from_secs(10), || {
                let out = self.rt.output(&["state", &self.id]);
                let state: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                pid = state["pid"].to_string();
                state["status"] == "running"
            });
            assert!(
                ok,
                "{:?} {} is not running\n{}",
                self.rt.kind,
                self.id,
                self.logs().all()
            );
            pid
        };
        pid.parse()
            .unwrap_or_else(|_| panic!("{:?}: pid {pid:?}", self.rt.kind))
    }

    /// `exec ID ARGS` (podman, runc and crun spell it the same); its stdout.
    fn exec(&self, args: &[&str]) -> String {
        let mut all = vec!["exec", self.id.as_str()];
        all.extend(args);
        self.rt.ok(&all)
    }

    /// The runtime's stop: `podman stop`, or `kill ID TERM` for runc/crun.
    fn stop(&self) {
        if self.rt.is_podman() {
            self.rt.ok(&["stop", "-t", "10", &self.id]);
        } else {
            self.rt.ok(&["kill", &self.id, "TERM"]);
        }
    }

    /// Waits (at most 30 s) for the exit; the exit code as the runtime reports it.
    fn exit_code(&mut self) -> i32 {
        if self.rt.is_podman() {
            let mut cmd = self.rt.command(&["wait", &self.id]);
            cmd.stdin(Stdio::null());
            let (code, out) = e2e::combined(cmd, Duration::from_secs(30));
            return match (code, out.trim().parse()) {
                (Some(0), Ok(n)) => n,
                _ => panic!("podman wait: {code:?}: {out}\n{}", self.logs().all()),
            };
        }
        let child = self.child.as_mut().unwrap();
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status
                    .code()
                    .unwrap_or_else(|| panic!("the runtime was killed: {status}"));
            }
            assert!(
                Instant::now() < end,
                "{:?} {} did not exit within 30 s\n{}",
                self.rt.kind,
                self.id,
                self.logs().all()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Ctr<'_> {
    fn drop(&mut self) {
        if self.rt.is_podman() {
            let _ = self
                .rt
                .command(&["rm", "-f", &self.id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            return;
        }
        let _ = self
            .rt
            .command(&["kill", &self.id, "KILL"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut child) = self.child.take() {
            let end = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < end {
                thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self
            .rt
            .command(&["delete", "-f", &self.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(b) = &self.bundle {
            let _ = fs::remove_dir_all(b);
        }
    }
}

// ---- the checks ----------------------------------------------------------------------------

/// PID 1, PostStart, the orphans reaped, PreStop before the app's TERM, exit 0.
fn core(kind: Kind, test: &str) {
    let Some(rt) = setup(kind, test) else {
        return;
    };
    let started = Instant::now();
    let mut c = Ctr::start(
        rt,
        "core",
        &[
            ("HOOKINIT_POST_START", POST_START),
            ("HOOKINIT_PRE_STOP", PRE_STOP),
        ],
        &["sh", "-c", CORE_APP],
    );
    c.wait_for("app: serving");
    c.wait_for("poststart: ran");
    let pid1 = c.pid();
    // Rootless: the container's root is the throwaway user on the host.
    let want_uid = match kind {
        Kind::PodmanRootless => rootless_user().unwrap(),
        _ => 0,
    };
    assert_eq!(
        host_uid(pid1),
        Some(want_uid),
        "{kind:?}: host uid of PID 1"
    );
    // The orphans (sleep 0.05 each) exit and are reaped: no zombie is left
    // under PID 1, and no orphan either.
    let mut seen = Vec::new();
    let settled = common::eventually(Duration::from_secs(10), || {
        seen = e2e::descendants(pid1)
            .into_iter()
            .filter_map(e2e::proc_state)
            .collect();
        let zombies = seen.iter().filter(|(_, _, s)| *s == 'Z').count();
        let sleeps = seen.iter().filter(|(_, comm, _)| comm == "sleep").count();
        zombies == 0 && sleeps <= 1
    });
    assert!(
        settled,
        "{kind:?}: processes under PID 1 (host pid {pid1}): {seen:?}\n{}",
        c.logs().all()
    );
    // Every orphan is gone: hookinit has no child left to reap.
    assert!(
        e2e::zombie_children(pid1).is_empty(),
        "{kind:?}: {:?}",
        e2e::zombie_children(pid1)
    );
    // The same from inside: every process's state in the container's /proc.
    let stat = c.exec(&["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true"]);
    // (comm, state, parent pid) of each.
    let states: Vec<(String, String, String)> = stat
        .lines()
        .filter_map(|l| {
            let (head, rest) = l.rsplit_once(") ")?;
            let comm = head.split_once(" (")?.1.to_string();
            let mut fields = rest.split(' ');
            let state = fields.next()?.to_string();
            Some((comm, state, fields.next()?.to_string()))
        })
        .collect();
    assert!(
        states.iter().any(|(comm, ..)| comm == "hookinit"),
        "{kind:?}: {stat}"
    );
    // No zombie waits for PID 1 (the app's shell may hold its own `sleep`'s
    // for a moment: that one is the shell's to reap).
    assert!(
        states
            .iter()
            .all(|(_, state, ppid)| state != "Z" || ppid != "1"),
        "{kind:?}: a zombie of PID 1 in the container's /proc: {states:?}"
    );
    c.stop();
    let code = c.exit_code();
    let logs = c.logs();
    eprintln!(
        "{kind:?}: core check in {:.1}s, exit {code}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(code, 0, "{kind:?}\n{}", logs.all());
    assert!(
        logs.out
            .contains("app: pid1 is hookinit: /hookinit -- sh -c"),
        "{kind:?}: PID 1 is not hookinit\n{}",
        logs.all()
    );
    assert!(logs.out.contains("poststart: ran"), "{}", logs.all());
    assert_order(
        &logs.out,
        &["app: serving", "prestop: ran", "app: got TERM"],
        &logs.all(),
    );
    assert_order(
        &logs.err,
        &[
            "hookinit: HookSucceeded hook=PostStart handler=exec",
            "hookinit: Killing: stopping the container: received SIGTERM",
            "hookinit: HookStarted hook=PreStop handler=exec",
            "hookinit: HookSucceeded hook=PreStop handler=exec",
            "hookinit: StopSignalSent: sent SIGTERM to the app",
        ],
        &logs.all(),
    );
    assert!(!logs.err.contains("SigkillSent"), "{}", logs.all());
}

/// The real uid of a host process.
fn host_uid(pid: i32) -> Option<u32> {
    common::proc_status_field(pid, "Uid")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Exit codes as the runtime reports them: the app's 0 and 7; and 143
/// (128 + 15) for an app with no TERM handler stopped by the runtime: hookinit
/// forwards TERM, the default action kills the app, hookinit exits 128 + 15.
fn exit_codes(kind: Kind, test: &str) {
    let Some(rt) = setup(kind, test) else {
        return;
    };
    for (script, want) in [("exit 0", 0), ("echo app: failing; exit 7", 7)] {
        let mut c = Ctr::start(rt, "exit", &[], &["sh", "-c", script]);
        let code = c.exit_code();
        assert_eq!(code, want, "{kind:?} {script:?}\n{}", c.logs().all());
    }
    let mut c = Ctr::start(rt, "term", &[], &["sleep", "300"]);
    // Running, and sleep is PID 1's child.
    let ok = common::eventually(Duration::from_secs(10), || {
        let pid1 = c.pid();
        common::children(pid1)
            .iter()
            .any(|p| e2e::proc_state(*p).is_some_and(|(_, comm, _)| comm == "sleep"))
    });
    assert!(ok, "{kind:?}: no sleep under PID 1\n{}", c.logs().all());
    let started = Instant::now();
    c.stop();
    let code = c.exit_code();
    let took = started.elapsed();
    let logs = c.logs();
    eprintln!(
        "{kind:?}: app without a TERM handler stopped in {:.2}s, exit {code}",
        took.as_secs_f64()
    );
    assert_eq!(code, 143, "{kind:?}\n{}", logs.all());
    assert!(took < Duration::from_secs(5), "{kind:?}: {took:?}");
    assert!(
        logs.err
            .contains("hookinit: StopSignalSent: sent SIGTERM to the app"),
        "{}",
        logs.all()
    );
}

#[test]
fn runc_core() {
    core(Kind::Runc, "runc_core");
}

#[test]
fn runc_exit_codes() {
    exit_codes(Kind::Runc, "runc_exit_codes");
}

#[test]
fn crun_core() {
    core(Kind::Crun, "crun_core");
}

#[test]
fn crun_exit_codes() {
    exit_codes(Kind::Crun, "crun_exit_codes");
}

#[test]
fn podman_root_core() {
    core(Kind::Podman, "podman_root_core");
}

#[test]
fn podman_root_exit_codes() {
    exit_codes(Kind::Podman, "podman_root_exit_codes");
}

#[test]
fn podman_rootless_core() {
    core(Kind::PodmanRootless, "podman_rootless_core");
}

#[test]
fn podman_rootless_exit_codes() {
    exit_codes(Kind::PodmanRootless, "podman_rootless_exit_codes");
}
