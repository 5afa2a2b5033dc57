//! hookinit: a tiny init (PID 1) for containers that spawns the app, forwards
//! signals, reaps zombies, exits with the app's status, and runs
//! Kubernetes-style lifecycle hooks (PostStart, PreStop) inside the container.
//!
//! Modules, one concern each:
//! - [`config`]: flags, `HOOKINIT_*` variables and the JSON file, validated
//!   ([`lifecycle`] for the Kubernetes `lifecycle` schema, [`probes::spec`]
//!   for `Probe` objects, [`container`] for a whole `Container` object,
//!   [`json`] for strict JSON).
//! - [`supervisor`]: the loop and the stop state machine.
//! - [`signals`]: signal sets, the inherited signal configuration, the signalfd.
//! - [`reap`]: the one `wait4(-1)` loop; [`sys`]: the loop's hot system calls.
//! - [`app`]: the app's pid and pidfd, signalled with every result checked.
//! - [`spawn`]: starting the app and exec hooks (fork and exec, no allocation).
//! - [`runner`]: handlers that run hookinit's own code, in a forked child.
//! - [`hooks`]: the handlers (`exec`, `httpGet`, `tcpSocket`, `sleep`).
//! - [`http1`]: the HTTP/1.1 GET client of httpGet hooks and probes;
//!   [`net`]: connecting within a deadline (tcpSocket, httpGet, grpc).
//! - [`grpc`]: the `grpc` probe, a `grpc.health.v1.Health/Check` client over
//!   cleartext HTTP/2 (with its own HPACK decoder).
//! - [`leftovers`]: which processes "everything" means when signalling all.
//! - [`events`]: event lines, text or JSON; [`errno`]: OS errors as text.
//! - [`stdio`]: writing to the container's stdout/stderr without ever blocking.
//! - [`alloc`]: the heap, counted once start-up is over (it must stay at 0).

pub mod alloc;
pub mod app;
pub mod config;
pub mod container;
pub mod errno;
pub mod events;
pub mod grpc;
pub mod hooks;
pub mod http1;
pub mod json;
pub mod leftovers;
pub mod lifecycle;
pub mod net;
pub mod prober;
pub mod probes;
pub mod reap;
pub mod runner;
pub mod signals;
pub mod spawn;
pub mod stdio;
pub mod supervisor;
pub mod sys;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

use config::Request;
use events::Level;
use leftovers::Scope;
use signals::{Inherited, SignalFd};
use std::ffi::OsString;
use std::io::Write;

/// Exit code when hookinit could not set itself up, or could not start the
/// app for a reason of the machine (no PIDs, memory or descriptors), as tini.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the app could not be stopped: SIGKILL was refused (EPERM),
/// so it may outlive hookinit. Only possible when hookinit is not PID 1.
pub const EXIT_APP_NOT_STOPPED: i32 = 3;
/// Exit code when PostStart failed and hookinit stopped the container,
/// whatever the app's own status.
pub const EXIT_POST_START_FAILED: i32 = 4;
/// Exit code when a liveness or startup probe failed and hookinit stopped
/// the container, whatever the app's own status: restart policies
/// (`on-failure`, `unless-stopped`, `always`) restart it.
pub const EXIT_PROBE_FAILED: i32 = 5;

/// Runs hookinit with `argv` (program name first) and returns its exit code.
pub fn run(argv: Vec<OsString>) -> i32 {
    let code = run_inner(argv);
    let _ = std::io::stdout().flush();
    code
}

fn run_inner(argv: Vec<OsString>) -> i32 {
    stdio::sanitize_standard_fds();
    // First, before anything can change it: what children must inherit.
    // Then block every signal, so none is lost (or fatal) during start-up;
    // they wait in the signalfd until the loop reads them.
    let inherited = match Inherited::capture() {
        Ok(i) => i,
        Err(e) => return fatal(&format!("cannot read the signal mask: {e}")),
    };
    let signals = match SignalFd::block_all_and_open() {
        Ok(fd) => fd,
        Err(e) => return fatal(&format!("cannot set up signal handling: {e}")),
    };

    let cfg = match config::parse(argv.get(1..).unwrap_or_default(), &config::environment()) {
        Ok(Request::Run(cfg)) => cfg,
        Ok(Request::Check(cfg)) => {
            print!("{}", cfg.plan());
            for warning in cfg.warnings() {
                println!("warning: {warning}");
            }
            println!("configuration OK");
            return 0;
        }
        Ok(Request::Ready(cfg)) => {
            return match &cfg.ready_file {
                Some(path) if path.exists() => 0,
                Some(_) => 1,
                None => {
                    eprintln!("hookinit: --ready: no ready file is set (HOOKINIT_READY_FILE)");
                    EXIT_USAGE
                }
            };
        }
        Ok(Request::Help) => {
            print!("{}", config::usage());
            return 0;
        }
        Ok(Request::Version) => {
            println!("hookinit {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Err(e) => {
            eprintln!("hookinit: {e}");
            return EXIT_USAGE;
        }
    };
    events::init(cfg.verbosity, cfg.log_format);

    let scope = Scope::detect();
    if cfg.subreaper.unwrap_or(scope == Scope::Descendants) {
        // SAFETY: plain prctl.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0 {
            events::log(
                Level::Debug,
                "Subreaper",
                format_args!(
                    "registered as a child subreaper: orphans of the app are re-parented to hookinit and reaped"
                ),
            );
        } else {
            events::log(
                Level::Warn,
                "Subreaper",
                format_args!(
                    "cannot become a child subreaper: {}",
                    std::io::Error::last_os_error()
                ),
            );
        }
    }

    // A ready file left by an earlier life of the container (`docker kill`,
    // a host crash) must not say "ready" before PostStart has succeeded.
    if let Some(path) = &cfg.ready_file {
        let _ = std::fs::remove_file(path);
    }
    stdio::init();
    let foreground = spawn::stdin_is_controlling_tty();
    let Some(argv) = spawn::Argv::new(&cfg.command) else {
        eprintln!("hookinit: usage: the command may not contain a NUL byte");
        return EXIT_USAGE;
    };
    let app_pid = match spawn::spawn(&argv, &inherited, spawn::Stdio::default(), foreground) {
        Ok(pid) => pid,
        Err(e) => {
            eprintln!("hookinit: cannot run '{}': {}", argv.program(), e.reason());
            return e.exit_code();
        }
    };
    let mut supervisor = supervisor::Supervisor::new(cfg, inherited, scope, signals, app_pid);
    let code = supervisor.run();
    // Exit right here, skipping destructors: the kernel reclaims everything,
    // and freeing memory just before exiting is pure cost at every stop.
    // (std's exit still flushes stdout if anything was written to it.)
    std::process::exit(code)
}

fn fatal(msg: &str) -> i32 {
    events::log(Level::Warn, "Error", format_args!("{}", msg));
    EXIT_FAILURE
}
