//! The drain autopilot (`HOOKINIT_DRAIN`): on a stop, PreStop and the stop
//! signal wait until the app's ports have been quiet (no new connection, no
//! request bytes) for the quiet interval, between the floor and the ceiling;
//! the app's exit ends the drain at once; health checks of hookinit's own
//! readiness endpoint do not count as traffic.
//!
//! Each test runs hookinit as PID 1 of its own PID and network namespaces
//! (other tests' traffic on the host must not count); the test's client
//! threads join that network namespace with `setns`.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const APP_PORT: u16 = 8080;
const HEALTH_PORT: u16 = 8086;

/// An HTTP/1.1 server with keep-alive, as the app; TERM ends it (exit 0).
const SERVER: &str = r#"
import http.server, signal, sys
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 8080), H)
print("app-" + "listening", flush=True)
s.serve_forever()
"#;

/// hookinit as PID 1 of new PID and network namespaces (loopback up).
fn start(env: &[(&str, &str)]) -> Running {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child", "--net"])
        .args(["sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(bin())
        .args(["--", "python3", "-c", SERVER])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let r = Running::start(cmd, true);
    r.wait_for("app-listening", secs(10.0));
    r
}

/// Moves the calling thread into `pid`'s network namespace.
fn join_netns(pid: i32) {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    // SAFETY: setns on a namespace descriptor we hold; only this thread moves.
    let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0);
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One GET on `s`; true if answered 200.
fn get_on(s: &mut TcpStream) -> bool {
    if s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 256];
    let mut got = Vec::new();
    while !got.ends_with(b"ok\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"HTTP/1.1 200")
}

/// Load on the app from inside its namespace: a new connection per request
/// and a keep-alive connection, every 50 ms, until `stop` is set.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Load {
    fn start(pid: i32) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        let threads = (0..2)
            .map(|keep_alive| {
                let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
                thread::spawn(move || {
                    join_netns(pid);
                    let mut conn: Option<TcpStream> = None;
                    while !stop.load(Ordering::SeqCst) {
                        let fresh = conn.is_none() || keep_alive == 0;
                        if fresh {
                            conn = TcpStream::connect(addr(APP_PORT)).ok();
                        }
                        let good = conn.as_mut().is_some_and(get_on);
                        let counter = if good { &ok } else { &failed };
                        counter.fetch_add(1, Ordering::SeqCst);
                        if keep_alive == 0 {
                            conn = None;
                        }
                        thread::sleep(Duration::from_millis(50));
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            failed,
            threads,
        }
    }

    /// Stops the load; (answered, failed).
    fn stop(self) -> (usize, usize) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        (
            self.ok.load(Ordering::SeqCst),
            self.failed.load(Ordering::SeqCst),
        )
    }
}

/// Seconds from the start of the run to the line holding `needle` (the
/// events carry no time: the test's reader stamps nothing, so this looks
/// for the order only).
fn order(stderr: &str, names: &[&str]) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .map(|l| l.split([' ', ':']).next().unwrap_or("").to_string())
        .filter(|n| names.contains(&n.as_str()))
        .collect()
}

fn drain_json(extra: &str) -> String {
    format!(r#"{{"quietSeconds":0.5,"ports":[{APP_PORT}]{extra}}}"#)
}

/// Traffic goes on for 1 s after TERM (the balancer has not noticed yet),
/// then stops: the app gets TERM once the quiet interval has passed after
/// it, not before, and every request during the stop was answered.
#[test]
fn the_stop_signal_waits_until_the_traffic_has_left_for_the_quiet_interval() {
    assert!(is_root(), "needs root");
    let json = drain_json("");
    let mut r = start(&[
        ("HOOKINIT_DRAIN", &json),
        ("HOOKINIT_PRE_STOP", r#"["sh","-c","echo pre-stop-ran"]"#),
        ("HOOKINIT_VERBOSITY", "3"),
    ]);
    let load = Load::start(r.pid);
    thread::sleep(secs(0.5));
    r.mark();
    let sent = Instant::now();
    r.signal(libc::SIGTERM);
    thread::sleep(secs(1.0));
    let traffic_ended = sent.elapsed();
    let (ok, failed) = load.stop();
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(failed, 0, "{ok} answered, {failed} failed: {f:#?}");
    assert!(ok >= 20, "{ok} answered");
    assert_eq!(
        order(
            &f.stderr,
            &[
                "Killing",
                "DrainStarted",
                "Drained",
                "HookStarted",
                "HookSucceeded",
                "StopSignalSent"
            ]
        ),
        [
            "Killing",
            "DrainStarted",
            "Drained",
            "HookStarted",
            "HookSucceeded",
            "StopSignalSent"
        ],
        "{f:#?}"
    );
    assert!(
        f.stderr.contains(
            "DrainStarted: not ready: waiting for 0.5s of quiet on port 8080 (at least 0s, at most"
        ),
        "{f:#?}"
    );
    // Quiet for the interval (0.5s), less than a second.
    let drained = f
        .stderr
        .lines()
        .find(|l| l.contains("Drained: "))
        .unwrap_or_default();
    assert!(
        drained.contains("Drained: quiet, ") && drained.contains(", last traffic 0."),
        "{f:#?}"
    );
    assert!(f.stdout.contains("pre-stop-ran"), "{f:#?}");
    // The drain samples without allocating.
    assert!(
        f.stderr.contains("; 0 heap allocations after start-up"),
        "{f:#?}"
    );
    // Detection (the load's end) + the quiet interval, + one sample and the
    // app's own exit.
    let quiet = secs(0.5);
    assert!(
        f.elapsed >= traffic_ended + quiet - secs(0.05),
        "stopped after {:?}, before the traffic ({traffic_ended:?}) + quiet: {f:#?}",
        f.elapsed
    );
    assert!(
        f.elapsed <= traffic_ended + quiet + secs(0.4),
        "stopped after {:?}: {f:#?}",
        f.elapsed
    );
}

/// Traffic that never stops: the drain ends at its ceiling.
#[test]
fn constant_traffic_ends_the_drain_at_its_ceiling() {
    assert!(is_root(), "needs root");
    let json = drain_json(r#","maxSeconds":1.5"#);
    let mut r = start(&[("HOOKINIT_DRAIN", &json)]);
    let load = Load::start(r.pid);
    thread::sleep(secs(0.3));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    let (_, failed) = load.stop();
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(
        f.stderr.contains("Drained: not quiet by the ceiling, 1."),
        "{f:#?}"
    );
    assert!(f.elapsed >= secs(1.5) && f.elapsed < secs(2.0), "{f:#?}");
    // Requests sent while the app shut down may fail; none before.
    let _ = failed;
}

/// No traffic: the drain lasts the quiet interval, or the floor if longer.
#[test]
fn without_traffic_the_drain_lasts_the_quiet_interval_or_the_floor() {
    assert!(is_root(), "needs root");
    for (extra, expect) in [("", 0.5), (r#","minSeconds":1.2"#, 1.2)] {
        let json = drain_json(extra);
        let mut r = start(&[("HOOKINIT_DRAIN", &json)]);
        r.mark();
        r.signal(libc::SIGTERM);
        let f = r.wait(secs(20.0));
        assert_eq!(f.code, Some(0), "{f:#?}");
        assert!(f.stderr.contains("0 connections open"), "{f:#?}");
        assert!(
            f.elapsed >= secs(expect) && f.elapsed < secs(expect + 0.4),
            "{extra}: {:?}: {f:#?}",
            f.elapsed
        );
    }
}

/// The app exits during the drain: the drain ends, and so does the stop.
#[test]
fn the_apps_exit_ends_the_drain_at_once() {
    assert!(is_root(), "needs root");
    let json = drain_json(r#","minSeconds":5"#);
    let mut r = start(&[("HOOKINIT_DRAIN", &json), ("HOOKINIT_GRACE_PERIOD", "9")]);
    r.mark();
    r.signal(libc::SIGTERM);
    r.wait_for("DrainStarted", secs(5.0));
    // The app goes by itself (its own shutdown, a crash).
    let app = children(r.pid)[0];
    // SAFETY: kill takes any pid; the result is checked.
    assert_eq!(unsafe { libc::kill(app, libc::SIGKILL) }, 0);
    let f = r.wait(secs(20.0));
    assert!(f.stderr.contains("Drained: the app exited, "), "{f:#?}");
    assert!(!f.stderr.contains("StopSignalSent"), "{f:#?}");
    assert!(f.elapsed < secs(1.5), "{f:#?}");
}

/// Health checks of hookinit's own endpoint every 20 ms through the drain
/// are not traffic; the endpoint says 503 throughout; with no `ports`, the
/// drain watches the app's listening port and not hookinit's.
#[test]
fn health_checks_do_not_count_and_ports_default_to_the_apps_listeners() {
    assert!(is_root(), "needs root");
    let health = format!("127.0.0.1:{HEALTH_PORT}");
    let mut r = start(&[
        ("HOOKINIT_DRAIN", r#"{"quietSeconds":0.5}"#),
        ("HOOKINIT_READINESS_ADDRESS", &health),
    ]);
    let pid = r.pid;
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(std::sync::Mutex::new(Vec::new()));
    let checker = {
        let (stop, statuses) = (stop.clone(), statuses.clone());
        thread::spawn(move || {
            join_netns(pid);
            while !stop.load(Ordering::SeqCst) {
                if let Ok(mut s) = TcpStream::connect(addr(HEALTH_PORT)) {
                    let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n");
                    let mut out = String::new();
                    let _ = s.read_to_string(&mut out);
                    statuses
                        .lock()
                        .unwrap()
                        .push(out.lines().next().unwrap_or("").to_string());
                }
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    assert!(eventually(secs(5.0), || statuses.lock().unwrap().len() > 3));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    stop.store(true, Ordering::SeqCst);
    checker.join().unwrap();
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(
        f.stderr.contains(&format!("on port {APP_PORT} (at least")),
        "{f:#?}"
    );
    assert!(f.stderr.contains("Drained: quiet, "), "{f:#?}");
    assert!(f.elapsed >= secs(0.5) && f.elapsed < secs(0.9), "{f:#?}");
    let statuses = statuses.lock().unwrap();
    let first_503 = statuses.iter().position(|s| s.contains("503")).unwrap();
    assert!(
        statuses[..first_503].iter().all(|s| s == "HTTP/1.1 200 OK"),
        "{statuses:?}"
    );
    assert!(
        statuses[first_503..]
            .iter()
            .all(|s| s == "HTTP/1.1 503 Service Unavailable" || s.is_empty()),
        "{statuses:?}"
    );
}

#[test]
fn drain_settings_are_validated_and_shown_by_check() {
    for (value, message) in [
        (r#"{"quietSeconds":0}"#, "HOOKINIT_DRAIN: quietSeconds: must be at least 0.1 (the drain samples every 0.1s)"),
        (r#"{"ports":["web"]}"#, "HOOKINIT_DRAIN: ports[0]: must be a number, not a string"),
        (r#"{"maxSeconds":30}"#, "HOOKINIT_DRAIN: maxSeconds: 30s does not fit in the grace period: PreStop and the drain may use 7s of 9s (2s is kept for the app's shutdown)"),
        ("{", "HOOKINIT_DRAIN:"),
    ] {
        let f = run_plain(&["--", "true"], &[("HOOKINIT_DRAIN", value)]);
        assert_eq!(f.code, Some(2), "{value}: {f:#?}");
        assert!(f.stderr.contains(message), "{value}: {f:#?}");
    }
    let f = run_plain(&["--check", "--", "true"], &[("HOOKINIT_DRAIN", "1")]);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(f.stdout.contains("on a stop, not ready at once; PreStop once every port listened on at the stop but hookinit's had no new connection or request bytes for 1s (at least 0s, at most 7s)"), "{f:#?}");
    let container = r#"{"name":"web","ports":[{"containerPort":8080},{"name":"m","containerPort":9090},{"containerPort":53,"protocol":"UDP"}]}"#;
    let f = run_plain(
        &["--check", "--", "true"],
        &[
            ("HOOKINIT_DRAIN", r#"{"quietSeconds":2}"#),
            ("HOOKINIT_CONTAINER", container),
        ],
    );
    assert!(
        f.stdout
            .contains("once port(s) 8080, 9090 had no new connection or request bytes for 2s"),
        "{f:#?}"
    );
    let f = run_plain(
        &["--check", "--", "true"],
        &[
            ("HOOKINIT_DRAIN", r#"{"ports":[9090, 81]}"#),
            ("HOOKINIT_CONTAINER", container),
        ],
    );
    assert!(f.stdout.contains("once port(s) 9090, 81 had"), "{f:#?}");
}
