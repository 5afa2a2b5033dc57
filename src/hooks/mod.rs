//! Lifecycle hooks: starting a handler, learning without blocking the loop
//! how it ended, and logging it.
//!
//! Every handler run is a process with a deadline, or only a deadline:
//! - `exec`: the command, a child of hookinit, finished when reap.rs reaps
//!   its pid; its output is copied through pipes the loop polls.
//! - `httpGet`, `tcpSocket`: a forked child of hookinit doing the blocking
//!   I/O ([`crate::handlers::runner`]), finished when reaped, with its report.
//! - `sleep`: only a deadline in the loop.
//!
//! A hook past its deadline is killed with its whole process group. Each hook
//! has a slot made at start-up (its argv, output buffers, report buffer), so
//! that starting, watching and ending a hook on the stop path allocates nothing.
//! The hooks: PostStart, PreStop, the reload hook (`HOOKINIT_RELOAD`), and
//! the pre-start steps, one at a time in their slot, before the app starts.

mod context;
mod shared;

pub use context::{Context, Reason};

use crate::config::Config;
use crate::events::{self, Event, Level};
use crate::handlers::runner::{self, Runner};
use crate::handlers::{self, exec, http, tcp, Caller, Verdict};
use crate::os::errno::Errno;
use crate::os::reap::Status;
use crate::os::signals::Inherited;
use crate::os::spawn::{self, Argv, SpawnError};
use crate::spec::handler::{Action, Handler};
use std::fmt;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    PostStart,
    PreStop,
    /// The reload handler (`HOOKINIT_RELOAD`), a hookinit extension.
    Reload,
    /// One pre-start step (`HOOKINIT_PRE_START`), before the app starts.
    PreStart,
    /// The post-stop handler (`HOOKINIT_POST_STOP`), once all is gone.
    PostStop,
}

impl HookKind {
    pub fn name(self) -> &'static str {
        match self {
            HookKind::PostStart => "PostStart",
            HookKind::PreStop => "PreStop",
            HookKind::Reload => "Reload",
            HookKind::PreStart => "PreStart",
            HookKind::PostStop => "PostStop",
        }
    }

    /// The Kubernetes event reason for a failure.
    pub fn failure_event(self) -> &'static str {
        match self {
            HookKind::PostStart => "FailedPostStartHook",
            HookKind::PreStop => "FailedPreStopHook",
            HookKind::Reload => "FailedReloadHook",
            HookKind::PreStart => "FailedPreStartHook",
            HookKind::PostStop => "FailedPostStopHook",
        }
    }

    /// Its slot: PostStart, the pre-start steps and post-stop never run
    /// at the same time (before the app, with it, after it), and share
    /// one, so that the loop's checks of every slot cost no more.
    fn index(self) -> usize {
        match self {
            HookKind::PostStart | HookKind::PreStart | HookKind::PostStop => 0,
            HookKind::PreStop => 1,
            HookKind::Reload => 2,
        }
    }
}

/// How a hook ended; its event is logged already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    /// Ended by hookinit because it no longer mattered (not a failure).
    Cancelled,
}

/// A configured hook: its handler, for exec its argv, and the buffers its
/// runs use, all made at start-up (and only for a hook that is configured).
struct Plan {
    handler: Handler,
    argv: Option<Argv>,
    timeout: Option<Duration>,
    output: exec::Output,
    report: [u8; runner::REPORT_MAX],
}

enum Work {
    Exec(i32),
    Runner(Runner),
    Sleep(Instant),
}

struct Running {
    /// When the hook's time budget began (the stop signal, for PreStop):
    /// durations in messages are measured from here.
    budget_start: Instant,
    deadline: Option<Instant>,
    /// Set when the app exited during the hook: the hook may still end on its
    /// own until then, and is cancelled (not failed) if it has not.
    cancel_at: Option<Instant>,
    work: Work,
}

struct Slot {
    kind: HookKind,
    plan: Option<Box<Plan>>,
    running: Option<Running>,
}

