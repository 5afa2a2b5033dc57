//! `--check`: the resolved plan, and warnings for settings that are valid
//! but cannot work as meant on this image.

use super::{Config, Grace};
use crate::os::notify_socket::Address;
use crate::os::signals;
use crate::os::text::QuotedList;
use crate::spec::handler::{Action, Handler};
use crate::spec::probe::{self as probe_spec, ProbeKind};
use std::fmt::{self, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

impl Config {
    /// The resolved plan, for `--check`. Each line is written straight into
    /// the text: a `String` made per line cost more code than the lines.
    pub fn plan(&self) -> String {
        let secs = crate::events::secs;
        let grace = Grace::new(self.grace);
        let mut out = String::new();
        let mut line = |k: &str, v: &dyn fmt::Display| {
            let _ = writeln!(out, "{k:<15} {v}");
        };
        let cmd: Vec<String> = self
            .command
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        match cmd.is_empty() {
            true => line("command:", &"(none given)"),
            false => line("command:", &QuotedList(&cmd)),
        }
        if let Some(name) = &self.container_name {
            line("container:", name);
        }
        line("preStart:", &Steps(&self.pre_start));
        let after = match (
            self.post_start_after_startup && self.post_start.is_some(),
            self.startup_probe.is_some(),
            self.notify_socket.is_some(),
        ) {
            (false, _, _) => "",
            (true, true, false) => ", once the startup probe first succeeds",
            (true, true, true) => {
                ", once the startup probe first succeeds and the app sent READY=1"
            }
            (true, false, true) => ", once the app sent READY=1",
            (true, false, false) => ", with the app (no startup probe)",
        };
        line(
            "postStart:",
            &format_args!(
                "{}{after}",
                Hook(self.post_start.as_ref(), self.post_start_timeout)
            ),
        );
        line(
            "preStop:",
            &Hook(self.pre_stop.as_ref(), self.pre_stop_timeout),
        );
        line("postStop:", &Hook(self.post_stop.as_ref(), None));
        if let Some(p) = &self.termination_message_path {
            line(
                "termination:",
                &format_args!("{} (written on failure if empty)", p.display()),
            );
        }
        match &self.reload {
            None => line("reload:", &"none"),
            Some(_) => line(
                "reload:",
                &format_args!(
                    "{}: on {}, forwarded if it succeeds",
                    Hook(self.reload.as_ref(), self.reload_timeout),
                    signals::name(self.reload_signal)
                ),
            ),
        }
        for kind in ProbeKind::ALL {
            let label = match kind {
                ProbeKind::Startup => "startup:",
                ProbeKind::Liveness => "liveness:",
                ProbeKind::Readiness => "readiness:",
            };
            match self.probe(kind) {
                None => line(label, &"none"),
                Some(p) => line(label, &p.plan(kind)),
            }
        }
        let raised = match grace.window == self.grace {
            true => String::new(),
            false => format!(", raised from {}", secs(self.grace)),
        };
        line(
            "grace period:",
            &format_args!(
                "{}{raised} (PreStop may use up to {}; {} kept for the app)",
                secs(grace.window),
                secs(grace.pre_stop()),
                secs(grace.reserve)
            ),
        );
        let mut names = String::new();
        for sig in self.stop_on.iter() {
            let sep = if names.is_empty() { "" } else { ", " };
            let _ = write!(names, "{sep}{}", signals::name(sig));
        }
        match names.is_empty() {
            true => line("stop on:", &"none"),
            false => line("stop on:", &names),
        }
        match self.stop_signal {
            None => line("stop signal:", &"the signal received"),
            Some(s) => line("stop signal:", &signals::name(s)),
        }
        line(
            "signals go to:",
            match self.signal_group {
                true => &"the app's process group",
                false => &"the app only",
            },
        );
        line(
            "preStop on exit:",
            match self.pre_stop_on_exit {
                true => &"yes",
                false => &"no",
            },
        );
        match self.pre_stop_drains {
            true => line(
                "preStop drains:",
                &format_args!(
                    "yes: after PreStop, wait for the app; the stop signal at the reserve ({} before SIGKILL)",
                    secs(grace.reserve)
                ),
            ),
            false => line(
                "preStop drains:",
                &"no: the stop signal right after PreStop (as Kubernetes)",
            ),
        }
        line("OOM kills:", &Oom(self.report_oom));
        match &self.ready_file {
            None => line("ready file:", &"none"),
            Some(p) => line("ready file:", &p.display()),
        }
        if let Some(address) = &self.notify_socket {
            line("notify socket:", &NotifyPlan(address));
            // One format for the three.
            let times = [
                (
                    "watchdog:",
                    self.notify_watchdog,
                    "no WATCHDOG=1 within ",
                    " (the app's WATCHDOG_USEC) is a liveness failure (exit 5)",
                ),
                (
                    "start timeout:",
                    self.notify_start_timeout,
                    "no READY=1 within ",
                    " is a startup failure (exit 5)",
                ),
                (
                    "extend limit:",
                    self.notify_extend_limit,
                    "EXTEND_TIMEOUT_USEC moves a budget up to ",
                    " past its start",
                ),
            ];
            for (label, time, head, tail) in times {
                if let Some(t) = time {
                    line(label, &format_args!("{head}{}{tail}", secs(t)));
                }
            }
        }
        if let Some(address) = self.readiness_address {
            let address = super::Listen(address);
            line(
                "readiness HTTP:",
                &format_args!("http://{address}/ (any path, GET or HEAD): 200 while ready, else 503 (at once on a stop)"),
            );
        }
        if let Some(d) = &self.drain {
            // Pushed one by one: a Vec of texts joined took twice the code.
            let mut ports = String::from(match d.ports.is_empty() {
                true => "every port listened on at the stop but hookinit's",
                false => "port(s) ",
            });
            for (i, p) in d.ports.iter().enumerate() {
                if i > 0 {
                    ports.push_str(", ");
                }
                ports.push_str(&p.to_string());
            }
            let split = super::Grace::new(self.grace);
            let max = d.max.unwrap_or(split.pre_stop()).min(split.pre_stop());
            line(
                "drain:",
                &format_args!(
                    "on a stop, not ready at once; PreStop once {ports} had no new connection or request bytes for {} (at least {}, at most {})",
                    secs(d.quiet),
                    secs(d.min),
                    secs(max)
                ),
            );
        }
        if self.notify_relay {
            line(
                "notify relay:",
                &"READY=1, not ready, STOPPING=1, WATCHDOG=1 to hookinit's own NOTIFY_SOCKET",
            );
        }
        line(
            "cleanup:",
            &format_args!(
                "leftovers get SIGTERM, then SIGKILL after {}",
                secs(self.cleanup_timeout)
            ),
        );
        let remap: Vec<String> = self
            .exit_remap
            .iter()
            .map(|(a, b)| format!("{a}->{b}"))
            .collect();
        match remap.is_empty() {
            true => line("exit remap:", &"none"),
            false => line("exit remap:", &crate::os::text::join(&remap, ", ")),
        }
        out
    }
}

/// A hook's line of the plan: its handler and timeout, or `none`.
struct Hook<'a>(Option<&'a Handler>, Option<Duration>);

