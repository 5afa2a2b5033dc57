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
/// (it would stay readable and spin the loop).
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
        let oldest = self.conns.iter().flatten().map(|c| c.accepted).min();
        [oldest.map(|at| at + CONN_DEADLINE), self.paused_until]
            .into_iter()
            .flatten()
            .min()
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
            if slot
                .as_ref()
                .is_some_and(|c| now >= c.accepted + CONN_DEADLINE)
            {
                if let Some(c) = slot.take() {
                    listener::abort(c.fd);
                }
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
                    let (i, _) = self
                        .conns
                        .iter()
                        .enumerate()
                        .filter_map(|(i, c)| c.as_ref().map(|c| (i, c.accepted)))
                        .min_by_key(|&(_, at)| at)
                        .unwrap_or((0, now));
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
                            "accepting a connection failed: {e}; pausing for {}",
                            events::secs(ACCEPT_PAUSE)
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
        let verdict = match listener::recv(conn.fd.as_raw_fd(), &mut buf) {
            // Connected and gone without a word (a TCP check): no answer.
            Ok(0) if !conn.request.started() => {
                if let Some(c) = self.conns[i].take() {
                    listener::finish(c.fd);
                }
                return;
            }
            Ok(0) => conn.request.at_end(),
            Ok(n) => conn.request.feed(&buf[..n]),
            Err(Errno(libc::EAGAIN | libc::EINTR)) => return,
            // Reset, or any other failure: nothing to answer.
            Err(_) => {
                if let Some(c) = self.conns[i].take() {
                    listener::abort(c.fd);
                }
                return;
            }
        };
        let answer = match verdict {
            Verdict::More => return,
            Verdict::Complete(Method::Get) => response(status, true),
            Verdict::Complete(Method::Head) => response(status, false),
            Verdict::Complete(Method::Other) => METHOD_NOT_ALLOWED,
            Verdict::Bad => BAD_REQUEST,
        };
        if let Some(c) = self.conns[i].take() {
            // A fresh connection's send buffer takes these few bytes whole;
            // if not, the client is told nothing more.
            let _ = listener::send(c.fd.as_raw_fd(), answer);
            listener::finish(c.fd);
        }
    }
}

fn response(status: Status, body: bool) -> &'static [u8] {
    let (with, without): (&[u8], &[u8]) = match status {
        Status::Ready => (OK, OK_HEAD),
        Status::NotReady => (NOT_READY, NOT_READY_HEAD),
        Status::Stopping => (STOPPING, STOPPING_HEAD),
    };
    match body {
        true => with,
        false => without,
    }
}

/// The answers, whole (status line, headers, body).
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 6\r\n\r\nready\n";
const OK_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 6\r\n\r\n";
const NOT_READY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 10\r\n\r\nnot ready\n";
const NOT_READY_HEAD: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 10\r\n\r\n";
const STOPPING: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 9\r\n\r\nstopping\n";
const STOPPING_HEAD: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 9\r\n\r\n";
const METHOD_NOT_ALLOWED: &[u8] = b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 19\r\n\r\nmethod not allowed\n";
const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 12\r\n\r\nbad request\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_has_the_length_it_announces() {
        for a in [OK, NOT_READY, STOPPING, METHOD_NOT_ALLOWED, BAD_REQUEST] {
            let text = std::str::from_utf8(a).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(len, body.len(), "{text}");
        }
        for (with, without) in [
            (OK, OK_HEAD),
            (NOT_READY, NOT_READY_HEAD),
            (STOPPING, STOPPING_HEAD),
        ] {
            assert!(with.starts_with(without));
            assert!(without.ends_with(b"\r\n\r\n"));
        }
    }
}
