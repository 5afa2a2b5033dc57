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
//! The child writes one report on a pipe and exits: a kind byte, then the
//! message. A report fits in `PIPE_BUF`, so that write is atomic and never
//! blocks, and the loop reads it only once it has reaped the child: one
//! wake-up per handler run.

use crate::os::reap::Status;
use crate::os::spawn;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};

/// The most a report holds (kind byte included); a message is cut to fit.
/// Less than PIPE_BUF (4096) and than an event line.
pub const REPORT_MAX: usize = 3584;

/// What a handler found (the kubelet's probe results).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Success,
    /// Counts as success, with a `ProbeWarning` event (a final 3xx).
    Warning,
    Failure,
    /// The handler could not run at all: the kubelet discards the result.
    Error,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Success => b'S',
            Kind::Warning => b'W',
            Kind::Failure => b'F',
            Kind::Error => b'E',
        }
    }

    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            b'S' => Some(Kind::Success),
            b'W' => Some(Kind::Warning),
            b'F' => Some(Kind::Failure),
            b'E' => Some(Kind::Error),
            _ => None,
        }
    }
}

/// A handler process that is running.
pub struct Runner {
    pub pid: i32,
    report: OwnedFd,
}

/// Forks a child that runs `work` and reports what it returns. The child is
/// the leader of its own process group and dies with hookinit.
pub fn start<F>(work: F) -> Result<Runner, spawn::SpawnError>
where
    F: FnOnce() -> (Kind, String),
{
    start_at(None, work)
}

/// As [`start`], but the child first sleeps until `at` (CLOCK_MONOTONIC,
/// which `Instant` is): a probe's process is forked when the previous one
/// ended, so the loop wakes once per probe, for its result, and not also to
/// start it.
pub fn start_at<F>(at: Option<std::time::Instant>, work: F) -> Result<Runner, spawn::SpawnError>
where
    F: FnOnce() -> (Kind, String),
{
    let fork_err = |errno| spawn::SpawnError {
        stage: spawn::Stage::Fork,
        errno,
    };
    let (read, write) = spawn::pipe(libc::O_CLOEXEC).map_err(fork_err)?;
    // SAFETY: hookinit is single-threaded, so the child's copy of it is
    // consistent (allocator included); the child never returns from here.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(fork_err(crate::os::errno::errno()));
    }
    if pid == 0 {
        drop(read);
        // SAFETY: plain syscalls in our own process.
        unsafe {
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        }
        if let Some(at) = at {
            crate::os::time::sleep_until(at);
        }
        let (kind, message) = work();
        let message = one_line(&message);
        let mut report = [0u8; REPORT_MAX];
        report[0] = kind.byte();
        let len = cut(&message, REPORT_MAX - 1);
        report[1..=len].copy_from_slice(&message.as_bytes()[..len]);
        // SAFETY: one write of our own buffer; exit without running anything else.
        unsafe {
            libc::write(write.as_raw_fd(), report.as_ptr().cast(), len + 1);
            libc::_exit(0)
        }
    }
    drop(write);
    // The child does this too; whichever runs first, a kill of the group right
    // after the fork cannot miss it.
    // SAFETY: plain syscalls on our own child and pipe.
    unsafe { libc::setpgid(pid, pid) };
    // SAFETY: our own pipe; it is read only without blocking, after the reap.
    unsafe { libc::fcntl(read.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
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
    lines.join(" | ")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character.
fn cut(s: &str, max: usize) -> usize {
    let mut len = s.len().min(max);
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    len
}

/// The outcome of a reaped handler process, its message kept in `buf`.
pub struct Report<'a> {
    pub kind: Kind,
    pub message: ReportText<'a>,
}

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
    /// Reads the report of the reaped child into `buf` (allocation-free).
    pub fn finished<'a>(&self, status: Status, buf: &'a mut [u8; REPORT_MAX]) -> Report<'a> {
        let n = crate::os::sys::read_full(self.report.as_raw_fd(), buf);
        match (n, Kind::from_byte(buf[0])) {
            (1.., Some(kind)) if status == Status::Exited(0) => Report {
                kind,
                message: ReportText::Text(&buf[1..n]),
            },
            _ => Report {
                kind: Kind::Failure,
                message: ReportText::NoReport(status),
            },
        }
    }

    /// SIGKILL to the child's process group.
    pub fn kill(&self) {
        // SAFETY: plain syscall on the group our child leads; it may be gone
        // already (ESRCH), which is what we want.
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
    }
}
