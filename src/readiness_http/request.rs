//! Reading a request, byte by byte, in a few bytes of state: the method and
//! where the head ends. Nothing is kept of the rest (path, headers): every
//! path answers the same, and a client can change nothing.

/// The most a request's head may take; a longer one is answered 400.
pub const MAX_HEAD: u16 = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// A well-formed method other than GET and HEAD: 405.
    Other,
}

/// What the bytes so far say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// More bytes are needed.
    More,
    /// A whole head: answer it.
    Complete(Method),
    /// Not HTTP, or too long: 400.
    Bad,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Request {
    /// The method's first bytes (enough to tell GET from HEAD).
    method: [u8; 5],
    method_len: u8,
    /// Past the method (its space was seen).
    in_line: bool,
    /// The request line ended.
    line_done: bool,
    /// Line ends in a row ('\r' ignored): two end the head.
    newlines: u8,
    seen: u16,
}

impl Request {
    pub fn feed(&mut self, bytes: &[u8]) -> Verdict {
        for &b in bytes {
            self.seen = self.seen.saturating_add(1);
            if self.seen > MAX_HEAD {
                return Verdict::Bad;
            }
            if !self.in_line {
                match b {
                    b' ' if self.method_len > 0 => self.in_line = true,
                    // A token character (RFC 9110): anything else is not HTTP.
                    b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^'..=b'`' | b'|' | b'~' => {
                        self.push(b)
                    }
                    b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => self.push(b),
                    _ => return Verdict::Bad,
                }
                if self.method_len > 16 {
                    return Verdict::Bad;
                }
                continue;
            }
            match b {
                b'\n' => {
                    self.line_done = true;
                    self.newlines += 1;
                    if self.newlines == 2 {
                        return Verdict::Complete(self.method());
                    }
                }
                b'\r' => {}
                _ => self.newlines = 0,
            }
        }
        Verdict::More
    }

    /// The peer shut down its side: a request line is enough (`printf 'GET
    /// / HTTP/1.0\n' | nc`); less is nothing to answer.
    pub fn at_end(&self) -> Verdict {
        match self.line_done {
            true => Verdict::Complete(self.method()),
            false => Verdict::Bad,
        }
    }

    /// Whether any byte came.
    pub fn started(&self) -> bool {
        self.seen > 0
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.method.get_mut(self.method_len as usize) {
            *slot = b;
        }
        self.method_len += 1;
    }

    fn method(&self) -> Method {
        match &self.method[..(self.method_len as usize).min(5)] {
            _ if self.method_len > 5 => Method::Other,
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            _ => Method::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(bytes: &[u8]) -> Verdict {
        Request::default().feed(bytes)
    }

    #[test]
    fn a_get_or_head_head_is_complete_at_its_blank_line() {
        let get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(verdict(get), Verdict::Complete(Method::Get));
        assert_eq!(
            verdict(b"HEAD / HTTP/1.0\n\n"),
            Verdict::Complete(Method::Head)
        );
        assert_eq!(
            verdict(b"OPTIONS * HTTP/1.1\r\n\r\n"),
            Verdict::Complete(Method::Other)
        );
        assert_eq!(
            verdict(b"GETX / HTTP/1.1\r\n\r\n"),
            Verdict::Complete(Method::Other)
        );
        assert_eq!(
            verdict(b"HEADER / HTTP/1.1\r\n\r\n"),
            Verdict::Complete(Method::Other)
        );
    }

    #[test]
    fn a_head_split_anywhere_is_the_same_head() {
        let whole = b"GET / HTTP/1.1\r\nUser-Agent: a\r\n\r\n";
        for cut in 0..whole.len() {
            let mut r = Request::default();
            assert_eq!(r.feed(&whole[..cut]), Verdict::More, "cut {cut}");
            assert_eq!(r.feed(&whole[cut..]), Verdict::Complete(Method::Get));
        }
        let mut r = Request::default();
        for b in whole.iter().take(whole.len() - 1) {
            assert_eq!(r.feed(&[*b]), Verdict::More);
        }
        assert_eq!(r.feed(b"\n"), Verdict::Complete(Method::Get));
    }

    #[test]
    fn bytes_that_are_not_http_are_bad_at_once() {
        assert_eq!(verdict(b"\x16\x03\x01\x02\x00"), Verdict::Bad);
        assert_eq!(verdict(b" GET / HTTP/1.1"), Verdict::Bad);
        assert_eq!(verdict(b"\r\n"), Verdict::Bad);
        assert_eq!(verdict(b"\0"), Verdict::Bad);
        assert_eq!(verdict(&[b'A'; 17]), Verdict::Bad);
    }

    #[test]
    fn a_head_longer_than_the_limit_is_bad() {
        let mut r = Request::default();
        assert_eq!(r.feed(b"GET / HTTP/1.1\r\n"), Verdict::More);
        let header = [b'x'; 100];
        let mut last = Verdict::More;
        for _ in 0..50 {
            last = r.feed(&header);
            if last != Verdict::More {
                break;
            }
        }
        assert_eq!(last, Verdict::Bad);
    }

    #[test]
    fn a_peer_that_shuts_down_after_the_request_line_is_answered() {
        let mut r = Request::default();
        r.feed(b"GET / HTTP/1.0\r\n");
        assert_eq!(r.at_end(), Verdict::Complete(Method::Get));
        let mut r = Request::default();
        r.feed(b"GET / HTT");
        assert_eq!(r.at_end(), Verdict::Bad);
        assert_eq!(Request::default().at_end(), Verdict::Bad);
    }
}
