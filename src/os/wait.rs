//! Blocking waits for one child: only in a handler's own process, never in
//! PID 1's loop (which reaps with [`crate::os::reap`]).

/// Waits for our child `pid` to end and reaps it (EINTR retried): its exit
/// code, `None` if a signal killed it or it cannot be waited for.
pub fn wait_for(pid: i32) -> Option<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waiting for our own child, the status into a local.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        }
        if r < 0 && crate::os::errno::Errno::last().0 != libc::EINTR {
            return None;
        }
    }
}
