//! Waiting: the one `poll` of the loop, and retries of failed calls.

use super::Supervisor;
use crate::events::{self, Level};
use crate::hooks::HookKind;
use crate::notify::relay::Relay;
use crate::notify::Notify;
use crate::os::errno::Errno;
use crate::os::signals;
use crate::os::sys;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Poll slots: signalfd, the app's pidfd, the notify socket, the readiness
/// endpoint's listener and connections, stdout and stderr of three exec
/// hooks (PostStart, PreStop, reload).
const MAX_POLL_FDS: usize = 9 + ENDPOINT_SLOTS;
const ENDPOINT_SLOTS: usize = 1 + crate::readiness_http::MAX_CONNS;
/// The notify socket's slot.
const NOTIFY_SLOT: usize = 2;

/// A failing system call retried later, at growing intervals (10 ms to 1 s),
/// and logged once per run of failures rather than at every try.
#[derive(Default)]
pub(super) struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    /// Records a failure of `what`; the caller tries again at `retry_at`.
    pub(super) fn failed(&mut self, what: &str, e: Errno) {
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

    pub(super) fn succeeded(&mut self) {
        self.failures = 0;
        self.retry_at = None;
    }

    /// Whether the call should wait for its retry time rather than run now.
    fn waiting(&self) -> bool {
        self.retry_at.is_some()
    }

    /// Clears a retry time that has come; true if it had.
    pub(super) fn due(&mut self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|at| now >= at) {
            self.retry_at = None;
            return true;
        }
        false
    }
}

/// How the loop waits for its next event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wait {
    /// Blocked in `read` on the signalfd: one system call per signal. The
    /// app's exit needs no pidfd here: its SIGCHLD comes through the
    /// signalfd, and any failed reap makes the next wait a [`Wait::Poll`].
    Read,
    /// `poll` on the signalfd and all else there is to watch, with a
    /// timeout when a deadline is pending.
    Poll,
}

/// What the loop may have to watch besides signals: [`Watch::wait`] reads
/// only these. With hooks, probes and the notify socket all off, they cost
/// one precomputed test in [`Supervisor::wait`]; a feature that is off never
/// makes the loop poll.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Watch {
    /// A stop in progress: its deadlines, the app's pidfd.
    pub(super) stopping: bool,
    /// A failed `wait4` or signalfd read waits for its retry time.
    pub(super) retrying: bool,
    /// A hook runs (PostStart, PreStop, reload): its deadline, its pipes.
    pub(super) hook: bool,
    /// A probe runs or waits to be forked again: its deadline.
    pub(super) probe: bool,
    /// The notify socket: the app's messages, its watchdog's deadline.
    pub(super) notify: bool,
    /// hookinit's own watchdog pings to its `NOTIFY_SOCKET`: their deadline.
    pub(super) relay: bool,
    /// The readiness endpoint: its listener, its connections' deadlines.
    pub(super) endpoint: bool,
}

impl Watch {
    #[inline(always)]
    pub(super) fn wait(self) -> Wait {
        if self.stopping
            || self.retrying
            || self.hook
            || self.probe
            || self.notify
            || self.relay
            || self.endpoint
        {
            Wait::Poll
        } else {
            Wait::Read
        }
    }
}

impl Supervisor {
    /// How to wait now; decided before every wait, so cheaply: a stop or a
    /// retry decides alone, then, only if a feature is on (`extras`), the
    /// whole [`Watch`]. (`poll_retry` is not looked at: [`Self::poll_error`]
    /// waits out its back-off itself.)
    #[inline(always)]
    pub(super) fn wait(&self) -> Wait {
        if self.stopping() || self.retrying() {
            return Wait::Poll;
        }
        if !self.extras {
            return Wait::Read;
        }
        self.watch().wait()
    }

    #[inline(always)]
    fn stopping(&self) -> bool {
        !matches!(self.phase, super::Phase::Running)
    }

    #[inline(always)]
    fn retrying(&self) -> bool {
        self.reap_retry.waiting() || self.signals_retry.waiting()
    }

