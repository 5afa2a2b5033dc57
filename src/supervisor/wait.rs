//! Waiting: the one `poll` of the loop, and retries of failed calls.

use super::Supervisor;
use crate::events::{self, Level};
use crate::hooks::HookKind;
use crate::notify::Notify;
use crate::os::errno::Errno;
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

impl Supervisor {
    /// Nothing to wait for but signals and the app: running, no hook, no
    /// probe deadline, no retry pending. The common case, and the one at
    /// every forwarded signal: checked first and cheaply.
    fn quiet(&self) -> bool {
        matches!(self.phase, super::Phase::Running)
            && self.reap_retry.retry_at.is_none()
            && self.signals_retry.retry_at.is_none()
            && self.poll_retry.retry_at.is_none()
            && !self.hooks.any_running()
            && !(self.probing && self.prober.wake_at().is_some())
            && self.notify.is_none()
            && self.endpoint.is_none()
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
            self.notify.as_ref().and_then(Notify::wake_at),
            self.endpoint.as_ref().and_then(|e| e.wake_at()),
            self.drain.as_ref().and_then(|d| d.wake_at()),
        ]
        .into_iter()
        .chain(retries)
        .flatten()
        .min()
    }

    /// Blocks until a signal, the app's exit, hook output or a deadline, then
    /// handles whatever is ready.
    pub(super) fn wait_and_dispatch(&mut self) {
        if self.quiet() {
            self.wait_quiet();
        } else {
            self.wait_busy();
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

    /// The wait with hooks, probes, deadlines or retries pending. Out of
    /// line: the quiet wait around it stays as short as it was.
    #[inline(never)]
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
        // The app's messages, while it runs (after that, nothing they say
        // matters).
        if let Some(n) = self.notify.as_ref().filter(|_| self.app.alive()) {
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
                        self.read_signals();
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
        if !self.signals_retry.waiting() {
            self.read_signals();
        }
        self.reap_children();
    }
}
