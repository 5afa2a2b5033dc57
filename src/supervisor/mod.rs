//! The supervision loop. With nothing but signals to watch (running, no
//! hook, no probe, no notify socket, no retry: [`wait::Wait::Read`]) it
//! blocks in `read` on the signalfd, where SIGCHLD says all that the app's
//! pidfd would: one system call per signal besides its own `kill` or
//! `wait4`. Otherwise one `poll` on the signalfd, the app's pidfd, the
//! notify socket and exec hooks' output pipes, with a timeout only when a
//! deadline is pending. Both hand signals to one dispatch. Idle means
//! asleep: no timers, no wake-ups.
//!
//! What happens on a stop signal is [`phase::Phase`], moved on by the pure
//! [`phase::step`] (its table is there); this loop turns signals, reaped
//! children, hooks' ends and the clock into its events and carries out the
//! actions it returns ([`act`]).
//!
//! PID 1 must not hang, die or lie:
//! - the app's exit is never learnt from one edge: every SIGCHLD reaps
//!   until `wait4` says nothing more, while polling its pidfd stays readable
//!   until it is reaped, and a failed `wait4` is tried again (backing off,
//!   which polls);
//! - nothing here allocates once the loop runs (see [`crate::os::alloc`]);
//! - every signal's result is checked, and an event says only what happened;
//! - an error of `poll` or of the signalfd backs off instead of spinning.

mod act;
mod drain;
mod notified;
mod oom;
mod peer;
mod phase;
mod post_start;
mod post_stop;
mod pre_start;
mod readiness;
mod wait;

use crate::app::App;
use crate::config::Config;
use crate::events::{self, Level};
use crate::hooks::{HookKind, Hooks, Outcome};
use crate::leftovers::{Leftovers, Scope};
use crate::notify::relay::Relay;
use crate::notify::Notify;
use crate::os::errno::Errno;
use crate::os::reap::{self, Reap, Status};
use crate::os::signals::{self, Inherited, SignalFd};
use crate::os::text::QuotedList;
use crate::probes::{Change, Prober};
use crate::spec::probe::ProbeKind;
use oom::OomWatch;
use phase::{Event, Facts, Phase, Policy, Window};
use post_start::PostStart;
pub use pre_start::Launch;
use std::ffi::CString;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::time::Instant;
use wait::Backoff;

/// Signals read from the signalfd per read call.
const SIGNAL_BATCH: usize = 16;

pub struct Supervisor {
    /// Boxed: moved by pointer at start-up, not copied field by field (a
    /// kilobyte each time).
    cfg: Box<Config>,
    /// The settings the stop's transitions read.
    policy: Policy,
    signals: SignalFd,
    leftovers: Leftovers,
    hooks: Hooks,
    prober: Prober,
    /// Whether any probe is configured (a cheap check on the hot path).
    probing: bool,
    /// Whether any hook is configured: likewise.
    hooked: bool,
    /// `hooked`, `probing` or a notify socket: what the wait looks at only
    /// when one is on (one test for all when all are off).
    extras: bool,
    /// The app's `sd_notify` messages (`HOOKINIT_NOTIFY_SOCKET`); boxed:
    /// its datagram buffer would make every move of the supervisor 4 KB.
    notify: Option<Box<Notify>>,
    /// `HOOKINIT_READINESS_ADDRESS`: readiness over HTTP.
    endpoint: Option<Box<crate::readiness_http::Endpoint>>,
    /// `HOOKINIT_DRAIN`: the drain autopilot, run where PreStop begins.
    drain: Option<Box<crate::drain::Drain>>,
    /// hookinit's own `NOTIFY_SOCKET`, told of readiness and the stop.
    relay: Option<Relay>,
    app: App,
    own_pid: u32,
    phase: Phase,
    post_start: PostStart,
    /// Which probes wait for PostStart to succeed.
    probes_held: ProbesHeld,
    /// Whether the ready file exists (as hookinit made it).
    ready_present: bool,
    /// The probe whose failure stopped the container (exit 5).
    probe_failure: Option<ProbeKind>,
    /// The grace period of the stop in progress, and the app's reserve in it
    /// (a probe's `terminationGracePeriodSeconds` may replace the setting).
    window: Window,
    /// The app refused SIGKILL (EPERM): it may outlive hookinit.
    app_unkillable: bool,
    /// Whether the last SIGKILL to everything reached any process.
    sigkill_delivered: bool,
    /// What the app left got SIGTERM (`SigtermSent`): a SIGKILL at the
    /// drain's deadline may say they ignored it.
    sigterm_delivered: bool,
    exit_code: Option<i32>,
    ready_file: Option<CString>,
    /// Retries of a failed `wait4`, of the signalfd's `read`, of `poll`.
    reap_retry: Backoff,
    signals_retry: Backoff,
    poll_retry: Backoff,
    /// Debug events on: checked before building one on the hot path.
    debug: bool,
    /// The level of an orphan's `Reaped` event, if it is logged at all
    /// (debug, or tini's `-w`): one test per zombie.
    reaped_level: Option<Level>,
    /// No hook, no probe, no `Reaped` event, no OOM watch: a child that is
    /// not the app needs nothing but reaping (one test per zombie).
    plain_orphans: bool,
    /// A peer's flags change what a signal does (dumb-init's `--rewrite`,
    /// its job control): one test per signal when they do not.
    peer_signals: bool,
    /// The stop signals and the reload signal.
    special: signals::SignalSet,
    /// The signals not simply forwarded: `special`, those hookinit may raise
    /// on itself, or all of them under a peer's flags. One test per signal.
    slow: signals::SignalSet,
    /// A reload signal came while the reload hook ran: it runs once more.
    reload_queued: bool,
    /// `HOOKINIT_REPORT_OOM`: the cgroup's OOM-kill counter.
    oom: Option<Box<OomWatch>>,
    /// hookinit sent the app SIGKILL: its death by SIGKILL is no OOM kill.
    app_sigkilled: bool,
    /// The app's start, after the pre-start steps if any.
    start: Box<pre_start::Start>,
    /// Why the container stops, and when SIGKILL comes.
    ending: post_stop::Ending,
}

