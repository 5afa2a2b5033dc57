//! hookinit's entry point.
//!
//! `#![no_main]`: the Rust runtime's own start-up sets SIGPIPE to ignored
//! before `main`, after which hookinit could no longer see (nor hand on to
//! the app) the SIGPIPE disposition it was started with. With a C `main`,
//! nothing touches the signal state before `hookinit::run` records it.
#![no_main]

use std::ffi::{c_char, c_int};

/// # Safety
/// Called by the C runtime with its `argc`/`argv`.
#[no_mangle]
pub unsafe extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    // SAFETY: the C runtime passes argc valid NUL-terminated strings.
    hookinit::run(unsafe { hookinit::os::args::from_c(argc, argv) })
}
