//! System calls the init makes per forwarded signal and per reaped zombie,
//! counted by `strace -c` attached to the init (`-p`) for the events only:
//! attached once the app is ready and the init asleep, detached (SIGINT)
//! once the last event is handled and the init asleep again. The init runs
//! natively (no valgrind), as PID 1 of its own PID namespace. Every system
//! call counts, whatever it is (`strace -c`'s "total" row), divided by the
//! number of events; with the init asleep at both ends, that is the work of
//! the events and nothing else (the one call in progress at the attach, the
//! wait itself, adds 1 / events at most).
//!
//! The same apps and driving as the instruction counts ([`super::instructions`]):
//! USR1 one at a time, each after the init is back asleep; zombies handed
//! over at once.

use std::ffi::OsString;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::inits::{find_program, Ctx, Init};
use crate::report::{Check, Row};
use crate::sys::{expect_byte, hand_over_orphans, kill, pipe, wait_asleep};
use crate::Plan;

/// `strace -c -p pid`, once it says it is attached.
fn attach(strace: &Path, pid: i32, out: &Path) -> io::Result<Child> {
    let mut child = Command::new(strace)
        .args(["-c", "-o"])
        .arg(out)
        .args(["-p", &pid.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // "strace: Process N attached" on stderr.
    let mut line = String::new();
    let stderr = child.stderr.take().expect("piped");
    BufReader::new(stderr).read_line(&mut line)?;
    if !line.contains("attached") {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other(format!("strace: {}", line.trim())));
    }
    Ok(child)
}

/// Stops the count (SIGINT makes strace detach and write its table) and
/// returns the total number of calls, with the table for `BENCH_VERBOSE`.
fn detach(mut child: Child, out: &Path) -> io::Result<(u64, String)> {
    kill(child.id() as i32, libc::SIGINT);
    child.wait()?;
    let table = fs::read_to_string(out)?;
    let total = table
        .lines()
        .find(|l| l.trim_end().ends_with("total"))
        .and_then(|l| {
            // % time, seconds, usecs/call, calls, [errors,] "total"
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols.get(3)?.parse().ok()
        })
        .unwrap_or(0);
    Ok((total, table))
}

/// Calls per event while the init forwards `k` USR1 or reaps `k` zombies.
fn count(ctx: &Ctx, strace: &Path, init: &Init, reap: bool, k: usize) -> io::Result<f64> {
    let out = ctx.tmp.join(format!(
        "strace-{}-{}",
        init.name,
        if reap { "reap" } else { "fwd" }
    ));
    let (r3, w3) = pipe()?;
    let (r4, w4) = pipe()?;
    let app: Vec<OsString> = if reap {
        [ctx.app("orphans"), vec![k.to_string().into()]].concat()
    } else {
        ctx.app("usr1")
    };
    let mut p = ctx.launch_init(init, &app, &[], &[(w3.as_raw_fd(), 3), (r4.as_raw_fd(), 4)])?;
    drop((w3, r4));
    let pid = p.pid();
    let result = (|| {
        expect_byte(&r3, b'r', "the app")?;
        wait_asleep(pid)?;
        let tracer = attach(strace, pid, &out)?;
        wait_asleep(pid)?;
        let drive = (|| {
            if reap {
                hand_over_orphans(pid, &w4, &r3)?;
            } else {
                for _ in 0..k {
                    wait_asleep(pid)?;
                    kill(pid, libc::SIGUSR1);
                    expect_byte(&r3, b'u', "the app's USR1 handler")?;
                }
            }
            wait_asleep(pid)
        })();
        let (total, table) = detach(tracer, &out)?;
        drive?;
        if ctx.verbose {
            eprintln!("compare: {} under strace -c:\n{table}", init.name);
        }
        Ok(total as f64 / k as f64)
    })();
    kill(pid, libc::SIGTERM);
    let _ = p.wait(Duration::from_secs(10));
    let _ = fs::remove_file(&out);
    result
}

pub(crate) fn run_syscalls(ctx: &Ctx, plan: &Plan, inits: &[Option<Init>], rows: &mut Vec<Row>) {
    let n = inits.len();
    let Some(strace) = find_program(&["strace"]) else {
        eprintln!("compare: strace not found; no system call counts");
        return;
    };
    let mut row_for = |reap: bool, k: usize| {
        let what = match reap {
            false => format!("System calls per forwarded signal (strace -c attached for {k} USR1)"),
            true => format!("System calls per reaped zombie (strace -c attached for {k} zombies)"),
        };
        let mut row = Row::new(
            what,
            if reap {
                "syscalls / zombie"
            } else {
                "syscalls / signal"
            },
            n,
        );
        for (i, init) in inits.iter().enumerate() {
            let Some(init) = init else {
                row.cells[i] = "not installed".into();
                continue;
            };
            match count(ctx, &strace, init, reap, k) {
                Ok(v) => {
                    // Compared as shown: the call in progress at the attach
                    // (at most 1 / events) must not decide the target.
                    row.values[i] = Some((v * 100.0).round() / 100.0);
                    row.cells[i] = format!("{v:.2}");
                }
                Err(e) => row.cells[i] = format!("error: {e}"),
            }
        }
        if reap {
            row.target = "≤ the best C init's".into();
            row.check = Check::Ratio(1.0);
        } else {
            row.target = "≤ 2 (`read`, `kill`)".into();
            row.check = Check::AtMost(2.0);
        }
        rows.push(row);
    };
    if plan.wants("fwd") {
        row_for(false, plan.instr_signals);
    }
    if plan.wants("reap") {
        row_for(true, plan.orphans);
    }
}
