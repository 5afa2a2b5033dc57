//! HTTP/2 framing for one gRPC call on stream 1 (RFC 9113): the client's
//! frames, and reading the server's until the stream ends.

use super::hpack::{literal, Hpack};
use super::{internal, io_failure, nth_name, Failure, INTERNAL, UNAVAILABLE};
use crate::os::text::Quoted;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The HTTP/2 error codes' names (RFC 9113 §7).
const H2_ERRORS: &str = "NO_ERROR PROTOCOL_ERROR INTERNAL_ERROR FLOW_CONTROL_ERROR \
    SETTINGS_TIMEOUT STREAM_CLOSED FRAME_SIZE_ERROR REFUSED_STREAM CANCEL COMPRESSION_ERROR \
    CONNECT_ERROR ENHANCE_YOUR_CALM INADEQUATE_SECURITY HTTP_1_1_REQUIRED";

fn h2_error(code: u32) -> String {
    nth_name(H2_ERRORS, code.into(), || {
        format!("unknown error code {code}")
    })
}

/// A big-endian u32 at `b[i..i + 4]`.
pub(super) fn be32(b: &[u8], i: usize) -> Option<u32> {
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

/// What the response's header blocks say, as far as gRPC cares.
#[derive(Default)]
pub(super) struct Response {
    pub(super) status: Option<Vec<u8>>,
    pub(super) grpc_status: Option<Vec<u8>>,
    pub(super) grpc_message: Option<Vec<u8>>,
}

pub(super) struct Conn {
    sock: TcpStream,
    deadline: Instant,
    /// Bytes read and not yet taken as frames.
    buf: Vec<u8>,
    hpack: Hpack,
}

impl Conn {
    pub(super) fn new(sock: TcpStream, deadline: Instant, hpack: Hpack) -> Conn {
        Conn {
            sock,
            deadline,
            buf: Vec::new(),
            hpack,
        }
    }

    pub(super) fn remaining(&self) -> Result<Duration, Failure> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::Timeout);
        }
        Ok(left)
    }

    pub(super) fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
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

    /// Frames until stream 1 ends: the header fields that matter, and the body.
    pub(super) fn receive(&mut self) -> Result<(Response, Vec<u8>), Failure> {
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
                            "received GOAWAY: code: {}, debug data: {}",
                            h2_error(code),
                            Quoted(&debug)
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
pub(super) fn request_frames(authority: &str, grpc_timeout: &str, message: &[u8]) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::grpc::hex;

    #[test]
    fn padded_frames() {
        assert_eq!(unpad(PADDED, &hex("02 0801 0000")), Ok(&hex("0801")[..]));
        assert_eq!(unpad(0, &hex("02")), Ok(&hex("02")[..]));
        assert!(unpad(PADDED, &hex("05 01")).is_err());
        assert!(unpad(PADDED, &[]).is_err());
    }
}
