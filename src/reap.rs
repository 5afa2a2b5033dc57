//! Reaping: the one place that calls `waitpid(-1, WNOHANG)`.
//!
//! A single SIGCHLD may stand for many exits (the main app's among a burst of
//! orphans), so the supervisor calls [`next`] until it says there is nothing
//! more, and looks at every pid it returns (catatonit#4/#5). A failed call is
//! reported as such, never as "no children": the supervisor tries again.

use std::io;

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

impl Status {
    /// The shell's convention: the exit code, or 128 + the signal number.
    pub fn code(self) -> i32 {
        match self {
            Status::Exited(code) => code,
            Status::Signaled(sig) => 128 + sig,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Status::Exited(code) => write!(f, "exited with {code}"),
            Status::Signaled(sig) => write!(f, "killed by {}", crate::signals::name(sig)),
        }
    }
}

/// What one `waitpid` call found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reap {
    /// A child ended and is now reaped.
    Child(i32, Status),
    /// Children exist, none has ended.
    NothingYet,
    /// No children at all (ECHILD): every descendant is gone.
    NoChildren,
    /// `waitpid` failed for another reason: try again later.
    Failed(i32),
}

/// Reaps at most one ended child without blocking.
pub fn next() -> Reap {
    loop {
        let mut raw = 0;
        // SAFETY: plain syscall with a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut raw, libc::WNOHANG) };
        if pid > 0 {
            let status = if libc::WIFSIGNALED(raw) {
                Status::Signaled(libc::WTERMSIG(raw))
            } else {
                Status::Exited(libc::WEXITSTATUS(raw))
            };
            return Reap::Child(pid, status);
        }
        if pid == 0 {
            return Reap::NothingYet;
        }
        match io::Error::last_os_error().raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => return Reap::NoChildren,
            other => return Reap::Failed(other.unwrap_or(0)),
        }
    }
}

/// Whether any child exists (ended or not), without reaping it.
pub fn any_children() -> bool {
    // SAFETY: waitid with WNOWAIT only peeks; `info` is a valid out-pointer.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ECHILD)
}