pub struct Hooks {
    slots: [Slot; 3],
    /// PostStart's plan while the pre-start steps use its slot.
    parked: Option<Box<Plan>>,
    /// Post-stop's plan, swapped with PostStart's in the shared slot when
    /// it runs (once: PostStart's is never run again).
    post_stop: Option<Box<Plan>>,
    /// The told hooks' exec environment ([`context`]), if one is exec.
    env: Option<Box<crate::os::env::Envp>>,
    /// What the next told hook is told.
    context: Option<Context>,
    /// The pre-start steps not run yet, last first: each plan is made at
    /// start-up and moved into the `PreStart` slot when its turn comes.
    pre_start: Vec<Box<Plan>>,
    inherited: Inherited,
    /// `HOOKINIT_HTTP_HOOK_CHECK_STATUS`: an httpGet hook's status outside
    /// 200–299 fails it (by default it is a warning, as the kubelet checks
    /// nothing).
    http_check_status: bool,
}

/// How a hook's handler ended, formatted only into its failure event.
enum Message<'a> {
    Exited(&'a Argv, Status, exec::TailText<'a>),
    CannotStart(&'a Handler, SpawnError),
    TimedOut(Duration, Option<exec::TailText<'a>>),
    Report(runner::ReportText<'a>),
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Exited(argv, status, tail) => {
                write!(f, "command '{}' ", argv.joined())?;
                match status {
                    Status::Exited(code) => write!(f, "exited with {code}")?,
                    Status::Signaled(sig) => {
                        write!(f, "was killed by {}", crate::os::signals::name(*sig))?
                    }
                }
                tail.fmt(f)
            }
            Message::CannotStart(handler, e) => match handler {
                Handler::Action(Action::Exec { command }) => {
                    write!(f, "cannot run '{}': {}", command[0], e.reason())
                }
                _ => write!(f, "cannot start the handler process: {}", e.reason()),
            },
            Message::TimedOut(after, tail) => {
                write!(f, "timed out after {}s", events::secs_fixed(*after, 1))?;
                match tail {
                    Some(tail) => tail.fmt(f),
                    None => Ok(()),
                }
            }
            Message::Report(text) => text.fmt(f),
        }
    }
}

fn hook_event(level: Level, name: &str, kind: HookKind, handler: &str, msg: fmt::Arguments<'_>) {
    events::emit(
        level,
        Event {
            name,
            hook: Some(kind.name()),
            handler: Some(handler),
            message: msg,
        },
    );
}

fn log_failure(kind: HookKind, handler: &str, message: Message<'_>) {
    hook_event(
        Level::Warn,
        kind.failure_event(),
        kind,
        handler,
        format_args!("{} hook failed: {message}", kind.name()),
    );
}

impl Plan {
    fn boxed(handler: Handler, timeout: Option<Duration>) -> Box<Plan> {
        Box::new(Plan {
            argv: match &handler {
                Handler::Action(Action::Exec { command }) => Argv::new(command),
                _ => None,
            },
            handler,
            timeout,
            output: exec::Output::new(),
            report: [0; runner::REPORT_MAX],
        })
    }
}

impl Slot {
    fn new(kind: HookKind, handler: &mut Option<Handler>, timeout: Option<Duration>) -> Slot {
        Slot {
            kind,
            plan: handler.take().map(|handler| Plan::boxed(handler, timeout)),
            running: None,
        }
    }

    /// Whether `pid` is the process this slot's hook runs as.
    fn runs(&self, pid: i32) -> bool {
        match &self.running {
            Some(Running {
                work: Work::Exec(p),
                ..
            }) => *p == pid,
            Some(Running {
                work: Work::Runner(r),
                ..
            }) => r.pid == pid,
            _ => false,
        }
    }

