//! Text formatted into a caller's stack buffer: PID 1 does not allocate
//! after start-up.

use std::fmt;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
