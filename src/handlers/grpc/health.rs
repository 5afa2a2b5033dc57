//! The `grpc.health.v1.Health/Check` call: its request message, and the
//! outcome read from the response's headers, trailers and message.

use super::h2::{be32, request_frames, Conn, Response};
use super::{internal, Failure, INTERNAL, UNAVAILABLE, UNIMPLEMENTED};

/// The whole RPC on stream 1: the response's `status` field, or how it failed.
pub(super) fn call(conn: &mut Conn, authority: &str, service: &str) -> Result<u64, Failure> {
    let message = request(service);
    if message.len() > 60_000 {
        return Err(internal("the service name is too long"));
    }
    // What the server sees of the deadline: milliseconds left, at most 8 digits.
    let grpc_timeout = format!(
        "{}m",
        conn.remaining()?.as_millis().clamp(1, 99_999_999) as u64
    );
    conn.send(&request_frames(authority, &grpc_timeout, &message))?;
    let (response, body) = conn.receive()?;
    finish(&response, &body)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::grpc::hex;

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
}
