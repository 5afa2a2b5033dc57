//! The report: one [`Row`] per metric, with hookinit's target and whether it
//! is met ([`Check`]); statistics and formatting of the cells; the Markdown
//! table with the run's date, machine and revision ([`markdown`]); the bar
//! chart of the ratios hookinit / best of the others ([`svg`]).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::inits::{Ctx, Init};
use crate::Plan;

// ---- one table row ------------------------------------------------------------

/// One metric: a value per init (lower is better), shown as `cells`.
pub(crate) struct Row {
    pub(crate) metric: String,
    pub(crate) values: Vec<Option<f64>>,
    pub(crate) cells: Vec<String>,
    pub(crate) target: String,
    /// Whether hookinit meets the target, given the values.
    pub(crate) check: Check,
    /// Short label for the chart.
    pub(crate) label: &'static str,
}

pub(crate) enum Check {
    /// hookinit's value below this.
    Below(f64),
    /// hookinit's value at most this.
    AtMost(f64),
    /// hookinit's value at most the named init's.
    AtMostOf(&'static str),
    /// hookinit / best of the others at most this ([`Row::ratio`]): 1.0 for
    /// "at most the best C init's", 2.0 for "at most twice".
    Ratio(f64),
    None,
}

impl Row {
    pub(crate) fn new(metric: impl Into<String>, label: &'static str, n: usize) -> Row {
        Row {
            metric: metric.into(),
            values: vec![None; n],
            cells: vec!["error".into(); n],
            target: String::new(),
            check: Check::None,
            label,
        }
    }

    /// hookinit (column 0) / the lowest of the others.
    pub(crate) fn ratio(&self) -> Option<f64> {
        let h = self.values.first().copied().flatten()?;
        let best = self.values[1..]
            .iter()
            .flatten()
            .copied()
            .min_by(|a, b| a.total_cmp(b))?;
        Some(if best == 0.0 {
            if h == 0.0 {
                1.0
            } else {
                f64::INFINITY
            }
        } else {
            h / best
        })
    }

    pub(crate) fn met(&self, names: &[&str]) -> Option<bool> {
        let h = self.values.first().copied().flatten()?;
        match self.check {
            Check::Below(x) => Some(h < x),
            Check::AtMost(x) => Some(h <= x),
            Check::AtMostOf(name) => {
                let i = names.iter().position(|n| *n == name)?;
                Some(h <= self.values[i]?)
            }
            Check::Ratio(x) => Some(self.ratio()? <= x),
            Check::None => None,
        }
    }
}

// ---- statistics and formatting of the cells -----------------------------------

pub(crate) fn median(v: &[f64]) -> Option<f64> {
    quantile(v, 0.5)
}

pub(crate) fn quantile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let pos = q * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    Some(s[lo] + (s[hi] - s[lo]) * (pos - lo as f64))
}

pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string().into_bytes();
    let groups: Vec<&str> = digits
        .rchunks(3)
        .rev()
        .map(|g| std::str::from_utf8(g).unwrap_or("?"))
        .collect();
    groups.join(",")
}

pub(crate) fn micros(ns: f64) -> String {
    if ns >= 10_000_000.0 {
        format!("{:.1} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

// ---- the Markdown report ------------------------------------------------------

/// What the report's header says about the run.
pub(crate) struct Run<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) ctx: &'a Ctx,
    /// The crate's directory.
    pub(crate) root: &'a Path,
    pub(crate) hookinit_path: &'a Path,
    pub(crate) inits: &'a [Option<Init>],
    pub(crate) names: &'a [&'a str],
    pub(crate) started: Instant,
    pub(crate) load_before: String,
}

