//! Carrying out the stop's actions: signals, hooks, the ready file, the
//! exit code. Each action's event lines are written here.

use super::phase::{Action, Cancel, Event, KillReason, Phase, StopReason};
use super::Supervisor;
use crate::events::{self, Level};
use crate::hooks::{HookKind, Outcome};
use crate::leftovers::Signalled;
use crate::os::alloc;
use crate::os::errno::{Errno, Lossy};
use crate::os::ready_file::{self, CreateError};
use crate::os::reap::{self, Status};
use crate::os::signals;
use crate::spec::probe::ProbeKind;
use std::fmt;

impl Supervisor {
    /// Carries out `action`; returns the event it leads to, if any.
    pub(super) fn act(&mut self, action: Action) -> Option<Event> {
        match action {
            Action::StopProber => {
                self.prober.stop();
                // The stop began, or the app exited: the watchdog is over.
                if let Some(n) = self.notify.as_mut() {
                    n.disarm();
                }
            }
            Action::OpenWindow(window) => self.window = window,
            Action::RemoveReadyFile => self.remove_ready_file(),
            Action::StartProbes => self.start_probes(),
            Action::UpdateReady => self.update_ready(),
            Action::RecordProbeFailure(kind) => self.probe_failure = Some(kind),
            Action::CancelHook(kind, why) => self.cancel_hook(kind, why),
            Action::CancelAppHooks(why) => {
                self.cancel_hook(HookKind::PostStart, why);
                self.post_start = self.post_start.cancelled();
                self.cancel_hook(HookKind::Reload, why);
                self.reload_queued = false;
            }
            Action::CutShort(kind, sig) => {
                // (No drain runs during pre-start: nothing to end there.)
                self.end_drain(crate::drain::End::CutShort(sig));
                let why = format_args!("cut short by a second {}", signals::name(sig));
                self.hooks.end_early(kind, why, true);
            }
            Action::AnnounceStop(reason) => self.announce_stop(reason),
            Action::StartPreStop {
                budget_start,
                hook_deadline,
            } => {
                self.tell_pre_stop(budget_start + self.window.grace);
                return self.start_pre_stop(budget_start, hook_deadline);
            }
            Action::LetPreStopFinish { until } => {
                if self.end_drain(crate::drain::End::AppGone)
                    || !self.hooks.give_until(HookKind::PreStop, until)
                {
                    return Some(Event::PreStopCannotWait);
                }
            }
            Action::SendStopSignal { signal, announce } => {
                self.app_sigkilled |= signal == libc::SIGKILL;
                let sent = self.app.signal(signal);
                if let Some(reason) = announce {
                    self.announce_stop(reason);
                }
                self.report_stop_signal(signal, sent);
            }
            Action::LogPreStopSkipped => {
                let msg = format_args!(
                    "the grace period is 0s: PreStop is not run (as the kubelet's killContainer); the app gets the {} minimum",
                    events::secs(crate::config::MIN_GRACE)
                );
                events::log(Level::Info, "PreStopSkipped", msg);
            }
            Action::LogPreStopGoesOn(sig) => {
                let name = signals::name(sig);
                let reason = self.reason();
                let of: &dyn fmt::Display = match reason {
                    crate::hooks::Reason::AppExit | crate::hooks::Reason::OomKilled => {
                        &"the app's exit"
                    }
                    _ => &reason,
                };
                let msg = format_args!("received {name}: the PreStop hook for {of} goes on");
                events::log(Level::Info, "Killing", msg);
            }
            Action::LogAwaitingExit { signal, left } => {
                let left = events::secs_fixed(left, 1);
                let msg = format_args!(
                    "PreStop started the app's shutdown: waiting for it to exit; {} in {left}s",
                    signals::name(signal)
                );
                events::log(Level::Info, "AwaitingExit", msg);
            }
            Action::Forward(sig) => self.forward(sig),
            Action::LogStopIgnored(sig) => events::log(
                Level::Debug,
                "SignalIgnored",
                format_args!("{} while exiting", signals::name(sig)),
            ),
            Action::TermLeftovers => {
                // Usually nothing is left: skip the signal (and, not as PID 1,
                // the /proc walk), and end the drain now (no wait4 may come).
                if !reap::any_children() {
                    return Some(Event::NoChildLeft);
                }
                self.term_leftovers();
            }
            Action::KillEverything(KillReason::GraceOver) => {
                // A pre-start step still running fails here (only it: the
                // slot holds no other kind then).
                let why = format_args!("killed at the end of the grace period");
                self.hooks.end_early(HookKind::PreStart, why, true);
                let grace = events::secs(self.window.grace);
                let by = match self.ending.extended {
                    true => ", extended by the app's EXTEND_TIMEOUT_USEC,",
                    false => "",
                };
                self.kill_everything(format_args!("the grace period of {grace}{by} is over"));
            }
            Action::KillEverything(KillReason::LeftoversIgnoredTerm) => {
                // No SIGTERM claimed that was not sent (only dying processes
                // were left, or the drain began at its deadline).
                let why = match self.sigterm_delivered {
                    true => "did not exit after SIGTERM",
                    false => "were still there at the deadline",
                };
                self.kill_everything(format_args!("processes left behind {why}"));
            }
            Action::LogNotReaped => {
                // No claim of a SIGKILL that reached nobody.
                let msg = if self.sigkill_delivered {
                    format_args!("processes are still not reaped 1s after SIGKILL; exiting anyway")
                } else {
                    format_args!(
                        "processes are still not reaped; no SIGKILL could reach them; exiting anyway"
                    )
                };
                events::log(Level::Warn, "NotReaped", msg);
            }
            Action::Finish => self.finish(),
            Action::StartReload => return self.start_reload(),
            Action::EndReload(outcome) => {
                let sig = self.cfg.reload_signal;
                match outcome {
                    Outcome::Succeeded => match self.app.signal(sig) {
                        Ok(target) => events::log(
                            Level::Info,
                            "ReloadSignalSent",
                            format_args!("sent {} to the app ({target})", signals::name(sig)),
                        ),
                        // The failure's event is a forwarded signal's.
                        Err(e) => self.forwarded(sig, Err(e)),
                    },
                    Outcome::Failed => events::log(
                        Level::Warn,
                        "ReloadNotForwarded",
                        format_args!("{} is not forwarded", signals::name(sig)),
                    ),
                    Outcome::Cancelled => {}
                }
                if std::mem::take(&mut self.reload_queued) {
                    return self.start_reload();
                }
            }
            Action::StopPreStart { .. } | Action::LogPreStartFailed => {
                return self.act_pre_start(action)
            }
            Action::StartPostStop => return self.start_post_stop(),
            Action::LogReloadSkipped => events::log(
                Level::Info,
                "ReloadSkipped",
                format_args!(
                    "{} during the stop: no reload, not forwarded",
                    signals::name(self.cfg.reload_signal)
                ),
            ),
        }
        None
    }