impl Supervisor {
    // Inlined into its one caller (`run`), as before: out of line, the
    // start-up paid for copying the built supervisor out (~110 instructions).
    #[inline(always)]
    pub fn new(
        mut cfg: Box<Config>,
        inherited: Inherited,
        scope: Scope,
        signals: SignalFd,
        launch: Launch,
        notify: Option<Box<Notify>>,
        relay: Option<Relay>,
    ) -> Self {
        let steps = cfg.pre_start.len();
        let reload = cfg.reload.is_some();
        let hooks = Hooks::new(&mut cfg, inherited);
        // Signals that are not simply forwarded: the stop signals and,
        // with a reload hook, the reload signal.
        let mut special = cfg.stop_on;
        if reload {
            special.insert(cfg.reload_signal);
        }
        let prober = Prober::new(
            [
                cfg.startup_probe.as_ref(),
                cfg.liveness_probe.as_ref(),
                cfg.readiness_probe.as_ref(),
            ],
            inherited,
        );
        let ready_file = cfg
            .ready_file
            .as_ref()
            .and_then(|p| CString::new(p.as_os_str().as_bytes()).ok());
        let reaped_level = match (cfg.peer.warn_on_reap, events::enabled(Level::Debug)) {
            (true, _) => Some(Level::Warn),
            (false, true) => Some(Level::Debug),
            (false, false) => None,
        };
        let probing = prober.any();
        let hooked = hooks.any_configured();
        let plain_orphans = !hooked && !probing && reaped_level.is_none() && !cfg.report_oom;
        let peer_signals = !cfg.peer.rewrite.is_empty() || cfg.peer.suspend_on_tty_signals;
        let slow = match peer_signals {
            true => signals::SignalSet::full(),
            false => {
                let mut slow = special;
                slow.insert(libc::SIGPIPE);
                slow.insert(libc::SIGXFSZ);
                slow
            }
        };
        Supervisor {
            app: App::unstarted(),
            start: Box::new(pre_start::Start::new(launch, steps)),
            ending: post_stop::Ending::new(cfg.termination_message_path.as_deref()),
            probing,
            hooked,
            extras: hooked
                || probing
                || notify.is_some()
                || relay.as_ref().is_some_and(|r| r.wake_at().is_some()),
            notify,
            endpoint: None,
            drain: Self::drain_setup(&cfg),
            relay,
            prober,
            post_start: PostStart::NotConfigured,
            probes_held: ProbesHeld::None,
            ready_present: false,
            probe_failure: None,
            window: Self::window(cfg.grace),
            policy: Policy {
                pre_stop: hooks.configured(HookKind::PreStop) || cfg.drain.is_some(),
                pre_stop_on_exit: cfg.pre_stop_on_exit,
                pre_stop_drains: cfg.pre_stop_drains,
                stop_signal: cfg.stop_signal,
                grace: crate::config::Grace::new(cfg.grace).window,
                cleanup_timeout: cfg.cleanup_timeout,
                post_stop: hooks.configured(HookKind::PostStop),
            },
            special,
            slow,
            reload_queued: false,
            // Read before the app starts, so that its whole life counts.
            oom: cfg.report_oom.then(OomWatch::start).flatten(),
            app_sigkilled: false,
            cfg,
            signals,
            leftovers: Leftovers::new(scope),
            hooks,
            own_pid: std::process::id(),
            phase: Phase::Running,
            app_unkillable: false,
            sigkill_delivered: false,
            sigterm_delivered: false,
            exit_code: None,
            ready_file,
            reap_retry: Backoff::default(),
            signals_retry: Backoff::default(),
            poll_retry: Backoff::default(),
            debug: events::enabled(Level::Debug),
            reaped_level,
            plain_orphans,
            peer_signals,
        }
    }

