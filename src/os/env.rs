//! The process environment, read in place.

use std::ffi::{c_char, CStr, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

extern "C" {
    /// The C runtime's environment: a NULL-terminated array of
    /// NUL-terminated `NAME=VALUE` strings.
    static environ: *const *const c_char;
}

/// The (name, value) pairs of the environment whose name starts with
/// `prefix` (not empty, no NUL byte). `environ` is scanned in place:
/// copying the whole environment (what `std::env::vars_os` does) cost more
/// than everything else at start-up.
pub fn vars_with_prefix(prefix: &[u8]) -> Vec<(OsString, OsString)> {
    debug_assert!(!prefix.is_empty() && !prefix.contains(&0));
    let mut vars = Vec::new();
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated
    // strings, and nothing changes it while we read: hookinit has no threads
    // and never sets a variable. The prefix comparison stops at an entry's
    // NUL (no prefix byte is NUL), so it reads inside the entry.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            // Compare the prefix first: most entries end there, without a strlen.
            let matches = prefix
                .iter()
                .enumerate()
                .all(|(i, &b)| *(*entry).add(i) as u8 == b);
            let bytes = if matches {
                CStr::from_ptr(*entry).to_bytes()
            } else {
                &[]
            };
            if matches {
                let (name, value) = match bytes.iter().position(|&b| b == b'=') {
                    Some(i) => (&bytes[..i], &bytes[i + 1..]),
                    None => (bytes, &b""[..]),
                };
                vars.push((
                    OsStr::from_bytes(name).to_os_string(),
                    OsStr::from_bytes(value).to_os_string(),
                ));
            }
            entry = entry.add(1);
        }
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_variables_with_the_prefix_only() {
        // The test harness's own environment: PATH is set, a made-up prefix is not.
        let path = vars_with_prefix(b"PATH");
        assert!(path
            .iter()
            .any(|(n, v)| n == "PATH" && Some(v.clone()) == std::env::var_os("PATH")));
        assert!(path.iter().all(|(n, _)| n.as_bytes().starts_with(b"PATH")));
        assert!(vars_with_prefix(b"HOOKINIT_TEST_NO_SUCH_PREFIX_").is_empty());
    }
}
