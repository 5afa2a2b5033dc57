//! The readiness endpoint (`HOOKINIT_READINESS_ADDRESS`): HTTP that a load
//! balancer or the kubelet polls, 200 exactly while the ready file would
//! exist, 503 otherwise and from the first instant of a stop.
//!
//! PID 1 facing the network, so it is small and bounded: at most
//! [`MAX_CONNS`] connections (a new one pushes out the oldest), each closed
//! [`CONN_DEADLINE`] after it was accepted whatever it sent, one fixed-size
//! read per wake-up, a fixed answer, no allocation, non-blocking sockets
//! polled by the supervisor's one loop, and nothing a client sends is kept
//! beyond the few bytes that tell GET from HEAD. `Connection: close` always.

pub mod request;

use crate::events::{self, Level};
use crate::os::errno::Errno;
use crate::os::listener::{self, Listener};
use request::{Method, Request, Verdict};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Connections served at once.
pub const MAX_CONNS: usize = 8;
/// From accept to close, whatever happens: a slow client gets nothing.
pub const CONN_DEADLINE: Duration = Duration::from_secs(2);
/// Connections accepted and not yet taken, kept by the kernel.
const BACKLOG: i32 = 16;
/// Bytes read per wake-up and connection.
const READ_SIZE: usize = 512;
/// Accepts per wake-up: a flood cannot hold the loop from its signals.
const ACCEPT_BATCH: usize = 16;
/// After accept fails for want of descriptors or memory, the listener rests
/// (it would stay readable and spin the loop). Its event says "0.1s".
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What the endpoint says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ready,
    NotReady,
    /// A stop is under way (or the app has exited).
    Stopping,
}

struct Conn {
    fd: OwnedFd,
    accepted: Instant,
    request: Request,
}

pub struct Endpoint {
    listener: Listener,
    conns: [Option<Conn>; MAX_CONNS],
    /// The listener is not polled until then (accept failed).
    paused_until: Option<Instant>,
    accept_failures: u32,
    /// Connections accepted, ever (the drain tells them from the app's).
    accepted: u64,
}

impl Endpoint {
    /// Binds and listens (at start-up: before the app, so that a taken
    /// port stops hookinit before anything runs).
    pub fn open(addr: SocketAddr) -> Result<Endpoint, Errno> {
        Ok(Endpoint {
            listener: Listener::bind(addr, BACKLOG)?,
            conns: Default::default(),
            paused_until: None,
            accept_failures: 0,
            accepted: 0,
        })
    }

    /// Connections accepted since start-up.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Every descriptor to poll for input: the listener (unless it rests)
    /// and each open connection.
    pub fn poll_interests(&self, mut f: impl FnMut(RawFd)) {
        if self.paused_until.is_none() {
            f(self.listener.fd());
        }
        for conn in self.conns.iter().flatten() {
            f(conn.fd.as_raw_fd());
        }
    }

    /// The next deadline: a connection's, or the end of the listener's rest.
    pub fn wake_at(&self) -> Option<Instant> {
        // A loop: the chain of `Option` adaptors it replaces took 340 bytes.
        let mut at = self.paused_until;
        for c in self.conns.iter().flatten() {
            let deadline = c.accepted + CONN_DEADLINE;
            at = Some(at.map_or(deadline, |a| a.min(deadline)));
        }
        at
    }

