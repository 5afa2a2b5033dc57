//! A small HTTP/1.1 client for one thing: a GET on a fresh connection, as
//! the httpGet hooks and probes make ([`crate::handlers::http`] follows the
//! redirects). Our own rather than ureq for size: the same behaviour costs
//! a small fraction of the code (README, Building).
//!
//! What it does: `http://` and `https://` (the `https` build: rustls, the
//! certificate not verified), a DNS name or an IP literal, every address
//! tried in turn; one deadline for connecting, writing and reading; the
//! response's status, `Location` and body (`Content-Length`, chunked or
//! until the close), 1xx interim responses skipped. What it does not:
//! proxies (the kubelet's probes use none either), keep-alive (every
//! request says `Connection: close`), compression, HTTP/2.
//!
//! It runs in a forked child (see [`crate::handlers::runner`]): blocking I/O and heap
//! allocation are fine, but a server decides nothing about how much: the
//! head is bounded by [`HEAD_LIMIT`], what is kept of a body by
//! [`BODY_LIMIT`], and nothing more of it is read.

use crate::handlers::net::dial;
use crate::os::text::Quoted;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Instant;
use target::Target;

/// The most a response head may take (interim responses and, for a
/// chunked body, chunk-size lines and trailers included).
pub const HEAD_LIMIT: u64 = 64 * 1024;
/// The most of a body that is read and kept.
pub const BODY_LIMIT: usize = 10 * 1024;

/// A response whose head has been read; its body is read on demand.
pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    body: Body,
    conn: BufReader<Box<dyn Duplex>>,
}

impl Response {
    /// The first [`BODY_LIMIT`] bytes of the body.
    pub fn body(&mut self) -> Result<Vec<u8>, String> {
        read_body(&mut self.conn, self.body)
    }
}

/// `GET url` with `headers` (in order, after `Host`, `User-Agent`, `Accept`
/// unless they set those; those two set to "" left out), within `deadline`.
pub fn get(
    url: &str,
    headers: &[(String, String)],
    user_agent: &str,
    deadline: Option<Instant>,
) -> Result<Response, String> {
    let t = Target::parse(url)?;
    let tcp = dial(t.host, t.port, deadline).map_err(|e| e.text(t.authority))?;
    let sock = Sock { tcp, deadline };
    let mut conn: Box<dyn Duplex> = match t.tls {
        false => Box::new(sock),
        #[cfg(feature = "https")]
        true => tls::wrap(sock, t.host)?,
        #[cfg(not(feature = "https"))]
        true => return Err("HTTPS is not available in this build of hookinit".into()),
    };
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut req = format!("GET {} HTTP/1.1\r\n", t.path);
    for (name, value) in [
        ("Host", t.authority),
        ("User-Agent", user_agent),
        ("Accept", "*/*"),
    ] {
        if !has(name) {
            let _ = write!(req, "{name}: {value}\r\n");
        }
    }
    for (name, value) in headers {
        let omit = ["User-Agent", "Accept"].map(|h| h.eq_ignore_ascii_case(name)); // kubelet
        if !value.is_empty() || omit == [false; 2] {
            let _ = write!(req, "{name}: {value}\r\n");
        }
    }
    if !has("Connection") {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes())
        .and_then(|()| conn.flush())
        .map_err(io_text)?;
    let mut conn = BufReader::new(conn);
    let head = read_head(&mut conn)?;
    Ok(Response {
        status: head.status,
        location: head.location,
        body: head.body,
        conn,
    })
}

trait Duplex: Read + Write {}
impl<T: Read + Write> Duplex for T {}

/// The TCP connection, every read and write bounded by the time left.
struct Sock {
    tcp: TcpStream,
    deadline: Option<Instant>,
}

impl Sock {
    fn left(&self) -> io::Result<Option<std::time::Duration>> {
        let Some(deadline) = self.deadline else {
            return Ok(None);
        };
        match deadline.saturating_duration_since(Instant::now()) {
            left if left.is_zero() => Err(ErrorKind::TimedOut.into()),
            left => Ok(Some(left)),
        }
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(self.left()?)?;
        self.tcp.read(buf)
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(self.left()?)?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An I/O error as the message says it; a socket timeout is the deadline.
fn io_text(e: io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => "timed out".into(),
        _ => e.to_string(),
    }
}

/// How the body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    location: Option<String>,
    body: Body,
}

