//! The command line as the C runtime hands it to `main`: with `#![no_main]`
//! (see main.rs), musl gives std no argv, so hookinit reads it itself.

use std::ffi::{c_char, c_int, CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// `argv[0..argc]` as owned strings.
///
/// # Safety
/// `argv` must hold `argc` valid NUL-terminated strings, as the C runtime
/// passes them to `main`.
pub unsafe fn from_c(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    (0..argc.max(0) as usize)
        .map(|i| {
            // SAFETY: the caller's promise: entry i < argc is a valid C string.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsStr::from_bytes(arg.to_bytes()).to_os_string()
        })
        .collect()
}
