//! Forking hookinit itself, for handler processes that run its own code,
//! and what such a child sets up before its work.

use crate::os::errno::Errno;
use std::ffi::CStr;

/// Which side of a [`fork`] this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forked {
    /// The new process.
    Child,
    /// The parent, with the child's pid.
    Parent(i32),
}

/// `fork()`. Sound here because hookinit is single-threaded: the child's
/// copy of the process (allocator and locks included) is consistent.
pub fn fork() -> Result<Forked, Errno> {
    // SAFETY: no other thread exists whose state the child could inherit
    // half-way (hookinit never starts threads).
    match unsafe { libc::fork() } {
        pid if pid < 0 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// `setpgid(pid, pid)`: makes `pid` (0: this process) the leader of its own
/// process group. Both the parent and the child call it, so that a kill of
/// the group right after the fork cannot miss, whichever runs first; the
/// loser's call may fail (the child already exec'd or exited), which is fine.
pub fn lead_own_group(pid: i32) {
    // SAFETY: plain syscall with integer arguments.
    unsafe { libc::setpgid(pid, pid) };
}

/// Names this forked child (`comm`, at most 15 bytes, and its command
/// line), so that `ps`, `pgrep` and `kill` tell it from PID 1.
pub fn take_name(name: &CStr) {
    // SAFETY: prctl reads a NUL-terminated string; no pointer is kept.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
    crate::os::args::set_title(name);
}

/// Asks the kernel to SIGKILL this process when its parent dies.
pub fn die_with_parent() {
    // SAFETY: plain prctl with integer arguments, on this process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
}

/// `_exit(code)`: ends a forked child at once, without running the parent's
/// exit handlers or flushing its copies of buffers.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}
