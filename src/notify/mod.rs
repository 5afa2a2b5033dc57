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
use crate::os::env::Envp;
use crate::os::errno::{Errno, Lossy};
use crate::os::notify_socket::{Address, Datagram, NotifySocket};
use crate::os::proc::{self, Stat};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

pub mod budget;
pub mod relay;

use budget::Budget;

/// Datagrams read per wake-up.
pub const BATCH: usize = 16;
/// The longest datagram heard: systemd's own limit (`NOTIFY_BUFFER_MAX`,
/// PIPE_BUF). A longer one is ignored whole.
pub const DATAGRAM_MAX: usize = 4096;
// The limit is spelled out in the event's text.
const _: () = assert!(DATAGRAM_MAX == 4096);
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
    /// `WATCHDOG=trigger`: the app asks to be restarted.
    pub triggered: bool,
    /// `EXTEND_TIMEOUT_USEC=` (the last of the batch), with a ceiling set.
    pub extend: Option<u64>,
}

/// What ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No `WATCHDOG=1` within this interval.
    Watchdog(Duration),
    /// No `READY=1` within this long from the app's start.
    Start(Duration),
}

/// The watchdog (`HOOKINIT_NOTIFY_WATCHDOG`): `WATCHDOG=1` at least every
/// `interval`, from the app's start on (as systemd arms it at ExecStart).
#[derive(Clone, Copy, Debug)]
struct Watchdog {
    interval: std::time::Duration,
    /// When it fails; `None` once disarmed (it failed, `WATCHDOG_USEC=0`).
    at: Option<Instant>,
    /// It failed (or the stop began): nothing re-arms it.
    over: bool,
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
    Gone = 1 << 11,
}

/// The keys hookinit knows.
#[derive(Clone, Copy)]
enum Key {
    Ready,
    Reloading,
    Stopping,
    Status,
    MainPid,
    Errno,
    BusError,
    FdStore,
    ExtendTimeout,
    Watchdog,
    WatchdogUsec,
    Barrier,
}

/// The key names, each after its length (one string: a table of slices
/// costs 24 bytes a name), and the key each names, in the same order.
const NAMES: &[u8] = b"\x05READY\x09RELOADING\x08STOPPING\x06STATUS\x07MAINPID\x05ERRNO\
    \x08BUSERROR\x07FDSTORE\x0dFDSTOREREMOVE\x06FDNAME\x06FDPOLL\x13EXTEND_TIMEOUT_USEC\
    \x08WATCHDOG\x0dWATCHDOG_USEC\x07BARRIER";
const KEYS: [Key; 15] = [
    Key::Ready,
    Key::Reloading,
    Key::Stopping,
    Key::Status,
    Key::MainPid,
    Key::Errno,
    Key::BusError,
    Key::FdStore,
    Key::FdStore,
    Key::FdStore,
    Key::FdStore,
    Key::ExtendTimeout,
    Key::Watchdog,
    Key::WatchdogUsec,
    Key::Barrier,
];

/// The key named `name`, if hookinit knows it.
fn key(name: &[u8]) -> Option<Key> {
    let mut rest = NAMES;
    for &key in &KEYS {
        let (&len, tail) = rest.split_first()?;
        let (known, tail) = tail.split_at_checked(usize::from(len))?;
        if known == name {
            return Some(key);
        }
        rest = tail;
    }
    None
}

/// Whose a datagram is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sender {
    /// The app or one of its descendants.
    App,
    Outsider,
    /// The sender, or an ancestor between it and the app, exited: its
    /// parent chain cannot be read (systemd has the same limit; a sender
    /// waits with `BARRIER=1` to avoid it).
    Gone,
}

pub struct Notify {
    socket: NotifySocket,
    /// The app's pid, once it runs (0 before).
    app_pid: i32,
    own_pid: i32,
    /// /proc is this PID namespace's ([`proc::is_ours`]): a sender's
    /// parent chain can be read there.
    tree_readable: bool,
    heard: Heard,
    buf: [u8; DATAGRAM_MAX],
}