    fn handler_kind(&self) -> &'static str {
        self.plan.as_ref().map_or("", |p| p.handler.kind())
    }

    fn elapsed(&self) -> Duration {
        self.running
            .as_ref()
            .map_or(Duration::ZERO, |r| r.budget_start.elapsed())
    }

    /// Kills what runs (an exec hook's or a runner's whole group) and forgets it.
    fn stop(&mut self) {
        match self.running.take().map(|r| r.work) {
            Some(Work::Exec(pid)) => {
                // The group our hook leads (ESRCH: gone).
                let _ = crate::os::process::kill_process_group(pid, libc::SIGKILL);
                self.close_output();
            }
            Some(Work::Runner(r)) => r.kill(),
            Some(Work::Sleep(_)) | None => {}
        }
    }

    fn close_output(&mut self) {
        let Some(plan) = self.plan.as_mut() else {
            return;
        };
        plan.output.drain_and_close();
        let dropped = std::mem::take(&mut plan.output.dropped);
        if dropped > 0 {
            events::log(
                Level::Warn,
                "HookOutputDropped",
                format_args!(
                    "{dropped} bytes of hook output dropped: stdout/stderr is not being read"
                ),
            );
        }
    }

    fn succeeded(&mut self) -> Outcome {
        let elapsed = self.elapsed();
        self.running = None;
        let msg = format_args!(
            "{} hook succeeded in {}s",
            self.kind.name(),
            events::secs_fixed(elapsed, 3)
        );
        hook_event(
            Level::Info,
            "HookSucceeded",
            self.kind,
            self.handler_kind(),
            msg,
        );
        Outcome::Succeeded
    }
}

impl Hooks {
    /// The hooks of `cfg`, whose plans are moved out of it (the
    /// supervisor reads none of them there again).
    pub fn new(cfg: &mut Config, inherited: Inherited) -> Hooks {
        let exec = |h: &Option<Handler>| matches!(h, Some(Handler::Action(Action::Exec { .. })));
        let told_exec = exec(&cfg.pre_stop) || exec(&cfg.post_stop) || exec(&cfg.reload);
        // Last first: each is popped when its turn comes.
        let mut pre_start = Vec::with_capacity(cfg.pre_start.len());
        while let Some(s) = cfg.pre_start.pop() {
            pre_start.push(Plan::boxed(s.handler, s.timeout));
        }
        Hooks {
            http_check_status: cfg.http_hook_check_status,
            env: told_exec.then(|| Box::new(context::environment())),
            context: None,
            slots: [
                Slot::new(
                    HookKind::PostStart,
                    &mut cfg.post_start,
                    cfg.post_start_timeout,
                ),
                Slot::new(HookKind::PreStop, &mut cfg.pre_stop, cfg.pre_stop_timeout),
                Slot::new(HookKind::Reload, &mut cfg.reload, cfg.reload_timeout),
            ],
            parked: None,
            post_stop: Slot::new(HookKind::PostStop, &mut cfg.post_stop, None).plan,
            pre_start,
            inherited,
        }
    }

    pub fn configured(&self, kind: HookKind) -> bool {
        match kind {
            HookKind::PostStop => self.post_stop.is_some(),
            _ => self.slot(kind).is_some_and(|s| s.plan.is_some()),
        }
    }

    /// Whether any hook is configured (at start-up: every plan is in place).
    pub fn any_configured(&self) -> bool {
        self.slots.iter().any(|s| s.plan.is_some())
            || self.post_stop.is_some()
            || !self.pre_start.is_empty()
    }

    /// `kind`'s slot, if it holds `kind` now. (Inlined, as `slot_mut`:
    /// fewer bytes than the calls.)
    #[inline(always)]
    fn slot(&self, kind: HookKind) -> Option<&Slot> {
        Some(&self.slots[kind.index()]).filter(|s| s.kind == kind)
    }

    #[inline(always)]
    fn slot_mut(&mut self, kind: HookKind) -> Option<&mut Slot> {
        Some(&mut self.slots[kind.index()]).filter(|s| s.kind == kind)
    }

    pub fn any_running(&self) -> bool {
        self.slots.iter().any(|s| s.running.is_some())
    }

    pub fn running(&self, kind: HookKind) -> bool {
        self.slot(kind).is_some_and(|s| s.running.is_some())
    }

