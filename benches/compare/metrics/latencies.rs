//! Latencies seen from the bench: SIGTERM to the init → the init exited,
//! zombies handed to the init → all reaped, USR1 to the init → the app's
//! handler ran. Target: hookinit / best of the others at most 1.05.
//!
//! Stop, forwarding and PreStop latencies run with the bench, the inits and
//! the apps pinned to one CPU (see [`Pinned`]); everything else is unpinned.
//! The rows give medians, the notes p10 / median / p90 ([`Samples`]).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::inits::{Ctx, Init, Proc};
use crate::report::{median, micros, quantile, thousands, Check, Row};
use crate::sys::{at_most_one_child, expect_byte, kill, pipe, write_byte, TIMEOUT};
use crate::Plan;

/// The CPU for the latency measurements: `$BENCH_CPU`, by default the last
/// one this process may use; `None` with `BENCH_CPU=none`.
pub(crate) fn latency_cpu() -> Option<usize> {
    let want = std::env::var("BENCH_CPU").ok().filter(|v| !v.is_empty());
    if want.as_deref() == Some("none") {
        return None;
    }
    if let Some(c) = want.and_then(|w| w.parse().ok()) {
        return Some(c);
    }
    // SAFETY: cpu_set_t is plain data; the call gets a valid pointer and size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return None;
        }
        (0..libc::CPU_SETSIZE as usize).rfind(|&c| libc::CPU_ISSET(c, &set))
    }
}

/// While alive, this process and every child started meanwhile run on one
/// CPU. A chain of wake-ups (bench → init → app → bench) then costs context
/// switches, not cross-CPU wake-ups whose cost depends on what else the
/// machine runs: latencies get far less noisy, and the chain is sequential
/// anyway. (Not for reaping: the kernel's own work of freeing 10,000 tasks
/// then competes with the init on one CPU and makes it noisier.)
pub(crate) struct Pinned(libc::cpu_set_t);

impl Pinned {
    pub(crate) fn to(cpu: Option<usize>) -> Option<Pinned> {
        let cpu = cpu?;
        // SAFETY: as in latency_cpu.
        unsafe {
            let mut old: libc::cpu_set_t = std::mem::zeroed();
            let size = std::mem::size_of_val(&old);
            if libc::sched_getaffinity(0, size, &mut old) != 0 {
                return None;
            }
            let mut one: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut one);
            (libc::sched_setaffinity(0, size, &one) == 0).then_some(Pinned(old))
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: restores the mask read before.
        unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&self.0), &self.0) };
    }
}

/// Per-init samples, formatted as median with p10–p90 for the notes.
struct Samples {
    values: Vec<Vec<f64>>,
    errors: Vec<Option<String>>,
}

impl Samples {
    fn new(n: usize) -> Samples {
        Samples {
            values: vec![Vec::new(); n],
            errors: vec![None; n],
        }
    }

    fn record(&mut self, i: usize, r: io::Result<f64>) {
        match r {
            Ok(v) => self.values[i].push(v),
            Err(e) => self.errors[i] = Some(e.to_string()),
        }
    }

    fn ok(&self, i: usize) -> bool {
        self.errors[i].is_none()
    }

    /// A row of medians; `show` formats a value.
    fn row(
        &self,
        inits: &[Option<Init>],
        metric: String,
        label: &'static str,
        show: impl Fn(f64) -> String,
    ) -> Row {
        let mut row = Row::new(metric, label, inits.len());
        for (i, init) in inits.iter().enumerate() {
            if init.is_none() {
                row.cells[i] = "not installed".into();
            } else if let Some(e) = &self.errors[i] {
                row.cells[i] = format!("error: {e}");
            } else if let Some(v) = median(&self.values[i]) {
                row.values[i] = Some(v);
                row.cells[i] = show(v);
            }
        }
        row
    }

    fn spread(&self, names: &[&str], what: &str, show: impl Fn(f64) -> String) -> String {
        let mut s = format!("- {what}, p10 / median / p90:");
        for (i, name) in names.iter().enumerate() {
            if let (Some(a), Some(m), Some(b)) = (
                quantile(&self.values[i], 0.1),
                median(&self.values[i]),
                quantile(&self.values[i], 0.9),
            ) {
                let _ = write!(s, " {name} {} / {} / {};", show(a), show(m), show(b));
            }
        }
        s.pop();
        s
    }
}

fn stop_once(ctx: &Ctx, init: &Init) -> io::Result<f64> {
    let (r, w) = pipe()?;
    let mut p = ctx.launch_init(init, &ctx.app("ready-pause"), &[], &[(w.as_raw_fd(), 3)])?;
    drop(w);
    expect_byte(&r, b'r', "the app")?;
    // Let the init settle into its wait.
    std::thread::sleep(Duration::from_millis(2));
    let t = Instant::now();
    kill(p.pid(), libc::SIGTERM);
    p.wait(TIMEOUT)?;
    Ok(t.elapsed().as_nanos() as f64)
}

