//! Questions about paths, asked of the kernel.

use crate::os::errno::Errno;
use std::ffi::CStr;

/// Whether this process may create files in `dir`: `access(W_OK)`, which
/// sees read-only mounts (EROFS) and permissions (EACCES).
pub fn writable(dir: &CStr) -> Result<(), Errno> {
    // SAFETY: access only reads the NUL-terminated path, which outlives the call.
    if unsafe { libc::access(dir.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}
