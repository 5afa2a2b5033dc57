//! The relay outward (`HOOKINIT_NOTIFY_RELAY`): hookinit, started with a
//! `NOTIFY_SOCKET` of its own (podman `--sdnotify=container`, a systemd unit
//! around the container), tells it the container's state as hookinit sees
//! it: ready (PostStart, probes and the app's READY=1 combined), not ready,
//! stopping. An app with no notify support but a readiness probe reports
//! ready to systemd this way.

use crate::events::{self, Level};
use crate::os::errno::Lossy;
use crate::os::notify_socket::NotifyClient;

pub struct Relay {
    client: NotifyClient,
    /// A failed send was logged (once: the listener may be gone for good).
    warned: bool,
}

impl Relay {
    /// For the outer `NOTIFY_SOCKET` value `name`; `None` (logged) if it
    /// cannot be used.
    pub fn new(name: &[u8]) -> Option<Relay> {
        match NotifyClient::new(name) {
            Ok(client) => {
                let msg = format_args!(
                    "telling {} (NOTIFY_SOCKET) when the container is ready and when it stops",
                    Lossy(name)
                );
                events::log(Level::Info, "NotifyRelay", msg);
                Some(Relay {
                    client,
                    warned: false,
                })
            }
            Err(e) => {
                let msg = format_args!("cannot use NOTIFY_SOCKET {}: {e}", Lossy(name));
                events::log(Level::Warn, "NotifyRelay", msg);
                None
            }
        }
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
        self.send(b"STOPPING=1\nSTATUS=stopping");
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
