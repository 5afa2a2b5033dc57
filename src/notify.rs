//! systemd's notify protocol (`sd_notify`), heard from the app: hookinit
//! listens on a datagram socket named by `NOTIFY_SOCKET` in the app's
//! environment and turns `READY=1`, `RELOADING=1`, `STOPPING=1` and
//! `STATUS=` into readiness and events (README, "Readiness from the app").
//!
//! The loop polls the socket and calls [`Notify::read`]: at most [`BATCH`]
//! datagrams per wake-up, so that a flood waits behind signals and reaping
//! (the signalfd is read first at every wake-up), each into a fixed buffer.
//! Only datagrams from the app or its descendants count (the sender's pid
//! comes with each one, `SO_PASSCRED`; its ancestry is read in /proc).

use crate::events::{self, Level};
use crate::os::errno::{Errno, Lossy};
use crate::os::notify_socket::{Address, Datagram, NotifySocket};
use crate::os::proc::Stat;
use std::os::fd::{AsRawFd, RawFd};

/// Datagrams read per wake-up.
pub const BATCH: usize = 16;
/// The longest datagram heard: systemd's own limit (`NOTIFY_BUFFER_MAX`,
/// PIPE_BUF). A longer one is ignored whole.
pub const DATAGRAM_MAX: usize = 4096;
/// How many ancestors are followed looking for the app.
const MAX_DEPTH: usize = 64;

/// What the app last said of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Nothing yet: not ready.
    Starting,
    /// `READY=1`.
    Ready,
    /// `RELOADING=1`: not ready until the next `READY=1`.
    Reloading,
    /// `STOPPING=1`: not ready again.
    Stopping,
}

/// What one wake-up's datagrams changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// The first `READY=1`: the app has started.
    pub started: bool,
    /// Whether the app says it is ready changed.
    pub readiness: bool,
}

/// Keys (and faults) logged once, then ignored silently.
#[derive(Clone, Copy)]
#[repr(u16)]
enum Once {
    MainPid = 1,
    Errno = 1 << 1,
    BusError = 1 << 2,
    FdStore = 1 << 3,
    Unknown = 1 << 4,
    Outsider = 1 << 5,
    Oversized = 1 << 6,
    ReadFailed = 1 << 7,
    Descriptors = 1 << 8,
    ExtendTimeout = 1 << 9,
    Watchdog = 1 << 10,
}

pub struct Notify {
    socket: NotifySocket,
    /// The app's pid, once it runs (0 before).
    app_pid: i32,
    own_pid: i32,
    heard: Heard,
    buf: [u8; DATAGRAM_MAX],
}

/// What the app said (apart from the buffer, which it is read from).
struct Heard {
    state: State,
    started: bool,
    /// [`Once`] bits already logged.
    logged: u16,
}

impl Notify {
    /// Binds the socket (before the app starts: it needs the name).
    pub fn open(address: &Address) -> Result<Notify, Errno> {
        Ok(Notify {
            socket: NotifySocket::bind(address)?,
            app_pid: 0,
            own_pid: std::process::id() as i32,
            heard: Heard {
                state: State::Starting,
                started: false,
                logged: 0,
            },
            buf: [0; DATAGRAM_MAX],
        })
    }

    /// `NOTIFY_SOCKET=…`, for the app's environment.
    pub fn env_entry(&self) -> Vec<u8> {
        let mut entry = b"NOTIFY_SOCKET=".to_vec();
        entry.extend_from_slice(self.socket.name());
        entry
    }

    /// The app runs as `pid`: datagrams from its tree count from now on.
    pub fn set_app(&mut self, pid: i32) {
        self.app_pid = pid;
        let name = Lossy(self.socket.name());
        let msg =
            format_args!("listening on {name} for the app's sd_notify messages (NOTIFY_SOCKET)");
        events::log(Level::Info, "NotifySocket", msg);
    }

    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// The app said `READY=1`, and nothing since took it back.
    pub fn ready(&self) -> bool {
        self.heard.state == State::Ready
    }

