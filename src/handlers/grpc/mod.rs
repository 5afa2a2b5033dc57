//! The `grpc` probe: `grpc.health.v1.Health/Check` over cleartext HTTP/2
//! ("prior knowledge" h2c), with the kubelet's results and messages
//! (`pkg/probe/grpc/grpc.go`).
//!
//! A small client of our own: the connection preface, SETTINGS, one HEADERS
//! frame whose HPACK block holds only literals, one DATA frame; then frames
//! are read until the end of stream 1, header blocks decoded with a real
//! HPACK decoder (dynamic table, Huffman), `grpc-status` and the response's
//! `status` field read. It runs in a forked child (see [`crate::handlers::runner`]):
//! blocking I/O with socket timeouts and heap allocation are fine here.
//!
//! - [`h2`]: HTTP/2 framing; [`hpack`]: header compression;
//! - [`health`]: the Health/Check request and its outcome.

mod h2;
mod health;
mod hpack;

use crate::handlers::Outcome;
use crate::os::text::Quoted;
use crate::spec::handler::host_port;
use h2::Conn;
use hpack::Hpack;
use std::fmt::Write as _;
use std::io::{self, ErrorKind};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// grpc.health.v1.Health/Check against host:port over cleartext HTTP/2,
/// bounded by `timeout` (connect + RPC), with the kubelet's messages: a
/// success only on SERVING ("service healthy"), else a failure.
pub fn check(host: &str, port: u16, service: &str, timeout: Duration) -> Outcome {
    let addr = host_port(host, port);
    let within = go_duration(timeout);
    let deadline = Instant::now() + timeout;
    let sock = match connect(host, port, timeout) {
        Ok(sock) => sock,
        Err(ConnectError {
            timed_out: true,
            text,
        }) => {
            return Outcome::failure(format!(
                "timeout: failed to connect service {} within {within}: {text}",
                Quoted(&addr)
            ))
        }
        Err(ConnectError {
            timed_out: false,
            text,
        }) => {
            return Outcome::failure(format!(
                "error: failed to connect service at {}: {text}",
                Quoted(&addr)
            ))
        }
    };
    let mut conn = Conn::new(sock, deadline, Hpack::new(4096));
    Outcome::failure(match health::call(&mut conn, &addr, service) {
        Ok(1) => return Outcome::success("service healthy".to_string()),
        Ok(status) => {
            let names = "UNKNOWN SERVING NOT_SERVING SERVICE_UNKNOWN";
            let name = nth_name(names, status, || status.to_string());
            format!("service unhealthy (responded with {})", Quoted(&name))
        }
        Err(Failure::Timeout) | Err(Failure::Status(DEADLINE_EXCEEDED, _)) => {
            format!("timeout: health rpc did not complete within {within}")
        }
        Err(Failure::Status(UNIMPLEMENTED, desc)) => format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {desc}"
        ),
        Err(Failure::Status(code, desc)) => format!(
            "error: health rpc probe failed: rpc error: code = {} desc = {desc}",
            code_name(code)
        ),
    })
}

/// Why no connection opened: whether it timed out, and Go's text.
struct ConnectError {
    timed_out: bool,
    text: String,
}

/// Connects within `timeout`.
fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, ConnectError> {
    use crate::handlers::net::DialError;
    let error = |timed_out, text| Err(ConnectError { timed_out, text });
    match crate::handlers::net::dial(host, port, Some(Instant::now() + timeout)) {
        Ok(sock) => {
            let _ = sock.set_nodelay(true);
            Ok(sock)
        }
        // Lower case already, as go_error would make it.
        Err(DialError::Lookup(e)) => error(false, format!("dial tcp: lookup {host}: {e}")),
        Err(DialError::NoAddress) => error(false, format!("dial tcp: lookup {host}: no such host")),
        Err(DialError::Timeout) => error(true, "context deadline exceeded".to_string()),
        Err(DialError::Connect(addr, e)) => error(
            false,
            format!(
                "dial tcp {}: connect: {}",
                host_port(&addr.ip().to_string(), port),
                go_error(&e)
            ),
        ),
    }
}

