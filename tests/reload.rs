//! The reload hook end to end (`HOOKINIT_RELOAD`): hookinit as PID 1 of a
//! fresh PID namespace, a `/bin/sh` app that says `APP-HUP` on each SIGHUP,
//! and reload handlers that record each run in a file.
//!
//! Markers are looked for on stdout (the app's) and in files (the
//! handler's); hookinit's events on stderr.

mod common;
use common::*;

use serde_json::{json, Value};
use std::thread;
use std::time::{Duration, Instant};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The app: says `APP-HUP` at each HUP, `APP-USR2` at each USR2, `APP-TERM`
/// and exits 0 at TERM.
const APP: &str = "trap 'echo APP-HUP' HUP; trap 'echo APP-USR2' USR2; trap 'echo APP-TERM; exit 0' TERM; echo APP-READY; \
                   while :; do sleep 1 & wait $!; done 2>/dev/null";

/// A reload handler: appends `run` to `log`, then runs `then`.
fn handler(log: &str, then: &str) -> String {
    json!(["/bin/sh", "-c", format!("echo run >> {log}; {then}")]).to_string()
}

/// hookinit as PID 1 around [`APP`], killed with its namespace if the test
/// panics first.
struct Init(Option<Running>);

impl Init {
    fn start(env: &[(&str, &str)]) -> Init {
        let init = Init(Some(Running::pid1(&["--", "/bin/sh", "-c", APP], env)));
        init.wait_until("APP-READY on stdout", |r| r.stdout().contains("APP-READY"));
        init
    }

    fn r(&self) -> &Running {
        self.0.as_ref().unwrap()
    }

    fn signal(&self, sig: i32) {
        self.r().signal(sig);
    }

    fn wait_until(&self, what: &str, mut cond: impl FnMut(&Running) -> bool) {
        let end = Instant::now() + secs(10.0);
        while !cond(self.r()) {
            assert!(
                Instant::now() < end,
                "no {what} within 10s\nstdout: {}\nstderr: {}",
                self.r().stdout(),
                self.r().stderr()
            );
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for the `n`th event line containing `needle`.
    fn events(&self, needle: &str, n: usize) {
        self.wait_until(&format!("{n} x {needle:?} on stderr"), |r| {
            r.stderr().matches(needle).count() >= n
        });
    }

    fn stop(mut self) -> Finished {
        let r = self.0.take().unwrap();
        r.signal(libc::SIGTERM);
        r.wait(secs(10.0))
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        if let Some(r) = &self.0 {
            // SAFETY: kill takes any pid and signal.
            unsafe { libc::kill(r.pid, libc::SIGKILL) };
        }
    }
}

/// hookinit's event lines (text), without the `hookinit: ` prefix.
fn event_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .collect()
}

fn runs(d: &TempDir) -> usize {
    d.read("runs").lines().count()
}

#[test]
fn hup_runs_the_reload_hook_and_reaches_the_app_only_after_its_success() {
    let d = TempDir::new("reload-ok");
    let log = d.path("runs").display().to_string();
    let h = handler(&log, "sleep 0.2");
    let init = Init::start(&[("HOOKINIT_RELOAD", &h)]);
    init.signal(libc::SIGHUP);
    init.wait_until("APP-HUP", |r| r.stdout().contains("APP-HUP"));
    assert_eq!(runs(&d), 1);
    let f = init.stop();
    assert_eq!(f.code, Some(0), "{f:#?}");
    let lines = event_lines(&f.stderr);
    let reload: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.contains("hook=Reload") || l.starts_with("Reload"))
        .collect();
    assert_eq!(reload.len(), 3, "{f:#?}");
    assert_eq!(
        reload[0],
        format!("HookStarted hook=Reload handler=exec: exec [\"/bin/sh\", \"-c\", \"echo run >> {log}; sleep 0.2\"]")
    );
    assert!(
        reload[1]
            .starts_with("HookSucceeded hook=Reload handler=exec: Reload hook succeeded in 0.2"),
        "{f:#?}"
    );
    assert!(
        reload[2].starts_with("ReloadSignalSent: sent SIGHUP to the app (pid "),
        "{f:#?}"
    );
    assert_eq!(f.stdout.matches("APP-HUP").count(), 1, "{f:#?}");
}

