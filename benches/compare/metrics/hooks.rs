//! PreStop timings (hookinit only): the stop signal → the PreStop hook
//! running, and the hook ended → the app got its stop signal, from
//! CLOCK_MONOTONIC stamps taken by the bench, the hook and the app. Reported
//! as a table of their own.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::latencies::Pinned;
use crate::inits::{Ctx, Init, APP};
use crate::report::{median, micros, quantile};
use crate::sys::{expect_byte, kill, mono_ns, pipe, read_exact, TIMEOUT};
use crate::Plan;

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// hookinit only: stop signal → PreStop hook started, and hook ended → app
/// got its stop signal. Returns Markdown lines.
pub(crate) fn run_hooks(ctx: &Ctx, plan: &Plan, hookinit: &Init) -> Vec<String> {
    let _pinned = Pinned::to(ctx.cpu);
    let mut to_hook = Vec::new();
    let mut to_app = Vec::new();
    let mut error = None;
    let hook_json = format!(
        "[{},{},{}]",
        json_string(&ctx.exe.to_string_lossy()),
        json_string(APP),
        json_string("hook")
    );
    for _ in 0..plan.hook_n {
        let once = || -> io::Result<(f64, f64)> {
            let (r, w) = pipe()?;
            let env = [("HOOKINIT_PRE_STOP", OsString::from(&hook_json))];
            let mut p = ctx.launch_init(
                hookinit,
                &ctx.app("term-stamp"),
                &env,
                &[(w.as_raw_fd(), 3)],
            )?;
            drop(w);
            expect_byte(&r, b'r', "the app")?;
            std::thread::sleep(Duration::from_millis(2));
            let t0 = mono_ns();
            kill(p.pid(), libc::SIGTERM);
            expect_byte(&r, b'H', "the PreStop hook's record (fd 3 not inherited?)")?;
            let mut rec = [0u8; 16];
            read_exact(&r, &mut rec)?;
            let hook_start = u64::from_le_bytes(rec[..8].try_into().unwrap());
            let hook_end = u64::from_le_bytes(rec[8..].try_into().unwrap());
            expect_byte(&r, b'T', "the app's TERM record")?;
            let mut ts = [0u8; 8];
            read_exact(&r, &mut ts)?;
            let app_term = u64::from_le_bytes(ts);
            p.wait(TIMEOUT)?;
            Ok((
                hook_start.saturating_sub(t0) as f64,
                app_term.saturating_sub(hook_end) as f64,
            ))
        };
        match once() {
            Ok((a, b)) => {
                to_hook.push(a);
                to_app.push(b);
            }
            Err(e) => {
                error = Some(e.to_string());
                break;
            }
        }
    }
    let line = |what: &str, v: &[f64]| match (quantile(v, 0.1), median(v), quantile(v, 0.9)) {
        (Some(a), Some(m), Some(b)) => {
            format!("| {what} | {} | {} | {} |", micros(m), micros(a), micros(b))
        }
        _ => format!(
            "| {what} | error: {} | | |",
            error.as_deref().unwrap_or("no samples")
        ),
    };
    vec![
        format!(
            "hookinit only, `HOOKINIT_PRE_STOP` = an exec hook (this binary) that records CLOCK_MONOTONIC at its start and end; the app records when TERM arrives ({} runs):",
            plan.hook_n
        ),
        String::new(),
        "| Interval | median | p10 | p90 |".into(),
        "|---|---:|---:|---:|".into(),
        line("SIGTERM to hookinit → PreStop hook running (fork + exec + start-up of the hook included)", &to_hook),
        line("PreStop hook ended → app's TERM handler running (hookinit reaps the hook, sends the stop signal)", &to_app),
    ]
}
