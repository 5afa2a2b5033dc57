//! Why the container stops and when SIGKILL comes, as PreStop, the reload
//! hook and the post-stop handler are told ([`crate::hooks::Context`]); and
//! the post-stop handler (`HOOKINIT_POST_STOP`), run once the app and
//! everything it left are gone, whatever ended them.
//!
//! Its budget is what remains of the grace window of the stop, or the
//! cleanup timeout when no stop began (the app exited by itself, or a
//! pre-start step failed). Its failure is logged and changes no exit code.

use super::phase::{Event, StopReason};
use super::Supervisor;
use crate::events::{self, Level};
use crate::hooks::{Context, HookKind, Reason};
use crate::spec::probe::ProbeKind;
use std::time::Instant;

/// The stop in progress, if one began: why, and when SIGKILL comes.
#[derive(Default)]
pub(super) struct Ending {
    stop: Option<(Reason, Instant)>,
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

    /// Why it ends: the stop's reason, else the app's own exit (or, with
    /// no app, a failed pre-start step).
    fn reason(&self) -> Reason {
        match self.ending.stop {
            Some((reason, _)) => reason,
            None if self.app.pid == 0 => Reason::PreStart,
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
            post_stop: false,
        });
    }

    /// The reload hook is about to start: no SIGKILL but its own deadline.
    pub(super) fn tell_reload(&mut self) {
        self.hooks.tell(Context {
            reason: Reason::Reload,
            kill_at: None,
            exit: None,
            post_stop: false,
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
            let msg = format_args!("the grace period is over: no time is left to run it");
            events::log(Level::Warn, "PostStopSkipped", msg);
            return Some(Event::PostStopEnded);
        }
        let reason = self.reason();
        let exit = self.app.status().filter(|_| self.app.pid != 0);
        self.hooks.tell(Context {
            reason,
            kill_at: Some(until),
            exit,
            post_stop: true,
        });
        self.hooks
            .start(HookKind::PostStop, now, Some(until))
            .map(|_| Event::PostStopEnded)
    }
}
