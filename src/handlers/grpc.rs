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

use crate::spec::handler::host_port;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// grpc.health.v1.Health/Check against host:port over cleartext HTTP/2,
/// bounded by `timeout` (connect + RPC). Returns (healthy, message) with the
/// kubelet's messages: healthy only on SERVING, message "service healthy".
pub fn check(host: &str, port: u16, service: &str, timeout: Duration) -> (bool, String) {
    let addr = host_port(host, port);
    let within = go_duration(timeout);
    let deadline = Instant::now() + timeout;
    let sock = match connect(host, port, timeout) {
        Ok(sock) => sock,
        Err((true, e)) => {
            let msg = format!("timeout: failed to connect service {addr:?} within {within}: {e}");
            return (false, msg);
        }
        Err((false, e)) => {
            return (
                false,
                format!("error: failed to connect service at {addr:?}: {e}"),
            )
        }
    };
    let mut conn = Conn {
        sock,
        deadline,
        buf: Vec::new(),
        hpack: Hpack::new(4096),
    };
    match conn.call(&addr, service) {
        Ok(1) => (true, "service healthy".to_string()),
        Ok(status) => {
            let names = "UNKNOWN SERVING NOT_SERVING SERVICE_UNKNOWN";
            let name = nth_name(names, status, || status.to_string());
            (false, format!("service unhealthy (responded with {name:?})"))
        }
        Err(Failure::Timeout) | Err(Failure::Status(DEADLINE_EXCEEDED, _)) => {
            (false, format!("timeout: health rpc did not complete within {within}"))
        }
        Err(Failure::Status(UNIMPLEMENTED, desc)) => (
            false,
            format!("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {desc}"),
        ),
        Err(Failure::Status(code, desc)) => (
            false,
            format!("error: health rpc probe failed: rpc error: code = {} desc = {desc}", code_name(code)),
        ),
    }
}

/// Connects within `timeout`; on failure, whether it timed out and Go's text.
fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, (bool, String)> {
    use crate::handlers::net::DialError;
    match crate::handlers::net::dial(host, port, Some(Instant::now() + timeout)) {
        Ok(sock) => {
            let _ = sock.set_nodelay(true);
            Ok(sock)
        }
        Err(DialError::Lookup(e)) => {
            Err((false, format!("dial tcp: lookup {host}: {}", go_error(&e))))
        }
        Err(DialError::NoAddress) => Err((false, format!("dial tcp: lookup {host}: no such host"))),
        Err(DialError::Timeout) => Err((true, "context deadline exceeded".to_string())),
        Err(DialError::Connect(addr, e)) => Err((
            false,
            format!(
                "dial tcp {}: connect: {}",
                host_port(&addr.ip().to_string(), port),
                go_error(&e)
            ),
        )),
    }
}

/// An OS error as Go prints it: `connection refused`, not
/// `Connection refused (os error 111)`.
fn go_error(e: &io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or_default();
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_ascii_lowercase().to_string() + chars.as_str()
    })
}

