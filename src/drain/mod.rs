//! The drain autopilot (`HOOKINIT_DRAIN`): on a stop, before PreStop and
//! the stop signal, wait until the app's ports have seen no new connection
//! and no request bytes for a quiet interval (between a floor and a
//! ceiling), as the kernel's socket statistics tell: `inet_diag` dumps with
//! `tcp_info` (each connection's time since it last received data; sockets
//! not seen before), the listeners' accept queues, and the namespace's
//! count of accepted connections minus those of hookinit's own readiness
//! endpoint (short connections that open and close between two samples).
//!
//! It samples only during a stop, every [`SAMPLE`]: nothing while running.
//! Nothing allocates: fixed tables, buffers on the stack.

use crate::config;
use crate::events::{self, Level};
use crate::os::errno::Errno;
use crate::os::sock_diag::{self, Sock, SockDiag, TCP_LISTEN, TCP_TIME_WAIT};
use crate::spec::drain::MAX_PORTS;
use std::fmt;
use std::time::{Duration, Instant};

/// The sampling period while a drain runs.
pub const SAMPLE: Duration = Duration::from_millis(100);
/// Sockets on the app's ports remembered between samples; more than this
/// counts as traffic (the drain then lasts until its ceiling at most).
const MAX_SOCKS: usize = 1024;

/// Why a drain ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Quiet,
    Ceiling,
    AppGone,
    /// A second stop signal.
    CutShort(i32),
}

/// As the `Drained` event says it.
impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            End::Quiet => f.write_str("quiet"),
            End::Ceiling => f.write_str("not quiet by the ceiling"),
            End::AppGone => f.write_str("the app exited"),
            End::CutShort(sig) => {
                write!(f, "cut short by a second {}", crate::os::signals::name(sig))
            }
        }
    }
}

/// What one sample saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Connections open on the app's ports (TIME_WAIT aside).
    pub open: u32,
    /// The youngest connection's time since it last received data.
    pub youngest_rx: Option<Duration>,
    /// A connection not seen before, one waiting in an accept queue, or an
    /// accepted connection that came and went between samples.
    pub new_traffic: bool,
}

struct Run {
    started: Instant,
    floor_at: Instant,
    ceiling_at: Instant,
    /// PreStop's own deadline, for after the drain.
    hook_deadline: Instant,
    last_activity: Instant,
    next_sample: Instant,
    ports: [u16; MAX_PORTS],
    nports: usize,
    /// The most accepted connections of the app counted so far (the
    /// namespace's `PassiveOpens` less the readiness endpoint's).
    app_opens: Option<i64>,
    /// How many cookies `known` holds: the sockets of the last sample.
    known: usize,
    first: bool,
    last: Seen,
    /// Observation failed once: logged, and every sample counts as traffic.
    blind: bool,
}

pub struct Drain {
    quiet: Duration,
    min: Duration,
    max: Option<Duration>,
    /// The ports given (`nports` of them), copied at start-up: the
    /// configuration is not cloned, and a stop copies them in one move.
    ports: [u16; MAX_PORTS],
    nports: usize,
    diag: Result<SockDiag, Errno>,
    /// hookinit's own readiness endpoint: never the app's.
    own_port: Option<u16>,
    run: Option<Run>,
    known: [u64; MAX_SOCKS],
    next: [u64; MAX_SOCKS],
}

impl Drain {
    /// At start-up: the netlink socket is opened now, so that a stop does
    /// not depend on a new descriptor.
    pub fn new(cfg: &config::Drain, own_port: Option<u16>) -> Box<Drain> {
        let mut ports = [0; MAX_PORTS];
        let nports = cfg.ports.len().min(MAX_PORTS);
        ports[..nports].copy_from_slice(&cfg.ports[..nports]);
        Box::new(Drain {
            quiet: cfg.quiet,
            min: cfg.min,
            max: cfg.max,
            ports,
            nports,
            diag: SockDiag::open(),
            own_port,
            run: None,
            known: [0; MAX_SOCKS],
            next: [0; MAX_SOCKS],
        })
    }

    pub fn running(&self) -> bool {
        self.run.is_some()
    }

