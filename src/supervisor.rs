//! The supervision loop: one `poll` on the signalfd, the hook-thread wake-up
//! pipe and exec hooks' output pipes, with a timeout only when a deadline is
//! pending. Idle means asleep: no timers, no wake-ups.
//!
//! What happens on a stop signal is [`Phase`], with these transitions:
//!
//! | phase    | event                                          | next                          |
//! |----------|------------------------------------------------|-------------------------------|
//! | Running  | stop signal, or PostStart failed               | PreStop, or Stopping if none  |
//! | Running  | app exited                                     | Draining (or PreStop, with `HOOKINIT_PRE_STOP_ON_EXIT`) |
//! | PreStop  | hook done, failed or timed out; 2nd stop signal | Stopping: stop signal sent   |
//! | PreStop  | app exited                                     | Draining                      |
//! | Stopping | app exited                                     | Draining: leftovers get TERM  |
//! | PreStop, Stopping, Draining | the deadline                | Killed: SIGKILL to everything |
//! | Draining, Killed | no child left (Killed: or after 1 s)   | exit                          |
//!
//! The grace window starts when the stop signal arrives; its deadline is the
//! moment SIGKILL lands, whatever runs then. PreStop gets the window minus a
//! reserve kept for the app's own shutdown.

use crate::config::Config;
use crate::events::{self, Event, Level};
use crate::hooks::{Completions, HookKind, Outcome, RunningHook};
use crate::leftovers::Scope;
use crate::lifecycle::Handler;
use crate::reap::{self, Reap, Status};
use crate::signals::{self, Inherited, SignalFd};
use std::fmt;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The app runs; PostStart may be running.
    Running,
    /// PreStop runs; the app has not been signalled yet. SIGKILL at
    /// `deadline`. `signal` is the stop signal the app gets next; `None` when
    /// PreStop runs for the app's own exit (`HOOKINIT_PRE_STOP_ON_EXIT`) and
    /// no stop signal has come yet.
    PreStop {
        deadline: Instant,
        signal: Option<i32>,
    },
    /// The app has its stop signal. SIGKILL at `deadline`.
    Stopping { deadline: Instant },
    /// The app is gone; what it left behind got SIGTERM. SIGKILL at `deadline`.
    Draining { deadline: Instant },
    /// SIGKILL sent to everything; waiting for the kernel to finish it,
    /// at most until `deadline` (a process stuck in the kernel cannot hold us).
    Killed { deadline: Instant },
}

/// Poll slots: signalfd, thread wake-up pipe, stdout and stderr of two exec hooks.
const MAX_POLL_FDS: usize = 6;
/// Signals read from the signalfd per read call.
const SIGNAL_BATCH: usize = 16;

/// How long to wait for SIGKILLed processes to be reaped before exiting anyway.
const KILLED_WAIT: Duration = Duration::from_secs(1);

pub struct Supervisor {
    cfg: Config,
    inherited: Inherited,
    scope: Scope,
    signals: SignalFd,
    completions: Completions,
    own_pid: u32,
    app_pid: i32,
    app_status: Option<Status>,
    phase: Phase,
    post_start: Option<RunningHook>,
    /// PreStop runs at most once per life without a flag for it: it starts
    /// only from `Running`, and the phase never returns there.
    pre_stop: Option<RunningHook>,
    post_start_failed: bool,
    exit_code: Option<i32>,
}

impl Supervisor {
    pub fn new(
        cfg: Config,
        inherited: Inherited,
        scope: Scope,
        signals: SignalFd,
        app_pid: i32,
    ) -> Self {
        Supervisor {
            cfg,
            inherited,
            scope,
            signals,
            completions: Completions::default(),
            own_pid: std::process::id(),
            app_pid,
            app_status: None,
            phase: Phase::Running,
            post_start: None,
            pre_stop: None,
            post_start_failed: false,
            exit_code: None,
        }
    }