/// What the app said (apart from the buffer, which it is read from).
struct Heard {
    state: State,
    started: bool,
    /// [`Once`] bits already logged.
    logged: u16,
    watchdog: Option<Watchdog>,
    budget: Budget,
}

impl Notify {
    /// Binds the socket (before the app starts: it needs the name).
    #[inline(never)]
    pub fn open(
        address: &Address,
        watchdog: Option<Duration>,
        budget: Budget,
    ) -> Result<Notify, Errno> {
        Ok(Notify {
            socket: NotifySocket::bind(address)?,
            app_pid: 0,
            own_pid: std::process::id() as i32,
            tree_readable: proc::is_ours(),
            heard: Heard {
                state: State::Starting,
                started: false,
                logged: 0,
                watchdog: watchdog.map(|interval| Watchdog {
                    interval,
                    at: None,
                    over: false,
                }),
                budget,
            },
            buf: [0; DATAGRAM_MAX],
        })
    }

    /// The app's environment: hookinit's own without `NOTIFY_SOCKET`,
    /// `WATCHDOG_USEC` and `WATCHDOG_PID` (hookinit's, for the relay), with
    /// the app's `NOTIFY_SOCKET` (and `WATCHDOG_USEC`) given a socket.
    pub fn app_environment(notify: Option<&Notify>) -> Envp {
        const NAMES: [&[u8]; 3] = [b"NOTIFY_SOCKET", b"WATCHDOG_USEC", b"WATCHDOG_PID"];
        let watchdog = notify.and_then(|n| n.heard.watchdog);
        let count = usize::from(notify.is_some()) + usize::from(watchdog.is_some());
        let mut env = Envp::with_slots(&NAMES, &NAMES[..count]);
        if let Some(n) = notify {
            env.set(0, n.socket.name());
        }
        if let Some(w) = watchdog {
            // Digits from the end: no formatter for one number.
            let mut buf = [0u8; 20];
            let mut at = buf.len();
            let mut usec = w.interval.as_micros() as u64;
            loop {
                at -= 1;
                buf[at] = b'0' + (usec % 10) as u8;
                usec /= 10;
                if usec == 0 {
                    break;
                }
            }
            env.set(1, &buf[at..]);
        }
        env
    }