/// One line without its line end (CRLF, or LF as most clients accept),
/// charged to `room`.
fn line(r: &mut impl BufRead, room: &mut u64) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    Read::take(&mut *r, *room)
        .read_until(b'\n', &mut line)
        .map_err(io_text)?;
    *room -= line.len() as u64;
    if line.pop() != Some(b'\n') {
        return Err(match *room {
            0 => format!("response head larger than {} KiB", HEAD_LIMIT / 1024),
            _ => "connection closed before the response ended".into(),
        });
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// Up to 40 bytes of `line`, quoted, for an error message.
fn quote(line: &[u8]) -> String {
    Quoted(&String::from_utf8_lossy(&line[..line.len().min(40)])).to_string()
}

/// The status line and headers of the final response (1xx ones skipped).
fn read_head(r: &mut impl BufRead) -> Result<Head, String> {
    let mut room = HEAD_LIMIT;
    loop {
        let status_line = line(r, &mut room)?;
        // `HTTP/1.x NNN reason`, the reason optional.
        let status = match status_line.strip_prefix(b"HTTP/1.") {
            Some([minor, b' ', a @ b'1'..=b'9', b, c, rest @ ..])
                if minor.is_ascii_digit()
                    && b.is_ascii_digit()
                    && c.is_ascii_digit()
                    && rest.first().is_none_or(|&s| s == b' ') =>
            {
                [a, b, c]
                    .iter()
                    .fold(0, |n, &&d| n * 10 + u16::from(d - b'0'))
            }
            _ => return Err(format!("malformed status line {}", quote(&status_line))),
        };
        let (mut length, mut chunked, mut location) = (None, None, None);
        loop {
            let header = line(r, &mut room)?;
            if header.is_empty() {
                break;
            }
            let malformed = || format!("malformed header line {}", quote(&header));
            let (name, value) = header
                .iter()
                .position(|&b| b == b':')
                .map(|i| (&header[..i], String::from_utf8_lossy(&header[i + 1..])))
                .ok_or_else(malformed)?;
            if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
                return Err(malformed());
            }
            let value = value.trim_matches([' ', '\t']);
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = value
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| value.parse::<u64>().ok())
                    .flatten()
                    .ok_or_else(|| format!("invalid Content-Length {}", Quoted(value)))?;
                if length.is_some_and(|m| m != n) {
                    return Err("conflicting Content-Length headers".into());
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                // The last coding decides: chunked, or the body runs to the close.
                let last =
                    crate::os::text::rfind_byte(value, b',').map_or(value, |i| &value[i + 1..]);
                chunked = Some(last.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case(b"location") {
                location = Some(value.to_string());
            }
        }
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let body = match (status, chunked, length) {
            (100..=199 | 204 | 304, _, _) => Body::None,
            (_, Some(true), _) => Body::Chunked,
            (_, None, Some(n)) => Body::Length(n),
            _ => Body::UntilClose,
        };
        return Ok(Head {
            status,
            location,
            body,
        });
    }
}

/// Appends up to `n` bytes of `r` to `out`; fewer only where the input ends.
fn take(r: &mut impl BufRead, out: &mut Vec<u8>, mut n: usize) -> Result<(), String> {
    while n > 0 {
        let buf = match r.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // A TLS peer that closes without close_notify: the end, as Go takes it.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io_text(e)),
        };
        if buf.is_empty() {
            break;
        }
        let k = buf.len().min(n);
        out.extend_from_slice(&buf[..k]);
        r.consume(k);
        n -= k;
    }
    Ok(())
}

