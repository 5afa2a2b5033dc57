//! OS errors as text without allocating (`io::Error`'s `Display` builds a
//! `String`; musl's `strerror` returns static text).

use std::fmt;

/// `Resource temporarily unavailable (errno 11)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's last error.
    pub fn last() -> Errno {
        Errno(crate::spawn::errno())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: musl's strerror returns a pointer to static, NUL-terminated text.
        let text = unsafe { std::ffi::CStr::from_ptr(libc::strerror(self.0)) };
        write!(
            f,
            "{} (errno {})",
            crate::spawn::Lossy(text.to_bytes()),
            self.0
        )
    }
}
