//! hookinit's entry point.
//!
//! `#![no_main]`: the Rust runtime's own start-up sets SIGPIPE to ignored
//! before `main`, after which hookinit could no longer see (nor hand on to
//! the app) the SIGPIPE disposition it was started with. With a C `main`,
//! nothing touches the signal state before `hookinit::run` records it.
#![no_main]

use std::ffi::{c_char, c_int, CStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// # Safety
/// Called by the C runtime with its `argc`/`argv`.
#[no_mangle]
pub unsafe extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let args: Vec<OsString> = (0..argc.max(0) as usize)
        // SAFETY: the C runtime passes argc valid NUL-terminated strings.
        .map(|i| {
            std::ffi::OsStr::from_bytes(unsafe { CStr::from_ptr(*argv.add(i)) }.to_bytes())
                .to_os_string()
        })
        .collect();
    hookinit::run(args)
}
