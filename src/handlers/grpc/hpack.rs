//! HPACK (RFC 7541): the literals the client sends, and a full decoder
//! (dynamic table, Huffman) for what the server sends.

use std::collections::VecDeque;

/// An HPACK "literal header field without indexing — new name", no Huffman.
pub(super) fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
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
pub(super) struct Hpack {
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
    pub(super) fn new(limit: usize) -> Hpack {
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
    pub(super) fn decode(
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
    use crate::handlers::grpc::hex;

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
}