/// The first [`BODY_LIMIT`] bytes of a body; what follows is never read.
fn read_body(r: &mut impl BufRead, body: Body) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(BODY_LIMIT);
    let short = |got: usize, want: u64, what: &str| {
        format!("connection closed {got} bytes into a {want}-byte {what}")
    };
    match body {
        Body::None => {}
        Body::UntilClose => take(r, &mut out, BODY_LIMIT)?,
        Body::Length(n) => {
            let want = n.min(BODY_LIMIT as u64) as usize;
            take(r, &mut out, want)?;
            if out.len() < want {
                return Err(short(out.len(), n, "body"));
            }
        }
        Body::Chunked => {
            let mut room = HEAD_LIMIT;
            loop {
                let size_line = line(r, &mut room)?;
                // The size in hex, then perhaps `;extensions`.
                let hex = size_line.split(|&b| b == b';').next().unwrap_or_default();
                let hex = String::from_utf8_lossy(hex);
                let size = u64::from_str_radix(hex.trim_matches([' ', '\t']), 16)
                    .ok()
                    .filter(|_| !hex.as_bytes().contains(&b'+'))
                    .ok_or_else(|| format!("malformed chunk size line {}", quote(&size_line)))?;
                if size == 0 {
                    while !line(r, &mut room)?.is_empty() {}
                    break;
                }
                let want = size.min((BODY_LIMIT - out.len()) as u64) as usize;
                let before = out.len();
                take(r, &mut out, want)?;
                if out.len() - before < want {
                    return Err(short(out.len() - before, size, "chunk"));
                }
                if out.len() == BODY_LIMIT {
                    break;
                }
                if !line(r, &mut room)?.is_empty() {
                    return Err("chunk longer than its size".into());
                }
            }
        }
    }
    Ok(out)
}

