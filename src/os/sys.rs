//! The loop's hot system calls: `poll`, `read` (of the signalfd), `kill`
//! and `wait4`, made once per forwarded signal or reaped child.
//!
//! On x86_64 and aarch64 they are made directly. musl routes `poll` and
//! `read` through its thread-cancellation wrapper, which a single-threaded
//! process that never cancels anything does not need, and sets `errno` that
//! the caller then reads back: about 35 instructions of libc per call, more
//! than the loop's own work per signal (the benchmark counts them). On other
//! platforms they go through libc. Either way the kernel sees the same call
//! (`ppoll` on aarch64, which has no `poll`, as musl does), so `strace`
//! fault injection reaches them as before.

use crate::os::errno::Errno;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;
use std::time::Duration;

/// `poll(fds, timeout)`, where `None` waits without a timeout: the number of
/// ready entries.
#[inline(always)]
pub fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<usize, Errno> {
    imp::poll(fds, timeout)
}

/// `read(fd, buf)`: the number of bytes read (and now initialised).
#[inline(always)]
pub fn read(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> Result<usize, Errno> {
    imp::read(fd, buf)
}

/// `kill(pid, sig)`.
#[inline(always)]
pub fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    imp::kill(pid, sig)
}

/// `wait4(-1, &status, WNOHANG, NULL)`: the pid reaped (0: none yet) and its
/// raw wait status.
#[inline(always)]
pub fn reap_any() -> Result<(i32, i32), Errno> {
    imp::reap_any()
}

/// Reads until `buf` is full, end of file or an error (EINTR retried).
pub fn read_full(fd: RawFd, buf: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: reading into the unfilled rest of our own buffer.
        let n = unsafe { libc::read(fd, buf[done..].as_mut_ptr().cast(), buf.len() - done) };
        if n > 0 {
            done += n as usize;
        } else if n == 0 || crate::os::errno::Errno::last().0 != libc::EINTR {
            break;
        }
    }
    done
}

/// Milliseconds for `poll`, rounded up (waking a hair early would only loop
/// once more); -1 for none.
#[cfg_attr(target_arch = "aarch64", allow(dead_code))]
fn timeout_ms(timeout: Option<Duration>) -> i32 {
    timeout.map_or(-1, |t| {
        t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32
    })
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod imp {
    use super::*;
    use std::arch::asm;

    /// A raw system call; the kernel returns -errno for a failure.
    ///
    /// SAFETY (callers): the arguments must be valid for system call `n`.
    #[inline(always)]
    unsafe fn syscall5(n: usize, a: usize, b: usize, c: usize, d: usize, e: usize) -> isize {
        let ret: isize;
        // SAFETY: the caller's promise (above); the asm clobbers only what it declares.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a, in("rsi") b, in("rdx") c, in("r10") d, in("r8") e,
                lateout("rcx") _, lateout("r11") _,
                options(nostack),
            )
        };
        // SAFETY: as above.
        #[cfg(target_arch = "aarch64")]
        unsafe {
            asm!(
                "svc 0",
                in("x8") n,
                inlateout("x0") a as isize => ret,
                in("x1") b, in("x2") c, in("x3") d, in("x4") e,
                options(nostack),
            )
        };
        ret
    }

    #[inline(always)]
    fn result(ret: isize) -> Result<usize, Errno> {
        // The kernel's error returns are -4095..-1.
        if (-4095..0).contains(&ret) {
            Err(Errno(-ret as i32))
        } else {
            Ok(ret as usize)
        }
    }

    #[inline(always)]
    pub fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<usize, Errno> {
        let (ptr, n) = (fds.as_mut_ptr() as usize, fds.len());
        #[cfg(target_arch = "x86_64")]
        let ret = {
            let ms = timeout_ms(timeout);
            // SAFETY: `fds` is valid for `n` entries, which the kernel writes.
            unsafe { syscall5(libc::SYS_poll as usize, ptr, n, ms as isize as usize, 0, 0) }
        };
        #[cfg(target_arch = "aarch64")]
        let ret = {
            // Mutable: the kernel writes the time left back into it.
            let mut ts = timeout.map(|t| libc::timespec {
                tv_sec: t.as_secs().min(i64::MAX as u64) as i64,
                tv_nsec: t.subsec_nanos() as i64,
            });
            let ts_ptr = ts.as_mut().map_or(0, |t| t as *mut libc::timespec as usize);
            // SAFETY: `fds` is valid for `n` entries; `ts_ptr` is null or a
            // timespec that outlives the call; no signal mask is changed.
            unsafe { syscall5(libc::SYS_ppoll as usize, ptr, n, ts_ptr, 0, 0) }
        };
        result(ret)
    }

    #[inline(always)]
    pub fn read(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> Result<usize, Errno> {
        let (ptr, len) = (buf.as_mut_ptr() as usize, buf.len());
        // SAFETY: `buf` is valid for `len` bytes, which the kernel writes.
        result(unsafe { syscall5(libc::SYS_read as usize, fd as usize, ptr, len, 0, 0) })
    }

    #[inline(always)]
    pub fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
        // Sign-extended: a negative pid names a process group.
        let (pid, sig) = (pid as isize as usize, sig as usize);
        // SAFETY: plain system call without pointers.
        result(unsafe { syscall5(libc::SYS_kill as usize, pid, sig, 0, 0, 0) }).map(|_| ())
    }

    #[inline(always)]
    pub fn reap_any() -> Result<(i32, i32), Errno> {
        let mut status: i32 = 0;
        let status_ptr = &mut status as *mut i32 as usize;
        let any = -1isize as usize;
        let nohang = libc::WNOHANG as usize;
        // SAFETY: `status` is a valid out-pointer; no rusage is asked for.
        let ret = unsafe { syscall5(libc::SYS_wait4 as usize, any, status_ptr, nohang, 0, 0) };
        result(ret).map(|pid| (pid as i32, status))
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use super::*;

    fn result(ret: isize) -> Result<usize, Errno> {
        if ret < 0 {
            Err(Errno::last())
        } else {
            Ok(ret as usize)
        }
    }

    pub fn poll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> Result<usize, Errno> {
        let ms = timeout_ms(timeout);
        // SAFETY: `fds` is valid for its length, which the kernel writes.
        let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        result(ret as isize)
    }

    pub fn read(fd: RawFd, buf: &mut [MaybeUninit<u8>]) -> Result<usize, Errno> {
        // SAFETY: `buf` is valid for its length, which the kernel writes.
        result(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
    }

    pub fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
        // SAFETY: plain system call.
        result(unsafe { libc::kill(pid, sig) } as isize).map(|_| ())
    }

    pub fn reap_any() -> Result<(i32, i32), Errno> {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; no rusage is asked for.
        let pid = unsafe { libc::wait4(-1, &mut status, libc::WNOHANG, std::ptr::null_mut()) };
        result(pid as isize).map(|pid| (pid as i32, status))
    }
}
