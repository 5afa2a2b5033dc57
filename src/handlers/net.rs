//! Opening a TCP connection within a deadline, shared by the handlers that
//! connect (`tcpSocket`, `httpGet`, `grpc`); each words the errors its own way.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

/// Why no connection opened.
#[derive(Debug)]
pub enum DialError {
    /// The host name did not resolve: std's words for musl's error.
    Lookup(&'static str),
    /// It resolved to no address.
    NoAddress,
    /// The deadline passed first.
    Timeout,
    /// The last address tried failed (refused, unreachable, ...).
    Connect(SocketAddr, io::Error),
}

impl DialError {
    /// The hooks' wording, `target` being `host:port`.
    pub fn text(&self, target: &str) -> String {
        match self {
            DialError::Lookup(e) => format!("cannot resolve {target}: {e}"),
            DialError::NoAddress => format!("{target}: no address"),
            DialError::Timeout => format!("connect to {target}: timed out"),
            DialError::Connect(_, e) => format!("connect to {target}: {e}"),
        }
    }
}

/// Connects to the first address of `host` (a name or an IP literal, not
/// bracketed) that accepts, each attempt given the time left before
/// `deadline` (`None`: no deadline, the kernel's own connect timeout).
pub fn dial(host: &str, port: u16, deadline: Option<Instant>) -> Result<TcpStream, DialError> {
    let addrs = super::resolve::lookup(host).map_err(DialError::Lookup)?;
    let mut last = DialError::NoAddress;
    for ip in addrs {
        let addr = SocketAddr::new(ip, port);
        let attempt = match deadline {
            None => TcpStream::connect(addr),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(DialError::Timeout);
                }
                TcpStream::connect_timeout(&addr, left)
            }
        };
        match attempt {
            Ok(sock) => return Ok(sock),
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
                last = DialError::Timeout
            }
            Err(e) => last = DialError::Connect(addr, e),
        }
    }
    Err(last)
}
