//! Starting processes: the app and exec hooks, by `fork` and `execvp`.
//!
//! Both get hookinit's inherited signal configuration back (mask and
//! dispositions, tini's `sigconf`), and only the descriptors hookinit itself
//! inherited (everything hookinit opens is close-on-exec). Each runs in its
//! own process group so that it, and whatever it forks, can be signalled as one.
//!
//! No `std::process::Command`: an exec hook may start on the stop path, where
//! PID 1 must not allocate (a failed allocation would abort it). The argv is
//! built once at start-up ([`Argv`]); between `fork` and `execvp` the child
//! makes raw syscalls only, and reports a failed exec through a close-on-exec
//! pipe, as std does.

use crate::os::env::{set_for_exec, Envp};
use crate::os::errno::{Errno, Lossy};
use crate::os::signals::Inherited;
use std::ffi::{c_char, CString, OsStr};
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// A command line ready for `execvp`: NUL-terminated strings and the
/// NULL-terminated pointer array, built once.
pub struct Argv {
    strings: Vec<CString>,
    pointers: Vec<*const c_char>,
}

impl Argv {
    /// `None` if an argument holds a NUL byte (configuration rejects those).
    pub fn new<S: AsRef<OsStr>>(args: &[S]) -> Option<Argv> {
        let strings = args
            .iter()
            .map(|a| CString::new(a.as_ref().as_bytes()).ok())
            .collect::<Option<Vec<_>>>()?;
        if strings.is_empty() {
            return None;
        }
        let mut pointers = Vec::with_capacity(strings.len() + 1);
        pointers.extend(strings.iter().map(|s| s.as_ptr()));
        pointers.push(std::ptr::null());
        Some(Argv { strings, pointers })
    }

    /// The program name as given (argv[0]), for messages.
    pub fn program(&self) -> Lossy<'_> {
        Lossy(self.strings[0].as_bytes())
    }

    /// The whole command joined by spaces, for messages (Kubernetes'
    /// `command '<argv>' exited with N`).
    pub fn joined(&self) -> Joined<'_> {
        Joined(&self.strings)
    }
}

pub struct Joined<'a>(&'a [CString]);

impl fmt::Display for Joined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            Lossy(s.as_bytes()).fmt(f)?;
        }
        Ok(())
    }
}

/// Why a command could not start. Formatting it allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnError {
    /// What failed: `fork` (or a pipe) in hookinit, or `exec` in the child.
    pub stage: Stage,
    pub errno: Errno,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Fork,
    Exec,
}

impl SpawnError {
    /// `fork` (or a pipe for it) failed in hookinit.
    pub fn fork(errno: Errno) -> SpawnError {
        SpawnError {
            stage: Stage::Fork,
            errno,
        }
    }

    /// 127: not found; 126: found but cannot be executed (the shell's
    /// convention, as tini); 1: anything else, which is a condition of the
    /// machine (no PIDs, no memory, no descriptors), not of the image.
    pub fn exit_code(&self) -> i32 {
        match (self.stage, self.errno.0) {
            (Stage::Exec, libc::ENOENT | libc::ENOTDIR) => 127,
            (
                Stage::Exec,
                libc::EACCES
                | libc::ENOEXEC
                | libc::EISDIR
                | libc::ELOOP
                | libc::ENAMETOOLONG
                | libc::EPERM,
            ) => 126,
            _ => crate::os::exit::EXIT_FAILURE,
        }
    }

    /// `command not found`, `permission denied (not executable?)`, or the
    /// system's description of the error with its errno.
    pub fn reason(&self) -> Reason {
        Reason(*self)
    }
}

