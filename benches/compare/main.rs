//! hookinit against tini, dumb-init and catatonit: `cargo bench --bench compare`.
//!
//! `cargo bench` builds the hookinit binary target with the plain release
//! profile, overwriting the size-tuned one, so this first runs `scripts/build`
//! (cached: a few seconds) and then measures
//! `target/x86_64-unknown-linux-musl/release/hookinit`, or `$HOOKINIT_BIN`
//! (then nothing is built). How the inits are found and run, and the apps
//! they run: [`inits`].
//!
//! Runs are interleaved: within each repetition, round-robin over the inits;
//! values are medians. Ratios within one run are what to read: the machine is
//! shared, absolute numbers are noisy. Each metric's method is in its module
//! of [`metrics`]; the rows, their targets and the output in [`report`].
//!
//! Environment: `BENCH_QUICK=1` (smoke run, ~60 s; a full run is ~3 min on
//! 2 cores), `BENCH_ONLY=size,instr,wall,idle,stop,reap,fwd,hooks,probes,notify` (a subset;
//! the per-signal and per-zombie counts need `instr` and `fwd`/`reap`;
//! `drain`, the stops behind HAProxy, runs only when named: about 45
//! minutes, see [`metrics::drain`]),
//! `BENCH_CPU=N|none` (the CPU for the latencies; default: the last one),
//! `BENCH_VERBOSE=1` (inits' output on the terminal, raw callgrind counts),
//! `HOOKINIT_BIN` (measure that binary, build nothing). Needs root (PID
//! namespaces) and valgrind for the instruction counts (`scripts/setup`).
//!
//! Output: a Markdown table on stdout, also in `target/bench/report.md`, and a
//! bar chart of the ratios hookinit / best of the others in
//! `target/bench/ratios.svg`.

mod inits;
mod metrics;
mod report;
mod sys;

use std::fs;
use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use inits::{app, find_program, probe_pid_namespace, Ctx, Init, APP, OTHERS};
use metrics::drain::run_drain;
use metrics::hooks::run_hooks;
use metrics::idle::run_idle;
use metrics::instructions::run_instructions;
use metrics::latencies::{latency_cpu, run_latencies};
use metrics::notify::run_notify;
use metrics::probes::cpu::run_probe_cpu;
use metrics::probes::idle::run_probe_idle;
use metrics::size::run_size;
use metrics::syscalls::run_syscalls;
use metrics::wall::run_wall;
use report::{loadavg, svg, Run};
use sys::mono_ns;

fn main() {
    let t_start = mono_ns();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(APP) {
        app::run(&args[2..], t_start);
    }
    if let Err(e) = bench() {
        eprintln!("compare: {e}");
        std::process::exit(1);
    }
}

/// How much of each measurement: `BENCH_QUICK` and `BENCH_ONLY` (see [`Plan::wants`]).
struct Plan {
    quick: bool,
    only: Option<Vec<String>>,
    instr_reps: usize,
    instr_signals: usize,
    wall_runs: usize,
    wall_chunk: usize,
    wall_reps: usize,
    idle_secs: u64,
    idle_reps: usize,
    stop_n: usize,
    orphans: usize,
    reap_reps: usize,
    fwd_n: usize,
    hook_n: usize,
    /// Window of the probe CPU measurement (1 s period: one run a second).
    probe_cpu_secs: u64,
    /// Window of the idle wake-ups with a 10 s liveness probe.
    probe_idle_secs: u64,
}

impl Plan {
    fn from_env() -> Plan {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let only = std::env::var("BENCH_ONLY")
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
        if quick {
            Plan {
                quick,
                only,
                instr_reps: 1,
                instr_signals: 50,
                wall_runs: 100,
                wall_chunk: 25,
                wall_reps: 1,
                idle_secs: 2,
                idle_reps: 1,
                stop_n: 20,
                orphans: 2_000,
                reap_reps: 1,
                fwd_n: 100,
                hook_n: 5,
                probe_cpu_secs: 6,
                probe_idle_secs: 20,
            }
        } else {
            Plan {
                quick,
                only,
                instr_reps: 3,
                instr_signals: 200,
                wall_runs: 1_000,
                wall_chunk: 50,
                wall_reps: 3,
                idle_secs: 5,
                idle_reps: 2,
                stop_n: 400,
                orphans: 10_000,
                reap_reps: 15,
                fwd_n: 2_000,
                hook_n: 100,
                probe_cpu_secs: 20,
                probe_idle_secs: 60,
            }
        }
    }

    fn wants(&self, part: &str) -> bool {
        match &self.only {
            None => true,
            Some(parts) => parts.iter().any(|p| p == part),
        }
    }

    /// Named in `BENCH_ONLY`: for the long families, left out of a full run.
    fn asks(&self, part: &str) -> bool {
        self.only
            .as_ref()
            .is_some_and(|parts| parts.iter().any(|p| p == part))
    }
}

