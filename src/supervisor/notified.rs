//! The app's `sd_notify` messages as the loop acts on them: readiness, the
//! watchdog and the start-up budget (failures as a probe's), and
//! `EXTEND_TIMEOUT_USEC=` moving the start-up or the stop's budget.

use super::phase::{Event, Phase};
use super::Supervisor;
use crate::events::{self, Level};
use crate::notify::Failure;
use crate::spec::probe::ProbeKind;
use std::fmt;
use std::time::Instant;

impl Supervisor {
    /// The notify socket is readable: its datagrams, a bounded batch.
    #[inline(never)]
    pub(super) fn read_notify(&mut self) {
        let Some(notify) = self.notify.as_mut() else {
            return;
        };
        let changes = notify.read();
        if let Some(usec) = changes.extend {
            self.extend_budget(usec);
        }
        if changes.triggered {
            self.watchdog_failed(format_args!("the app sent WATCHDOG=trigger"));
        }
        if changes.started {
            self.start_deferred_post_start();
        }
        if changes.started || changes.readiness {
            self.update_ready();
        }
    }

    /// The watchdog or the start-up budget ran out.
    pub(super) fn notify_failed(&mut self, failure: Failure) {
        match failure {
            Failure::Watchdog(interval) => self.watchdog_failed(format_args!(
                "no WATCHDOG=1 from the app within {}",
                events::secs(interval)
            )),
            Failure::Start(budget) => self.restart(
                ProbeKind::Startup,
                "notify",
                format_args!(
                    "Startup probe failed: no READY=1 from the app within {}",
                    events::secs(budget)
                ),
            ),
        }
    }

    /// The app's watchdog failed: as a failed liveness probe, the same
    /// events, PreStop, stop and exit code 5.
    fn watchdog_failed(&mut self, why: fmt::Arguments<'_>) {
        let message = format_args!("Liveness probe failed: {why} (sd_notify watchdog)");
        self.restart(ProbeKind::Liveness, "watchdog", message);
    }

    /// As a `kind` probe that failed: `Unhealthy`, then the stop (exit 5).
    #[inline(never)]
    fn restart(&mut self, kind: ProbeKind, handler: &str, message: fmt::Arguments<'_>) {
        if let Some(n) = self.notify.as_mut() {
            n.disarm();
        }
        if !matches!(self.phase, Phase::Running) || !self.app.alive() {
            return;
        }
        let event = events::Event {
            name: "Unhealthy",
            hook: None,
            handler: Some(handler),
            message,
        };
        events::emit(Level::Warn, event);
        let window = Self::window(self.cfg.grace);
        self.dispatch(Event::ProbeRestart { kind, window });
    }

    /// `EXTEND_TIMEOUT_USEC=`: before the stop, the start-up budget; during
    /// it, the SIGKILL deadline (within the ceiling; the event says to when).
    fn extend_budget(&mut self, usec: u64) {
        let Some(n) = self.notify.as_mut() else {
            return;
        };
        let kill = self.phase.kill_deadline();
        if kill.is_none() && !matches!(self.phase, Phase::Running) {
            return;
        }
        if let Some(to) = n.budget().extend(Instant::now(), usec, kill) {
            self.phase = self.phase.with_kill_deadline(to);
            if kill.is_some() {
                self.stop_extended(to);
            }
        }
    }
}