    /// Everything the loop may have to watch besides signals.
    #[inline(never)]
    fn watch(&self) -> Watch {
        Watch {
            stopping: self.stopping(),
            retrying: self.retrying(),
            hook: self.hooked && self.hooks.any_running(),
            probe: self.probing && self.prober.wake_at().is_some(),
            notify: self.notify.is_some(),
            relay: self.relay.as_ref().is_some_and(|r| r.wake_at().is_some()),
            endpoint: self.endpoint.is_some(),
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let retries = [
            self.reap_retry.retry_at,
            self.signals_retry.retry_at,
            self.poll_retry.retry_at,
        ];
        [
            self.hooks.wake_at(),
            self.phase.wake_at(),
            self.prober.wake_at(),
            self.notify.as_deref().and_then(Notify::wake_at),
            self.relay.as_ref().and_then(Relay::wake_at),
            self.endpoint.as_ref().and_then(|e| e.wake_at()),
            self.drain.as_ref().and_then(|d| d.wake_at()),
        ]
        .into_iter()
        .chain(retries)
        .flatten()
        .min()
    }

    /// Blocks until a signal, the app's exit, hook output or a deadline, then
    /// handles whatever is ready. Both waits hand signals to the same
    /// [`Self::read_signals`].
    pub(super) fn wait_and_dispatch(&mut self) {
        match self.wait() {
            Wait::Read => self.read_signals(true),
            Wait::Poll => self.wait_poll(),
        }
        if self.phase.exiting() {
            self.reap_exiting();
        }
    }

    /// Out of line, so that the common wait stays as short as it was.
    #[inline(never)]
    fn reap_exiting(&mut self) {
        // An app that refused SIGKILL ended the run at once: nothing to reap.
        if !self.app_unkillable {
            self.reap_children();
        }
    }

    /// The wait with hooks, probes, deadlines or retries pending
    /// ([`Wait::Poll`]). Out of line: the read around it stays short.
    #[inline(never)]
    fn wait_poll(&mut self) {
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
        // The app's messages, while it runs (after that, nothing they say
        // matters).
        if let Some(n) = self.notify.as_deref().filter(|_| self.app.alive()) {
            fds[NOTIFY_SLOT].fd = n.fd();
        }
        let mut count = NOTIFY_SLOT + 1;
        if let Some(e) = &self.endpoint {
            e.poll_interests(|fd| {
                fds[count].fd = fd;
                count += 1;
            });
        }
        let endpoint_end = count;
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
                        self.read_signals(false);
                    }
                    if fds[1].revents != 0 {
                        self.reap_children();
                    }
                    if fds[NOTIFY_SLOT].revents != 0 {
                        self.read_notify();
                    }
                    for slot in &fds[NOTIFY_SLOT + 1..endpoint_end] {
                        if slot.revents != 0 {
                            self.endpoint_ready(slot.fd);
                        }
                    }
                    for i in endpoint_end..count {
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
        // Only a pending signal: the signalfd's read would block.
        if !self.signals_retry.waiting() && signals::any_pending() {
            self.read_signals(false);
        }
        self.reap_children();
    }
}

#[cfg(test)]
mod tests {
    use super::{Wait, Watch};
    use crate::config::{self, Request};
    use crate::hooks::HookKind;
    use crate::leftovers::Scope;
    use crate::notify::budget::Budget;
    use crate::notify::Notify;
    use crate::os::errno::Errno;
    use crate::os::notify_socket::Address;
    use crate::os::signals::{Inherited, SignalFd};
    use crate::supervisor::Supervisor;
    use std::ffi::OsString;

    #[test]
    fn nothing_but_signals_to_watch_blocks_in_read() {
        assert_eq!(Watch::default().wait(), Wait::Read);
    }