    /// Runs until the app and everything it left behind are gone; returns
    /// hookinit's exit code.
    pub fn run(&mut self) -> i32 {
        self.begin();
        loop {
            if let Some(code) = self.exit_code {
                return code;
            }
            self.wait_and_dispatch();
        }
    }

    /// The app runs: PostStart and the probes begin.
    fn app_started(&mut self) {
        self.post_start = PostStart::at_start(
            self.hooks.configured(HookKind::PostStart),
            self.cfg.post_start_after_startup,
            self.started(),
        );
        // The kubelet's probes start once the container's status is Running,
        // which waits for PostStart: every probe waits for it, except a
        // startup probe that PostStart itself waits for
        // (`HOOKINIT_POST_START_AFTER_STARTUP`; with no startup probe it
        // waits for the app's READY=1 alone, and so do all probes).
        self.probes_held = match self.post_start {
            PostStart::Running => ProbesHeld::All,
            PostStart::Deferred if self.prober.has(ProbeKind::Startup) => ProbesHeld::AfterStartup,
            PostStart::Deferred => ProbesHeld::All,
            _ => ProbesHeld::None,
        };
        if self.probes_held != ProbesHeld::All {
            self.prober.start();
        }
        match self.post_start {
            PostStart::NotConfigured => self.update_ready(),
            PostStart::Running => self.start_post_start(),
            _ => {}
        }
    }

    /// Whether the container has started: the startup probe succeeded (or
    /// there is none) and, with a notify socket, the app sent READY=1.
    fn started(&self) -> bool {
        self.prober.started() && self.notify.as_deref().is_none_or(Notify::started)
    }

    fn start_post_start(&mut self) {
        if let Some(outcome) = self.hooks.start(HookKind::PostStart, Instant::now(), None) {
            self.hook_finished(HookKind::PostStart, outcome);
        }
    }

    /// The grace window a stop with the grace period `grace` opens (at
    /// least 2 s, the kubelet's minimum; a reserve as long as the window
    /// when the grace period is 0: no PreStop).
    fn window(grace: std::time::Duration) -> Window {
        let split = crate::config::Grace::new(grace);
        Window {
            grace: split.window,
            reserve: split.reserve,
        }
    }

    /// Moves the stop on by `event`, now.
    fn dispatch(&mut self, event: Event) {
        self.dispatch_at(event, Instant::now());
    }

    /// Moves the stop on by `event` at `now`, then by whatever event carrying
    /// out its actions brings (a hook that could not start, say).
    fn dispatch_at(&mut self, event: Event, now: Instant) {
        let mut next = Some((event, now));
        while let Some((event, now)) = next.take() {
            let facts = Facts {
                now,
                app_alive: self.app.alive(),
                window: self.window,
            };
            let policy = self.policy;
            let mut follow = None;
            // Actions run as they are decided; none reads the phase they lead
            // to (stored after), and an event they bring comes after them all.
            self.phase = phase::step(self.phase, event, &policy, &facts, &mut |action| {
                if let Some(event) = self.act(action) {
                    follow = Some(event);
                }
            });
            next = follow.map(|event| (event, Instant::now()));
        }
    }

