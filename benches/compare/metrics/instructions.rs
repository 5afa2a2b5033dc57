//! Instructions the init itself executes (callgrind, children not followed:
//! a child's part after fork runs natively once it has exec'd).
//!
//! Instruction counts (callgrind) are deterministic; besides the start-up
//! cost (`INIT -- /bin/true`, as PID 1 and not) they give the init's cost per
//! forwarded signal and per reaped zombie, which the noisy latencies only hint
//! at: the difference between a run with `k` events and one with none, ÷ `k`.
//! Targets, against the best of the C inits (tini-static, dumb-init,
//! catatonit, those installed: the table's ratio, [`Check::Ratio`]): start-up
//! and each event at most the best's.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use crate::inits::{find_program, Ctx, Init, Proc};
use crate::report::{median, thousands, Check, Row};
use crate::sys::{expect_byte, hand_over_orphans, kill, pipe, wait_asleep};
use crate::Plan;

/// Talks to a running init until it should exit by itself.
type Drive = Box<dyn FnOnce(&Proc) -> io::Result<()>>;

/// What callgrind runs: the init with `app`, `fds` as in [`Ctx::launch`]
/// (`keep` holds the child's ends until it started), `drive` talking to it.
struct Callgrind {
    app: Vec<OsString>,
    fds: Vec<(RawFd, RawFd)>,
    keep: Vec<OwnedFd>,
    drive: Drive,
}

/// Instructions the init itself executes (callgrind, children not followed:
/// a child's part after fork runs natively once it has exec'd).
fn instructions(
    ctx: &Ctx,
    valgrind: &Path,
    init: &Init,
    pid1: bool,
    tag: &str,
    run: Callgrind,
) -> io::Result<u64> {
    let dir = ctx.tmp.join(format!("callgrind-{}-{tag}", init.name));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let mut args: Vec<OsString> = vec![
        "--tool=callgrind".into(),
        format!("--callgrind-out-file={}/callgrind.out.%p", dir.display()).into(),
        init.path.clone().into(),
    ];
    args.extend(init.argv(&run.app));
    let ns_ctx = Ctx {
        cpu: ctx.cpu,
        exe: ctx.exe.clone(),
        tmp: ctx.tmp.clone(),
        pidns: if pid1 {
            ctx.pidns.as_ref().and_then(|f| f.try_clone().ok())
        } else {
            None
        },
        verbose: ctx.verbose,
    };
    let mut p = ns_ctx.launch(valgrind, &args, &[], &run.fds)?;
    drop(run.keep);
    let pid = if ns_ctx.pidns.is_some() { 1 } else { p.pid() };
    (run.drive)(&p)?;
    p.wait(Duration::from_secs(120))?;
    let text = fs::read_to_string(dir.join(format!("callgrind.out.{pid}")))?;
    let _ = fs::remove_dir_all(&dir);
    let total = |key: &str| {
        text.lines()
            .filter_map(|l| l.strip_prefix(key))
            .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .next_back()
    };
    total("totals:")
        .or_else(|| total("summary:"))
        .ok_or_else(|| io::Error::other("no totals in the callgrind output"))
}

fn true_run() -> Callgrind {
    Callgrind {
        app: vec!["/bin/true".into()],
        fds: Vec::new(),
        keep: Vec::new(),
        drive: Box::new(|_| Ok(())),
    }
}

/// The init forwards `k` USR1 to the app, one at a time, then gets TERM.
fn forwarding_run(ctx: &Ctx, k: usize) -> io::Result<Callgrind> {
    let (r, w) = pipe()?;
    Ok(Callgrind {
        app: ctx.app("usr1"),
        fds: vec![(w.as_raw_fd(), 3)],
        keep: vec![w],
        drive: Box::new(move |p| {
            expect_byte(&r, b'r', "the app")?;
            for _ in 0..k {
                // One signal per wake-up, as when signals are rare: the
                // init's cost per wake-up is counted each time.
                wait_asleep(p.pid())?;
                kill(p.pid(), libc::SIGUSR1);
                expect_byte(&r, b'u', "the app's USR1 handler")?;
            }
            kill(p.pid(), libc::SIGTERM);
            Ok(())
        }),
    })
}