    /// When the watchdog or the start-up budget fails unless `WATCHDOG=1`
    /// or `READY=1` comes first.
    pub fn wake_at(&self) -> Option<Instant> {
        let watchdog = self.heard.watchdog.and_then(|w| w.at);
        match (watchdog, self.heard.budget.start_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// What ran out by `now`, if anything (it is disarmed then).
    pub fn on_time(&mut self, now: Instant) -> Option<Failure> {
        if let Some(budget) = self.heard.budget.start_failed(now) {
            return Some(Failure::Start(budget));
        }
        let w = self.heard.watchdog.as_mut()?;
        let at = w.at?;
        if now < at {
            return None;
        }
        (w.at, w.over) = (None, true);
        Some(Failure::Watchdog(w.interval))
    }

    /// No more watchdog nor start-up budget: the stop began (or the app
    /// exited).
    pub fn disarm(&mut self) {
        if let Some(w) = self.heard.watchdog.as_mut() {
            (w.at, w.over) = (None, true);
        }
        self.heard.budget.stop_began(Instant::now());
    }

    /// The budgets `EXTEND_TIMEOUT_USEC=` moves.
    pub fn budget(&mut self) -> &mut Budget {
        &mut self.heard.budget
    }

    /// The app runs as `pid`: datagrams from its tree count from now on.
    pub fn set_app(&mut self, pid: i32) {
        self.app_pid = pid;
        let now = Instant::now();
        if let Some(w) = self.heard.watchdog.as_mut() {
            w.at = Some(now + w.interval);
        }
        self.heard.budget.app_started(now);
        let name = Lossy(self.socket.name());
        let senders = match self.tree_readable {
            true => "",
            false => "; /proc is another PID namespace's: every sender in this one is heard",
        };
        let msg = format_args!("listening on {name} (NOTIFY_SOCKET){senders}");
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
                    self.heard.once(Once::ReadFailed, Level::Warn, msg);
                    break;
                }
            };
            self.datagram(d, &mut changes);
        }
        changes
    }

    #[inline(never)]
    fn datagram(&mut self, d: Datagram, changes: &mut Changes) {
        // One event for every fault of a datagram as a whole (its sender,
        // size, descriptors), each logged once.
        let fault = match self.sender(d.pid) {
            Sender::Outsider => Some((Once::Outsider, "ignored, outside the app's tree")),
            Sender::Gone => Some((
                Once::Gone,
                "ignored, its sender was gone before it could be checked (use sd_notify_barrier)",
            )),
            _ if d.len > DATAGRAM_MAX => {
                Some((Once::Oversized, "ignored, over the 4096-byte limit"))
            }
            // BARRIER=1 comes with a descriptor: closing it is the answer.
            _ if !d.fds.is_empty() && &self.buf[..d.len] != b"BARRIER=1" => {
                Some((Once::Descriptors, "its file descriptors were closed"))
            }
            _ => None,
        };
        if let Some((bit, why)) = fault {
            // Descriptors closed, the message is still heard.
            let heard = matches!(bit, Once::Descriptors);
            let level = if heard { Level::Info } else { Level::Warn };
            let msg = format_args!(
                "a message from pid {} ({} bytes): {why} (logged once)",
                d.pid, d.len
            );
            self.heard.once(bit, level, msg);
            if !heard {
                return;
            }
        }
        for line in self.buf[..d.len].split(|&b| b == b'\n') {
            if !line.is_empty() {
                self.heard.assignment(line, changes);
            }
        }
    }

    /// Whether `pid` is the app or one of its descendants, read from the
    /// parent chain in /proc (a process re-parented to hookinit left it).
    #[inline(never)]
    fn sender(&self, mut pid: i32) -> Sender {
        let mut buf = [0u8; 512];
        for _ in 0..MAX_DEPTH {
            if self.app_pid <= 0 || pid <= 1 || pid == self.own_pid {
                return Sender::Outsider;
            }
            if pid == self.app_pid || !self.tree_readable {
                return Sender::App;
            }
            pid = match Stat::read(pid, &mut buf) {
                // Being reaped: its parent reads as 0 by now.
                Ok(Some(stat)) if stat.state() == Some(b'X') => return Sender::Gone,
                Ok(Some(stat)) => match stat.ppid() {
                    Some(ppid) => ppid,
                    None => return Sender::Outsider,
                },
                Ok(None) => return Sender::Gone,
                Err(_) => return Sender::Outsider,
            };
        }
        Sender::Outsider
    }
}

impl Heard {
    /// One `KEY=VALUE` line.
    #[inline(never)]
    fn assignment(&mut self, line: &[u8], changes: &mut Changes) {
        let (key, value) = match line.iter().position(|&b| b == b'=') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        // Looked up in one table: a `match` on byte strings compares each
        // key byte by byte in line (about 1 KB more).
        // Each arm that ignores the line names its reason: one call below.
        let ignored = match self::key(key) {
            Some(k @ (Key::Ready | Key::Reloading | Key::Stopping)) if value == b"1" => {
                if matches!(k, Key::Ready) && !self.started {
                    self.started = true;
                    changes.started = true;
                    self.budget.start_over();
                }
                const STATES: [State; 3] = [State::Ready, State::Reloading, State::Stopping];
                self.set_state(STATES[k as usize % 3], line, changes);
                None
            }
            Some(Key::Status) => {
                events::log(
                    Level::Info,
                    "AppStatus",
                    format_args!("the app's status: {}", Lossy(value)),
                );
                None
            }
            // From a table in `Key`'s order.
            Some(k @ (Key::MainPid | Key::Errno | Key::BusError | Key::FdStore)) => {
                const WHY: [(Once, &str); 4] = [
                    (Once::MainPid, "hookinit watches the pid it started"),
                    (Once::Errno, "the exit code says how it failed"),
                    (Once::BusError, "no D-Bus here"),
                    (Once::FdStore, "hookinit keeps no descriptors"),
                ];
                Some(WHY[(k as usize - Key::MainPid as usize) % 4])
            }
            // One bit for both: the first can only ever be the reason.
            Some(Key::ExtendTimeout) if self.budget.limit.is_none() => {
                Some((Once::ExtendTimeout, "no HOOKINIT_NOTIFY_EXTEND_LIMIT"))
            }
            Some(Key::ExtendTimeout) if !self.budget.runs() => {
                Some((Once::ExtendTimeout, "no budget runs"))
            }
            Some(Key::ExtendTimeout) => {
                match usec(value) {
                    Some(usec) => changes.extend = Some(usec),
                    None => Heard::not_usec(line),
                }
                None
            }
            Some(Key::Watchdog | Key::WatchdogUsec) if self.watchdog.is_none() => {
                Some((Once::Watchdog, "no HOOKINIT_NOTIFY_WATCHDOG"))
            }
            Some(Key::Watchdog) if value == b"1" => {
                if let Some(w) = self.watchdog.as_mut().filter(|w| w.at.is_some()) {
                    w.at = Some(Instant::now() + w.interval);
                }
                None
            }
            Some(Key::Watchdog) if value == b"trigger" => {
                changes.triggered = true;
                None
            }
            Some(Key::WatchdogUsec) => {
                self.watchdog_usec(line, value);
                None
            }
            // READY=0 and the like: systemd ignores them too. BARRIER=1's
            // descriptor is closed once its datagram was handled: that is
            // the whole answer.
            Some(Key::Ready | Key::Reloading | Key::Stopping | Key::Barrier) => None,
            // WATCHDOG=0 and the like fall here too, as they did.
            _ => Some((Once::Unknown, "unknown key")),
        };
        if let Some((bit, why)) = ignored {
            let msg = format_args!("the app sent {}: ignored, {why} (logged once)", Lossy(line));
            self.once(bit, Level::Info, msg);
        }
    }