    /// Reads signals, a batch per `read`, and acts on each: the one dispatch
    /// of both waits. `poll` found the signalfd readable: one batch (more
    /// waiting are read at the next turn; `poll` is level-triggered). With
    /// `stay` ([`wait::Wait::Read`]), this is the wait itself: it reads on,
    /// blocked in `read` between signals, for as long as nothing else needs
    /// watching, without going back round the loop.
    fn read_signals(&mut self, stay: bool) {
        loop {
            let mut batch = [MaybeUninit::<libc::signalfd_siginfo>::uninit(); SIGNAL_BATCH];
            let infos = match self.signals.read(&mut batch) {
                Ok(infos) => infos,
                Err(e) => {
                    self.signals_retry.failed("reading the signalfd", e);
                    return;
                }
            };
            self.signals_retry.succeeded();
            for info in infos {
                self.on_signal(info);
            }
            if !(stay && self.exit_code.is_none() && self.wait() == wait::Wait::Read) {
                return;
            }
        }
    }

    // ---- events -------------------------------------------------------------

    fn on_signal(&mut self, info: &libc::signalfd_siginfo) {
        let sig = info.ssi_signo as i32;
        if sig == libc::SIGCHLD {
            self.reap_children();
        } else if self.slow.may_contain(sig) {
            self.on_slow_signal(info);
        } else {
            self.forward(sig);
        }
    }

    /// A stop signal, the reload signal, any signal under a peer's flags,
    /// and the signals hookinit may raise on itself.
    #[inline(never)]
    fn on_slow_signal(&mut self, info: &libc::signalfd_siginfo) {
        let sig = info.ssi_signo as i32;
        // hookinit's own failed write to a closed stdout raises SIGPIPE on
        // itself (SIGXFSZ, past a file size limit): not a signal for the app.
        if info.ssi_pid == self.own_pid && info.ssi_code == libc::SI_USER {
            events::log(
                Level::Debug,
                "SignalIgnored",
                format_args!("{} raised by hookinit itself", signals::name(sig)),
            );
        } else if self.peer_signals {
            self.on_peer_signal(sig);
        } else if self.special.contains(sig) {
            self.on_stop_signal(sig);
        } else {
            self.forward(sig);
        }
    }

    /// What a stop signal does depends on how far the stop already is. Kept
    /// out of line: the loop around [`Self::forward`] stays as small. The
    /// reload signal comes here too.
    #[inline(never)]
    fn on_stop_signal(&mut self, sig: i32) {
        let event = match self.cfg.stop_on.contains(sig) {
            true => Event::StopSignal {
                signal: sig,
                window: Self::window(self.cfg.grace),
            },
            false => Event::ReloadSignal,
        };
        self.dispatch(event);
    }