fn bench() -> io::Result<()> {
    let plan = Plan::from_env();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Where scripts/build (cargo) puts the binary.
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |d| root.join(d));
    let hookinit_path = match std::env::var_os("HOOKINIT_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            eprintln!("compare: scripts/build (cargo bench replaced the size-tuned binary)");
            let ok = Command::new("bash")
                .arg(root.join("scripts/build"))
                .current_dir(&root)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(io::Error::other("scripts/build failed"));
            }
            target_dir.join("x86_64-unknown-linux-musl/release/hookinit")
        }
    };
    if !hookinit_path.is_file() {
        return Err(io::Error::other(format!(
            "{} does not exist",
            hookinit_path.display()
        )));
    }
    let mut inits = vec![Some(Init {
        name: "hookinit",
        path: hookinit_path.clone(),
    })];
    for (name, candidates) in OTHERS {
        inits.push(find_program(candidates).map(|path| Init { name, path }));
    }
    let names: Vec<&str> = std::iter::once("hookinit")
        .chain(OTHERS.iter().map(|(n, _)| *n))
        .collect();
    for (i, init) in inits.iter().enumerate() {
        if init.is_none() {
            eprintln!(
                "compare: {} not installed (scripts/setup installs it)",
                names[i]
            );
        }
    }

    let tmp = std::env::temp_dir().join(format!("hookinit-bench-{}", std::process::id()));
    fs::create_dir_all(&tmp)?;
    let ctx = Ctx {
        cpu: latency_cpu(),
        exe: std::env::current_exe()?,
        tmp: tmp.clone(),
        pidns: probe_pid_namespace(),
        verbose: std::env::var_os("BENCH_VERBOSE").is_some_and(|v| !v.is_empty() && v != "0"),
    };
    if ctx.pidns.is_none() {
        eprintln!("compare: cannot create PID namespaces (not root?): inits will not be PID 1");
    }
    let started = Instant::now();
    let load_before = loadavg();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    if plan.wants("size") {
        run_size(&inits, &mut rows);
    }
    let step = |what: &str| {
        eprintln!(
            "compare: {what} ({:.0} s so far)",
            started.elapsed().as_secs_f64()
        )
    };
    if plan.wants("instr") {
        step("instructions (callgrind)");
        run_instructions(&ctx, &plan, &inits, &mut rows);
    }
    if plan.wants("syscalls") {
        step("system calls per event (strace -c)");
        run_syscalls(&ctx, &plan, &inits, &mut rows);
    }
    if plan.wants("wall") {
        step("wall time");
        run_wall(&ctx, &plan, &inits, &mut rows);
    }
    if plan.wants("idle") {
        step("idle wake-ups and RSS");
        run_idle(&ctx, &plan, &inits, &mut rows);
    }
    if ["stop", "reap", "fwd"].iter().any(|part| plan.wants(part)) {
        step("stop, reaping and forwarding latencies");
        run_latencies(&ctx, &plan, &inits, &mut rows, &mut notes);
    }
    let mut hook_lines = match (&inits[0], plan.wants("hooks")) {
        (Some(h), true) => {
            step("PreStop timings");
            run_hooks(&ctx, &plan, h)
        }
        _ => Vec::new(),
    };
    if let (Some(h), true) = (&inits[0], plan.asks("drain")) {
        step("stops behind HAProxy (drain)");
        hook_lines.extend(run_drain(&plan, h, &target_dir.join("bench")));
    }
    // hookinit only (the others have no probes): a table of its own.
    let mut probe_rows = Vec::new();
    if let Some(h) = &inits[0] {
        if plan.wants("probes") || plan.wants("probe_cpu") {
            step("CPU per health check (hookinit's probes, Docker's HEALTHCHECK)");
            run_probe_cpu(&ctx, &plan, h, &mut probe_rows);
        }
        if plan.wants("probes") || plan.wants("probe_idle") {
            step("idle wake-ups with a 10 s liveness probe");
            run_probe_idle(&ctx, &plan, h, &mut probe_rows);
        }
        if plan.wants("notify") {
            step("sd_notify: READY=1 to the ready file, wake-ups");
            run_notify(&ctx, &plan, h, &mut probe_rows);
        }
    }
    let _ = fs::remove_dir_all(&tmp);

    let md = report::markdown(
        &Run {
            plan: &plan,
            ctx: &ctx,
            root: &root,
            hookinit_path: &hookinit_path,
            inits: &inits,
            names: &names,
            started,
            load_before,
        },
        &rows,
        &hook_lines,
        &probe_rows,
        &notes,
    );
    print!("{md}");
    let out = target_dir.join("bench");
    fs::create_dir_all(&out)?;
    fs::write(out.join("report.md"), &md)?;
    fs::write(out.join("ratios.svg"), svg(&rows, &names))?;
    eprintln!(
        "compare: wrote {} and ratios.svg",
        out.join("report.md").display()
    );
    Ok(())
}
