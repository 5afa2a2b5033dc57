//! The notify socket (systemd's `sd_notify` protocol): a `SOCK_DGRAM` unix
//! socket with `SO_PASSCRED`, so that every datagram comes with its sender's
//! pid, read without blocking into the caller's buffer.

use crate::os::errno::Errno;
use std::ffi::CString;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Where the socket lives, as `NOTIFY_SOCKET` names it: `@name` is an
/// abstract name, anything else a path; empty, an abstract name the kernel
/// picks (autobind: unique, no file). One string, no enum: the socket
/// address is built from it as the client's is.
pub type Address = CString;

pub struct NotifySocket {
    fd: OwnedFd,
    /// The `NOTIFY_SOCKET` value: `@name` or the path.
    name: Vec<u8>,
}

/// One datagram read.
#[derive(Debug)]
pub struct Datagram {
    /// Its length; more than the buffer when it was cut.
    pub len: usize,
    /// The sender's pid, as the kernel saw it (0: not visible from here).
    pub pid: i32,
    /// The descriptors that came with it, open until it is dropped.
    pub fds: Held,
}

/// The control area, in words (its alignment): the credentials and a few
/// descriptors; the kernel closes those that do not fit.
const CONTROL_WORDS: usize = 32;
/// A bound on the descriptors one read can carry (the control area holds
/// headers too): every one received is held.
const HELD_MAX: usize = CONTROL_WORDS * 8 / size_of::<RawFd>();

/// The descriptors that came with a datagram, closed when it is dropped:
/// after its sender was checked, so that a sender waiting on `BARRIER=1`
/// (`sd_notify_barrier`) is still alive, and its parent chain readable,
/// when its pid is looked up.
#[derive(Debug)]
pub struct Held {
    fds: [RawFd; HELD_MAX],
    count: usize,
}

impl Held {
    pub const NONE: Held = Held {
        fds: [-1; HELD_MAX],
        count: 0,
    };

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        for &fd in &self.fds[..self.count] {
            // SAFETY: descriptors the kernel gave this process, closed once.
            unsafe { libc::close(fd) };
        }
    }
}

impl NotifySocket {
    /// A bound, non-blocking, close-on-exec socket with `SO_PASSCRED`.
    pub fn bind(address: &std::ffi::CStr) -> Result<NotifySocket, Errno> {
        let fd = dgram_socket()?;
        let raw = fd.as_raw_fd();
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads one c_int from a live local.
        let r = unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_PASSCRED,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(Errno::last());
        }
        // Empty: only the family, and the kernel picks a free abstract name.
        let (addr, len) = sockaddr(address.to_bytes())?;
        let path = address.to_bytes().first() == Some(&b'/');
        if path {
            // A socket left by an earlier life of the container; anything
            // else in its place makes bind fail, as it should.
            // SAFETY: lstat into a local, read only once lstat filled it;
            // unlink of a NUL-terminated path.
            unsafe {
                let mut st = MaybeUninit::<libc::stat>::uninit();
                if libc::lstat(address.as_ptr(), st.as_mut_ptr()) == 0
                    && st.assume_init_ref().st_mode & libc::S_IFMT == libc::S_IFSOCK
                {
                    libc::unlink(address.as_ptr());
                }
            }
        }
        // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
        let r = unsafe { libc::bind(raw, (&addr as *const libc::sockaddr_un).cast(), len) };
        if r != 0 {
            return Err(Errno::last());
        }
        if path {
            // The app may run as another user: the credentials, not the
            // file's mode, decide who is heard.
            // SAFETY: chmod of a NUL-terminated path.
            unsafe { libc::chmod(address.as_ptr(), 0o666) };
        }
        let name = bound_name(raw)?;
        Ok(NotifySocket { fd, name })
    }

    /// The value for `NOTIFY_SOCKET`.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// Reads one datagram into `buf` without blocking: `Ok(None)` when
    /// none waits. Descriptors sent with it (`FDSTORE=1`, `BARRIER=1`) are
    /// closed when it is dropped.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<Datagram>, Errno> {
        // Room for the credentials and a few descriptors; the kernel closes
        // those that do not fit.
        // Uninitialised: the kernel fills it, and only what it filled
        // (`msg_controllen` on return) is read.
        let mut control = MaybeUninit::<[u64; CONTROL_WORDS]>::uninit();
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: all zeroes is a valid msghdr.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; CONTROL_WORDS]>() as _;
        let flags = libc::MSG_DONTWAIT | libc::MSG_TRUNC | libc::MSG_CMSG_CLOEXEC;
        let n = loop {
            // SAFETY: `msg` points at our buffer and control area, both live.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, flags) };
            if n >= 0 {
                break n as usize;
            }
            match Errno::last() {
                Errno(libc::EINTR) => continue,
                Errno(libc::EAGAIN) => return Ok(None),
                e => return Err(e),
            }
        };
        let mut pid = 0;
        let mut fds = Held::NONE;
        // SAFETY: the CMSG macros walk the control area the kernel filled,
        // within `msg_controllen`; each payload is read unaligned.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            while !cmsg.is_null() {
                let data = libc::CMSG_DATA(cmsg);
                let payload = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                if (*cmsg).cmsg_level == libc::SOL_SOCKET {
                    if (*cmsg).cmsg_type == libc::SCM_CREDENTIALS
                        && payload >= size_of::<libc::ucred>()
                    {
                        let cred: libc::ucred = std::ptr::read_unaligned(data.cast());
                        pid = cred.pid;
                    } else if (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                        for i in 0..payload / size_of::<RawFd>() {
                            let fd: RawFd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                            match fds.fds.get_mut(fds.count) {
                                Some(slot) => (*slot, fds.count) = (fd, fds.count + 1),
                                // Cannot happen (see HELD_MAX); never leak one.
                                None => _ = libc::close(fd),
                            }
                        }
                    }
                }
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
        }
        Ok(Some(Datagram { len: n, pid, fds }))
    }
}