    /// Reaps every child that ended. A `wait4` that fails, or that says
    /// there are no children while the app (or a hook) is known to be
    /// unreaped, is tried again later: the app's exit is never lost.
    fn reap_children(&mut self) {
        loop {
            match reap::next() {
                // An orphan with nothing to look at: reaped, nothing more.
                Reap::Child(pid, _) if self.plain_orphans && pid != self.app.pid => {}
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
                    // (Once the exit code is set there is nothing left to decide.)
                    if self.phase.exiting() && self.exit_code.is_none() {
                        self.dispatch(Event::NoChildLeft);
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
    #[inline(never)]
    fn on_reaped(&mut self, pid: i32, raw: i32) {
        // Before the app's, hook's or probe's own events: its OOM kill
        // comes first. (The signal's bits of an exit's status are 0: no
        // decoding needed.)
        if self.oom.is_some() && libc::WTERMSIG(raw) == libc::SIGKILL {
            self.check_sigkilled(pid);
        }
        if pid == self.app.pid {
            let status = Status::from_raw(raw);
            self.app.reaped(status);
            events::log(
                Level::Debug,
                "Exited",
                format_args!("the app (pid {pid}) {status}"),
            );
            self.dispatch(Event::AppExited);
            return;
        }
        let hook = match self.hooked && self.hooks.any_running() {
            true => self.hooks.on_reaped(pid, Status::from_raw(raw)),
            false => None,
        };
        if let Some((kind, outcome)) = hook {
            self.hook_finished(kind, outcome);
        } else if self.probing && self.prober.owns(pid) {
            if let Some(change) = self.prober.on_reaped(pid, Status::from_raw(raw)) {
                self.on_probe(change);
            }
        } else if let Some(level) = self.reaped_level {
            let status = Status::from_raw(raw);
            events::log(level, "Reaped", format_args!("pid {pid} {status}"));
        }
    }

    fn on_time(&mut self, now: Instant) {
        if self.reap_retry.due(now) {
            self.reap_children();
        }
        // Its retry time came: the signalfd is polled again from the next wait.
        self.signals_retry.due(now);
        let kinds = [
            self.hooks.shared_kind(),
            HookKind::PreStop,
            HookKind::Reload,
        ];
        for (kind, outcome) in kinds.into_iter().zip(self.hooks.on_time(now)) {
            if let Some(outcome) = outcome {
                self.hook_finished(kind, outcome);
            }
        }
        if self.probing {
            if let Some(change) = self.prober.on_time(now) {
                self.on_probe(change);
            }
        }
        if let Some(e) = self.endpoint.as_mut() {
            e.on_time(now);
        }
        if let Some(failure) = self.notify.as_mut().and_then(|n| n.on_time(now)) {
            self.notify_failed(failure);
        }
        if let Some(relay) = self.relay.as_mut() {
            relay.on_time(
                now,
                matches!(self.phase, Phase::Running) && self.app.alive(),
            );
        }
        self.drain_on_time(now);
        self.dispatch_at(Event::Tick, now);
    }

    fn hook_finished(&mut self, kind: HookKind, outcome: Outcome) {
        let event = match kind {
            HookKind::PostStart => {
                self.post_start = self.post_start.ended(outcome);
                let window = Self::window(self.cfg.grace);
                Event::PostStartEnded { outcome, window }
            }
            HookKind::PreStop => Event::PreStopEnded(outcome),
            HookKind::Reload => Event::ReloadEnded(outcome),
            HookKind::PreStart => return self.pre_start_ended(outcome),
            HookKind::PostStop => Event::PostStopEnded,
        };
        self.dispatch(event);
    }

    fn on_probe(&mut self, change: Change) {
        match change {
            Change::Started => {
                if self.post_start == PostStart::Deferred {
                    // Liveness and readiness wait for PostStart's success,
                    // which waits for READY=1 too when notify is on.
                    self.start_deferred_post_start();
                } else {
                    self.prober.on_started();
                }
                self.update_ready();
            }
            Change::Readiness => self.update_ready(),
            Change::Restart(kind) => {
                let grace = self
                    .prober
                    .termination_grace(kind)
                    .unwrap_or(self.cfg.grace);
                let window = Self::window(grace);
                self.dispatch(Event::ProbeRestart { kind, window });
            }
        }
    }

    /// Starts a PostStart that waits for the container's start, once both
    /// the startup probe and READY=1 (each if configured) say so.
    fn start_deferred_post_start(&mut self) {
        if self.post_start == PostStart::Deferred && self.started() {
            self.post_start = self.post_start.on_started();
            self.start_post_start();
        }
    }

    /// PostStart succeeded: the probes it held begin.
    fn start_probes(&mut self) {
        match std::mem::replace(&mut self.probes_held, ProbesHeld::None) {
            ProbesHeld::None => {}
            ProbesHeld::All => self.prober.start(),
            ProbesHeld::AfterStartup => self.prober.on_started(),
        }
    }

    /// Per signal: kept inline in the loop (the benchmark counts it).
    #[inline(always)]
    fn forward(&mut self, sig: i32) {
        if !self.app.alive() {
            return;
        }
        let sent = self.app.send(sig);
        if sent.is_err() || self.debug {
            self.forwarded(sig, sent);
        }
    }

    /// The event of a forwarded signal: its failure, or its success in debug.
    #[inline(never)]
    pub(super) fn forwarded(&self, sig: i32, sent: Result<(), Errno>) {
        let target = self.app.target();
        match sent {
            Ok(()) => events::log(
                Level::Debug,
                "Forwarded",
                format_args!("{} to the app ({target})", signals::name(sig)),
            ),
            Err(e) => events::log(
                Level::Warn,
                "ForwardFailed",
                format_args!(
                    "cannot forward {} to the app ({target}): {e}",
                    signals::name(sig)
                ),
            ),
        }
    }
}

/// Which probes wait for PostStart to succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ProbesHeld {
    None,
    /// PostStart started with the app: no probe has started.
    All,
    /// PostStart waited for the startup probe: liveness and readiness wait.
    AfterStartup,
}

/// The app's argv for the `Started` line, quoted and escaped so that it
/// stays on one line, cut after 300 bytes; made only if the line is
/// written (at start-up: it allocates). Made as the text itself, no
/// `Display` to format it again (bytes).
fn argv_line(argv: &[std::ffi::OsString]) -> String {
    let argv: Vec<_> = argv.iter().map(|a| a.to_string_lossy()).collect();
    let mut line = QuotedList(&argv).to_string();
    if line.len() > 300 {
        line.truncate(line.floor_char_boundary(300));
        line.push_str("...");
    }
    line
}