mod target;
#[cfg(feature = "https")]
pub(crate) mod tls;

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, String> {
        read_head(&mut text.as_bytes())
    }

    /// The head and body of a whole response, and how much input was left.
    fn response(text: &[u8]) -> Result<(Head, Vec<u8>, usize), String> {
        let mut r = text;
        let head = read_head(&mut r)?;
        let body = read_body(&mut r, head.body)?;
        Ok((head, body, r.len()))
    }

    #[test]
    fn status_lines() {
        let h = head("HTTP/1.1 200 OK\r\n\r\n").unwrap();
        assert_eq!((h.status, h.body), (200, Body::UntilClose));
        assert_eq!(head("HTTP/1.0 404\r\n\r\n").unwrap().status, 404);
        assert_eq!(head("HTTP/1.1 599 Odd Reason\n\n").unwrap().status, 599);
        assert_eq!(
            head("HTTP/1.1 204 No Content\r\n\r\n").unwrap().body,
            Body::None
        );
        assert_eq!(
            head("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n")
                .unwrap()
                .body,
            Body::None
        );
        for bad in [
            "HTTP/2 200 OK",
            "HTTP/1.1 999999 Whatever",
            "HTTP/1.1 20 OK",
            "HTTP/1.1 099 Low",
            "HTTP/1.1 200OK",
            "HTTP/1.1  200 OK",
            "\u{0}\u{ff}NOT HTTP",
            "",
        ] {
            let e = head(&format!("{bad}\r\n\r\n")).unwrap_err();
            assert!(e.starts_with("malformed status line"), "{bad:?}: {e}");
        }
        assert_eq!(
            head("HTT").unwrap_err(),
            "connection closed before the response ended"
        );
    }

    #[test]
    fn headers_are_case_insensitive_and_checked() {
        let h =
            head("HTTP/1.1 302 Found\r\nlOcAtIoN:  /next \r\ncontent-LENGTH: 3\r\n\r\n").unwrap();
        assert_eq!(h.location.as_deref(), Some("/next"));
        assert_eq!(h.body, Body::Length(3));
        let h = head(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTRANSFER-ENCODING: gzip, Chunked\r\n\r\n",
        );
        assert_eq!(h.unwrap().body, Body::Chunked);
        let h = head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(h.unwrap().body, Body::UntilClose);
        let same = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(head(same).unwrap().body, Body::Length(3));
        for (bad, want) in [
            ("Content-Length: -1", "invalid Content-Length \"-1\""),
            ("Content-Length: +3", "invalid Content-Length \"+3\""),
            (
                "Content-Length: 99999999999999999999",
                "invalid Content-Length",
            ),
            (
                "Content-Length: 3\r\nContent-Length: 4",
                "conflicting Content-Length",
            ),
            ("No colon here", "malformed header line \"No colon here\""),
            ("Bad Name: x", "malformed header line"),
            (": empty name", "malformed header line"),
            (" folded: line", "malformed header line"),
        ] {
            let e = head(&format!("HTTP/1.1 200 OK\r\n{bad}\r\n\r\n")).unwrap_err();
            assert!(e.starts_with(want), "{bad:?}: {e}");
        }
    }

    #[test]
    fn interim_responses_are_skipped() {
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                    HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        let (h, body, _) = response(text.as_bytes()).unwrap();
        assert_eq!((h.status, body.as_slice()), (200, &b"ok"[..]));
        // 101 is final: nothing was asked to switch to.
        assert_eq!(head("HTTP/1.1 101 Switching\r\n\r\n").unwrap().status, 101);
    }

    #[test]
    fn bodies_by_length_chunks_and_close() {
        let (_, body, left) =
            response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, and more").unwrap();
        assert_eq!((body.as_slice(), left), (&b"hello"[..], 10));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                        4;name=value\r\nWiki\r\n5 ; x\r\npedia\r\nA\r\n in chunks\r\n\
                        0;last\r\nX-Trailer: t\r\nX-Other: u\r\n\r\nafter";
        let (_, body, left) = response(chunked).unwrap();
        assert_eq!((body.as_slice(), left), (&b"Wikipedia in chunks"[..], 5));
        let (_, body, _) = response(b"HTTP/1.0 200 OK\r\n\r\nuntil\r\nthe close").unwrap();
        assert_eq!(body, b"until\r\nthe close");
        let (_, body, left) = response(b"HTTP/1.1 204 No Content\r\n\r\nstray").unwrap();
        assert_eq!((body.len(), left), (0, 5));
    }

    #[test]
    fn bodies_stop_at_the_limit() {
        let big = vec![b'x'; 3 * BODY_LIMIT];
        let mut text =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", big.len()).into_bytes();
        text.extend_from_slice(&big);
        let (_, body, left) = response(&text).unwrap();
        assert_eq!((body.len(), left), (BODY_LIMIT, 2 * BODY_LIMIT));
        let mut text = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        text.extend_from_slice(&big);
        let (_, body, left) = response(&text).unwrap();
        assert_eq!((body.len(), left), (BODY_LIMIT, 2 * BODY_LIMIT));
        let mut text = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..3 {
            text.extend_from_slice(format!("{:x}\r\n", BODY_LIMIT - 1).as_bytes());
            text.extend_from_slice(&big[..BODY_LIMIT - 1]);
            text.extend_from_slice(b"\r\n");
        }
        let (_, body, _) = response(&text).unwrap();
        assert_eq!(body.len(), BODY_LIMIT);
        assert!(body.capacity() <= BODY_LIMIT);
    }

    #[test]
    fn malformed_and_truncated_bodies_fail() {
        for (text, want) in [
            (
                &b"HTTP/1.1 500 X\r\nContent-Length: 10\r\n\r\nabc"[..],
                "connection closed 3 bytes into a 10-byte body",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "malformed chunk size line \"zz\"",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\nab\r\n0\r\n\r\n",
                "malformed chunk size line",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
                "chunk longer than its size",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                "connection closed 2 bytes into a 5-byte chunk",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
                "connection closed before the response ended",
            ),
        ] {
            let e = response(text).unwrap_err();
            assert!(
                e.starts_with(want),
                "{}: {e}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn heads_are_bounded() {
        let mut text = String::from("HTTP/1.1 200 OK\r\n");
        while text.len() <= HEAD_LIMIT as usize {
            text.push_str(&format!("X-Junk: {}\r\n", "a".repeat(1000)));
        }
        assert_eq!(head(&text).unwrap_err(), "response head larger than 64 KiB");
        let line = format!("HTTP/1.1 200 OK\r\nX-Junk: {}", "a".repeat(1 << 20));
        assert_eq!(head(&line).unwrap_err(), "response head larger than 64 KiB");
        // Interim responses count too.
        let interim = "HTTP/1.1 100 Continue\r\n\r\n".repeat(3000);
        assert_eq!(
            head(&interim).unwrap_err(),
            "response head larger than 64 KiB"
        );
    }

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:8080/a?b=c#frag").unwrap();
        assert_eq!(
            t,
            Target {
                tls: false,
                authority: "127.0.0.1:8080",
                host: "127.0.0.1",
                port: 8080,
                path: "/a?b=c".into()
            }
        );
        let t = Target::parse("https://[::1]:8443").unwrap();
        assert_eq!(
            (t.tls, t.authority, t.host, t.port),
            (true, "[::1]:8443", "::1", 8443)
        );
        assert_eq!(t.path, "/");
        let t = Target::parse("HTTP://example.com?q").unwrap();
        assert_eq!(
            (t.host, t.port, t.path.as_str()),
            ("example.com", 80, "/?q")
        );
        assert_eq!(Target::parse("https://h:/x").unwrap().port, 443);
        let t = Target::parse("http://h:1/p%0D%0A $(id) \"q\" é{|}<>\\^`?x=$(id)").unwrap();
        assert_eq!(
            t.path,
            "/p%0D%0A%20$(id)%20%22q%22%20%C3%A9%7B%7C%7D%3C%3E%5C%5E%60?x=$(id)"
        );
        for bad in [
            "127.0.0.1:80/",
            "http://h:99999/",
            "http://h:8a/",
            "http://:80/",
            "http://[::1/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Target::parse("ftp://h/").unwrap_err(),
            "unsupported protocol scheme \"ftp\""
        );
    }

    /// The request as sent: defaults unless the headers set them, in order.
    #[test]
    fn requests() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for _ in 0..3 {
                let (s, _) = listener.accept().unwrap();
                let mut r = BufReader::new(s);
                let mut head = String::new();
                while !head.ends_with("\r\n\r\n") && r.read_line(&mut head).unwrap() > 0 {}
                r.get_mut()
                    .write_all(b"HTTP/1.1 200 OK\r\n\r\nbody")
                    .unwrap();
                heads.push(head);
            }
            heads
        });
        let url = format!("http://127.0.0.1:{port}/x?y");
        let deadline = Some(Instant::now() + std::time::Duration::from_secs(10));
        let headers = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        };
        let mut r = get(&url, &headers(&[("X-A", "1 2")]), "ua/1", deadline).unwrap();
        assert_eq!((r.status, r.body().unwrap()), (200, b"body".to_vec()));
        let own = headers(&[
            ("accept", "text/plain"),
            ("Host", "example"),
            ("User-Agent", "mine"),
        ]);
        get(&url, &own, "ua/1", deadline).unwrap();
        let empty = headers(&[("user-agent", ""), ("Accept", ""), ("X-B", "")]);
        get(&url, &empty, "ua/1", deadline).unwrap();
        let heads = server.join().unwrap();
        assert_eq!(
            heads[0],
            format!(
                "GET /x?y HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: ua/1\r\n\
                 Accept: */*\r\nX-A: 1 2\r\nConnection: close\r\n\r\n"
            )
        );
        assert_eq!(
            heads[1],
            "GET /x?y HTTP/1.1\r\naccept: text/plain\r\nHost: example\r\n\
             User-Agent: mine\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            heads[2],
            format!(
                "GET /x?y HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-B: \r\nConnection: close\r\n\r\n"
            )
        );
    }

    #[test]
    fn deadlines_and_refusals() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let soon = Some(Instant::now() + std::time::Duration::from_millis(200));
        let e = get(&url, &[], "ua", soon).err().unwrap();
        assert_eq!(e, "timed out");
        drop(listener);
        let e = get(&url, &[], "ua", None).err().unwrap();
        assert!(
            e.starts_with(&format!(
                "connect to {}: Connection refused",
                &url[7..url.len() - 1]
            )),
            "{e}"
        );
    }
}
