//! Text formatted into a caller's stack buffer: PID 1 does not allocate
//! after start-up.

use std::fmt;

/// A number of ASCII digits only (at least one; no sign, no spaces), as
/// /proc, cgroup files and the notify protocol write them: `None` for
/// anything else or past `u64::MAX`. One loop for all of them, where
/// `str::parse` would first check the bytes as UTF-8.
pub fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let d = b.wrapping_sub(b'0');
        (d <= 9).then(|| n.checked_mul(10)?.checked_add(u64::from(d)))?
    })
}

/// `parts.join(sep)`, one allocation of the exact size as std's; one small
/// copy per element type instead of std's two `join` instances (800 bytes).
pub fn join<S: AsRef<str>>(parts: &[S], sep: &str) -> String {
    let len = parts.iter().map(|p| p.as_ref().len()).sum::<usize>()
        + sep.len() * parts.len().saturating_sub(1);
    let mut out = String::with_capacity(len);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(p.as_ref());
    }
    out
}

/// Formats `args` into `buf`; what does not fit is dropped (at a character
/// boundary). The length written, and whether all of it fit.
pub fn format_into(buf: &mut [u8], args: fmt::Arguments<'_>) -> (usize, bool) {
    let mut cursor = Cursor {
        buf,
        len: 0,
        cut: false,
    };
    let _ = fmt::write(&mut cursor, args);
    (cursor.len, !cursor.cut)
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
    cut: bool,
}

impl fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if !push_cut(self.buf, &mut self.len, s) {
            self.cut = true;
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Appends `s` to `buf[..*len]`, as much as fits in `buf` (whole characters
/// only); false if some of it did not fit.
pub fn push_cut(buf: &mut [u8], len: &mut usize, s: &str) -> bool {
    // `*len` may already be past a limit the caller lowered since.
    let room = buf.len().saturating_sub(*len);
    if room == 0 {
        return s.is_empty();
    }
    let mut take = s.len().min(room);
    while !s.is_char_boundary(take) {
        take -= 1;
    }
    buf[*len..*len + take].copy_from_slice(&s.as_bytes()[..take]);
    *len += take;
    take == s.len()
}

/// `s` in double quotes, as `{:?}` writes text: `"`, `\` and control
/// characters escaped (`\n`, `\r`, `\t`, `\0`, else `\u{1b}`), so that a
/// message stays on one line. Other characters, non-ASCII included, are
/// written as they are: `{:?}` would also escape unprintable Unicode, with
/// 5 KB of Unicode tables and escaping code in the binary (README, "Size").
pub struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        let mut start = 0;
        for (i, c) in self.0.char_indices() {
            let short = match c {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\0' => "\\0",
                // C0 and C1 controls, DEL, and the Unicode line and paragraph
                // separators.
                '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' => "",
                _ => continue,
            };
            f.write_str(&self.0[start..i])?;
            start = i + c.len_utf8();
            if short.is_empty() {
                write!(f, "\\u{{{:x}}}", u32::from(c))?;
            } else {
                f.write_str(short)?;
            }
        }
        f.write_str(&self.0[start..])?;
        f.write_str("\"")
    }
}

/// A list of texts as `{:?}` writes one: `["a", "b c"]`, each [`Quoted`].
pub struct QuotedList<'a, S>(pub &'a [S]);

impl<S: AsRef<str>> fmt::Display for QuotedList<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, s) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { "" } else { ", " })?;
            Quoted(s.as_ref()).fmt(f)?;
        }
        f.write_str("]")
    }
}

/// Where `needle` first occurs in `hay`. `str::find` with a text pattern
/// brings core's Two-Way searcher (2 KB, README "Size"), which only long
/// texts gain from; a match of a whole UTF-8 `needle` starts on a character.
pub fn find(hay: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// `hay.rfind(c)` for an ASCII `c`, by bytes: std's reverse char searcher
/// (600 bytes) is then not in the binary.
pub fn rfind_byte(hay: &str, c: u8) -> Option<usize> {
    hay.bytes().rposition(|b| b == c)
}

/// `s.trim_end_matches(c)` for an ASCII `c`, by bytes (as [`rfind_byte`]).
pub fn trim_end_byte(s: &str, c: u8) -> &str {
    // The byte after the last one that is not `c` is `c` (ASCII) or the
    // end: a char boundary.
    &s[..s.bytes().rposition(|b| b != c).map_or(0, |i| i + 1)]
}

/// `hay.split_once(needle)`, by [`find`].
pub fn split_once<'a>(hay: &'a str, needle: &str) -> Option<(&'a str, &'a str)> {
    let at = find(hay, needle)?;
    Some((&hay[..at], &hay[at + needle.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_digits_only_up_to_u64_max() {
        assert_eq!(decimal(b"0"), Some(0));
        assert_eq!(decimal(b"0042"), Some(42));
        assert_eq!(decimal(b"18446744073709551615"), Some(u64::MAX));
        for bad in [
            &b""[..],
            b"18446744073709551616",
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"/",
            b":",
        ] {
            assert_eq!(decimal(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn what_does_not_fit_is_cut_at_a_character() {
        let mut buf = [0u8; 4];
        assert_eq!(format_into(&mut buf, format_args!("ab")), (2, true));
        assert_eq!(
            format_into(&mut buf, format_args!("a{}", "bcé")),
            (3, false)
        );
        assert_eq!(&buf[..3], b"abc");
        let mut len = 6;
        assert!(
            !push_cut(&mut buf, &mut len, "x"),
            "past the end: nothing, no panic"
        );
        assert!(push_cut(&mut buf, &mut len, ""));
        assert_eq!(len, 6);
    }

    #[test]
    fn quotes_as_debug_does_for_ascii_and_controls() {
        // Every ASCII character, and controls of every kind.
        let ascii: String = (0u8..128).map(char::from).collect();
        for s in [
            ascii.as_str(),
            "",
            "a b",
            "x\u{85}y\u{2028}",
            "tab\there \"q\" \\",
        ] {
            assert_eq!(Quoted(s).to_string(), format!("{s:?}"), "{s:?}");
        }
        // Beyond: written as it is (`{:?}` escapes a leading combining mark).
        assert_eq!(Quoted("é\u{301}z").to_string(), "\"é\u{301}z\"");
        let argv = ["sh".to_string(), "-c".into(), "echo \"hi\"\n".into()];
        assert_eq!(QuotedList(&argv).to_string(), format!("{argv:?}"));
        assert_eq!(QuotedList::<&str>(&[]).to_string(), "[]");
    }

    #[test]
    fn byte_searches_match_strs() {
        for s in ["", ":", "a:b:c", "é:é", "100", "1.500", "000", "/a//", "é0"] {
            assert_eq!(rfind_byte(s, b':'), s.rfind(':'), "{s:?}");
            assert_eq!(trim_end_byte(s, b'0'), s.trim_end_matches('0'), "{s:?}");
            assert_eq!(trim_end_byte(s, b'/'), s.trim_end_matches('/'), "{s:?}");
        }
    }

    #[test]
    fn finds_and_splits_as_str_does() {
        for (hay, needle) in [
            ("http://x", "://"),
            ("a--b--", "--"),
            ("", "x"),
            ("abc", ""),
            ("éé--", "--"),
            ("x (os error 2)", " (os error"),
            ("aaa", "aa"),
        ] {
            assert_eq!(find(hay, needle), hay.find(needle), "{hay:?} {needle:?}");
            assert_eq!(split_once(hay, needle), hay.split_once(needle));
        }
    }
}