/// A Go `time.Duration` as `%v` prints it: `1s`, `1.5s`, `500ms`, `1m30s`.
fn go_duration(d: Duration) -> String {
    fn frac(out: &mut String, v: u128, digits: usize) {
        let div = 10u128.pow(digits as u32);
        let _ = write!(out, "{}", v / div);
        if !v.is_multiple_of(div) {
            let f = format!("{:0digits$}", v % div);
            let _ = write!(out, ".{}", f.trim_end_matches('0'));
        }
    }
    let ns = d.as_nanos();
    let mut out = String::new();
    match ns {
        0 => out.push('0'),
        1..=999 => frac(&mut out, ns, 0),
        1_000..=999_999 => frac(&mut out, ns, 3),
        1_000_000..=999_999_999 => frac(&mut out, ns, 6),
        _ => {
            let (h, m) = (d.as_secs() / 3600, d.as_secs() / 60 % 60);
            if h > 0 {
                let _ = write!(out, "{h}h");
            }
            if h > 0 || m > 0 {
                let _ = write!(out, "{m}m");
            }
            frac(&mut out, ns % 60_000_000_000, 9);
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

/// The HTTP/2 error codes' names (RFC 9113 §7).
const H2_ERRORS: &str = "NO_ERROR PROTOCOL_ERROR INTERNAL_ERROR FLOW_CONTROL_ERROR \
    SETTINGS_TIMEOUT STREAM_CLOSED FRAME_SIZE_ERROR REFUSED_STREAM CANCEL COMPRESSION_ERROR \
    CONNECT_ERROR ENHANCE_YOUR_CALM INADEQUATE_SECURITY HTTP_1_1_REQUIRED";

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

fn h2_error(code: u32) -> String {
    nth_name(H2_ERRORS, code.into(), || {
        format!("unknown error code {code}")
    })
}

/// A big-endian u32 at `b[i..i + 4]`.
fn be32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const PATH: &str = "/grpc.health.v1.Health/Check";
const USER_AGENT: &str = "kube-probe/1.34 hookinit";
/// SETTINGS_MAX_FRAME_SIZE: the default, which the client does not change.
const MAX_FRAME: usize = 16384;
/// Bounds on what a server may make the client hold.
const MAX_HEADER_BLOCK: usize = 64 * 1024;
const MAX_BODY: usize = 1024 * 1024;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

fn frame(out: &mut Vec<u8>, ty: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[ty, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK "literal header field without indexing — new name", no Huffman.
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0);
    for s in [name, value] {
        encode_int(out, 7, 0, s.len());
        out.extend_from_slice(s.as_bytes());
    }
}

/// An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1).
fn encode_int(out: &mut Vec<u8>, n: u32, flags: u8, mut v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// What the response's header blocks say, as far as gRPC cares.
#[derive(Default)]
struct Response {
    status: Option<Vec<u8>>,
    grpc_status: Option<Vec<u8>>,
    grpc_message: Option<Vec<u8>>,
}

struct Conn {
    sock: TcpStream,
    deadline: Instant,
    /// Bytes read and not yet taken as frames.
    buf: Vec<u8>,
    hpack: Hpack,
}

impl Conn {
    fn remaining(&self) -> Result<Duration, Failure> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::Timeout);
        }
        Ok(left)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.sock
            .set_write_timeout(Some(self.remaining()?))
            .map_err(io_failure)?;
        self.sock.write_all(bytes).map_err(io_failure)
    }

    /// Reads until `n` bytes are buffered, each read bounded by the deadline.
    fn fill(&mut self, n: usize) -> Result<(), Failure> {
        let mut chunk = [0u8; MAX_FRAME];
        while self.buf.len() < n {
            self.sock
                .set_read_timeout(Some(self.remaining()?))
                .map_err(io_failure)?;
            match self.sock.read(&mut chunk) {
                Ok(0) => {
                    return Err(Failure::Status(
                        UNAVAILABLE,
                        "error reading from server: EOF".into(),
                    ))
                }
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_failure(e)),
            }
        }
        Ok(())
    }

    /// The next frame: type, flags, stream id, payload.
    fn frame(&mut self) -> Result<(u8, u8, u32, Vec<u8>), Failure> {
        self.fill(9)?;
        let h = &self.buf[..9];
        let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
        if len > MAX_FRAME {
            return Err(internal(format!("http2: frame too large ({len} bytes)")));
        }
        let (ty, flags) = (h[3], h[4]);
        let stream = be32(h, 5).unwrap_or(0) & 0x7fff_ffff;
        self.fill(9 + len)?;
        let payload = self.buf[9..9 + len].to_vec();
        self.buf.drain(..9 + len);
        Ok((ty, flags, stream, payload))
    }

    /// The whole RPC on stream 1: the response's `status` field, or how it failed.
    fn call(&mut self, authority: &str, service: &str) -> Result<u64, Failure> {
        let message = request(service);
        if message.len() > 60_000 {
            return Err(internal("the service name is too long"));
        }
        // What the server sees of the deadline: milliseconds left, at most 8 digits.
        let grpc_timeout = format!("{}m", self.remaining()?.as_millis().clamp(1, 99_999_999));
        self.send(&request_frames(authority, &grpc_timeout, &message))?;
        let (response, body) = self.receive()?;
        finish(&response, &body)
    }

    /// Frames until stream 1 ends: the header fields that matter, and the body.
    fn receive(&mut self) -> Result<(Response, Vec<u8>), Failure> {
        let mut response = Response::default();
        let (mut block, mut body) = (Vec::new(), Vec::new());
        // Inside a header block (HEADERS without END_HEADERS), and whether it ends the stream.
        let (mut in_block, mut block_ends_stream) = (false, false);
        loop {
            let (ty, flags, stream, payload) = self.frame()?;
            if in_block && (ty != CONTINUATION || stream != 1) {
                return Err(internal("http2: expected a CONTINUATION frame"));
            }
            match (ty, stream) {
                (DATA, 1) => {
                    body.extend_from_slice(unpad(flags, &payload)?);
                    if body.len() > MAX_BODY {
                        return Err(internal("grpc: received message larger than max"));
                    }
                    if flags & END_STREAM != 0 {
                        break;
                    }
                }
                (HEADERS, 1) | (CONTINUATION, 1) => {
                    let mut fragment = payload.as_slice();
                    if ty == HEADERS {
                        fragment = unpad(flags, fragment)?;
                        if flags & PRIORITY != 0 {
                            fragment = fragment
                                .get(5..)
                                .ok_or_else(|| internal("http2: short HEADERS frame"))?;
                        }
                        block.clear();
                        block_ends_stream = flags & END_STREAM != 0;
                    } else if !in_block {
                        return Err(internal("http2: unexpected CONTINUATION frame"));
                    }
                    block.extend_from_slice(fragment);
                    if block.len() > MAX_HEADER_BLOCK {
                        return Err(internal("http2: header block too large"));
                    }
                    in_block = flags & END_HEADERS == 0;
                    if !in_block {
                        self.hpack
                            .decode(&block, |name, value| {
                                let slot = match name {
                                    b":status" => &mut response.status,
                                    b"grpc-status" => &mut response.grpc_status,
                                    b"grpc-message" => &mut response.grpc_message,
                                    _ => return,
                                };
                                *slot = Some(value.to_vec());
                            })
                            .map_err(|e| internal(format!("hpack: {e}")))?;
                        if block_ends_stream {
                            break;
                        }
                    }
                }
                (RST_STREAM, 1) => {
                    let code = be32(&payload, 0).unwrap_or(1);
                    // As grpc-go: REFUSED_STREAM → Unavailable, CANCEL → Canceled,
                    // ENHANCE_YOUR_CALM → ResourceExhausted, INADEQUATE_SECURITY →
                    // PermissionDenied, anything else → Internal.
                    let grpc = match code {
                        7 => UNAVAILABLE,
                        8 => 1,
                        11 => 8,
                        12 => 7,
                        _ => INTERNAL,
                    };
                    let desc = format!(
                        "stream terminated by RST_STREAM with error code: {}",
                        h2_error(code)
                    );
                    return Err(Failure::Status(grpc, desc));
                }
                (SETTINGS, 0) if flags & ACK == 0 => {
                    let mut ack = Vec::new();
                    frame(&mut ack, SETTINGS, ACK, 0, &[]);
                    self.send(&ack)?;
                }
                (PING, 0) if flags & ACK == 0 => {
                    let mut ack = Vec::new();
                    frame(&mut ack, PING, ACK, 0, &payload);
                    self.send(&ack)?;
                }
                (GOAWAY, 0) => {
                    let last = be32(&payload, 0).unwrap_or(0) & 0x7fff_ffff;
                    let code = be32(&payload, 4).unwrap_or(1);
                    // A graceful GOAWAY that covers stream 1 lets it finish.
                    if last < 1 || code != 0 {
                        let debug = String::from_utf8_lossy(payload.get(8..).unwrap_or_default());
                        let desc = format!(
                            "received GOAWAY: code: {}, debug data: {debug:?}",
                            h2_error(code)
                        );
                        return Err(Failure::Status(UNAVAILABLE, desc));
                    }
                }
                _ => {} // WINDOW_UPDATE, PRIORITY, acknowledgements, other streams
            }
        }
        Ok((response, body))
    }
}