/// The Markdown report: the run, the table of `rows` (all inits), the PreStop
/// timings, the probes' table (hookinit only), the spread and the targets met.
pub(crate) fn markdown(
    run: &Run,
    rows: &[Row],
    hook_lines: &[String],
    probe_rows: &[Row],
    notes: &[String],
) -> String {
    let Run {
        plan,
        ctx,
        root,
        hookinit_path,
        inits,
        names,
        started,
        load_before,
    } = run;
    let n = inits.len();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# hookinit benchmark{}\n",
        if plan.quick {
            " (BENCH_QUICK: smoke run, few repetitions)"
        } else {
            ""
        }
    );
    let _ = writeln!(md, "- Date: {}", utc_now());
    let _ = writeln!(
        md,
        "- Machine: {}; load average {} at start, {} at end (shared machine: read the ratios)",
        machine(),
        load_before,
        loadavg()
    );
    let _ = writeln!(
        md,
        "- hookinit: `{}` ({}, {})",
        hookinit_path
            .strip_prefix(root)
            .unwrap_or(hookinit_path)
            .display(),
        revision(root),
        if std::env::var_os("HOOKINIT_BIN").is_some() {
            "from $HOOKINIT_BIN"
        } else {
            "built by scripts/build"
        }
    );
    let _ = writeln!(
        md,
        "- Others: {}",
        inits[1..]
            .iter()
            .zip(&names[1..])
            .map(
                |(i, n)| i.as_ref().map_or(format!("{n} not installed"), |i| format!(
                    "`{}`",
                    i.path.display()
                ))
            )
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        md,
        "- How: {}; default options, `INIT -- APP`; {}; interleaved round-robin within each repetition; medians.",
        if ctx.pidns.is_some() {
            "each init as PID 1 of a fresh PID namespace"
        } else {
            "NOT as PID 1 (no PID namespaces here)"
        },
        match ctx.cpu {
            Some(c) => format!(
                "stop, forwarding and PreStop latencies with bench, inits and apps pinned to CPU {c} (`BENCH_CPU`)"
            ),
            None => "nothing pinned".into(),
        }
    );
    let _ = writeln!(
        md,
        "- Reproduce: `{}cargo bench --bench compare` (as root, after `scripts/setup`); took {:.0} s\n",
        if plan.quick { "BENCH_QUICK=1 " } else { "" },
        started.elapsed().as_secs_f64()
    );
    if !rows.is_empty() {
        let _ = writeln!(
            md,
            "| Metric | {} | hookinit / best of the others | Target | Met |",
            names.join(" | ")
        );
        let _ = writeln!(md, "|---|{}---:|---|---|", "---:|".repeat(n));
    }
    for row in rows {
        let ratio = row.ratio().map_or("—".into(), |r| {
            if r.is_finite() {
                format!("{r:.2}")
            } else {
                "∞".into()
            }
        });
        let met = match row.met(names) {
            Some(true) => "yes",
            Some(false) => "**NO**",
            None => "—",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {ratio} | {} | {met} |",
            row.metric,
            row.cells.join(" | "),
            if row.target.is_empty() {
                "—"
            } else {
                &row.target
            }
        );
    }
    if !hook_lines.is_empty() {
        md.push('\n');
        for l in hook_lines {
            let _ = writeln!(md, "{l}");
        }
    }
    if !probe_rows.is_empty() {
        let _ = writeln!(
            md,
            "\nProbes and sd_notify, hookinit only (the other inits have neither):\n\n| Metric | hookinit | Target | Met |\n|---|---:|---|---|"
        );
        for row in probe_rows {
            let met = match row.met(names) {
                Some(true) => "yes",
                Some(false) => "**NO**",
                None => "—",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {met} |",
                row.metric, row.cells[0], row.target
            );
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "\nSpread:\n");
        for note in notes {
            let _ = writeln!(md, "{note}");
        }
    }
    let checked: Vec<(&Row, bool)> = rows
        .iter()
        .chain(probe_rows)
        .filter_map(|r| Some((r, r.met(names)?)))
        .collect();
    let missed: Vec<&str> = checked
        .iter()
        .filter(|(_, m)| !*m)
        .map(|(r, _)| r.label)
        .collect();
    // A run of families whose targets are judged in their own tables
    // (BENCH_ONLY=drain) has none here: no "0 of 0".
    if !checked.is_empty() {
        let _ = writeln!(
            md,
            "\nTargets met: {} of {}{}",
            checked.len() - missed.len(),
            checked.len(),
            if missed.is_empty() {
                String::new()
            } else {
                format!(" (missed: {})", missed.join(", "))
            }
        );
    }
    md
}

