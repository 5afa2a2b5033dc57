//! Stops behind a real balancer (hookinit only; `drain`, run only when
//! `BENCH_ONLY` names it: a full run takes about 45 minutes): failed
//! requests per stop and stop durations, for each server (nginx, graceful on
//! QUIT; gunicorn and uvicorn, graceful on TERM; `BENCH_DRAIN_SERVERS`, a
//! comma-separated list, runs only those, e.g. `uvicorn`; default all
//! three) × balancer setting (HAProxy `inter
//! 200ms fall 2`, `inter 1s fall 2`, `inter 2s fall 3`) × set-up (tini;
//! hookinit's defaults; a fixed PreStop `sleep 1` + the graceful signal;
//! the drain autopilot + the graceful signal).
//!
//! Each cell is one run of `tests/drain_bench.py` (the harness the CI test
//! `tests/drain_haproxy.rs` runs in a short version) in its own `unshare
//! --net` namespace, with its own HAProxy and two backends (each in its own
//! network and PID namespace); it does `BENCH_DRAIN_STOPS` rolling stops
//! (default 100; 10 with `BENCH_QUICK`). Cells run `BENCH_DRAIN_JOBS` at a
//! time (default 6), the longest first. The load per cell is
//! `BENCH_DRAIN_LOAD` (default `3,3,1,50`: 3 keep-alive clients, 3 with a
//! new connection per request, 1 slow 128 KB download, each pausing 50 ms
//! between requests): light enough that six cells and their servers share
//! two cores without starving HAProxy's checks, which would blur the
//! withdrawal times being measured.
//!
//! Reported per cell: failed requests (total; the most in one stop; how
//! many stops failed any), requests, the stop's duration (TERM → the
//! backend gone: median, p90), hookinit's part of it (TERM → the stop signal
//! sent, from its JSON events: the drain or the sleep), and the balancer's
//! withdrawal time (TERM → HAProxy's stats socket says DOWN, sampled every
//! 10 ms). The autopilot's target: 0 failed, and its TERM → stop signal
//! median ≤ the withdrawal median + the quiet interval (0.5 s) + 0.3 s.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use crate::inits::{find_program, Init};
use crate::Plan;

const SERVERS: [(&str, &str); 3] = [("nginx", "QUIT"), ("gunicorn", "TERM"), ("uvicorn", "TERM")];
/// (inter in ms, fall).
const SETTINGS: [(u64, u64); 3] = [(2000, 3), (1000, 2), (200, 2)];
const SETUPS: [&str; 4] = ["drain", "sleep1", "defaults", "tini"];
const QUIET: f64 = 0.5;
const NEEDS: [&str; 5] = ["haproxy", "tini", "ip", "unshare", "python3"];

struct Cell {
    server: &'static str,
    inter_ms: u64,
    fall: u64,
    setup: &'static str,
    result: Result<serde_json::Value, String>,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into())
}

