//! The drain autopilot in the stop: it runs where PreStop begins (the phase
//! is PreStop throughout), and PreStop's hook, if any, runs after it, by
//! the same deadline. The app's exit or a second stop signal ends it.

use super::phase::Event;
use super::Supervisor;
use crate::drain::{Drain, End};
use crate::hooks::{HookKind, Outcome};
use std::time::Instant;

impl Supervisor {
    /// `HOOKINIT_DRAIN`, set up at start-up.
    pub(super) fn drain_setup(cfg: &crate::config::Config) -> Option<Box<Drain>> {
        let own = cfg.readiness_address.map(|a| a.port());
        cfg.drain.as_ref().map(|d| Drain::new(d, own))
    }

    fn endpoint_accepts(&self) -> u64 {
        self.endpoint.as_ref().map_or(0, |e| e.accepted())
    }

    /// PreStop begins: the drain first, when there is one and an app to
    /// drain; else the hook.
    pub(super) fn start_pre_stop(
        &mut self,
        budget_start: Instant,
        hook_deadline: Instant,
    ) -> Option<Event> {
        let accepts = self.endpoint_accepts();
        if let Some(d) = self.drain.as_mut().filter(|_| self.app.alive()) {
            // Still running: the hook waits. Over at once (no time for
            // it): straight on to the hook.
            d.start(Instant::now(), hook_deadline, accepts)?;
        }
        self.start_pre_stop_hook(budget_start, hook_deadline)
    }

    /// The hook itself; with none (a drain alone), PreStop succeeded.
    fn start_pre_stop_hook(
        &mut self,
        budget_start: Instant,
        hook_deadline: Instant,
    ) -> Option<Event> {
        if !self.hooks.configured(HookKind::PreStop) {
            return Some(Event::PreStopEnded(Outcome::Succeeded));
        }
        self.hooks
            .start(HookKind::PreStop, budget_start, Some(hook_deadline))
            .map(Event::PreStopEnded)
    }

    /// Time passed: the drain samples; once it is over, PreStop's hook.
    pub(super) fn drain_on_time(&mut self, now: Instant) {
        let accepts = self.endpoint_accepts();
        let Some(d) = self.drain.as_mut().filter(|d| d.running()) else {
            return;
        };
        let deadline = d.hook_deadline();
        if d.on_time(now, accepts).is_some() {
            if let Some(deadline) = deadline {
                if let Some(event) = self.start_pre_stop_hook(now, deadline) {
                    self.dispatch(event);
                }
            }
        }
    }

    /// The app exited or a second stop signal came: a running drain ends
    /// (true if one ran).
    pub(super) fn end_drain(&mut self, why: End) -> bool {
        self.drain
            .as_mut()
            .and_then(|d| d.end(why, Instant::now()))
            .is_some()
    }
}