impl fmt::Display for Hook<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("none"),
            Some(h) => write!(f, "{} (timeout: {})", h.describe(), Timeout(self.1)),
        }
    }
}

/// A timeout, or `none`.
struct Timeout(Option<Duration>);

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("none"),
            Some(t) => crate::events::secs(t).fmt(f),
        }
    }
}

/// The pre-start steps' line: `1. exec [...] (timeout: none); 2. ...`.
struct Steps<'a>(&'a [crate::spec::pre_start::Step]);

impl fmt::Display for Steps<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, s) in (1u32..).zip(self.0) {
            if i > 1 {
                f.write_str("; ")?;
            }
            write!(f, "{i}. {}", Hook(Some(&s.handler), s.timeout))?;
        }
        Ok(())
    }
}

/// The OOM line: where the counter is read from, if anywhere.
struct Oom(bool);

impl fmt::Display for Oom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.0 {
            return f.write_str("not reported");
        }
        match crate::os::cgroup::Memory::find() {
            None => f.write_str("no readable memory cgroup"),
            Some((m, _)) => write!(
                f,
                "reported (OOMKilled), from {}",
                crate::os::errno::Lossy(m.events_file().to_bytes())
            ),
        }
    }
}

/// The notify socket's line of the plan (one format: an abstract name
/// holds its `@`).
struct NotifyPlan<'a>(&'a Address);

impl fmt::Display for NotifyPlan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (at, kind) = match self.0.as_bytes() {
            [] => (&b"an abstract socket the kernel names"[..], ""),
            name @ [b'@', ..] => (name, " (abstract)"),
            path => (path, ""),
        };
        write!(
            f,
            "{}{kind}; NOTIFY_SOCKET for the app only; READY=1 is needed for ready",
            crate::os::errno::Lossy(at)
        )
    }
}

