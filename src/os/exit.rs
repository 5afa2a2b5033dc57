//! hookinit's exit codes of its own; otherwise it exits with the app's.

/// Exit code when hookinit could not set itself up, or could not start the
/// app for a reason of the machine (no PIDs, memory or descriptors), as tini.
pub const EXIT_FAILURE: i32 = 1;
/// Exit code for usage and configuration errors.
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the app could not be stopped: SIGKILL was refused (EPERM),
/// so it may outlive hookinit. Only possible when hookinit is not PID 1.
pub const EXIT_APP_NOT_STOPPED: i32 = 3;
/// Exit code when PostStart failed and hookinit stopped the container,
/// whatever the app's own status.
pub const EXIT_POST_START_FAILED: i32 = 4;
/// Exit code when a liveness or startup probe failed and hookinit stopped
/// the container, whatever the app's own status: restart policies
/// (`on-failure`, `unless-stopped`, `always`) restart it.
pub const EXIT_PROBE_FAILED: i32 = 5;
/// Exit code when a pre-start handler failed (`HOOKINIT_PRE_START`): the
/// app was never started.
pub const EXIT_PRE_START_FAILED: i32 = 6;

/// Exits at once with `code`, as C's `exit` (std's `process::exit` would
/// first set up and flush its stdout buffer, which hookinit never uses: its
/// own writes go to the descriptors, unbuffered; 0.9 KB of code).
pub fn now(code: i32) -> ! {
    // SAFETY: nothing of hookinit's runs after this; musl's atexit work
    // (its stdio, unused) is all it does before `_exit`.
    unsafe { libc::exit(code) }
}
