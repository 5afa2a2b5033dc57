//! The app: its pid, a pidfd to learn of its exit, and every signal's
//! result checked.
//!
//! The pidfd (Linux 5.3+) turns readable when the app exits and stays so
//! until it is reaped, so a missed SIGCHLD or a failed `wait4` is found
//! again at the next `poll`. Without pidfds (older kernels, or a seccomp
//! filter refusing them) the supervisor's retry of failed reaps covers it.
//!
//! Signals go by plain `kill`, which cannot hit a stranger that reused the
//! pid: the app's pid stays taken until hookinit itself reaps it (nothing
//! else reaps: SIGCHLD is at its default), and no signal goes out after
//! that. `pidfd_send_signal` would add nothing but cost: its libc entry is
//! the variadic `syscall`, run at every forwarded signal.

use crate::os::errno::Errno;
use crate::os::proc::Stat;
use crate::os::process::{self, Target};
use crate::os::reap::Status;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

pub struct App {
    pub pid: i32,
    /// What `kill` takes for `target`: the app's pid, or its group's, negated.
    kill_to: i32,
    /// Keeps the pidfd open; `exit_fd` is what the loop uses.
    _pidfd: Option<OwnedFd>,
    /// The pidfd's number while the app is unreaped, else -1 (for `poll`,
    /// which skips -1).
    exit_fd: RawFd,
    /// Signals go to the app's whole process group, or to the app only.
    target: Target,
    status: Option<Status>,
}

impl App {
    pub fn new(pid: i32, group: bool) -> App {
        let pidfd = process::pidfd_open(pid);
        App {
            pid,
            kill_to: if group { -pid } else { pid },
            exit_fd: pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            _pidfd: pidfd,
            target: if group {
                Target::Group(pid)
            } else {
                Target::Pid(pid)
            },
            status: None,
        }
    }

    /// No app yet (pre-start runs): not alive, so nothing is signalled or
    /// reaped as it (pid 0 is no child's).
    pub fn unstarted() -> App {
        App {
            pid: 0,
            kill_to: 0,
            _pidfd: None,
            exit_fd: -1,
            target: Target::Pid(0),
            status: Some(Status::Exited(0)),
        }
    }

    pub fn alive(&self) -> bool {
        self.status.is_none()
    }

    /// How the app ended, once reaped.
    pub fn status(&self) -> Option<Status> {
        self.status
    }

    /// The app was reaped: from now on its pid is not its own.
    pub fn reaped(&mut self, status: Status) {
        self.status = Some(status);
        self.exit_fd = -1;
    }

    /// The descriptor that turns readable when the app exits; -1 without a
    /// pidfd, and once the app is reaped.
    pub fn exit_fd(&self) -> RawFd {
        self.exit_fd
    }

    /// Where signals for the app go (`HOOKINIT_SIGNAL_GROUP`).
    pub fn target(&self) -> Target {
        self.target
    }

    /// Sends `sig` to the app (or its group); the error says why not.
    /// Once the app is reaped its pid may be another process's: ESRCH.
    #[inline(always)]
    pub fn signal(&self, sig: i32) -> Result<Target, Errno> {
        if !self.alive() {
            return Err(Errno(libc::ESRCH));
        }
        // kill_to is target.raw(), kept at hand for the hot path.
        crate::os::sys::kill(self.kill_to, sig).map(|()| self.target)
    }

    /// [`Self::signal`] for the loop's forwarding, which needs no target
    /// unless something is logged; the caller checks [`Self::alive`].
    #[inline(always)]
    pub fn send(&self, sig: i32) -> Result<(), Errno> {
        crate::os::sys::kill(self.kill_to, sig)
    }

    /// Whether the app is stopped by a signal right now (`T` in its
    /// /proc/PID/stat): only then does it need a SIGCONT to act on the stop
    /// signal. Unknown (no /proc) counts as not stopped: no signal it did
    /// not ask for.
    pub fn stopped(&self) -> bool {
        let mut buf = [0u8; 512];
        self.alive()
            && matches!(Stat::read(self.pid, &mut buf), Ok(Some(stat)) if stat.state() == Some(b'T'))
    }

    /// SIGKILL to the app itself, and to its whole group whatever `group`
    /// says (at the deadline everything the app started goes too). The result
    /// is the app's own: its group may be empty (it left it with setsid).
    pub fn kill(&self) -> Result<Target, Errno> {
        if !self.alive() {
            return Err(Errno(libc::ESRCH));
        }
        // ESRCH (an empty group) is fine here.
        let _ = process::kill_process_group(self.pid, libc::SIGKILL);
        process::kill_process(self.pid, libc::SIGKILL).map(|()| Target::Pid(self.pid))
    }
}