    /// The next sample, while a drain runs.
    pub fn wake_at(&self) -> Option<Instant> {
        self.run.as_ref().map(|r| r.next_sample)
    }

    /// PreStop's deadline, once the drain is over.
    pub fn hook_deadline(&self) -> Option<Instant> {
        self.run.as_ref().map(|r| r.hook_deadline)
    }

    /// A stop began at `now`; PreStop must end by `hook_deadline`. Samples
    /// once (the baseline) and says what it saw; `Some` if the drain is
    /// already over (no time for it).
    pub fn start(
        &mut self,
        now: Instant,
        hook_deadline: Instant,
        endpoint_accepts: u64,
    ) -> Option<End> {
        let ceiling_at = self
            .max
            .map_or(hook_deadline, |m| (now + m).min(hook_deadline));
        let mut run = Run {
            started: now,
            floor_at: (now + self.min).min(ceiling_at),
            ceiling_at,
            hook_deadline,
            last_activity: now,
            next_sample: now + SAMPLE,
            ports: self.ports,
            nports: self.nports,
            app_opens: None,
            known: 0,
            first: true,
            last: Seen::default(),
            blind: false,
        };
        if run.nports == 0 {
            self.listening_ports(&mut run);
        }
        self.run = Some(run);
        self.sample(now, endpoint_accepts);
        let (quiet, min) = (self.quiet, self.min);
        let run = self.run.as_ref()?;
        let ceiling = run.ceiling_at.saturating_duration_since(now);
        let ports = Ports(&run.ports[..run.nports]);
        let seen = Said(run.last, now.saturating_duration_since(run.last_activity));
        events::log(
            Level::Info,
            "DrainStarted",
            format_args!(
                "not ready: waiting for {} of quiet on {ports} (at least {}, at most {}s); {seen}",
                events::secs(quiet),
                events::secs(min.min(ceiling)),
                events::secs_fixed(ceiling, 1),
            ),
        );
        if now >= run.ceiling_at {
            return self.end(End::Ceiling, now);
        }
        None
    }

    /// Time passed: samples if due; `Some` when the drain is over.
    pub fn on_time(&mut self, now: Instant, endpoint_accepts: u64) -> Option<End> {
        let run = self.run.as_ref()?;
        if now < run.next_sample {
            return None;
        }
        self.sample(now, endpoint_accepts);
        let run = self.run.as_mut()?;
        // The ceiling is kept to the sample, not to the next one after it.
        run.next_sample = (now + SAMPLE).min(run.ceiling_at.max(now + SAMPLE / 10));
        let end = if now >= run.ceiling_at {
            End::Ceiling
        } else if now >= run.floor_at && now >= run.last_activity + self.quiet {
            End::Quiet
        } else {
            return None;
        };
        self.end(end, now)
    }

    /// Ends a running drain for `why` (logged); `None` if none runs.
    pub fn end(&mut self, why: End, now: Instant) -> Option<End> {
        let run = self.run.take()?;
        let took = events::secs_fixed(now.saturating_duration_since(run.started), 1);
        let seen = Said(run.last, now.saturating_duration_since(run.last_activity));
        // One event line for every end (one call, not four).
        events::log(
            Level::Info,
            "Drained",
            format_args!("{why}, {took}s after the stop began; {seen}"),
        );
        Some(why)
    }