    /// Ends `kind`'s hook, if it runs, as cancelled for `why`.
    fn cancel_hook(&mut self, kind: HookKind, why: Cancel) {
        let why = match why {
            Cancel::ContainerStopping => "the container is stopping",
            Cancel::AppExited => "the app exited",
        };
        self.hooks.end_early(kind, format_args!("{why}"), false);
    }

    /// Runs the reload hook; while it runs, queues one more run after it
    /// (any number of signals until then make that one run).
    fn start_reload(&mut self) -> Option<Event> {
        if self.hooks.running(HookKind::Reload) {
            if !self.reload_queued {
                self.reload_queued = true;
                let msg = format_args!(
                    "{} during a reload: it runs once more after it",
                    signals::name(self.cfg.reload_signal)
                );
                events::log(Level::Info, "ReloadQueued", msg);
            }
            return None;
        }
        self.tell_reload();
        self.hooks
            .start(HookKind::Reload, std::time::Instant::now(), None)
            .map(Event::ReloadEnded)
    }

    /// The `Killing` event: why the container stops, and its grace period.
    pub(super) fn announce_stop(&mut self, reason: StopReason) {
        let kill_at = std::time::Instant::now() + self.window.grace;
        self.stop_began(reason.into(), kill_at);
        let container = self.cfg.container_name.as_deref().unwrap_or("app");
        let reason = Reason { reason, container };
        let grace = events::secs(self.window.grace);
        let msg = format_args!("stopping the container: {reason}; grace period {grace}");
        events::log(Level::Info, "Killing", msg);
        if let Some(relay) = self.relay.as_mut() {
            relay.stopping();
        }
    }