    /// Which hook `pid` is the process of, if any.
    pub fn owner(&self, pid: i32) -> Option<HookKind> {
        self.slots.iter().find(|s| s.runs(pid)).map(|s| s.kind)
    }

    /// Whether a hook runs as a process (not a sleep): a child to be reaped.
    pub fn any_running_process(&self) -> bool {
        self.slots
            .iter()
            .filter_map(|s| s.running.as_ref())
            .any(|r| !matches!(r.work, Work::Sleep(_)))
    }

    /// Starts the `kind` hook, whose time budget began at `budget_start`
    /// and ends at `deadline` (its own timeout, if sooner). `Some(Failed)`
    /// when it could not even start (logged); `None` when it runs.
    pub fn start(
        &mut self,
        kind: HookKind,
        budget_start: Instant,
        deadline: Option<Instant>,
    ) -> Option<Outcome> {
        let inherited = self.inherited;
        let told = self.context.filter(|_| context::told(kind));
        if kind == HookKind::PostStop {
            // Swapped, not dropped (see `post_stop`).
            let slot = &mut self.slots[0];
            slot.stop();
            slot.kind = kind;
            std::mem::swap(&mut slot.plan, &mut self.post_stop);
        }
        let slot = self.slots.iter_mut().find(|s| s.kind == kind)?;
        let plan = &mut **slot.plan.as_mut()?;
        let now = Instant::now();
        let deadline = match plan.timeout {
            Some(t) => Some(deadline.map_or(now + t, |d| d.min(now + t))),
            None => deadline,
        };
        let handler = &plan.handler;
        hook_event(
            Level::Info,
            "HookStarted",
            kind,
            handler.kind(),
            format_args!("{}", handler.describe()),
        );
        // Kubernetes deprecates its lifecycle hooks' tcpSocket; a pre-start
        // step, post-stop or reload (hookinit's own) is not one of them.
        let lifecycle = matches!(kind, HookKind::PostStart | HookKind::PreStop);
        if let (true, Handler::Action(Action::TcpSocket { .. })) = (lifecycle, handler) {
            hook_event(Level::Info, "Deprecated", kind, "tcpSocket", format_args!("tcpSocket lifecycle hooks are deprecated in Kubernetes (the kubelet does not run them); hookinit connects"));
        }
        let budget = deadline.map(|d| d.saturating_duration_since(now));
        let env = match (told, self.env.as_mut()) {
            (Some(ctx), Some(env)) => {
                context::fill(env, &ctx, deadline, now);
                Some(&**env)
            }
            _ => None,
        };
        let work = match &mut plan.handler {
            Handler::Sleep { duration } => Ok(Work::Sleep(now + *duration)),
            Handler::Action(Action::Exec { .. }) => {
                start_exec(plan.argv.as_ref(), &inherited, &mut plan.output, env)
            }
            Handler::Action(Action::HttpGet(spec)) => runner::start(Caller::Hook, || {
                // In the forked child (it may allocate): its own copy of
                // the plan gets the headers, the loop's is left as it is.
                if let Some(ctx) = told {
                    context::headers(&ctx, deadline, now, &mut spec.headers);
                }
                http::get(spec, Caller::Hook, budget)
            })
            .map(Work::Runner),
            Handler::Action(Action::TcpSocket { host, port }) => {
                runner::start(Caller::Hook, || {
                    tcp::connect(host, *port, Caller::Hook, budget)
                })
                .map(Work::Runner)
            }
        };
        match work {
            Ok(work) => {
                slot.running = Some(Running {
                    budget_start,
                    deadline,
                    cancel_at: None,
                    work,
                });
                None
            }
            Err(e) => {
                let handler = &plan.handler;
                log_failure(kind, handler.kind(), Message::CannotStart(handler, e));
                Some(Outcome::Failed)
            }
        }
    }

