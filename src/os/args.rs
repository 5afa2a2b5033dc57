//! The command line as the C runtime hands it to `main`: with `#![no_main]`
//! (see main.rs), musl gives std no argv, so hookinit reads it itself.

use std::ffi::{c_char, c_int, CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Where the kernel laid out argv's strings (one block): rewritten by
/// [`set_title`] in a forked child. Null if argv was not one block.
static AREA: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static AREA_LEN: AtomicUsize = AtomicUsize::new(0);

/// The C entry point, for the binary's `main.rs` (under `#![no_main]`):
/// `c_main!(hookinit::run)` defines `main(argc, argv)`, which hands the C
/// runtime's argv, read by [`from_c`], to the given function. The raw
/// pointers stay here, behind the os/ door.
#[macro_export]
macro_rules! c_main {
    ($run:path) => {
        /// # Safety
        /// Called by the C runtime with its `argc`/`argv`.
        #[no_mangle]
        pub unsafe extern "C" fn main(
            argc: ::std::ffi::c_int,
            argv: *const *const ::std::ffi::c_char,
        ) -> ::std::ffi::c_int {
            // SAFETY: the C runtime passes argc valid NUL-terminated strings.
            $run(unsafe { $crate::os::args::from_c(argc, argv) })
        }
    };
}

/// `argv[0..argc]` as owned strings.
///
/// # Safety
/// `argv` must hold `argc` valid NUL-terminated strings, as the C runtime
/// passes them to `main`.
pub unsafe fn from_c(argc: c_int, argv: *const *const c_char) -> Vec<OsString> {
    let args = (0..argc.max(0) as usize)
        .map(|i| {
            // SAFETY: the caller's promise: entry i < argc is a valid C string.
            let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
            OsStr::from_bytes(arg.to_bytes()).to_os_string()
        })
        .collect();
    // SAFETY: the caller's promise, as above.
    unsafe { remember_area(argc, argv) };
    args
}

/// Records argv's block if its strings follow each other, as execve lays
/// them out (else [`set_title`] does nothing).
///
/// # Safety
/// As [`from_c`].
unsafe fn remember_area(argc: c_int, argv: *const *const c_char) {
    if argc < 1 {
        return;
    }
    // SAFETY: entry 0 < argc is a valid C string (the caller's promise).
    let start = unsafe { *argv } as *mut u8;
    let mut end = start;
    for i in 0..argc as usize {
        // SAFETY: entry i < argc is a valid C string (the caller's promise).
        let arg = unsafe { *argv.add(i) } as *mut u8;
        if arg != end {
            return;
        }
        // SAFETY: within the string just checked, and one past its NUL.
        end = unsafe { arg.add(CStr::from_ptr(arg.cast()).to_bytes().len() + 1) };
    }
    AREA.store(start, Ordering::Relaxed);
    AREA_LEN.store(end as usize - start as usize, Ordering::Relaxed);
}

/// In a forked child of hookinit: shows `title` as its command line
/// (/proc/PID/cmdline, `ps`, `pgrep -f`) instead of PID 1's, cut to the
/// length of hookinit's own. Allocates nothing.
pub fn set_title(title: &CStr) {
    let (start, len) = (
        AREA.load(Ordering::Relaxed),
        AREA_LEN.load(Ordering::Relaxed),
    );
    if start.is_null() || len < 2 {
        return;
    }
    let text = title.to_bytes();
    let n = text.len().min(len - 2);
    // SAFETY: the block is this process's own argv strings, `len` bytes,
    // which nothing reads after `from_c` copied them.
    unsafe {
        std::ptr::copy_nonoverlapping(text.as_ptr(), start, n);
        std::ptr::write_bytes(start.add(n), 0, len - n);
        // A last byte that is not NUL tells the kernel the block was
        // rewritten: /proc/PID/cmdline then ends at the title's NUL.
        *start.add(len - 1) = b' ';
    }
}
