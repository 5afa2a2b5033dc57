//! /proc, read without allocating: its entries with `getdents64`, a file
//! into a stack buffer.

use crate::os::errno::Errno;
use std::ffi::CStr;

/// An open /proc, read with `getdents64`.
pub struct ProcDir(i32);

impl ProcDir {
    pub fn open() -> Result<ProcDir, Errno> {
        // SAFETY: open with a static C string.
        let fd = unsafe {
            libc::open(
                c"/proc".as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(Errno::last());
        }
        Ok(ProcDir(fd))
    }

    /// Calls `f` with the name of each entry of /proc.
    pub fn for_each_entry(
        &self,
        mut f: impl FnMut(&[u8]) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: the kernel writes whole records into our buffer.
            let n =
                unsafe { libc::syscall(libc::SYS_getdents64, self.0, buf.as_mut_ptr(), buf.len()) };
            if n < 0 {
                let e = Errno::last();
                if e.0 == libc::EINTR {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                return Ok(());
            }
            let mut at = 0;
            while at < n as usize {
                // struct linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name.
                let reclen = u16::from_ne_bytes([buf[at + 16], buf[at + 17]]) as usize;
                let name = &buf[at + 19..at + reclen];
                let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
                f(name)?;
                at += reclen;
            }
        }
    }
}

impl Drop for ProcDir {
    fn drop(&mut self) {
        // SAFETY: our own descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// Reads the file at `path` into `buf` (as much as fits): the bytes read,
/// or why it cannot be opened (ENOENT: the process exited meanwhile).
pub fn read_file(path: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `path` is NUL-terminated; the result is a fresh descriptor or -1.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    let n = crate::os::sys::read_full(fd, buf);
    // SAFETY: our own descriptor, closed once.
    unsafe { libc::close(fd) };
    Ok(n)
}
