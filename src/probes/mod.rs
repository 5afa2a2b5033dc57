//! The kubelet's prober inside the container: startup, liveness and
//! readiness probes, one worker each, and the results they lead to.
//!
//! Each probe run is a process ([`crate::handlers::runner`]) with a deadline, forked
//! when the previous run of that probe ended and sleeping until its tick: the
//! loop wakes once per probe run, for its result (the process's exit), and
//! not also to start it. Probes never overlap themselves.
//!
//! The kubelet's semantics (`pkg/kubelet/prober`, see the README) are pure
//! code, tested without processes: [`ticker`] says when a probe runs and
//! [`worker`] what its results lead to. This file runs the processes and
//! logs the events.

use crate::events::{self, Event, Level};
use crate::handlers::runner::{self, Runner};
use crate::handlers::{grpc, http, tcp, Caller, Outcome, Verdict};
use crate::os::errno::Errno;
use crate::os::fd::{read_some, set_nonblocking};
use crate::os::process::{kill_process, pidfd_open};
use crate::os::reap::Status;
use crate::os::signals::Inherited;
use crate::os::spawn::{self, Argv};
use crate::os::text::format_into;
use crate::os::text::Quoted;
use crate::os::wait::wait_for;
use crate::spec::handler::Action;
use crate::spec::probe::{Probe, ProbeHandler, ProbeKind};
use std::fmt;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};
use ticker::Ticker;
use worker::{index, Health, Ran, Recorded, Thresholds};

pub use worker::Change;

mod ticker;
mod worker;

/// How long past its own timeout a probe's process may take (fork, exec,
/// report) before hookinit kills it.
const SLACK: Duration = Duration::from_secs(1);
/// The kubelet keeps 10 KiB of an exec probe's output.
const OUTPUT_MAX: usize = 10 * 1024;

struct Run {
    runner: Runner,
    /// When hookinit kills it: its tick, its timeout and some slack.
    deadline: Instant,
}

struct Worker {
    kind: ProbeKind,
    probe: Probe,
    argv: Option<Argv>,
    ticker: Ticker,
    run: Option<Run>,
    /// When a probe whose process could not be forked is tried again.
    retry_at: Option<Instant>,
    report: [u8; runner::REPORT_MAX],
}

pub struct Prober {
    workers: [Option<Box<Worker>>; 3],
    health: Health,
    stopped: bool,
    inherited: Inherited,
}

impl Prober {
    /// The probes of `probes` that are configured, timed from now (the
    /// app's start). Without any, nothing is copied and the clock not read.
    pub fn new(probes: [Option<&Probe>; 3], inherited: Inherited) -> Prober {
        let health = Health::new(probes.map(|probe| {
            probe.map(|p| Thresholds {
                success: p.success_threshold,
                failure: p.failure_threshold,
            })
        }));
        let app_started = probes.iter().any(Option::is_some).then(Instant::now);
        let [startup, liveness, readiness] = probes;
        let worker = |kind, probe: Option<&Probe>| {
            probe.zip(app_started).map(|(probe, app_started)| {
                let probe = probe.clone();
                let mut ticker = Ticker::new(app_started, probe.period, probe.initial_delay);
                if kind == ProbeKind::Readiness {
                    // With no startup probe the container starts with the app.
                    ticker.trigger(app_started);
                }
                Box::new(Worker {
                    kind,
                    argv: match &probe.handler {
                        ProbeHandler::Action(Action::Exec { command }) => Argv::new(command),
                        _ => None,
                    },
                    probe,
                    ticker,
                    run: None,
                    retry_at: None,
                    report: [0; runner::REPORT_MAX],
                })
            })
        };
        Prober {
            workers: [
                worker(ProbeKind::Startup, startup),
                worker(ProbeKind::Liveness, liveness),
                worker(ProbeKind::Readiness, readiness),
            ],
            health,
            stopped: false,
            inherited,
        }
    }

    pub fn any(&self) -> bool {
        self.workers.iter().any(Option::is_some)
    }

    pub fn has(&self, kind: ProbeKind) -> bool {
        self.workers[index(kind)].is_some()
    }

