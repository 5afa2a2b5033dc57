//! Docker's side of the CPU per health check: a container with a
//! `HEALTHCHECK` exec, and the CPU of the daemons and of the container's shim
//! per check ([`docker_health_cpu`]).

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cgroup::CgroupRoot;
use super::proc_cpu_ns;
use crate::sys::TIMEOUT;

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// pids whose `comm` is one of `names`.
fn pids_named(names: &[&str]) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| names.contains(&c.trim_end()))
        })
        .collect()
}

/// Docker's side: CPU per `HEALTHCHECK` exec check.
pub(crate) struct DockerChecks {
    pub(crate) checks: u64,
    /// dockerd and containerd, own CPU and reaped children's (ns).
    pub(crate) daemons_ns: u64,
    /// The container's containerd-shim with what it reaped: each check's
    /// `runc exec`, `runc init` and the check's process itself (ns).
    pub(crate) shim_ns: u64,
    /// The container's cgroup (the checks' processes once runc moved them
    /// there; a part of `shim_ns`), when known (ns).
    pub(crate) cgroup_ns: Option<u64>,
    /// Other containers running meanwhile (they share dockerd and containerd).
    pub(crate) others: usize,
}

fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("docker: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "docker {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes the bench's container and image.
struct DockerCleanup {
    name: String,
    tag: String,
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
        let _ = docker(&["rmi", "-f", &self.tag]);
    }
}

/// A `FROM scratch` image with the static busybox and
/// `HEALTHCHECK --interval=1s CMD ["/bin/busybox", "true"]`, run with
/// `--network none`; the CPU of dockerd, containerd and the container's shim
/// (with everything it reaped) between two quiet moments right after a check,
/// divided by the checks seen between them. `Err` starts with "skipped:"
/// when there is no Docker to measure.
pub(crate) fn docker_health_cpu(
    tmp: &Path,
    busybox: Option<&Path>,
    window: Duration,
    root: Option<&CgroupRoot>,
) -> Result<DockerChecks, String> {
    docker(&["version", "--format", "{{.Server.Version}}"])
        .map_err(|e| format!("skipped: no Docker engine answers ({e})"))?;
    let busybox = busybox.ok_or("skipped: no static busybox at /bin/busybox for the image")?;
    let ctx_dir = tmp.join("docker-health");
    fs::create_dir_all(&ctx_dir).map_err(|e| e.to_string())?;
    fs::copy(busybox, ctx_dir.join("busybox")).map_err(|e| e.to_string())?;
    fs::write(
        ctx_dir.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\n\
         HEALTHCHECK --interval=1s --timeout=5s --retries=1000 CMD [\"/bin/busybox\", \"true\"]\n\
         CMD [\"/bin/busybox\", \"sleep\", \"1000\"]\n",
    )
    .map_err(|e| e.to_string())?;
    let id = std::process::id();
    let cleanup = DockerCleanup {
        name: format!("hookinit-bench-health-{id}"),
        tag: format!("hookinit-bench-health:{id}"),
    };
    let dir = ctx_dir.to_string_lossy();
    docker(&["build", "-q", "--network", "none", "-t", &cleanup.tag, &dir])?;
    docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        &cleanup.name,
        &cleanup.tag,
    ])?;
    let pid: i32 = docker(&["inspect", "-f", "{{.State.Pid}}", &cleanup.name])?
        .parse()
        .map_err(|e| format!("the container's pid: {e}"))?;
    let shim = parent_of(pid).ok_or("the container's shim not found")?;
    let daemons = pids_named(&["dockerd", "containerd"]);
    if daemons.is_empty() {
        return Err("dockerd and containerd not found in /proc".into());
    }
    let others = docker(&["ps", "-q"])?.lines().count().saturating_sub(1);
    // A check is running while its processes are in the container's cgroup
    // (runc moves `runc init` there first) or, without cgroups, while the
    // shim has a child besides the container's process.
    let procs = root.and_then(|r| r.of(pid)).map(|d| d.join("cgroup.procs"));
    let busy = || match &procs {
        Some(p) => fs::read_to_string(p).is_ok_and(|s| s.split_whitespace().count() > 1),
        None => fs::read_dir(format!("/proc/{shim}/task")).is_ok_and(|tasks| {
            tasks.flatten().any(|t| {
                fs::read_to_string(t.path().join("children"))
                    .is_ok_and(|c| c.split_whitespace().any(|c| c != pid.to_string()))
            })
        }),
    };
    // Quiet for this long after a check: its result is recorded, the next
    // check is ~1 s away (Docker waits the interval after each check's end).
    let quiet = Duration::from_millis(250);
    let mut checks = 0u64;
    let mut running = false;
    let mut last_busy = Instant::now();
    // Polls until a check has ended and things are quiet.
    let mut next_end = |checks: &mut u64| -> Result<(), String> {
        let give_up = Instant::now() + TIMEOUT;
        loop {
            if Instant::now() > give_up {
                return Err("no health check ran".into());
            }
            let now = Instant::now();
            if busy() {
                running = true;
                last_busy = now;
            } else if running && now - last_busy >= quiet {
                running = false;
                *checks += 1;
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(4));
        }
    };
    let snapshot = || {
        let daemons: u64 = daemons.iter().filter_map(|&p| proc_cpu_ns(p)).sum();
        let cg = root
            .zip(root.and_then(|r| r.of(pid)))
            .and_then(|(r, d)| r.usage_ns(&d).ok());
        (daemons, proc_cpu_ns(shim).unwrap_or(0), cg)
    };
    next_end(&mut checks)?;
    let a = snapshot();
    let (start, first) = (Instant::now(), checks);
    while start.elapsed() < window {
        next_end(&mut checks)?;
    }
    let b = snapshot();
    let health = docker(&["inspect", "-f", "{{json .State.Health}}", &cleanup.name])?;
    let v: serde_json::Value = serde_json::from_str(&health).map_err(|e| e.to_string())?;
    if v["Status"] != "healthy" || v["FailingStreak"] != 0 {
        return Err(format!("the checks failed: {health}"));
    }
    drop(cleanup);
    Ok(DockerChecks {
        checks: checks - first,
        daemons_ns: b.0.saturating_sub(a.0),
        shim_ns: b.1.saturating_sub(a.1),
        cgroup_ns: a.2.zip(b.2).map(|(a, b)| b.saturating_sub(a)),
        others,
    })
}
