//! Lifecycle hooks: starting a handler and learning, without blocking the
//! supervision loop, how it ended.
//!
//! Each handler finishes through one of the loop's own wake-ups:
//! - `exec`: a child process, finished when reap.rs reaps its pid; its output
//!   is copied through pipes the loop polls.
//! - `httpGet`, `tcpSocket`: a thread doing blocking I/O, finished by a
//!   message on a channel plus a byte on a wake-up pipe the loop polls.
//! - `sleep`: only a deadline in the loop.
//!
//! A hook past its deadline is abandoned: an exec hook's process group is
//! killed; a thread's late answer is ignored (its I/O times out with the
//! hook's deadline; a PostStart without a timeout may keep one thread busy
//! until its connection ends).

mod exec;
mod http;
mod tcp;

use crate::lifecycle::Handler;
use crate::reap::Status;
use crate::signals::Inherited;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    PostStart,
    PreStop,
}

impl HookKind {
    pub fn name(self) -> &'static str {
        match self {
            HookKind::PostStart => "PostStart",
            HookKind::PreStop => "PreStop",
        }
    }

    /// The Kubernetes event reason for a failure.
    pub fn failure_event(self) -> &'static str {
        match self {
            HookKind::PostStart => "FailedPostStartHook",
            HookKind::PreStop => "FailedPreStopHook",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed(String),
}

type ThreadResult = (u64, Result<(), String>);

/// Where hook threads report: a channel, and a pipe that wakes the loop.
/// Both are made on first use: most containers never run an HTTP or TCP hook.
#[derive(Default)]
pub struct Completions {
    channel: Option<Channel>,
    next_token: u64,
}

struct Channel {
    tx: Sender<ThreadResult>,
    rx: Receiver<ThreadResult>,
    wake_read: OwnedFd,
    wake_write: std::sync::Arc<OwnedFd>,
}

impl Channel {
    fn new() -> io::Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills both descriptors on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptors owned by nobody else.
        let (wake_read, wake_write) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let (tx, rx) = channel();
        Ok(Channel {
            tx,
            rx,
            wake_read,
            wake_write: std::sync::Arc::new(wake_write),
        })
    }
}

impl Completions {
    /// The wake-up pipe to poll, once a thread hook has run.
    pub fn fd(&self) -> Option<RawFd> {
        self.channel.as_ref().map(|c| c.wake_read.as_raw_fd())
    }

    /// Empties the wake-up pipe and returns the results that arrived.
    pub fn drain(&self) -> Vec<ThreadResult> {
        let Some(c) = &self.channel else {
            return Vec::new();
        };
        let mut buf = [0u8; 64];
        // SAFETY: reading into a local buffer from our non-blocking pipe.
        while unsafe { libc::read(c.wake_read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0
        {
        }
        c.rx.try_iter().collect()
    }

    fn spawn_thread(
        &mut self,
        work: impl FnOnce() -> Result<(), String> + Send + 'static,
    ) -> io::Result<u64> {
        let c = match self.channel.take() {
            Some(c) => c,
            None => Channel::new()?,
        };
        let c = self.channel.insert(c);
        self.next_token += 1;
        let token = self.next_token;
        let (tx, wake) = (c.tx.clone(), c.wake_write.clone());
        std::thread::Builder::new()
            .name("hook".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _ = tx.send((token, work()));
                // SAFETY: one byte to our own pipe; a full pipe already wakes the loop.
                unsafe { libc::write(wake.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
            })?;
        Ok(token)
    }
}

enum Work {
    Process(exec::Running),
    Thread(u64),
    Sleep(Instant),
}

/// A hook that is running.
pub struct RunningHook {
    pub kind: HookKind,
    pub handler: &'static str,
    started: Instant,
    deadline: Option<Instant>,
    work: Work,
}

impl RunningHook {
    /// Starts `handler`. `deadline` bounds it (a timeout or the grace window).
    /// A handler that cannot even start is a failed hook.
    pub fn start(
        kind: HookKind,
        handler: &Handler,
        deadline: Option<Instant>,
        inherited: Inherited,
        completions: &mut Completions,
    ) -> Result<RunningHook, String> {
        let now = Instant::now();
        let budget = deadline.map(|d| d.saturating_duration_since(now));
        let work = match handler {
            Handler::Exec { command } => Work::Process(exec::Running::start(command, inherited)?),
            Handler::Sleep { duration } => Work::Sleep(now + *duration),
            Handler::HttpGet(spec) => {
                let spec = spec.clone();
                Work::Thread(
                    completions
                        .spawn_thread(move || http::get(&spec, budget))
                        .map_err(|e| format!("cannot start a thread: {e}"))?,
                )
            }
            Handler::TcpSocket { host, port } => {
                let (host, port) = (host.clone(), *port);
                Work::Thread(
                    completions
                        .spawn_thread(move || tcp::connect(&host, port, budget))
                        .map_err(|e| format!("cannot start a thread: {e}"))?,
                )
            }
        };
        Ok(RunningHook {
            kind,
            handler: handler.kind(),
            started: now,
            deadline,
            work,
        })
    }

    pub fn pid(&self) -> Option<i32> {
        match &self.work {
            Work::Process(p) => Some(p.pid),
            _ => None,
        }
    }

    /// What to poll for this hook's output: (descriptor, events).
    pub fn poll_interests(&self) -> Vec<(RawFd, i16)> {
        match &self.work {
            Work::Process(p) => p.output.interests(),
            _ => Vec::new(),
        }
    }

    /// A polled descriptor is ready: move the hook's output along.
    pub fn on_ready(&mut self, fd: RawFd) {
        if let Work::Process(p) = &mut self.work {
            p.output.on_ready(fd);
        }
    }

    /// The exec hook's process was reaped with `status`.
    pub fn reaped(&mut self, status: Status) -> Outcome {
        match &mut self.work {
            Work::Process(p) => p.finished(status),
            _ => Outcome::Succeeded,
        }
    }

    /// A thread answered; `None` if the answer is for another hook.
    pub fn thread_done(&self, token: u64, result: &Result<(), String>) -> Option<Outcome> {
        match self.work {
            Work::Thread(t) if t == token => Some(match result {
                Ok(()) => Outcome::Succeeded,
                Err(e) => Outcome::Failed(e.clone()),
            }),
            _ => None,
        }
    }

    /// When the loop must next look at this hook.
    pub fn wake_at(&self) -> Option<Instant> {
        let sleep_end = match self.work {
            Work::Sleep(until) => Some(until),
            _ => None,
        };
        [sleep_end, self.deadline].into_iter().flatten().min()
    }

    /// A sleep that ended, or a deadline that passed (the hook is then killed).
    pub fn check_time(&mut self, now: Instant) -> Option<Outcome> {
        // A sleep that ends exactly at its deadline has done its job.
        if let Work::Sleep(until) = self.work {
            if now >= until {
                return Some(Outcome::Succeeded);
            }
        }
        if self.deadline.is_some_and(|d| now >= d) {
            let ran = now.saturating_duration_since(self.started);
            self.cancel();
            let msg = format!("timed out after {}s", crate::events::secs_fixed(ran, 1));
            return Some(Outcome::Failed(match &self.work {
                Work::Process(p) => p.output.with_tail(msg),
                _ => msg,
            }));
        }
        None
    }

    /// Stops the hook: an exec hook's whole process group is killed; a
    /// thread is left to finish on its own I/O timeout, its answer ignored.
    pub fn cancel(&mut self) {
        if let Work::Process(p) = &mut self.work {
            p.kill();
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
