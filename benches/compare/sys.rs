//! System helpers: pipes read with a timeout, signals, and what /proc says
//! about a process.

use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Upper bound for anything the bench waits for; an init that hangs is an error.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// CLOCK_MONOTONIC in nanoseconds (what `Instant` uses on Linux).
pub(crate) fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn os_err<T>(what: &str) -> io::Result<T> {
    let e = io::Error::last_os_error();
    Err(io::Error::new(e.kind(), format!("{what}: {e}")))
}

pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: valid out-array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return os_err("pipe2");
    }
    // SAFETY: the kernel just returned both descriptors.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub(crate) fn wait_readable(fd: RawFd, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = deadline
            .saturating_duration_since(Instant::now())
            .as_millis()
            .min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        match unsafe { libc::poll(&mut p, 1, ms) } {
            0 => return Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
            n if n > 0 => return Ok(()),
            _ if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) => {}
            _ => return os_err("poll"),
        }
    }
}

pub(crate) fn read_exact(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        wait_readable(fd.as_raw_fd(), TIMEOUT)?;
        let rest = &mut buf[got..];
        // SAFETY: `rest` is valid for its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len()) };
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the app closed its pipe",
            ));
        }
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return os_err("read");
        }
        got += n as usize;
    }
    Ok(())
}

pub(crate) fn expect_byte(fd: &OwnedFd, want: u8, what: &str) -> io::Result<()> {
    let mut b = [0u8];
    read_exact(fd, &mut b)
        .map_err(|e| io::Error::new(e.kind(), format!("waiting for {what}: {e}")))?;
    if b[0] != want {
        return Err(io::Error::other(format!(
            "waiting for {what}: got {:?}",
            b[0] as char
        )));
    }
    Ok(())
}

pub(crate) fn write_byte(fd: &OwnedFd, b: u8) -> io::Result<()> {
    // SAFETY: one valid byte.
    if unsafe { libc::write(fd.as_raw_fd(), [b].as_ptr().cast(), 1) } != 1 {
        return os_err("write");
    }
    Ok(())
}

pub(crate) fn kill(pid: i32, sig: i32) {
    // SAFETY: plain syscall on our own child.
    unsafe { libc::kill(pid, sig) };
}

/// Waits until `pid` is blocked (state S) twice in a row, 1 ms apart: back
/// in its wait, done with whatever it was doing.
pub(crate) fn wait_asleep(pid: i32) -> io::Result<()> {
    let state = || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or("?")
            .to_string()
    };
    let t = Instant::now();
    let mut asleep = 0;
    while asleep < 2 {
        if t.elapsed() > TIMEOUT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the init stays busy",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
        asleep = if state() == "S" { asleep + 1 } else { 0 };
    }
    Ok(())
}

/// pids of `pid`'s children (zombies included), as the bench sees them.
pub(crate) fn children(pid: i32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// True when `pid` has at most one child; reads only a few bytes.
pub(crate) fn at_most_one_child(file: &mut fs::File) -> io::Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut buf = [0u8; 32];
    file.seek(SeekFrom::Start(0))?;
    let n = file.read(&mut buf)?;
    Ok(buf[..n]
        .split(|&b| b == b' ')
        .filter(|s| !s.is_empty())
        .count()
        <= 1)
}

/// The orphans app's hand-over: `g` on `go` makes it orphan its children to
/// `pid`; its `c` on `said` says it did; then waits until `pid` has reaped
/// them all (at most one child left: the app).
pub(crate) fn hand_over_orphans(pid: i32, go: &OwnedFd, said: &OwnedFd) -> io::Result<()> {
    let mut children = fs::File::open(format!("/proc/{pid}/task/{pid}/children"))?;
    write_byte(go, b'g')?;
    expect_byte(said, b'c', "the hand-over of the orphans")?;
    let t = Instant::now();
    while !at_most_one_child(&mut children)? {
        if t.elapsed() > TIMEOUT {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "orphans not reaped",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

pub(crate) fn status_field(pid: i32, field: &str) -> Option<u64> {
    status_field_in(&format!("/proc/{pid}/status"), field)
}

fn status_field_in(path: &str, field: &str) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim_start_matches(':')
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Voluntary + involuntary context switches of every thread of `pid`.
pub(crate) fn context_switches(pid: i32) -> u64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .map(|t| {
            let path = t.path().join("status");
            let p = path.to_string_lossy();
            status_field_in(&p, "voluntary_ctxt_switches").unwrap_or(0)
                + status_field_in(&p, "nonvoluntary_ctxt_switches").unwrap_or(0)
        })
        .sum()
}
