//! CPU per health check: hookinit's exec and httpGet probes, each hookinit in
//! a cgroup of its own, and Docker's `HEALTHCHECK` exec measured meanwhile
//! ([`super::docker`]). Reported, no target.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::cgroup::{Cgroup, CgroupRoot};
use super::docker::docker_health_cpu;
use super::{local_server, sleep_until, Probed};
use crate::inits::{Ctx, Init};
use crate::metrics::size::linkage;
use crate::report::Row;
use crate::Plan;

/// CPU time per health check: hookinit's exec and httpGet probes (each
/// hookinit in a cgroup of its own) and Docker's `HEALTHCHECK`, side by side.
pub(crate) fn run_probe_cpu(ctx: &Ctx, plan: &Plan, hookinit: &Init, rows: &mut Vec<Row>) {
    let root = CgroupRoot::find();
    let busybox = Some(Path::new("/bin/busybox")).filter(|p| linkage(p) == "static");
    let window = Duration::from_secs(plan.probe_cpu_secs);
    let server = local_server(true);
    let exec = |argv: &str| {
        format!(r#"{{"exec":{{"command":{argv}}},"periodSeconds":1,"failureThreshold":1000}}"#)
    };
    // (tag, probe); the first exec probe runs the Docker check's program.
    let mut variants: Vec<(&str, String)> = Vec::new();
    if busybox.is_some() {
        variants.push(("exec", exec(r#"["/bin/busybox","true"]"#)));
    }
    variants.push(("exec-true", exec(r#"["/bin/true"]"#)));
    if let Ok((port, _)) = &server {
        variants.push((
            "http",
            format!(
                r#"{{"httpGet":{{"port":{port},"path":"/"}},"periodSeconds":1,"failureThreshold":1000}}"#
            ),
        ));
    }
    let tmp = ctx.tmp.clone();
    let (results, docker_result) = std::thread::scope(|s| {
        let docker = s.spawn(|| docker_health_cpu(&tmp, busybox, window, root.as_ref()));
        let t0 = Instant::now();
        let mut running: Vec<io::Result<Probed>> = variants
            .iter()
            .map(|(tag, probe)| {
                let cg = match &root {
                    Some(r) => Some(Cgroup::create(
                        r,
                        &format!("hookinit-bench-{}-{tag}", std::process::id()),
                    )?),
                    None => None,
                };
                Probed::start(ctx, hookinit, probe, cg)
            })
            .collect();
        // Runs are at 0, 1, 2… s after the app's start: measuring from
        // 2.5 s to 2.5 + W s takes exactly W of them, whole.
        sleep_until(t0 + Duration::from_millis(2_500));
        let served = || {
            server
                .as_ref()
                .map_or(0, |(_, c)| c.load(Ordering::Relaxed))
        };
        let before: Vec<Option<u64>> = running
            .iter()
            .map(|p| p.as_ref().ok().and_then(|p| p.cpu_ns().ok()))
            .collect();
        let served_before = served();
        sleep_until(t0 + Duration::from_millis(2_500) + window);
        let results: Vec<Result<(f64, u64), String>> = running
            .iter_mut()
            .zip(&before)
            .map(|(p, b)| {
                let p = p.as_mut().map_err(|e| e.to_string())?;
                let after = p.cpu_ns().map_err(|e| e.to_string())?;
                if !p.alive() {
                    return Err("hookinit exited (the probe failed?)".into());
                }
                let b = b.ok_or("no CPU reading at the start")?;
                Ok((after.saturating_sub(b) as f64, window.as_secs()))
            })
            .collect();
        let served_in_window = served() - served_before;
        for p in running.iter_mut().flatten() {
            p.proc.kill_and_wait();
        }
        drop(running);
        let docker = docker.join().unwrap_or_else(|_| Err("panicked".into()));
        ((results, served_in_window), docker)
    });
    let (results, served_in_window) = results;
    let how = match &root {
        Some(r) => format!("{} of a cgroup of its own", r.what()),
        None => "no cgroup here: hookinit's /proc/PID/stat utime+stime+cutime+cstime".into(),
    };
    let ms = |ns: f64| format!("{:.2} ms", ns / 1e6);
    let per_run = |tag: &str| -> Option<Result<f64, String>> {
        let i = variants.iter().position(|(t, _)| *t == tag)?;
        Some(results[i].clone().map(|(ns, runs)| ns / runs as f64))
    };
    let cell = |r: &Option<Result<f64, String>>| match r {
        Some(Ok(v)) => ms(*v),
        Some(Err(e)) => format!("error: {e}"),
        None => "not measured".into(),
    };
    let w = plan.probe_cpu_secs;
    let exec_main = per_run("exec").or_else(|| per_run("exec-true"));
    let exec_prog = if busybox.is_some() {
        "`/bin/busybox true` (static, the program of the Docker check)"
    } else {
        "`/bin/true`"
    };
    let mut row = Row::new(
        format!(
            "CPU per health check: exec probe (hookinit): `{{\"exec\":{{\"command\":…}},\"periodSeconds\":1}}` running {exec_prog}; CPU of hookinit (PID 1 of `INIT -- sleep 1000`) and of every probe process ({how}), over the {w} runs between 2.5 s and {} s after the start, ÷ {w}",
            w as f64 + 2.5
        ),
        "",
        1,
    );
    row.values[0] = exec_main.clone().and_then(Result::ok);
    row.cells[0] = cell(&exec_main);
    if busybox.is_some() {
        if let Some(t) = per_run("exec-true") {
            let _ = write!(
                row.cells[0],
                " (Debian's dynamic `/bin/true`: {})",
                cell(&Some(t))
            );
        }
    }
    row.target = "— (reported)".into();
    let exec_value = row.values[0];
    rows.push(row);

    let http = per_run("http");
    let mut row = Row::new(
        format!(
            "CPU per health check: httpGet probe (hookinit): `{{\"httpGet\":{{\"port\":P,\"path\":\"/\"}},\"periodSeconds\":1}}` against a server in the bench on 127.0.0.1 (its CPU not counted); measured as the exec probe, {w} runs ({served_in_window} requests served in the window)"
        ),
        "",
        1,
    );
    row.values[0] = http.clone().and_then(Result::ok);
    row.cells[0] = match &server {
        Err(e) => format!("error: local server: {e}"),
        Ok(_) => cell(&http),
    };
    row.target = "— (reported)".into();
    let http_value = row.values[0];
    rows.push(row);

    let mut row = Row::new(
        format!(
            "CPU per health check: Docker HEALTHCHECK exec: `FROM scratch` + static busybox, `HEALTHCHECK --interval=1s CMD [\"/bin/busybox\", \"true\"]`, `--network none`; utime+stime+cutime+cstime deltas (/proc/PID/stat) of dockerd, containerd and the container's containerd-shim (whose reaped children are each check's `runc exec`, `runc init` and the check itself) between two quiet moments right after a check ≥ {w} s apart, ÷ the checks between them (seen as processes in the container's cgroup)"
        ),
        "",
        1,
    );
    let mut docker_value = None;
    row.cells[0] = match &docker_result {
        Ok(d) if d.checks > 0 => {
            let k = d.checks as f64;
            let v = (d.daemons_ns + d.shim_ns) as f64 / k;
            docker_value = Some(v);
            row.values[0] = Some(v);
            let mut c = format!(
                "{} ({} checks; per check: dockerd + containerd {}, shim with runc and the check {}",
                ms(v),
                d.checks,
                ms(d.daemons_ns as f64 / k),
                ms(d.shim_ns as f64 / k)
            );
            if let Some(cg) = d.cgroup_ns {
                let _ = write!(
                    c,
                    ", of which in the container's cgroup {}",
                    ms(cg as f64 / k)
                );
            }
            c.push(')');
            if d.others > 0 {
                let _ = write!(
                    c,
                    "; {} other container(s) were running and share the daemons",
                    d.others
                );
            }
            c
        }
        Ok(_) => "error: no check counted".into(),
        Err(e) if e.starts_with("skipped:") => e.clone(),
        Err(e) => format!("error: {e}"),
    };
    row.target = "— (reported)".into();
    rows.push(row);

    for (what, value) in [("exec", exec_value), ("httpGet", http_value)] {
        let mut row = Row::new(
            format!("CPU per health check, Docker HEALTHCHECK exec ÷ hookinit {what} probe (the rows above)"),
            "",
            1,
        );
        row.cells[0] = match (docker_value, value) {
            (Some(d), Some(h)) if h > 0.0 => {
                row.values[0] = Some(d / h);
                format!("×{:.1}", d / h)
            }
            _ if matches!(&docker_result, Err(e) if e.starts_with("skipped:")) => {
                "skipped: no Docker measurement".into()
            }
            _ => "error: a value is missing".into(),
        };
        row.target = "— (reported)".into();
        rows.push(row);
    }
}
