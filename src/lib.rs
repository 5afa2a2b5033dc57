//! hookinit: a tiny init (PID 1) for containers that spawns the app, forwards
//! signals, reaps zombies, exits with the app's status, and runs
//! Kubernetes-style lifecycle hooks (PostStart, PreStop) inside the container.
//!
//! Layers, each importing only from those below it (`scripts/layers` checks):
//! - [`os`]: system calls, signals, spawning, reaping, stdio, the heap.
//! - [`events`]: event lines, text or JSON.
//! - [`spec`]: the Kubernetes objects (handler, probe, container), strict JSON.
//! - [`config`]: flags, `HOOKINIT_*` variables and the JSON file, validated.
//! - [`handlers`]: the protocols run in forked children (exec, HTTP/1.1,
//!   TCP, gRPC).
//! - [`hooks`] and [`probes`]: one scheduler each, driven by the loop.
//! - [`readiness_http`] and [`drain`]: readiness over HTTP; the drain
//!   autopilot that waits for the app's ports to go quiet on a stop.
//! - [`app`] and [`leftovers`]: the app's pid and pidfd; which processes
//!   "everything" means when signalling all.
//! - [`supervisor`]: the loop and the stop state machine.

// Raw system calls live in os/ only (README, "Architecture"); Cargo.toml's
// [lints] require a SAFETY note on every block, tests included.

pub(crate) mod app;
pub mod config;
pub(crate) mod drain;
pub(crate) mod events;
pub mod handlers;
pub(crate) mod hooks;
pub(crate) mod leftovers;
pub(crate) mod notify;
pub mod os;
pub(crate) mod probes;
pub(crate) mod readiness_http;
pub mod spec;
pub(crate) mod supervisor;

#[global_allocator]
static ALLOCATOR: os::alloc::Counting = os::alloc::Counting;

use config::Request;
use events::Level;
use leftovers::Scope;
use os::signals::{Inherited, SignalFd};
use os::{exit, spawn, stdio};
use std::ffi::OsString;
use std::mem::ManuallyDrop;

/// Runs hookinit with `argv` (program name first) and returns its exit code.
pub fn run(argv: Vec<OsString>) -> i32 {
    run_inner(argv)
}

