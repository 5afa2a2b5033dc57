//! Wake-ups of hookinit as PID 1 with one tcpSocket liveness probe every
//! 10 s: at most one per probe run, plus one.

use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{local_server, sleep_until, Probed};
use crate::inits::{Ctx, Init};
use crate::report::{Check, Row};
use crate::sys::status_field;
use crate::Plan;

/// Wake-ups of hookinit as PID 1 with one tcpSocket liveness probe every 10 s.
pub(crate) fn run_probe_idle(ctx: &Ctx, plan: &Plan, hookinit: &Init, rows: &mut Vec<Row>) {
    let secs = plan.probe_idle_secs;
    let expected = secs / 10;
    let mut row = Row::new(
        format!(
            "Idle wake-ups in {secs} s with one 10 s liveness probe{}: `{{\"tcpSocket\":{{\"port\":P}},\"periodSeconds\":10}}` to a listener in the bench, `INIT -- sleep 1000`; voluntary + involuntary context switches of hookinit's PID (/proc/PID/status) from 5 s to {} s after the start: {expected} probe runs",
            if plan.quick { " (BENCH_QUICK: 20 s, not 60)" } else { "" },
            secs + 5
        ),
        "wake-ups, 10 s probe",
        1,
    );
    row.target = format!("≤ {}", expected + 1);
    row.check = Check::AtMost((expected + 1) as f64);
    let measure = || -> io::Result<(f64, String)> {
        let (port, accepted) = local_server(false)?;
        let probe = format!(r#"{{"tcpSocket":{{"port":{port}}},"periodSeconds":10}}"#);
        let t0 = Instant::now();
        let mut p = Probed::start(ctx, hookinit, &probe, None)?;
        let pid = p.proc.pid();
        let switches = || {
            (
                status_field(pid, "voluntary_ctxt_switches").unwrap_or(0),
                status_field(pid, "nonvoluntary_ctxt_switches").unwrap_or(0),
            )
        };
        // Runs at 0, 10, 20… s: from 5 s on, the window holds whole runs.
        sleep_until(t0 + Duration::from_secs(5));
        let (v0, n0) = switches();
        let a0 = accepted.load(Ordering::Relaxed);
        sleep_until(t0 + Duration::from_secs(5 + secs));
        let (v1, n1) = switches();
        let a1 = accepted.load(Ordering::Relaxed);
        if !p.alive() {
            return Err(io::Error::other("hookinit exited (the probe failed?)"));
        }
        p.proc.kill_and_wait();
        let (v, n) = (v1 - v0, n1 - n0);
        Ok((
            (v + n) as f64,
            format!(
                "{} ({v} voluntary, {n} involuntary; {} connections accepted)",
                v + n,
                a1 - a0
            ),
        ))
    };
    match measure() {
        Ok((v, cell)) => {
            row.values[0] = Some(v);
            row.cells[0] = cell;
        }
        Err(e) => row.cells[0] = format!("error: {e}"),
    }
    rows.push(row);
}
