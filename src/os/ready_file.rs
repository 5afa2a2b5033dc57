//! The ready file: made with `mknod`, so that no descriptor is ever open on
//! it (none can be seen, or block: a FIFO at that path once would have), and
//! it appears at once, whole.

use crate::os::errno::Errno;
use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

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
pub fn remove(path: &CStr) -> Result<(), Errno> {
    // SAFETY: unlink with a NUL-terminated path; no pointer is kept.
    if unsafe { libc::unlink(path.as_ptr()) } == 0 {
        return Ok(());
    }
    let e = Errno::last();
    // EROFS and EACCES come before the lookup: an error only if something
    // is there.
    if e.0 == libc::ENOENT || !exists(path) {
        return Ok(());
    }
    Err(e)
}

/// Whether anything (a dangling symlink included) is at `path`.
fn exists(path: &CStr) -> bool {
    // SAFETY: libc::stat is plain data: all zeroes is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: lstat into our own buffer, with a NUL-terminated path.
    unsafe { libc::lstat(path.as_ptr(), &mut st) == 0 }
}

/// At start: removes a ready file left by an earlier life of the container
/// (`docker kill`, a host crash). An error only if a regular file stays
/// there, which `--ready` would take for "ready"; anything else at the path
/// (a directory) never says ready, and creating the file later warns.
pub fn remove_stale(path: &Path) -> Result<(), Errno> {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return Ok(()); // configuration rejects NUL bytes
    };
    match remove(&c) {
        Err(_) if !is_regular(&c) => Ok(()),
        r => r,
    }
}

/// `--ready`: whether a regular file (what hookinit makes) is at `path`.
pub fn is_ready(path: &Path) -> bool {
    CString::new(path.as_os_str().as_bytes()).is_ok_and(|c| is_regular(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_regular_file_is_ready_and_only_one_that_stays_is_an_error() {
        let dir = std::env::temp_dir().join(format!("hookinit-ready-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let (file, sub) = (dir.join("ready"), dir.join("sub"));
        assert!(!is_ready(&file));
        assert_eq!(remove_stale(&file), Ok(()));
        std::fs::write(&file, "").unwrap();
        assert!(is_ready(&file));
        assert_eq!(remove_stale(&file), Ok(()));
        assert!(!file.exists());
        // A directory is not a ready file: it says nothing, and is left alone.
        assert!(!is_ready(&sub));
        assert_eq!(remove_stale(&sub), Ok(()));
        let c = CString::new(sub.as_os_str().as_bytes()).unwrap();
        assert_eq!(remove(&c), Err(Errno(libc::EISDIR)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