    /// `fd` (one [`Self::poll_interests`] gave) is ready; `status` is what
    /// a complete request is answered.
    pub fn on_ready(&mut self, fd: RawFd, now: Instant, status: Status) {
        if fd == self.listener.fd() {
            self.accept_some(now, status);
            return;
        }
        if let Some(i) = self
            .conns
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.fd.as_raw_fd() == fd))
        {
            self.serve(i, status);
        }
    }

    /// Closes connections past their deadline; ends the listener's rest.
    pub fn on_time(&mut self, now: Instant) {
        for slot in self.conns.iter_mut() {
            if let Some(c) = slot.take_if(|c| now >= c.accepted + CONN_DEADLINE) {
                listener::abort(c.fd);
            }
        }
        if self.paused_until.is_some_and(|at| now >= at) {
            self.paused_until = None;
        }
    }

    fn accept_some(&mut self, now: Instant, status: Status) {
        for _ in 0..ACCEPT_BATCH {
            let fd = match self.listener.accept() {
                Ok(Some(fd)) => fd,
                Ok(None) => break,
                Err(e) => {
                    self.accept_failed(e, now);
                    break;
                }
            };
            self.accept_failures = 0;
            self.accepted += 1;
            let i = match self.conns.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    // Full: the oldest goes (a health check answers at
                    // once; what lingers is the least likely to be one).
                    // (A loop: every slot is taken.)
                    let at = |i: usize| self.conns[i].as_ref().map(|c| c.accepted);
                    let i = (1..MAX_CONNS).fold(0, |old, i| if at(i) < at(old) { i } else { old });
                    if let Some(c) = self.conns[i].take() {
                        listener::abort(c.fd);
                    }
                    i
                }
            };
            self.conns[i] = Some(Conn {
                fd,
                accepted: now,
                request: Request::default(),
            });
            // The request often came with the connection: answer it now.
            self.serve(i, status);
        }
    }

    #[inline(never)]
    fn accept_failed(&mut self, e: Errno, now: Instant) {
        match e.0 {
            // The peer gave up before we took it, or a signal: nothing to do.
            libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM => {}
            _ => {
                if self.accept_failures == 0 {
                    events::log(
                        Level::Warn,
                        "ReadinessEndpoint",
                        format_args!(
                            // ACCEPT_PAUSE, written out: one argument less.
                            "accepting a connection failed: {e}; pausing for 0.1s"
                        ),
                    );
                }
                self.accept_failures = self.accept_failures.saturating_add(1);
                self.paused_until = Some(now + ACCEPT_PAUSE);
            }
        }
    }

    /// One read on connection `i`; answers a complete request, closes a bad,
    /// reset or half-closed one.
    fn serve(&mut self, i: usize, status: Status) {
        let Some(conn) = self.conns[i].as_mut() else {
            return;
        };
        let mut buf = [0u8; READ_SIZE];
        // What becomes of the connection (one `take` for every end): an
        // answer then FIN, a FIN alone (`None`), or a reset.
        let (verdict, reset) = match listener::recv(conn.fd.as_raw_fd(), &mut buf) {
            // Connected and gone without a word (a TCP check): no answer.
            Ok(0) if !conn.request.started() => (None, false),
            Ok(0) => (Some(conn.request.at_end()), false),
            Ok(n) => (Some(conn.request.feed(&buf[..n])), false),
            Err(Errno(libc::EAGAIN | libc::EINTR)) => return,
            // Reset, or any other failure: nothing to answer.
            Err(_) => (None, true),
        };
        if verdict == Some(Verdict::More) {
            return;
        }
        let Some(c) = self.conns[i].take() else {
            return;
        };
        if reset {
            return listener::abort(c.fd);
        }
        if let Some(verdict) = verdict {
            let (line, body, with_body) = answer(verdict, status);
            let mut out = [0u8; 192];
            let len = write_answer(&mut out, line, body, with_body);
            // A fresh connection's send buffer takes these few bytes whole;
            // if not, the client is told nothing more.
            let _ = listener::send(c.fd.as_raw_fd(), &out[..len]);
        }
        listener::finish(c.fd);
    }
}

/// The answer's status line and body; the headers between are common.
fn answer(verdict: Verdict, status: Status) -> (&'static [u8], &'static [u8], bool) {
    let (line, body): (&[u8], &[u8]) = match (verdict, status) {
        (Verdict::Complete(Method::Other), _) => (
            b"405 Method Not Allowed\r\nAllow: GET, HEAD",
            b"method not allowed\n",
        ),
        (Verdict::Complete(_), Status::Ready) => (b"200 OK", b"ready\n"),
        (Verdict::Complete(_), Status::NotReady) => (b"503 Service Unavailable", b"not ready\n"),
        (Verdict::Complete(_), Status::Stopping) => (b"503 Service Unavailable", b"stopping\n"),
        _ => (b"400 Bad Request", b"bad request\n"),
    };
    (line, body, verdict != Verdict::Complete(Method::Head))
}

/// The whole answer, in `out` (large enough for every one): its length.
fn write_answer(out: &mut [u8; 192], line: &[u8], body: &[u8], with_body: bool) -> usize {
    // Every body is shorter than 100 bytes.
    let digits = [
        b'0' + (body.len() / 10) as u8,
        b'0' + (body.len() % 10) as u8,
    ];
    let parts: [&[u8]; 6] = [
        b"HTTP/1.1 ",
        line,
        b"\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: ",
        &digits[usize::from(body.len() < 10)..],
        b"\r\n\r\n",
        if with_body { body } else { b"" },
    ];
    let mut at = 0;
    for p in parts {
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_has_the_length_it_announces() {
        let verdicts = [
            Verdict::Complete(Method::Get),
            Verdict::Complete(Method::Head),
            Verdict::Complete(Method::Other),
            Verdict::Bad,
        ];
        for v in verdicts {
            for st in [Status::Ready, Status::NotReady, Status::Stopping] {
                let (line, body, with_body) = answer(v, st);
                let mut out = [0u8; 192];
                let n = write_answer(&mut out, line, body, with_body);
                let text = std::str::from_utf8(&out[..n]).unwrap();
                let (head, rest) = text.split_once("\r\n\r\n").unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                assert_eq!(len, body.len(), "{text}");
                assert_eq!(rest.len(), if with_body { len } else { 0 }, "{text}");
            }
        }
        let (line, body, _) = answer(Verdict::Complete(Method::Get), Status::Ready);
        let mut out = [0u8; 192];
        let n = write_answer(&mut out, line, body, true);
        assert_eq!(
            &out[..n],
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 6\r\n\r\nready\n"
        );
    }
}
