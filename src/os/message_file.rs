//! The termination message file (Kubernetes' `terminationMessagePath`):
//! written by hookinit only when the app left it empty.

use crate::os::errno::Errno;
use std::ffi::CStr;

/// Empties the file at `path` if it exists, as the kubelet gives each run
/// a new one: a message an earlier run left (the container restarted, or a
/// volume) neither blocks this run's nor outlives its success. Best effort:
/// a file that cannot be written is reported at the end, when it matters.
pub fn empty(path: &CStr) {
    // O_NONBLOCK: a FIFO without a reader fails instead of blocking.
    let flags =
        libc::O_WRONLY | libc::O_TRUNC | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
    // SAFETY: open with a NUL-terminated path; no pointer is kept.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd >= 0 {
        // SAFETY: `fd` is ours, opened above, closed once.
        unsafe { libc::close(fd) };
    }
}

/// Writes `text` to the file at `path` (made if missing) unless it already
/// holds something: the app's own message wins. `Ok(false)`: left as it was.
pub fn write_if_empty(path: &CStr, text: &[u8]) -> Result<bool, Errno> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: open with a NUL-terminated path; no pointer is kept.
    let fd = unsafe { libc::open(path.as_ptr(), flags, 0o644) };
    if fd < 0 {
        return Err(Errno::last());
    }
    let result = write_unless_full(fd, text);
    // SAFETY: `fd` is ours, opened above, closed once.
    unsafe { libc::close(fd) };
    result
}

fn write_unless_full(fd: i32, text: &[u8]) -> Result<bool, Errno> {
    // SAFETY: libc::stat is plain data: all zeroes is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat of our open fd into our own buffer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(Errno::last());
    }
    if st.st_size > 0 {
        return Ok(false);
    }
    let mut rest = text;
    while !rest.is_empty() {
        // SAFETY: writes from a live slice of `rest.len()` bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        match n {
            n if n > 0 => rest = &rest[n as usize..],
            _ if Errno::last().0 == libc::EINTR => {}
            _ => return Err(Errno::last()),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_empty_or_missing_file_and_leaves_the_apps_message() {
        let dir = std::env::temp_dir().join(format!("hookinit-msg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("termination-log");
        let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        assert_eq!(write_if_empty(&c, b"ours\n"), Ok(true));
        assert_eq!(std::fs::read(&path).unwrap(), b"ours\n");
        std::fs::write(&path, b"the app's").unwrap();
        assert_eq!(write_if_empty(&c, b"ours\n"), Ok(false));
        assert_eq!(std::fs::read(&path).unwrap(), b"the app's");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(write_if_empty(&c, b"again\n"), Ok(true));
        assert_eq!(std::fs::read(&path).unwrap(), b"again\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
