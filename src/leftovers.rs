//! Processes left behind: what "everything" means when hookinit signals it.
//!
//! As PID 1, everything is the whole PID namespace (`kill(-1)`), which also
//! reaches processes that left the app's group with setsid (dumb-init#191).
//! Not as PID 1, `kill(-1)` would reach everything the user owns on the host,
//! so the scope is hookinit's own descendants, found through /proc.
//!
//! The walk runs on the stop path, so it allocates nothing: /proc is read
//! with `getdents64` and `read` into stack buffers, and the descendants found
//! go into a table made at start-up. When /proc cannot be walked (not
//! mounted, out of descriptors or memory), or the table is full, the app's
//! process group is signalled too, and the result says so.

use crate::os::errno::Errno;
use crate::os::proc::{self, ProcDir, Stat};
use crate::os::process;
use std::fmt;

/// The most descendants the walk keeps track of (32 KiB of table).
const MAX_DESCENDANTS: usize = 8192;

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
}

/// What signalling "everything" did, for the event that reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signalled {
    /// As PID 1: `kill(-1)` reached at least one process.
    Namespace,
    /// As PID 1: there was nothing left to signal.
    Nothing,
    /// Not PID 1: this many descendants got it; `refused` of them did not
    /// (EPERM: not ours to signal).
    Descendants { sent: usize, refused: usize },
    /// Not PID 1: /proc could not be walked (or held more than the table);
    /// the app's process group got it instead.
    AppGroupOnly(Errno),
}

impl Signalled {
    /// Whether the signal reached at least one process.
    pub fn delivered(self) -> bool {
        match self {
            Signalled::Namespace => true,
            Signalled::Nothing => false,
            Signalled::Descendants { sent, .. } => sent > 0,
            Signalled::AppGroupOnly(_) => true,
        }
    }
}

impl fmt::Display for Signalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Signalled::Namespace => f.write_str("every process left"),
            Signalled::Nothing => f.write_str("no process was left"),
            Signalled::Descendants { sent, refused: 0 } => {
                write!(f, "{sent} process(es) left")
            }
            Signalled::Descendants { sent, refused } => write!(
                f,
                "{sent} process(es) left; {refused} more refused it (not ours to signal)"
            ),
            Signalled::AppGroupOnly(e) => write!(
                f,
                "the app's process group only: /proc cannot be walked ({e})"
            ),
        }
    }
}

pub struct Leftovers {
    scope: Scope,
    /// Descendants found by the last walk (capacity reserved at start-up).
    found: Vec<i32>,
}

impl Leftovers {
    /// How many processes besides hookinit are left, as PID 1 (`None`
    /// when /proc is not this namespace's own, or cannot be read); not as
    /// PID 1, signalling them counts them. Dead and dying ones are not
    /// left: zombies, and the hooks' and probes' processes hookinit has
    /// just SIGKILLed, not yet reaped.
    pub fn count_in_namespace(&self) -> Option<usize> {
        if self.scope != Scope::Namespace || !proc::is_ours() {
            return None;
        }
        let dir = ProcDir::open().ok()?;
        let mut others = 0;
        dir.for_each_entry(|name| {
            if proc::pid(name).is_some_and(|pid| pid != 1 && left(pid)) {
                others += 1;
            }
            Ok(())
        })
        .ok()?;
        Some(others)
    }

    pub fn new(scope: Scope) -> Leftovers {
        let capacity = match scope {
            Scope::Namespace => 0,
            Scope::Descendants => MAX_DESCENDANTS,
        };
        Leftovers {
            scope,
            found: Vec::with_capacity(capacity),
        }
    }

    /// Sends `sig` to every process in scope but hookinit itself; `app_group`
    /// is the fallback when /proc cannot tell what is ours.
    pub fn signal_all(&mut self, sig: i32, app_group: i32) -> Signalled {
        match self.scope {
            Scope::Namespace => {
                // As PID 1 the kernel skips the caller.
                if process::kill_everyone(sig).is_ok() {
                    Signalled::Namespace
                } else {
                    Signalled::Nothing
                }
            }
            Scope::Descendants => match self.walk(std::process::id() as i32) {
                Ok(()) => {
                    let (mut sent, mut refused) = (0, 0);
                    for &pid in self.found.iter().filter(|&&pid| left(pid)) {
                        // A pid found under us just now.
                        match process::kill_process(pid, sig) {
                            Ok(()) => sent += 1,
                            Err(e) if e.0 == libc::EPERM => refused += 1,
                            Err(_) => {} // ESRCH: it exited meanwhile.
                        }
                    }
                    Signalled::Descendants { sent, refused }
                }
                Err(e) => {
                    // What the walk found still gets it, and so does the app's group.
                    // Best effort: what failed is said by AppGroupOnly.
                    for &pid in &self.found {
                        let _ = process::kill_process(pid, sig);
                    }
                    // No app (a run that ended before it): no group, and
                    // `kill(-0)` would be hookinit's own. Nothing is claimed.
                    if app_group <= 0 {
                        return Signalled::Nothing;
                    }
                    let _ = process::kill_process_group(app_group, sig);
                    Signalled::AppGroupOnly(e)
                }
            },
        }
    }

    /// Fills `found` with every process whose chain of parents reaches
    /// `root`: passes over /proc until one adds nothing (/proc is not listed
    /// parents-first), so the cost is the tree's depth times the process count.
    fn walk(&mut self, root: i32) -> Result<(), Errno> {
        self.found.clear();
        loop {
            let before = self.found.len();
            let dir = ProcDir::open()?;
            let found = &mut self.found;
            dir.for_each_entry(|name| {
                let Some(pid) = proc::pid(name) else {
                    return Ok(());
                };
                if found.contains(&pid) {
                    return Ok(());
                }
                // An error here (EMFILE, ENOMEM) is not "it exited": the
                // walk cannot tell what is ours, and says so.
                let Some(ppid) = parent_of(pid)? else {
                    return Ok(()); // it exited meanwhile
                };
                if ppid == root || found.contains(&ppid) {
                    if found.len() == found.capacity() {
                        return Err(Errno(libc::ENOSPC));
                    }
                    found.push(pid);
                }
                Ok(())
            })?;
            if self.found.len() == before {
                return Ok(());
            }
        }
    }
}

/// Whether `pid` is there and neither dead nor dying ([`Stat::dying`]);
/// one that cannot be read for another reason counts as there.
fn left(pid: i32) -> bool {
    let mut buf = [0u8; 512];
    match Stat::read(pid, &mut buf) {
        Ok(stat) => stat.is_some_and(|s| !s.dying()),
        Err(_) => true,
    }
}

/// The parent of `pid` from /proc/PID/stat, read into a stack buffer:
/// `None` if the process is gone (its stat file too, or empty), an error if
/// the file cannot be opened for another reason.
fn parent_of(pid: i32) -> Result<Option<i32>, Errno> {
    let mut buf = [0u8; 512];
    Ok(Stat::read(pid, &mut buf)?.and_then(|stat| stat.ppid()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_its_own_children() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let mut l = Leftovers::new(Scope::Descendants);
        l.walk(std::process::id() as i32).unwrap();
        assert!(l.found.contains(&(child.id() as i32)), "{:?}", l.found);
        assert_eq!(
            parent_of(child.id() as i32),
            Ok(Some(std::process::id() as i32))
        );
        assert_eq!(parent_of(i32::MAX - 1), Ok(None));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
