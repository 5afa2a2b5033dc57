//! Probes as the kubelet runs them, inside the container: startup, liveness
//! and readiness with exec, httpGet and tcpSocket handlers (grpc against a
//! real gRPC server: tests/grpc.rs), driven through the real binary as PID 1:
//! thresholds counted exactly, delay and period within bounds, startup
//! gating, the liveness kill with PreStop and exit code 5, the probe's own
//! grace period, the ready file following readiness both ways, nothing
//! probed once the stop began, one wake-up per probe run, no allocation.
mod common;
use common::*;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

const APP: &str =
    "trap 'echo app-got-TERM; exit 0' TERM; echo app-rea\"\"dy; while :; do sleep 0.05; done";

/// An exec probe that logs each run (a line with the time since the Unix
/// epoch) and succeeds while `ok` exists.
fn logging_probe(log: &str, ok: &str, extra: &str) -> String {
    let cmd = format!("date +%s.%N >> {log}; test -e {ok}");
    format!(r#"{{"exec":{{"command":["sh","-c","{cmd}"]}}{extra}}}"#)
}

fn runs(log: &str) -> Vec<f64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// An HTTP server whose status is `status` (changeable), counting requests.
struct Http {
    port: u16,
    status: Arc<AtomicU16>,
    hits: Arc<AtomicUsize>,
}

fn http(status: u16) -> Http {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let status = Arc::new(AtomicU16::new(status));
    let hits = Arc::new(AtomicUsize::new(0));
    let (s, h) = (status.clone(), hits.clone());
    thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            h.fetch_add(1, Ordering::SeqCst);
            let code = s.load(Ordering::SeqCst);
            if code == 0 {
                // Hang: never answer (the probe times out).
                thread::sleep(secs(5.0));
                continue;
            }
            let body = format!("status {code}");
            let _ = write!(
                conn,
                "HTTP/1.1 {code} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Http { port, status, hits }
}

// ---- liveness: kill, PreStop, exit code 5 ------------------------------------------

/// A failing liveness probe: `Unhealthy` at each failure, exactly
/// `failureThreshold` of them, then `Killing` with the kubelet's message,
/// PreStop before the app's stop signal, and exit 5 although the app exits 0.
#[test]
fn liveness_failure_runs_pre_stop_and_exits_5() {
    let t = TempDir::new("live-fail");
    let (log, ok) = (t.path("log"), t.path("ok"));
    let (log, ok) = (log.to_str().unwrap(), ok.to_str().unwrap());
    std::fs::write(ok, "").unwrap();
    let probe = logging_probe(log, ok, r#","periodSeconds":1,"failureThreshold":3"#);
    let r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[
            ("HOOKINIT_LIVENESS_PROBE", &probe),
            ("HOOKINIT_PRE_STOP", r#"["sh","-c","echo pre-stop-ran"]"#),
        ],
    );
    r.wait_for("app-ready", secs(10.0));
    // Healthy for three runs, then failing.
    assert!(eventually(secs(10.0), || runs(log).len() >= 3));
    std::fs::remove_file(ok).unwrap();
    let f = r.wait(secs(20.0));
    let ctx = format!("{f:#?}");
    assert_eq!(f.code, Some(5), "{ctx}");
    let unhealthy = events(&f.stderr, "Unhealthy");
    assert_eq!(unhealthy.len(), 3, "{ctx}");
    assert!(
        unhealthy[0].starts_with("Unhealthy handler=exec: Liveness probe failed: "),
        "{ctx}"
    );
    let killing = events(&f.stderr, "Killing");
    assert_eq!(killing.len(), 1, "{ctx}");
    assert!(
        killing[0].contains("Container app failed liveness probe, will be restarted"),
        "{ctx}"
    );
    let out = &f.stdout;
    let (pre, term) = (out.find("pre-stop-ran"), out.find("app-got-TERM"));
    assert!(pre.is_some() && term.is_some() && pre < term, "{ctx}");
    // No probe after the stop began.
    let stop_began = now_unix() - f.elapsed.as_secs_f64(); // lower bound only
    let _ = stop_began;
    let after_kill = runs(log).len();
    thread::sleep(secs(1.5));
    assert_eq!(runs(log).len(), after_kill, "a probe ran after the stop");
}

/// Healthy liveness never stops the app; the app's own status on TERM.
#[test]
fn healthy_liveness_keeps_the_app_running() {
    let t = TempDir::new("live-ok");
    let (log, ok) = (t.path("log"), t.path("ok"));
    let (log, ok) = (log.to_str().unwrap(), ok.to_str().unwrap());
    std::fs::write(ok, "").unwrap();
    let probe = logging_probe(log, ok, r#","periodSeconds":1"#);
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[
            ("HOOKINIT_LIVENESS_PROBE", &probe),
            ("HOOKINIT_VERBOSITY", "3"),
        ],
    );
    r.wait_for("app-ready", secs(10.0));
    assert!(eventually(secs(10.0), || runs(log).len() >= 4));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(events(&f.stderr, "Unhealthy").is_empty(), "{f:#?}");
    assert!(
        f.stderr.contains("; 0 heap allocations after start-up"),
        "{f:#?}"
    );
}

// ---- timing: period, initial delay, timeouts -------------------------------------------

/// Runs fall one period apart; the first one comes at the first tick at or
/// after `initialDelaySeconds` (the kubelet checks the delay at each tick).
#[test]
fn period_and_initial_delay_are_honoured() {
    let t = TempDir::new("timing");
    let (log, ok) = (t.path("log"), t.path("ok"));
    let (log, ok) = (log.to_str().unwrap(), ok.to_str().unwrap());
    std::fs::write(ok, "").unwrap();
    let probe = logging_probe(log, ok, r#","periodSeconds":1,"initialDelaySeconds":3"#);
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[("HOOKINIT_LIVENESS_PROBE", &probe)],
    );
    let started = now_unix();
    r.wait_for("app-ready", secs(10.0));
    assert!(eventually(secs(15.0), || runs(log).len() >= 5));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    let times = runs(log);
    let first = times[0] - started;
    assert!(
        (2.9..3.8).contains(&first),
        "first run {first:.3}s after start: {times:?}"
    );
    for pair in times.windows(2).take(4) {
        let gap = pair[1] - pair[0];
        assert!((0.8..1.3).contains(&gap), "gap {gap:.3}s: {times:?}");
    }
}

/// A handler that hangs past `timeoutSeconds` fails as timed out, for
/// each handler kind.
#[test]
fn probes_that_hang_time_out() {
    let server = http(0); // never answers
    let exec = r#"{"exec":{"command":["sleep","30"]},"periodSeconds":1,"timeoutSeconds":1,"failureThreshold":1}"#.to_string();
    let get = format!(
        r#"{{"httpGet":{{"port":{}}},"periodSeconds":1,"timeoutSeconds":1,"failureThreshold":1}}"#,
        server.port
    );
    for (probe, want) in [
        (
            exec,
            r#"Liveness probe failed: command "sleep 30" timed out"#,
        ),
        (get, "Liveness probe failed: Get \"http://127.0.0.1:"),
    ] {
        let r = Running::pid1(
            &["--", "sh", "-c", APP],
            &[("HOOKINIT_LIVENESS_PROBE", &probe)],
        );
        let f = r.wait(secs(20.0));
        let unhealthy = events(&f.stderr, "Unhealthy");
        assert_eq!(f.code, Some(5), "{f:#?}");
        assert!(
            unhealthy.len() == 1 && unhealthy[0].contains(want),
            "{want}: {f:#?}"
        );
        // Killed at the first tick (1 s) plus the timeout (1 s), not later.
        assert!(f.elapsed < secs(4.5), "{f:#?}");
    }
    assert!(server.hits.load(Ordering::SeqCst) >= 1);
}

// ---- handlers ----------------------------------------------------------------------------

/// httpGet: 2xx succeeds, 5xx fails with the kubelet's message (no body);
/// tcpSocket: an open port succeeds, a closed one fails.
#[test]
fn http_and_tcp_probes_succeed_and_fail() {
    let server = http(200);
    let get = format!(
        r#"{{"httpGet":{{"port":{},"path":"/healthz"}},"periodSeconds":1,"failureThreshold":2}}"#,
        server.port
    );
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[("HOOKINIT_LIVENESS_PROBE", &get)],
    );
    r.wait_for("app-ready", secs(10.0));
    assert!(eventually(secs(10.0), || server
        .hits
        .load(Ordering::SeqCst)
        >= 2));
    assert!(r.stderr().is_empty(), "{}", r.stderr());
    server.status.store(500, Ordering::SeqCst);
    r.mark();
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    let unhealthy = events(&f.stderr, "Unhealthy");
    assert_eq!(
        unhealthy,
        vec![
            "Unhealthy handler=httpGet: Liveness probe failed: HTTP probe failed with statuscode: 500";
            2
        ],
        "{f:#?}"
    );

    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for (port, code) in [(server.port, None), (closed, Some(5))] {
        let probe =
            format!(r#"{{"tcpSocket":{{"port":{port}}},"periodSeconds":1,"failureThreshold":1}}"#);
        let mut r = Running::pid1(
            &["--", "sh", "-c", APP],
            &[("HOOKINIT_LIVENESS_PROBE", &probe)],
        );
        r.wait_for("app-ready", secs(10.0));
        if code.is_none() {
            thread::sleep(secs(2.5));
            r.mark();
            r.signal(libc::SIGTERM);
        }
        let f = r.wait(secs(20.0));
        assert_eq!(f.code, Some(code.unwrap_or(0)), "{f:#?}");
        if code.is_some() {
            assert!(
                events(&f.stderr, "Unhealthy")[0].starts_with(
                    "Unhealthy handler=tcpSocket: Liveness probe failed: dial tcp 127.0.0.1:"
                ),
                "{f:#?}"
            );
        }
    }
}

// ---- startup gating and readiness --------------------------------------------------------

/// Liveness and readiness do not run before the startup probe succeeds; a
/// startup probe that fails `failureThreshold` times restarts (exit 5).
#[test]
fn startup_gates_liveness_and_its_failure_restarts() {
    let t = TempDir::new("startup");
    let (slog, sok, llog, lok) = (t.path("slog"), t.path("sok"), t.path("llog"), t.path("lok"));
    let s = |p: &std::path::PathBuf| p.to_str().unwrap().to_string();
    std::fs::write(&lok, "").unwrap();
    let startup = logging_probe(
        &s(&slog),
        &s(&sok),
        r#","periodSeconds":1,"failureThreshold":30"#,
    );
    let liveness = logging_probe(&s(&llog), &s(&lok), r#","periodSeconds":1"#);
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[
            ("HOOKINIT_STARTUP_PROBE", &startup),
            ("HOOKINIT_LIVENESS_PROBE", &liveness),
        ],
    );
    r.wait_for("app-ready", secs(10.0));
    assert!(eventually(secs(10.0), || runs(&s(&slog)).len() >= 3));
    assert!(
        runs(&s(&llog)).is_empty(),
        "liveness ran before startup succeeded"
    );
    std::fs::write(&sok, "").unwrap();
    assert!(eventually(secs(10.0), || runs(&s(&llog)).len() >= 2));
    let startup_runs = runs(&s(&slog)).len();
    thread::sleep(secs(1.5));
    assert_eq!(
        runs(&s(&slog)).len(),
        startup_runs,
        "startup kept probing after it succeeded"
    );
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{f:#?}");

    // A startup probe that never succeeds: restarted after 2 failures.
    let never = logging_probe(
        &s(&t.path("n")),
        "/nonexistent",
        r#","periodSeconds":1,"failureThreshold":2"#,
    );
    let f = Running::pid1(
        &["--", "sh", "-c", APP],
        &[("HOOKINIT_STARTUP_PROBE", &never)],
    )
    .wait(secs(20.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    assert_eq!(events(&f.stderr, "Unhealthy").len(), 2, "{f:#?}");
    assert!(
        f.stderr
            .contains("Container app failed startup probe, will be restarted"),
        "{f:#?}"
    );
}

/// A probe held back (liveness by the startup probe, every probe by
/// PostStart) first runs at the next tick of its grid after it is let go,
/// with its whole timeout, as the kubelet's worker (the ticks that passed
/// were early returns). It used to take a past tick at once, its deadline
/// already gone: `failureThreshold: 1` killed a healthy app as timed out.
#[test]
fn held_back_probes_run_at_their_next_tick_with_their_whole_timeout() {
    let t = TempDir::new("held");
    let s = |p: &std::path::PathBuf| p.to_str().unwrap().to_string();
    let (slog, sok, llog) = (s(&t.path("slog")), s(&t.path("sok")), s(&t.path("llog")));
    let every_2s = r#","periodSeconds":2,"failureThreshold":1"#;
    let liveness = logging_probe(&llog, "/", every_2s);
    for post_start in [false, true] {
        let _ = std::fs::remove_file(&llog);
        let _ = std::fs::remove_file(&slog);
        let _ = std::fs::remove_file(&sok);
        let startup = logging_probe(&slog, &sok, r#","periodSeconds":1,"failureThreshold":30"#);
        let mut env = vec![("HOOKINIT_LIVENESS_PROBE", liveness.as_str())];
        // PostStart holds every probe back for 2.5 s; else the startup probe
        // holds liveness back until `sok` exists (from 2.5 s).
        let hook = format!(r#"["sh","-c","sleep 2.5; date +%s.%N > {sok}"]"#);
        match post_start {
            true => env.push(("HOOKINIT_POST_START", &hook)),
            false => env.push(("HOOKINIT_STARTUP_PROBE", &startup)),
        }
        let started = now_unix();
        let mut r = Running::pid1(&["--", "sh", "-c", APP], &env);
        if !post_start {
            thread::sleep(secs(2.5));
            std::fs::write(&sok, format!("{}\n", now_unix())).unwrap();
        }
        assert!(eventually(secs(10.0), || runs(&llog).len() >= 2));
        let let_go = runs(&sok)[0];
        let first = runs(&llog)[0];
        // The next tick of the 2 s grid from the app's start: 4 s.
        let offset = first - started;
        assert!(
            first >= let_go,
            "{post_start}: ran at {first}, let go at {let_go}"
        );
        assert!(
            (3.9..4.6).contains(&offset),
            "{post_start}: first liveness run {offset:.3}s after the start"
        );
        r.mark();
        r.signal(libc::SIGTERM);
        let f = r.wait(secs(20.0));
        assert_eq!(f.code, Some(0), "{post_start}: {f:#?}");
        assert!(!f.stderr.contains("Liveness probe failed"), "{f:#?}");
    }
}

/// The ready file follows readiness both ways, after `successThreshold`
/// successes and `failureThreshold` failures in a row; readiness never stops
/// the app.
#[test]
fn readiness_flips_the_ready_file_both_ways() {
    let t = TempDir::new("ready");
    let (log, ok, ready) = (t.path("log"), t.path("ok"), t.path("ready"));
    let s = |p: &std::path::PathBuf| p.to_str().unwrap().to_string();
    let probe = logging_probe(
        &s(&log),
        &s(&ok),
        r#","periodSeconds":1,"successThreshold":2,"failureThreshold":2"#,
    );
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[
            ("HOOKINIT_READINESS_PROBE", &probe),
            ("HOOKINIT_READY_FILE", &s(&ready)),
        ],
    );
    r.wait_for("app-ready", secs(10.0));
    thread::sleep(secs(2.5));
    assert!(!ready.exists(), "ready before readiness succeeded");
    let n = runs(&s(&log)).len();
    std::fs::write(&ok, "").unwrap();
    assert!(eventually(secs(10.0), || ready.exists()), "never ready");
    assert!(
        runs(&s(&log)).len() >= n + 2,
        "ready after fewer than 2 successes"
    );
    std::fs::remove_file(&ok).unwrap();
    let n = runs(&s(&log)).len();
    assert!(
        eventually(secs(10.0), || !ready.exists()),
        "never not ready"
    );
    assert!(
        runs(&s(&log)).len() >= n + 2,
        "not ready after fewer than 2 failures"
    );
    std::fs::write(&ok, "").unwrap();
    assert!(
        eventually(secs(10.0), || ready.exists()),
        "never ready again"
    );
    // hookinit --ready agrees with the file.
    let ready_cmd = |pid1: bool| {
        let _ = pid1;
        std::process::Command::new(bin())
            .arg("--ready")
            .env_clear()
            .env("HOOKINIT_READY_FILE", s(&ready))
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(ready_cmd(true), Some(0));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(!ready.exists());
    assert_eq!(ready_cmd(true), Some(1));
}

// ---- grace, idle cost ----------------------------------------------------------------------

/// The probe's `terminationGracePeriodSeconds` replaces the grace period of
/// the stop it causes: an app that ignores TERM is SIGKILLed then.
#[test]
fn probe_level_grace_bounds_the_stop_it_causes() {
    let probe = r#"{"exec":{"command":["false"]},"periodSeconds":1,"failureThreshold":1,"terminationGracePeriodSeconds":2}"#;
    let app = "trap '' TERM; echo app-rea\"\"dy; while :; do sleep 0.05; done";
    let r = Running::pid1(
        &["--", "sh", "-c", app],
        &[
            ("HOOKINIT_LIVENESS_PROBE", probe),
            ("HOOKINIT_GRACE_PERIOD", "20"),
        ],
    );
    let f = r.wait(secs(30.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    // First tick at 1 s, then 2 s of grace.
    assert!(
        f.elapsed > secs(2.8) && f.elapsed < secs(5.0),
        "{:?}: {f:#?}",
        f.elapsed
    );
    assert!(f.stderr.contains("grace period 2s"), "{f:#?}");
    assert!(f.stderr.contains("SigkillSent"), "{f:#?}");
}

/// With a 1 s probe, hookinit wakes once per probe run: its processes are
/// forked ahead and sleep until their tick, so the loop wakes only for the
/// result.
#[test]
fn one_wake_up_per_probe_run() {
    let probe = r#"{"tcpSocket":{"port":1},"periodSeconds":1,"failureThreshold":1000}"#;
    let server = http(200);
    let probe = probe.replace("\"port\":1", &format!("\"port\":{}", server.port));
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[("HOOKINIT_LIVENESS_PROBE", &probe)],
    );
    r.wait_for("app-ready", secs(10.0));
    thread::sleep(secs(1.5));
    // Voluntary switches: the times hookinit blocked, i.e. woke up again (a
    // loaded machine adds involuntary ones, preemptions, which are not wake-ups).
    let voluntary = |pid| -> u64 {
        proc_status_field(pid, "voluntary_ctxt_switches")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let before = voluntary(r.pid);
    let began = Instant::now();
    thread::sleep(secs(5.0));
    let woke = voluntary(r.pid) - before;
    let elapsed = began.elapsed().as_secs_f64();
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(
        woke as f64 <= elapsed.ceil() + 1.0,
        "{woke} wake-ups in {elapsed:.1}s with a 1 s probe"
    );
    assert!(
        woke >= 4,
        "{woke} wake-ups: the probe did not run every second"
    );
}

// ---- PostStart after startup, named ports ------------------------------------------------

/// `HOOKINIT_POST_START_AFTER_STARTUP=1`: PostStart starts once the startup
/// probe first succeeds, so an httpGet PostStart does not race the bind.
#[test]
fn post_start_after_startup_waits_for_the_startup_probe() {
    let t = TempDir::new("ps-after");
    let (ok, marker) = (t.path("ok"), t.path("ps"));
    let s = |p: &std::path::PathBuf| p.to_str().unwrap().to_string();
    let startup = logging_probe(
        &s(&t.path("log")),
        &s(&ok),
        r#","periodSeconds":1,"failureThreshold":30"#,
    );
    // Written whole, then renamed: the test never reads a half-written file.
    let post_start = format!(
        r#"["sh","-c","date +%s.%N > {m}.tmp && mv {m}.tmp {m}"]"#,
        m = s(&marker)
    );
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[
            ("HOOKINIT_STARTUP_PROBE", &startup),
            ("HOOKINIT_POST_START", &post_start),
            ("HOOKINIT_POST_START_AFTER_STARTUP", "1"),
        ],
    );
    r.wait_for("app-ready", secs(10.0));
    thread::sleep(secs(2.5));
    assert!(!marker.exists(), "PostStart ran before startup succeeded");
    let granted = now_unix();
    std::fs::write(&ok, "").unwrap();
    assert!(eventually(secs(10.0), || marker.exists()));
    let ran: f64 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        ran >= granted,
        "PostStart at {ran}, startup ok at {granted}"
    );
    r.mark();
    r.signal(libc::SIGTERM);
    assert_eq!(r.wait(secs(20.0)).code, Some(0));
}

/// A Kubernetes Container object: named ports resolve for probes.
#[test]
fn named_ports_from_the_container_object() {
    let server = http(200);
    let container = format!(
        r#"{{"name":"web","image":"nginx:1.27","ports":[{{"name":"http","containerPort":{},"protocol":"TCP"}}],
            "livenessProbe":{{"httpGet":{{"path":"/healthz","port":"http"}},"periodSeconds":1,"failureThreshold":1}}}}"#,
        server.port
    );
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[("HOOKINIT_CONTAINER", &container)],
    );
    r.wait_for("app-ready", secs(10.0));
    assert!(eventually(secs(10.0), || server
        .hits
        .load(Ordering::SeqCst)
        >= 2));
    server.status.store(503, Ordering::SeqCst);
    r.mark();
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    assert!(
        f.stderr
            .contains("Container web failed liveness probe, will be restarted"),
        "{f:#?}"
    );
}

/// Probe events as JSON lines, for log collectors: the kubelet's reasons and
/// messages, the handler named.
#[test]
fn probe_events_as_json() {
    // Output on several lines: one event line each time all the same.
    let probe = r#"{"exec":{"command":["sh","-c","echo not; echo '  healthy '; exit 1"]},"periodSeconds":1,"failureThreshold":2}"#;
    let f = Running::pid1(
        &["--", "sh", "-c", APP],
        &[
            ("HOOKINIT_LIVENESS_PROBE", probe),
            ("HOOKINIT_LOG_FORMAT", "json"),
        ],
    )
    .wait(secs(20.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    let lines: Vec<serde_json::Value> = f
        .stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let unhealthy: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v["event"] == "Unhealthy").collect();
    assert_eq!(unhealthy.len(), 2, "{f:#?}");
    for v in unhealthy {
        assert_eq!(v["handler"], "exec");
        assert_eq!(v["message"], "Liveness probe failed: not | healthy");
    }
    assert!(
        lines.iter().any(|v| v["event"] == "Killing"
            && v["message"].as_str().is_some_and(
                |m| m.contains("Container app failed liveness probe, will be restarted")
            )),
        "{f:#?}"
    );
}

/// Readiness runs as soon as the container has started (the kubelet's
/// manual trigger), not a period later: ready within a moment with a 30 s
/// period, with and without a startup probe.
#[test]
fn readiness_runs_at_once_when_started() {
    for startup in [
        None,
        Some(r#"{"exec":{"command":["true"]},"periodSeconds":1}"#),
    ] {
        let t = TempDir::new("ready-now");
        let ready = t.path("ready");
        let mut env = vec![
            (
                "HOOKINIT_READINESS_PROBE",
                r#"{"exec":{"command":["true"]},"periodSeconds":30}"#,
            ),
            ("HOOKINIT_READY_FILE", ready.to_str().unwrap()),
        ];
        if let Some(s) = startup {
            env.push(("HOOKINIT_STARTUP_PROBE", s));
        }
        let mut r = Running::pid1(&["--", "sh", "-c", APP], &env);
        let began = Instant::now();
        assert!(eventually(secs(10.0), || ready.exists()), "never ready");
        let took = began.elapsed();
        // With a startup probe: its first run is one period (1 s) after the start.
        let bound = if startup.is_some() { 2.5 } else { 1.5 };
        assert!(
            took < secs(bound),
            "ready after {took:?} (startup {startup:?})"
        );
        r.mark();
        r.signal(libc::SIGTERM);
        assert_eq!(r.wait(secs(20.0)).code, Some(0));
    }
}