/// The client's whole side: preface, SETTINGS, HEADERS, the message in DATA.
fn request_frames(authority: &str, grpc_timeout: &str, message: &[u8]) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    frame(&mut out, SETTINGS, 0, 0, &[0, 2, 0, 0, 0, 0]); // SETTINGS_ENABLE_PUSH = 0
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", PATH),
        (":authority", authority),
        ("grpc-timeout", grpc_timeout),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("user-agent", USER_AGENT),
    ] {
        literal(&mut block, name, value);
    }
    frame(&mut out, HEADERS, END_HEADERS, 1, &block);
    let chunks: Vec<&[u8]> = message.chunks(MAX_FRAME).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let flags = if i + 1 == chunks.len() { END_STREAM } else { 0 };
        frame(&mut out, DATA, flags, 1, chunk);
    }
    out
}

/// A frame's payload without its padding (the PADDED flag).
fn unpad(flags: u8, payload: &[u8]) -> Result<&[u8], Failure> {
    if flags & PADDED == 0 {
        return Ok(payload);
    }
    let pad = *payload
        .first()
        .ok_or_else(|| internal("http2: empty padded frame"))? as usize;
    payload
        .get(1..payload.len().saturating_sub(pad))
        .filter(|_| pad < payload.len())
        .ok_or_else(|| internal("http2: padding too long"))
}