/// An OS error as Go prints it: `connection refused`, not
/// `Connection refused (os error 111)`.
fn go_error(e: &io::Error) -> String {
    let text = e.to_string();
    let text = crate::os::text::split_once(&text, " (os error").map_or(text.as_str(), |(t, _)| t);
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_lowercase().to_string() + chars.as_str()
    })
}

/// A Go `time.Duration` as `%v` prints it: `1s`, `1.5s`, `500ms`, `1m30s`.
fn go_duration(d: Duration) -> String {
    // v is under 6 * 10^10 here: u64, not u128, formatting.
    fn frac(out: &mut String, v: u64, digits: usize) {
        let div = 10u64.pow(digits as u32);
        let _ = write!(out, "{}", v / div);
        if !v.is_multiple_of(div) {
            let f = format!("{:0digits$}", v % div);
            let _ = write!(out, ".{}", crate::os::text::trim_end_byte(&f, b'0'));
        }
    }
    let ns = d.as_nanos();
    let mut out = String::new();
    match ns {
        0 => out.push('0'),
        1..=999 => frac(&mut out, ns as u64, 0),
        1_000..=999_999 => frac(&mut out, ns as u64, 3),
        1_000_000..=999_999_999 => frac(&mut out, ns as u64, 6),
        _ => {
            let (h, m) = (d.as_secs() / 3600, d.as_secs() / 60 % 60);
            if h > 0 {
                let _ = write!(out, "{h}h");
            }
            if h > 0 || m > 0 {
                let _ = write!(out, "{m}m");
            }
            frac(&mut out, (ns % 60_000_000_000) as u64, 9);
        }
    }
    out.push_str(match ns {
        1..=999 => "ns",
        1_000..=999_999 => "µs",
        1_000_000..=999_999_999 => "ms",
        _ => "s",
    });
    out
}

/// How an RPC ended, when not with a response message.
#[derive(Debug, PartialEq, Eq)]
enum Failure {
    /// The deadline passed (locally).
    Timeout,
    /// A gRPC status code and description, received or synthesized.
    Status(u32, String),
}

const DEADLINE_EXCEEDED: u32 = 4;
const UNIMPLEMENTED: u32 = 12;
const INTERNAL: u32 = 13;
const UNAVAILABLE: u32 = 14;

/// The gRPC status codes' names, as grpc-go prints them.
const CODE_NAMES: &str = "OK Canceled Unknown InvalidArgument DeadlineExceeded NotFound \
    AlreadyExists PermissionDenied ResourceExhausted FailedPrecondition Aborted OutOfRange \
    Unimplemented Internal Unavailable DataLoss Unauthenticated";

/// The `i`th name of a space-separated list, else `fallback`.
fn nth_name(list: &str, i: u64, fallback: impl FnOnce() -> String) -> String {
    let name = list.split_whitespace().nth(i as usize);
    name.map_or_else(fallback, str::to_string)
}

fn code_name(code: u32) -> String {
    nth_name(CODE_NAMES, code.into(), || format!("Code({code})"))
}

fn internal(desc: impl Into<String>) -> Failure {
    Failure::Status(INTERNAL, desc.into())
}

fn io_failure(e: io::Error) -> Failure {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Status(UNAVAILABLE, format!("connection error: {}", go_error(&e))),
    }
}

#[cfg(test)]
fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        let d = Duration::from_millis;
        assert_eq!(go_duration(d(1000)), "1s");
        assert_eq!(go_duration(d(1500)), "1.5s");
        assert_eq!(go_duration(d(500)), "500ms");
        assert_eq!(go_duration(d(90_000)), "1m30s");
        assert_eq!(go_duration(d(3_600_000)), "1h0m0s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(code_name(5), "NotFound");
        assert_eq!(code_name(99), "Code(99)");
        assert_eq!(
            go_error(&io::Error::from_raw_os_error(libc::ECONNREFUSED)),
            "connection refused"
        );
    }
}
