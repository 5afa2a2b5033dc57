//! The kernel's TCP socket statistics, for the drain: `NETLINK_SOCK_DIAG`
//! dumps (`inet_diag` with `tcp_info`) and `/proc/net/snmp`'s count of
//! accepted connections. Read into the caller's buffers: nothing allocates.

use crate::os::errno::Errno;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NETLINK_SOCK_DIAG: i32 = 4;
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const INET_DIAG_INFO: u16 = 2;
/// `TCP_LISTEN` and `TCP_TIME_WAIT` in `inet_diag_msg.idiag_state`.
pub const TCP_LISTEN: u8 = 10;
pub const TCP_TIME_WAIT: u8 = 6;
/// Offsets in `struct tcp_info` (stable ABI: fields are only appended).
const TCPI_LAST_DATA_RECV: usize = 52;
const INET_DIAG_MSG_LEN: usize = 72;
const NLMSG_HDR_LEN: usize = 16;

/// One socket of a dump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sock {
    pub state: u8,
    pub local_port: u16,
    /// The kernel's socket cookie: unique while the socket lives.
    pub cookie: u64,
    /// Listening: connections waiting to be accepted; else bytes unread.
    pub rqueue: u32,
    /// Milliseconds since data last came in (or since the connection was
    /// made); `None` without `tcp_info` (a TIME_WAIT socket).
    pub last_data_recv_ms: Option<u32>,
}

pub struct SockDiag {
    fd: OwnedFd,
    seq: u32,
}

impl SockDiag {
    pub fn open() -> Result<SockDiag, Errno> {
        // SAFETY: socket(2) with integer arguments; a fresh descriptor or -1.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                NETLINK_SOCK_DIAG,
            )
        };
        if raw < 0 {
            return Err(Errno::last());
        }
        // SAFETY: a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(SockDiag { fd, seq: 0 })
    }

    /// Every TCP socket of `family` (AF_INET or AF_INET6) in this network
    /// namespace, each given to `f`. `buf` holds one batch of the answer
    /// (8 KB or more: the kernel's batches fit). `dyn`: one copy of this
    /// code for every caller.
    pub fn dump(
        &mut self,
        family: u8,
        buf: &mut [u8],
        f: &mut dyn FnMut(&Sock),
    ) -> Result<(), Errno> {
        self.seq = self.seq.wrapping_add(1);
        let mut req = [0u8; NLMSG_HDR_LEN + 56];
        let len = req.len() as u32;
        req[0..4].copy_from_slice(&len.to_ne_bytes());
        req[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
        req[6..8].copy_from_slice(&flags.to_ne_bytes());
        req[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        // inet_diag_req_v2: family, protocol, extensions, pad, states.
        req[16] = family;
        req[17] = libc::IPPROTO_TCP as u8;
        req[18] = 1 << (INET_DIAG_INFO - 1);
        req[20..24].copy_from_slice(&u32::MAX.to_ne_bytes());
        // SAFETY: sending our own buffer, at most its length, to the kernel
        // (the default destination of a netlink socket).
        let n = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if n < 0 {
            return Err(Errno::last());
        }
        loop {
            // The kernel fills each batch as we read it: no wait. A reply
            // that does not come (it always does) errs rather than blocks.
            // SAFETY: reading into our own buffer, at most its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = Errno::last();
                if e.0 == libc::EINTR {
                    continue;
                }
                return Err(e);
            }
            let mut at = 0usize;
            let n = n as usize;
            while at + NLMSG_HDR_LEN <= n {
                let len = u32_at(buf, at) as usize;
                let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                let seq = u32_at(buf, at + 8);
                if len < NLMSG_HDR_LEN || at + len > n {
                    return Err(Errno(libc::EPROTO));
                }
                if seq == self.seq {
                    match kind {
                        NLMSG_DONE => return Ok(()),
                        NLMSG_ERROR => {
                            let code = u32_at(buf, at + NLMSG_HDR_LEN) as i32;
                            return Err(Errno(if code < 0 { -code } else { libc::EPROTO }));
                        }
                        SOCK_DIAG_BY_FAMILY => {
                            if let Some(sock) = parse(&buf[at + NLMSG_HDR_LEN..at + len]) {
                                f(&sock);
                            }
                        }
                        _ => {}
                    }
                }
                at += (len + 3) & !3;
            }
        }
    }
}

/// The native-endian `u32` at `i` (one copy for the messages and their
/// attributes).
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_ne_bytes(b[i..i + 4].try_into().unwrap_or_default())
}

/// One `inet_diag_msg` and its attributes.
fn parse(msg: &[u8]) -> Option<Sock> {
    if msg.len() < INET_DIAG_MSG_LEN {
        return None;
    }
    let mut sock = Sock {
        state: msg[1],
        // inet_diag_sockid at 4: sport (big-endian) first, the cookie at 44.
        local_port: u16::from_be_bytes([msg[4], msg[5]]),
        cookie: u32_at(msg, 44) as u64 | ((u32_at(msg, 48) as u64) << 32),
        rqueue: u32_at(msg, 56),
        ..Sock::default()
    };
    let mut at = INET_DIAG_MSG_LEN;
    while at + 4 <= msg.len() {
        let len = u16::from_ne_bytes([msg[at], msg[at + 1]]) as usize;
        let kind = u16::from_ne_bytes([msg[at + 2], msg[at + 3]]);
        if len < 4 || at + len > msg.len() {
            break;
        }
        let info = &msg[at + 4..at + len];
        if kind == INET_DIAG_INFO && info.len() >= TCPI_LAST_DATA_RECV + 4 {
            sock.last_data_recv_ms = Some(u32_at(info, TCPI_LAST_DATA_RECV));
        }
        at += (len + 3) & !3;
    }
    Some(sock)
}

/// `/proc/net/snmp`'s `Tcp: PassiveOpens`: connections this network
/// namespace accepted, ever (a counter no socket's end can take back).
pub fn passive_opens() -> Result<u64, Errno> {
    let mut buf = [0u8; 4096];
    let n = crate::os::proc::read_file(c"/proc/net/snmp", &mut buf)?;
    let text = &buf[..n];
    let mut lines = text
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"Tcp:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return Err(Errno(libc::EPROTO));
    };
    let index = names
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .position(|w| w == b"PassiveOpens")
        .ok_or(Errno(libc::EPROTO))?;
    let value = values
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .nth(index)
        .ok_or(Errno(libc::EPROTO))?;
    crate::os::text::decimal(value).ok_or(Errno(libc::EPROTO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    /// A real dump sees a listener, its accepted connection with the bytes
    /// it received, and the accept counter moves.
    #[test]
    fn a_dump_sees_a_listener_and_its_connection_bytes() {
        let Ok(mut diag) = SockDiag::open() else {
            eprintln!("no NETLINK_SOCK_DIAG here: skipped");
            return;
        };
        let opens = passive_opens().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        server.read_exact(&mut got).unwrap();
        assert!(passive_opens().unwrap() > opens);
        let mut buf = [0u8; 16384];
        let mut seen = Vec::new();
        diag.dump(libc::AF_INET as u8, &mut buf, &mut |s| {
            if s.local_port == port {
                seen.push(*s)
            }
        })
        .unwrap();
        let listen = seen.iter().find(|s| s.state == TCP_LISTEN).unwrap();
        assert_eq!(listen.rqueue, 0);
        let conn = seen.iter().find(|s| s.state != TCP_LISTEN).unwrap();
        assert!(conn.last_data_recv_ms.unwrap() < 1000);
        assert_ne!(conn.cookie, 0);
    }
}
