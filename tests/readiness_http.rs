//! The readiness endpoint (`HOOKINIT_READINESS_ADDRESS`): exact status codes
//! across start, ready, not ready and stop, and abuse (slowloris, floods,
//! garbage, half-closed clients, resets) that leaves PID 1 responsive, with
//! no growth in memory or descriptors and no heap allocation.
//!
//! Needs root (PID namespaces). hookinit shares the host's network here, so
//! each test listens on a free loopback port.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// Flood requests answered 200.
static ANSWERED: AtomicUsize = AtomicUsize::new(0);
use std::time::{Duration, Instant};

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// One request, the whole answer (the endpoint closes after it).
fn ask(port: u16, request: &[u8]) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr(port), secs(2.0))?;
    s.set_read_timeout(Some(secs(5.0)))?;
    s.write_all(request)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn get(port: u16) -> String {
    ask(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_or_else(|e| format!("error: {e}"))
}

/// The status line and body of a GET.
fn status(port: u16) -> (String, String) {
    let answer = get(port);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

const OK: &str = "HTTP/1.1 200 OK";
const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable";

/// An app that says when it runs and exits 0 on TERM.
const APP: &str =
    "trap 'echo app-got-TERM; exit 0' TERM; echo app-ready; while :; do sleep 0.05; done";

fn probe_on(ok: &Path) -> String {
    format!(
        r#"{{"exec":{{"command":["test","-e","{}"]}},"periodSeconds":1,"successThreshold":1,"failureThreshold":1}}"#,
        ok.display()
    )
}

#[test]
fn status_codes_follow_readiness_through_start_ready_not_ready_and_stop() {
    assert!(is_root(), "needs root");
    let t = TempDir::new("rhttp-status");
    let (ok, ready) = (t.path("ok"), t.path("ready"));
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let mut r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[
            ("HOOKINIT_READINESS_ADDRESS", &address),
            ("HOOKINIT_READINESS_PROBE", &probe_on(&ok)),
            ("HOOKINIT_READY_FILE", ready.to_str().unwrap()),
            // PreStop keeps the stop open long enough to look at it, even
            // when this test is slow to connect after its signal.
            ("HOOKINIT_PRE_STOP", r#"["sleep","3"]"#),
        ],
    );
    r.wait_for("app-ready", secs(10.0));
    // Started, not ready: 503, any path, GET and HEAD.
    assert_eq!(status(port), (UNAVAILABLE.into(), "not ready\n".into()));
    let head = ask(port, b"HEAD /anything?x=1 HTTP/1.0\r\n\r\n").unwrap();
    assert!(head.starts_with(UNAVAILABLE), "{head}");
    assert!(
        head.ends_with("Content-Length: 10\r\n\r\n"),
        "HEAD has no body: {head:?}"
    );
    // Ready: 200 exactly when the ready file exists.
    std::fs::write(&ok, "").unwrap();
    assert!(eventually(secs(5.0), || ready.exists()), "never ready");
    assert_eq!(status(port), (OK.into(), "ready\n".into()));
    let head = ask(port, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(
        head.starts_with(OK) && head.ends_with("\r\n\r\n"),
        "{head:?}"
    );
    // Not ready again.
    std::fs::remove_file(&ok).unwrap();
    assert!(eventually(secs(5.0), || !ready.exists()), "never not ready");
    assert_eq!(status(port).0, UNAVAILABLE);
    std::fs::write(&ok, "").unwrap();
    assert!(
        eventually(secs(5.0), || ready.exists()),
        "never ready again"
    );
    assert_eq!(status(port).0, OK);
    // Other methods: 405; readiness unchanged by anything a client sends.
    let post = ask(port, b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert!(
        post.starts_with("HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"),
        "{post}"
    );
    assert_eq!(status(port).0, OK);
    // The stop: 503 from the first request after the signal, while PreStop runs.
    r.mark();
    r.signal(libc::SIGTERM);
    let answer = status(port);
    assert_eq!(
        answer,
        (UNAVAILABLE.into(), "stopping\n".into()),
        "{}",
        r.stderr()
    );
    assert!(!ready.exists(), "the ready file outlived the stop's start");
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(f.elapsed >= secs(3.0), "PreStop was skipped: {f:#?}");
    // Gone with hookinit: nothing listens any more.
    assert!(TcpStream::connect(addr(port)).is_err());
}

#[test]
fn off_by_default_and_bad_addresses_are_rejected_before_the_app_starts() {
    assert!(is_root(), "needs root");
    for bad in [
        "localhost:80",
        "8080x",
        "70000",
        ":",
        "1.2.3.4",
        "[::1]",
        "0.0.0.0:0",
    ] {
        let f = run_plain(
            &["--", "sh", "-c", "echo app-ran"],
            &[("HOOKINIT_READINESS_ADDRESS", bad)],
        );
        assert_eq!(f.code, Some(2), "{bad}: {f:#?}");
        assert!(
            f.stderr.contains("HOOKINIT_READINESS_ADDRESS"),
            "{bad}: {f:#?}"
        );
        assert!(!f.stdout.contains("app-ran"), "{bad}: {f:#?}");
    }
    // A port that is taken: hookinit stops before the app runs.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let f = run_plain(
        &["--", "sh", "-c", "echo app-ran"],
        &[("HOOKINIT_READINESS_ADDRESS", &format!("127.0.0.1:{port}"))],
    );
    assert_eq!(f.code, Some(1), "{f:#?}");
    assert!(
        f.stderr.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (HOOKINIT_READINESS_ADDRESS): Address in use"
        )),
        "{f:#?}"
    );
    assert!(!f.stdout.contains("app-ran"), "{f:#?}");
    // --check shows it; without it, no line.
    let f = run_plain(
        &["--check", "--", "true"],
        &[("HOOKINIT_READINESS_ADDRESS", "8086")],
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(
        f.stdout.contains("http://0.0.0.0:8086/ (any path, GET or HEAD): 200 while ready, else 503 (at once on a stop)"),
        "{f:#?}"
    );
    let f = run_plain(&["--check", "--", "true"], &[]);
    assert!(!f.stdout.contains("readiness HTTP"), "{f:#?}");
}

fn fd_count(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kb(pid: i32) -> u64 {
    proc_status_field(pid, "VmRSS")
        .and_then(|v| v.trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// The app records when each USR1 arrives (python's clock is the test's).
const SIGNAL_APP: &str = r#"
import signal, sys, time
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
print("app-" + "ready", flush=True)
while True:
    s = signal.sigwait({signal.SIGUSR1, signal.SIGTERM})
    if s == signal.SIGTERM:
        sys.exit(0)
    open(sys.argv[1], "a").write("%.6f\n" % time.time())
"#;

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Sends USR1 through hookinit and returns how long it took to reach the app.
fn signal_latency(r: &Running, log: &Path) -> Duration {
    let before = std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .count();
    let sent = unix_now();
    r.signal(libc::SIGUSR1);
    let mut arrived = None;
    assert!(
        eventually(secs(5.0), || {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if lines.len() > before && text.ends_with('\n') {
                arrived = lines[before].parse::<f64>().ok();
                return true;
            }
            false
        }),
        "USR1 never reached the app\n{}\n{}",
        r.stdout(),
        r.stderr()
    );
    Duration::from_secs_f64((arrived.unwrap() - sent).max(0.0))
}

/// Each kind of abuse, with many at once; returns when its clients are done.
fn abuse(kind: &str, port: u16) {
    let a = addr(port);
    match kind {
        // 64 clients that send a byte every 100 ms and never finish.
        "slowloris" => {
            let clients: Vec<_> = (0..64)
                .map(|_| {
                    thread::spawn(move || {
                        let Ok(mut s) = TcpStream::connect(a) else {
                            return;
                        };
                        let end = Instant::now() + secs(3.0);
                        let _ = s.write_all(b"GET / HTTP/1.1\r\n");
                        while Instant::now() < end && s.write_all(b"X").is_ok() {
                            thread::sleep(Duration::from_millis(100));
                        }
                    })
                })
                .collect();
            clients.into_iter().for_each(|c| c.join().unwrap());
        }
        // 2000 requests from 16 threads, as fast as they go.
        "flood" => {
            let clients: Vec<_> = (0..16)
                .map(|_| {
                    thread::spawn(move || {
                        for _ in 0..125 {
                            if let Ok(mut s) = TcpStream::connect(a) {
                                let _ = s.set_read_timeout(Some(secs(3.0)));
                                let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n");
                                let mut sink = Vec::new();
                                let _ = s.read_to_end(&mut sink);
                                if sink.starts_with(b"HTTP/1.1 200 OK") {
                                    ANSWERED.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    })
                })
                .collect();
            clients.into_iter().for_each(|c| c.join().unwrap());
        }
        // Bytes that are not HTTP, and heads far over the limit.
        "garbage" => {
            let mut seed = 0x2545_f491_4f6c_dd1du64;
            for i in 0..200 {
                let Ok(mut s) = TcpStream::connect(a) else {
                    continue;
                };
                let _ = s.set_read_timeout(Some(secs(3.0)));
                let bytes: Vec<u8> = match i % 3 {
                    0 => (0..600)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            seed as u8
                        })
                        .collect(),
                    1 => [&b"GET / HTTP/1.1\r\n"[..], &[b'h'; 20_000]].concat(),
                    _ => b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".to_vec(),
                };
                let _ = s.write_all(&bytes);
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        }
        // Clients that shut down their side before, during or right after
        // a request, and wait for nothing or for the answer.
        "half-closed" => {
            for i in 0..200 {
                let Ok(mut s) = TcpStream::connect(a) else {
                    continue;
                };
                let _ = s.set_read_timeout(Some(secs(3.0)));
                let part: &[u8] = match i % 3 {
                    0 => b"",
                    1 => b"GET / HT",
                    _ => b"GET / HTTP/1.0\r\n",
                };
                let _ = s.write_all(part);
                let _ = s.shutdown(Shutdown::Write);
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink);
            }
        }
        // Connections reset mid-request.
        "resets" => {
            for i in 0..200 {
                let Ok(s) = TcpStream::connect(a) else {
                    continue;
                };
                let mut s = s;
                if i % 2 == 0 {
                    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost:");
                }
                let _ = s.linger_for(Some(Duration::ZERO));
                drop(s);
            }
        }
        _ => unreachable!(),
    }
}

trait Linger {
    fn linger_for(&self, d: Option<Duration>) -> std::io::Result<()>;
}

impl Linger for TcpStream {
    fn linger_for(&self, d: Option<Duration>) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let l = libc::linger {
            l_onoff: d.is_some() as i32,
            l_linger: d.map_or(0, |d| d.as_secs() as i32),
        };
        // SAFETY: setsockopt reads one linger from a live local.
        let r = unsafe {
            libc::setsockopt(
                self.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&l as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

#[test]
fn abuse_leaves_pid1_responsive_without_growth() {
    assert!(is_root(), "needs root");
    let t = TempDir::new("rhttp-abuse");
    let log = t.path("usr1");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let r = Running::pid1(
        &["--", "python3", "-c", SIGNAL_APP, log.to_str().unwrap()],
        &[
            ("HOOKINIT_READINESS_ADDRESS", &address),
            ("HOOKINIT_VERBOSITY", "3"),
        ],
    );
    r.wait_for("app-ready", secs(10.0));
    // Descriptors before any connection (after one, hookinit's close may
    // come a moment after the client saw the end of the answer).
    let fds = fd_count(r.pid);
    assert_eq!(status(port).0, OK);
    // Warm up (the first answers fault in their pages), then the baseline.
    for _ in 0..20 {
        get(port);
    }
    let rss = rss_kb(r.pid);
    let mut report = String::new();
    for kind in ["slowloris", "flood", "garbage", "half-closed", "resets"] {
        let started = Instant::now();
        let worker = thread::spawn(move || abuse(kind, port));
        // During the abuse: signals still reach the app at once.
        let mut latencies = Vec::new();
        while !worker.is_finished() || latencies.len() < 5 {
            latencies.push(signal_latency(&r, &log));
            thread::sleep(Duration::from_millis(50));
        }
        worker.join().unwrap();
        latencies.sort();
        let median = latencies[latencies.len() / 2];
        // After it: every connection closed, PID 1 as small as before, and
        // a plain check answered.
        assert!(
            eventually(secs(5.0), || fd_count(r.pid) == fds),
            "{kind}: descriptors {} after, {fds} before",
            fd_count(r.pid)
        );
        assert_eq!(status(port), (OK.into(), "ready\n".into()), "{kind}");
        let grown = rss_kb(r.pid).saturating_sub(rss);
        report.push_str(&format!(
            "{kind}: {:?}, {} USR1s, median {median:?}, max {:?}, RSS +{grown} kB\n",
            started.elapsed(),
            latencies.len(),
            latencies.last().unwrap()
        ));
        assert!(median < Duration::from_millis(10), "{kind}: {report}");
        assert!(grown <= 16, "{kind}: {report}");
    }
    eprintln!(
        "{report}flood: {} of 2000 answered 200",
        ANSWERED.load(Ordering::Relaxed)
    );
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(
        f.stderr.contains("; 0 heap allocations after start-up"),
        "{f:#?}"
    );
}

/// A slowloris holding every slot cannot keep a health check out for long:
/// a new connection pushes out the oldest, and each is closed 2 s after it
/// was accepted whatever it sent.
#[test]
fn slow_clients_are_cut_at_their_deadline_and_checks_still_get_through() {
    assert!(is_root(), "needs root");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let r = Running::pid1(
        &["--", "sh", "-c", APP],
        &[("HOOKINIT_READINESS_ADDRESS", &address)],
    );
    r.wait_for("app-ready", secs(10.0));
    // One slow client, alone: closed at 2 s, without an answer.
    let mut slow = TcpStream::connect(addr(port)).unwrap();
    slow.set_read_timeout(Some(secs(5.0))).unwrap();
    let t0 = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    let mut sink = Vec::new();
    let _ = slow.read_to_end(&mut sink);
    let cut = t0.elapsed();
    assert!(sink.is_empty(), "{sink:?}");
    assert!(cut >= secs(1.9) && cut < secs(2.5), "cut after {cut:?}");
    // Sixteen slow clients, twice the slots: each check still answered at once.
    let holders: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut s = TcpStream::connect(addr(port)).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(status(port).0, OK);
        assert!(t.elapsed() < secs(0.5), "a check waited {:?}", t.elapsed());
    }
    drop(holders);
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
}

/// Idle with the endpoint on: no wake-up at all.
#[test]
fn an_idle_endpoint_costs_no_wake_up() {
    assert!(is_root(), "needs root");
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let r = Running::pid1(
        &["--", "sh", "-c", "echo app-ready; exec sleep 60"],
        &[("HOOKINIT_READINESS_ADDRESS", &address)],
    );
    r.wait_for("app-ready", secs(10.0));
    assert_eq!(status(port).0, OK);
    thread::sleep(secs(0.2));
    let before = context_switches(r.pid);
    thread::sleep(secs(2.0));
    assert_eq!(
        context_switches(r.pid),
        before,
        "hookinit woke up while idle"
    );
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(143), "{f:#?}");
}