    /// Calls `add(fd, events, kind)` for each descriptor to poll for hooks' output.
    pub fn poll_interests(&self, mut add: impl FnMut(RawFd, i16, HookKind)) {
        for slot in &self.slots {
            if let Some(Running {
                work: Work::Exec(_),
                ..
            }) = slot.running
            {
                if let Some(plan) = &slot.plan {
                    for (fd, events) in plan.output.interests() {
                        add(fd, events, slot.kind);
                    }
                }
            }
        }
    }

    /// A polled descriptor of `kind`'s output is ready.
    pub fn on_ready(&mut self, kind: HookKind, fd: RawFd) {
        if let Some(plan) = self.slots[kind.index()].plan.as_mut() {
            plan.output.on_ready(fd);
        }
    }

    /// `pid` was reaped: if it was a hook's process, that hook ended.
    pub fn on_reaped(&mut self, pid: i32, status: Status) -> Option<(HookKind, Outcome)> {
        let strict = self.http_check_status;
        let slot = self.slots.iter_mut().find(|s| s.runs(pid))?;
        let kind = slot.kind;
        if matches!(slot.running.as_ref()?.work, Work::Exec(_)) {
            slot.close_output();
        }
        let plan = &mut **slot.plan.as_mut()?;
        let handler = plan.handler.kind();
        let outcome: handlers::Outcome<Message<'_>> = match &slot.running.as_ref()?.work {
            Work::Exec(_) => match &plan.argv {
                Some(argv) => {
                    let verdict = match status {
                        Status::Exited(0) => Verdict::Success,
                        _ => Verdict::Failure,
                    };
                    let message = Message::Exited(argv, status, plan.output.tail());
                    handlers::Outcome::new(verdict, message)
                }
                // Never: an exec hook without an argv does not start.
                None => handlers::Outcome::success(Message::Report(runner::ReportText::Text(&[]))),
            },
            Work::Runner(r) => {
                let report = r.finished(status, &mut plan.report);
                handlers::Outcome::new(report.verdict, Message::Report(report.message))
            }
            Work::Sleep(_) => return None,
        };
        // Only an httpGet hook's status outside 2xx is a warning.
        let warned = outcome.verdict == Verdict::Warning;
        let failed = !outcome.verdict.succeeded() || (warned && strict);
        if failed {
            log_failure(kind, handler, outcome.message);
        } else if outcome.verdict == Verdict::Success && handler == "httpGet" {
            // Only the kubelet's HTTPS-to-HTTP fallback says something here.
            if let Message::Report(runner::ReportText::Text(note @ [_, ..])) = outcome.message {
                let msg = format_args!("{}", crate::os::errno::Lossy(note));
                hook_event(Level::Warn, "LifecycleHTTPFallback", kind, handler, msg);
            }
        } else if warned {
            let msg = format_args!(
                "{} hook: {}; a success, as the kubelet does not check the status (HOOKINIT_HTTP_HOOK_CHECK_STATUS=1 fails it)",
                kind.name(),
                outcome.message
            );
            hook_event(Level::Warn, "HookHttpStatus", kind, handler, msg);
        }
        let outcome = if failed {
            slot.running = None;
            Outcome::Failed
        } else {
            slot.succeeded()
        };
        Some((kind, outcome))
    }

    /// When the loop must next look at the hooks.
    pub fn wake_at(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.running.as_ref())
            .flat_map(|r| {
                let sleep_end = match r.work {
                    Work::Sleep(until) => Some(until),
                    _ => None,
                };
                [sleep_end, r.deadline, r.cancel_at]
            })
            .flatten()
            .min()
    }

    /// Sleeps that ended and deadlines that passed (those hooks are killed).
    pub fn on_time(&mut self, now: Instant) -> [Option<Outcome>; 3] {
        let mut done = [None; 3];
        for slot in &mut self.slots {
            let Some(r) = &slot.running else { continue };
            // A sleep that ends exactly at its deadline has done its job.
            if let Work::Sleep(until) = r.work {
                if now >= until {
                    done[slot.kind.index()] = Some(slot.succeeded());
                    continue;
                }
            }
            if r.cancel_at.is_some_and(|c| now >= c) && r.deadline.is_none_or(|d| now < d) {
                let elapsed = events::secs_fixed(now.saturating_duration_since(r.budget_start), 1);
                slot.stop();
                let msg = format_args!(
                    "the app exited and the hook did not end within the cleanup timeout after it; cancelled after {elapsed}s"
                );
                hook_event(
                    Level::Info,
                    "HookCancelled",
                    slot.kind,
                    slot.handler_kind(),
                    msg,
                );
                done[slot.kind.index()] = Some(Outcome::Cancelled);
                continue;
            }
            if r.deadline.is_some_and(|d| now >= d) {
                let ran = now.saturating_duration_since(r.budget_start);
                let exec = matches!(r.work, Work::Exec(_));
                slot.stop();
                let Some(plan) = slot.plan.as_deref() else {
                    continue;
                };
                let tail = exec.then(|| plan.output.tail());
                let failure = Message::TimedOut(ran, tail);
                log_failure(slot.kind, plan.handler.kind(), failure);
                done[slot.kind.index()] = Some(Outcome::Failed);
            }
        }
        done
    }

    /// Ends a running hook early: cancelled (`HookCancelled`) or, when
    /// `failed`, cut short (its failure event). `why` says by what.
    pub fn end_early(&mut self, kind: HookKind, why: fmt::Arguments<'_>, failed: bool) {
        let Some(slot) = self.slot_mut(kind).filter(|s| s.running.is_some()) else {
            return;
        };
        let elapsed = events::secs_fixed(slot.elapsed(), 1);
        slot.stop();
        let handler = slot.handler_kind();
        match (failed, kind) {
            (true, _) => hook_event(
                Level::Warn,
                kind.failure_event(),
                kind,
                handler,
                format_args!("{} {why} after {elapsed}s", kind.name()),
            ),
            (false, HookKind::PostStart) => {
                hook_event(Level::Info, "HookCancelled", kind, handler, why)
            }
            (false, _) => hook_event(
                Level::Info,
                "HookCancelled",
                kind,
                handler,
                format_args!("{why} after {elapsed}s"),
            ),
        }
    }

    /// The app exited while `kind` runs: an "ask, then wait" hook (`pg_ctl
    /// stop`, `nginx -s quit` and a wait loop) is about to end on its own, so
    /// it may go on until `until`, then it is cancelled.
    /// False (nothing changed) unless a process runs for it: a sleep has no
    /// reason to go on.
    pub fn give_until(&mut self, kind: HookKind, until: Instant) -> bool {
        match self.slot_mut(kind).and_then(|s| s.running.as_mut()) {
            Some(r) if !matches!(r.work, Work::Sleep(_)) => {
                r.cancel_at = Some(until);
                true
            }
            _ => false,
        }
    }

    /// Kills every running hook without a word (the deadline's SIGKILL).
    pub fn kill_all(&mut self) {
        for slot in &mut self.slots {
            slot.stop();
        }
    }
}

fn start_exec(
    argv: Option<&Argv>,
    inherited: &Inherited,
    output: &mut exec::Output,
    env: Option<&crate::os::env::Envp>,
) -> Result<Work, SpawnError> {
    let argv = argv.ok_or(SpawnError::fork(Errno(libc::EINVAL)))?;
    let (out_read, out_write) = spawn::pipe(libc::O_CLOEXEC).map_err(SpawnError::fork)?;
    let (err_read, err_write) = spawn::pipe(libc::O_CLOEXEC).map_err(SpawnError::fork)?;
    let stdio = spawn::Stdio {
        stdin_null: true,
        stdout: Some(std::os::fd::AsRawFd::as_raw_fd(&out_write)),
        stderr: Some(std::os::fd::AsRawFd::as_raw_fd(&err_write)),
    };
    let pid = spawn::spawn(argv, inherited, stdio, false, env)?;
    output.attach(out_read, err_read);
    Ok(Work::Exec(pid))
}