    #[test]
    fn a_stop_a_retry_a_hook_a_probe_or_the_notify_socket_each_polls() {
        let each: [fn(&mut Watch); 7] = [
            |w| w.stopping = true,
            |w| w.retrying = true,
            |w| w.hook = true,
            |w| w.probe = true,
            |w| w.notify = true,
            |w| w.relay = true,
            |w| w.endpoint = true,
        ];
        for (i, set) in each.into_iter().enumerate() {
            let mut w = Watch::default();
            set(&mut w);
            assert_eq!(w.wait(), Wait::Poll, "field {i}");
        }
    }

    /// A supervisor of `true` with `env`, not run: the app's pid is this
    /// process's (nothing here signals it); blocks this test thread's signals.
    fn supervisor(env: &[(&str, &str)], notify: bool) -> Supervisor {
        let args = [OsString::from("--"), OsString::from("true")];
        let vars: Vec<(OsString, OsString)> =
            env.iter().map(|(k, v)| (k.into(), v.into())).collect();
        let cfg = match config::parse(&args, &vars) {
            Ok(Request::Run(cfg)) => cfg,
            Err(e) => panic!("{env:?}: {e}"),
            Ok(_) => panic!("{env:?}: not a run"),
        };
        let inherited = Inherited::capture().unwrap();
        let signals = SignalFd::block_all_and_open().unwrap();
        let notify = notify.then(|| {
            Box::new(Notify::open(&Address::default(), None, Budget::new(None, None)).unwrap())
        });
        let pid = std::process::id() as i32;
        Supervisor::new(
            cfg,
            inherited,
            Scope::Descendants,
            signals,
            Box::new(move || Ok(pid)),
            notify,
            None,
        )
    }

    const SLEEP: &str = r#"{"sleep":{"seconds":5}}"#;

    #[test]
    fn the_app_alone_blocks_in_read() {
        assert_eq!(supervisor(&[], false).wait(), Wait::Read);
    }

    #[test]
    fn hooks_configured_but_not_running_block_in_read() {
        let env = [
            ("HOOKINIT_POST_START", SLEEP),
            ("HOOKINIT_PRE_STOP", SLEEP),
            ("HOOKINIT_RELOAD", SLEEP),
        ];
        assert_eq!(supervisor(&env, false).wait(), Wait::Read);
    }

    #[test]
    fn a_running_post_start_or_reload_hook_polls() {
        for (var, kind) in [
            ("HOOKINIT_POST_START", HookKind::PostStart),
            ("HOOKINIT_RELOAD", HookKind::Reload),
        ] {
            let mut s = supervisor(&[(var, SLEEP)], false);
            let now = std::time::Instant::now();
            assert!(s.hooks.start(kind, now, None).is_none(), "{var}");
            assert_eq!(s.wait(), Wait::Poll, "{var}");
        }
    }

    #[test]
    fn pre_start_steps_and_post_stop_count_as_hooks() {
        // Their processes are reaped as hooks, never as plain orphans.
        for var in ["HOOKINIT_PRE_START", "HOOKINIT_POST_STOP"] {
            let value = match var {
                "HOOKINIT_PRE_START" => r#"[{"sleep":{"seconds":5}}]"#,
                _ => SLEEP,
            };
            let s = supervisor(&[(var, value)], false);
            assert!(s.hooked && s.extras && !s.plain_orphans, "{var}");
        }
    }

    #[test]
    fn a_probe_not_yet_started_blocks_in_read() {
        // Held (for PostStart, say): nothing of it to watch until it starts.
        let probe = r#"{"exec":{"command":["true"]}}"#;
        let s = supervisor(&[("HOOKINIT_LIVENESS_PROBE", probe)], false);
        assert_eq!(s.wait(), Wait::Read);
    }

    #[test]
    fn the_notify_socket_polls() {
        assert_eq!(supervisor(&[], true).wait(), Wait::Poll);
    }

    #[test]
    fn a_failed_reap_polls_until_its_retry() {
        let mut s = supervisor(&[], false);
        s.reap_retry.failed("wait4", Errno(libc::EINTR));
        assert_eq!(s.wait(), Wait::Poll);
        s.reap_retry.succeeded();
        assert_eq!(s.wait(), Wait::Read);
    }
}
