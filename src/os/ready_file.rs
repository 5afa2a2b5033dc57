//! The ready file: made with `mknod`, so that no descriptor is ever open on
//! it (none can be seen, or block: a FIFO at that path once would have), and
//! it appears at once, whole.

use crate::os::errno::Errno;
use std::ffi::CStr;

/// Why the ready file could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// Something that is not a regular file is at the path.
    NotRegular,
    Os(Errno),
}

/// Creates an empty regular file at `path`; one already there is fine.
pub fn create(path: &CStr) -> Result<(), CreateError> {
    // SAFETY: mknod with a NUL-terminated path; no pointer is kept.
    if unsafe { libc::mknod(path.as_ptr(), libc::S_IFREG | 0o644, 0) } == 0 {
        return Ok(());
    }
    match Errno::last() {
        Errno(libc::EEXIST) if is_regular(path) => Ok(()),
        Errno(libc::EEXIST) => Err(CreateError::NotRegular),
        e => Err(CreateError::Os(e)),
    }
}

fn is_regular(path: &CStr) -> bool {
    // SAFETY: libc::stat is plain data: all zeroes is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: stat into our own buffer, with a NUL-terminated path.
    let found = unsafe { libc::stat(path.as_ptr(), &mut st) } == 0;
    found && st.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// Removes the file at `path`; a missing one is fine (nothing to report).
pub fn remove(path: &CStr) {
    // SAFETY: unlink with a NUL-terminated path; no pointer is kept.
    unsafe { libc::unlink(path.as_ptr()) };
}
