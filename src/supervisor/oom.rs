//! `HOOKINIT_REPORT_OOM`: a death by SIGKILL that hookinit did not send,
//! while the cgroup's OOM-kill counter went up, is the kernel's OOM killer.
//! The counter is read at start-up and at such a death only: of the app, a
//! hook's or a probe's process, or a process the app left that hookinit
//! reaps (each read moves the count the next death is compared with).

use super::Supervisor;
use crate::events::{self, Level};
use crate::os::cgroup::{Memory, NO_LIMIT};
use std::fmt;

/// The cgroup and the counter as last read.
pub struct OomWatch {
    memory: Memory,
    seen: u64,
}

impl OomWatch {
    /// At start-up, before the app starts: the counter's value its life is
    /// compared with. `None` (and a warning) without a readable cgroup.
    pub fn start() -> Option<Box<OomWatch>> {
        let found = Memory::find().map(|(memory, seen)| Box::new(OomWatch { memory, seen }));
        if found.is_none() {
            events::log(
                Level::Warn,
                "MemoryCgroup",
                format_args!(
                    "HOOKINIT_REPORT_OOM: no readable memory cgroup: OOM kills are not reported"
                ),
            );
        }
        found
    }
}

/// Whose death it was, in three parts (a hook's kind in the middle).
pub(super) type Who = [&'static str; 3];

/// The limit and peak, as far as the kernel tells them.
struct Memory2(Option<u64>, Option<u64>);

impl fmt::Display for Memory2 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(NO_LIMIT) => f.write_str("; no memory limit")?,
            Some(b) => write!(f, "; memory limit {b} bytes")?,
            None => {}
        }
        match self.1 {
            Some(b) => write!(f, ", peak {b} bytes"),
            None => Ok(()),
        }
    }
}

impl Supervisor {
    /// A child died by SIGKILL: the app (unless hookinit sent it), a hook's
    /// or a probe's process (one hookinit killed is forgotten before, so it
    /// is not this), or a process the app left, SIGKILLed before
    /// hookinit's own SIGKILL (the counter is read all the same, so that a
    /// later death is compared with the count after this one).
    pub(super) fn check_sigkilled(&mut self, pid: i32) {
        let app = pid == self.app.pid;
        let who = match self.hooks.owner(pid) {
            _ if app && self.app_sigkilled => return,
            _ if app => ["the app", "", ""],
            Some(kind) => ["the ", kind.name(), " hook's process"],
            None if self.prober.owns(pid) => ["a probe's process", "", ""],
            None if !self.sigkill_delivered => ["a process the app left", "", ""],
            None => return,
        };
        self.check_oom(who, app, pid);
    }

    /// `who` (pid `pid`) died by SIGKILL, not hookinit's: says whether the
    /// OOM killer did it (`app`: then the container's ending says so too).
    /// (Out of line: inlined, it made its caller larger by more.)
    #[inline(never)]
    fn check_oom(&mut self, who: Who, app: bool, pid: i32) {
        let Some(watch) = self.oom.as_mut() else {
            return;
        };
        let Some(now) = watch.memory.oom_kills() else {
            return;
        };
        let before = std::mem::replace(&mut watch.seen, now);
        if now <= before {
            return;
        }
        let memory = Memory2(watch.memory.limit(), watch.memory.peak());
        let [a, b, c] = who;
        let msg = format_args!(
            "{a}{b}{c} (pid {pid}) was OOM-killed (oom_kill {before} -> {now}){memory}"
        );
        events::log(Level::Warn, "OOMKilled", msg);
        self.ending.oom_killed |= app;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_peaks_in_bytes() {
        let m = Memory2(Some(64 << 20), Some(67_100_000));
        assert_eq!(
            m.to_string(),
            "; memory limit 67108864 bytes, peak 67100000 bytes"
        );
        assert_eq!(
            Memory2(Some(NO_LIMIT), None).to_string(),
            "; no memory limit"
        );
        assert_eq!(Memory2(None, None).to_string(), "");
    }
}