    /// The app said `READY=1` at least once.
    pub fn started(&self) -> bool {
        self.heard.started
    }

    /// Reads and handles at most [`BATCH`] datagrams.
    pub fn read(&mut self) -> Changes {
        let mut changes = Changes::default();
        for _ in 0..BATCH {
            let d = match self.socket.recv(&mut self.buf) {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(e) => {
                    let msg = format_args!("reading the notify socket failed: {e} (logged once)");
                    self.heard
                        .once(Once::ReadFailed, Level::Warn, "NotifyIgnored", msg);
                    break;
                }
            };
            self.datagram(d, &mut changes);
        }
        changes
    }

    fn datagram(&mut self, d: Datagram, changes: &mut Changes) {
        if d.fds > 0 {
            let msg = format_args!(
                "the app sent {} file descriptor(s) (FDSTORE): closed, hookinit keeps none (logged once)",
                d.fds
            );
            self.heard
                .once(Once::Descriptors, Level::Info, "NotifyIgnored", msg);
        }
        if !self.in_app_tree(d.pid) {
            let msg = format_args!(
                "a message from pid {}, which is neither the app nor one of its descendants, is ignored (logged once)",
                d.pid
            );
            self.heard
                .once(Once::Outsider, Level::Warn, "NotifyIgnored", msg);
            return;
        }
        if d.len > DATAGRAM_MAX {
            let msg = format_args!(
                "a message of {} bytes, over the {DATAGRAM_MAX}-byte limit, is ignored (logged once)",
                d.len
            );
            self.heard
                .once(Once::Oversized, Level::Warn, "NotifyIgnored", msg);
            return;
        }
        for line in self.buf[..d.len].split(|&b| b == b'\n') {
            if !line.is_empty() {
                self.heard.assignment(line, changes);
            }
        }
    }

    /// Whether `pid` is the app or one of its descendants, read from the
    /// parent chain in /proc (a process re-parented to hookinit left it).
    fn in_app_tree(&self, mut pid: i32) -> bool {
        let mut buf = [0u8; 512];
        for _ in 0..MAX_DEPTH {
            if self.app_pid <= 0 || pid <= 1 || pid == self.own_pid {
                return false;
            }
            if pid == self.app_pid {
                return true;
            }
            pid = match Stat::read(pid, &mut buf) {
                Ok(Some(stat)) => match stat.ppid().and_then(parse_pid) {
                    Some(ppid) => ppid,
                    None => return false,
                },
                _ => return false,
            };
        }
        false
    }
}

impl Heard {
    /// One `KEY=VALUE` line.
    fn assignment(&mut self, line: &[u8], changes: &mut Changes) {
        let (key, value) = match line.iter().position(|&b| b == b'=') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        match key {
            b"READY" if value == b"1" => {
                if !self.started {
                    self.started = true;
                    changes.started = true;
                }
                self.set_state(State::Ready, changes);
            }
            b"RELOADING" if value == b"1" => self.set_state(State::Reloading, changes),
            b"STOPPING" if value == b"1" => self.set_state(State::Stopping, changes),
            b"STATUS" => {
                events::log(
                    Level::Info,
                    "AppStatus",
                    format_args!("the app's status: {}", Lossy(value)),
                );
            }
            b"MAINPID" => self.ignored(Once::MainPid, line, "hookinit watches the pid it started (the app runs in the foreground under an init)"),
            b"ERRNO" => self.ignored(Once::Errno, line, "the app's exit code says how it failed"),
            b"BUSERROR" => self.ignored(Once::BusError, line, "there is no D-Bus in the container"),
            b"FDSTORE" | b"FDSTOREREMOVE" | b"FDNAME" | b"FDPOLL" => self.ignored(
                Once::FdStore,
                line,
                "hookinit keeps no descriptors for the app: a restarted container starts afresh",
            ),
            b"EXTEND_TIMEOUT_USEC" => self.ignored(
                Once::ExtendTimeout,
                line,
                "start-up has no timeout here, and a stop's grace period is the runtime's",
            ),
            b"WATCHDOG" | b"WATCHDOG_USEC" => self.ignored(
                Once::Watchdog,
                line,
                "no watchdog is configured",
            ),
            // READY=0 and the like: systemd ignores them too.
            b"READY" | b"RELOADING" | b"STOPPING" => {}
            _ => self.ignored(Once::Unknown, line, "hookinit does not know this key"),
        }
    }