/// The RPC's outcome from the ended stream's headers and body.
fn finish(response: &Response, body: &[u8]) -> Result<u64, Failure> {
    let text = |v: &Option<Vec<u8>>| {
        v.as_deref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let status = text(&response.status).unwrap_or_default();
    if status != "200" {
        // As grpc-go: a status synthesized from the HTTP status (Internal,
        // Unauthenticated, PermissionDenied, Unimplemented, Unavailable, Unknown).
        let code = match status.as_str() {
            "400" => INTERNAL,
            "401" => 16,
            "403" => 7,
            "404" => UNIMPLEMENTED,
            "429" | "502" | "503" | "504" => UNAVAILABLE,
            "" => return Err(internal("malformed header: missing HTTP status")),
            _ => 2,
        };
        return Err(Failure::Status(
            code,
            format!("unexpected HTTP status code received from server: {status}"),
        ));
    }
    let Some(grpc_status) = text(&response.grpc_status) else {
        return Err(internal(
            "server closed the stream without sending trailers",
        ));
    };
    let code: u32 = grpc_status
        .parse()
        .map_err(|_| internal(format!("transport: malformed grpc-status: {grpc_status}")))?;
    if code != 0 {
        let message = percent_decode(response.grpc_message.as_deref().unwrap_or_default());
        return Err(Failure::Status(code, message));
    }
    if body.len() < 5 {
        return Err(internal(
            "cardinality violation: received no response message from non-streaming RPC",
        ));
    }
    let len = be32(body, 1).unwrap_or(0) as usize;
    let message = body
        .get(5..5 + len)
        .ok_or_else(|| internal("grpc: truncated response message"))?;
    if body[0] != 0 {
        return Err(internal(
            "grpc: compressed message without a negotiated encoding",
        ));
    }
    decode_status(message).ok_or_else(|| internal("grpc: failed to unmarshal the response"))
}

/// `grpc-message` is percent-encoded UTF-8.
fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The length-prefixed `HealthCheckRequest { string service = 1; }`.
fn request(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a); // field 1, length-delimited
        let mut n = service.len();
        while n >= 0x80 {
            msg.push((n & 0x7f) as u8 | 0x80);
            n >>= 7;
        }
        msg.push(n as u8);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut out = vec![0];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend_from_slice(&msg);
    out
}

fn varint(b: &[u8], p: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*p)?;
        *p += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// `HealthCheckResponse { ServingStatus status = 1; }`: the status, 0 (UNKNOWN) when absent.
fn decode_status(msg: &[u8]) -> Option<u64> {
    let (mut p, mut status) = (0, 0);
    while p < msg.len() {
        let tag = varint(msg, &mut p)?;
        match tag & 7 {
            0 => {
                let v = varint(msg, &mut p)?;
                if tag >> 3 == 1 {
                    status = v as u32 as u64; // an enum is an int32
                }
            }
            1 => p += 8,
            2 => p += usize::try_from(varint(msg, &mut p)?).ok()?,
            5 => p += 4,
            _ => return None,
        }
    }
    (p == msg.len()).then_some(status)
}

