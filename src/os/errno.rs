//! OS errors as text without allocating (`io::Error`'s `Display` builds a
//! `String`; musl's `strerror` returns static text).

use std::fmt;

/// `Resource temporarily unavailable (errno 11)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's last error.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: musl's strerror returns a pointer to static, NUL-terminated text.
        let text = unsafe { std::ffi::CStr::from_ptr(libc::strerror(self.0)) };
        write!(f, "{} (errno {})", Lossy(text.to_bytes()), self.0)
    }
}

/// For start-up messages that keep `io::Error`'s wording ("(os error N)").
impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> std::io::Error {
        std::io::Error::from_raw_os_error(e.0)
    }
}

/// Bytes shown as text, invalid UTF-8 replaced, without allocating.
pub struct Lossy<'a>(pub &'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}
