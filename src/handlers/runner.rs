//! Handlers that do their work in hookinit's own code (httpGet, tcpSocket)
//! run in a forked child of hookinit, never in PID 1 itself.
//!
//! A thread would share PID 1's fate: musl's `pthread_create` unblocks
//! signals 32-34 in the caller, a crash or a failed allocation in the thread
//! aborts the whole process, and a hung connection holds its resources
//! forever. A forked child (safe: hookinit is single-threaded) costs only
//! itself when any of that happens, and it is a process like an exec hook:
//! it has a pid the loop reaps, a deadline, and a process group to kill.
//!
//! The child writes one report on a pipe and exits: its outcome's verdict
//! as a byte, then the message. A report fits in `PIPE_BUF`, so that write is atomic and never
//! blocks, and the loop reads it only once it has reaped the child: one
//! wake-up per handler run.

use crate::handlers::{Caller, Outcome, Verdict};
use crate::os::fork::{self, Forked};
use crate::os::reap::Status;
use crate::os::spawn;
use std::ffi::CStr;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};

/// The most a report holds (verdict byte included); a message is cut to fit.
/// Less than PIPE_BUF (4096) and than an event line.
pub const REPORT_MAX: usize = 3584;

/// A verdict as the first byte of a report.
fn verdict_byte(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Success => b'S',
        Verdict::Warning => b'W',
        Verdict::Failure => b'F',
        Verdict::Error => b'E',
    }
}

fn verdict_from_byte(b: u8) -> Option<Verdict> {
    match b {
        b'S' => Some(Verdict::Success),
        b'W' => Some(Verdict::Warning),
        b'F' => Some(Verdict::Failure),
        b'E' => Some(Verdict::Error),
        _ => None,
    }
}

/// A handler process that is running.
pub struct Runner {
    pub pid: i32,
    report: OwnedFd,
}

/// Forks a child that runs `work` for `caller` and reports its outcome. The
/// child is the leader of its own process group, dies with hookinit, and is
/// named for what it is: `hookinit-hook` or `hookinit-probe`.
pub fn start<F>(caller: Caller, work: F) -> Result<Runner, spawn::SpawnError>
where
    F: FnOnce() -> Outcome,
{
    start_at(caller, None, work)
}

/// The name of a handler process (`comm` takes at most 15 bytes).
fn name(caller: Caller) -> &'static CStr {
    match caller {
        Caller::Hook => c"hookinit-hook",
        Caller::Probe => c"hookinit-probe",
    }
}

/// As [`start`], but the child first sleeps until `at` (CLOCK_MONOTONIC,
/// which `Instant` is): a probe's process is forked when the previous one
/// ended, so the loop wakes once per probe, for its result, and not also to
/// start it.
pub fn start_at<F>(
    caller: Caller,
    at: Option<std::time::Instant>,
    work: F,
) -> Result<Runner, spawn::SpawnError>
where
    F: FnOnce() -> Outcome,
{
    let (read, write) = spawn::pipe(libc::O_CLOEXEC).map_err(spawn::SpawnError::fork)?;
    let pid = match fork::fork().map_err(spawn::SpawnError::fork)? {
        Forked::Parent(pid) => pid,
        Forked::Child => {
            drop(read);
            fork::lead_own_group(0);
            fork::die_with_parent();
            fork::take_name(name(caller));
            if let Some(at) = at {
                crate::os::time::sleep_until(at);
            }
            let outcome = work();
            let message = one_line(&outcome.message);
            let mut report = [0u8; REPORT_MAX];
            report[0] = verdict_byte(outcome.verdict);
            let len = cut(&message, REPORT_MAX - 1);
            report[1..=len].copy_from_slice(&message.as_bytes()[..len]);
            // One write below PIPE_BUF: atomic, and the pipe is empty.
            let _ = crate::os::fd::write_once(write.as_raw_fd(), &report[..=len]);
            fork::exit_child(0)
        }
    };
    drop(write);
    // The child does this too; whichever runs first, a kill of the group right
    // after the fork cannot miss it.
    fork::lead_own_group(pid);
    // Read only without blocking, after the reap. A fresh pipe end: no other
    // flags to lose.
    let _ = crate::os::fd::set_nonblocking(read.as_raw_fd());
    Ok(Runner { pid, report: read })
}

/// A handler's output on one line, as event lines are: its non-empty lines,
/// trimmed, joined by ` | ` (as a failed exec hook's tail).
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    crate::os::text::join(&lines, " | ")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character.
fn cut(s: &str, max: usize) -> usize {
    let mut len = s.len().min(max);
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    len
}

/// A reaped handler process's message, kept in the caller's buffer.
pub enum ReportText<'a> {
    /// What the handler reported.
    Text(&'a [u8]),
    /// The process ended without a report (crashed, killed): its status.
    NoReport(Status),
}

impl fmt::Display for ReportText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportText::Text(t) => crate::os::errno::Lossy(t).fmt(f),
            ReportText::NoReport(Status::Exited(code)) => {
                write!(f, "the handler process exited with {code} without a report")
            }
            ReportText::NoReport(Status::Signaled(sig)) => write!(
                f,
                "the handler process was killed by {} before it reported",
                crate::os::signals::name(*sig)
            ),
        }
    }
}

impl Runner {
    /// The outcome of the reaped child, its message read into `buf`
    /// (allocation-free). No report (it crashed, or was killed) is a failure
    /// here; probes count it as an error.
    pub fn finished<'a>(
        &self,
        status: Status,
        buf: &'a mut [u8; REPORT_MAX],
    ) -> Outcome<ReportText<'a>> {
        let n = crate::os::sys::read_full(self.report.as_raw_fd(), buf);
        match (n, verdict_from_byte(buf[0])) {
            (1.., Some(verdict)) if status == Status::Exited(0) => {
                Outcome::new(verdict, ReportText::Text(&buf[1..n]))
            }
            _ => Outcome::failure(ReportText::NoReport(status)),
        }
    }

    /// SIGKILL to the child's process group.
    pub fn kill(&self) {
        // The group our child leads; it may be gone already (ESRCH), which
        // is what we want.
        let _ = crate::os::process::kill_process_group(self.pid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_crosses_the_pipe_as_one_byte() {
        for verdict in [
            Verdict::Success,
            Verdict::Warning,
            Verdict::Failure,
            Verdict::Error,
        ] {
            assert_eq!(verdict_from_byte(verdict_byte(verdict)), Some(verdict));
        }
        assert_eq!(verdict_from_byte(0), None);
    }

    #[test]
    fn messages_go_on_one_line_cut_on_a_character() {
        assert_eq!(one_line("  a \n\n b\r\n"), "a | b");
        assert_eq!(cut("aé", 2), 1);
        assert_eq!(cut("ab", 5), 2);
    }
}
