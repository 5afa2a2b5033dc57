//! The relay outward (`HOOKINIT_NOTIFY_RELAY`): hookinit, started with a
//! `NOTIFY_SOCKET` of its own (podman `--sdnotify=container`, a systemd unit
//! around the container), tells it the container's state as hookinit sees
//! it: ready (PostStart, probes and the app's READY=1 combined), not ready,
//! stopping. An app with no notify support but a readiness probe reports
//! ready to systemd this way. Given `WATCHDOG_USEC` too, it sends
//! `WATCHDOG=1` every half of it while the app runs and no stop has begun
//! (its liveness as hookinit sees it: a failed probe or watchdog begins the
//! stop), as `sd_watchdog_enabled` users do.

use crate::events::{self, Level};
use crate::os::errno::Lossy;
use crate::os::notify_socket::NotifyClient;
use std::time::{Duration, Instant};

pub struct Relay {
    client: NotifyClient,
    /// A failed send was logged (once: the listener may be gone for good).
    warned: bool,
    /// `WATCHDOG=1`: every this long, next at that moment; `None` once
    /// the stop began or the app exited.
    watchdog: Option<(Duration, Instant)>,
}

impl Relay {
    /// For hookinit's own `NOTIFY_SOCKET`, if it was given one that can be
    /// used (else logged). Given its `WATCHDOG_USEC` too (for hookinit: no
    /// `WATCHDOG_PID`, or hookinit's, as libsystemd's `sd_watchdog_enabled`
    /// reads it), pings at half of it.
    #[inline(never)]
    pub fn from_env() -> Option<Relay> {
        // Read in place: no copy of the environment (its vectors of owned
        // strings cost more code than the lookups).
        let var = crate::os::env::var;
        let Some(name) = var(b"NOTIFY_SOCKET").filter(|v| !v.is_empty()) else {
            let msg = format_args!("no NOTIFY_SOCKET was given to hookinit: nothing to tell");
            events::log(Level::Info, "NotifyRelay", msg);
            return None;
        };
        let ours = var(b"WATCHDOG_PID")
            .is_none_or(|pid| super::usec(pid) == Some(u64::from(std::process::id())));
        let every = var(b"WATCHDOG_USEC")
            .and_then(super::usec)
            .filter(|&usec| ours && usec > 0)
            .map(|usec| Duration::from_micros(usec) / 2);
        let client = match NotifyClient::new(name) {
            Ok(client) => client,
            Err(e) => {
                let msg = format_args!("cannot use NOTIFY_SOCKET {}: {e}", Lossy(name));
                events::log(Level::Warn, "NotifyRelay", msg);
                return None;
            }
        };
        // One line, the watchdog's part only with one.
        let pings = match every {
            None => format_args!(""),
            Some(every) => format_args!(
                ", and WATCHDOG=1 every {} while the app runs (WATCHDOG_USEC)",
                events::secs(every)
            ),
        };
        let msg = format_args!(
            "telling {} (NOTIFY_SOCKET) when the container is ready and when it stops{pings}",
            Lossy(name)
        );
        events::log(Level::Info, "NotifyRelay", msg);
        Some(Relay {
            client,
            warned: false,
            watchdog: every.map(|every| (every, Instant::now() + every)),
        })
    }

    /// The container became ready, or not.
    pub fn readiness(&mut self, ready: bool) {
        self.send(match ready {
            true => b"READY=1\nSTATUS=ready",
            false => b"STATUS=not ready",
        });
    }

    /// The stop began.
    pub fn stopping(&mut self) {
        self.watchdog = None;
        self.send(b"STOPPING=1\nSTATUS=stopping");
    }

    /// When the next `WATCHDOG=1` is due.
    pub fn wake_at(&self) -> Option<Instant> {
        self.watchdog.map(|(_, at)| at)
    }

    /// Sends `WATCHDOG=1` if due by `now` and the app still runs
    /// (`alive`); once it does not, no more.
    #[inline(never)]
    pub fn on_time(&mut self, now: Instant, alive: bool) {
        let Some((every, at)) = self.watchdog else {
            return;
        };
        if !alive {
            self.watchdog = None;
        } else if now >= at {
            self.watchdog = Some((every, now + every));
            self.send(b"WATCHDOG=1");
        }
    }

    fn send(&mut self, msg: &[u8]) {
        if let Err(e) = self.client.send(msg) {
            if !self.warned {
                self.warned = true;
                let msg = format_args!(
                    "cannot tell NOTIFY_SOCKET {}: {e} (logged once)",
                    Lossy(msg)
                );
                events::log(Level::Warn, "NotifyRelay", msg);
            }
        }
    }
}
