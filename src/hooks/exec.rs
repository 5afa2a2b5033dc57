//! The `exec` handler: argv run directly (no shell) in its own process group,
//! its output copied to the container's stdout/stderr, the tail kept for the
//! failure message (Kubernetes: `command '<argv>' exited with N: <output>`).

use super::Outcome;
use crate::reap::Status;
use crate::signals::Inherited;
use crate::spawn;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// How much of a hook's output is kept for its failure message.
const TAIL_BYTES: usize = 2048;

pub struct Running {
    pub pid: i32,
    command: Vec<String>,
    pub output: Output,
    killed: bool,
}

impl Running {
    pub fn start(command: &[String], inherited: Inherited) -> Result<Running, String> {
        let p = spawn::spawn_hook(command, inherited).map_err(|e| e.to_string())?;
        Ok(Running {
            pid: p.pid,
            command: command.to_vec(),
            output: Output::new(p.stdout, p.stderr),
            killed: false,
        })
    }

    pub fn finished(&mut self, status: Status) -> Outcome {
        self.output.drain_and_close();
        match status {
            Status::Exited(0) => Outcome::Succeeded,
            _ if self.killed => Outcome::Failed("killed".into()),
            status => {
                let code = match status {
                    Status::Exited(c) => c.to_string(),
                    Status::Signaled(_) => status.to_string(),
                };
                let mut msg = format!("command '{}' exited with {code}", self.command.join(" "));
                let tail = self.output.tail();
                if !tail.is_empty() {
                    msg.push_str(": ");
                    msg.push_str(&tail);
                }
                Outcome::Failed(msg)
            }
        }
    }

    /// SIGKILL to the hook's process group: the hook and everything it forked.
    pub fn kill(&mut self) {
        self.killed = true;
        // SAFETY: plain syscall; the group is the hook's own (it is its leader).
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        self.output.drain_and_close();
    }
}

/// The hook's stdout and stderr pipes, copied through as they fill.
pub struct Output {
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    tail: Vec<u8>,
}

impl Output {
    fn new(stdout: OwnedFd, stderr: OwnedFd) -> Self {
        for fd in [&stdout, &stderr] {
            // SAFETY: our own pipe ends; only hookinit reads them.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        }
        Output {
            stdout: Some(stdout),
            stderr: Some(stderr),
            tail: Vec::new(),
        }
    }

    pub fn fds(&self) -> Vec<RawFd> {
        [&self.stdout, &self.stderr]
            .into_iter()
            .flatten()
            .map(|f| f.as_raw_fd())
            .collect()
    }

    /// Reads what is there now (one buffer's worth, so a chatty hook cannot
    /// starve the loop); closes the pipe at end of file.
    pub fn pump(&mut self, fd: RawFd) {
        let to_stdout = self.stdout.as_ref().is_some_and(|f| f.as_raw_fd() == fd);
        let mut buf = [0u8; 16 * 1024];
        // SAFETY: reading into a local buffer from our own non-blocking pipe.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            let chunk = &buf[..n as usize];
            let _ = if to_stdout {
                std::io::stdout().lock().write_all(chunk)
            } else {
                std::io::stderr().lock().write_all(chunk)
            };
            if to_stdout {
                let _ = std::io::stdout().flush();
            }
            self.tail.extend_from_slice(chunk);
            if self.tail.len() > 2 * TAIL_BYTES {
                self.tail.drain(..self.tail.len() - TAIL_BYTES);
            }
        } else if n == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
            self.close(fd);
        }
    }

    fn close(&mut self, fd: RawFd) {
        for slot in [&mut self.stdout, &mut self.stderr] {
            if slot.as_ref().is_some_and(|f| f.as_raw_fd() == fd) {
                *slot = None;
            }
        }
    }

    /// After the hook ended: copy what it left in the pipes, then close them
    /// (a background child of the hook may hold them open forever).
    fn drain_and_close(&mut self) {
        for fd in self.fds() {
            for _ in 0..64 {
                if !self.fds().contains(&fd) {
                    break;
                }
                self.pump(fd);
                let mut probe = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: zero-timeout poll of our own descriptor.
                if unsafe { libc::poll(&mut probe, 1, 0) } <= 0 {
                    break;
                }
            }
            self.close(fd);
        }
    }

    /// The last few lines of output, on one line.
    pub fn tail(&self) -> String {
        let start = self.tail.len().saturating_sub(TAIL_BYTES);
        let text = String::from_utf8_lossy(&self.tail[start..]);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}
