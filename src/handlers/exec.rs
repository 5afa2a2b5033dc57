//! The `exec` handler's output: the hook's stdout and stderr copied to the
//! container's, the tail kept for the failure message (Kubernetes: `command
//! '<argv>' exited with N: <output>`).
//!
//! Every buffer is part of the hook's slot, made at start-up: copying output
//! on the stop path allocates nothing.

use crate::os::errno::Lossy;
use crate::os::stdio;
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// How much of a hook's output is kept for its failure message.
const TAIL_BYTES: usize = 2048;
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
    tail: Tail,
    pub dropped: usize,
}

struct Stream {
    /// The read end of the hook's pipe; `None` at end of file.
    source: Option<OwnedFd>,
    /// The container's stdout or stderr (hookinit's own description of it).
    dest: stdio::Stream,
    /// Read from the hook, not yet written: `buf[start..end]`.
    buf: [u8; CHUNK],
    start: usize,
    end: usize,
}

impl Stream {
    fn new(dest: stdio::Stream) -> Self {
        Stream {
            source: None,
            dest,
            buf: [0; CHUNK],
            start: 0,
            end: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// What the loop waits for: room at the destination while something is
    /// pending, else more output from the hook.
    fn interest(&self) -> Option<(RawFd, i16)> {
        if self.start < self.end {
            Some((stdio::poll_fd(self.dest), libc::POLLOUT))
        } else {
            self.source.as_ref().map(|s| (s.as_raw_fd(), libc::POLLIN))
        }
    }

    /// Reads one chunk if nothing is pending; returns the bytes read.
    fn fill(&mut self) -> usize {
        let Some(source) = &self.source else { return 0 };
        if self.start < self.end {
            return 0;
        }
        // Our own non-blocking pipe.
        match crate::os::fd::read_some(source.as_raw_fd(), &mut self.buf[..CHUNK]) {
            Ok(0) => self.source = None,
            Ok(n) => {
                (self.start, self.end) = (0, n);
                return n;
            }
            Err(e) if e.0 == libc::EAGAIN => {}
            Err(_) => self.source = None,
        }
        0
    }

    /// Writes what is pending while the destination takes it, without
    /// blocking; returns the bytes dropped because the destination is gone.
    fn flush(&mut self) -> usize {
        while self.start < self.end {
            match stdio::write(self.dest, &self.buf[self.start..self.end]) {
                Ok(0) | Err(stdio::Error::WouldBlock) => return 0,
                Ok(n) => self.start += n,
                Err(stdio::Error::Closed) => {
                    let dropped = self.end - self.start;
                    self.start = self.end;
                    return dropped;
                }
            }
        }
        0
    }
}

/// The last `TAIL_BYTES` of output, as a ring.
struct Tail {
    buf: [u8; TAIL_BYTES],
    /// Bytes ever written (the ring's write position is `written % TAIL_BYTES`).
    written: usize,
}

impl Tail {
    fn remember(&mut self, chunk: &[u8]) {
        let chunk = &chunk[chunk.len().saturating_sub(TAIL_BYTES)..];
        for &b in chunk {
            self.buf[self.written % TAIL_BYTES] = b;
            self.written += 1;
        }
    }

    /// The kept bytes in order, copied into `out`.
    fn linear<'a>(&self, out: &'a mut [u8; TAIL_BYTES]) -> &'a [u8] {
        let len = self.written.min(TAIL_BYTES);
        let start = self.written - len;
        for (i, slot) in out[..len].iter_mut().enumerate() {
            *slot = self.buf[(start + i) % TAIL_BYTES];
        }
        &out[..len]
    }
}

impl Output {
    pub fn new() -> Self {
        Output {
            streams: [
                Stream::new(stdio::Stream::Out),
                Stream::new(stdio::Stream::Err),
            ],
            tail: Tail {
                buf: [0; TAIL_BYTES],
                written: 0,
            },
            dropped: 0,
        }
    }

    /// Starts copying from a new hook's pipes.
    pub fn attach(&mut self, stdout: OwnedFd, stderr: OwnedFd) {
        for (stream, fd) in self.streams.iter_mut().zip([stdout, stderr]) {
            // Our own pipe ends; only hookinit reads them.
            let _ = crate::os::fd::set_nonblocking(fd.as_raw_fd());
            stream.source = Some(fd);
            (stream.start, stream.end) = (0, 0);
        }
        self.tail.written = 0;
        self.dropped = 0;
    }

    /// The descriptors and events the loop should poll for this output.
    pub fn interests(&self) -> impl Iterator<Item = (RawFd, i16)> + '_ {
        self.streams.iter().filter_map(Stream::interest)
    }

    /// `fd` is ready: write what waited for room, or take the next chunk.
    pub fn on_ready(&mut self, fd: RawFd) {
        for stream in &mut self.streams {
            if stream.interest().map(|(f, _)| f) == Some(fd) {
                if stream.fill() > 0 {
                    self.tail.remember(stream.pending());
                }
                self.dropped += stream.flush();
            }
        }
    }

    /// After the hook ended: copy what it left in its pipes as far as the
    /// destinations take it now, then close them (a background child of the
    /// hook may hold them open forever). What does not fit is dropped.
    pub fn drain_and_close(&mut self) {
        let mut chunks = DRAIN_MAX / CHUNK;
        for stream in &mut self.streams {
            self.dropped += stream.flush();
            while stream.start == stream.end && chunks > 0 && stream.fill() > 0 {
                chunks -= 1;
                self.tail.remember(stream.pending());
                self.dropped += stream.flush();
            }
            self.dropped += stream.end - stream.start;
            (stream.start, stream.end) = (0, 0);
            stream.source = None;
        }
    }

    /// `": "` and the last lines of output, when there are any.
    pub fn tail(&self) -> TailText<'_> {
        TailText(&self.tail)
    }
}

/// The last five non-empty lines of output, joined by ` | `.
pub struct TailText<'a>(&'a Tail);

impl fmt::Display for TailText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut copy = [0u8; TAIL_BYTES];
        let bytes = self.0.linear(&mut copy);
        // The last five non-empty lines, found from the end.
        let mut lines: [&[u8]; 5] = [&[]; 5];
        let mut found = 0;
        for line in bytes.rsplit(|&b| b == b'\n') {
            let line = line.trim_ascii_end();
            if !line.is_empty() {
                lines[4 - found] = line;
                found += 1;
                if found == 5 {
                    break;
                }
            }
        }
        for (i, line) in lines[5 - found..].iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { " | " })?;
            Lossy(line).fmt(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_five_lines() {
        let mut o = Output::new();
        assert_eq!(o.tail().to_string(), "");
        o.tail
            .remember(b"one\r\n\ntwo\nthree  \nfour\nfive\nsix\n\n");
        assert_eq!(o.tail().to_string(), ": two | three | four | five | six");
        let long = vec![b'x'; 5000];
        o.tail.remember(&long);
        o.tail.remember(b"\nend\xff");
        let text = o.tail().to_string();
        assert!(text.ends_with(" | end\u{FFFD}"), "{text}");
        assert!(text.len() < 2100);
    }
}
