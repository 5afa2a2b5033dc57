//! The `exec` handler: argv run directly (no shell) in its own process group,
//! its output copied to the container's stdout/stderr, the tail kept for the
//! failure message (Kubernetes: `command '<argv>' exited with N: <output>`).

use super::Outcome;
use crate::reap::Status;
use crate::signals::Inherited;
use crate::spawn;
use crate::stdio;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// How much of a hook's output is kept for its failure message.
const TAIL_BYTES: usize = 2048;

pub struct Running {
    pub pid: i32,
    command: Vec<String>,
    pub output: Output,
}

impl Running {
    pub fn start(command: &[String], inherited: Inherited) -> Result<Running, String> {
        let p = spawn::spawn_hook(command, inherited).map_err(|e| e.to_string())?;
        Ok(Running {
            pid: p.pid,
            command: command.to_vec(),
            output: Output::new(p.stdout, p.stderr),
        })
    }

    pub fn finished(&mut self, status: Status) -> Outcome {
        self.close_output();
        match status {
            Status::Exited(0) => Outcome::Succeeded,
            status => {
                let code = match status {
                    Status::Exited(c) => c.to_string(),
                    Status::Signaled(_) => status.to_string(),
                };
                let msg = format!("command '{}' exited with {code}", self.command.join(" "));
                Outcome::Failed(self.output.with_tail(msg))
            }
        }
    }

    fn close_output(&mut self) {
        self.output.drain_and_close();
        if self.output.dropped > 0 {
            let dropped = std::mem::take(&mut self.output.dropped);
            crate::events::log(
                crate::events::Level::Warn,
                "HookOutputDropped",
                format_args!(
                    "{dropped} bytes of hook output dropped: stdout/stderr is not being read"
                ),
            );
        }
    }

    /// SIGKILL to the hook's process group: the hook and everything it forked.
    pub fn kill(&mut self) {
        // SAFETY: plain syscall; the group is the hook's own (it is its leader).
        unsafe { libc::kill(-self.pid, libc::SIGKILL) };
        self.close_output();
    }
}

/// Bytes moved per step: at most what a pipe with room takes without blocking.
const CHUNK: usize = 4096;
/// After the hook ended: at most this much more is copied from its pipes.
const DRAIN_MAX: usize = 256 * 1024;

/// The hook's stdout and stderr, copied to hookinit's own. The loop never
/// blocks on them: it reads a chunk from the hook only when the previous one
/// is written, and writes only when the destination has room (`POLLOUT`).
/// So a stalled log reader blocks the hook (as it would block any process
/// writing to it), never PID 1 (hardening: a stalled stdout once froze it).
pub struct Output {
    streams: [Stream; 2],
    tail: Vec<u8>,
    dropped: usize,
}

struct Stream {
    /// The read end of the hook's pipe; `None` at end of file.
    source: Option<OwnedFd>,
    /// The container's stdout or stderr (hookinit's own description of it).
    dest: stdio::Stream,
    /// Read from the hook, not yet written.
    pending: Vec<u8>,
}

impl Stream {
    /// What the loop waits for: room at the destination while something is
    /// pending, else more output from the hook.
    fn interest(&self) -> Option<(RawFd, i16)> {
        if !self.pending.is_empty() {
            Some((stdio::poll_fd(self.dest), libc::POLLOUT))
        } else {
            self.source.as_ref().map(|s| (s.as_raw_fd(), libc::POLLIN))
        }
    }

    /// Reads one chunk if nothing is pending; returns the bytes read.
    fn fill(&mut self) -> usize {
        let Some(source) = &self.source else { return 0 };
        if !self.pending.is_empty() {
            return 0;
        }
        let mut buf = [0u8; CHUNK];
        // SAFETY: reading into a local buffer from our own non-blocking pipe.
        let n = unsafe { libc::read(source.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            self.pending.extend_from_slice(&buf[..n as usize]);
            n as usize
        } else {
            if n == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EAGAIN) {
                self.source = None;
            }
            0
        }
    }

    /// Writes what is pending while the destination takes it, without
    /// blocking; returns the bytes dropped because the destination is gone.
    fn flush(&mut self) -> usize {
        while !self.pending.is_empty() {
            match stdio::write(self.dest, &self.pending) {
                Ok(0) | Err(stdio::Error::WouldBlock) => return 0,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(stdio::Error::Closed) => {
                    let dropped = self.pending.len();
                    self.pending.clear();
                    return dropped;
                }
            }
        }
        0
    }
}

/// Keeps the last output for the failure message.
fn remember(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(chunk);
    if tail.len() > 2 * TAIL_BYTES {
        tail.drain(..tail.len() - TAIL_BYTES);
    }
}

impl Output {
    fn new(stdout: OwnedFd, stderr: OwnedFd) -> Self {
        for fd in [&stdout, &stderr] {
            // SAFETY: our own pipe ends; only hookinit reads them.
            unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        }
        let stream = |source, dest| Stream {
            source: Some(source),
            dest,
            pending: Vec::new(),
        };
        Output {
            streams: [
                stream(stdout, stdio::Stream::Out),
                stream(stderr, stdio::Stream::Err),
            ],
            tail: Vec::new(),
            dropped: 0,
        }
    }

    /// The descriptors and events the loop should poll for this output.
    pub fn interests(&self) -> Vec<(RawFd, i16)> {
        self.streams.iter().filter_map(Stream::interest).collect()
    }

    /// `fd` is ready: write what waited for room, or take the next chunk.
    pub fn on_ready(&mut self, fd: RawFd) {
        for stream in &mut self.streams {
            if stream.interest().map(|(f, _)| f) == Some(fd) {
                if stream.fill() > 0 {
                    remember(&mut self.tail, &stream.pending);
                }
                self.dropped += stream.flush();
            }
        }
    }

    /// After the hook ended: copy what it left in its pipes as far as the
    /// destinations take it now, then close them (a background child of the
    /// hook may hold them open forever). What does not fit is dropped.
    fn drain_and_close(&mut self) {
        let mut chunks = DRAIN_MAX / CHUNK;
        for stream in &mut self.streams {
            self.dropped += stream.flush();
            while stream.pending.is_empty() && chunks > 0 && stream.fill() > 0 {
                chunks -= 1;
                remember(&mut self.tail, &stream.pending);
                self.dropped += stream.flush();
            }
            self.dropped += stream.pending.len();
            stream.pending.clear();
            stream.source = None;
        }
    }

    /// `message`, followed by the last lines of output when there are any.
    pub fn with_tail(&self, mut message: String) -> String {
        let tail = self.tail();
        if !tail.is_empty() {
            message.push_str(": ");
            message.push_str(&tail);
        }
        message
    }

    /// The last few lines of output, on one line.
    fn tail(&self) -> String {
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