impl AsRawFd for NotifySocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// The name `fd` is bound to, as `NOTIFY_SOCKET` gives it: a path, or an
/// abstract name as `@name` (its leading NUL shown as `@`). One way for
/// both: the kernel's answer, not the address asked for.
fn bound_name(fd: RawFd) -> Result<Vec<u8>, Errno> {
    let mut addr = MaybeUninit::<libc::sockaddr_un>::zeroed();
    let mut len = size_of::<libc::sockaddr_un>() as libc::socklen_t;
    // SAFETY: getsockname writes at most `len` bytes into `addr`.
    if unsafe { libc::getsockname(fd, addr.as_mut_ptr().cast(), &mut len) } != 0 {
        return Err(Errno::last());
    }
    // SAFETY: zero-initialised, then (partly) filled by the kernel.
    let addr = unsafe { addr.assume_init() };
    let used = (len as usize).saturating_sub(size_of::<libc::sa_family_t>());
    // SAFETY: `c_char` and `u8` have one size; within `sun_path`.
    let path: &[u8] = unsafe {
        std::slice::from_raw_parts(
            addr.sun_path.as_ptr().cast(),
            used.clamp(1, addr.sun_path.len()),
        )
    };
    // A path ends at its NUL; an abstract name (no NUL in it) at `used`.
    let end = path[1..]
        .iter()
        .position(|&c| c == 0)
        .map_or(path.len(), |i| i + 1);
    let mut name = path[..end].to_vec();
    if name[0] == 0 {
        name[0] = b'@';
    }
    Ok(name)
}

