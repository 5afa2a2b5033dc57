//! The process environment, read in place.

use std::ffi::{c_char, CStr, CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

extern "C" {
    /// The C runtime's environment: a NULL-terminated array of
    /// NUL-terminated `NAME=VALUE` strings.
    static mut environ: *const *const c_char;
}

/// Makes `envp` the environment the next `exec` passes on. Only in a
/// forked child about to exec (nothing else reads `environ` there).
///
/// # Safety
/// In the child of a `fork` only, with `envp` alive until the exec.
pub unsafe fn set_for_exec(envp: &Envp) {
    // SAFETY: the caller is a single-threaded child about to exec; `envp`
    // outlives the exec (the parent's memory, copied by fork).
    unsafe { environ = envp.as_ptr() };
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

/// The value of `name` (no `=`, no NUL) in the environment, read in place:
/// its first entry, as `getenv`. `environ` never changes (hookinit sets no
/// variable), so the bytes live as long as the process.
pub fn var(name: &[u8]) -> Option<&'static [u8]> {
    // SAFETY: as in `vars_with_prefix`: a NULL-terminated array of
    // NUL-terminated strings that nothing changes or frees.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            let bytes = CStr::from_ptr(*entry).to_bytes();
            if let Some(value) = bytes.strip_prefix(name).and_then(|v| v.strip_prefix(b"=")) {
                return Some(value);
            }
            entry = entry.add(1);
        }
    }
    None
}

/// An environment for one child: hookinit's own, less some names, plus
/// some settable `NAME=VALUE` entries; built once, at start-up.
pub struct Envp {
    _strings: Vec<CString>,
    /// Entries [`Envp::set`] rewrites in place, and where each value begins.
    slots: Vec<(Box<[u8]>, usize)>,
    pointers: Vec<*const c_char>,
}

/// Bytes a settable entry holds, its `NAME=` and NUL included: room for
/// `NOTIFY_SOCKET=` and the longest socket name (107 bytes).
const SLOT: usize = 128;

impl Envp {
    /// hookinit's environment without the variables named in `drop`.
    fn with(drop: &[&[u8]]) -> Envp {
        let mut strings = Vec::new();
        // SAFETY: as in `vars_with_prefix`: a NULL-terminated array of
        // NUL-terminated strings that nothing changes while we read it.
        unsafe {
            let mut entry = environ;
            while !entry.is_null() && !(*entry).is_null() {
                let bytes = CStr::from_ptr(*entry).to_bytes();
                let name = bytes.split(|&b| b == b'=').next().unwrap_or(bytes);
                if !drop.contains(&name) {
                    strings.push(CStr::from_ptr(*entry).to_owned());
                }
                entry = entry.add(1);
            }
        }
        let mut pointers: Vec<_> = strings.iter().map(|s| s.as_ptr()).collect();
        pointers.push(std::ptr::null());
        Envp {
            _strings: strings,
            slots: Vec::new(),
            pointers,
        }
    }

    /// As [`Envp::with`], plus an entry per name in `names` whose value
    /// [`Envp::set`] changes in place, allocating nothing (empty until set).
    pub fn with_slots(drop: &[&[u8]], names: &[&[u8]]) -> Envp {
        let mut e = Envp::with(drop);
        e.pointers.pop();
        for name in names {
            let mut entry = vec![0u8; SLOT].into_boxed_slice();
            entry[..name.len()].copy_from_slice(name);
            entry[name.len()] = b'=';
            // The boxed bytes never move: the pointer stays good.
            e.pointers.push(entry.as_ptr().cast());
            e.slots.push((entry, name.len() + 1));
        }
        e.pointers.push(std::ptr::null());
        e
    }

    /// Sets the value of the `i`th entry of `with_slots` (cut to fit).
    pub fn set(&mut self, i: usize, value: &[u8]) {
        let (entry, start) = &mut self.slots[i];
        let n = value.len().min(SLOT - 1 - *start);
        entry[*start..*start + n].copy_from_slice(&value[..n]);
        entry[*start + n] = 0;
    }

    /// The NULL-terminated array for `environ`/`execve`.
    pub fn as_ptr(&self) -> *const *const c_char {
        self.pointers.as_ptr()
    }
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
        let path = std::env::var_os("PATH").unwrap();
        assert_eq!(var(b"PATH"), Some(path.as_bytes()));
        assert_eq!(
            (var(b"PAT"), var(b"HOOKINIT_TEST_NO_SUCH_VAR")),
            (None, None)
        );
    }
}

#[cfg(test)]
mod envp_tests {
    use super::*;

    #[test]
    fn drops_the_named_variables_and_adds_its_own() {
        let mut e = Envp::with_slots(&[b"PATH"], &[b"NOTIFY_SOCKET"]);
        e.set(0, b"@x");
        let all = entries(&e);
        assert!(all.iter().all(|v| !v.starts_with(b"PATH=")));
        assert_eq!(all.last().unwrap(), b"NOTIFY_SOCKET=@x");
    }

    fn entries(e: &Envp) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        // SAFETY: `as_ptr` is a NULL-terminated array of C strings owned by `e`.
        unsafe {
            let mut p = e.as_ptr();
            while !(*p).is_null() {
                all.push(CStr::from_ptr(*p).to_bytes().to_vec());
                p = p.add(1);
            }
        }
        all
    }

    #[test]
    fn slots_are_empty_until_set_and_rewritten_in_place_cut_to_fit() {
        let mut e = Envp::with_slots(&[b"PATH"], &[b"A", b"BB"]);
        let all = entries(&e);
        assert_eq!(&all[all.len() - 2..], [b"A=".to_vec(), b"BB=".to_vec()]);
        e.set(1, b"long value");
        e.set(1, b"short");
        e.set(0, &[b'x'; 200]);
        let all = entries(&e);
        assert_eq!(all[all.len() - 1], b"BB=short");
        assert_eq!(all[all.len() - 2].len(), SLOT - 1);
    }
}