fn run_inner(argv: Vec<OsString>) -> i32 {
    stdio::sanitize_standard_fds();
    // First, before anything can change it: what children must inherit.
    // Then block every signal, so none is lost (or fatal) during start-up;
    // they wait in the signalfd until the loop reads them.
    let mut inherited = match Inherited::capture() {
        Ok(i) => i,
        Err(e) => {
            return fatal(&format!(
                "cannot read the signal mask: {}",
                std::io::Error::from(e)
            ))
        }
    };
    let signals = match SignalFd::block_all_and_open() {
        Ok(fd) => fd,
        Err(e) => {
            return fatal(&format!(
                "cannot set up signal handling: {}",
                std::io::Error::from(e)
            ))
        }
    };

    let peer = argv.first().and_then(|a| config::Peer::of(a));
    if peer == Some(config::Peer::DumbInit) {
        if let Err(e) = inherited.reset_as_dumb_init() {
            return fatal(&format!(
                "cannot reset the signal dispositions: {}",
                std::io::Error::from(e)
            ));
        }
    }
    let mut vars = config::environment();
    if let Some(p) = peer {
        vars.extend(p.environment());
    }
    let cfg = match config::parse_as(peer, argv.get(1..).unwrap_or_default(), &vars) {
        Ok(Request::Run(cfg)) => cfg,
        Ok(Request::Check(cfg)) => {
            let mut text = cfg.plan();
            for warning in cfg.warnings() {
                text += &format!("warning: {warning}\n");
            }
            text += "configuration OK\n";
            stdio::print(stdio::Stream::Out, format_args!("{text}"));
            return 0;
        }
        Ok(Request::Ready(cfg)) => {
            return match &cfg.ready_file {
                Some(path) if os::ready_file::is_ready(path) => 0,
                Some(_) => 1,
                None => {
                    say(format_args!(
                        "hookinit: --ready: no ready file is set (HOOKINIT_READY_FILE)\n"
                    ));
                    exit::EXIT_USAGE
                }
            };
        }
        Ok(Request::Help) => {
            stdio::print(stdio::Stream::Out, format_args!("{}", config::usage()));
            return 0;
        }
        Ok(Request::Version) => {
            let version = env!("CARGO_PKG_VERSION");
            stdio::print(stdio::Stream::Out, format_args!("hookinit {version}\n"));
            return 0;
        }
        Ok(Request::Say(text, false)) => {
            stdio::print(stdio::Stream::Out, format_args!("{text}"));
            return 0;
        }
        Ok(Request::Say(text, true)) => {
            say(format_args!("{text}"));
            return 0;
        }
        Err(e) => {
            say(format_args!("hookinit: {e}\n"));
            return config::usage_exit_code(peer);
        }
    };
    events::init(cfg.verbosity, cfg.log_format);
    if let Some(sig) = cfg.peer.parent_death_signal {
        if let Err(e) = os::process::set_parent_death_signal(sig) {
            return fatal(&format!(
                "cannot set the parent death signal: {}",
                std::io::Error::from(e)
            ));
        }
    }

    let scope = Scope::detect();
    if cfg.subreaper.unwrap_or(scope == Scope::Descendants) {
        match os::process::become_subreaper() {
            Ok(()) => events::log(
                Level::Debug,
                "Subreaper",
                format_args!(
                    "registered as a child subreaper: orphans of the app are re-parented to hookinit and reaped"
                ),
            ),
            Err(e) => events::log(
                Level::Warn,
                "Subreaper",
                format_args!(
                    "cannot become a child subreaper: {}",
                    std::io::Error::from(e)
                ),
            ),
        }
    }

    // A ready file left by an earlier life of the container (`docker kill`,
    // a host crash) must not say "ready" before PostStart has succeeded.
    // One that cannot be removed would say so all along: refuse to start.
    if let Some(path) = &cfg.ready_file {
        if let Err(e) = os::ready_file::remove_stale(path) {
            say(format_args!(
                "hookinit: cannot remove the stale ready file {} (HOOKINIT_READY_FILE): {e}\n",
                path.display()
            ));
            return exit::EXIT_FAILURE;
        }
    }
    stdio::init();
    let foreground = spawn::stdin_is_controlling_tty();
    let Some(argv) = spawn::Argv::new(&cfg.command) else {
        say(format_args!(
            "hookinit: usage: the command may not contain a NUL byte\n"
        ));
        return config::usage_exit_code(peer);
    };
    // The notify socket exists before the app, which is told its name
    // (and only the app: hooks and probes keep hookinit's environment).
    let notify = match &cfg.notify_socket {
        None => None,
        Some(address) => match notify::Notify::open(
            address,
            cfg.notify_watchdog,
            notify::budget::Budget::new(cfg.notify_start_timeout, cfg.notify_extend_limit),
        ) {
            Ok(n) => Some(Box::new(n)),
            Err(e) => {
                say(format_args!(
                    "hookinit: cannot create the notify socket (HOOKINIT_NOTIFY_SOCKET): {}\n",
                    std::io::Error::from(e)
                ));
                return exit::EXIT_FAILURE;
            }
        },
    };
    // Bound before the app starts: a taken port is a configuration error.
    let endpoint = match cfg.readiness_address {
        None => None,
        Some(addr) => match readiness_http::Endpoint::open(addr) {
            Ok(e) => Some(Box::new(e)),
            Err(e) => {
                say(format_args!(
                    "hookinit: cannot listen on {} (HOOKINIT_READINESS_ADDRESS): {}\n",
                    config::Listen(addr),
                    std::io::Error::from(e)
                ));
                return exit::EXIT_FAILURE;
            }
        },
    };
    // hookinit's own NOTIFY_SOCKET is hookinit's to tell when relaying.
    let relay = match cfg.notify_relay {
        false => None,
        true => notify::relay::Relay::from_env(),
    };
    // dumb-init's session, unless the app is to have hookinit's terminal: then
    // a process group of its own in the foreground gives the same job control
    // without handing the terminal over (dumb-init's SIGHUP/SIGCONT dance).
    let setsid = cfg.peer.setsid && !foreground;
    let envp = match (&notify, cfg.notify_relay) {
        (None, false) => None,
        (n, _) => Some(notify::Notify::app_environment(n.as_deref())),
    };
    // Called by the supervisor: at once, or after the pre-start steps.
    // Never dropped (the run ends in `exit::now`): what it holds needs no
    // drop code (bytes).
    let (argv, envp) = (ManuallyDrop::new(argv), ManuallyDrop::new(envp));
    let launch: supervisor::Launch = Box::new(move || {
        let spawned = spawn::spawn_in(&argv, &inherited, foreground, setsid, envp.as_ref());
        spawned.map_err(|e| {
            let (program, reason) = (argv.program(), e.reason());
            let why = format_args!("cannot run '{program}': {reason}");
            say(format_args!("hookinit: {why}\n"));
            events::keep(why);
            e.exit_code()
        })
    });
    let mut supervisor =
        supervisor::Supervisor::new(cfg, inherited, scope, signals, launch, notify, relay);
    supervisor.serve_readiness(endpoint);
    let code = supervisor.run();
    // Exit right here, skipping destructors: the kernel reclaims everything,
    // and freeing memory just before exiting is pure cost at every stop.
    // (std's stdout buffer is never used: nothing to flush.)
    exit::now(code)
}

fn fatal(msg: &str) -> i32 {
    events::log(Level::Warn, "Error", format_args!("{}", msg));
    exit::EXIT_FAILURE
}

/// A message on stderr before the app starts (or instead).
fn say(args: std::fmt::Arguments<'_>) {
    stdio::print(stdio::Stream::Err, args);
}
