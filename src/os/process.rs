//! Processes and process groups as targets of signals, and pidfds.
//!
//! A pid alone is ambiguous in `kill` (a negative one means a group, -1
//! means everyone): [`Target`] says which, and the functions say it in
//! their names.

use crate::os::errno::Errno;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Who a signal goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One process.
    Pid(i32),
    /// A process group, by its leader's pid.
    Group(i32),
}

impl Target {
    /// What `kill` takes for this target: the pid, or the group's negated.
    #[inline(always)]
    pub fn raw(self) -> i32 {
        match self {
            Target::Pid(pid) => pid,
            Target::Group(pgid) => -pgid,
        }
    }

    /// Sends `sig` to the target.
    #[inline(always)]
    pub fn signal(self, sig: i32) -> Result<(), Errno> {
        crate::os::sys::kill(self.raw(), sig)
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Pid(p) => write!(f, "pid {p}"),
            Target::Group(g) => write!(f, "process group {g}"),
        }
    }
}

/// `kill(pid, sig)`: one process.
pub fn kill_process(pid: i32, sig: i32) -> Result<(), Errno> {
    Target::Pid(pid).signal(sig)
}

/// `kill(-pgid, sig)`: a whole process group.
pub fn kill_process_group(pgid: i32, sig: i32) -> Result<(), Errno> {
    Target::Group(pgid).signal(sig)
}

/// `kill(-1, sig)`: every process this one may signal, but itself (and, in
/// a PID namespace, only that namespace's).
pub fn kill_everyone(sig: i32) -> Result<(), Errno> {
    crate::os::sys::kill(-1, sig)
}

/// A pidfd for `pid`, our own unreaped child: readable once it exits, until
/// it is reaped. `None` where the kernel (before 5.3) or a seccomp filter
/// refuses `pidfd_open`.
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; the result is a fresh
    // close-on-exec descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a descriptor just returned to us, owned by nothing else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Registers this process as a child subreaper: orphans of its descendants
/// are re-parented to it.
pub fn become_subreaper() -> Result<(), Errno> {
    // SAFETY: plain prctl with integer arguments.
    match unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } {
        0 => Ok(()),
        _ => Err(Errno::last()),
    }
}

/// `PR_SET_PDEATHSIG` (tini's `-p`): `sig` arrives when the parent dies. A
/// parent already gone before the call (hookinit re-parented) would never
/// send it: then it is raised at once. (As PID 1 of a namespace the parent
/// is outside it, `getppid` says 0, and that cannot be told.)
pub fn set_parent_death_signal(sig: i32) -> Result<(), Errno> {
    // SAFETY: plain prctl and getppid with integer arguments.
    unsafe {
        let parent = libc::getppid();
        if libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) != 0 {
            return Err(Errno::last());
        }
        if parent != 0 && libc::getppid() != parent {
            return kill_process(libc::getpid(), sig);
        }
    }
    Ok(())
}
