//! Reading a whole (small) file, without std's `File`: its `open` carries
//! a boxed-text error and, through it, `Debug` and Unicode tables (2 KB).

use crate::os::errno::Errno;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The bytes of the regular file at `path`, at most `limit + 1` of them (a
/// longer file shows as longer than `limit`); `Ok(None)` if it is not a
/// regular file. Opened non-blocking: a FIFO would block `open` itself.
pub fn read_regular(path: &Path, limit: usize) -> Result<Option<Vec<u8>>, std::io::Error> {
    // A NUL inside reads as a name that does not exist (config values with
    // one are rejected before this).
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::ENOENT))?;
    let flags = libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: a NUL-terminated path; the result is a fresh descriptor or -1.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return Err(Errno::last().into());
    }
    let result = read_fd(fd, limit);
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::close(fd) };
    result
}

fn read_fd(fd: i32, limit: usize) -> Result<Option<Vec<u8>>, std::io::Error> {
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: our descriptor and our own `stat` to fill.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(Errno::last().into());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    // The size as the file says (0 for /proc's), one more byte to see the
    // end; no zeroing: the read fills what counts.
    let hint = usize::try_from(st.st_size).unwrap_or(0).min(limit);
    let mut bytes = Vec::with_capacity(hint + 1);
    while bytes.len() <= limit {
        if bytes.len() == bytes.capacity() {
            bytes.reserve(512);
        }
        let len = bytes.len();
        let room = (bytes.capacity() - len).min(limit + 1 - len);
        let spare = bytes.spare_capacity_mut();
        // SAFETY: reading at most `room` bytes into our buffer's spare capacity.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), room) };
        if n == 0 {
            break;
        }
        if n < 0 {
            let e = Errno::last();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e.into());
        }
        // SAFETY: `read` initialised the next `n` bytes (n <= room).
        unsafe { bytes.set_len(len + n as usize) };
    }
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_regular_files_up_to_the_limit_and_no_others() {
        let dir = std::env::temp_dir().join(format!("hookinit-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        let text: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        std::fs::write(&file, &text).unwrap();
        assert_eq!(read_regular(&file, 20_000).unwrap().unwrap(), text);
        assert_eq!(read_regular(&file, 10_000).unwrap().unwrap(), text);
        assert_eq!(read_regular(&file, 9_999).unwrap().unwrap().len(), 10_000);
        assert_eq!(read_regular(&dir, 10).unwrap(), None);
        let e = read_regular(&dir.join("none"), 10).unwrap_err();
        assert_eq!(e.to_string(), "No such file or directory (os error 2)");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