    /// Logs what became of the stop signal, and follows it with SIGCONT if
    /// the app is stopped, so that it can act on it (as systemd does); a
    /// running app gets no signal it did not ask for. A refused signal is
    /// said so: hookinit then waits for the deadline's SIGKILL.
    fn report_stop_signal(&mut self, sig: i32, sent: Result<crate::os::process::Target, Errno>) {
        let name = signals::name(sig);
        match sent {
            Ok(target) => {
                let cont = sig != libc::SIGCONT && sig != libc::SIGKILL && self.app.stopped();
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

    /// SIGKILL to the hooks, the app and everything else. An app that
    /// refuses it ends the run at once, with the code that says so.
    fn kill_everything(&mut self, reason: fmt::Arguments<'_>) {
        self.hooks.kill_all();
        // The app may get it directly or with everything else.
        self.app_sigkilled |= self.app.alive();
        let app = self.app.alive().then(|| self.app.kill());
        // As PID 1, `kill(-1)` reaches processes already dying (a hook's
        // just killed): counted first, they are no reason for SigkillSent.
        let counted = self.leftovers.count_in_namespace();
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
            (_, s) if s.delivered() && counted != Some(0) => Some(&signalled),
            (Some(Ok(_)), _) => Some(&"the app"),
            _ => None,
        };
        // Delivered is delivered, dying or not (the event only leaves those out).
        self.sigkill_delivered = signalled.delivered() || matches!(app, Some(Ok(_)));
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
        }
    }

    /// SIGTERM to what the app left behind, and the event that says how
    /// many got it (as PID 1, counted in /proc first: `kill(-1)` does not say).
    #[inline(never)]
    fn term_leftovers(&mut self) {
        let counted = self.leftovers.count_in_namespace();
        let signalled = self.leftovers.signal_all(libc::SIGTERM, self.app.pid);
        // Counted none: `kill(-1)` reached only processes already dying.
        if signalled.delivered() && counted != Some(0) {
            self.sigterm_delivered = true;
            let after = match self.app.pid {
                0 => "pre-start",
                _ => "the app exited",
            };
            let msg = format_args!(
                "SIGTERM sent to {} after {after}; SIGKILL follows for any that stay",
                Left(signalled, counted)
            );
            events::log(Level::Info, "SigtermSent", msg);
        }
        self.warn_if_partial(libc::SIGTERM, signalled);
    }

    /// Says so when signalling everything fell back to the app's group.
    fn warn_if_partial(&self, sig: i32, signalled: Signalled) {
        if let Signalled::AppGroupOnly(_) = signalled {
            let msg = format_args!("{} sent to {signalled}", signals::name(sig));
            events::log(Level::Warn, "Leftovers", msg);
        }
    }

    fn finish(&mut self) {
        if self.exit_code.is_some() {
            return;
        }
        self.remove_ready_file();
        let code = match self.app.status() {
            _ if self.app.pid == 0 => self.exit_code_without_app(),
            // hookinit stopped the container: one code, whatever the app's
            // status (143 or 0 or 1 depended on its TERM handler's timing).
            _ if self.post_start.failed() => crate::os::exit::EXIT_POST_START_FAILED,
            _ if self.probe_failure.is_some() => crate::os::exit::EXIT_PROBE_FAILED,
            Some(status) => self.cfg.remap(status.code()),
            None if self.app_unkillable => crate::os::exit::EXIT_APP_NOT_STOPPED,
            // SIGKILL was delivered; the app is stuck in the kernel, not alive.
            None => Status::Signaled(libc::SIGKILL).code(),
        };
        self.write_termination_message(code);
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

    // ---- ready file ---------------------------------------------------------

    /// The ready file exists exactly while the app runs, has started
    /// (startup probe), PostStart succeeded and readiness says ready.
    pub(super) fn update_ready(&mut self) {
        let want = matches!(self.phase, Phase::Running)
            && self.app.alive()
            && self.post_start.lets_ready()
            && self.prober.ready()
            && self.notify.as_ref().is_none_or(|n| n.ready());
        if want == self.ready_present {
            return;
        }
        if want {
            self.mark_ready();
        } else {
            self.remove_ready_file();
        }
        if let Some(relay) = self.relay.as_mut() {
            relay.readiness(want);
        }
        if self.prober.has(ProbeKind::Readiness) || self.notify.is_some() {
            let msg = if want {
                "the container is ready"
            } else {
                "the container is not ready"
            };
            events::log(Level::Info, "Readiness", format_args!("{msg}"));
        }
    }

    /// Creates the ready file (a regular file already there is ready).
    fn mark_ready(&mut self) {
        self.ready_present = true;
        let Some(path) = &self.ready_file else { return };
        let e = match ready_file::create(path) {
            Ok(()) => return,
            Err(e) => e,
        };
        let path = Lossy(path.as_bytes());
        match e {
            CreateError::NotRegular => {
                let msg = format_args!("cannot create {path}: it exists and is not a regular file");
                events::log(Level::Warn, "ReadyFile", msg);
            }
            CreateError::Os(e) => events::log(
                Level::Warn,
                "ReadyFile",
                format_args!("cannot create {path}: {e}"),
            ),
        }
    }

    /// Removes the ready file. One that cannot be removed still says
    /// "ready": that is a warning, and `ready_present` stays set, so the
    /// next change of readiness, and the exit, try again.
    fn remove_ready_file(&mut self) {
        let Some(path) = &self.ready_file else {
            self.ready_present = false;
            return;
        };
        match ready_file::remove(path) {
            Ok(()) => self.ready_present = false,
            Err(e) => {
                let path = Lossy(path.as_bytes());
                let msg = format_args!("cannot remove {path}: {e}");
                events::log(Level::Warn, "ReadyFile", msg);
            }
        }
    }
}

/// Why the container stops, as the `Killing` event says it.
struct Reason<'a> {
    reason: StopReason,
    container: &'a str,
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason {
            StopReason::Signal(sig) => write!(f, "received {}", signals::name(sig)),
            StopReason::PostStartFailed => f.write_str("the PostStart hook failed"),
            StopReason::Probe(kind) => {
                let probe = match kind {
                    ProbeKind::Startup => "startup",
                    _ => "liveness",
                };
                let container = self.container;
                write!(
                    f,
                    "Container {container} failed {probe} probe, will be restarted"
                )
            }
        }
    }
}

/// What a signal to the leftovers reached, with the count found beforehand
/// when the signal itself could not count.
struct Left(Signalled, Option<usize>);

impl fmt::Display for Left {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Left(Signalled::Namespace, Some(n)) => write!(f, "{n} process(es) left"),
            Left(signalled, _) => signalled.fmt(f),
        }
    }
}
