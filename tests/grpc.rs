//! The `grpc` probe's client (`hookinit::handlers::grpc::check`), called in-process:
//! against a real gRPC server (Python grpcio with grpcio-health-checking,
//! tests/grpc_health_server.py, from the venv that `scripts/setup` makes at
//! target/venv), against a port that accepts and never answers, a closed
//! port, and scripted HTTP/2 servers for what real servers rarely send
//! (padding, CONTINUATION, PING, GOAWAY, RST_STREAM, odd statuses).
//!
//! Without the venv the real-server tests skip, unless `E2E_REQUIRE_GRPC=1`
//! (CI), which makes them fail.

mod common;

use hookinit::handlers::grpc::check;
use hookinit::handlers::{Outcome, Verdict};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const SECOND: Duration = Duration::from_secs(1);
/// The timeout where the test is not about timing: ample, against a loaded machine.
const AMPLE: Duration = Duration::from_secs(5);

/// The venv's python, if it has grpcio and grpcio-health-checking.
fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let python = root.join("target/venv/bin/python");
            let ok = Command::new(&python)
                .args(["-c", "import grpc, grpc_health.v1.health"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Some(python);
            }
            assert!(
                std::env::var("E2E_REQUIRE_GRPC").as_deref() != Ok("1"),
                "E2E_REQUIRE_GRPC=1 but {} cannot import grpcio (scripts/setup makes the venv)",
                python.display()
            );
            eprintln!("skipping the real gRPC server tests: no venv with grpcio at {} (scripts/setup makes it)", python.display());
            None
        })
        .clone()
}

/// tests/grpc_health_server.py in `mode` on a free port; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(mode: &str) -> Option<Server> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/grpc_health_server.py");
        let mut child = Command::new(python()?)
            .arg(script)
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the gRPC server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the server printed {line:?}, not a port"));
        Some(Server { child, port })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn failure(msg: &str) -> Outcome {
    Outcome::failure(msg.to_string())
}

fn healthy() -> Outcome {
    Outcome::success("service healthy".to_string())
}

