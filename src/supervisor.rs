//! The supervision loop: one `poll` on the signalfd, the app's pidfd and
//! exec hooks' output pipes, with a timeout only when a deadline is pending.
//! Idle means asleep: no timers, no wake-ups.
//!
//! What happens on a stop signal is [`Phase`], with these transitions:
//!
//! | phase    | event                                          | next                          |
//! |----------|------------------------------------------------|-------------------------------|
//! | Running  | stop signal, or PostStart failed               | PreStop, or Stopping if none  |
//! | Running  | app exited                                     | Draining (or PreStop, with `HOOKINIT_PRE_STOP_ON_EXIT`) |
//! | PreStop  | hook done, failed or timed out; 2nd stop signal | Stopping: stop signal sent   |
//! | PreStop  | hook succeeded, with `HOOKINIT_PRE_STOP_DRAINS` | AwaitingExit                 |
//! | PreStop  | app exited                                     | PreStop (the hook may end on its own for the cleanup timeout), then Draining |
//! | AwaitingExit | the app's reserve begins; a stop signal    | Stopping: stop signal sent    |
//! | AwaitingExit, Stopping | app exited                       | Draining: leftovers get TERM  |
//! | PreStop, AwaitingExit, Stopping, Draining | the deadline  | Killed: SIGKILL to everything |
//! | Draining, Killed | no child left (Killed: or after 1 s)   | exit                          |
//!
//! The grace window starts when the stop signal arrives; its deadline is the
//! moment SIGKILL lands, whatever runs then. PreStop gets the window minus a
//! reserve kept for the app's own shutdown.
//!
//! PID 1 must not hang, die or lie:
//! - the app's exit is never learnt from one edge: its pidfd stays readable
//!   until it is reaped, and a failed `wait4` is tried again (backing off);
//! - nothing here allocates once the loop runs (see [`crate::os::alloc`]);
//! - every signal's result is checked, and an event says only what happened;
//! - an error of `poll` or of the signalfd backs off instead of spinning.

use crate::app::App;
use crate::config::Config;
use crate::events::{self, Level};
use crate::hooks::{HookKind, Hooks, Outcome};
use crate::leftovers::{Leftovers, Scope, Signalled};
use crate::os::alloc;
use crate::os::errno::Errno;
use crate::os::reap::{self, Reap, Status};
use crate::os::signals::{self, Inherited, SignalFd};
use crate::os::sys;
use crate::probes::{Change, Prober};
use crate::spec::probe::ProbeKind;
use std::ffi::CString;
use std::fmt;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
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
    /// PreStop asked the app to shut down (`HOOKINIT_PRE_STOP_DRAINS`): wait
    /// for it to exit; `signal` goes to it at `signal_at`, when the reserve
    /// kept for its shutdown begins. SIGKILL at `deadline`.
    AwaitingExit {
        deadline: Instant,
        signal_at: Instant,
        signal: i32,
    },
    /// The app has its stop signal. SIGKILL at `deadline`.
    Stopping { deadline: Instant },
    /// The app is gone; what it left behind got SIGTERM. SIGKILL at `deadline`.
    Draining { deadline: Instant },
    /// SIGKILL sent to everything; waiting for the kernel to finish it,
    /// at most until `deadline` (a process stuck in the kernel cannot hold us).
    Killed { deadline: Instant },
}

/// Poll slots: signalfd, the app's pidfd, stdout and stderr of two exec hooks.
const MAX_POLL_FDS: usize = 6;
/// Signals read from the signalfd per read call.
const SIGNAL_BATCH: usize = 16;

/// How long to wait for SIGKILLed processes to be reaped before exiting anyway.
const KILLED_WAIT: Duration = Duration::from_secs(1);