    /// Runs until the app and everything it left behind are gone; returns
    /// hookinit's exit code.
    pub fn run(&mut self) -> i32 {
        events::log(
            Level::Debug,
            "Started",
            format_args!(
                "started {} as pid {}",
                Argv(&self.cfg.command),
                self.app_pid
            ),
        );
        match self.cfg.post_start.clone() {
            Some(handler) => {
                let deadline = self.cfg.post_start_timeout.map(|t| Instant::now() + t);
                self.post_start = self.start_hook(HookKind::PostStart, &handler, deadline);
            }
            None => self.mark_ready(),
        }
        loop {
            if let Some(code) = self.exit_code {
                return code;
            }
            self.wait_and_dispatch();
        }
    }

    fn app_alive(&self) -> bool {
        self.app_status.is_none()
    }

    // ---- waiting ------------------------------------------------------------

    fn next_wake(&self) -> Option<Instant> {
        // The common case, checked first: running, no hook, nothing timed.
        if self.phase == Phase::Running && self.post_start.is_none() && self.pre_stop.is_none() {
            return None;
        }
        let phase_deadline = match self.phase {
            Phase::Running => None,
            Phase::PreStop { deadline, .. }
            | Phase::Stopping { deadline }
            | Phase::Draining { deadline }
            | Phase::Killed { deadline } => Some(deadline),
        };
        let hooks = [&self.post_start, &self.pre_stop]
            .into_iter()
            .flatten()
            .filter_map(RunningHook::wake_at);
        hooks.chain(phase_deadline).min()
    }

