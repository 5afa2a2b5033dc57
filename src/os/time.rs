//! Sleeping, for the few places that may block: forked children doing a
//! handler's work, and a back-off after a failed `poll`.

use std::time::{Duration, Instant};

/// Sleeps for `pause` once; a signal may cut it short.
pub fn sleep_once(pause: Duration) {
    let ts = timespec(pause);
    // SAFETY: a relative sleep with a valid timespec and no remainder out.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
}

/// Sleeps until `at`, going back to sleep after a signal.
pub fn sleep_until(at: Instant) {
    loop {
        let left = at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        sleep_once(left);
    }
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as _,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}