/// A non-blocking, close-on-exec datagram unix socket.
fn dgram_socket() -> Result<OwnedFd, Errno> {
    // SAFETY: socket(2) with constant arguments; the result is a fresh
    // descriptor or -1.
    let raw = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if raw < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The address of `name` as `NOTIFY_SOCKET` gives it: `@name` is abstract
/// (a NUL in place of the `@`, then exactly its bytes), anything else a
/// path (with its NUL), empty only the family (autobind). One builder for
/// the socket and the client.
fn sockaddr(name: &[u8]) -> Result<(libc::sockaddr_un, libc::socklen_t), Errno> {
    // SAFETY: all zeroes is a valid sockaddr_un.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    // No NUL to look for: both names come from C strings (the socket's
    // `Address`, the client's environment variable).
    if name.len() >= addr.sun_path.len() {
        return Err(Errno(libc::EINVAL));
    }
    let abstract_name = name.first() == Some(&b'@');
    // Zipped: no bounds check per byte (the length was checked above); an
    // abstract name's `@` is skipped, its place left NUL.
    let at = usize::from(abstract_name);
    for (to, &b) in addr.sun_path.iter_mut().zip(name).skip(at) {
        *to = b as libc::c_char;
    }
    let nul = usize::from(!abstract_name && !name.is_empty());
    let len = size_of::<libc::sa_family_t>() + name.len() + nul;
    Ok((addr, len as libc::socklen_t))
}

/// A socket to send to someone else's notify socket (the one hookinit
/// itself was given): unbound, non-blocking, the address kept for `sendto`.
pub struct NotifyClient {
    fd: OwnedFd,
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl NotifyClient {
    /// For `name` as `NOTIFY_SOCKET` gives it: a path, or `@name`.
    #[inline(never)]
    pub fn new(name: &[u8]) -> Result<NotifyClient, Errno> {
        if name.is_empty() || name == b"@" {
            return Err(Errno(libc::EINVAL));
        }
        let (addr, len) = sockaddr(name)?;
        Ok(NotifyClient {
            fd: dgram_socket()?,
            addr,
            len,
        })
    }

    /// Sends `msg` as one datagram, without blocking.
    pub fn send(&self, msg: &[u8]) -> Result<(), Errno> {
        loop {
            // SAFETY: `msg` and `addr` are live for the call.
            let n = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    msg.as_ptr().cast(),
                    msg.len(),
                    libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
                    (&self.addr as *const libc::sockaddr_un).cast(),
                    self.len,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            match Errno::last() {
                Errno(libc::EINTR) => continue,
                e => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    fn sender(name: &[u8]) -> UnixDatagram {
        let s = UnixDatagram::unbound().unwrap();
        match name.strip_prefix(b"@") {
            Some(abs) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(abs).unwrap();
                s.connect_addr(&addr).unwrap();
            }
            None => s.connect(std::str::from_utf8(name).unwrap()).unwrap(),
        }
        s
    }

    #[test]
    fn an_autobound_socket_hears_its_sender_with_its_pid() {
        let sock = NotifySocket::bind(&Address::default()).unwrap();
        assert!(sock.name().starts_with(b"@") && sock.name().len() > 1);
        let mut buf = [0u8; 64];
        assert!(sock.recv(&mut buf).unwrap().is_none());
        sender(sock.name()).send(b"READY=1").unwrap();
        let d = sock.recv(&mut buf).unwrap().unwrap();
        assert_eq!(
            (&buf[..d.len], d.pid, d.fds.count),
            (&b"READY=1"[..], std::process::id() as i32, 0)
        );
    }

    #[test]
    fn a_client_reaches_an_abstract_and_a_path_socket() {
        let sock = NotifySocket::bind(&Address::default()).unwrap();
        NotifyClient::new(sock.name())
            .unwrap()
            .send(b"READY=1")
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(sock.recv(&mut buf).unwrap().unwrap().len, 7);
        let dir = std::env::temp_dir().join(format!("hookinit-client-{}", std::process::id()));
        let path = CString::new(dir.to_str().unwrap()).unwrap();
        let sock = NotifySocket::bind(&path).unwrap();
        NotifyClient::new(sock.name())
            .unwrap()
            .send(b"X=1")
            .unwrap();
        assert_eq!(sock.recv(&mut buf).unwrap().unwrap().len, 3);
        let _ = std::fs::remove_file(dir);
        assert!(NotifyClient::new(b"@").is_err());
    }

    #[test]
    fn an_oversized_datagram_says_its_length() {
        let dir = std::env::temp_dir().join(format!("hookinit-notify-{}", std::process::id()));
        let path = CString::new(dir.to_str().unwrap()).unwrap();
        let sock = NotifySocket::bind(&path).unwrap();
        // A second bind replaces the socket file left behind.
        let sock2 = NotifySocket::bind(&path).unwrap();
        drop(sock);
        sender(sock2.name()).send(&[b'x'; 100]).unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(sock2.recv(&mut buf).unwrap().unwrap().len, 100);
        let _ = std::fs::remove_file(dir);
    }

    /// Sends `text` with `fd` attached (SCM_RIGHTS), as sd_notify_barrier does.
    fn send_with_fd(s: &UnixDatagram, text: &[u8], fd: RawFd) {
        let mut control = [0u64; 4];
        let mut iov = libc::iovec {
            iov_base: text.as_ptr() as *mut _,
            iov_len: text.len(),
        };
        // SAFETY: a msghdr over live locals; one SCM_RIGHTS message that
        // fits the control area.
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(size_of::<RawFd>() as u32) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
            assert_eq!(libc::sendmsg(s.as_raw_fd(), &msg, 0), text.len() as isize);
        }
    }

    #[test]
    fn a_barrier_is_answered_when_its_datagram_is_dropped_not_on_receipt() {
        use std::io::Read;
        let sock = NotifySocket::bind(&Address::default()).unwrap();
        let (r, w) = crate::os::spawn::pipe(libc::O_CLOEXEC | libc::O_NONBLOCK).unwrap();
        send_with_fd(&sender(sock.name()), b"BARRIER=1", w.as_raw_fd());
        drop(w);
        let mut answer = std::fs::File::from(r);
        let mut byte = [0u8; 1];
        let mut buf = [0u8; 64];
        let d = sock.recv(&mut buf).unwrap().unwrap();
        assert_eq!((&buf[..d.len], d.fds.count), (&b"BARRIER=1"[..], 1));
        // Read and looked at, not yet handled: the sender still waits.
        let waiting = answer.read(&mut byte).unwrap_err();
        assert_eq!(waiting.kind(), std::io::ErrorKind::WouldBlock);
        drop(d);
        // A child that another test forked holds a copy until its exec:
        // wait for the end of file rather than expect it at once.
        let mut ready = libc::pollfd {
            fd: answer.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one pollfd on the stack.
        assert_eq!(unsafe { libc::poll(&mut ready, 1, 10_000) }, 1);
        assert_eq!(answer.read(&mut byte).unwrap(), 0, "the barrier's answer");
    }
}
