//! /proc, read without allocating: its entries with `getdents64`, a file
//! into a stack buffer.

use crate::os::errno::Errno;
use crate::os::text::{decimal, format_into};
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

/// Whether /proc is this process's PID namespace's own: its numbers are
/// then the ones `getpid` and the kernel's credentials give. Not under
/// `unshare --pid` without `--mount-proc`, where they name the outer
/// namespace's processes.
pub fn is_ours() -> bool {
    self_pid() == Some(std::process::id() as i32)
}

/// The pid that /proc's `self` names.
fn self_pid() -> Option<i32> {
    let mut buf = [0u8; 16];
    // SAFETY: readlink writes at most `buf.len()` bytes into our buffer.
    let n = unsafe { libc::readlink(c"/proc/self".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    pid(buf.get(..usize::try_from(n).ok()?)?)
}

/// A pid written in decimal (a /proc entry's name, a stat field).
pub fn pid(digits: &[u8]) -> Option<i32> {
    i32::try_from(decimal(digits)?).ok()
}

/// The fields of a /proc/PID/stat file that follow the command name (which
/// may hold spaces and parentheses), read into the caller's buffer.
pub struct Stat<'a>(&'a [u8]);

impl<'a> Stat<'a> {
    /// `Ok(None)`: the process is gone (or not visible in this /proc).
    pub fn read(pid: i32, buf: &'a mut [u8; 512]) -> Result<Option<Stat<'a>>, Errno> {
        let mut path = [0u8; 32];
        if !format_into(&mut path, format_args!("/proc/{pid}/stat\0")).1 {
            return Ok(None);
        }
        let Ok(path) = CStr::from_bytes_until_nul(&path) else {
            return Ok(None);
        };
        match read_file(path, buf) {
            Ok(n) => Ok(Stat::parse(&buf[..n])),
            Err(Errno(libc::ENOENT | libc::ESRCH)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The text of a stat file; `None` if it has no command name.
    pub fn parse(text: &'a [u8]) -> Option<Stat<'a>> {
        let after = text.iter().rposition(|&b| b == b')')? + 1;
        Some(Stat(&text[after..]))
    }

    fn field(&self, n: usize) -> Option<&'a [u8]> {
        self.0
            .split(|&b| b == b' ')
            .filter(|f| !f.is_empty())
            .nth(n)
    }

    /// The state letter: `R`, `S`, `T` (stopped by a signal), `Z`...
    pub fn state(&self) -> Option<u8> {
        self.field(0).and_then(|f| f.first().copied())
    }

    /// The parent's pid.
    pub fn ppid(&self) -> Option<i32> {
        pid(self.field(1)?)
    }

    /// Dead or dying: a zombie; exiting (the kernel's `PF_EXITING` in the
    /// `flags` field); or SIGKILL sent and not yet acted on (the kernel marks
    /// it pending at once, in the main thread's set: the `signal` field).
    pub fn dying(&self) -> bool {
        const PF_EXITING: u64 = 0x4;
        const SIGKILL_BIT: u64 = 1 << (libc::SIGKILL - 1);
        let number = |n| self.field(n).and_then(decimal).unwrap_or(0);
        matches!(self.state(), Some(b'Z' | b'X'))
            || number(6) & PF_EXITING != 0
            || number(28) & SIGKILL_BIT != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_follow_the_last_parenthesis() {
        let stat = Stat::parse(b"7 (a) b) T 42 7").unwrap();
        assert_eq!(stat.state(), Some(b'T'));
        assert_eq!(stat.ppid(), Some(42));
        assert_eq!(
            (pid(b"123"), pid(b"self"), pid(b"4294967296")),
            (Some(123), None, None)
        );
        assert!(Stat::parse(b"7 no name").is_none());
        let mut buf = [0u8; 512];
        let own = Stat::read(std::process::id() as i32, &mut buf)
            .unwrap()
            .unwrap();
        // The test harness's main thread may be running or waiting.
        assert!(
            matches!(own.state(), Some(b'R' | b'S')),
            "{:?}",
            own.state()
        );
        let mut buf = [0u8; 512];
        assert!(Stat::read(i32::MAX - 1, &mut buf).unwrap().is_none());
    }

    #[test]
    fn zombies_and_processes_sent_sigkill_are_dying() {
        // The 31st field (`signal`): SIGKILL pending is 256.
        let line = |state: &str, signal: u64| {
            let mut s = format!("9 (x y) {state}");
            for _ in 4..31 {
                s.push_str(" 0");
            }
            format!("{s} {signal} 0 0 0")
        };
        let dying = |text: String| Stat::parse(text.as_bytes()).unwrap().dying();
        assert!(!dying(line("S", 0)) && !dying(line("R", 1 << 14)));
        // flags (the 9th field) with PF_EXITING, as read in a real exit.
        let exiting = "3 (hookinit-probe) R 1 3 0 0 -1 4195404 11 0 0 0 0 0 0 0 20 0 1 0 3287738 \
            0 0 18446744073709551615 0 0 0 0 0 0 2147221247 0 0 0 0 0 17 1 0 0";
        assert!(Stat::parse(exiting.as_bytes()).unwrap().dying());
        // Fields 4 to 9 (ppid .. flags) set to 0x400040: flags without
        // PF_EXITING is not dying.
        assert!(!dying(line("R", 0).replacen(" 0", " 4194624", 6)));
        assert!(dying(line("S", 256)) && dying(line("R", 256 | 2)));
        assert!(dying(line("Z", 0)) && dying(line("X", 0)));
        // A real zombie: a child that exited, not yet waited for.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // SAFETY: waits for our own child without reaping it (WNOWAIT),
        // into a zeroed local.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOWAIT;
            assert_eq!(libc::waitid(libc::P_PID, pid as u32, &mut info, flags), 0);
        }
        let mut buf = [0u8; 512];
        assert!(Stat::read(pid, &mut buf).unwrap().unwrap().dying());
        child.wait().unwrap();
    }
}