impl Config {
    /// What `--check` warns about: settings that are valid but cannot work
    /// as the user probably means, on this image.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(path) = &self.ready_file {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            if !dir.is_dir() {
                out.push(format!(
                    "ready file {}: its directory {} does not exist: the file can never be created (HEALTHCHECK stays unhealthy)",
                    path.display(),
                    dir.display()
                ));
            } else if let Err(e) = writable(dir) {
                out.push(format!(
                    "ready file {}: {} is not writable ({e}): the file can never be created (HEALTHCHECK stays unhealthy)",
                    path.display(),
                    dir.display()
                ));
            }
        }
        if let Some(path) = self
            .notify_socket
            .as_ref()
            .filter(|a| a.as_bytes().starts_with(b"/"))
        {
            let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path.as_bytes()));
            let dir = path.parent().unwrap_or(std::path::Path::new("/"));
            if !dir.is_dir() {
                out.push(format!(
                    "notify socket {}: its directory {} does not exist: hookinit cannot start",
                    path.display(),
                    dir.display()
                ));
            }
        }
        if self.grace < super::MIN_GRACE {
            out.push(format!(
                "grace period: {} is below the kubelet's minimum of {}: raised to {} (minimumGracePeriodInSeconds)",
                crate::events::secs(self.grace),
                crate::events::secs(super::MIN_GRACE),
                crate::events::secs(super::MIN_GRACE)
            ));
        }
        if self.pre_stop.is_some() {
            let usable = Grace::new(self.grace).pre_stop();
            if usable.is_zero() {
                out.push(format!(
                    "preStop: the grace period is {}: PreStop is not run (as the kubelet's killContainer), the app gets the {} minimum",
                    crate::events::secs(self.grace),
                    crate::events::secs(super::MIN_GRACE)
                ));
            } else if let Some(t) = self.pre_stop_timeout.filter(|t| *t > usable) {
                out.push(format!(
                    "preStop: its timeout of {} is longer than the {} it may use of the {} grace period: it is cut there",
                    crate::events::secs(t),
                    crate::events::secs(usable),
                    crate::events::secs(self.grace)
                ));
            }
        } else if self.pre_stop_drains {
            out.push("preStopDrains has no effect without a PreStop hook".into());
        }
        let post_start_waits = self.post_start_after_startup
            && (self.startup_probe.is_some() || self.notify_socket.is_some());
        if self.post_start_after_startup && !post_start_waits {
            out.push("postStartAfterStartup has no effect without a startup probe: PostStart starts with the app".into());
        }
        if let Some(h @ Handler::Action(Action::HttpGet(_) | Action::TcpSocket { .. })) =
            self.post_start.as_ref().filter(|_| !post_start_waits)
        {
            out.push(format!(
                "postStart is {}: it runs at once, beside the app (as in Kubernetes), usually before the app listens, and then fails and stops the container; use an exec hook that waits for the port, e.g. [\"sh\",\"-c\",\"until nc -z 127.0.0.1 PORT; do sleep 0.2; done\"]",
                h.kind()
            ));
        }
        for (name, hook) in [
            ("postStart", &self.post_start),
            ("preStop", &self.pre_stop),
            ("reload", &self.reload),
            ("postStop", &self.post_stop),
        ] {
            if let Some(Handler::Action(Action::Exec { command })) = hook {
                not_found(&mut out, name, command, "hook");
            }
        }
        for s in &self.pre_start {
            if let Handler::Action(Action::Exec { command }) = &s.handler {
                not_found(&mut out, "preStart", command, "hook");
            }
        }
        for kind in ProbeKind::ALL {
            if let Some(probe_spec::ProbeHandler::Action(Action::Exec { command })) =
                self.probe(kind).map(|p| &p.handler)
            {
                not_found(&mut out, kind.field(), command, "probe");
            }
        }
        // One line each: a path may hold a newline.
        out.iter()
            .map(|w| {
                w.chars()
                    .map(|c| match c {
                        c if c.is_control() => c.escape_default().to_string(),
                        c => c.to_string(),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Warns if an exec handler's program cannot be found or run (one copy for
/// hooks, pre-start steps and probes).
#[inline(never)]
fn not_found(out: &mut Vec<String>, name: &str, command: &[String], what: &str) {
    let (problem, code) = match program_found(&command[0]) {
        Some(true) => return,
        // Found, but a directory or without an execute bit: EACCES.
        Some(false) => ("is not executable", 126),
        None if command[0].as_bytes().contains(&b'/') => ("is not found", 127),
        None => ("is not found in PATH", 127),
    };
    out.push(format!(
        "{name}: '{}' {problem} (the {what} would fail with exit {code})",
        command[0]
    ));
}

/// Whether hookinit could create a file in `dir` (EROFS, EACCES otherwise).
fn writable(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    crate::os::path::writable(&c).map_err(|e| e.to_string())
}

/// Whether `program` would run by `execvp`, a path or a name in PATH:
/// `Some(true)` found and runnable, `Some(false)` found but not (EACCES),
/// `None` found nowhere.
fn program_found(program: &str) -> Option<bool> {
    use std::os::unix::fs::PermissionsExt;
    let found = |p: &std::path::Path| {
        let m = p.metadata().ok()?;
        Some(m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_bytes().contains(&b'/') {
        return found(std::path::Path::new(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/bin:/usr/bin".into());
    // As execvp: the first runnable one, else EACCES if any was there.
    let mut seen = None;
    for dir in std::env::split_paths(&path) {
        match found(&dir.join(program)) {
            Some(true) => return Some(true),
            Some(false) => seen = Some(false),
            None => {}
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use crate::config::tests::run;

    #[test]
    fn a_program_found_but_not_runnable_is_told_apart_from_a_missing_one() {
        let dir = std::env::temp_dir().join(format!("hookinit-noexec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("noexec");
        std::fs::write(&file, "#!/bin/sh\n").unwrap();
        let steps = format!(r#"[["{}"], ["/nonexistent/x"]]"#, file.display());
        let c = run(&["app"], &[("HOOKINIT_PRE_START", &steps)]).unwrap();
        let w = c.warnings();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            w,
            [
                format!(
                    "preStart: '{}' is not executable (the hook would fail with exit 126)",
                    file.display()
                ),
                "preStart: '/nonexistent/x' is not found (the hook would fail with exit 127)"
                    .to_string(),
            ]
        );
    }

    #[test]
    fn post_start_after_startup_warnings() {
        let c = run(
            &["app"],
            &[
                ("HOOKINIT_POST_START_AFTER_STARTUP", "1"),
                ("HOOKINIT_POST_START", r#"{"httpGet":{"port":80}}"#),
            ],
        )
        .unwrap();
        let w = c.warnings();
        assert!(
            w[0].starts_with("postStartAfterStartup has no effect without a startup probe"),
            "{w:?}"
        );
        assert!(
            w.iter().any(|w| w.starts_with("postStart is httpGet")),
            "{w:?}"
        );
        let c = run(
            &["app"],
            &[
                ("HOOKINIT_POST_START_AFTER_STARTUP", "1"),
                ("HOOKINIT_POST_START", r#"{"httpGet":{"port":80}}"#),
                ("HOOKINIT_STARTUP_PROBE", r#"{"tcpSocket":{"port":80}}"#),
            ],
        )
        .unwrap();
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        assert!(c.plan().contains(
            "postStart:      httpGet http://127.0.0.1:80/ (timeout: none), once the startup probe first succeeds\n"
        ));
    }

    /// The kubelet's 2 s minimum, in the plan and as a warning.
    #[test]
    fn grace_below_two_seconds_is_shown_raised() {
        let plan = |grace: &str| {
            let c = run(&["app"], &[("HOOKINIT_GRACE_PERIOD", grace)]).unwrap();
            let line = c
                .plan()
                .lines()
                .find(|l| l.starts_with("grace period:"))
                .unwrap()
                .to_string();
            (line, c.warnings())
        };
        let (line, w) = plan("1");
        assert_eq!(
            line,
            "grace period:   2s, raised from 1s (PreStop may use up to 1s; 1s kept for the app)"
        );
        assert_eq!(w, ["grace period: 1s is below the kubelet's minimum of 2s: raised to 2s (minimumGracePeriodInSeconds)"]);
        let (line, _) = plan("0");
        assert_eq!(
            line,
            "grace period:   2s, raised from 0s (PreStop may use up to 0s; 2s kept for the app)"
        );
        let (line, w) = plan("9");
        assert_eq!(
            line,
            "grace period:   9s (PreStop may use up to 7s; 2s kept for the app)"
        );
        assert!(w.is_empty(), "{w:?}");
    }
}
