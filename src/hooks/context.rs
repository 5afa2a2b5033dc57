//! What PreStop, post-stop and the reload hook are told: why the container
//! stops (or reloads), when SIGKILL comes, and for post-stop how the app
//! ended. Exec handlers get environment variables, httpGet handlers request
//! headers. The exec environment is made at start-up with a slot per
//! variable, rewritten in place at each run: nothing is allocated on the
//! stop path (an httpGet's headers are added in its forked child).

use super::HookKind;
use crate::os::env::Envp;
use crate::os::reap::Status;
use crate::os::signals;
use crate::os::text::format_into;
use std::fmt;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Why the container stops, or the hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Signal(i32),
    Liveness,
    Startup,
    PostStart,
    PreStart,
    AppExit,
    /// The app's program could not be started (Kubernetes' `StartError`).
    StartError,
    Reload,
    /// The app died of the kernel's OOM killer (`HOOKINIT_REPORT_OOM`).
    OomKilled,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Signal(sig) => return write!(f, "signal:{}", signals::name(*sig)),
            Reason::Liveness => "liveness",
            Reason::Startup => "startup",
            Reason::PostStart => "postStart",
            Reason::PreStart => "preStart",
            Reason::AppExit => "appExit",
            Reason::StartError => "startError",
            Reason::Reload => "reload",
            Reason::OomKilled => "OOMKilled",
        })
    }
}

/// What a hook is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    pub reason: Reason,
    /// When SIGKILL comes (for the reload hook: its own deadline, if any).
    pub kill_at: Option<Instant>,
    /// How the app ended (post-stop only: `None` for the others, and when
    /// the app never started).
    pub exit: Option<Status>,
}

/// The variables, in the order of their slots.
const VARS: [&[u8]; 5] = crate::config::TOLD;

/// The told hooks' exec environment: hookinit's own, without stale
/// `HOOKINIT_*` values of the same names, plus the slots.
pub fn environment() -> Envp {
    Envp::with_slots(&VARS, &VARS)
}

/// The hooks that are told.
pub fn told(kind: HookKind) -> bool {
    matches!(
        kind,
        HookKind::PreStop | HookKind::PostStop | HookKind::Reload
    )
}

/// The values, formatted on the stack: `(variable slot, text)` to `each`.
/// `deadline` is the hook's own, used when the context has no SIGKILL time.
pub fn values(
    ctx: &Context,
    deadline: Option<Instant>,
    now: Instant,
    each: &mut dyn FnMut(usize, &[u8]),
) {
    put(each, 0, format_args!("{}", ctx.reason));
    match ctx.kill_at.or(deadline) {
        Some(at) => {
            // Durations are at most a year (MAX_SECONDS): u64 milliseconds.
            let left = at.saturating_duration_since(now).as_millis() as u64;
            let epoch = SystemTime::now().duration_since(UNIX_EPOCH);
            let wall = epoch.unwrap_or_default().as_millis() as u64 + left;
            put(each, 1, format_args!("{left}"));
            // Seconds since the epoch with milliseconds: `1764780000.123`.
            put(each, 2, format_args!("{}.{:03}", wall / 1000, wall % 1000));
        }
        None => (1..3).for_each(|i| each(i, b"")),
    }
    let exit = ctx.exit;
    match exit {
        Some(status) => put(each, 3, format_args!("{}", status.code())),
        None => each(3, b""),
    }
    match exit {
        Some(Status::Signaled(sig)) => put(each, 4, format_args!("{}", signals::name(sig))),
        _ => each(4, b""),
    }
}

/// One value, formatted on the stack, to `each`.
fn put(each: &mut dyn FnMut(usize, &[u8]), i: usize, args: fmt::Arguments<'_>) {
    let mut buf = [0u8; 48];
    let (n, _) = format_into(&mut buf, args);
    each(i, &buf[..n]);
}

/// Sets the environment's slots for a run.
pub fn fill(env: &mut Envp, ctx: &Context, deadline: Option<Instant>, now: Instant) {
    values(ctx, deadline, now, &mut |i, v| env.set(i, v));
}

/// The same values as request headers (in the httpGet's forked child:
/// allocating there costs the loop nothing). Empty values are left out.
pub fn headers(
    ctx: &Context,
    deadline: Option<Instant>,
    now: Instant,
    into: &mut Vec<(String, String)>,
) {
    values(ctx, deadline, now, &mut |i, v| {
        if !v.is_empty() {
            let v = String::from_utf8_lossy(v).into_owned();
            into.push((header(VARS[i]), v));
        }
    });
}

/// A variable's request header: `HOOKINIT_STOP_REASON` is
/// `Hookinit-Stop-Reason` (made in the forked child: no table of them).
fn header(var: &[u8]) -> String {
    let mut h = String::with_capacity(var.len());
    let mut word_start = true;
    for &b in var {
        h.push(match b {
            b'_' => '-',
            _ if word_start => b as char,
            _ => b.to_ascii_lowercase() as char,
        });
        word_start = b == b'_';
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn all(ctx: &Context, deadline: Option<Instant>, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        values(ctx, deadline, now, &mut |_, v| {
            out.push(String::from_utf8_lossy(v).into_owned())
        });
        out
    }

    #[test]
    fn headers_are_the_variables_names_in_http_case() {
        let names: Vec<String> = VARS.iter().map(|v| header(v)).collect();
        assert_eq!(
            names,
            [
                "Hookinit-Stop-Reason",
                "Hookinit-Kill-In-Ms",
                "Hookinit-Kill-At",
                "Hookinit-Exit-Code",
                "Hookinit-Exit-Signal",
            ]
        );
    }

    #[test]
    fn reasons_deadlines_and_the_apps_end() {
        let now = Instant::now();
        let ctx = Context {
            reason: Reason::Signal(libc::SIGTERM),
            kill_at: Some(now + Duration::from_millis(8500)),
            exit: Some(Status::Signaled(libc::SIGKILL)),
        };
        let v = all(&ctx, None, now);
        assert_eq!((v[0].as_str(), v[1].as_str()), ("signal:SIGTERM", "8500"));
        assert!(
            v[2].len() > 10 && v[2].as_bytes()[v[2].len() - 4] == b'.',
            "{v:?}"
        );
        assert_eq!((v[3].as_str(), v[4].as_str()), ("137", "SIGKILL"));
        // PreStop: no exit status; the reload hook: its own deadline, or none.
        let ctx = Context {
            reason: Reason::Reload,
            kill_at: None,
            exit: None,
        };
        assert_eq!(all(&ctx, None, now), ["reload", "", "", "", ""]);
        let v = all(&ctx, Some(now + Duration::from_secs(3)), now);
        assert_eq!(v[1], "3000");
        let names: Vec<String> = [
            Reason::Liveness,
            Reason::Startup,
            Reason::PostStart,
            Reason::PreStart,
            Reason::AppExit,
        ]
        .iter()
        .map(|r| r.to_string())
        .collect();
        assert_eq!(
            names,
            ["liveness", "startup", "postStart", "preStart", "appExit"]
        );
    }
}