    fn set_state(&mut self, state: State, changes: &mut Changes) {
        if self.state == state {
            return;
        }
        let was_ready = self.state == State::Ready;
        self.state = state;
        changes.readiness |= was_ready != (state == State::Ready);
        let msg = match state {
            State::Ready => "the app sent READY=1",
            State::Reloading => "the app sent RELOADING=1: not ready until its next READY=1",
            State::Stopping => "the app sent STOPPING=1: not ready",
            State::Starting => return,
        };
        events::log(Level::Info, "AppNotify", format_args!("{msg}"));
    }

    fn ignored(&mut self, key: Once, line: &[u8], why: &str) {
        let msg = format_args!("the app sent {}: ignored, {why} (logged once)", Lossy(line));
        self.once(key, Level::Info, "NotifyIgnored", msg);
    }

    fn once(&mut self, key: Once, level: Level, name: &str, msg: std::fmt::Arguments<'_>) {
        if self.logged & key as u16 == 0 {
            self.logged |= key as u16;
            events::log(level, name, msg);
        }
    }
}

fn parse_pid(digits: &[u8]) -> Option<i32> {
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, &d| n * 10 + i32::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify() -> Notify {
        let mut n = Notify::open(&Address::Auto).unwrap();
        n.app_pid = std::process::id() as i32;
        n.own_pid = 1;
        n
    }

    fn feed(n: &mut Notify, text: &[u8]) -> Changes {
        let mut changes = Changes::default();
        n.buf[..text.len()].copy_from_slice(text);
        let pid = n.app_pid;
        n.datagram(
            Datagram {
                len: text.len(),
                pid,
                fds: 0,
            },
            &mut changes,
        );
        changes
    }

    #[test]
    fn ready_starts_once_and_reloading_takes_readiness_until_the_next_ready() {
        let mut n = notify();
        assert!(!n.ready() && !n.started());
        let c = feed(&mut n, b"STATUS=warming up\nREADY=1\n");
        assert_eq!((c.started, c.readiness, n.ready()), (true, true, true));
        assert_eq!(feed(&mut n, b"READY=1"), Changes::default());
        let c = feed(&mut n, b"RELOADING=1\nMAINPID=5");
        assert_eq!((c.started, c.readiness, n.ready()), (false, true, false));
        let c = feed(&mut n, b"READY=1");
        assert_eq!((c.started, c.readiness, n.ready()), (false, true, true));
        let c = feed(&mut n, b"STOPPING=1");
        assert_eq!(
            (c.readiness, n.ready(), n.heard.state),
            (true, false, State::Stopping)
        );
    }

    #[test]
    fn ready_with_another_value_or_in_one_line_with_more_is_not_ready() {
        let mut n = notify();
        feed(&mut n, b"READY=0\nREADY=10\nXREADY=1\nREADY");
        assert!(!n.ready() && !n.started());
    }

    #[test]
    fn a_sender_outside_the_apps_tree_is_not_heard() {
        let mut n = notify();
        // Our own parent is not a descendant of us.
        assert!(!n.in_app_tree(std::os::unix::process::parent_id() as i32));
        assert!(n.in_app_tree(n.app_pid));
        assert!(!n.in_app_tree(0));
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(n.in_app_tree(child.id() as i32));
        let _ = child.kill();
        let _ = child.wait();
        n.app_pid = 0;
        assert!(!n.in_app_tree(std::process::id() as i32));
    }
}
