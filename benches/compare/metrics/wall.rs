//! Wall time of many sequential `INIT -- /bin/true`, each init in turn by
//! chunks, against `/bin/true` alone (also PID 1 of its own namespace): what
//! starting and ending an init costs, seen from outside. Reported, no target.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::inits::{Ctx, Init};
use crate::report::{median, thousands, Row};
use crate::sys::TIMEOUT;
use crate::Plan;

pub(crate) fn run_wall(ctx: &Ctx, plan: &Plan, inits: &[Option<Init>], rows: &mut Vec<Row>) {
    let n = inits.len();
    let truth: Vec<OsString> = vec!["/bin/true".into()];
    // Variant n is /bin/true without an init (also PID 1 of its own namespace).
    let mut totals = vec![Vec::new(); n + 1];
    let mut failed = vec![None; n + 1];
    let chunks = plan.wall_runs.div_ceil(plan.wall_chunk);
    for _ in 0..plan.wall_reps {
        let mut sum = vec![Duration::ZERO; n + 1];
        for _ in 0..chunks {
            for v in 0..=n {
                let (program, args) = match inits.get(v) {
                    Some(Some(init)) => (init.path.as_path(), init.argv(&truth)),
                    Some(None) => continue,
                    None => (Path::new("/bin/true"), Vec::new()),
                };
                if failed[v].is_some() {
                    continue;
                }
                let t = Instant::now();
                for _ in 0..plan.wall_chunk {
                    let r = ctx
                        .launch(program, &args, &[], &[])
                        .and_then(|mut p| p.wait(TIMEOUT));
                    match r {
                        Ok(s) if s.success() => {}
                        Ok(s) => failed[v] = Some(format!("exit status {s}")),
                        Err(e) => failed[v] = Some(e.to_string()),
                    }
                }
                sum[v] += t.elapsed();
            }
        }
        for v in 0..=n {
            totals[v].push(sum[v].as_secs_f64());
        }
    }
    let baseline = if failed[n].is_none() {
        median(&totals[n])
    } else {
        None
    };
    let mut row = Row::new(
        format!(
            "Wall time of {} sequential `INIT -- /bin/true` (× /bin/true alone: {})",
            thousands(plan.wall_runs as u64),
            baseline.map_or("error".into(), |b| format!("{:.0} ms", b * 1e3))
        ),
        "wall time, /bin/true",
        n,
    );
    for i in 0..n {
        if inits[i].is_none() {
            row.cells[i] = "not installed".into();
            continue;
        }
        if let Some(e) = &failed[i] {
            row.cells[i] = format!("error: {e}");
            continue;
        }
        let v = median(&totals[i]);
        row.values[i] = v;
        row.cells[i] = match (v, baseline) {
            (Some(v), Some(b)) => format!("{:.0} ms (×{:.2})", v * 1e3, v / b),
            (Some(v), None) => format!("{:.0} ms", v * 1e3),
            _ => "error".into(),
        };
    }
    row.target = "— (reported)".into();
    rows.push(row);
}
