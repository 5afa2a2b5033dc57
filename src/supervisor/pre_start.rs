//! Pre-start (`HOOKINIT_PRE_START`): the steps run one after the other, to
//! success, before the app starts; Kubernetes' init containers for one
//! container. Each step is a hook run in the `PreStart` slot (its plan made
//! at start-up), driven by the supervisor's one loop in
//! [`Phase::PreStart`]: its process reaped, its output copied and its
//! deadline kept as any hook's.
//!
//! A failed step ends it: the app is never started (exit 6). A stop signal
//! sends the running step's command the stop signal (a sleep, an httpGet or
//! a tcpSocket step is ended at once: nothing of its own to finish), SIGKILL
//! at the end of the grace window; no further step runs and the app is not
//! started (exit 128 + the signal). Other signals have no app to go to.

use super::phase::{Action, Event, Phase, StopReason};
use super::Supervisor;
use crate::app::App;
use crate::events::{self, Level};
use crate::hooks::{HookKind, Outcome, Reason};
use std::time::Instant;

/// Starts the app: its pid, or (the reason said on stderr) hookinit's exit
/// code. Made at start-up, called once, and left in place after (`FnMut`:
/// nothing it holds is dropped; bytes).
pub type Launch = Box<dyn FnMut() -> Result<i32, i32>>;

/// What the app's start needs, and how far pre-start is.
pub(super) struct Start {
    launch: Launch,
    /// The running step's number (from 1), and how many there are.
    step: usize,
    steps: usize,
    /// The `Started` event's argv, formatted at start-up (it allocates),
    /// when that Debug event is shown.
    argv: Option<String>,
    /// The app could not be started: hookinit's exit code for it (127, 126).
    pub(super) start_error: Option<i32>,
}

impl Start {
    pub(super) fn new(launch: Launch, steps: usize) -> Start {
        Start {
            launch,
            step: 0,
            steps,
            argv: None,
            start_error: None,
        }
    }
}

impl Supervisor {
    /// Runs the first pre-start step, or starts the app if there is none.
    pub(super) fn begin(&mut self) {
        // Formatted now, before allocations are counted (the event is Debug).
        if self.debug {
            self.start.argv = Some(super::argv_line(&self.cfg.command));
        }
        // As after a step's success: the (first) step, or the app.
        self.phase = Phase::PreStart { stop: None };
        self.pre_start_ended(Outcome::Succeeded);
    }

    fn start_step(&mut self) {
        // Start-up is over: from here on nothing allocates.
        crate::os::alloc::start_counting();
        self.start.step += 1;
        if let Some(outcome) = self.hooks.start(HookKind::PreStart, Instant::now(), None) {
            self.pre_start_ended(outcome);
        }
    }

    /// A step ended: the next one, the app, or (failed, or stopping) the exit.
    pub(super) fn pre_start_ended(&mut self, outcome: Outcome) {
        if outcome != Outcome::Succeeded || self.phase != (Phase::PreStart { stop: None }) {
            self.dispatch(Event::PreStartEnded(outcome));
        } else if self.hooks.next_pre_start() {
            self.start_step();
        } else {
            // Out of the pure table: the app's start is the loop's to do.
            self.phase = Phase::Running;
            self.launch_app();
        }
    }

    /// Spawns the app, then begins its life (PostStart, probes); a spawn
    /// that failed ends the run with its code. Called once: by `begin`
    /// with no step, or after the last step's success (the phase is
    /// `Running` from then on: no step's end comes here again).
    fn launch_app(&mut self) {
        let pid = match (self.start.launch)() {
            Ok(pid) => pid,
            Err(code) => {
                // As an app that ran and failed: post-stop, the message.
                self.start.start_error = Some(code);
                self.dispatch(Event::AppNotStarted);
                return;
            }
        };
        self.app = App::new(pid, self.cfg.signal_group);
        if let Some(n) = self.notify.as_mut() {
            n.set_app(pid);
        }
        if let Some(argv) = self.start.argv.as_deref() {
            let msg = format_args!("started {argv} as pid {pid}");
            events::log(Level::Debug, "Started", msg);
        }
        // Start-up is over: from here on nothing allocates.
        crate::os::alloc::start_counting();
        self.app_started();
    }

    /// Carries out a pre-start action of the stop; the event it leads to.
    /// (Out of line: the actions' one dispatch stays as small.)
    #[inline(never)]
    pub(super) fn act_pre_start(&mut self, action: Action) -> Option<Event> {
        match action {
            // A step that runs no command has nothing of its own to finish.
            Action::StopPreStart {
                received,
                to_step,
                window,
            } => {
                self.window = window;
                self.announce_stop(StopReason::Signal(received));
                if !self.hooks.terminate(HookKind::PreStart, to_step) {
                    let why = format_args!("the container is stopping");
                    self.hooks.end_early(HookKind::PreStart, why, false);
                    return Some(Event::PreStartEnded(Outcome::Cancelled));
                }
            }
            Action::LogPreStartFailed => {
                let (n, total) = (self.start.step, self.start.steps);
                // Exit 6 is EXIT_PRE_START_FAILED (a test asserts the text).
                let msg = format_args!("pre-start step {n} of {total} failed (exit 6)");
                events::log(Level::Warn, "PreStartFailed", msg);
            }
            _ => {}
        }
        None
    }

    /// The exit code when the run ends before the app: 128 + the stop
    /// signal, as an app stopped by it; 127 or 126 for an app that could
    /// not be started; else 6 for a failed step.
    pub(super) fn exit_code_without_app(&self) -> i32 {
        match (self.start.start_error, self.reason()) {
            (Some(code), _) => code,
            (None, Reason::Signal(sig)) => self.cfg.remap(128 + sig),
            (None, _) => crate::os::exit::EXIT_PRE_START_FAILED,
        }
    }
}