/// RFC 7541 Appendix A, one entry a line: the name, then the value after a space.
const STATIC_TABLE: &str = ":authority\n:method GET\n:method POST\n:path /\n:path /index.html\n:scheme http\n\
:scheme https\n:status 200\n:status 204\n:status 206\n:status 304\n:status 400\n:status 404\n:status 500\n\
accept-charset\naccept-encoding gzip, deflate\naccept-language\naccept-ranges\naccept\n\
access-control-allow-origin\nage\nallow\nauthorization\ncache-control\ncontent-disposition\n\
content-encoding\ncontent-language\ncontent-length\ncontent-location\ncontent-range\ncontent-type\n\
cookie\ndate\netag\nexpect\nexpires\nfrom\nhost\nif-match\nif-modified-since\nif-none-match\nif-range\n\
if-unmodified-since\nlast-modified\nlink\nlocation\nmax-forwards\nproxy-authenticate\n\
proxy-authorization\nrange\nreferer\nrefresh\nretry-after\nserver\nset-cookie\n\
strict-transport-security\ntransfer-encoding\nuser-agent\nvary\nvia\nwww-authenticate";

/// RFC 7541 Appendix B: the code length of each symbol (256 is EOS). The
/// code is canonical (codes of one length are consecutive, in symbol order),
/// so the lengths determine the codes.
#[rustfmt::skip]
const HUFFMAN_LENGTHS: [u8; 257] = [
    13,23,28,28,28,28,28,28,28,24,30,28,28,30,28,28,28,28,28,28,28,28,30,28,28,28,28,28,28,28,28,28,
    6,10,10,12,13,6,8,11,10,10,8,11,8,6,6,6,5,5,5,6,6,6,6,6,6,6,7,8,15,6,12,10,
    13,6,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,8,7,8,13,19,13,14,6,
    15,5,6,5,6,5,6,6,6,5,7,7,6,6,6,5,6,7,6,5,5,6,7,7,7,7,7,15,11,14,13,28,
    20,22,20,20,22,22,22,23,22,23,23,23,23,23,24,23,24,24,22,23,24,23,23,23,23,21,22,23,22,23,23,24,
    22,21,20,22,22,23,23,21,23,22,22,24,21,22,23,23,21,21,22,21,23,22,23,23,20,22,22,22,23,22,22,23,
    26,26,20,19,22,23,22,25,26,26,26,27,27,26,24,25,19,21,26,27,27,26,27,24,21,21,26,26,28,27,27,27,
    20,24,20,21,22,21,21,23,22,22,25,25,24,24,26,23,26,27,26,26,27,27,27,27,27,28,27,27,27,27,27,26,
    30,
];

/// An HPACK decoder (RFC 7541): one per connection, as its dynamic table.
struct Hpack {
    /// The dynamic table, newest first, and its size as §4.1 counts it.
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    max: usize,
    /// The most the peer may set `max` to (our SETTINGS_HEADER_TABLE_SIZE).
    limit: usize,
    /// Canonical Huffman decoding: symbols sorted by (length, symbol), and
    /// per length the first code and where its symbols start in `symbols`.
    symbols: Vec<u16>,
    first: [u32; 32],
    start: [usize; 32],
    count: [usize; 32],
}

impl Hpack {
    fn new(limit: usize) -> Hpack {
        let symbols: Vec<u16> = (1..=30u8)
            .flat_map(|len| (0..257u16).filter(move |&s| HUFFMAN_LENGTHS[s as usize] == len))
            .collect();
        let (mut first, mut start, mut count) = ([0u32; 32], [0usize; 32], [0usize; 32]);
        let (mut code, mut len) = (0u32, 0u8);
        for (i, &s) in symbols.iter().enumerate() {
            let l = HUFFMAN_LENGTHS[s as usize];
            if l != len {
                code <<= l - len;
                len = l;
                first[l as usize] = code;
                start[l as usize] = i;
            }
            count[l as usize] += 1;
            code += 1;
        }
        Hpack {
            table: VecDeque::new(),
            size: 0,
            max: limit,
            limit,
            symbols,
            first,
            start,
            count,
        }
    }

