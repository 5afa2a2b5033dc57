//! Descriptors: non-blocking mode, reads that retry EINTR, writes.

use crate::os::errno::Errno;
use std::os::fd::RawFd;

/// Puts `fd` in non-blocking mode. Its other status flags are cleared:
/// for our own fresh pipe ends, which have none.
pub fn set_nonblocking(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl on a descriptor of ours, with integer arguments.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) } < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// One `read` into `buf`, EINTR retried: the bytes read (0 at end of file).
pub fn read_some(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: reading into our own buffer, at most its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = Errno::last();
        if e.0 != libc::EINTR {
            return Err(e);
        }
    }
}

/// One `write` of `buf`: the bytes written.
pub fn write_once(fd: RawFd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: writing from our own buffer, at most its length.
    let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(Errno::last());
    }
    Ok(n as usize)
}