/// A failing system call retried later, at growing intervals (10 ms to 1 s),
/// and logged once per run of failures rather than at every try.
#[derive(Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    /// Records a failure of `what`; the caller tries again at `retry_at`.
    fn failed(&mut self, what: &str, e: Errno) {
        if self.failures == 0 {
            events::log(
                Level::Warn,
                "LoopError",
                format_args!("{what} failed: {e}; trying again, backing off"),
            );
        }
        let delay = Duration::from_millis(10) * (1 << self.failures.min(7));
        self.failures += 1;
        self.retry_at = Some(Instant::now() + delay.min(Duration::from_secs(1)));
    }

    fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    /// Whether the call should wait for its retry time rather than run now.
    fn waiting(&self) -> bool {
        self.retry_at.is_some()
    }

    /// Clears a retry time that has come; true if it had.
    fn due(&mut self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|at| now >= at) {
            self.retry_at = None;
            return true;
        }
        false
    }
}

pub struct Supervisor {
    cfg: Config,
    signals: SignalFd,
    leftovers: Leftovers,
    hooks: Hooks,
    prober: Prober,
    /// Whether any probe is configured (a cheap check on the hot path).
    probing: bool,
    app: App,
    own_pid: u32,
    phase: Phase,
    post_start_failed: bool,
    /// PostStart succeeded, or there is none: readiness may say ready.
    post_start_done: bool,
    /// PostStart waits for the startup probe (`HOOKINIT_POST_START_AFTER_STARTUP`).
    post_start_deferred: bool,
    /// Whether the ready file exists (as hookinit made it).
    ready_present: bool,
    /// The probe whose failure stopped the container (exit 5).
    probe_failure: Option<ProbeKind>,
    /// The grace period of the stop in progress, and the app's reserve in it
    /// (a probe's `terminationGracePeriodSeconds` may replace the setting).
    grace: Duration,
    reserve: Duration,
    /// The app refused SIGKILL (EPERM): it may outlive hookinit.
    app_unkillable: bool,
    exit_code: Option<i32>,
    ready_file: Option<CString>,
    /// Retries of a failed `wait4`, of the signalfd's `read`, of `poll`.
    reap_retry: Backoff,
    signals_retry: Backoff,
    poll_retry: Backoff,
    /// Debug events on: checked before building one on the hot path.
    debug: bool,
}

