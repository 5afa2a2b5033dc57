//! Signals under a peer's flags: dumb-init's `--rewrite` and its job
//! control (a terminal's stop signal stops hookinit too). Out of the common
//! path: a signal comes here only when such a flag is set
//! ([`Supervisor::on_slow_signal`]).

use super::Supervisor;
use crate::events::{self, Level};
use crate::os::signals;

impl Supervisor {
    /// A signal under a peer's flags: dumb-init's `--rewrite` (handled as
    /// the signal it stands for; 0 drops it) and its job control.
    #[inline(never)]
    pub(super) fn on_peer_signal(&mut self, received: i32) {
        let sig = match self.cfg.peer.rewrite.is_empty() {
            true => received,
            false => self.rewrite(received),
        };
        if sig == 0 {
            // Rewritten to 0: dropped.
        } else if self.special.contains(sig) {
            self.on_stop_signal(sig);
        } else {
            self.forward(sig);
        }
        if self.cfg.peer.suspend_on_tty_signals
            && matches!(received, libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU)
        {
            self.suspend();
        }
    }

    /// dumb-init's job control: stop hookinit itself, as a shell's job.
    /// As PID 1 the kernel would ignore it, and nothing is tried.
    #[inline(never)]
    fn suspend(&self) {
        if self.own_pid == 1 {
            return;
        }
        events::log(
            Level::Debug,
            "Suspending",
            format_args!("stopping hookinit itself after a terminal's stop signal (dumb-init)"),
        );
        if let Err(e) = crate::os::process::kill_process(self.own_pid as i32, libc::SIGSTOP) {
            events::log(
                Level::Warn,
                "Suspending",
                format_args!("cannot stop hookinit itself: {e}"),
            );
        }
    }

    #[inline(never)]
    fn rewrite(&self, sig: i32) -> i32 {
        let to = self.cfg.peer.rewritten(sig);
        if to == 0 {
            events::log(
                Level::Debug,
                "Rewritten",
                format_args!("{} dropped (--rewrite)", signals::name(sig)),
            );
        } else if to != sig {
            events::log(
                Level::Debug,
                "Rewritten",
                format_args!(
                    "{} handled as {} (--rewrite)",
                    signals::name(sig),
                    signals::name(to)
                ),
            );
        }
        to
    }
}
