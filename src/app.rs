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
use crate::os::reap::Status;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub struct App {
    pub pid: i32,
    /// What `kill` takes: the app's pid, or its group's, negated.
    kill_to: i32,
    /// Keeps the pidfd open; `exit_fd` is what the loop uses.
    _pidfd: Option<OwnedFd>,
    /// The pidfd's number while the app is unreaped, else -1 (for `poll`,
    /// which skips -1).
    exit_fd: RawFd,
    /// Signals go to the app's whole process group, or to the app only.
    group: bool,
    status: Option<Status>,
}

/// Who a signal went to, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Pid(i32),
    Group(i32),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Pid(p) => write!(f, "pid {p}"),
            Target::Group(g) => write!(f, "process group {g}"),
        }
    }
}

impl App {
    pub fn new(pid: i32, group: bool) -> App {
        // SAFETY: pidfd_open on our own unreaped child; the result is a fresh
        // close-on-exec descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) });
        App {
            pid,
            kill_to: if group { -pid } else { pid },
            exit_fd: pidfd.as_ref().map_or(-1, AsRawFd::as_raw_fd),
            _pidfd: pidfd,
            group,
            status: None,
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
        if self.group {
            Target::Group(self.pid)
        } else {
            Target::Pid(self.pid)
        }
    }

    /// Sends `sig` to the app (or its group); the error says why not.
    /// Once the app is reaped its pid may be another process's: ESRCH.
    #[inline(always)]
    pub fn signal(&self, sig: i32) -> Result<Target, Errno> {
        send(self.alive().then_some(self.kill_to), sig).map(|()| self.target())
    }

    /// SIGKILL to the app itself, and to its whole group whatever `group`
    /// says (at the deadline everything the app started goes too). The result
    /// is the app's own: its group may be empty (it left it with setsid).
    pub fn kill(&self) -> Result<Target, Errno> {
        let alive = self.alive();
        // ESRCH (an empty group) is fine here.
        let _ = send(alive.then_some(-self.pid), libc::SIGKILL);
        send(alive.then_some(self.pid), libc::SIGKILL).map(|()| Target::Pid(self.pid))
    }
}

/// `kill(to, sig)`; `None` is a process already reaped.
#[inline(always)]
fn send(to: Option<i32>, sig: i32) -> Result<(), Errno> {
    let Some(to) = to else {
        return Err(Errno(libc::ESRCH));
    };
    crate::os::sys::kill(to, sig)
}