impl Supervisor {
    pub fn new(
        cfg: Config,
        inherited: Inherited,
        scope: Scope,
        signals: SignalFd,
        app_pid: i32,
    ) -> Self {
        let hooks = Hooks::new(
            cfg.post_start.clone(),
            cfg.post_start_timeout,
            cfg.pre_stop.clone(),
            cfg.pre_stop_timeout,
            inherited,
        );
        let prober = Prober::new(
            [
                cfg.startup_probe.clone(),
                cfg.liveness_probe.clone(),
                cfg.readiness_probe.clone(),
            ],
            inherited,
            Instant::now(),
        );
        let ready_file = cfg
            .ready_file
            .as_ref()
            .and_then(|p| CString::new(p.as_os_str().as_bytes()).ok());
        Supervisor {
            app: App::new(app_pid, cfg.signal_group),
            probing: prober.any(),
            prober,
            post_start_done: false,
            post_start_deferred: false,
            ready_present: false,
            probe_failure: None,
            grace: cfg.grace,
            reserve: crate::config::Grace::new(cfg.grace).reserve,
            cfg,
            signals,
            leftovers: Leftovers::new(scope),
            hooks,
            own_pid: std::process::id(),
            phase: Phase::Running,
            post_start_failed: false,
            app_unkillable: false,
            exit_code: None,
            ready_file,
            reap_retry: Backoff::default(),
            signals_retry: Backoff::default(),
            poll_retry: Backoff::default(),
            debug: events::enabled(Level::Debug),
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
                self.app.pid
            ),
        );
        // Start-up is over: from here on nothing allocates.
        alloc::start_counting();
        self.prober.start();
        if !self.hooks.configured(HookKind::PostStart) {
            self.post_start_done = true;
            self.update_ready();
        } else if self.cfg.post_start_after_startup && !self.prober.started() {
            self.post_start_deferred = true;
        } else {
            self.start_post_start();
        }
        loop {
            if let Some(code) = self.exit_code {
                return code;
            }
            self.wait_and_dispatch();
        }
    }

    fn start_post_start(&mut self) {
        if let Some(outcome) = self.hooks.start(HookKind::PostStart, Instant::now(), None) {
            self.hook_finished(HookKind::PostStart, outcome);
        }
    }

    // ---- waiting ------------------------------------------------------------

    /// Nothing to wait for but signals and the app: running, no hook, no
    /// probe deadline, no retry pending. The common case, and the one at
    /// every forwarded signal: checked first and cheaply.
    fn quiet(&self) -> bool {
        matches!(self.phase, Phase::Running)
            && self.reap_retry.retry_at.is_none()
            && self.signals_retry.retry_at.is_none()
            && self.poll_retry.retry_at.is_none()
            && !self.hooks.any_running()
            && !(self.probing && self.prober.wake_at().is_some())
    }

    fn next_wake(&self) -> Option<Instant> {
        let retries = [
            self.reap_retry.retry_at,
            self.signals_retry.retry_at,
            self.poll_retry.retry_at,
        ];
        let phase_deadline = match self.phase {
            Phase::Running => None,
            Phase::AwaitingExit { signal_at, .. } => Some(signal_at),
            Phase::PreStop { deadline, .. }
            | Phase::Stopping { deadline }
            | Phase::Draining { deadline }
            | Phase::Killed { deadline } => Some(deadline),
        };
        [self.hooks.wake_at(), phase_deadline, self.prober.wake_at()]
            .into_iter()
            .chain(retries)
            .flatten()
            .min()
    }

    /// Blocks until a signal, the app's exit, hook output or a deadline, then
    /// handles whatever is ready.
    fn wait_and_dispatch(&mut self) {
        if self.quiet() {
            self.wait_quiet();
        } else {
            self.wait_busy();
        }
        if matches!(self.phase, Phase::Draining { .. } | Phase::Killed { .. }) {
            self.reap_children();
        }
    }

    /// The wait when [`Self::quiet`]: the signalfd and the app's pidfd, no
    /// timeout.
    fn wait_quiet(&mut self) {
        let slot = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut fds = [slot(self.signals.as_raw_fd()), slot(self.app.exit_fd())];
        if let Err(e) = sys::poll(&mut fds, None) {
            self.poll_error(e);
            return;
        }
        self.poll_retry.succeeded();
        if fds[0].revents != 0 {
            self.read_signals();
        }
        if fds[1].revents != 0 {
            self.reap_children();
        }
    }

    /// The wait with hooks, probes, deadlines or retries pending.
    fn wait_busy(&mut self) {
        let wake = self.next_wake();
        let timeout = wake.map(|at| at.saturating_duration_since(Instant::now()));
        // Slots: the signalfd (not while its read backs off), the app's
        // pidfd (not while a failed reap backs off: it would stay readable),
        // then for exec hooks' output either their pipe (POLLIN) or, while a
        // chunk waits, our own stdout/stderr (POLLOUT). poll skips a slot
        // whose fd is -1.
        let mut fds = [libc::pollfd {
            fd: -1,
            events: libc::POLLIN,
            revents: 0,
        }; MAX_POLL_FDS];
        let mut owners: [Option<HookKind>; MAX_POLL_FDS] = [None; MAX_POLL_FDS];
        if !self.signals_retry.waiting() {
            fds[0].fd = self.signals.as_raw_fd();
        }
        if !self.reap_retry.waiting() {
            fds[1].fd = self.app.exit_fd();
        }
        let mut count = 2;
        self.hooks.poll_interests(|fd, events, kind| {
            if count < MAX_POLL_FDS {
                (fds[count].fd, fds[count].events, owners[count]) = (fd, events, Some(kind));
                count += 1;
            }
        });
        match sys::poll(&mut fds[..count], timeout) {
            Err(e) => self.poll_error(e),
            Ok(ready) => {
                self.poll_retry.succeeded();
                if ready > 0 {
                    if fds[0].revents != 0 {
                        self.read_signals();
                    }
                    if fds[1].revents != 0 {
                        self.reap_children();
                    }
                    for i in 2..count {
                        if fds[i].revents != 0 {
                            if let Some(kind) = owners[i] {
                                self.hooks.on_ready(kind, fds[i].fd);
                            }
                        }
                    }
                }
            }
        }
        // Deadlines, only when one was pending before the wait (a deadline
        // set while handling this wake-up is in the future).
        if let Some(at) = wake {
            let now = Instant::now();
            if now >= at {
                self.on_time(now);
            }
        }
    }

    /// `poll` itself failed (it should not: all its arguments are ours).
    /// EINTR is nothing. Otherwise, rather than spin, wait a little, then
    /// look at everything as if it were ready: signals and children are
    /// still handled, only later.
    fn poll_error(&mut self, e: Errno) {
        if e.0 == libc::EINTR {
            return;
        }
        self.poll_retry.failed("poll", e);
        if let Some(at) = self.poll_retry.retry_at {
            // At most a second (the back-off's cap); EINTR only shortens it.
            let pause = at.saturating_duration_since(Instant::now());
            crate::os::time::sleep_once(pause.min(Duration::from_secs(1)));
        }
        self.poll_retry.retry_at = None;
        if !self.signals_retry.waiting() {
            self.read_signals();
        }
        self.reap_children();
    }

    fn read_signals(&mut self) {
        let mut batch = [MaybeUninit::<libc::signalfd_siginfo>::uninit(); SIGNAL_BATCH];
        loop {
            let infos = match self.signals.read(&mut batch) {
                Ok(infos) => infos,
                Err(e) => {
                    self.signals_retry.failed("reading the signalfd", e);
                    return;
                }
            };
            self.signals_retry.succeeded();
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
            Phase::Running => self.begin_stop(
                sig,
                format_args!("received {}", signals::name(sig)),
                self.cfg.grace,
            ),
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
                let why = format_args!("cut short by a second {}", signals::name(sig));
                self.hooks.end_early(HookKind::PreStop, why, true);
                self.after_pre_stop(deadline, signal, Outcome::Failed);
            }
            Phase::AwaitingExit {
                deadline, signal, ..
            } => {
                // Another stop signal: no more waiting.
                self.send_stop_signal(signal, deadline);
            }
            Phase::Stopping { .. } => self.forward(sig),
            Phase::Draining { .. } | Phase::Killed { .. } => events::log(
                Level::Debug,
                "SignalIgnored",
                format_args!("{} while exiting", signals::name(sig)),
            ),
        }
    }

    /// Reaps every child that ended. A `wait4` that fails, or that says
    /// there are no children while the app (or a hook) is known to be
    /// unreaped, is tried again later: the app's exit is never lost.
    fn reap_children(&mut self) {
        loop {
            match reap::next() {
                Reap::Child(pid, raw) => self.on_reaped(pid, raw),
                Reap::NothingYet => {
                    self.reap_retry.succeeded();
                    return;
                }
                Reap::NoChildren
                    if self.app.alive()
                        || self.hooks.any_running_process()
                        || self.prober.any_running_process() =>
                {
                    self.reap_retry.failed("wait4", Errno(libc::ECHILD));
                    return;
                }
                Reap::NoChildren => {
                    self.reap_retry.succeeded();
                    if matches!(self.phase, Phase::Draining { .. } | Phase::Killed { .. }) {
                        self.finish();
                    }
                    return;
                }
                Reap::Failed(errno) => {
                    self.reap_retry.failed("wait4", Errno(errno));
                    return;
                }
            }
        }
    }

    /// `pid` was reaped with wait status `raw`. Most are orphans, which need
    /// nothing more: the status is decoded only for the others.
    fn on_reaped(&mut self, pid: i32, raw: i32) {
        if pid == self.app.pid {
            let status = Status::from_raw(raw);
            self.app.reaped(status);
            events::log(
                Level::Debug,
                "Exited",
                format_args!("the app (pid {pid}) {status}"),
            );
            self.on_app_exit();
            return;
        }
        let hook = match self.hooks.any_running() {
            true => self.hooks.on_reaped(pid, Status::from_raw(raw)),
            false => None,
        };
        if let Some((kind, outcome)) = hook {
            self.hook_finished(kind, outcome);
        } else if self.probing && self.prober.owns(pid) {
            if let Some(change) = self.prober.on_reaped(pid, Status::from_raw(raw)) {
                self.on_probe(change);
            }
        } else if self.debug {
            let status = Status::from_raw(raw);
            events::log(Level::Debug, "Reaped", format_args!("pid {pid} {status}"));
        }
    }

    fn on_time(&mut self, now: Instant) {
        if self.reap_retry.due(now) {
            self.reap_children();
        }
        // Its retry time came: the signalfd is polled again from the next wait.
        self.signals_retry.due(now);
        for (kind, outcome) in [HookKind::PostStart, HookKind::PreStop]
            .into_iter()
            .zip(self.hooks.on_time(now))
        {
            if let Some(outcome) = outcome {
                self.hook_finished(kind, outcome);
            }
        }
        if self.probing {
            if let Some(change) = self.prober.on_time(now) {
                self.on_probe(change);
            }
        }
        match self.phase {
            Phase::AwaitingExit {
                deadline,
                signal_at,
                signal,
            } if now >= signal_at && now < deadline => self.send_stop_signal(signal, deadline),
            Phase::PreStop { deadline, .. }
            | Phase::AwaitingExit { deadline, .. }
            | Phase::Stopping { deadline }
                if now >= deadline =>
            {
                let grace = events::secs(self.grace);
                self.kill_everything(format_args!("the grace period of {grace} is over"))
            }
            Phase::Draining { deadline } if now >= deadline => self.kill_everything(format_args!(
                "processes left behind did not exit after SIGTERM"
            )),
            Phase::Killed { deadline } if now >= deadline => {
                events::log(
                    Level::Warn,
                    "NotReaped",
                    format_args!("processes are still not reaped 1s after SIGKILL; exiting anyway"),
                );
                self.finish();
            }
            _ => {}
        }
    }

    // ---- the app's exit -----------------------------------------------------

    fn on_app_exit(&mut self) {
        self.prober.stop();
        self.hooks
            .end_early(HookKind::PostStart, format_args!("the app exited"), false);
        match self.phase {
            Phase::Running => {
                if self.cfg.pre_stop_on_exit && self.hooks.configured(HookKind::PreStop) {
                    self.remove_ready_file();
                    // No app to keep time for: PreStop may use the whole window.
                    let now = Instant::now();
                    self.grace = self.cfg.grace;
                    let deadline = now + self.grace;
                    self.start_pre_stop(now, deadline, deadline, None);
                } else {
                    self.begin_drain(None);
                }
            }
            Phase::PreStop { deadline, .. } => {
                // An "ask, then wait" PreStop (`pg_ctl stop`, `nginx -s quit`
                // and a wait loop) is about to end: let it, for the cleanup
                // timeout, so that it is logged with its real outcome.
                let until = (Instant::now() + self.cfg.cleanup_timeout).min(deadline);
                if self.hooks.give_until(HookKind::PreStop, until) {
                    self.phase = Phase::PreStop {
                        deadline,
                        signal: None,
                    };
                } else {
                    let why = format_args!("the app exited");
                    self.hooks.end_early(HookKind::PreStop, why, false);
                    self.begin_drain(Some(deadline));
                }
            }
            Phase::AwaitingExit { deadline, .. } | Phase::Stopping { deadline } => {
                self.begin_drain(Some(deadline))
            }
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
            let signalled = self.leftovers.signal_all(libc::SIGTERM, self.app.pid);
            self.warn_if_partial(libc::SIGTERM, signalled);
        }
    }

    // ---- stopping -----------------------------------------------------------

    /// A stop begins: the grace window of `grace` opens now.
    fn begin_stop(&mut self, trigger: i32, reason: fmt::Arguments<'_>, grace: Duration) {
        self.prober.stop();
        self.grace = grace;
        self.reserve = crate::config::Grace::new(grace).reserve;
        self.remove_ready_file();
        self.hooks.end_early(
            HookKind::PostStart,
            format_args!("the container is stopping"),
            false,
        );
        let now = Instant::now();
        let deadline = now + grace;
        let signal = self.cfg.stop_signal.unwrap_or(trigger);
        let grace = events::secs(grace);
        let log_killing = || {
            let msg = format_args!("stopping the container: {reason}; grace period {grace}");
            events::log(Level::Info, "Killing", msg);
        };
        if self.hooks.configured(HookKind::PreStop) {
            log_killing();
            let hook_deadline = deadline - self.reserve;
            self.start_pre_stop(now, deadline, hook_deadline, Some(signal));
        } else {
            // Signal first, log after: the app should not wait for our log line.
            let sent = self.app.signal(signal);
            log_killing();
            self.report_stop_signal(signal, sent);
            self.phase = Phase::Stopping { deadline };
        }
    }

    /// Starts PreStop, whose budget began at `budget_start`. The window ends
    /// at `deadline`; the hook must be done by `hook_deadline` (or its own
    /// timeout, if sooner).
    fn start_pre_stop(
        &mut self,
        budget_start: Instant,
        deadline: Instant,
        hook_deadline: Instant,
        signal: Option<i32>,
    ) {
        self.phase = Phase::PreStop { deadline, signal };
        if let Some(outcome) =
            self.hooks
                .start(HookKind::PreStop, budget_start, Some(hook_deadline))
        {
            self.hook_finished(HookKind::PreStop, outcome);
        }
    }

    /// PreStop is over (done, failed, timed out or cut short): on to the app.
    /// With `HOOKINIT_PRE_STOP_DRAINS`, a PreStop that succeeded started the
    /// app's own graceful shutdown: wait for it, and send the stop signal
    /// only when the app's reserve begins.
    fn after_pre_stop(&mut self, deadline: Instant, signal: Option<i32>, outcome: Outcome) {
        match signal {
            Some(signal) if self.app.alive() => {
                let signal_at = deadline - self.reserve;
                if self.cfg.pre_stop_drains
                    && outcome == Outcome::Succeeded
                    && Instant::now() < signal_at
                {
                    let left = events::secs_fixed(signal_at - Instant::now(), 1);
                    let msg = format_args!(
                        "PreStop started the app's shutdown: waiting for it to exit; {} in {left}s",
                        signals::name(signal)
                    );
                    events::log(Level::Info, "AwaitingExit", msg);
                    self.phase = Phase::AwaitingExit {
                        deadline,
                        signal_at,
                        signal,
                    };
                } else {
                    self.send_stop_signal(signal, deadline);
                }
            }
            _ => self.begin_drain(Some(deadline)),
        }
    }

    fn send_stop_signal(&mut self, signal: i32, deadline: Instant) {
        let sent = self.app.signal(signal);
        self.report_stop_signal(signal, sent);
        self.phase = Phase::Stopping { deadline };
    }

    /// Logs what became of the stop signal, and follows it with SIGCONT so
    /// that a stopped app can act on it (as systemd does). A refused signal
    /// is said so: hookinit then waits for the deadline's SIGKILL.
    fn report_stop_signal(&mut self, sig: i32, sent: Result<crate::os::process::Target, Errno>) {
        let name = signals::name(sig);
        match sent {
            Ok(target) => {
                let cont = sig != libc::SIGCONT && sig != libc::SIGKILL;
                let cont = cont && self.app.signal(libc::SIGCONT).is_ok();
                let then = if cont { ", then SIGCONT" } else { "" };
                let msg = format_args!("sent {name} to the app ({target}){then}");
                events::log(Level::Info, "StopSignalSent", msg);
            }
            Err(e) => {
                let target = self.app.target();
                let msg = format_args!(
                    "cannot send {name} to the app ({target}): {e}; SIGKILL follows at the deadline"
                );
                events::log(Level::Warn, "StopSignalFailed", msg);
            }
        }
    }

    fn kill_everything(&mut self, reason: fmt::Arguments<'_>) {
        self.hooks.kill_all();
        let app = self.app.alive().then(|| self.app.kill());
        let signalled = self.leftovers.signal_all(libc::SIGKILL, self.app.pid);
        if let Some(Err(e)) = app {
            self.app_unkillable = true;
            let msg = format_args!(
                "cannot SIGKILL the app (pid {}): {e}; it may still be running",
                self.app.pid
            );
            events::log(Level::Warn, "SigkillFailed", msg);
        }
        // No SigkillSent for a SIGKILL that reached nobody.
        let what: Option<&dyn fmt::Display> = match (app, signalled) {
            (_, s) if s.delivered() => Some(&signalled),
            (Some(Ok(_)), _) => Some(&"the app"),
            _ => None,
        };
        if let Some(what) = what {
            events::log(
                Level::Info,
                "SigkillSent",
                format_args!("SIGKILL sent to {what}: {reason}"),
            );
        }
        self.warn_if_partial(libc::SIGKILL, signalled);
        if self.app_unkillable {
            // Nothing more can be done: exit now with the code that says so.
            self.finish();
            return;
        }
        self.phase = Phase::Killed {
            deadline: Instant::now() + KILLED_WAIT,
        };
    }

    /// Says so when signalling everything fell back to the app's group.
    fn warn_if_partial(&self, sig: i32, signalled: Signalled) {
        if let Signalled::AppGroupOnly(_) = signalled {
            let msg = format_args!("{} sent to {signalled}", signals::name(sig));
            events::log(Level::Warn, "Leftovers", msg);
        }
    }

    /// Per signal: kept inline in the loop (the benchmark counts it).
    #[inline(always)]
    fn forward(&mut self, sig: i32) {
        if !self.app.alive() {
            return;
        }
        match self.app.signal(sig) {
            Ok(_) if !self.debug => {}
            Ok(target) => events::log(
                Level::Debug,
                "Forwarded",
                format_args!("{} to the app ({target})", signals::name(sig)),
            ),
            Err(e) => events::log(
                Level::Warn,
                "ForwardFailed",
                format_args!(
                    "cannot forward {} to the app ({}): {e}",
                    signals::name(sig),
                    self.app.target()
                ),
            ),
        }
    }

    fn finish(&mut self) {
        if self.exit_code.is_some() {
            return;
        }
        self.remove_ready_file();
        let code = match self.app.status() {
            // hookinit stopped the container: one code, whatever the app's
            // status (143 or 0 or 1 depended on its TERM handler's timing).
            _ if self.post_start_failed => crate::os::exit::EXIT_POST_START_FAILED,
            _ if self.probe_failure.is_some() => crate::os::exit::EXIT_PROBE_FAILED,
            Some(status) => self.cfg.remap(status.code()),
            None if self.app_unkillable => crate::os::exit::EXIT_APP_NOT_STOPPED,
            // SIGKILL was delivered; the app is stuck in the kernel, not alive.
            None => Status::Signaled(libc::SIGKILL).code(),
        };
        events::log(
            Level::Debug,
            "Exiting",
            format_args!(
                "exit code {code}; {} heap allocations after start-up",
                alloc::since_start()
            ),
        );
        self.exit_code = Some(code);
    }

    // ---- hooks --------------------------------------------------------------

    fn hook_finished(&mut self, kind: HookKind, outcome: Outcome) {
        match (kind, outcome) {
            (HookKind::PostStart, Outcome::Succeeded) => {
                self.post_start_done = true;
                self.update_ready();
            }
            (HookKind::PostStart, Outcome::Cancelled) => {}
            (HookKind::PostStart, Outcome::Failed) => {
                self.post_start_failed = true;
                if self.phase == Phase::Running && self.app.alive() {
                    self.begin_stop(
                        self.cfg.stop_signal.unwrap_or(libc::SIGTERM),
                        format_args!("the PostStart hook failed"),
                        self.cfg.grace,
                    );
                }
            }
            (HookKind::PreStop, outcome) => {
                if let Phase::PreStop { deadline, signal } = self.phase {
                    self.after_pre_stop(deadline, signal, outcome);
                }
            }
        }
    }

    // ---- probes ---------------------------------------------------------------

    fn on_probe(&mut self, change: Change) {
        match change {
            Change::Started => {
                self.prober.on_started();
                if std::mem::take(&mut self.post_start_deferred) {
                    self.start_post_start();
                }
                self.update_ready();
            }
            Change::Readiness => self.update_ready(),
            Change::Restart(kind) => {
                if !matches!(self.phase, Phase::Running) || !self.app.alive() {
                    return;
                }
                self.probe_failure = Some(kind);
                let grace = self
                    .prober
                    .termination_grace(kind)
                    .unwrap_or(self.cfg.grace);
                let probe = match kind {
                    ProbeKind::Startup => "startup",
                    _ => "liveness",
                };
                // Taken out for the message (no copy: nothing allocates here).
                let name = self.cfg.container_name.take();
                let container = name.as_deref().unwrap_or("app");
                self.begin_stop(
                    self.cfg.stop_signal.unwrap_or(libc::SIGTERM),
                    format_args!("Container {container} failed {probe} probe, will be restarted"),
                    grace,
                );
                self.cfg.container_name = name;
            }
        }
    }

    // ---- ready file ---------------------------------------------------------

    /// The ready file exists exactly while the app runs, has started
    /// (startup probe), PostStart succeeded and readiness says ready.
    fn update_ready(&mut self) {
        let want = matches!(self.phase, Phase::Running)
            && self.app.alive()
            && self.post_start_done
            && self.prober.ready();
        if want == self.ready_present {
            return;
        }
        if want {
            self.mark_ready();
        } else {
            self.remove_ready_file();
        }
        if self.prober.has(ProbeKind::Readiness) {
            let msg = if want {
                "the container is ready"
            } else {
                "the container is not ready"
            };
            events::log(Level::Info, "Readiness", format_args!("{msg}"));
        }
    }

    /// Creates the ready file with `mknod`: no descriptor is ever open on it
    /// (so none can be seen, or block: a FIFO at that path once would have),
    /// and it appears at once, whole. A regular file already there is ready.
    fn mark_ready(&mut self) {
        self.ready_present = true;
        let Some(path) = &self.ready_file else { return };
        // SAFETY: mknod and stat with a NUL-terminated path made at start-up.
        let made = unsafe { libc::mknod(path.as_ptr(), libc::S_IFREG | 0o644, 0) } == 0;
        let e = Errno::last();
        let regular = || {
            // SAFETY: stat into a zeroed buffer, with our path.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let found = unsafe { libc::stat(path.as_ptr(), &mut st) } == 0;
            found && st.st_mode & libc::S_IFMT == libc::S_IFREG
        };
        if made || (e.0 == libc::EEXIST && regular()) {
            return;
        }
        let path = crate::os::errno::Lossy(path.as_bytes());
        if e.0 == libc::EEXIST {
            let msg = format_args!("cannot create {path}: it exists and is not a regular file");
            events::log(Level::Warn, "ReadyFile", msg);
        } else {
            events::log(
                Level::Warn,
                "ReadyFile",
                format_args!("cannot create {path}: {e}"),
            );
        }
    }

    fn remove_ready_file(&mut self) {
        self.ready_present = false;
        if let Some(path) = &self.ready_file {
            // SAFETY: unlink with a NUL-terminated path made at start-up.
            unsafe { libc::unlink(path.as_ptr()) };
        }
    }
}

/// The app's argv for the log, quoted and escaped so that it stays on one
/// line, cut after 300 bytes; formatted only if the line is written (at
/// start-up: it allocates).
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