fn reap_once(ctx: &Ctx, init: &Init, orphans: usize) -> io::Result<f64> {
    let (r3, w3) = pipe()?;
    let (r4, w4) = pipe()?;
    let app = [ctx.app("orphans"), vec![orphans.to_string().into()]].concat();
    let mut p = ctx.launch_init(init, &app, &[], &[(w3.as_raw_fd(), 3), (r4.as_raw_fd(), 4)])?;
    drop((w3, r4));
    expect_byte(&r3, b'r', "the orphans to be created")?;
    let mut children_file = fs::File::open(format!("/proc/{0}/task/{0}/children", p.pid()))?;
    let t = Instant::now();
    write_byte(&w4, b'g')?;
    expect_byte(&r3, b'c', "the hand-over of the orphans")?;
    while !at_most_one_child(&mut children_file)? {
        if t.elapsed() > TIMEOUT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "orphans not reaped",
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let elapsed = t.elapsed().as_nanos() as f64;
    p.kill_and_wait();
    Ok(elapsed)
}

pub(crate) fn run_latencies(
    ctx: &Ctx,
    plan: &Plan,
    inits: &[Option<Init>],
    rows: &mut Vec<Row>,
    notes: &mut Vec<String>,
) {
    let n = inits.len();
    let names: Vec<&str> = inits
        .iter()
        .map(|i| i.as_ref().map_or("-", |i| i.name))
        .collect();
    let ms = |v: f64| format!("{:.1} ms", v / 1e6);

    if plan.wants("stop") {
        let _pinned = Pinned::to(ctx.cpu);
        let mut s = Samples::new(n);
        for _ in 0..plan.stop_n {
            for (i, init) in inits.iter().enumerate() {
                if let Some(init) = init.as_ref().filter(|_| s.ok(i)) {
                    s.record(i, stop_once(ctx, init));
                }
            }
        }
        let mut row = s.row(
            inits,
            format!(
                "Stop latency: SIGTERM to the init → init exited, app dies on TERM (median of {})",
                plan.stop_n
            ),
            "stop latency",
            micros,
        );
        row.target = "ratio ≤ 1.05".into();
        row.check = Check::Ratio(1.05);
        rows.push(row);
        notes.push(s.spread(&names, "Stop latency", micros));
    }

    if plan.wants("reap") {
        let mut s = Samples::new(n);
        for _ in 0..plan.reap_reps {
            for (i, init) in inits.iter().enumerate() {
                if let Some(init) = init.as_ref().filter(|_| s.ok(i)) {
                    s.record(i, reap_once(ctx, init, plan.orphans));
                }
            }
        }
        let k = plan.orphans as f64;
        let mut row = s.row(
            inits,
            format!(
                "Reaping: {} zombies handed to the init at once → all reaped (median of {})",
                thousands(plan.orphans as u64),
                plan.reap_reps
            ),
            "reap time",
            |v| format!("{} ({:.0}k/s)", ms(v), k / (v / 1e9) / 1e3),
        );
        row.target = "ratio ≤ 1.05".into();
        row.check = Check::Ratio(1.05);
        rows.push(row);
        notes.push(s.spread(&names, "Reaping", ms));
    }

    if plan.wants("fwd") {
        let _pinned = Pinned::to(ctx.cpu);
        let mut s = Samples::new(n);
        // One long-running init per kind, all at once; signals round-robin.
        let mut running: Vec<Option<(Proc, OwnedFd)>> = Vec::new();
        for (i, init) in inits.iter().enumerate() {
            let started = init.as_ref().map(|init| -> io::Result<(Proc, OwnedFd)> {
                let (r, w) = pipe()?;
                let p = ctx.launch_init(init, &ctx.app("usr1"), &[], &[(w.as_raw_fd(), 3)])?;
                drop(w);
                expect_byte(&r, b'r', "the app")?;
                Ok((p, r))
            });
            running.push(match started {
                Some(Ok(x)) => Some(x),
                Some(Err(e)) => {
                    s.errors[i] = Some(e.to_string());
                    None
                }
                None => None,
            });
        }
        std::thread::sleep(Duration::from_millis(50));
        for round in 0..plan.fwd_n {
            // Each round starts with the next init: none is always the one
            // signalled right after the bench's own bookkeeping.
            for k in 0..running.len() {
                let i = (round + k) % running.len();
                let Some((p, r)) = running[i].as_ref().filter(|_| s.ok(i)) else {
                    continue;
                };
                let t = Instant::now();
                kill(p.pid(), libc::SIGUSR1);
                let got = expect_byte(r, b'u', "the app's USR1 handler");
                s.record(i, got.map(|()| t.elapsed().as_nanos() as f64));
            }
        }
        drop(running);
        let mut row = s.row(
            inits,
            format!(
                "Signal forwarding: USR1 to the init → app's handler ran (median of {})",
                thousands(plan.fwd_n as u64)
            ),
            "forwarding latency",
            micros,
        );
        row.target = "ratio ≤ 1.05".into();
        row.check = Check::Ratio(1.05);
        rows.push(row);
        notes.push(s.spread(&names, "Forwarding", micros));
    }
}
