//! Why the container stops and when SIGKILL comes, as PreStop, the reload
//! hook and the post-stop handler are told ([`crate::hooks::Context`]); and
//! the post-stop handler (`HOOKINIT_POST_STOP`), run once the app and
//! everything it left are gone, whatever ended them.
//!
//! Its budget is what remains of the grace window of the stop, or the
//! cleanup timeout when no stop began (the app exited by itself, or a
//! pre-start step failed). Its failure is logged and changes no exit code.
//!
//! And the termination message: when the container ends in failure and the
//! app left the file empty, its exit code, the reason and the last failure.

use super::phase::{Event, StopReason};
use super::Supervisor;
use crate::events::{self, Level};
use crate::hooks::{Context, HookKind, Reason};
use crate::os::errno::Lossy;
use crate::os::message_file;
use crate::spec::probe::ProbeKind;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Instant;

/// The stop in progress, if one began: why, and when SIGKILL comes; how
/// the app died; where the termination message goes.
pub(super) struct Ending {
    stop: Option<(Reason, Instant)>,
    /// The app moved SIGKILL (`EXTEND_TIMEOUT_USEC=`) during the stop.
    pub(super) extended: bool,
    pub(super) oom_killed: bool,
    message_path: Option<CString>,
}

impl Ending {
    pub(super) fn new(message_path: Option<&Path>) -> Ending {
        let message_path = message_path.and_then(|p| CString::new(p.as_os_str().as_bytes()).ok());
        if let Some(path) = message_path.as_deref() {
            message_file::empty(path);
            events::keep_failures();
        }
        Ending {
            stop: None,
            extended: false,
            oom_killed: false,
            message_path,
        }
    }
}

impl From<StopReason> for Reason {
    fn from(reason: StopReason) -> Reason {
        match reason {
            StopReason::Signal(sig) => Reason::Signal(sig),
            StopReason::PostStartFailed => Reason::PostStart,
            StopReason::Probe(ProbeKind::Startup) => Reason::Startup,
            StopReason::Probe(_) => Reason::Liveness,
        }
    }
}

impl Supervisor {
    /// A stop began for `reason`, with SIGKILL at `kill_at` (the first
    /// stop's: a later signal changes neither).
    pub(super) fn stop_began(&mut self, reason: Reason, kill_at: Instant) {
        if self.ending.stop.is_none() {
            self.ending.stop = Some((reason, kill_at));
        }
    }

    /// The app moved SIGKILL to `kill_at`: post-stop's budget ends there.
    pub(super) fn stop_extended(&mut self, kill_at: Instant) {
        if let Some((_, at)) = self.ending.stop.as_mut() {
            (*at, self.ending.extended) = (kill_at, true);
        }
    }

    /// Why it ends: the stop's reason, else the app's own exit (or, with
    /// no app, a failed pre-start step).
    pub(super) fn reason(&self) -> Reason {
        match self.ending.stop {
            Some((reason, _)) => reason,
            None if self.start.start_error.is_some() => Reason::StartError,
            None if self.app.pid == 0 => Reason::PreStart,
            None if self.ending.oom_killed => Reason::OomKilled,
            None => Reason::AppExit,
        }
    }

    /// PreStop is about to start: SIGKILL comes at `kill_at`.
    pub(super) fn tell_pre_stop(&mut self, kill_at: Instant) {
        let reason = self.reason();
        self.hooks.tell(Context {
            reason,
            kill_at: Some(kill_at),
            exit: None,
        });
    }

    /// The reload hook is about to start: no SIGKILL but its own deadline.
    pub(super) fn tell_reload(&mut self) {
        self.hooks.tell(Context {
            reason: Reason::Reload,
            kill_at: None,
            exit: None,
        });
    }

    /// Everything is gone: runs the post-stop handler with what is left of
    /// its budget; the event that ends it now if it cannot run.
    pub(super) fn start_post_stop(&mut self) -> Option<Event> {
        let now = Instant::now();
        let until = match self.ending.stop {
            Some((_, kill_at)) => kill_at,
            None => now + self.cfg.cleanup_timeout,
        };
        if until <= now {
            let msg = format_args!("no time left");
            events::log(Level::Warn, "PostStopSkipped", msg);
            return Some(Event::PostStopEnded);
        }
        let reason = self.reason();
        let exit = match self.start.start_error {
            Some(code) => Some(crate::os::reap::Status::Exited(code)),
            None => self.app.status().filter(|_| self.app.pid != 0),
        };
        self.hooks.tell(Context {
            reason,
            kill_at: Some(until),
            exit,
        });
        self.hooks
            .start(HookKind::PostStop, now, Some(until))
            .map(|_| Event::PostStopEnded)
    }
}

impl Supervisor {
    /// The container ends with `code`: if that is a failure, and the app
    /// left the termination message file empty, hookinit's final reason
    /// goes there (formatted on the stack).
    pub(super) fn write_termination_message(&mut self, code: i32) {
        let Some(path) = self.ending.message_path.as_ref().filter(|_| code != 0) else {
            return;
        };
        // Room for the line and the whole kept failure (at most 1 KiB).
        let mut buf = [0u8; 1200];
        let reason = self.reason();
        let mut len = 0;
        events::last_failure(|last| {
            let args = format_args!("exit code {code}; reason {reason}\n{}", Lossy(last));
            len = crate::os::text::format_into(&mut buf, args).0;
        });
        let shown = Lossy(path.as_bytes());
        match message_file::write_if_empty(path, &buf[..len]) {
            Ok(true) => events::log(
                Level::Info,
                "TerminationMessage",
                format_args!("wrote {shown}"),
            ),
            // The app's own message stays.
            Ok(false) => {}
            Err(e) => events::log(
                Level::Warn,
                "TerminationMessage",
                format_args!("cannot write {shown}: {e}"),
            ),
        }
    }
}