    /// Whether the container has started (startup succeeded, or there is none).
    pub fn started(&self) -> bool {
        self.health.started()
    }

    /// Ready as the kubelet says: started, and readiness succeeded (or none).
    pub fn ready(&self) -> bool {
        self.health.ready()
    }

    /// The probe's own grace period for a stop it caused, if it sets one.
    pub fn termination_grace(&self, kind: ProbeKind) -> Option<Duration> {
        self.workers[index(kind)]
            .as_ref()
            .and_then(|w| w.probe.termination_grace)
    }

    /// Starts probing (at the app's start).
    pub fn start(&mut self) {
        if !self.any() {
            return;
        }
        let now = Instant::now();
        for i in 0..3 {
            self.schedule(i, now);
        }
    }

    /// Stops every probe: the stop began or the app exited. A probe that
    /// runs is killed; its result would be ignored anyway.
    pub fn stop(&mut self) {
        self.stopped = true;
        for w in self.workers.iter_mut().flatten() {
            w.retry_at = None;
            if let Some(run) = w.run.take() {
                run.runner.kill();
            }
        }
    }

    /// Whether `pid` is one of the probes' processes.
    pub fn owns(&self, pid: i32) -> bool {
        self.workers
            .iter()
            .flatten()
            .any(|w| w.run.as_ref().is_some_and(|r| r.runner.pid == pid))
    }

    pub fn any_running_process(&self) -> bool {
        self.workers.iter().flatten().any(|w| w.run.is_some())
    }

    /// When the loop must look at the probes: the earliest hard deadline, or
    /// a retry of a probe whose process could not be forked.
    pub fn wake_at(&self) -> Option<Instant> {
        self.workers
            .iter()
            .flatten()
            .filter_map(|w| w.run.as_ref().map(|r| r.deadline).or(w.retry_at))
            .min()
    }

    /// `pid` was reaped: if it was a probe's process, its result counts.
    pub fn on_reaped(&mut self, pid: i32, status: Status) -> Option<Change> {
        let i = (0..3).find(|&i| {
            self.workers[i]
                .as_ref()
                .and_then(|w| w.run.as_ref())
                .is_some_and(|r| r.runner.pid == pid)
        })?;
        let w = self.workers[i].as_mut()?;
        let run = w.run.take()?;
        // What the run left in its group (an exec probe's command, timed out
        // or gone to the background) dies with it. The group's id stays
        // reserved while any member lives, so this cannot hit a stranger.
        run.runner.kill();
        // The report is copied out of the worker, which `handle` updates.
        let mut buf = [0u8; runner::REPORT_MAX];
        let (verdict, len, no_report) = {
            let report = run.runner.finished(status, &mut w.report);
            match report.message {
                runner::ReportText::Text(t) => {
                    buf[..t.len()].copy_from_slice(t);
                    (report.verdict, t.len(), None)
                }
                // Crashed or killed before it reported (a failed allocation
                // under a memory limit, the OOM killer): the run said nothing
                // about the app, so it is an error, never a failure.
                runner::ReportText::NoReport(s) => (Verdict::Error, 0, Some(s)),
            }
        };
        let text = match no_report {
            Some(s) => runner::ReportText::NoReport(s),
            None => runner::ReportText::Text(&buf[..len]),
        };
        let change = self.handle(i, Outcome::new(verdict, &text));
        let now = Instant::now();
        self.schedule(i, now);
        change
    }

    /// Probes past their hard deadline are killed and fail as timed out;
    /// probes whose process could not be forked are tried again.
    pub fn on_time(&mut self, now: Instant) -> Option<Change> {
        let mut change = None;
        for i in 0..3 {
            let retry = self.workers[i]
                .as_mut()
                .and_then(|w| w.retry_at.take_if(|at| now >= *at));
            if retry.is_some() {
                self.schedule(i, now);
            }
            let timed_out = self.workers[i]
                .as_ref()
                .and_then(|w| w.run.as_ref())
                .is_some_and(|r| now >= r.deadline);
            if !timed_out {
                continue;
            }
            if let Some(w) = self.workers[i].as_mut() {
                if let Some(run) = w.run.take() {
                    run.runner.kill();
                }
            }
            let mut buf = [0u8; 512];
            let len = match self.workers[i].as_ref() {
                Some(w) => format_into(&mut buf, format_args!("{}", TimedOut(w))).0,
                None => continue,
            };
            let text = runner::ReportText::Text(&buf[..len]);
            let c = self.handle(i, Outcome::failure(&text));
            change = change.or(c);
            self.schedule(i, now);
        }
        change
    }

