//! Idle cost: every init with `sleep 1000`, all at once; its context switches
//! over a window (its wake-ups; target 0) and its RSS (target: at most
//! catatonit's), from /proc/PID/status.

use std::ffi::OsString;
use std::fs;
use std::time::{Duration, Instant};

use crate::inits::{Ctx, Init, Proc};
use crate::report::{median, thousands, Check, Row};
use crate::sys::{children, context_switches, status_field};
use crate::Plan;

pub(crate) fn run_idle(ctx: &Ctx, plan: &Plan, inits: &[Option<Init>], rows: &mut Vec<Row>) {
    let n = inits.len();
    let app: Vec<OsString> = vec!["/bin/sleep".into(), "1000".into()];
    let mut wakeups = vec![Vec::new(); n];
    let mut rss = vec![Vec::new(); n];
    let mut errors = vec![None; n];
    for _ in 0..plan.idle_reps {
        // All at once: idle processes do not disturb each other, and they
        // share the same window.
        let mut procs: Vec<Option<Proc>> = Vec::new();
        for (i, init) in inits.iter().enumerate() {
            procs.push(init.as_ref().and_then(|init| {
                ctx.launch_init(init, &app, &[], &[])
                    .map_err(|e| errors[i] = Some(e.to_string()))
                    .ok()
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (i, p) in procs.iter().enumerate() {
            let Some(p) = p else { continue };
            let started = || {
                children(p.pid()).iter().any(|c| {
                    fs::read_to_string(format!("/proc/{c}/comm")).is_ok_and(|s| s.trim() == "sleep")
                })
            };
            while !started() {
                if Instant::now() > deadline {
                    errors[i] = Some("the app did not start".into());
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        let before: Vec<u64> = procs
            .iter()
            .map(|p| p.as_ref().map_or(0, |p| context_switches(p.pid())))
            .collect();
        std::thread::sleep(Duration::from_secs(plan.idle_secs));
        for (i, p) in procs.iter_mut().enumerate() {
            let Some(p) = p else { continue };
            if errors[i].is_some() {
                continue;
            }
            let after = context_switches(p.pid());
            // Scaled to 5 s when the window is shorter (quick runs).
            wakeups[i].push((after - before[i]) as f64 * 5.0 / plan.idle_secs as f64);
            if let Some(kb) = status_field(p.pid(), "VmRSS") {
                rss[i].push(kb as f64);
            }
            p.kill_and_wait();
        }
    }
    let mut w = Row::new(
        "Idle wake-ups in 5 s, `INIT -- sleep 1000` (context switches, /proc/PID/status)",
        "idle wake-ups",
        n,
    );
    let mut r = Row::new("Idle RSS (VmRSS)", "idle RSS", n);
    for i in 0..n {
        if inits[i].is_none() {
            w.cells[i] = "not installed".into();
            r.cells[i] = "not installed".into();
            continue;
        }
        if let Some(e) = &errors[i] {
            w.cells[i] = format!("error: {e}");
            r.cells[i] = w.cells[i].clone();
            continue;
        }
        w.values[i] = median(&wakeups[i]);
        r.values[i] = median(&rss[i]);
        w.cells[i] = w.values[i].map_or("error".into(), |v| format!("{v:.0}"));
        r.cells[i] = r.values[i].map_or("error".into(), |v| format!("{} kB", thousands(v as u64)));
    }
    w.target = "0".into();
    w.check = Check::AtMost(0.0);
    r.target = "≤ catatonit's".into();
    r.check = Check::AtMostOf("catatonit");
    rows.push(w);
    rows.push(r);
}
