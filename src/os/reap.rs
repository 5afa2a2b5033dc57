//! Reaping: the one place that calls `wait4(-1, WNOHANG)` (musl's `waitpid`
//! is the same call behind a cancellation-point wrapper: twice the cost per
//! zombie).
//!
//! A single SIGCHLD may stand for many exits (the main app's among a burst of
//! orphans), so the supervisor calls [`next`] until it says there is nothing
//! more, and looks at every pid it returns (catatonit#4/#5). A failed call is
//! reported as such, never as "no children": the supervisor tries again.

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

impl Status {
    /// Decodes a `wait` status (only exits and deaths by signal are asked for).
    pub fn from_raw(raw: i32) -> Status {
        if libc::WIFSIGNALED(raw) {
            Status::Signaled(libc::WTERMSIG(raw))
        } else {
            Status::Exited(libc::WEXITSTATUS(raw))
        }
    }

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
            Status::Signaled(sig) => write!(f, "killed by {}", crate::os::signals::name(sig)),
        }
    }
}

/// What one `wait4` call found.
#[derive(Debug, PartialEq, Eq)]
pub enum Reap {
    /// A child ended and is now reaped: its pid and raw status (decoded by
    /// [`Status::from_raw`] only for the children hookinit cares about).
    Child(i32, i32),
    /// Children exist, none has ended.
    NothingYet,
    /// No children at all (ECHILD): every descendant is gone.
    NoChildren,
    /// `wait4` failed for another reason: try again later.
    Failed(i32),
}

/// Reaps at most one ended child without blocking.
#[inline]
pub fn next() -> Reap {
    loop {
        match crate::os::sys::reap_any() {
            Ok((0, _)) => return Reap::NothingYet,
            Ok((pid, raw)) => return Reap::Child(pid, raw),
            Err(e) if e.0 == libc::EINTR => continue,
            Err(e) if e.0 == libc::ECHILD => return Reap::NoChildren,
            Err(e) => return Reap::Failed(e.0),
        }
    }
}

/// Whether any child exists (ended or not), without reaping it.
pub fn any_children() -> bool {
    // SAFETY: siginfo_t is plain data; all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid with WNOWAIT only peeks; `info` is a valid out-pointer.
    let rc = unsafe {
        libc::waitid(
            libc::P_ALL,
            0,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    rc == 0 || crate::os::errno::Errno::last().0 != libc::ECHILD
}