#[test]
fn a_failed_reload_hook_forwards_nothing_and_the_app_keeps_running() {
    let d = TempDir::new("reload-fail");
    let log = d.path("runs").display().to_string();
    let h = handler(&log, "echo 'config broken' >&2; exit 1");
    let init = Init::start(&[("HOOKINIT_RELOAD", &h)]);
    init.signal(libc::SIGHUP);
    init.events("ReloadNotForwarded", 1);
    let f = init.stop();
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(!f.stdout.contains("APP-HUP"), "{f:#?}");
    assert!(f.stdout.contains("APP-TERM"), "{f:#?}");
    let lines = event_lines(&f.stderr);
    assert!(lines.contains(&format!("FailedReloadHook hook=Reload handler=exec: Reload hook failed: command '/bin/sh -c echo run >> {log}; echo 'config broken' >&2; exit 1' exited with 1: config broken").as_str()), "{f:#?}");
    assert!(
        lines.contains(&"ReloadNotForwarded: SIGHUP is not forwarded"),
        "{f:#?}"
    );
    assert!(!f.stderr.contains("ReloadSignalSent"), "{f:#?}");
    assert_eq!(runs(&d), 1);
}

#[test]
fn signals_during_a_reload_are_merged_into_one_more_run_after_it() {
    let d = TempDir::new("reload-queue");
    let log = d.path("runs").display().to_string();
    let gate = d.path("gate").display().to_string();
    // Each run waits for the gate file, and removes it: one run per gate.
    let h = handler(
        &log,
        &format!("while [ ! -e {gate} ]; do sleep 0.01; done; rm {gate}"),
    );
    let init = Init::start(&[("HOOKINIT_RELOAD", &h), ("HOOKINIT_RELOAD_SIGNAL", "USR2")]);
    init.signal(libc::SIGUSR2);
    init.wait_until("the first run", |_| runs(&d) == 1);
    for _ in 0..3 {
        init.signal(libc::SIGUSR2);
    }
    init.events("ReloadQueued", 1);
    assert_eq!(runs(&d), 1);
    assert!(!init.r().stdout().contains("APP-USR2"));
    std::fs::write(&gate, "").unwrap();
    init.wait_until("the second run", |_| runs(&d) == 2);
    init.wait_until("one APP-USR2", |r| r.stdout().contains("APP-USR2"));
    std::fs::write(&gate, "").unwrap();
    init.wait_until("two APP-USR2", |r| {
        r.stdout().matches("APP-USR2").count() == 2
    });
    let f = init.stop();
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(runs(&d), 2, "{f:#?}");
    assert_eq!(f.stdout.matches("APP-USR2").count(), 2, "{f:#?}");
    assert_eq!(
        f.stderr.matches("ReloadSignalSent: sent SIGUSR2").count(),
        2,
        "{f:#?}"
    );
    assert_eq!(f.stderr.matches("ReloadQueued").count(), 1, "{f:#?}");
    assert_eq!(
        event_lines(&f.stderr)
            .iter()
            .filter(|l| l.starts_with("ReloadQueued"))
            .collect::<Vec<_>>(),
        [&"ReloadQueued: SIGUSR2 during a reload: it runs once more after it"]
    );
}

#[test]
fn a_stop_cancels_a_running_reload_and_its_signal_is_never_forwarded() {
    let d = TempDir::new("reload-stop");
    let log = d.path("runs").display().to_string();
    let h = handler(&log, "exec sleep 100");
    let mut init = Init::start(&[("HOOKINIT_RELOAD", &h)]);
    init.signal(libc::SIGHUP);
    init.wait_until("the run", |_| runs(&d) == 1);
    init.signal(libc::SIGHUP);
    init.events("ReloadQueued", 1);
    let r = init.0.take().unwrap();
    let t = Instant::now();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    let took = t.elapsed();
    assert!(took < secs(1.0), "the stop took {took:?}\n{f:#?}");
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(!f.stdout.contains("APP-HUP"), "{f:#?}");
    let lines = event_lines(&f.stderr);
    let cancelled = lines
        .iter()
        .position(|l| {
            l.starts_with(
                "HookCancelled hook=Reload handler=exec: the container is stopping after 0.",
            )
        })
        .unwrap_or_else(|| panic!("no HookCancelled\n{f:#?}"));
    let stop = lines
        .iter()
        .position(|l| l.starts_with("StopSignalSent: sent SIGTERM to the app"))
        .unwrap_or_else(|| panic!("no StopSignalSent\n{f:#?}"));
    assert!(cancelled < stop, "{f:#?}");
    // The queued run is dropped with it.
    assert_eq!(runs(&d), 1, "{f:#?}");
    assert!(!f.stderr.contains("FailedReloadHook"), "{f:#?}");
    init.0 = None;
}