    /// Decodes one header block, calling `field` with each name and value.
    fn decode(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), &'static str> {
        let mut p = 0;
        while p < block.len() {
            let b = block[p];
            if b & 0x80 != 0 {
                let i = int(block, &mut p, 7)?;
                let (name, value) = self.entry(i)?;
                field(name, value);
            } else if b & 0xe0 == 0x20 {
                let max = int(block, &mut p, 5)?;
                if max > self.limit {
                    return Err("table size update above the limit");
                }
                self.max = max;
                self.evict(0);
            } else {
                let indexing = b & 0x40 != 0;
                let i = int(block, &mut p, if indexing { 6 } else { 4 })?;
                let name = if i == 0 {
                    self.string(block, &mut p)?
                } else {
                    self.entry(i)?.0.to_vec()
                };
                let value = self.string(block, &mut p)?;
                field(&name, &value);
                if indexing {
                    let size = name.len() + value.len() + 32;
                    self.evict(size);
                    if size <= self.max {
                        self.size += size;
                        self.table.push_front((name, value));
                    }
                }
            }
        }
        Ok(())
    }

    /// Evicts the oldest entries until `room` more bytes fit (§4.4).
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            let Some((n, v)) = self.table.pop_back() else {
                break;
            };
            self.size -= n.len() + v.len() + 32;
        }
    }

    fn entry(&self, i: usize) -> Result<(&[u8], &[u8]), &'static str> {
        if (1..=61).contains(&i) {
            let line = STATIC_TABLE.lines().nth(i - 1).unwrap_or_default();
            let (n, v) = line.split_once(' ').unwrap_or((line, ""));
            return Ok((n.as_bytes(), v.as_bytes()));
        }
        let (n, v) = self
            .table
            .get(i.wrapping_sub(62))
            .ok_or("index out of the tables")?;
        Ok((n, v))
    }

    /// A string literal (§5.2), Huffman-coded or not.
    fn string(&self, b: &[u8], p: &mut usize) -> Result<Vec<u8>, &'static str> {
        let huffman = b.get(*p).ok_or("truncated block")? & 0x80 != 0;
        let len = int(b, p, 7)?;
        let raw = b.get(*p..p.saturating_add(len)).ok_or("truncated string")?;
        *p += len;
        if !huffman {
            return Ok(raw.to_vec());
        }
        let mut out = Vec::with_capacity(raw.len() * 8 / 5);
        let (mut code, mut len) = (0u32, 0usize);
        for bit in raw
            .iter()
            .flat_map(|byte| (0..8).rev().map(move |i| u32::from(byte >> i & 1)))
        {
            code = code << 1 | bit;
            len += 1;
            if len > 30 {
                return Err("invalid Huffman code");
            }
            let offset = code.wrapping_sub(self.first[len]) as usize;
            if offset < self.count[len] {
                match self.symbols[self.start[len] + offset] {
                    256 => return Err("EOS in a Huffman string"),
                    s => out.push(s as u8),
                }
                (code, len) = (0, 0);
            }
        }
        // Padding: fewer than 8 bits, all ones (the start of EOS).
        if len > 7 || code != (1 << len) - 1 {
            return Err("invalid Huffman padding");
        }
        Ok(out)
    }
}

