//! The app: its pid, a pidfd to learn of its exit and signal it without a
//! PID-reuse race, and every signal's result checked.
//!
//! The pidfd (Linux 5.3+) turns readable when the app exits and stays so
//! until it is reaped, so a missed SIGCHLD or a failed `waitpid` is found
//! again at the next `poll`. Without pidfds (older kernels, or a seccomp
//! filter refusing them) hookinit falls back to `kill`, and the supervisor's
//! retry of failed reaps covers the rest.

use crate::errno::Errno;
use crate::reap::Status;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub struct App {
    pub pid: i32,
    pidfd: Option<OwnedFd>,
    /// Signals go to the app's whole process group, or to the app only.
    pub group: bool,
    pub status: Option<Status>,
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
            pidfd,
            group,
            status: None,
        }
    }

    pub fn alive(&self) -> bool {
        self.status.is_none()
    }

    /// The descriptor that turns readable when the app exits.
    pub fn exit_fd(&self) -> Option<RawFd> {
        match self.status {
            None => self.pidfd.as_ref().map(AsRawFd::as_raw_fd),
            Some(_) => None,
        }
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
    pub fn signal(&self, sig: i32) -> Result<Target, Errno> {
        let target = self.target();
        send(target, self.pidfd.as_ref(), sig).map(|()| target)
    }

    /// SIGKILL to the app itself, and to its whole group whatever `group`
    /// says (at the deadline everything the app started goes too). The result
    /// is the app's own: its group may be empty (it left it with setsid).
    pub fn kill(&self) -> Result<Target, Errno> {
        // SAFETY: plain syscall; ESRCH (an empty group) is fine here.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        let target = Target::Pid(self.pid);
        send(target, self.pidfd.as_ref(), libc::SIGKILL).map(|()| target)
    }
}

fn send(target: Target, pidfd: Option<&OwnedFd>, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain syscalls; the pidfd is ours and names our own child.
    let rc = unsafe {
        match (target, pidfd) {
            (Target::Pid(_), Some(fd)) => libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            ) as i32,
            (Target::Pid(pid), None) => libc::kill(pid, sig),
            (Target::Group(pgid), _) => libc::kill(-pgid, sig),
        }
    };
    if rc == 0 {
        return Ok(());
    }
    let e = Errno::last();
    if e.0 == libc::ENOSYS {
        // A kernel without pidfd_send_signal: the plain syscall.
        if let Target::Pid(pid) = target {
            // SAFETY: plain syscall.
            if unsafe { libc::kill(pid, sig) } == 0 {
                return Ok(());
            }
            return Err(Errno::last());
        }
    }
    Err(e)
}
