//! hookinit's own stdout and stderr, written without ever blocking PID 1.
//!
//! Event lines and exec hooks' output go to the container's stdout/stderr. If
//! whoever reads them stalls, a blocking write would freeze signal handling,
//! reaping and every deadline. fds 1 and 2 share their open file description
//! with the app, so setting O_NONBLOCK on them would change the app's I/O;
//! instead hookinit gets a description of its own:
//! - a pipe, FIFO or terminal is reopened through `/proc/self/fd/N` (once,
//!   at start), and that new description is made non-blocking;
//! - a socket is written with `MSG_DONTWAIT`;
//! - a regular file (or /dev/null) is written as is: it never blocks for
//!   long, and needs no `poll`, so event lines reach it even while `poll`
//!   fails (the `LoopError` that says so included);
//! - a pipe or terminal that cannot be reopened (without /proc) is written
//!   after a poll for room.
//!
//! A write that would block returns [`Error::WouldBlock`]: callers keep the
//! bytes for later (hook output) or drop them (event lines).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// No room now: try again when [`poll_fd`] is writable.
    WouldBlock,
    /// The reader is gone or the descriptor is unusable: nothing will be taken.
    Closed,
}

enum Sink {
    /// Our own non-blocking description of the same pipe, FIFO or terminal.
    Reopened(OwnedFd),
    /// A socket: written with MSG_DONTWAIT.
    Socket(RawFd),
    /// The original descriptor of a regular file or a device that never
    /// holds a writer up (/dev/null): written as is, without a poll, so
    /// event lines still reach it while `poll` fails.
    File(RawFd),
    /// The original descriptor of a pipe or terminal that could not be
    /// reopened: polled for room before each write (when the poll fails,
    /// the line is dropped: a blocking write could freeze PID 1).
    Shared(RawFd),
}

static SINKS: OnceLock<[Sink; 2]> = OnceLock::new();

/// Makes sure fds 0–2 are open (std's runtime does this, which `no_main`
/// skips): with one closed, hookinit's signalfd would become "stdout" and
/// event lines would be written into it. Call first thing.
pub fn sanitize_standard_fds() {
    for fd in 0..3 {
        // SAFETY: plain fcntl/open; the lowest free descriptor is `fd` here,
        // because the ones below it are open by now.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) == -1 {
                libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
            }
        }
    }
}

/// Opens hookinit's own descriptions of stdout and stderr. Called once at
/// start, so that the stop path does not pay for it.
pub fn init() {
    sinks();
}

fn sinks() -> &'static [Sink; 2] {
    SINKS.get_or_init(|| {
        [
            open_sink(libc::STDOUT_FILENO),
            open_sink(libc::STDERR_FILENO),
        ]
    })
}

fn open_sink(fd: RawFd) -> Sink {
    // SAFETY: stat is plain data; all zeroes is a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat into our stat buffer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        // Unusable (EBADF): the write will say so.
        return Sink::File(fd);
    }
    let kind = st.st_mode & libc::S_IFMT;
    // SAFETY: plain query.
    let tty = kind == libc::S_IFCHR && unsafe { libc::isatty(fd) } == 1;
    match kind {
        libc::S_IFSOCK => Sink::Socket(fd),
        libc::S_IFIFO | libc::S_IFCHR if kind == libc::S_IFIFO || tty => {
            // Static paths: no formatting or allocation for two known fds.
            let path = match fd {
                libc::STDOUT_FILENO => c"/proc/self/fd/1",
                libc::STDERR_FILENO => c"/proc/self/fd/2",
                _ => return Sink::Shared(fd),
            };
            let flags = libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
            // SAFETY: open with a valid C string; the result is ours alone.
            let own = unsafe { libc::open(path.as_ptr(), flags) };
            if own < 0 {
                Sink::Shared(fd)
            } else {
                // SAFETY: the kernel just returned this descriptor to us.
                Sink::Reopened(unsafe { OwnedFd::from_raw_fd(own) })
            }
        }
        // Other character devices (/dev/null) never hold a writer up.
        libc::S_IFREG | libc::S_IFBLK | libc::S_IFCHR => Sink::File(fd),
        _ => Sink::Shared(fd),
    }
}

fn sink(stream: Stream) -> &'static Sink {
    &sinks()[stream as usize]
}

/// The descriptor to poll for POLLOUT while a write waits for room.
pub fn poll_fd(stream: Stream) -> RawFd {
    match sink(stream) {
        Sink::Reopened(fd) => fd.as_raw_fd(),
        Sink::Socket(fd) | Sink::File(fd) | Sink::Shared(fd) => *fd,
    }
}

/// Writes as much of `buf` as can be taken now; never blocks (but for the
/// short write of a regular file).
pub fn write(stream: Stream, buf: &[u8]) -> Result<usize, Error> {
    let sink = sink(stream);
    if let Sink::Shared(fd) = sink {
        if !has_room(*fd) {
            return Err(Error::WouldBlock);
        }
    }
    loop {
        // SAFETY: writing our own buffer to a descriptor we hold.
        let n = unsafe {
            match sink {
                Sink::Reopened(fd) => libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()),
                Sink::File(fd) | Sink::Shared(fd) => {
                    libc::write(*fd, buf.as_ptr().cast(), buf.len())
                }
                Sink::Socket(fd) => libc::send(
                    *fd,
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                ),
            }
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        match crate::os::errno::Errno::last().0 {
            libc::EINTR => continue,
            libc::EAGAIN => return Err(Error::WouldBlock),
            _ => return Err(Error::Closed),
        }
    }
}

/// Whether `fd` reports room (or an error, which the write will then report).
fn has_room(fd: RawFd) -> bool {
    let mut probe = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        // SAFETY: zero-timeout poll of one descriptor.
        match unsafe { libc::poll(&mut probe, 1, 0) } {
            1 => return probe.revents != 0,
            // An interrupted probe says nothing about room: ask again.
            -1 if crate::os::errno::Errno::last().0 == libc::EINTR => continue,
            _ => return false,
        }
    }
}

/// `print!` and `eprint!` for what hookinit says before the app starts or
/// instead of starting it (`--check`, `--help`, usage errors): the whole
/// text, written in blocking writes to fd 1 or 2 as inherited (waiting for
/// room if that description is non-blocking). A write error drops the rest
/// (`print!` would panic, which is abort here). std's stdout machinery (its
/// lock, buffer and flush at exit) is then not in the binary: 1.5 KB.
pub fn print(stream: Stream, args: std::fmt::Arguments<'_>) {
    let text = std::fmt::format(args);
    let fd = match stream {
        Stream::Out => libc::STDOUT_FILENO,
        Stream::Err => libc::STDERR_FILENO,
    };
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        match crate::os::fd::write_once(fd, rest) {
            Ok(n @ 1..) => rest = &rest[n..],
            Err(e) if e.0 == libc::EINTR => {}
            Err(e) if e.0 == libc::EAGAIN => {
                let mut room = [libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                }];
                if crate::os::sys::poll(&mut room, None).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}