    /// Counts a result as the kubelet's worker does; logs its events.
    fn handle(&mut self, i: usize, outcome: Outcome<&runner::ReportText<'_>>) -> Option<Change> {
        let text = outcome.message;
        let w = self.workers[i].as_ref()?;
        let name = w.kind.name();
        let handler = w.probe.handler.kind();
        let event = |level, event_name, message: fmt::Arguments<'_>| {
            events::emit(
                level,
                Event {
                    name: event_name,
                    hook: None,
                    handler: Some(handler),
                    message,
                },
            )
        };
        let ran = match outcome.verdict {
            Verdict::Success => Ran::Success,
            Verdict::Warning => {
                event(
                    Level::Warn,
                    "ProbeWarning",
                    format_args!("{name} probe warning: {text}"),
                );
                Ran::Success
            }
            Verdict::Failure => {
                event(
                    Level::Warn,
                    "Unhealthy",
                    format_args!("{name} probe failed: {text}"),
                );
                Ran::Failure
            }
            Verdict::Error => Ran::Error,
        };
        match self.health.record(w.kind, ran) {
            Recorded::Retry => None,
            Recorded::Discarded => {
                event(
                    Level::Warn,
                    "Unhealthy",
                    format_args!("{name} probe errored and resulted in unknown state: {text}"),
                );
                None
            }
            Recorded::Counted(change) => change,
        }
    }

    /// The container has started: liveness and readiness begin (readiness at
    /// once, as the kubelet's manual trigger does).
    pub fn on_started(&mut self) {
        let now = Instant::now();
        if let Some(w) = self.workers[index(ProbeKind::Readiness)].as_mut() {
            w.ticker.trigger(now);
        }
        for i in 1..3 {
            self.schedule(i, now);
        }
    }

    /// Forks the next run of worker `i`, sleeping until its tick, unless it
    /// must not run (stopped, on hold, gated, already running).
    fn schedule(&mut self, i: usize, now: Instant) {
        let inherited = self.inherited;
        let Some(w) = self.workers[i].as_mut() else {
            return;
        };
        if self.stopped || !self.health.may_run(w.kind) || w.run.is_some() || w.retry_at.is_some() {
            return;
        }
        // An error is tried again at once.
        let at = if self.health.retrying(w.kind) {
            now
        } else {
            w.ticker.next(now)
        };
        let deadline = at + w.probe.timeout + SLACK;
        let timeout = w.probe.timeout;
        let started = runner::start_at(Caller::Probe, Some(at), || {
            run_handler(w, &inherited, timeout)
        });
        match started {
            Ok(runner) => w.run = Some(Run { runner, deadline }),
            Err(e) => {
                // No process now (no PIDs or memory left): an error of this
                // run, not a failure; tried again a period later.
                let name = w.kind.name();
                let msg = format_args!(
                    "{name} probe errored and resulted in unknown state: {}",
                    e.reason()
                );
                events::log(Level::Warn, "Unhealthy", msg);
                w.retry_at = Some(at.max(now) + w.ticker.period());
            }
        }
    }
}

/// What a probe run does, in its own process.
fn run_handler(w: &Worker, inherited: &Inherited, timeout: Duration) -> Outcome {
    match &w.probe.handler {
        ProbeHandler::Action(Action::Exec { command }) => match &w.argv {
            Some(argv) => exec_probe(argv, command, inherited, timeout),
            None => Outcome::new(Verdict::Error, "the command holds a NUL byte".into()),
        },
        ProbeHandler::Action(Action::HttpGet(spec)) => {
            http::get(spec, Caller::Probe, Some(timeout))
        }
        ProbeHandler::Action(Action::TcpSocket { host, port }) => {
            tcp::connect(host, *port, Caller::Probe, Some(timeout))
        }
        ProbeHandler::Grpc { port, service } => {
            grpc::check(crate::spec::handler::DEFAULT_HOST, *port, service, timeout)
        }
    }
}