/// The init reaps `n` zombies handed over at once, then gets TERM.
fn reaping_run(ctx: &Ctx, n: usize) -> io::Result<Callgrind> {
    let (r3, w3) = pipe()?;
    let (r4, w4) = pipe()?;
    Ok(Callgrind {
        app: [ctx.app("orphans"), vec![n.to_string().into()]].concat(),
        fds: vec![(w3.as_raw_fd(), 3), (r4.as_raw_fd(), 4)],
        keep: vec![w3, r4],
        drive: Box::new(move |p| {
            expect_byte(&r3, b'r', "the orphans to be created")?;
            hand_over_orphans(p.pid(), &w4, &r3)?;
            kill(p.pid(), libc::SIGTERM);
            Ok(())
        }),
    })
}

pub(crate) fn run_instructions(
    ctx: &Ctx,
    plan: &Plan,
    inits: &[Option<Init>],
    rows: &mut Vec<Row>,
) {
    let n = inits.len();
    let Some(valgrind) = find_program(&["valgrind"]) else {
        eprintln!("compare: valgrind not found; no instruction counts");
        return;
    };
    let modes: &[(bool, &str, &'static str)] = if ctx.pidns.is_some() {
        &[
            (true, "as PID 1", "instructions (PID 1)"),
            (false, "not PID 1", "instructions (not PID 1)"),
        ]
    } else {
        &[(false, "not PID 1", "instructions (not PID 1)")]
    };
    let mut samples = vec![vec![Vec::new(); n]; modes.len()];
    let mut errors: Vec<Vec<Option<String>>> = vec![vec![None; n]; modes.len()];
    for rep in 0..plan.instr_reps {
        for (m, &(pid1, _, _)) in modes.iter().enumerate() {
            for (i, init) in inits.iter().enumerate() {
                let Some(init) = init else { continue };
                let tag = format!("{m}-{rep}");
                match instructions(ctx, &valgrind, init, pid1, &tag, true_run()) {
                    Ok(v) => samples[m][i].push(v as f64),
                    Err(e) => errors[m][i] = Some(e.to_string()),
                }
            }
        }
    }
    for (m, &(_, how, label)) in modes.iter().enumerate() {
        let mut row = Row::new(
            format!("Instructions executed by the init for `INIT -- /bin/true`, {how} (callgrind)"),
            label,
            n,
        );
        for i in 0..n {
            row.values[i] = median(&samples[m][i]);
            row.cells[i] = match (&inits[i], row.values[i], &errors[m][i]) {
                (None, _, _) => "not installed".into(),
                (_, Some(v), _) => thousands(v as u64),
                (_, None, Some(e)) => format!("error: {e}"),
                (_, None, None) => "error".into(),
            };
        }
        row.target = "≤ the best C init's".into();
        row.check = Check::Ratio(1.0);
        rows.push(row);
    }

    // The cost of one event, deterministic where latencies are noisy: the
    // difference between a run with `k` events and one with none.
    let pid1 = ctx.pidns.is_some();
    let per_event = |what: String, k: usize, make: &dyn Fn(usize) -> io::Result<Callgrind>| {
        let mut row = Row::new(what, "", n);
        for (i, init) in inits.iter().enumerate() {
            let Some(init) = init else {
                row.cells[i] = "not installed".into();
                continue;
            };
            let one = |count: usize| {
                instructions(
                    ctx,
                    &valgrind,
                    init,
                    pid1,
                    &format!("x{count}"),
                    make(count)?,
                )
            };
            match one(0).and_then(|zero| Ok((zero, one(k)?))) {
                Ok((zero, many)) => {
                    if ctx.verbose {
                        eprintln!(
                            "compare: {}: {zero} instructions with no event, {many} with {k}",
                            init.name
                        );
                    }
                    let v = many.saturating_sub(zero) as f64 / k as f64;
                    row.values[i] = Some(v);
                    row.cells[i] = format!("{v:.0}");
                }
                Err(e) => row.cells[i] = format!("error: {e}"),
            }
        }
        row.target = "≤ the best C init's".into();
        row.check = Check::Ratio(1.0);
        row
    };
    if plan.wants("fwd") {
        let k = plan.instr_signals;
        let mut row = per_event(
            format!("Instructions per forwarded signal (callgrind: {k} USR1 vs none)"),
            k,
            &|count| forwarding_run(ctx, count),
        );
        row.label = "instructions / signal";
        rows.push(row);
    }
    if plan.wants("reap") {
        let k = plan.orphans;
        let mut row = per_event(
            format!(
                "Instructions per reaped zombie (callgrind: {} zombies vs none)",
                thousands(k as u64)
            ),
            k,
            &|count| reaping_run(ctx, count),
        );
        row.label = "instructions / zombie";
        rows.push(row);
    }
}