/// An HPACK integer with an `n`-bit prefix (§5.1).
fn int(b: &[u8], p: &mut usize, n: u32) -> Result<usize, &'static str> {
    let mask = (1usize << n) - 1;
    let mut v = *b.get(*p).ok_or("truncated block")? as usize & mask;
    *p += 1;
    if v < mask {
        return Ok(v);
    }
    for shift in (0..28).step_by(7) {
        let byte = *b.get(*p).ok_or("truncated integer")?;
        *p += 1;
        v += ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("integer too large")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn decode(h: &mut Hpack, block: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        h.decode(&hex(block), |n, v| {
            out.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ))
        })
        .unwrap();
        out
    }

    fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn names(h: &Hpack) -> Vec<&str> {
        h.table
            .iter()
            .map(|(n, _)| std::str::from_utf8(n).unwrap())
            .collect()
    }

    #[test]
    fn huffman_codes_are_rfc_7541_appendix_b() {
        // Rebuild each symbol's code from the canonical order; check some of the RFC's.
        let h = Hpack::new(4096);
        let code = |sym: u16| {
            let len = HUFFMAN_LENGTHS[sym as usize] as usize;
            let i = h.symbols.iter().position(|&s| s == sym).unwrap();
            (h.first[len] + (i - h.start[len]) as u32, len)
        };
        assert_eq!(code(0), (0x1ff8, 13));
        assert_eq!(code(b' ' as u16), (0x14, 6));
        assert_eq!(code(b'0' as u16), (0x0, 5));
        assert_eq!(code(b'a' as u16), (0x3, 5));
        assert_eq!(code(b'z' as u16), (0x7b, 7));
        assert_eq!(code(b'{' as u16), (0x7ffe, 15));
        assert_eq!(code(200), (0x3ffffe2, 26));
        assert_eq!(code(255), (0x3ffffee, 26));
        assert_eq!(code(256), (0x3fffffff, 30));
    }

    #[test]
    fn c2_literal_representations() {
        let mut h = Hpack::new(4096);
        let custom = "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572";
        assert_eq!(
            decode(&mut h, custom),
            fields(&[("custom-key", "custom-header")])
        );
        assert_eq!((h.size, names(&h)), (55, vec!["custom-key"]));
        let mut h = Hpack::new(4096);
        assert_eq!(
            decode(&mut h, "040c 2f73 616d 706c 652f 7061 7468"),
            fields(&[(":path", "/sample/path")])
        );
        assert_eq!(
            decode(&mut h, "1008 7061 7373 776f 7264 0673 6563 7265 74"),
            fields(&[("password", "secret")])
        );
        assert_eq!(decode(&mut h, "82"), fields(&[(":method", "GET")]));
        assert_eq!(h.size, 0);
    }

    /// C.3 (plain) and C.4 (Huffman): three requests on one connection.
    #[test]
    fn c3_c4_requests() {
        let blocks = [
            [
                "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "8286 84be 5808 6e6f 2d63 6163 6865",
                "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            ],
            [
                "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                "8286 84be 5886 a8eb 1064 9cbf",
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ],
        ];
        for [b1, b2, b3] in blocks {
            let mut h = Hpack::new(4096);
            let base = [
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ];
            assert_eq!(decode(&mut h, b1), fields(&base));
            assert_eq!(h.size, 57);
            let mut second = base.to_vec();
            second.push(("cache-control", "no-cache"));
            assert_eq!(decode(&mut h, b2), fields(&second));
            assert_eq!(h.size, 110);
            let third = [
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ];
            assert_eq!(decode(&mut h, b3), fields(&third));
            assert_eq!(
                (h.size, names(&h)),
                (164, vec!["custom-key", "cache-control", ":authority"])
            );
        }
    }

    /// C.5 (plain) and C.6 (Huffman): three responses with a 256-byte table, with evictions.
    #[test]
    fn c5_c6_responses_with_eviction() {
        let blocks = [
            [
                "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32
                 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                "4803 3330 37c1 c0bf",
                "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970
                 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61
                 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
            ],
            [
                "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad
                 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                "4883 640e ffc1 c0bf",
                "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2
                 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
            ],
        ];
        for [b1, b2, b3] in blocks {
            let mut h = Hpack::new(256);
            let date = ("date", "Mon, 21 Oct 2013 20:13:21 GMT");
            let location = ("location", "https://www.example.com");
            let first = [
                (":status", "302"),
                ("cache-control", "private"),
                date,
                location,
            ];
            assert_eq!(decode(&mut h, b1), fields(&first));
            assert_eq!(
                (h.size, names(&h)),
                (222, vec!["location", "date", "cache-control", ":status"])
            );
            let second = [
                (":status", "307"),
                ("cache-control", "private"),
                date,
                location,
            ];
            assert_eq!(decode(&mut h, b2), fields(&second));
            assert_eq!(
                (h.size, names(&h)),
                (222, vec![":status", "location", "date", "cache-control"])
            );
            let third = [
                (":status", "200"),
                ("cache-control", "private"),
                ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
                location,
                ("content-encoding", "gzip"),
                (
                    "set-cookie",
                    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
                ),
            ];
            assert_eq!(decode(&mut h, b3), fields(&third));
            assert_eq!(
                (h.size, names(&h)),
                (215, vec!["set-cookie", "content-encoding", "date"])
            );
        }
    }

    #[test]
    fn hpack_rejects_bad_input() {
        let mut h = Hpack::new(4096);
        for bad in [
            "80",
            "be",
            "3fe21f",
            "0003616263",
            "00 83 ffffff 00",
            "00 81 fe 00",
            "ff ff ff ff ff 0f",
        ] {
            assert!(h.decode(&hex(bad), |_, _| {}).is_err(), "{bad}");
        }
        // A size update shrinks the table; one to 0 empties it.
        decode(
            &mut h,
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        );
        assert_eq!(h.table.len(), 1);
        assert_eq!(decode(&mut h, "20 82"), fields(&[(":method", "GET")]));
        assert_eq!((h.table.len(), h.size), (0, 0));
    }

    #[test]
    fn integers() {
        // RFC 7541 C.1: 10 and 1337 with a 5-bit prefix, 42 with 8 bits.
        for (v, n, bytes) in [(10, 5, "0a"), (1337, 5, "1f9a0a"), (42, 8, "2a")] {
            let mut out = Vec::new();
            encode_int(&mut out, n, 0, v);
            assert_eq!(out, hex(bytes));
            assert_eq!(int(&out, &mut 0, n), Ok(v));
        }
    }

    #[test]
    fn protobuf_request_and_response() {
        assert_eq!(request(""), hex("00 00000000"));
        assert_eq!(request("foo"), hex("00 00000005 0a03666f6f"));
        let long = "x".repeat(200);
        assert_eq!(request(&long)[..8], hex("00 000000cb 0ac801"));
        assert_eq!(decode_status(&hex("0801")), Some(1));
        assert_eq!(decode_status(&hex("0802")), Some(2));
        assert_eq!(decode_status(&[]), Some(0));
        // Unknown fields of every wire type are skipped.
        assert_eq!(
            decode_status(&hex("1203616263 1805 2101020304050607 08 25 01020304 0803")),
            Some(3)
        );
        assert_eq!(decode_status(&hex("08")), None);
        assert_eq!(decode_status(&hex("0a05ab")), None);
    }

    #[test]
    fn response_outcomes() {
        let resp = |status: &str, grpc: Option<&str>, msg: Option<&str>| Response {
            status: Some(status.into()),
            grpc_status: grpc.map(Into::into),
            grpc_message: msg.map(Into::into),
        };
        assert_eq!(
            finish(&resp("200", Some("0"), None), &hex("00 00000002 0801")),
            Ok(1)
        );
        assert_eq!(
            finish(&resp("200", Some("0"), None), &hex("00 00000000")),
            Ok(0)
        );
        let not_found = Failure::Status(5, "unknown service a b%".into());
        assert_eq!(
            finish(
                &resp("200", Some("5"), Some("unknown%20service a%20b%")),
                &[]
            ),
            Err(not_found)
        );
        assert_eq!(
            finish(&resp("404", None, None), &[]).unwrap_err(),
            Failure::Status(
                12,
                "unexpected HTTP status code received from server: 404".into()
            )
        );
        assert!(matches!(
            finish(&resp("200", None, None), &[]),
            Err(Failure::Status(13, _))
        ));
        assert!(matches!(
            finish(&resp("200", Some("0"), None), &[]),
            Err(Failure::Status(13, _))
        ));
    }

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

    #[test]
    fn padded_frames() {
        assert_eq!(unpad(PADDED, &hex("02 0801 0000")), Ok(&hex("0801")[..]));
        assert_eq!(unpad(0, &hex("02")), Ok(&hex("02")[..]));
        assert!(unpad(PADDED, &hex("05 01")).is_err());
        assert!(unpad(PADDED, &[]).is_err());
    }
}