/// An exec probe (in the probe's process): the command's stdout and stderr,
/// the first 10 KiB kept; killed at `timeout` (the kubelet's ExecProbeTimeout).
fn exec_probe(
    argv: &Argv,
    command: &[String],
    inherited: &Inherited,
    timeout: Duration,
) -> Outcome {
    let deadline = Instant::now() + timeout;
    let Ok((read, write)) = spawn::pipe(libc::O_CLOEXEC) else {
        let message = format!("cannot make a pipe: {}", Errno::last());
        return Outcome::new(Verdict::Error, message);
    };
    let stdio = spawn::Stdio {
        stdin_null: true,
        stdout: Some(write.as_raw_fd()),
        stderr: Some(write.as_raw_fd()),
    };
    // In this process's group: whoever kills the probe kills the command.
    let pid = match spawn::spawn_in_callers_group(argv, inherited, stdio) {
        Ok(pid) => pid,
        Err(e) => {
            let message = format!("cannot run '{}': {}", command[0], e.reason());
            return Outcome::new(Verdict::Error, message);
        }
    };
    drop(write);
    let pidfd = pidfd_open(pid);
    let mut output = Vec::new();
    let mut keep = |chunk: &[u8]| {
        let room = OUTPUT_MAX - output.len().min(OUTPUT_MAX);
        output.extend_from_slice(&chunk[..room.min(chunk.len())]);
    };
    let mut chunk = [0u8; 4096];
    let mut pipe_open = true;
    let mut exited = false;
    while pipe_open || !exited {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // The command; its children in our group die when hookinit
            // kills the group after reaping this process.
            let _ = kill_process(pid, libc::SIGKILL);
            wait_for(pid);
            let joined = crate::os::text::join(command, " ");
            return Outcome::failure(format!("command {} timed out", Quoted(&joined)));
        }
        let mut fds = [
            libc::pollfd {
                fd: if pipe_open { read.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: match (&pidfd, exited) {
                    (Some(p), false) => p.as_raw_fd(),
                    _ => -1,
                },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if pidfd.is_none() && !pipe_open && !exited {
            // Without a pidfd: wait for the exit itself (the loop's deadline
            // kills this process if the command never exits).
            wait_for(pid);
            break;
        }
        if crate::os::sys::poll(&mut fds, Some(left)).is_err() {
            continue;
        }
        if fds[0].revents != 0 {
            match read_some(read.as_raw_fd(), &mut chunk) {
                Ok(n) if n > 0 => keep(&chunk[..n]),
                _ => pipe_open = false,
            }
        }
        if fds[1].revents != 0 {
            exited = true;
            // A background child of the command may hold the pipe: read what
            // is there now, then stop.
            let _ = set_nonblocking(read.as_raw_fd());
            if !pipe_open {
                break;
            }
        }
        if exited && pipe_open {
            while let Ok(n @ 1..) = read_some(read.as_raw_fd(), &mut chunk) {
                keep(&chunk[..n]);
            }
            break;
        }
    }
    let status = wait_for(pid);
    let text = String::from_utf8_lossy(&output).into_owned();
    match status {
        Some(0) => Outcome::success(text),
        _ => Outcome::failure(text),
    }
}

/// The message of a probe that hookinit killed at its deadline.
struct TimedOut<'a>(&'a Worker);

impl fmt::Display for TimedOut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let timeout = events::secs(self.0.probe.timeout);
        match &self.0.probe.handler {
            ProbeHandler::Action(Action::Exec { command }) => {
                f.write_str("command \"")?;
                for (i, part) in command.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str(part)?;
                }
                f.write_str("\" timed out")
            }
            ProbeHandler::Grpc { .. } => {
                write!(f, "timeout: health rpc did not complete within {timeout}")
            }
            h => write!(f, "{} probe timed out after {timeout}", h.kind()),
        }
    }
}