pub struct Reason(SpawnError);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        match (e.stage, e.errno.0) {
            (Stage::Exec, libc::ENOENT | libc::ENOTDIR) => f.write_str("command not found"),
            (Stage::Exec, libc::EACCES) => f.write_str("permission denied (not executable?)"),
            (Stage::Exec, libc::ENOEXEC) => f.write_str("not an executable format"),
            (Stage::Exec, libc::EISDIR) => f.write_str("is a directory"),
            (stage, errno) => {
                let what = if stage == Stage::Fork {
                    "cannot create the process"
                } else {
                    "cannot execute"
                };
                write!(f, "{what}: {}", Errno(errno))
            }
        }
    }
}

/// Where the child's standard streams go; `None` keeps hookinit's own.
#[derive(Default, Clone, Copy)]
pub struct Stdio {
    pub stdin_null: bool,
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
}

/// Starts `argv` in its own process group with the inherited signal
/// configuration. When `foreground` is set, the new group becomes the
/// terminal's foreground group (stdin is hookinit's controlling terminal), so
/// Ctrl-C and job control reach it as in a shell. Returns once the child has
/// exec'd, or with the reason it could not. With `envp`, the child gets
/// that environment rather than hookinit's (a hook told why it runs).
pub fn spawn(
    argv: &Argv,
    inherited: &Inherited,
    stdio: Stdio,
    foreground: bool,
    envp: Option<&Envp>,
) -> Result<i32, SpawnError> {
    spawn_with(argv, inherited, stdio, Group::Own { foreground }, envp)
}

/// [`spawn`], and with `setsid` the child starts a session of its own
/// (dumb-init's default) rather than only a process group; with `envp`,
/// that environment rather than hookinit's own (the app, given
/// `NOTIFY_SOCKET`).
pub fn spawn_in(
    argv: &Argv,
    inherited: &Inherited,
    foreground: bool,
    setsid: bool,
    envp: Option<&Envp>,
) -> Result<i32, SpawnError> {
    let group = if setsid {
        Group::Session
    } else {
        Group::Own { foreground }
    };
    spawn_with(argv, inherited, Stdio::default(), group, envp)
}

/// As [`spawn`], but the child stays in the caller's process group: an exec
/// probe's command, so that killing the probe process's group (at its
/// deadline, at a stop, once it ended) kills the command and its children.
pub fn spawn_in_callers_group(
    argv: &Argv,
    inherited: &Inherited,
    stdio: Stdio,
) -> Result<i32, SpawnError> {
    spawn_with(argv, inherited, stdio, Group::Callers, None)
}

/// Which process group the child runs in.
#[derive(Clone, Copy)]
enum Group {
    /// Its own, made the terminal's foreground group if `foreground`.
    Own { foreground: bool },
    /// A session of its own (and so a group of its own).
    Session,
    /// The caller's.
    Callers,
}

fn spawn_with(
    argv: &Argv,
    inherited: &Inherited,
    stdio: Stdio,
    group: Group,
    envp: Option<&Envp>,
) -> Result<i32, SpawnError> {
    let (report_read, report_write) = pipe(libc::O_CLOEXEC).map_err(SpawnError::fork)?;
    // SAFETY: hookinit is single-threaded; the child only makes raw syscalls
    // (execvp in musl searches PATH with a buffer on its stack) and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(SpawnError::fork(Errno::last()));
    }
    if pid == 0 {
        // SAFETY: in the child, see above.
        unsafe {
            exec_child(
                argv,
                inherited,
                stdio,
                group,
                envp,
                report_write.as_raw_fd(),
            )
        }
    }
    drop(report_write);
    // The pipe closes on exec (EOF) or carries the errno of a failed exec.
    let mut buf = [0u8; 4];
    let n = crate::os::sys::read_full(report_read.as_raw_fd(), &mut buf);
    if n == 4 {
        // The child `_exit`s right after writing: reap it here, it is ours.
        let mut status = 0;
        // SAFETY: waiting for our own child, which is exiting.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && Errno::last().0 == libc::EINTR {}
        return Err(SpawnError {
            stage: Stage::Exec,
            errno: Errno(i32::from_ne_bytes(buf)),
        });
    }
    Ok(pid)
}