    /// With no ports given: every TCP port listened on now, but hookinit's.
    fn listening_ports(&mut self, run: &mut Run) {
        let Ok(diag) = self.diag.as_mut() else { return };
        let own = self.own_port;
        let mut buf = [0u8; 16384];
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            let _ = diag.dump(family, &mut buf, &mut |s: &Sock| {
                let p = s.local_port;
                if s.state == TCP_LISTEN
                    && Some(p) != own
                    && run.nports < MAX_PORTS
                    && !run.ports[..run.nports].contains(&p)
                {
                    run.ports[run.nports] = p;
                    run.nports += 1;
                }
            });
        }
    }

    fn sample(&mut self, now: Instant, endpoint_accepts: u64) {
        let Some(run) = self.run.as_mut() else { return };
        let mut seen = Seen::default();
        let mut n = 0usize;
        let mut overflow = false;
        // Connections the namespace accepted, read before the sockets: one
        // of the endpoint's that completes in between is in its queue, so
        // the endpoint's share is never undercounted (no false traffic).
        let opens = sock_diag::passive_opens();
        let mut own_queue = 0u64;
        let own = self.own_port;
        let result = match (self.diag.as_mut(), opens) {
            (Err(e), _) => Err(*e),
            (_, Err(e)) => Err(e),
            (Ok(diag), Ok(_)) => {
                let ports = &run.ports[..run.nports];
                let known = &self.known[..run.known];
                let next = &mut self.next;
                let first = run.first;
                let mut buf = [0u8; 16384];
                let mut each = |s: &Sock| {
                    if s.state == TCP_LISTEN && Some(s.local_port) == own {
                        own_queue += u64::from(s.rqueue);
                    }
                    if !ports.contains(&s.local_port) {
                        return;
                    }
                    if s.state == TCP_LISTEN {
                        seen.new_traffic |= s.rqueue > 0;
                        return;
                    }
                    if s.state != TCP_TIME_WAIT {
                        seen.open += 1;
                        if let Some(ms) = s.last_data_recv_ms {
                            let age = Duration::from_millis(ms.into());
                            seen.youngest_rx = Some(seen.youngest_rx.map_or(age, |y| y.min(age)));
                        }
                    }
                    if !first && !known.contains(&s.cookie) {
                        seen.new_traffic = true;
                    }
                    match next.get_mut(n) {
                        Some(slot) => {
                            *slot = s.cookie;
                            n += 1;
                        }
                        None => overflow = true,
                    }
                };
                diag.dump(libc::AF_INET as u8, &mut buf, &mut each)
                    .and_then(|()| diag.dump(libc::AF_INET6 as u8, &mut buf, &mut each))
            }
        };
        match result.and(opens) {
            Ok(opens) => {
                // The app's accepted connections, even those already gone:
                // all of the namespace's but the readiness endpoint's.
                let apps = opens as i64 - (endpoint_accepts + own_queue) as i64;
                if let Some(before) = run.app_opens {
                    seen.new_traffic |= apps > before;
                }
                run.app_opens = Some(run.app_opens.map_or(apps, |b| b.max(apps)));
            }
            Err(e) => {
                if !run.blind {
                    events::log(
                        Level::Warn,
                        "DrainBlind",
                        format_args!(
                            "cannot read the kernel's socket statistics: {e}; the drain lasts until its ceiling"
                        ),
                    );
                }
                run.blind = true;
            }
        }
        std::mem::swap(&mut self.known, &mut self.next);
        run.known = n;
        run.first = false;
        if seen.new_traffic || overflow || run.blind {
            run.last_activity = now;
        }
        if let Some(age) = seen.youngest_rx {
            if let Some(at) = now.checked_sub(age) {
                run.last_activity = run.last_activity.max(at);
            }
        }
        run.last = seen;
    }
}

/// "port 80" or "ports 80, 443".
struct Ports<'a>(&'a [u16]);

impl fmt::Display for Ports<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            [] => "no port (nothing listens)",
            [_] => "port",
            _ => "ports",
        })?;
        let mut sep = " ";
        for p in self.0 {
            write!(f, "{sep}{p}")?;
            sep = ", ";
        }
        Ok(())
    }
}

/// What a sample saw, and how long ago the last traffic was.
struct Said(Seen, Duration);

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Said(seen, since) = *self;
        let s = if seen.open == 1 { "" } else { "s" };
        write!(
            f,
            "{} connection{s} open, last traffic {}s ago",
            seen.open,
            events::secs_fixed(since, 1)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_what_was_seen_read_as_sentences() {
        assert_eq!(Ports(&[]).to_string(), "no port (nothing listens)");
        assert_eq!(Ports(&[80]).to_string(), "port 80");
        assert_eq!(Ports(&[80, 443]).to_string(), "ports 80, 443");
        let seen = Seen {
            open: 1,
            ..Seen::default()
        };
        assert_eq!(
            Said(seen, Duration::from_millis(1250)).to_string(),
            "1 connection open, last traffic 1.3s ago"
        );
    }
}
