//! A non-blocking TCP listening socket and its accepted connections: what
//! the readiness endpoint needs, and nothing that could block the loop.

use crate::os::errno::Errno;
use std::mem::size_of;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// A non-blocking, close-on-exec socket bound to `addr` and listening
    /// with room for `backlog` connections not yet accepted.
    pub fn bind(addr: SocketAddr, backlog: i32) -> Result<Listener, Errno> {
        let family = match addr {
            SocketAddr::V4(_) => libc::AF_INET,
            SocketAddr::V6(_) => libc::AF_INET6,
        };
        // SAFETY: socket(2) with integer arguments; a fresh descriptor or -1.
        let raw = unsafe {
            libc::socket(
                family,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        };
        if raw < 0 {
            return Err(Errno::last());
        }
        // SAFETY: a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // A restarted container must not wait for the last life's TIME_WAITs.
        set_int(raw, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        // SAFETY: all zeroes is a valid sockaddr_storage.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
                unsafe {
                    std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin)
                };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
                unsafe {
                    std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6)
                };
                size_of::<libc::sockaddr_in6>()
            }
        };
        // SAFETY: `storage` holds a valid address of `len` bytes.
        let r = unsafe {
            libc::bind(
                raw,
                (&storage as *const libc::sockaddr_storage).cast(),
                len as libc::socklen_t,
            )
        };
        // SAFETY: listen(2) on our socket. (This and the calls below go
        // through `syscall`, which the binary has: musl's wrappers, its
        // accept4 with a fallback for kernels before 2.6.28, were 340 bytes.)
        if r != 0 || unsafe { libc::syscall(libc::SYS_listen, raw, backlog) } != 0 {
            return Err(Errno::last());
        }
        Ok(Listener { fd })
    }

    /// One waiting connection, non-blocking and close-on-exec; `Ok(None)`
    /// when none waits.
    pub fn accept(&self) -> Result<Option<OwnedFd>, Errno> {
        // SAFETY: accept4 on our socket, without asking for the peer's address.
        let raw = unsafe {
            libc::syscall(
                libc::SYS_accept4,
                self.fd.as_raw_fd(),
                std::ptr::null_mut::<libc::sockaddr>(),
                std::ptr::null_mut::<libc::socklen_t>(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        } as RawFd;
        if raw >= 0 {
            // SAFETY: a fresh descriptor owned by nobody else.
            return Ok(Some(unsafe { OwnedFd::from_raw_fd(raw) }));
        }
        match Errno::last() {
            Errno(libc::EAGAIN) => Ok(None),
            e => Err(e),
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// One `recv` without blocking: the bytes read (0: the peer shut down its
/// side); EAGAIN and EINTR are errors the caller treats as "nothing now".
pub fn recv(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: reading into our own buffer, at most its length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(Errno::last());
    }
    Ok(n as usize)
}

/// One `send` without blocking and without SIGPIPE: the bytes sent.
pub fn send(fd: RawFd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: sending from our own buffer, at most its length.
    let n = unsafe {
        libc::send(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(Errno::last());
    }
    Ok(n as usize)
}

/// Ends a connection whose answer was sent: FIN now, even if a forked
/// handler process still holds a copy of the descriptor.
pub fn finish(fd: OwnedFd) {
    // SAFETY: shutdown(2) on our socket; a failure leaves the close.
    unsafe { libc::syscall(libc::SYS_shutdown, fd.as_raw_fd(), libc::SHUT_WR) };
    drop(fd);
}

/// Closes `fd` with a reset rather than a FIN: nothing lingers, in the
/// kernel or in the peer's hopes (a connection that overstayed). A copy
/// held by a forked handler process makes it a FIN, still at once.
pub fn abort(fd: OwnedFd) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads one linger from a live local. Its failure
    // only leaves the ordinary close.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    // SAFETY: shutdown(2) on our socket; a failure leaves the close.
    unsafe { libc::syscall(libc::SYS_shutdown, fd.as_raw_fd(), libc::SHUT_RDWR) };
    drop(fd);
}

fn set_int(fd: RawFd, level: i32, name: i32, value: libc::c_int) -> Result<(), Errno> {
    // SAFETY: setsockopt reads one c_int from a live local.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(Errno::last());
    }
    Ok(())
}