/// The family's Markdown (a note and a table), or why it was skipped.
/// A failed cell's output goes to `out`/drain-SERVER-INTER-SETUP.log.
pub(crate) fn run_drain(plan: &Plan, hookinit: &Init, out: &Path) -> Vec<String> {
    let wanted = env_or("BENCH_DRAIN_SERVERS", "nginx,gunicorn,uvicorn");
    let mut servers = Vec::new();
    for name in wanted.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match SERVERS.iter().find(|(s, _)| *s == name) {
            Some(&(s, _)) => servers.push(s),
            None => {
                let why = format!(
                    "drain: skipped: BENCH_DRAIN_SERVERS names {name:?}; known: nginx, gunicorn, uvicorn"
                );
                eprintln!("compare: {why}");
                return vec![why];
            }
        }
    }
    let missing: Vec<&str> = NEEDS
        .into_iter()
        .chain(servers.iter().copied())
        .filter(|p| !installed(p))
        .collect();
    if !missing.is_empty() {
        let why = format!("drain: skipped: {missing:?} not installed (scripts/setup)");
        eprintln!("compare: {why}");
        return vec![why];
    }
    let stops: usize = env_or("BENCH_DRAIN_STOPS", if plan.quick { "10" } else { "100" })
        .parse()
        .unwrap_or(100);
    let jobs: usize = env_or("BENCH_DRAIN_JOBS", "6").parse().unwrap_or(6).max(1);
    let load = env_or("BENCH_DRAIN_LOAD", "3,3,1,50");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/drain_bench.py");
    let _ = std::fs::create_dir_all(out);
    // The longest cells (slow settings, long stops) first.
    let mut todo = Vec::new();
    for (inter_ms, fall) in SETTINGS {
        for setup in SETUPS {
            for &server in &servers {
                todo.push((server, inter_ms, fall, setup));
            }
        }
    }
    todo.reverse(); // popped from the end
    let total = todo.len();
    let todo = Mutex::new(todo);
    let done = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let Some((server, inter_ms, fall, setup)) = todo.lock().unwrap().pop() else {
                    break;
                };
                let log = out.join(format!("drain-{server}-{inter_ms}-{setup}.log"));
                // A cell stuck for an hour is a bug to see, not to wait for.
                let run = Command::new("timeout")
                    .args(["3600", "unshare", "--net", "python3"])
                    .arg(&script)
                    .arg(&hookinit.path)
                    .args([server, setup])
                    .args([stops, inter_ms as usize, fall as usize].map(|n| n.to_string()))
                    .arg(&load)
                    .output();
                let result = match run {
                    Ok(o) if o.status.success() => {
                        serde_json::from_slice::<serde_json::Value>(&o.stdout)
                            .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
                    }
                    Ok(o) => {
                        let _ = std::fs::write(&log, &o.stderr);
                        let err = String::from_utf8_lossy(&o.stderr);
                        let last = err.lines().last().unwrap_or("").to_string();
                        Err(format!("{}: {last}", o.status))
                    }
                    Err(e) => Err(e.to_string()),
                };
                let mut done = done.lock().unwrap();
                eprintln!(
                    "compare: drain: {server} inter {inter_ms}ms fall {fall} {setup}: {} ({}/{total}, {:.0} s)",
                    match &result {
                        Ok(v) => format!("{} failed of {}", v["failed"], v["requests"]),
                        Err(e) => format!("error: {e}"),
                    },
                    done.len() + 1,
                    started.elapsed().as_secs_f64()
                );
                done.push(Cell {
                    server,
                    inter_ms,
                    fall,
                    setup,
                    result,
                });
            });
        }
    });
    let cells = done.into_inner().unwrap();
    table(&cells, stops, jobs, &load, started.elapsed().as_secs_f64())
}

/// A program on the PATH; uvicorn: Debian's module for /usr/bin/python3
/// (the harness runs it as `/usr/bin/python3 -m uvicorn`).
fn installed(name: &str) -> bool {
    if name == "uvicorn" {
        return Command::new("/usr/bin/python3")
            .args(["-c", "import uvicorn"])
            .output()
            .is_ok_and(|o| o.status.success());
    }
    find_program(&[name]).is_some()
}

fn setting(inter_ms: u64, fall: u64) -> String {
    if inter_ms.is_multiple_of(1000) {
        format!("`inter {}s fall {fall}`", inter_ms / 1000)
    } else {
        format!("`inter {inter_ms}ms fall {fall}`")
    }
}

fn setup_name(setup: &str, signal: &str) -> String {
    match setup {
        "tini" => "tini".into(),
        "defaults" => "hookinit defaults (TERM at once)".into(),
        "drain" => format!("**the drain** + {signal}"),
        s => format!("PreStop `sleep {}` + {signal}", &s[5..]),
    }
}