    /// `WATCHDOG_USEC=n`: the interval is n µs from now on, and the next
    /// `WATCHDOG=1` is due n µs from now; 0 turns the watchdog off (systemd's
    /// override, `service_override_watchdog_timeout`).
    fn watchdog_usec(&mut self, line: &[u8], value: &[u8]) {
        let Some(w) = self.watchdog.as_mut() else {
            return;
        };
        let Some(usec) = usec(value) else {
            return Heard::not_usec(line);
        };
        let interval = Duration::from_micros(usec);
        w.interval = interval;
        if w.over {
            return;
        }
        w.at = (usec > 0).then(|| Instant::now() + interval);
        let tail = match usec {
            0 => ": the watchdog is off",
            _ => ": the watchdog's interval from now on",
        };
        said(Level::Info, "AppNotify", line, tail);
    }

    fn not_usec(line: &[u8]) {
        let tail = ": not a number of microseconds, ignored";
        said(Level::Warn, "NotifyIgnored", line, tail);
    }

    /// `line` is the key's, `KEY=1`.
    fn set_state(&mut self, state: State, line: &[u8], changes: &mut Changes) {
        if self.state == state {
            return;
        }
        let was_ready = self.state == State::Ready;
        self.state = state;
        changes.readiness |= was_ready != (state == State::Ready);
        let tail = match state {
            State::Reloading => ": not ready until its next READY=1",
            State::Stopping => ": not ready",
            _ => "",
        };
        said(Level::Info, "AppNotify", line, tail);
    }

    /// `NotifyIgnored`, once for each [`Once`].
    fn once(&mut self, bit: Once, level: Level, msg: std::fmt::Arguments<'_>) {
        let bit = bit as u16;
        if self.logged & bit == 0 {
            self.logged |= bit;
            events::log(level, "NotifyIgnored", msg);
        }
    }
}

/// "the app sent `line``tail`": one format for the events that quote a line.
fn said(level: Level, name: &str, line: &[u8], tail: &str) {
    let msg = format_args!("the app sent {}{tail}", Lossy(line));
    events::log(level, name, msg);
}

/// Digits, a `+` allowed before them (as systemd's `safe_atou64`; its
/// leading blanks are not: nobody sends them).
fn usec(value: &[u8]) -> Option<u64> {
    let digits = match value {
        [b'+', rest @ ..] => rest,
        _ => value,
    };
    crate::os::text::decimal(digits)
}

#[cfg(test)]
mod tests;
