//! hookinit's memory cgroup: the kernel's OOM-kill counter, the limit and
//! the peak, for telling an OOM kill from any other SIGKILL.
//!
//! Found once at start-up (`/proc/self/cgroup`; paths made then); read only
//! at a death by SIGKILL, into a stack buffer, never while running:
//! - cgroup v2: `memory.events` (`oom_kill N`), `memory.max`, `memory.peak`;
//! - cgroup v1: `memory.oom_control` (`oom_kill N`), `memory.limit_in_bytes`,
//!   `memory.max_usage_in_bytes`.
//!
//! The counter counts kills in the cgroup and below it: what matters is
//! that it went up while the dead process lived.

use crate::os::proc;
use std::ffi::{CStr, CString};

/// v1 writes "no limit" as the largest page-aligned value.
const V1_UNLIMITED: u64 = 0x7FFF_FFFF_FFFF_F000;

/// The counter's, the limit's and the peak's files, in v2 and in v1.
const V2_FILES: [&str; 3] = ["memory.events", "memory.max", "memory.peak"];
const V1_FILES: [&str; 3] = [
    "memory.oom_control",
    "memory.limit_in_bytes",
    "memory.max_usage_in_bytes",
];

pub struct Memory {
    /// `memory.events` (v2) or `memory.oom_control` (v1).
    events: CString,
    limit: CString,
    peak: CString,
}

/// What [`Memory::limit`] gives for "no limit" (v2's `max`, v1's largest
/// value).
pub const NO_LIMIT: u64 = u64::MAX;

impl Memory {
    /// hookinit's memory cgroup, if its files can be read (start-up: this
    /// allocates its paths). A cgroup namespace shows `/` and mounts the
    /// cgroup's own directory at the root; without one the path is the
    /// host's, which may not be mounted inside the container: the mount's
    /// root is tried next (the container's own cgroup, as Docker mounts it).
    /// With it, the OOM-kill count read to check it.
    pub fn find() -> Option<(Memory, u64)> {
        // A few hundred bytes (v2: one line; v1: one per controller).
        let mut buf = [0u8; 8192];
        let n = proc::read_file(c"/proc/self/cgroup", &mut buf).ok()?;
        // Filled up: maybe cut, not to be read as whole.
        let bytes = buf.get(..n).filter(|_| n < buf.len())?;
        let mut v1 = None;
        let mut v2 = None;
        // Lines `id:controllers:path`, by bytes (no UTF-8 check, no splitters).
        for line in bytes.split(|&b| b == b'\n') {
            let Some(a) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let Some(b) = line[a + 1..].iter().position(|&b| b == b':') else {
                continue;
            };
            let (id, controllers, path) = (&line[..a], &line[a + 1..a + 1 + b], &line[a + 2 + b..]);
            if id == b"0" && controllers.is_empty() {
                v2 = Some(path);
            } else if controllers.split(|&b| b == b',').any(|c| c == b"memory") {
                v1 = Some(path);
            }
        }
        let (mount, path, names): (&[u8], _, _) = match (v1, v2) {
            (Some(path), _) => (b"/sys/fs/cgroup/memory", path, V1_FILES),
            (None, Some(path)) => (b"/sys/fs/cgroup", path, V2_FILES),
            (None, None) => return None,
        };
        // The cgroup's own path, then the mount's root.
        let found = [path, b"/"].into_iter().find_map(|path| {
            let end = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
            let file = |name: &str| {
                // By slice: the `Vec` instance of `CString::new` would be one more.
                CString::new(&[mount, &path[..end], b"/", name.as_bytes()].concat()[..]).ok()
            };
            let memory = Memory {
                events: file(names[0])?,
                limit: file(names[1])?,
                peak: file(names[2])?,
            };
            let seen = memory.oom_kills()?;
            Some((memory, seen))
        });
        found
    }

    /// The cgroup's OOM-kill count (`oom_kill N`), if it can be read.
    pub fn oom_kills(&self) -> Option<u64> {
        // A line break before the text: every line, the first too, is found
        // by its break.
        let mut buf = [b'\n'; 512];
        let n = proc::read_file(&self.events, &mut buf[1..]).ok()?;
        let text = &buf[..=n];
        let at = text.windows(10).position(|w| w == b"\noom_kill ")? + 10;
        crate::os::text::decimal(text[at..].split(|&b| b == b'\n').next()?)
    }

    /// The memory limit, when the kernel tells it ([`NO_LIMIT`] for none).
    pub fn limit(&self) -> Option<u64> {
        read_number(&self.limit)
    }

    /// The highest memory use recorded, when the kernel tells it
    /// (`memory.peak` needs Linux 5.19).
    pub fn peak(&self) -> Option<u64> {
        read_number(&self.peak)
    }

    /// The file the counter is read from, for messages.
    pub fn events_file(&self) -> &CStr {
        &self.events
    }
}

/// The number in the file at `path` (one copy for the limit and the peak):
/// `max`, or v1's "no limit", is [`NO_LIMIT`].
#[inline(never)]
fn read_number(path: &CStr) -> Option<u64> {
    let mut buf = [0u8; 32];
    let n = proc::read_file(path, &mut buf).ok()?;
    let text = buf[..n].trim_ascii();
    match text {
        b"max" => Some(NO_LIMIT),
        _ => crate::os::text::decimal(text).map(|n| if n < V1_UNLIMITED { n } else { NO_LIMIT }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_the_limit_and_the_peak_as_the_kernel_writes_them() {
        let dir = std::env::temp_dir().join(format!("hookinit-cgroup-{}", std::process::id()));
        // Each cgroup's three files as the kernel writes them, and what is
        // read from them: the OOM-kill count, the limit, the peak.
        let cases = [
            // v2: `oom_group_kill` must not be read for `oom_kill`.
            (
                "v2",
                [
                    "low 0\nhigh 0\nmax 12\noom 2\noom_kill 3\noom_group_kill 9\n",
                    "max\n",
                    "67108864\n",
                ],
                (Some(3), Some(NO_LIMIT), Some(67108864)),
            ),
            // v1: the counter is the third line; "no limit" a huge number.
            (
                "v1",
                [
                    "oom_kill_disable 0\nunder_oom 0\noom_kill 7\n",
                    "9223372036854771712\n",
                    "1048576\n",
                ],
                (Some(7), Some(NO_LIMIT), Some(1048576)),
            ),
            // An old kernel: no `oom_kill` line, an empty `memory.peak`.
            (
                "old",
                ["low 0\nhigh 0\nmax 0\noom 0\n", "268435456\n", ""],
                (None, Some(268435456), None),
            ),
        ];
        for (name, texts, want) in cases {
            let cgroup = dir.join(name);
            std::fs::create_dir_all(&cgroup).unwrap();
            let file = |name: &str, text: &str| {
                let p = cgroup.join(name);
                std::fs::write(&p, text).unwrap();
                CString::new(p.into_os_string().into_encoded_bytes()).unwrap()
            };
            let memory = Memory {
                events: file("events", texts[0]),
                limit: file("limit", texts[1]),
                peak: file("peak", texts[2]),
            };
            let got = (memory.oom_kills(), memory.limit(), memory.peak());
            assert_eq!(got, want, "{name}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