#[test]
fn a_reload_hook_past_its_timeout_is_killed_and_forwards_nothing() {
    let d = TempDir::new("reload-timeout");
    let log = d.path("runs").display().to_string();
    let h = handler(&log, "exec sleep 100");
    let init = Init::start(&[
        ("HOOKINIT_RELOAD", &h),
        ("HOOKINIT_RELOAD_TIMEOUT", "300ms"),
    ]);
    let t = Instant::now();
    init.signal(libc::SIGHUP);
    init.events("ReloadNotForwarded", 1);
    let took = t.elapsed();
    assert!(
        took >= secs(0.3) && took < secs(1.0),
        "{took:?}\n{}",
        init.r().stderr()
    );
    let f = init.stop();
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(!f.stdout.contains("APP-HUP"), "{f:#?}");
    assert!(
        event_lines(&f.stderr).iter().any(|l| l.starts_with(
            "FailedReloadHook hook=Reload handler=exec: Reload hook failed: timed out after 0.3s"
        )),
        "{f:#?}"
    );
}

#[test]
fn hup_during_the_stop_runs_no_reload_and_is_not_forwarded() {
    let d = TempDir::new("reload-during-stop");
    let log = d.path("runs").display().to_string();
    let pre_stop_ran = d.path("prestop").display().to_string();
    let h = handler(&log, "true");
    let pre_stop = json!(["/bin/sh", "-c", format!("touch {pre_stop_ran}; sleep 0.5")]).to_string();
    let mut init = Init::start(&[("HOOKINIT_RELOAD", &h), ("HOOKINIT_PRE_STOP", &pre_stop)]);
    init.signal(libc::SIGTERM);
    init.wait_until("PreStop", |_| std::path::Path::new(&pre_stop_ran).exists());
    init.signal(libc::SIGHUP);
    init.events("ReloadSkipped", 1);
    let f = init.0.take().unwrap().wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(runs(&d), 0);
    assert!(!f.stdout.contains("APP-HUP"), "{f:#?}");
    assert!(
        event_lines(&f.stderr)
            .contains(&"ReloadSkipped: SIGHUP during the stop: no reload, not forwarded"),
        "{f:#?}"
    );
}

#[test]
fn reload_events_in_json() {
    let d = TempDir::new("reload-json");
    let log = d.path("runs").display().to_string();
    let h = handler(&log, "exit 3");
    let init = Init::start(&[("HOOKINIT_RELOAD", &h), ("HOOKINIT_LOG_FORMAT", "json")]);
    init.signal(libc::SIGHUP);
    init.events("ReloadNotForwarded", 1);
    let f = init.stop();
    assert_eq!(f.code, Some(0), "{f:#?}");
    let events: Vec<Value> = f
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let names: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e["event"].as_str().unwrap(), e["hook"].as_str()))
        .collect();
    assert_eq!(
        &names[..3],
        [
            ("HookStarted", Some("Reload")),
            ("FailedReloadHook", Some("Reload")),
            ("ReloadNotForwarded", None),
        ],
        "{f:#?}"
    );
    assert_eq!(events[2]["message"], "SIGHUP is not forwarded");
}

#[test]
fn check_shows_the_reload_hook_and_rejects_a_reload_signal_that_stops() {
    let out = std::process::Command::new(bin())
        .args([
            "--check",
            "--reload",
            r#"["nginx","-t"]"#,
            "--reload-signal",
            "USR1",
            "app",
        ])
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("\nreload:         exec [\"nginx\", \"-t\"] (timeout: none): on SIGUSR1, forwarded if it succeeds\n"),
        "{stdout}"
    );
    let out = std::process::Command::new(bin())
        .args(["--check", "app"])
        .env_clear()
        .env("HOOKINIT_RELOAD", r#"["true"]"#)
        .env("HOOKINIT_STOP_ON", "TERM,HUP")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "hookinit: HOOKINIT_RELOAD: the reload signal SIGHUP also starts a stop (HOOKINIT_STOP_ON)\n"
    );
}
