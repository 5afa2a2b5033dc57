//! Processes left behind: what "everything" means when hookinit signals it.
//!
//! As PID 1, everything is the whole PID namespace (`kill(-1)`), which also
//! reaches processes that left the app's group with setsid (dumb-init#191).
//! Not as PID 1, `kill(-1)` would reach everything the user owns on the host,
//! so the scope is hookinit's own descendants, found through /proc.

use std::collections::HashSet;
use std::fs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// hookinit is PID 1: every process in the namespace.
    Namespace,
    /// hookinit is not PID 1: its descendants only.
    Descendants,
}

impl Scope {
    pub fn detect() -> Self {
        if std::process::id() == 1 {
            Scope::Namespace
        } else {
            Scope::Descendants
        }
    }

    /// Sends `sig` to every process in scope but hookinit itself.
    pub fn signal_all(self, sig: i32) {
        match self {
            // SAFETY: plain syscall. As PID 1 the kernel skips the caller.
            Scope::Namespace => unsafe {
                libc::kill(-1, sig);
            },
            Scope::Descendants => {
                for pid in descendants(std::process::id() as i32) {
                    // SAFETY: plain syscall on a pid found under us just now.
                    unsafe { libc::kill(pid, sig) };
                }
            }
        }
    }
}

/// Every process whose chain of parents reaches `root`, from /proc.
fn descendants(root: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut links: Vec<(i32, i32)> = dir
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut found: HashSet<i32> = HashSet::from([root]);
    let mut result = Vec::new();
    // Repeat until no new process joins: /proc is not listed parents-first.
    loop {
        let before = result.len();
        links.retain(|&(pid, ppid)| {
            if found.contains(&ppid) {
                found.insert(pid);
                result.push(pid);
                false
            } else {
                true
            }
        });
        if result.len() == before {
            return result;
        }
    }
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: parse after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}
