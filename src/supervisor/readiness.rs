//! The readiness endpoint, as the loop drives it: what it answers is the
//! ready file's state, and a stop's from its first instant.

use super::{Phase, Supervisor};
use crate::readiness_http::{Endpoint, Status};
use std::os::fd::RawFd;
use std::time::Instant;

impl Supervisor {
    /// `HOOKINIT_READINESS_ADDRESS`: the endpoint, bound at start-up.
    pub fn serve_readiness(&mut self, endpoint: Option<Box<Endpoint>>) {
        self.extras |= endpoint.is_some();
        // The old value is always `None` (set once, at start-up): forgetting
        // it leaves the endpoint's drop code out of this function.
        std::mem::forget(std::mem::replace(&mut self.endpoint, endpoint));
    }

    /// 200 exactly while the ready file would exist; 503 from the moment a
    /// stop begins, even if the ready file could not be removed.
    fn readiness_status(&self) -> Status {
        match (self.phase, self.ready_present) {
            (Phase::Running, true) if self.app.alive() => Status::Ready,
            (Phase::Running, _) if self.app.alive() => Status::NotReady,
            _ => Status::Stopping,
        }
    }

    /// One of the endpoint's descriptors is ready.
    #[inline(never)]
    pub(super) fn endpoint_ready(&mut self, fd: RawFd) {
        let status = self.readiness_status();
        if let Some(e) = self.endpoint.as_mut() {
            e.on_ready(fd, Instant::now(), status);
        }
    }
}
