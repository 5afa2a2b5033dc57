//! Starting processes: the app and exec hooks.
//!
//! Both get hookinit's inherited signal configuration back (mask and ignored
//! set, tini's `sigconf`), and only the descriptors hookinit itself inherited
//! (everything hookinit opens is close-on-exec). Each runs in its own process
//! group so that it, and whatever it forks, can be signalled as one.

use crate::signals::Inherited;
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Why a command could not start, with the exit code hookinit reports for it.
#[derive(Debug)]
pub struct SpawnError {
    pub program: String,
    pub error: io::Error,
}

impl SpawnError {
    /// 127 when the program does not exist, 126 when it cannot be executed
    /// (the shell's convention, as tini).
    pub fn exit_code(&self) -> i32 {
        match self.error.kind() {
            io::ErrorKind::NotFound => 127,
            _ => 126,
        }
    }
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.error.kind() {
            io::ErrorKind::NotFound => "command not found".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied (not executable?)".to_string(),
            _ => self.error.to_string(),
        };
        write!(f, "cannot run '{}': {what}", self.program)
    }
}

fn command<S: AsRef<OsStr>>(argv: &[S], inherited: Inherited, foreground: bool) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).process_group(0);
    // SAFETY: the closure only makes async-signal-safe syscalls. std runs it
    // after its own reset of SIGPIPE, so what it restores is what the child
    // keeps. The terminal is taken first, while every signal is still blocked
    // (as in hookinit): SIGTTOU cannot stop a background group doing it.
    unsafe {
        cmd.pre_exec(move || {
            if foreground {
                libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
            }
            inherited.apply_in_child()
        });
    }
    cmd
}

/// Starts the app in its own process group. When `foreground` is set (stdin
/// is hookinit's controlling terminal) that group becomes the terminal's
/// foreground group, so Ctrl-C and job control reach the app as in a shell.
pub fn spawn_app(
    argv: &[std::ffi::OsString],
    inherited: Inherited,
    foreground: bool,
) -> Result<i32, SpawnError> {
    let mut cmd = command(argv, inherited, foreground);
    let child = cmd.spawn().map_err(|error| SpawnError {
        program: argv[0].to_string_lossy().into_owned(),
        error,
    })?;
    // The Child handle is dropped without waiting: reap.rs alone reaps. The
    // Command is not dropped at all: it lives as long as hookinit anyway, and
    // freeing it costs more than the rest of the start-up after spawn.
    std::mem::forget(cmd);
    Ok(child.id() as i32)
}

/// A running exec hook: its pid (also its process group) and its output pipes.
pub struct HookProcess {
    pub pid: i32,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Starts an exec hook with stdin from /dev/null and its output piped to
/// hookinit, which copies it to the container's stdout/stderr.
pub fn spawn_hook(argv: &[String], inherited: Inherited) -> Result<HookProcess, SpawnError> {
    let mut cmd = command(argv, inherited, false);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|error| SpawnError {
        program: argv[0].clone(),
        error,
    })?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        unreachable!("both were requested as pipes");
    };
    Ok(HookProcess {
        pid: child.id() as i32,
        stdout: stdout.into(),
        stderr: stderr.into(),
    })
}

/// True when stdin is a terminal and it is hookinit's controlling terminal.
pub fn stdin_is_controlling_tty() -> bool {
    // SAFETY: plain queries on fd 0.
    unsafe { libc::isatty(libc::STDIN_FILENO) == 1 && libc::tcgetpgrp(libc::STDIN_FILENO) >= 0 }
}