#[test]
fn serving_overall_and_per_service() {
    let Some(server) = Server::start("serving") else {
        return;
    };
    let port = server.port;
    assert_eq!(check("127.0.0.1", port, "", AMPLE), healthy());
    assert_eq!(check("127.0.0.1", port, "ok.Service", AMPLE), healthy());
    assert_eq!(
        check("127.0.0.1", port, "down.Service", AMPLE),
        failure(r#"service unhealthy (responded with "NOT_SERVING")"#)
    );
    // A name as "localhost" resolves too.
    assert_eq!(
        check("localhost", port, "", AMPLE).verdict,
        Verdict::Success
    );
}

#[test]
fn not_serving() {
    let Some(server) = Server::start("not-serving") else {
        return;
    };
    assert_eq!(
        check("127.0.0.1", server.port, "", AMPLE),
        failure(r#"service unhealthy (responded with "NOT_SERVING")"#)
    );
}

#[test]
fn unknown_service_is_not_found() {
    let Some(server) = Server::start("unknown-service") else {
        return;
    };
    let Outcome {
        verdict,
        message: msg,
    } = check("127.0.0.1", server.port, "no.such.Service", AMPLE);
    assert_eq!(verdict, Verdict::Failure);
    assert!(
        msg.starts_with("error: health rpc probe failed: rpc error: code = NotFound desc = "),
        "{msg}"
    );
}

#[test]
fn server_without_health_service() {
    let Some(server) = Server::start("no-health") else {
        return;
    };
    let Outcome {
        verdict,
        message: msg,
    } = check("127.0.0.1", server.port, "", AMPLE);
    assert_eq!(verdict, Verdict::Failure);
    let prefix =
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ";
    assert!(msg.starts_with(prefix), "{msg}");
}

#[test]
fn server_that_never_answers_times_out() {
    // Connections complete in the backlog; nothing is ever read or written.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let start = Instant::now();
    let result = check("127.0.0.1", port, "", SECOND);
    let elapsed = start.elapsed();
    assert_eq!(
        result,
        failure("timeout: health rpc did not complete within 1s")
    );
    assert!(
        elapsed >= SECOND && elapsed < Duration::from_millis(1500),
        "{elapsed:?}"
    );
    let start = Instant::now();
    let result = check("127.0.0.1", port, "", Duration::from_millis(1500));
    assert_eq!(
        result,
        failure("timeout: health rpc did not complete within 1.5s")
    );
    assert!(
        start.elapsed() < Duration::from_millis(2000),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn closed_port() {
    // A TCP socket bound and not listening: connecting to its port is refused,
    // and no other test can take the port meanwhile.
    // SAFETY: plain socket calls on a descriptor owned here, closed at the end.
    let (fd, port) = unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from_ne_bytes([127, 0, 0, 1]);
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let sa = &mut addr as *mut libc::sockaddr_in as *mut libc::sockaddr;
        assert_eq!(libc::bind(fd, sa, len), 0);
        assert_eq!(libc::getsockname(fd, sa, &mut len), 0);
        (fd, u16::from_be(addr.sin_port))
    };
    let expected = format!(
        r#"error: failed to connect service at "127.0.0.1:{port}": dial tcp 127.0.0.1:{port}: connect: connection refused"#
    );
    assert_eq!(
        check("127.0.0.1", port, "", AMPLE),
        Outcome::failure(expected)
    );
    // SAFETY: the descriptor opened above.
    unsafe { libc::close(fd) };
}

// Scripted servers: they send their bytes at once and close their side, then
// read what the client sends until it closes.

fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[ty, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK block of literals without indexing (short strings).
fn block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, value) in fields {
        b.push(0);
        for s in [name, value] {
            b.push(s.len() as u8);
            b.extend_from_slice(s.as_bytes());
        }
    }
    b
}

const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
const END_STREAM: u8 = 1;
const END_HEADERS: u8 = 4;

/// Runs `check` against a server that sends `script`; returns the result and what the client sent.
fn scripted(script: Vec<u8>) -> (Outcome, Vec<u8>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (mut sock, _) = listener.accept().unwrap();
        // The client may have given up already: what it received is what the test checks.
        let _ = sock.write_all(&script);
        // The end of the script is an EOF for the client (after all it sent, so never a reset).
        let _ = sock.shutdown(std::net::Shutdown::Write);
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        let mut got = Vec::new();
        let _ = sock.read_to_end(&mut got);
        got
    });
    let result = check("127.0.0.1", port, "", AMPLE);
    (result, server.join().unwrap())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn scripted_fragmented_response() {
    let ping = frame(6, 0, 0, b"12345678");
    let mut s = frame(4, 0, 0, &[0, 5, 0, 0, 0x40, 0]); // SETTINGS_MAX_FRAME_SIZE 16384
    s.extend(&ping);
    s.extend(frame(8, 0, 0, &[0, 0, 1, 0])); // WINDOW_UPDATE
    s.extend(frame(0, 0, 3, &[7; 16384])); // a full-size frame on another stream
                                           // HEADERS: padded, with priority, the block split over a CONTINUATION.
    let headers = [&[0x88][..], &block(&[("content-type", "application/grpc")])].concat();
    let mut first = vec![3, 0, 0, 0, 0, 16];
    first.extend(&headers[..5]);
    first.extend([0; 3]);
    s.extend(frame(1, 0x8 | 0x20, 1, &first));
    s.extend(frame(9, END_HEADERS, 1, &headers[5..]));
    // The message split over two DATA frames, the first padded.
    s.extend(frame(0, 0x8, 1, &[2, 0, 0, 0, 0, 0, 0]));
    s.extend(frame(0, 0, 1, &[2, 8, 1]));
    s.extend(frame(
        1,
        END_HEADERS | END_STREAM,
        1,
        &block(&[("grpc-status", "0")]),
    ));
    let (result, sent) = scripted(s);
    assert_eq!(result, healthy());
    assert!(sent.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    assert!(contains(&sent, &frame(4, 1, 0, &[])), "no SETTINGS ACK");
    assert!(contains(&sent, &frame(6, 1, 0, b"12345678")), "no PING ACK");
    assert!(contains(&sent, b"/grpc.health.v1.Health/Check"));
    assert!(
        contains(&sent, &frame(0, END_STREAM, 1, &[0, 0, 0, 0, 0])),
        "no request message"
    );
}

#[test]
fn scripted_failures() {
    let trailers_only = |status: &str, fields: &[(&str, &str)]| {
        let mut all = vec![(":status", status)];
        all.extend_from_slice(fields);
        [
            SETTINGS,
            &frame(1, END_HEADERS | END_STREAM, 1, &block(&all)),
        ]
        .concat()
    };
    let ok_with_body = |body: &[u8]| {
        let mut s = SETTINGS.to_vec();
        s.extend(frame(1, END_HEADERS, 1, &block(&[(":status", "200")])));
        s.extend(frame(0, 0, 1, body));
        s.extend(frame(
            1,
            END_HEADERS | END_STREAM,
            1,
            &block(&[("grpc-status", "0")]),
        ));
        s
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            trailers_only("200", &[("grpc-status", "5"), ("grpc-message", "unknown%20service")]),
            "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service",
        ),
        (trailers_only("200", &[("grpc-status", "4")]), "timeout: health rpc did not complete within 5s"),
        (
            trailers_only("404", &[]),
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): \
             unexpected HTTP status code received from server: 404",
        ),
        (
            trailers_only("200", &[]),
            "error: health rpc probe failed: rpc error: code = Internal desc = server closed the stream without sending trailers",
        ),
        (ok_with_body(&[0, 0, 0, 0, 0]), r#"service unhealthy (responded with "UNKNOWN")"#),
        (ok_with_body(&[0, 0, 0, 0, 2, 8, 3]), r#"service unhealthy (responded with "SERVICE_UNKNOWN")"#),
        (
            [SETTINGS, &frame(7, 0, 0, b"\0\0\0\0\0\0\0\x0bcalm down")].concat(),
            r#"error: health rpc probe failed: rpc error: code = Unavailable desc = received GOAWAY: code: ENHANCE_YOUR_CALM, debug data: "calm down""#,
        ),
        (
            [SETTINGS, &frame(3, 0, 1, &[0, 0, 0, 7])].concat(),
            "error: health rpc probe failed: rpc error: code = Unavailable desc = stream terminated by RST_STREAM with error code: REFUSED_STREAM",
        ),
        (
            SETTINGS.to_vec(),
            "error: health rpc probe failed: rpc error: code = Unavailable desc = error reading from server: EOF",
        ),
        (
            b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
            "error: health rpc probe failed: rpc error: code = Internal desc = http2: frame too large (4740180 bytes)",
        ),
    ];
    for (script, expected) in cases {
        assert_eq!(scripted(script).0, failure(expected));
    }
}

/// The grpc probe through hookinit as PID 1: readiness against a SERVING
/// server makes the container ready; liveness against a NOT_SERVING service
/// restarts it (exit 5) with the kubelet's message.
#[test]
fn grpc_probes_through_hookinit() {
    let Some(server) = Server::start("serving") else {
        return;
    };
    let t = common::TempDir::new("grpc-probe");
    let ready = t.path("ready");
    let app = "trap 'exit 0' TERM; echo app-ready; while :; do sleep 0.05; done";
    let readiness = format!(r#"{{"grpc":{{"port":{}}},"periodSeconds":1}}"#, server.port);
    let mut r = common::Running::pid1(
        &["--", "sh", "-c", app],
        &[
            ("HOOKINIT_READINESS_PROBE", &readiness),
            ("HOOKINIT_READY_FILE", ready.to_str().unwrap()),
        ],
    );
    assert!(
        common::eventually(Duration::from_secs(10), || ready.exists()),
        "never ready: {}",
        r.stderr()
    );
    r.mark();
    r.signal(libc::SIGTERM);
    assert_eq!(r.wait(Duration::from_secs(20)).code, Some(0));

    let liveness = format!(
        r#"{{"grpc":{{"port":{},"service":"down.Service"}},"periodSeconds":1,"failureThreshold":2}}"#,
        server.port
    );
    let f = common::Running::pid1(
        &["--", "sh", "-c", app],
        &[("HOOKINIT_LIVENESS_PROBE", &liveness)],
    )
    .wait(Duration::from_secs(20));
    assert_eq!(f.code, Some(5), "{f:#?}");
    let unhealthy: Vec<&str> = f
        .stderr
        .lines()
        .filter(|l| l.starts_with("hookinit: Unhealthy"))
        .collect();
    assert_eq!(
        unhealthy,
        vec![
            r#"hookinit: Unhealthy handler=grpc: Liveness probe failed: service unhealthy (responded with "NOT_SERVING")"#;
            2
        ],
        "{f:#?}"
    );
}