    /// Blocks until a signal, a hook result, hook output or a deadline, then
    /// handles whatever is ready.
    fn wait_and_dispatch(&mut self) {
        let timeout_ms = match self.next_wake() {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                // Round up: waking a hair early would only loop once more.
                left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
            }
        };
        // On the stack: this runs once per signal. Slots: the signalfd, the
        // thread wake-up pipe (poll skips its -1 until a thread hook ran),
        // then for exec hooks' output either their pipe (POLLIN) or, while a
        // chunk waits, our own stdout/stderr (POLLOUT).
        let mut fds = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }; MAX_POLL_FDS];
        let mut owners: [Option<HookKind>; MAX_POLL_FDS] = [None; MAX_POLL_FDS];
        fds[0].fd = self.signals.as_raw_fd();
        fds[1].fd = self.completions.fd().unwrap_or(-1);
        let mut count = 2;
        for hook in [&self.post_start, &self.pre_stop].into_iter().flatten() {
            for (fd, events) in hook.poll_interests() {
                if count < MAX_POLL_FDS {
                    (fds[count].fd, fds[count].events, owners[count]) =
                        (fd, events, Some(hook.kind));
                    count += 1;
                }
            }
        }
        // SAFETY: `fds` holds `count` valid pollfd entries.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), count as libc::nfds_t, timeout_ms) };
        if ready > 0 {
            if fds[0].revents != 0 {
                self.read_signals();
            }
            if fds[1].revents != 0 {
                for (token, result) in self.completions.drain() {
                    self.on_thread_result(token, result);
                }
            }
            for i in 2..count {
                if fds[i].revents != 0 {
                    if let Some(hook) = owners[i].and_then(|kind| self.hook_mut(kind)) {
                        hook.on_ready(fds[i].fd);
                    }
                }
            }
        }
        // Deadlines, only when one is due (a forwarded signal has none).
        if let Some(at) = self.next_wake() {
            let now = Instant::now();
            if now >= at {
                self.on_time(now);
            }
        }
        if matches!(self.phase, Phase::Draining { .. } | Phase::Killed { .. }) {
            self.reap_children();
        }
    }

    fn read_signals(&mut self) {
        let mut batch = [MaybeUninit::<libc::signalfd_siginfo>::uninit(); SIGNAL_BATCH];
        loop {
            let infos = self.signals.read(&mut batch);
            let full = infos.len() == SIGNAL_BATCH;
            for info in infos {
                let sig = info.ssi_signo as i32;
                // hookinit's own failed write to a closed stdout raises SIGPIPE
                // on itself: not a signal for the app.
                if info.ssi_pid == self.own_pid
                    && info.ssi_code == libc::SI_USER
                    && sig != libc::SIGCHLD
                {
                    events::log(
                        Level::Debug,
                        "SignalIgnored",
                        format_args!("{} raised by hookinit itself", signals::name(sig)),
                    );
                    continue;
                }
                self.on_signal(sig);
            }
            // A short read emptied the queue; poll is level-triggered anyway.
            if !full {
                return;
            }
        }
    }

    // ---- events -------------------------------------------------------------

    fn on_signal(&mut self, sig: i32) {
        if sig == libc::SIGCHLD {
            self.reap_children();
        } else if self.cfg.stop_on.contains(sig) {
            self.on_stop_signal(sig);
        } else {
            self.forward(sig);
        }
    }

    /// What a stop signal does depends on how far the stop already is.
    fn on_stop_signal(&mut self, sig: i32) {
        match self.phase {
            Phase::Running => self.begin_stop(sig, format_args!("received {}", signals::name(sig))),
            Phase::PreStop {
                deadline,
                signal: None,
            } => {
                // PreStop for the app's exit already runs in its own window:
                // the first stop signal changes nothing, a second cuts it short.
                self.phase = Phase::PreStop {
                    deadline,
                    signal: Some(sig),
                };
                let name = signals::name(sig);
                let msg =
                    format_args!("received {name}: the PreStop hook for the app's exit goes on");
                events::log(Level::Info, "Killing", msg);
            }
            Phase::PreStop { deadline, signal } => {
                let why = format!("cut short by a second {}", signals::name(sig));
                self.end_pre_stop_early(&why, true);
                self.after_pre_stop(deadline, signal);
            }
            Phase::Stopping { .. } => self.forward(sig),
            Phase::Draining { .. } | Phase::Killed { .. } => events::log(
                Level::Debug,
                "SignalIgnored",
                format_args!("{} while exiting", signals::name(sig)),
            ),
        }
    }

    fn reap_children(&mut self) {
        loop {
            match reap::next() {
                Reap::Child(pid, status) => self.on_reaped(pid, status),
                Reap::NothingYet => return,
                Reap::NoChildren => {
                    if matches!(self.phase, Phase::Draining { .. } | Phase::Killed { .. }) {
                        self.finish();
                    }
                    return;
                }
            }
        }
    }

    fn on_reaped(&mut self, pid: i32, status: Status) {
        if pid == self.app_pid {
            self.app_status = Some(status);
            events::log(
                Level::Debug,
                "Exited",
                format_args!("the app (pid {pid}) {status}"),
            );
            self.on_app_exit();
        } else if let Some(kind) = self.hook_with_pid(pid) {
            if let Some(hook) = self.hook_mut(kind) {
                let outcome = hook.reaped(status);
                self.hook_finished(kind, outcome);
            }
        } else {
            events::log(Level::Debug, "Reaped", format_args!("pid {pid} {status}"));
        }
    }

    fn on_thread_result(&mut self, token: u64, result: Result<(), String>) {
        for kind in [HookKind::PostStart, HookKind::PreStop] {
            if let Some(outcome) = self
                .hook_mut(kind)
                .and_then(|h| h.thread_done(token, &result))
            {
                self.hook_finished(kind, outcome);
            }
        }
    }

    fn on_time(&mut self, now: Instant) {
        for kind in [HookKind::PostStart, HookKind::PreStop] {
            if let Some(outcome) = self.hook_mut(kind).and_then(|h| h.check_time(now)) {
                self.hook_finished(kind, outcome);
            }
        }
        match self.phase {
            Phase::PreStop { deadline, .. } | Phase::Stopping { deadline } if now >= deadline => {
                self.kill_everything(&format!(
                    "the grace period of {} is over",
                    events::secs(self.cfg.grace)
                ))
            }
            Phase::Draining { deadline } if now >= deadline => {
                self.kill_everything("processes left behind did not exit after SIGTERM")
            }
            Phase::Killed { deadline } if now >= deadline => {
                events::log(
                    Level::Warn,
                    "Exiting",
                    format_args!("processes are still not reaped 1s after SIGKILL; exiting anyway"),
                );
                self.finish();
            }
            _ => {}
        }
    }

    // ---- the app's exit -----------------------------------------------------

    fn on_app_exit(&mut self) {
        self.cancel_post_start("the app exited");
        match self.phase {
            Phase::Running => {
                let pre_stop = self
                    .cfg
                    .pre_stop
                    .clone()
                    .filter(|_| self.cfg.pre_stop_on_exit);
                match pre_stop {
                    Some(handler) => {
                        self.remove_ready_file();
                        // No app to keep time for: PreStop may use the whole window.
                        let deadline = Instant::now() + self.cfg.grace;
                        self.start_pre_stop(&handler, deadline, deadline, None);
                    }
                    None => self.begin_drain(None),
                }
            }
            Phase::PreStop { deadline, .. } => {
                self.end_pre_stop_early("the app exited", false);
                self.begin_drain(Some(deadline));
            }
            Phase::Stopping { deadline } => self.begin_drain(Some(deadline)),
            Phase::Draining { .. } | Phase::Killed { .. } => {}
        }
    }

    /// The app is gone: SIGTERM to whatever it left, SIGKILL at the deadline
    /// (the cleanup timeout, never past the grace deadline `cap`).
    fn begin_drain(&mut self, cap: Option<Instant>) {
        self.remove_ready_file();
        let mut deadline = Instant::now() + self.cfg.cleanup_timeout;
        if let Some(cap) = cap {
            deadline = deadline.min(cap);
        }
        self.phase = Phase::Draining { deadline };
        // Usually nothing is left: skip the signal (and, not as PID 1, the /proc walk).
        if reap::any_children() {
            self.scope.signal_all(libc::SIGTERM);
        }
    }

    // ---- stopping -----------------------------------------------------------

    /// A stop begins: the grace window opens now.
    fn begin_stop(&mut self, trigger: i32, reason: fmt::Arguments<'_>) {
        self.remove_ready_file();
        self.cancel_post_start("the container is stopping");
        let deadline = Instant::now() + self.cfg.grace;
        let signal = self.cfg.stop_signal.unwrap_or(trigger);
        let grace = events::secs(self.cfg.grace);
        let log_killing = || {
            let msg = format_args!("stopping the container: {reason}; grace period {grace}");
            events::log(Level::Info, "Killing", msg);
        };
        match self.cfg.pre_stop.clone() {
            Some(handler) => {
                log_killing();
                let hook_deadline = deadline - self.cfg.app_reserve();
                self.start_pre_stop(&handler, deadline, hook_deadline, Some(signal));
            }
            None => {
                // Signal first, log after: the app should not wait for our log line.
                self.signal_app(signal);
                log_killing();
                self.log_stop_signal(signal);
                self.phase = Phase::Stopping { deadline };
            }
        }
    }

    /// Starts PreStop. The window ends at `deadline`; the hook
    /// must be done by `hook_deadline` (or its own timeout, if sooner).
    fn start_pre_stop(
        &mut self,
        handler: &Handler,
        deadline: Instant,
        hook_deadline: Instant,
        signal: Option<i32>,
    ) {
        let hook_deadline = match self.cfg.pre_stop_timeout {
            Some(timeout) => hook_deadline.min(Instant::now() + timeout),
            None => hook_deadline,
        };
        self.phase = Phase::PreStop { deadline, signal };
        self.pre_stop = self.start_hook(HookKind::PreStop, handler, Some(hook_deadline));
        if self.pre_stop.is_none() {
            self.after_pre_stop(deadline, signal);
        }
    }

    fn cancel_post_start(&mut self, why: &str) {
        if let Some(mut hook) = self.post_start.take() {
            hook.cancel();
            self.hook_event(
                Level::Info,
                "HookCancelled",
                HookKind::PostStart,
                hook.handler,
                why,
            );
        }
    }

    /// PreStop is over (done, failed, timed out or cut short): on to the app.
    fn after_pre_stop(&mut self, deadline: Instant, signal: Option<i32>) {
        match signal {
            Some(signal) if self.app_alive() => {
                self.send_stop_signal(signal);
                self.phase = Phase::Stopping { deadline };
            }
            _ => self.begin_drain(Some(deadline)),
        }
    }

    /// Ends PreStop before its time: cut short by a signal (`failed`: logged
    /// as `FailedPreStopHook`), or cancelled because the app is gone.
    fn end_pre_stop_early(&mut self, why: &str, failed: bool) {
        if let Some(mut hook) = self.pre_stop.take() {
            hook.cancel();
            let elapsed = events::secs_fixed(hook.elapsed(), 1);
            let msg = format!("PreStop {why} after {elapsed}s");
            let (level, name) = match failed {
                true => (Level::Warn, HookKind::PreStop.failure_event()),
                false => (Level::Info, "HookCancelled"),
            };
            self.hook_event(level, name, HookKind::PreStop, hook.handler, &msg);
        }
    }

    fn send_stop_signal(&mut self, sig: i32) {
        self.signal_app(sig);
        self.log_stop_signal(sig);
    }

    fn log_stop_signal(&self, sig: i32) {
        let target = if self.cfg.signal_group {
            "process group"
        } else {
            "pid"
        };
        let msg = format_args!(
            "sent {} to the app ({target} {})",
            signals::name(sig),
            self.app_pid
        );
        events::log(Level::Info, "StopSignalSent", msg);
    }

    fn kill_everything(&mut self, reason: &str) {
        for kind in [HookKind::PostStart, HookKind::PreStop] {
            if let Some(mut hook) = self.take_hook(kind) {
                hook.cancel();
            }
        }
        if self.app_alive() {
            // Not PID 1 without a subreaper, the app's group may hold processes
            // that are no longer our descendants.
            // SAFETY: plain syscall on the app's own process group.
            unsafe { libc::kill(-self.app_pid, libc::SIGKILL) };
        }
        self.scope.signal_all(libc::SIGKILL);
        events::log(
            Level::Info,
            "SigkillSent",
            format_args!("SIGKILL sent to every process left: {reason}"),
        );
        self.phase = Phase::Killed {
            deadline: Instant::now() + KILLED_WAIT,
        };
    }

    fn forward(&mut self, sig: i32) {
        if self.app_alive() {
            self.signal_app(sig);
            events::log(
                Level::Debug,
                "Forwarded",
                format_args!("{} to the app", signals::name(sig)),
            );
        }
    }

    fn signal_app(&self, sig: i32) {
        let target = if self.cfg.signal_group {
            -self.app_pid
        } else {
            self.app_pid
        };
        // SAFETY: plain syscall.
        unsafe { libc::kill(target, sig) };
    }

    fn finish(&mut self) {
        if self.exit_code.is_some() {
            return;
        }
        self.remove_ready_file();
        // The app may be unreaped only if it is stuck in the kernel after SIGKILL.
        let status = self.app_status.unwrap_or(Status::Signaled(libc::SIGKILL));
        let mut code = self.cfg.remap(status.code());
        if self.post_start_failed && code == 0 {
            code = 1;
        }
        events::log(Level::Debug, "Exiting", format_args!("exit code {code}"));
        self.exit_code = Some(code);
    }

    // ---- hooks --------------------------------------------------------------

    fn start_hook(
        &mut self,
        kind: HookKind,
        handler: &Handler,
        deadline: Option<Instant>,
    ) -> Option<RunningHook> {
        self.hook_event(
            Level::Info,
            "HookStarted",
            kind,
            handler.kind(),
            &handler.describe(),
        );
        if let Handler::TcpSocket { .. } = handler {
            self.hook_event(Level::Info, "Deprecated", kind, "tcpSocket", "tcpSocket lifecycle hooks are deprecated in Kubernetes (the kubelet does not run them); hookinit connects");
        }
        match RunningHook::start(
            kind,
            handler,
            deadline,
            self.inherited,
            &mut self.completions,
        ) {
            Ok(hook) => Some(hook),
            Err(reason) => {
                self.record_failure(kind, handler.kind(), &reason);
                None
            }
        }
    }

    fn hook_finished(&mut self, kind: HookKind, outcome: Outcome) {
        let Some(hook) = self.take_hook(kind) else {
            return;
        };
        match outcome {
            Outcome::Succeeded => {
                let msg = format!(
                    "{} hook succeeded in {}s",
                    kind.name(),
                    events::secs_fixed(hook.elapsed(), 3)
                );
                self.hook_event(Level::Info, "HookSucceeded", kind, hook.handler, &msg);
                if kind == HookKind::PostStart && self.phase == Phase::Running {
                    self.mark_ready();
                }
            }
            Outcome::Failed(reason) => self.record_failure(kind, hook.handler, &reason),
        }
        if kind == HookKind::PreStop {
            if let Phase::PreStop { deadline, signal } = self.phase {
                self.after_pre_stop(deadline, signal);
            }
        }
    }

    /// Logs a failed hook; a failed PostStart stops the container.
    fn record_failure(&mut self, kind: HookKind, handler: &str, reason: &str) {
        self.hook_event(
            Level::Warn,
            kind.failure_event(),
            kind,
            handler,
            &format!("{} hook failed: {reason}", kind.name()),
        );
        if kind == HookKind::PostStart {
            self.post_start_failed = true;
            if self.phase == Phase::Running && self.app_alive() {
                self.begin_stop(
                    self.cfg.stop_signal.unwrap_or(libc::SIGTERM),
                    format_args!("the PostStart hook failed"),
                );
            }
        }
    }

    fn hook_event(&self, level: Level, name: &str, kind: HookKind, handler: &str, message: &str) {
        events::emit(
            level,
            Event {
                name,
                hook: Some(kind.name()),
                handler: Some(handler),
                message: format_args!("{message}"),
            },
        );
    }

    fn hook_mut(&mut self, kind: HookKind) -> Option<&mut RunningHook> {
        match kind {
            HookKind::PostStart => self.post_start.as_mut(),
            HookKind::PreStop => self.pre_stop.as_mut(),
        }
    }

    fn take_hook(&mut self, kind: HookKind) -> Option<RunningHook> {
        match kind {
            HookKind::PostStart => self.post_start.take(),
            HookKind::PreStop => self.pre_stop.take(),
        }
    }

    fn hook_with_pid(&self, pid: i32) -> Option<HookKind> {
        [&self.post_start, &self.pre_stop]
            .into_iter()
            .flatten()
            .find(|h| h.pid() == Some(pid))
            .map(|h| h.kind)
    }

    // ---- ready file ---------------------------------------------------------

    /// Creates the ready file. Opened non-blocking: a FIFO at that path
    /// must not hold up PID 1 (it fails with ENXIO without a reader instead).
    fn mark_ready(&self) {
        use std::os::unix::fs::OpenOptionsExt;
        if let Some(path) = &self.cfg.ready_file {
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path);
            if let Err(e) = created {
                let msg = format_args!("cannot create {}: {e}", path.display());
                events::log(Level::Warn, "ReadyFile", msg);
            }
        }
    }

    fn remove_ready_file(&self) {
        if let Some(path) = &self.cfg.ready_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The app's argv for the log, quoted and escaped so that it stays on one
/// line, cut after 300 bytes; formatted only if the line is written.
struct Argv<'a>(&'a [std::ffi::OsString]);

impl fmt::Display for Argv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let argv: Vec<_> = self.0.iter().map(|a| a.to_string_lossy()).collect();
        let mut line = format!("{argv:?}");
        if line.len() > 300 {
            line.truncate(line.floor_char_boundary(300));
            line.push_str("...");
        }
        f.write_str(&line)
    }
}