// ---- the run: date, machine, revision -----------------------------------------

/// `2026-11-23 19:04 UTC`, without a date library (Hinnant's days-to-civil).
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60
    )
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // SAFETY: plain query.
    let nproc = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{nproc} CPUs online ({usable} usable), {cpu}, Linux {}",
        kernel.trim()
    )
}

pub(crate) fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

fn revision(root: &Path) -> String {
    let out = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match out(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let dirty = out(&[
                "status",
                "--porcelain",
                "--",
                "src",
                "Cargo.toml",
                "Cargo.lock",
            ])
            .is_some_and(|s| !s.is_empty());
            format!("{rev}{}", if dirty { " + uncommitted changes" } else { "" })
        }
        None => "unknown revision".into(),
    }
}

// ---- the chart ----------------------------------------------------------------

/// The bar chart of the rows' ratios, coloured by whether the target is met.
pub(crate) fn svg(rows: &[Row], names: &[&str]) -> String {
    let bars: Vec<(&Row, f64)> = rows.iter().filter_map(|r| Some((r, r.ratio()?))).collect();
    let (w, left, right, top, h) = (760.0, 190.0, 110.0, 50.0, 26.0);
    let height = top + h * bars.len() as f64 + 40.0;
    // Log2 scale from 1/4 to 4; a bar beyond is cut and marked with ›.
    let span = 2.0f64;
    let plot = w - left - right;
    let x = |ratio: f64| {
        let l = if ratio.is_finite() && ratio > 0.0 {
            ratio.log2().clamp(-span, span)
        } else {
            span
        };
        left + plot * (l + span) / (2.0 * span)
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="20" font-size="14" font-weight="bold">hookinit / best of {} (log scale; left of 1 = hookinit better)</text>"#,
        names[1..].join(", ")
    );
    let mut k = -span;
    while k <= span {
        let r = 2f64.powf(k);
        let xx = x(r);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{}" x2="{xx:.1}" y2="{:.1}" stroke="{}" stroke-width="{}"/>"##,
            top - 8.0,
            top + h * bars.len() as f64,
            if k == 0.0 { "#333" } else { "#ddd" },
            if k == 0.0 { 1.5 } else { 1.0 }
        );
        let label = if k >= 0.0 {
            format!("{r}")
        } else {
            format!("1/{}", 2f64.powf(-k))
        };
        let _ = writeln!(
            s,
            r##"<text x="{xx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{label}</text>"##,
            top + h * bars.len() as f64 + 16.0
        );
        k += 1.0;
    }
    // The latency targets' limit.
    let _ = writeln!(
        s,
        r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2:.1}" stroke="#d0463c" stroke-dasharray="3,3"/>"##,
        x(1.05),
        top - 8.0,
        top + h * bars.len() as f64
    );
    for (i, (row, ratio)) in bars.iter().enumerate() {
        let y = top + h * i as f64;
        let (x0, x1) = (x(1.0), x(*ratio));
        let color = match row.met(names) {
            Some(true) => "#4a9d5b",
            Some(false) => "#d0463c",
            None => "#7b8fa6",
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 8.0,
            y + h / 2.0 + 4.0,
            row.label
        );
        let _ = writeln!(
            s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>"#,
            x0.min(x1),
            y + 4.0,
            (x1 - x0).abs().max(1.5),
            h - 8.0
        );
        let off_scale = !(0.25..=4.0).contains(ratio);
        let text = match (ratio.is_finite(), off_scale) {
            (false, _) => "∞".to_string(),
            (true, true) => format!("{ratio:.2} (off scale)"),
            (true, false) => format!("{ratio:.2}"),
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">{text}</text>"#,
            x0.max(x1) + 6.0,
            y + h / 2.0 + 4.0
        );
    }
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="{:.1}" fill="#555">green: target met · red: missed · grey: no target · dashed: 1.05</text>"##,
        height - 6.0
    );
    s.push_str("</svg>\n");
    s
}