fn table(cells: &[Cell], stops: usize, jobs: usize, load: &str, took: f64) -> Vec<String> {
    let mut md = vec![
        format!(
            "Stops behind HAProxy (`BENCH_ONLY=drain`): {stops} rolling stops per cell, {jobs} cells at a time, load `{load}` (keep-alive, new-connection and slow clients, ms between requests) per cell; the drain with `quietSeconds` {QUIET}; took {took:.0} s. Stop: TERM → the backend gone; hookinit: TERM → the stop signal; withdrawal: TERM → HAProxy says DOWN (median / p90, s).\n"
        ),
        "| server | balancer | set-up | failed requests | most in one stop | stops with a failure | requests | stop median / p90 | hookinit median | withdrawal median / p90 | target (drain: 0 failed, hookinit median ≤ withdrawal + 0.5 + 0.3 s) |".into(),
        "|---|---|---|---:|---:|---:|---:|---|---:|---|---|".into(),
    ];
    for (server, signal) in SERVERS {
        for (inter_ms, fall) in SETTINGS.iter().rev() {
            for setup in SETUPS.iter().rev() {
                let Some(c) = cells.iter().find(|c| {
                    c.server == server
                        && c.inter_ms == *inter_ms
                        && c.fall == *fall
                        && c.setup == *setup
                }) else {
                    continue;
                };
                let head = format!(
                    "| {server} | {} | {} |",
                    setting(c.inter_ms, c.fall),
                    setup_name(c.setup, signal)
                );
                let v = match &c.result {
                    Ok(v) => v,
                    Err(e) => {
                        md.push(format!("{head} error: {e} | | | | | | | |"));
                        continue;
                    }
                };
                let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
                let per: Vec<u64> = v["failed_per_stop"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
                    .unwrap_or_default();
                let failed = v["failed"].as_u64().unwrap_or(0);
                let hookinit = match v["signal_median"].as_f64() {
                    Some(s) => format!("{s:.2}"),
                    None => "—".into(),
                };
                let target = if c.setup == "drain" {
                    let bound = f("withdrawal_median") + QUIET + 0.3;
                    let ok = failed == 0 && f("signal_median") <= bound;
                    format!(
                        "{} ({} ≤ {bound:.2})",
                        if ok { "met" } else { "**NOT met**" },
                        hookinit
                    )
                } else {
                    "—".into()
                };
                let failed_cell = if c.setup == "drain" {
                    format!("**{failed}**")
                } else {
                    failed.to_string()
                };
                md.push(format!(
                    "{head} {failed_cell} | {} | {} | {} | {:.2} / {:.2} | {hookinit} | {:.2} / {:.2} | {target} |",
                    per.iter().max().copied().unwrap_or(0),
                    per.iter().filter(|&&n| n > 0).count(),
                    v["requests"],
                    f("stop_median"),
                    f("stop_p90"),
                    f("withdrawal_median"),
                    f("withdrawal_p90"),
                ));
            }
        }
    }
    // Where failures came from: the first few of each cell that had any.
    let mut notes = Vec::new();
    for c in cells {
        if let Ok(v) = &c.result {
            if let Some(list) = v["failures"].as_array().filter(|l| !l.is_empty()) {
                let first: Vec<&str> = list.iter().filter_map(|x| x.as_str()).take(3).collect();
                notes.push(format!(
                    "- {} {} {}: {}",
                    c.server,
                    setting(c.inter_ms, c.fall),
                    c.setup,
                    first.join("; ")
                ));
            }
        }
    }
    if !notes.is_empty() {
        md.push(
            "\nFirst failures per cell (stop index, time after its TERM, what the client saw):\n"
                .into(),
        );
        md.extend(notes);
    }
    // Drains that held the signal past withdrawal + quiet + 0.3 s, in
    // hookinit's words (late samples on a loaded machine show here).
    let mut late = Vec::new();
    for c in cells {
        if let Ok(v) = &c.result {
            for l in v["late_drains"].as_array().into_iter().flatten().take(3) {
                late.push(format!(
                    "- {} {}: {}",
                    c.server,
                    setting(c.inter_ms, c.fall),
                    l.as_str().unwrap_or("")
                ));
            }
        }
    }
    if !late.is_empty() {
        md.push("\nDrains longer than the withdrawal + the quiet interval + 0.3 s (the first 3 per cell):\n".into());
        md.extend(late);
    }
    md
}