/// The child's side of [`spawn`]. Never returns.
///
/// # Safety
/// Only in the child of a `fork`, with `report` the write end of its pipe.
unsafe fn exec_child(
    argv: &Argv,
    inherited: &Inherited,
    stdio: Stdio,
    group: Group,
    envp: Option<&Envp>,
    report: RawFd,
) -> ! {
    // SAFETY: after fork, in the child, only async-signal-safe calls on our
    // own descriptors and NUL-terminated strings made before the fork.
    unsafe {
        let fail = |errno: Errno| -> ! {
            let bytes = errno.0.to_ne_bytes();
            libc::write(report, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127)
        };
        if let Group::Session = group {
            if libc::setsid() < 0 {
                fail(Errno::last());
            }
            // A terminal that is nobody's controlling terminal becomes the
            // new session's, if it can (dumb-init tries and goes on without).
            if libc::isatty(libc::STDIN_FILENO) == 1 {
                libc::ioctl(libc::STDIN_FILENO, libc::TIOCSCTTY, 0);
            }
        } else if let Group::Own { foreground } = group {
            if libc::setpgid(0, 0) != 0 {
                fail(Errno::last());
            }
            // While every signal is still blocked (as in hookinit), so SIGTTOU
            // cannot stop a background group doing it.
            if foreground {
                libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
            }
        }
        if stdio.stdin_null {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if null < 0 || libc::dup2(null, libc::STDIN_FILENO) < 0 {
                fail(Errno::last());
            }
        }
        for (from, to) in [
            (stdio.stdout, libc::STDOUT_FILENO),
            (stdio.stderr, libc::STDERR_FILENO),
        ] {
            if let Some(from) = from {
                if libc::dup2(from, to) < 0 {
                    fail(Errno::last());
                }
            }
        }
        if inherited.apply_in_child().is_err() {
            fail(Errno::last());
        }
        if let Some(envp) = envp {
            set_for_exec(envp);
        }
        libc::execvp(argv.pointers[0], argv.pointers.as_ptr());
        fail(Errno::last())
    }
}

/// A pipe with `flags` on both ends: (read, write).
pub fn pipe(flags: libc::c_int) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } != 0 {
        return Err(Errno::last());
    }
    // SAFETY: fresh descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// True when stdin is a terminal and it is hookinit's controlling terminal.
pub fn stdin_is_controlling_tty() -> bool {
    // SAFETY: plain queries on fd 0.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 && libc::tcgetpgrp(libc::STDIN_FILENO) >= 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_by_errno() {
        let exec = |errno| SpawnError {
            stage: Stage::Exec,
            errno: Errno(errno),
        };
        assert_eq!(exec(libc::ENOENT).exit_code(), 127);
        assert_eq!(exec(libc::EACCES).exit_code(), 126);
        assert_eq!(exec(libc::ENOEXEC).exit_code(), 126);
        assert_eq!(exec(libc::EISDIR).exit_code(), 126);
        assert_eq!(exec(libc::E2BIG).exit_code(), 1);
        assert_eq!(exec(libc::ENOMEM).exit_code(), 1);
        let fork = SpawnError::fork(Errno(libc::EAGAIN));
        assert_eq!(fork.exit_code(), 1);
        assert_eq!(
            fork.reason().to_string(),
            "cannot create the process: Resource temporarily unavailable (errno 11)"
        );
        assert_eq!(exec(libc::ENOENT).reason().to_string(), "command not found");
    }

    #[test]
    fn argv_is_joined_lossily() {
        let a = Argv::new(&[OsStr::new("a b"), OsStr::from_bytes(b"c\xff")]).unwrap();
        assert_eq!(a.joined().to_string(), "a b c\u{FFFD}");
        assert_eq!(a.program().to_string(), "a b");
        assert!(Argv::new(&["x\0y"]).is_none());
    }
}
