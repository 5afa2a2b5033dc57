//! Lifecycle hooks end to end: hookinit as PID 1 of a fresh PID namespace,
//! the real release binary, `/bin/sh` apps and hooks.
//!
//! Apps print markers on stdout (`APP-READY` once their traps are set, so a
//! signal can never beat the trap). Markers are only looked for on stdout:
//! hookinit's own events on stderr may quote the scripts that print them.
//! Times are measured by the test from the moment it sends a signal to the
//! moment it sees the marker (polled every 2 ms).

mod common;
use common::*;

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const SIGTERM: i32 = libc::SIGTERM;

/// A path inside a test directory, as text for scripts and JSON.
fn p(d: &TempDir, name: &str) -> String {
    d.path(name).display().to_string()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn exists(path: &str) -> bool {
    Path::new(path).exists()
}

/// An `exec` handler running a shell script.
fn exec_sh(script: &str) -> Value {
    json!({"exec": {"command": ["/bin/sh", "-c", script]}})
}

/// An app script: `traps`, then `APP-READY` on stdout, then idle in
/// interruptible waits (a trapped signal runs its trap at once). The loop's
/// stderr is silenced: dash reports the killed `sleep` ("Terminated"), and
/// stderr is for hookinit's events.
fn app(traps: &str) -> String {
    format!("{traps}\necho APP-READY\nwhile :; do sleep 1 & wait $!; done 2>/dev/null")
}

/// An app that says `APP-TERM` and exits `code` on SIGTERM.
fn app_exiting_on_term(code: i32) -> String {
    app(&format!("trap 'echo APP-TERM; exit {code}' TERM"))
}

/// hookinit as PID 1 running `/bin/sh -c script`, killed (with its whole
/// namespace) if the test panics before it has exited.
struct Init(Option<Running>);

fn start(env: &[(&str, &str)], script: &str) -> Init {
    Init(Some(Running::pid1(&["--", "/bin/sh", "-c", script], env)))
}

impl Init {
    fn r(&self) -> &Running {
        self.0.as_ref().unwrap()
    }

    fn signal(&self, sig: i32) {
        self.r().signal(sig);
    }

    /// Sends `sig` and restarts the clock.
    fn signal_and_mark(&mut self, sig: i32) {
        self.signal(sig);
        self.0.as_mut().unwrap().mark();
    }

    /// Time since the start or the last mark.
    fn since(&self) -> Duration {
        self.r().started.elapsed()
    }

    fn poll(&self, what: &str, timeout: Duration, mut found: impl FnMut() -> bool) -> Duration {
        let end = Instant::now() + timeout;
        loop {
            if found() {
                return self.since();
            }
            if Instant::now() > end {
                panic!(
                    "no {what} within {timeout:?}\nstdout: {}\nstderr: {}",
                    self.r().stdout(),
                    self.r().stderr()
                );
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Waits for `needle` on stdout (app and hook markers); returns the time
    /// since the start or last mark at which it was seen.
    fn out(&self, needle: &str, timeout: f64) -> Duration {
        self.poll(&format!("{needle:?} on stdout"), secs(timeout), || {
            self.r().stdout().contains(needle)
        })
    }

    /// Waits for `needle` on stderr (hookinit's events).
    fn err(&self, needle: &str, timeout: f64) -> Duration {
        self.poll(&format!("{needle:?} on stderr"), secs(timeout), || {
            self.r().stderr().contains(needle)
        })
    }

    /// Waits for a file to exist.
    fn file(&self, path: &str, timeout: f64) -> Duration {
        self.poll(&format!("file {path}"), secs(timeout), || exists(path))
    }

    fn wait(mut self, timeout: f64) -> Finished {
        self.0.take().unwrap().wait(secs(timeout))
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        if let Some(r) = &self.0 {
            // hookinit is PID 1 of its namespace: the kernel takes the rest with it.
            // SAFETY: kill takes any pid and signal.
            unsafe { libc::kill(r.pid, libc::SIGKILL) };
        }
    }
}

/// Runs hookinit as PID 1 to completion. Unlike `run_pid1`, it does not look
/// up hookinit's pid under unshare, which a run ending within a few
/// milliseconds (`--check`) can race (the look-up then waits 5 s and panics).
fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(bin())
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    Running::start(cmd, false).wait(secs(30.0))
}

/// hookinit's event lines (text format) named `event`, without the prefix.
fn events<'a>(stderr: &'a str, event: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .filter(|l| {
            l.strip_prefix(event)
                .is_some_and(|r| r.starts_with([' ', ':']))
        })
        .collect()
}

/// The one event line starting with `head` (e.g. `FailedPreStopHook hook=PreStop handler=exec`).
fn event<'a>(f: &'a Finished, head: &str) -> &'a str {
    let found: Vec<&str> = f
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .filter(|l| l.starts_with(&format!("{head}:")))
        .collect();
    assert_eq!(found.len(), 1, "one {head:?} event expected\n{f:#?}");
    found[0]
}

/// Asserts that the needles occur in this order in `text`.
fn assert_order(text: &str, needles: &[&str]) {
    let mut at = 0;
    for n in needles {
        match text[at..].find(n) {
            Some(i) => at += i + n.len(),
            None => panic!("{n:?} missing or out of order in {needles:?}\n{text}"),
        }
    }
}

fn assert_between(what: &str, t: Duration, lo: f64, hi: f64, f: impl std::fmt::Debug) {
    eprintln!("{what}: {t:?}");
    assert!(
        t >= secs(lo) && t <= secs(hi),
        "{what}: {t:?} not within {lo}-{hi}s\n{f:#?}"
    );
}

// ---- 1. the Kubernetes documentation's example ----------------------------

#[test]
fn kubernetes_docs_example() {
    let d = TempDir::new("docs");
    let (message, log, bye) = (p(&d, "message"), p(&d, "log"), p(&d, "bye"));
    let lifecycle = json!({
        "postStart": {"exec": {"command": [
            "/bin/sh", "-c", format!("echo Hello from the postStart handler > {message}")
        ]}},
        "preStop": {"exec": {"command": [
            "/bin/sh", "-c", format!("echo prestop >> {log}; echo Goodbye from the preStop handler > {bye}")
        ]}}
    })
    .to_string();
    let script = app(&format!("trap 'echo app-term >> {log}; exit 0' TERM"));
    let mut init = start(&[("HOOKINIT_LIFECYCLE", &lifecycle)], &script);
    init.out("APP-READY", 10.0);
    init.err("hookinit: HookSucceeded hook=PostStart handler=exec", 10.0);
    assert_eq!(read(&message), "Hello from the postStart handler\n");
    assert!(!exists(&log), "PreStop ran before any stop signal");

    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(read(&log), "prestop\napp-term\n", "{f:#?}");
    assert_eq!(read(&bye), "Goodbye from the preStop handler\n");
    assert_order(
        &f.stderr,
        &[
            "hookinit: HookStarted hook=PostStart handler=exec",
            "hookinit: HookSucceeded hook=PostStart handler=exec",
            "hookinit: Killing: stopping the container: received SIGTERM",
            "hookinit: HookStarted hook=PreStop handler=exec",
            "hookinit: HookSucceeded hook=PreStop handler=exec",
            "hookinit: StopSignalSent: sent SIGTERM to the app",
        ],
    );
    assert!(!f.stderr.contains("Failed"), "{f:#?}");
}

// ---- 2. each handler kind ---------------------------------------------------

#[test]
fn exec_pre_stop_failure_has_command_and_output_tail_and_the_stop_continues() {
    let d = TempDir::new("execfail");
    let log = p(&d, "log");
    let pre_stop = json!(["/bin/sh", "-c", "echo line one; echo line two; exit 3"]).to_string();
    let script = app(&format!("trap 'echo app-term >> {log}; exit 0' TERM"));
    let mut init = start(&[("HOOKINIT_PRE_STOP", &pre_stop)], &script);
    init.out("APP-READY", 10.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(
        f.code,
        Some(0),
        "a failed PreStop does not change the exit code\n{f:#?}"
    );
    assert_eq!(
        event(&f, "FailedPreStopHook hook=PreStop handler=exec"),
        "FailedPreStopHook hook=PreStop handler=exec: PreStop hook failed: \
         command '/bin/sh -c echo line one; echo line two; exit 3' exited with 3: line one | line two"
    );
    assert!(
        f.stdout.contains("line one\nline two\n"),
        "hook output not copied\n{f:#?}"
    );
    assert_eq!(read(&log), "app-term\n", "{f:#?}");
    assert_order(
        &f.stderr,
        &[
            "FailedPreStopHook",
            "hookinit: StopSignalSent: sent SIGTERM",
        ],
    );
}

/// A tiny HTTP/1.1 server on 127.0.0.1 recording each request's head.
struct HttpServer {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

#[derive(Debug, Clone)]
struct Request {
    line: String,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl HttpServer {
    fn start() -> HttpServer {
        HttpServer::gated(None)
    }

    /// Answers only once `gate` exists (so an app can set its traps first).
    fn gated(gate: Option<String>) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, gate) = (log.clone(), gate.clone());
                thread::spawn(move || serve(stream, log, gate));
            }
        });
        HttpServer { port, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(mut s: TcpStream, log: Arc<Mutex<Vec<Request>>>, gate: Option<String>) {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let line = lines.next().unwrap_or("").to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    log.lock().unwrap().push(Request { line, headers });
    if let Some(gate) = gate {
        let end = Instant::now() + Duration::from_secs(10);
        while !exists(&gate) && Instant::now() < end {
            thread::sleep(Duration::from_millis(2));
        }
    }
    let (status, extra, body) = match path.as_str() {
        "/ok" => ("200 OK", "", "fine"),
        "/redirect" => ("302 Found", "Location: /ok\r\n", ""),
        // Relative to /dir/: /boom.
        "/dir/relative" => ("302 Found", "Location: ../boom#top\r\n", ""),
        // Go's client follows 301, 302, 303, 307 and 308 only.
        "/multiple" => ("300 Multiple Choices", "Location: /ok\r\n", ""),
        "/boom" => ("500 Internal Server Error", "", "server exploded"),
        _ => ("404 Not Found", "", "no such page"),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.write_all(response.as_bytes());
}

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A relative `Location` is resolved against the request's URL (as Go's
/// client does); a 300 is an answer, not followed.
#[test]
fn relative_redirects_are_resolved_and_only_gos_redirect_codes_followed() {
    let srv = HttpServer::start();
    let lifecycle = json!({
        "postStart": {"httpGet": {"port": srv.port, "path": "/dir/relative"}},
        "preStop": {"httpGet": {"port": srv.port, "path": "/multiple"}}
    })
    .to_string();
    let mut init = start(
        &[("HOOKINIT_LIFECYCLE", &lifecycle)],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    init.err("hookinit: HookHttpStatus hook=PostStart", 10.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    let reqs = srv.requests();
    let lines: Vec<&str> = reqs.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "GET /dir/relative HTTP/1.1",
            "GET /boom HTTP/1.1",
            "GET /multiple HTTP/1.1"
        ],
        "{f:#?}"
    );
    assert!(f.stderr.contains(": HTTP 500: server exploded"), "{f:#?}");
    assert!(f.stderr.contains("/multiple: HTTP 300"), "{f:#?}");
}

#[test]
fn http_get_succeeds_sends_headers_and_follows_a_same_host_redirect() {
    let srv = HttpServer::start();
    let lifecycle = json!({
        "postStart": {"httpGet": {"port": srv.port, "path": "/ok",
            "httpHeaders": [{"name": "X-Custom-Token", "value": "abc 123"}]}},
        "preStop": {"httpGet": {"port": srv.port, "path": "/redirect", "host": "127.0.0.1",
            "scheme": "HTTP", "httpHeaders": [{"name": "X-Hook", "value": "prestop"}]}}
    })
    .to_string();
    let mut init = start(
        &[("HOOKINIT_LIFECYCLE", &lifecycle)],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    init.err(
        "hookinit: HookSucceeded hook=PostStart handler=httpGet",
        10.0,
    );
    assert_eq!(srv.requests().len(), 1, "{:?}", srv.requests());
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(!f.stderr.contains("Failed"), "{f:#?}");
    assert_order(
        &f.stderr,
        &[
            "HookSucceeded hook=PostStart handler=httpGet",
            "HookStarted hook=PreStop handler=httpGet: httpGet http://127.0.0.1:",
            "HookSucceeded hook=PreStop handler=httpGet",
            "StopSignalSent",
        ],
    );
    let reqs = srv.requests();
    let lines: Vec<&str> = reqs.iter().map(|r| r.line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "GET /ok HTTP/1.1",
            "GET /redirect HTTP/1.1",
            "GET /ok HTTP/1.1"
        ],
        "{reqs:#?}"
    );
    for r in &reqs {
        // The kubelet's hook User-Agent, with the version of the probes' one.
        assert_eq!(r.header("user-agent"), Some("kube-lifecycle/1.34"), "{r:?}");
        assert_eq!(r.header("accept"), Some("*/*"), "{r:?}");
        assert_eq!(
            r.header("host"),
            Some(format!("127.0.0.1:{}", srv.port).as_str()),
            "{r:?}"
        );
    }
    assert_eq!(
        reqs[0].header("x-custom-token"),
        Some("abc 123"),
        "{reqs:#?}"
    );
    assert_eq!(reqs[0].header("x-hook"), None);
    for r in &reqs[1..] {
        assert_eq!(r.header("x-hook"), Some("prestop"), "{r:?}");
        assert_eq!(r.header("x-custom-token"), None);
    }
}

/// An app that appends `app-term` to `log` and exits `code` on SIGTERM, and
/// creates `ready` once its trap is set (for hooks that must not fail before).
fn app_logging_term(log: &str, code: i32, ready: &str) -> String {
    format!(
        "trap 'echo app-term >> {log}; echo APP-TERM; exit {code}' TERM\n\
         touch {ready}\necho APP-READY\nwhile :; do sleep 1 & wait $!; done 2>/dev/null"
    )
}

/// The kubelet never checks an httpGet hook's status (`runHTTPHandler`,
/// kubernetes#56963): a PostStart answered 404 and a PreStop answered 500
/// succeed, each with a `HookHttpStatus` warning naming the status.
#[test]
fn http_get_404_and_500_are_warnings_by_default_as_the_kubelet() {
    let srv = HttpServer::start();
    let lifecycle = json!({
        "postStart": {"httpGet": {"port": srv.port, "path": "/missing"}},
        "preStop": {"httpGet": {"port": srv.port, "path": "/boom"}},
    })
    .to_string();
    let mut init = start(
        &[("HOOKINIT_LIFECYCLE", &lifecycle)],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    init.err("HookSucceeded hook=PostStart", 10.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(!f.stderr.contains("Failed"), "{f:#?}");
    let port = srv.port;
    assert_eq!(
        event(&f, "HookHttpStatus hook=PostStart handler=httpGet"),
        format!(
            "HookHttpStatus hook=PostStart handler=httpGet: PostStart hook: \
             GET http://127.0.0.1:{port}/missing: HTTP 404: no such page; a success, as the kubelet \
             does not check the status (HOOKINIT_HTTP_HOOK_CHECK_STATUS=1 fails it)"
        )
    );
    assert!(
        event(&f, "HookHttpStatus hook=PreStop handler=httpGet").contains(&format!(
            "PreStop hook: GET http://127.0.0.1:{port}/boom: HTTP 500: server exploded; a success"
        )),
        "{f:#?}"
    );
    assert_order(
        &f.stderr,
        &[
            "HookHttpStatus hook=PostStart",
            "HookSucceeded hook=PostStart",
            "HookHttpStatus hook=PreStop",
            "HookSucceeded hook=PreStop",
            "StopSignalSent",
        ],
    );
}

/// `HOOKINIT_HTTP_HOOK_CHECK_STATUS=1` (opt-in): a 404 fails PostStart.
#[test]
fn http_get_404_fails_post_start_with_check_status_and_pre_stop_still_runs() {
    let d = TempDir::new("http404");
    let (log, ready) = (p(&d, "log"), p(&d, "app-ready"));
    let srv = HttpServer::gated(Some(ready.clone()));
    let lifecycle = json!({
        "postStart": {"httpGet": {"port": srv.port, "path": "/missing"}},
        "preStop": exec_sh(&format!("echo prestop >> {log}")),
    })
    .to_string();
    let init = start(
        &[
            ("HOOKINIT_LIFECYCLE", &lifecycle),
            ("HOOKINIT_HTTP_HOOK_CHECK_STATUS", "1"),
        ],
        &app_logging_term(&log, 0, &ready),
    );
    let f = init.wait(10.0);
    assert_eq!(
        event(&f, "FailedPostStartHook hook=PostStart handler=httpGet"),
        format!(
            "FailedPostStartHook hook=PostStart handler=httpGet: PostStart hook failed: \
             GET http://127.0.0.1:{}/missing: HTTP 404: no such page",
            srv.port
        )
    );
    assert_eq!(
        f.code,
        Some(4),
        "PostStart failed: hookinit exits 4\n{f:#?}"
    );
    assert_eq!(read(&log), "prestop\napp-term\n", "{f:#?}");
}

/// `HOOKINIT_HTTP_HOOK_CHECK_STATUS=1` (opt-in): a 500 fails PreStop.
#[test]
fn http_get_500_fails_pre_stop_with_check_status() {
    let srv = HttpServer::start();
    let pre_stop = json!({"httpGet": {"port": srv.port, "path": "boom"}}).to_string();
    let mut init = start(
        &[
            ("HOOKINIT_PRE_STOP", &pre_stop),
            ("HOOKINIT_HTTP_HOOK_CHECK_STATUS", "1"),
        ],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(
        event(&f, "FailedPreStopHook hook=PreStop handler=httpGet"),
        format!(
            "FailedPreStopHook hook=PreStop handler=httpGet: PreStop hook failed: \
             GET http://127.0.0.1:{}/boom: HTTP 500: server exploded",
            srv.port
        )
    );
    assert!(f.stdout.contains("APP-TERM"), "the stop went on\n{f:#?}");
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn http_get_connection_refused_fails_pre_stop() {
    let port = closed_port();
    let pre_stop = json!({"httpGet": {"port": port}}).to_string();
    let mut init = start(&[("HOOKINIT_PRE_STOP", &pre_stop)], &app_exiting_on_term(0));
    init.out("APP-READY", 10.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    let line = event(&f, "FailedPreStopHook hook=PreStop handler=httpGet");
    assert!(
        line.contains(&format!(
            "PreStop hook failed: GET http://127.0.0.1:{port}/: "
        )),
        "{line}"
    );
    assert!(f.stdout.contains("APP-TERM"), "{f:#?}");
}

#[test]
fn tcp_socket_open_port_succeeds_closed_port_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = closed_port();
    let lifecycle = json!({
        "postStart": {"tcpSocket": {"port": open}},
        "preStop": {"tcpSocket": {"port": closed, "host": "127.0.0.1"}},
    })
    .to_string();
    let mut init = start(
        &[("HOOKINIT_LIFECYCLE", &lifecycle)],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    init.err(
        "hookinit: HookSucceeded hook=PostStart handler=tcpSocket",
        10.0,
    );
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_ok(), "PostStart never connected");
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(events(&f.stderr, "Deprecated").len(), 2, "{f:#?}");
    let line = event(&f, "FailedPreStopHook hook=PreStop handler=tcpSocket");
    assert!(
        line.contains(&format!(
            "PreStop hook failed: connect to 127.0.0.1:{closed}: Connection refused"
        )),
        "{line}"
    );
    assert!(f.stdout.contains("APP-TERM"), "{f:#?}");
}

#[test]
fn sleep_pre_stop_delays_the_stop_signal_by_its_duration() {
    let pre_stop = json!({"sleep": {"seconds": 1}}).to_string();
    let mut init = start(&[("HOOKINIT_PRE_STOP", &pre_stop)], &app_exiting_on_term(0));
    init.out("APP-READY", 10.0);
    init.signal_and_mark(SIGTERM);
    let t = init.out("APP-TERM", 10.0);
    let f = init.wait(10.0);
    assert_between("app's TERM after a 1 s sleep PreStop", t, 1.0, 1.6, &f);
    assert_eq!(f.code, Some(0), "{f:#?}");
    let line = event(&f, "HookSucceeded hook=PreStop handler=sleep");
    assert!(
        line.starts_with("HookSucceeded hook=PreStop handler=sleep: PreStop hook succeeded in 1.0"),
        "{line}"
    );
}

#[test]
fn sleep_post_start_delays_readiness_by_its_duration() {
    let d = TempDir::new("sleepready");
    let ready = p(&d, "ready");
    let post_start = json!({"sleep": {"seconds": 1}}).to_string();
    let mut init = start(
        &[
            ("HOOKINIT_POST_START", &post_start),
            ("HOOKINIT_READY_FILE", &ready),
        ],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    thread::sleep(Duration::from_millis(500));
    assert!(!exists(&ready), "ready while PostStart sleeps");
    let t = init.file(&ready, 10.0);
    assert_between(
        "ready file after a 1 s sleep PostStart",
        t,
        1.0,
        1.8,
        init.r().stderr(),
    );
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(event(&f, "HookSucceeded hook=PostStart handler=sleep")
        .contains("PostStart hook succeeded in 1.0"));
    assert!(!exists(&ready));
}

// ---- 3. order ---------------------------------------------------------------

#[test]
fn pre_stop_finishes_before_the_app_gets_its_stop_signal() {
    let d = TempDir::new("order");
    let log = p(&d, "log");
    let pre_stop = json!([
        "/bin/sh",
        "-c",
        format!("echo prestop-start >> {log}; sleep 0.5; echo prestop-end >> {log}")
    ])
    .to_string();
    let script = app(&format!("trap 'echo app-term >> {log}; exit 0' TERM"));
    let mut init = start(&[("HOOKINIT_PRE_STOP", &pre_stop)], &script);
    init.out("APP-READY", 10.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(
        read(&log),
        "prestop-start\nprestop-end\napp-term\n",
        "{f:#?}"
    );
    assert!(f.elapsed >= secs(0.5), "{f:#?}");
}

// ---- 4. the grace window ----------------------------------------------------

#[test]
fn hung_pre_stop_is_killed_at_grace_minus_reserve_and_sigkill_lands_at_grace() {
    let script = app("trap 'echo APP-TERM' TERM");
    let mut init = start(
        &[
            ("HOOKINIT_GRACE_PERIOD", "4"),
            ("HOOKINIT_PRE_STOP", r#"["sleep","1000"]"#),
        ],
        &script,
    );
    init.out("APP-READY", 10.0);
    init.signal_and_mark(SIGTERM);
    let term = init.out("APP-TERM", 10.0);
    let kill = init.err("hookinit: SigkillSent", 10.0);
    let f = init.wait(10.0);
    assert_between("app's TERM (grace 4 s - 2 s reserve)", term, 1.8, 2.6, &f);
    assert_between("SIGKILL at the grace deadline", kill, 3.9, 4.4, &f);
    eprintln!("exit: {:?}", f.elapsed);
    assert!(
        f.elapsed <= secs(4.5),
        "hookinit exited at {:?}\n{f:#?}",
        f.elapsed
    );
    assert_eq!(f.code, Some(137), "the app was SIGKILLed\n{f:#?}");
    assert!(
        event(&f, "FailedPreStopHook hook=PreStop handler=exec")
            .ends_with("PreStop hook failed: timed out after 2.0s"),
        "{f:#?}"
    );
    assert!(
        event(&f, "SigkillSent").contains("the grace period of 4s is over"),
        "{f:#?}"
    );
    assert_order(
        &f.stderr,
        &["FailedPreStopHook", "StopSignalSent", "SigkillSent"],
    );
}

/// PreStop gets the window minus the app's reserve (4 s grace, 2 s kept for
/// the app): a sleep exactly that long must end as a success, not hit its
/// own deadline and fail as "timed out".
#[test]
fn pre_stop_sleep_filling_its_window_succeeds_and_the_app_gets_term_after_it() {
    let mut init = start(
        &[
            ("HOOKINIT_GRACE_PERIOD", "4"),
            ("HOOKINIT_PRE_STOP", r#"{"sleep":{"seconds":2}}"#),
        ],
        &app("trap 'echo APP-TERM; exit 0' TERM"),
    );
    init.out("APP-READY", 5.0);
    init.signal_and_mark(SIGTERM);
    init.out("APP-TERM", 6.0);
    let term_at = init.r().started.elapsed();
    let f = init.wait(5.0);
    eprintln!("PreStop sleep 2 s: app got TERM after {term_at:?}");
    assert!(
        events(&f.stderr, "FailedPreStopHook").is_empty(),
        "the sleep must not time out\n{f:#?}"
    );
    assert_eq!(
        events(&f.stderr, "HookSucceeded")
            .iter()
            .filter(|l| l.starts_with("HookSucceeded hook=PreStop"))
            .count(),
        1,
        "{f:#?}"
    );
    assert!(
        term_at >= secs(1.9) && term_at <= secs(3.2),
        "TERM after {term_at:?}, expected ~2 s\n{f:#?}"
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
}

// ---- 5. exit latency after PreStop ---------------------------------------------

#[test]
fn hookinit_exits_at_once_when_the_app_exits_after_pre_stop() {
    let d = TempDir::new("latency");
    let done = p(&d, "prestop-done");
    // The PreStop's last act is creating the marker: `exec touch` is the hook.
    let pre_stop = json!(["/bin/sh", "-c", format!("sleep 0.3; exec touch {done}")]).to_string();
    // The app dies of TERM at once (default disposition). A signal sent
    // before hookinit has blocked them is dropped (PID 1): wait for the app.
    let mut init = start(
        &[("HOOKINIT_PRE_STOP", &pre_stop)],
        "echo APP-READY; exec sleep 1000",
    );
    init.out("APP-READY", 10.0);
    init.signal(SIGTERM);
    // Poll the marker finely (0.2 ms), without spinning a shared core.
    let end = Instant::now() + secs(10.0);
    while !exists(&done) {
        assert!(Instant::now() < end, "PreStop never ended");
        thread::sleep(Duration::from_micros(200));
    }
    init.0.as_mut().unwrap().mark();
    let f = init.wait(10.0);
    eprintln!("exit after PreStop's end: {:?}", f.elapsed);
    assert_eq!(f.code, Some(143), "sleep died of SIGTERM\n{f:#?}");
    assert!(
        f.elapsed < Duration::from_millis(100),
        "hookinit exited {:?} after PreStop ended\n{f:#?}",
        f.elapsed
    );
}

// ---- 6. a second stop signal ----------------------------------------------------

#[test]
fn second_stop_signal_cuts_pre_stop_short_and_signals_the_app_at_once() {
    let mut init = start(
        &[("HOOKINIT_PRE_STOP", r#"["sleep","30"]"#)],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    init.signal(SIGTERM);
    init.err("hookinit: HookStarted hook=PreStop handler=exec", 10.0);
    thread::sleep(Duration::from_millis(100));
    assert!(
        !init.r().stdout().contains("APP-TERM"),
        "TERM before PreStop ended"
    );
    init.signal_and_mark(SIGTERM);
    let t = init.out("APP-TERM", 10.0);
    let f = init.wait(10.0);
    assert!(
        t < secs(0.5),
        "app got TERM {t:?} after the second TERM\n{f:#?}"
    );
    assert!(
        f.elapsed < secs(1.0),
        "exit {:?} after the second TERM\n{f:#?}",
        f.elapsed
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    let line = event(&f, "FailedPreStopHook hook=PreStop handler=exec");
    assert!(
        line.contains("PreStop cut short by a second SIGTERM after 0."),
        "{line}"
    );
    assert!(events(&f.stderr, "HookSucceeded").is_empty(), "{f:#?}");
    assert_eq!(events(&f.stderr, "StopSignalSent").len(), 1, "{f:#?}");
    assert_order(&f.stderr, &["FailedPreStopHook", "StopSignalSent"]);
}

#[test]
fn later_stop_signals_are_forwarded_and_pre_stop_runs_once() {
    let d = TempDir::new("once");
    let log = p(&d, "log");
    let pre_stop = json!(["/bin/sh", "-c", format!("echo prestop >> {log}")]).to_string();
    // The app survives its first TERM and exits on the second.
    let script = app(&format!(
        "n=0; trap 'n=$((n+1)); echo app-term-$n >> {log}; echo APP-TERM-$n; \
         if [ $n -ge 2 ]; then exit 0; fi' TERM"
    ));
    let mut init = start(&[("HOOKINIT_PRE_STOP", &pre_stop)], &script);
    init.out("APP-READY", 10.0);
    init.signal(SIGTERM);
    init.out("APP-TERM-1", 10.0);
    init.signal_and_mark(SIGTERM);
    let t = init.out("APP-TERM-2", 10.0);
    let f = init.wait(10.0);
    assert!(t < secs(0.5), "forwarded TERM took {t:?}\n{f:#?}");
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(read(&log), "prestop\napp-term-1\napp-term-2\n", "{f:#?}");
    assert_eq!(events(&f.stderr, "HookStarted").len(), 1, "{f:#?}");
    assert_eq!(events(&f.stderr, "Killing").len(), 1, "{f:#?}");
}

// ---- 7. the app exits during PostStart --------------------------------------------

#[test]
fn app_exit_during_post_start_cancels_the_hook() {
    let d = TempDir::new("cancel");
    let (hook_pid, go) = (p(&d, "hook-pid"), p(&d, "go"));
    let post_start = json!([
        "/bin/sh",
        "-c",
        format!("echo $$ > {hook_pid}.tmp; mv {hook_pid}.tmp {hook_pid}; exec sleep 30")
    ])
    .to_string();
    let script = format!("while [ ! -e {go} ]; do sleep 0.01; done; exit 5");
    let mut init = start(
        &[
            ("HOOKINIT_POST_START", &post_start),
            ("HOOKINIT_VERBOSITY", "3"),
        ],
        &script,
    );
    init.file(&hook_pid, 10.0);
    let pid: i32 = read(&hook_pid).trim().parse().unwrap();
    // Let `exec sleep 30` happen.
    thread::sleep(Duration::from_millis(100));
    std::fs::write(&go, b"").unwrap();
    init.0.as_mut().unwrap().mark();
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(5), "the app's exit code\n{f:#?}");
    assert!(
        f.elapsed < secs(1.0),
        "exit {:?} after the app's\n{f:#?}",
        f.elapsed
    );
    assert_eq!(
        event(&f, "HookCancelled hook=PostStart handler=exec"),
        "HookCancelled hook=PostStart handler=exec: the app exited"
    );
    assert!(events(&f.stderr, "HookSucceeded").is_empty(), "{f:#?}");
    assert!(
        events(&f.stderr, "FailedPostStartHook").is_empty(),
        "{f:#?}"
    );
    // hookinit itself killed and reaped the hook before exiting.
    let reaped = format!("Reaped: pid {pid} killed by SIGKILL");
    assert!(f.stderr.contains(&reaped), "no {reaped:?}\n{f:#?}");
    assert_order(&f.stderr, &["HookCancelled", &reaped]);
}

// ---- 8. PostStart failure -------------------------------------------------------------

#[test]
fn post_start_failure_stops_the_container_runs_pre_stop_and_exits_4() {
    let d = TempDir::new("psfail");
    let (log, ready) = (p(&d, "log"), p(&d, "app-ready"));
    let lifecycle = json!({
        "postStart": exec_sh(&format!(
            "while [ ! -e {ready} ]; do sleep 0.01; done; echo post-start-output; exit 3"
        )),
        "preStop": exec_sh(&format!("echo prestop >> {log}")),
    })
    .to_string();
    let init = start(
        &[("HOOKINIT_LIFECYCLE", &lifecycle)],
        &app_logging_term(&log, 0, &ready),
    );
    let f = init.wait(10.0);
    assert_eq!(
        f.code,
        Some(4),
        "app exited 0 after a failed PostStart\n{f:#?}"
    );
    let line = event(&f, "FailedPostStartHook hook=PostStart handler=exec");
    assert!(line.starts_with("FailedPostStartHook hook=PostStart handler=exec: PostStart hook failed: command '/bin/sh -c while"), "{line}");
    assert!(
        line.ends_with("exit 3' exited with 3: post-start-output"),
        "{line}"
    );
    assert_eq!(read(&log), "prestop\napp-term\n", "{f:#?}");
    assert_order(
        &f.stderr,
        &[
            "FailedPostStartHook",
            "Killing: stopping the container: the PostStart hook failed",
            "HookStarted hook=PreStop",
            "HookSucceeded hook=PreStop",
            "StopSignalSent: sent SIGTERM",
        ],
    );
}

#[test]
fn post_start_failure_exits_4_whatever_the_apps_status() {
    let d = TempDir::new("psfail7");
    let (log, ready) = (p(&d, "log"), p(&d, "app-ready"));
    let post_start = json!([
        "/bin/sh",
        "-c",
        format!("while [ ! -e {ready} ]; do sleep 0.01; done; exit 9")
    ])
    .to_string();
    let init = start(
        &[("HOOKINIT_POST_START", &post_start)],
        &app_logging_term(&log, 7, &ready),
    );
    let f = init.wait(10.0);
    // One code for a failed PostStart, whatever the app's own status.
    assert_eq!(f.code, Some(4), "{f:#?}");
    assert!(event(&f, "FailedPostStartHook hook=PostStart handler=exec")
        .ends_with("exit 9' exited with 9"));
    assert_eq!(read(&log), "app-term\n");
}

/// A PostStart killed at its timeout still reports what it printed: the
/// output follows the timeout in the failure message.
#[test]
fn timed_out_exec_hook_reports_its_output() {
    let init = start(
        &[
            (
                "HOOKINIT_POST_START",
                r#"["sh","-c","echo waiting for db; sleep 30"]"#,
            ),
            ("HOOKINIT_POST_START_TIMEOUT", "1"),
        ],
        &app("trap 'exit 0' TERM"),
    );
    init.out("APP-READY", 5.0);
    // The failed PostStart stops the container: the app gets TERM.
    let f = init.wait(10.0);
    let failed = events(&f.stderr, "FailedPostStartHook");
    eprintln!("{failed:?}");
    assert_eq!(failed.len(), 1, "{f:#?}");
    assert!(
        failed[0].contains("PostStart hook failed: timed out after 1.")
            && failed[0].ends_with("s: waiting for db"),
        "the output must follow the timeout\n{f:#?}"
    );
}

// ---- 9. JSON events -------------------------------------------------------------------

fn is_rfc3339_millis_utc(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

#[test]
fn json_event_lines_parse_and_have_the_fields() {
    let lifecycle = json!({
        "postStart": exec_sh("echo post-start-ran"),
        "preStop": exec_sh(r#"echo 'say "hi" \ tab	end'; exit 4"#),
    })
    .to_string();
    let mut init = start(
        &[
            ("HOOKINIT_LIFECYCLE", &lifecycle),
            ("HOOKINIT_LOG_FORMAT", "json"),
            ("HOOKINIT_VERBOSITY", "3"),
        ],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    init.out("post-start-ran", 10.0);
    init.err("HookSucceeded", 10.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    let mut names = Vec::new();
    let mut last_time = String::new();
    for line in f.stderr.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}\n{f:#?}"));
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {line}"));
        let time = obj["time"].as_str().expect("time");
        assert!(is_rfc3339_millis_utc(time), "time {time:?}");
        assert!(time >= last_time.as_str(), "time went back: {line}");
        last_time = time.to_string();
        let event = obj["event"].as_str().expect("event").to_string();
        assert!(obj["message"].is_string(), "{line}");
        let hook_event = event.starts_with("Hook") || event.starts_with("Failed");
        for field in ["hook", "handler"] {
            assert_eq!(
                obj.get(field).is_some_and(Value::is_string),
                hook_event,
                "{field} in {line}"
            );
        }
        for key in obj.keys() {
            assert!(
                ["time", "event", "hook", "handler", "message"].contains(&key.as_str()),
                "unexpected field {key} in {line}"
            );
        }
        names.push((event, v));
    }
    let find = |name: &str, hook: Option<&str>| {
        names
            .iter()
            .position(|(n, v)| n == name && hook.is_none_or(|h| v["hook"] == h))
            .unwrap_or_else(|| panic!("no {name} {hook:?} event\n{}", f.stderr))
    };
    let order = [
        find("Started", None),
        find("HookStarted", Some("PostStart")),
        find("HookSucceeded", Some("PostStart")),
        find("Killing", None),
        find("HookStarted", Some("PreStop")),
        find("FailedPreStopHook", Some("PreStop")),
        find("StopSignalSent", None),
        find("Exited", None),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "order {order:?}\n{}",
        f.stderr
    );
    let failed = &names[order[5]].1;
    assert_eq!(failed["handler"], "exec");
    assert_eq!(
        failed["message"],
        "PreStop hook failed: command '/bin/sh -c echo 'say \"hi\" \\ tab\tend'; exit 4' \
         exited with 4: say \"hi\" \\ tab\tend"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let year = 1970 + now / 31_556_952;
    assert!(last_time.starts_with(&year.to_string()), "{last_time}");
}

/// A failing hook's output full of ANSI colours: each ESC becomes a 6-byte
/// `\u001b` escape, and the line is cut at 4 KiB. The cut must never fall
/// inside an escape (`...\u00...` is not JSON). Ten paddings of the hook's
/// command (quoted in the message) move the cut across every alignment
/// against the 10-byte escaped `\u001b[31m`.
#[test]
fn cut_json_event_lines_stay_valid() {
    let mut cut_lines = 0;
    for pad in 0..10 {
        let script = format!(
            ": {}; i=0; while [ $i -lt 1000 ]; do printf '\\033[31m'; i=$((i+1)); done; exit 1",
            "p".repeat(pad)
        );
        let post_start = serde_json::json!(["sh", "-c", script]).to_string();
        let init = start(
            &[
                ("HOOKINIT_LOG_FORMAT", "json"),
                ("HOOKINIT_POST_START", &post_start),
            ],
            &app("trap 'exit 0' TERM"),
        );
        let f = init.wait(10.0);
        let mut failure = None;
        for line in f.stderr.lines().filter(|l| l.starts_with('{')) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| {
                let end = &line[line.len().saturating_sub(120)..];
                panic!("pad {pad}: invalid JSON ({e}), line ends with: {end}")
            });
            if v["event"] == "FailedPostStartHook" {
                failure = Some(v);
            }
        }
        let failure = failure.unwrap_or_else(|| panic!("pad {pad}: no failure\n{f:#?}"));
        let message = failure["message"].as_str().unwrap();
        assert!(message.ends_with("..."), "pad {pad}: not cut: {message:?}");
        assert!(
            message.contains("exited with 1: ") && message.contains("\u{1b}[31m"),
            "pad {pad}: {message:?}"
        );
        cut_lines += 1;
    }
    assert_eq!(cut_lines, 10);
}

// ---- 10. ready file, --check, config file, options ------------------------------------

#[test]
fn ready_file_appears_after_post_start_and_goes_when_the_stop_begins() {
    let d = TempDir::new("ready");
    let (ready, go, seen) = (p(&d, "ready"), p(&d, "go"), p(&d, "seen"));
    let lifecycle = json!({
        "postStart": exec_sh(&format!("while [ ! -e {go} ]; do sleep 0.01; done")),
        "preStop": exec_sh(&format!(
            "if [ -e {ready} ]; then echo present; else echo absent; fi > {seen}"
        )),
    })
    .to_string();
    let mut init = start(
        &[
            ("HOOKINIT_LIFECYCLE", &lifecycle),
            ("HOOKINIT_READY_FILE", &ready),
        ],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    init.err("HookStarted hook=PostStart", 10.0);
    thread::sleep(Duration::from_millis(200));
    assert!(!exists(&ready), "ready before PostStart succeeded");
    std::fs::write(&go, b"").unwrap();
    init.err("HookSucceeded hook=PostStart", 10.0);
    init.file(&ready, 2.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(
        read(&seen),
        "absent\n",
        "ready file still there during PreStop"
    );
    assert!(!exists(&ready), "ready file left after exit");
}

#[test]
fn ready_file_without_post_start_is_created_at_start() {
    let d = TempDir::new("ready0");
    let (ready, seen) = (p(&d, "ready"), p(&d, "seen"));
    let pre_stop = json!([
        "/bin/sh",
        "-c",
        format!("[ -e {ready} ] && echo present > {seen} || echo absent > {seen}")
    ])
    .to_string();
    let init = start(
        &[
            ("HOOKINIT_READY_FILE", &ready),
            ("HOOKINIT_PRE_STOP", &pre_stop),
        ],
        &app_exiting_on_term(0),
    );
    init.file(&ready, 2.0);
    init.out("APP-READY", 10.0);
    init.signal(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(read(&seen), "absent\n");
    assert!(!exists(&ready));
}

#[test]
fn ready_file_never_appears_when_post_start_fails() {
    let d = TempDir::new("readyfail");
    let (ready, log, app_ready) = (p(&d, "ready"), p(&d, "log"), p(&d, "app-ready"));
    let post_start = json!([
        "/bin/sh",
        "-c",
        format!("while [ ! -e {app_ready} ]; do sleep 0.01; done; exit 1")
    ])
    .to_string();
    // The app notes whether the ready file exists when it gets TERM.
    let script = format!(
        "trap 'if [ -e {ready} ]; then echo present >> {log}; else echo absent >> {log}; fi; exit 0' TERM\n\
         touch {app_ready}\nwhile :; do sleep 1 & wait $!; done 2>/dev/null"
    );
    let init = start(
        &[
            ("HOOKINIT_READY_FILE", &ready),
            ("HOOKINIT_POST_START", &post_start),
        ],
        &script,
    );
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(4), "PostStart failed: {f:#?}");
    assert_eq!(read(&log), "absent\n");
    assert!(!exists(&ready));
}

/// A FIFO where the ready file goes must not block PID 1 in `open`: the
/// ready file is reported as not created and the stop works.
#[test]
fn fifo_as_ready_file_does_not_block_pid1() {
    let t = TempDir::new("fifo");
    let fifo = p(&t, "ready");
    // A stale ready file is removed at start, so the FIFO is made after it,
    // by PostStart, just before hookinit creates the ready file.
    let post_start = serde_json::json!(["mkfifo", fifo]).to_string();
    let mut init = start(
        &[
            ("HOOKINIT_READY_FILE", &fifo),
            ("HOOKINIT_POST_START", &post_start),
        ],
        &app("trap 'echo APP-TERM; exit 0' TERM"),
    );
    init.out("APP-READY", 5.0);
    init.err("hookinit: ReadyFile", 5.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(5.0);
    eprintln!("FIFO ready file: exit {:?} after {:?}", f.code, f.elapsed);
    let warned = events(&f.stderr, "ReadyFile");
    assert!(
        warned.len() == 1 && warned[0].contains(&format!("cannot create {fifo}")),
        "{f:#?}"
    );
    assert!(f.stdout.contains("APP-TERM"), "{f:#?}");
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(f.elapsed < secs(2.0), "not prompt: {:?}", f.elapsed);
}

/// The value of a `--check` plan line (`key:` padded, then the value).
fn plan<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no {key:?} in the plan:\n{stdout}"))
}

#[test]
fn check_prints_the_plan_and_never_starts_the_app() {
    let d = TempDir::new("check");
    let (marker, ready) = (p(&d, "app-ran"), p(&d, "ready"));
    let lifecycle = json!({
        "postStart": {"exec": {"command": ["/bin/sh", "-c", "echo hi"]}},
        "preStop": {"httpGet": {"port": 8080, "path": "/drain"}},
        "stopSignal": "SIGQUIT",
    })
    .to_string();
    let touch = format!("touch {marker}");
    let f = run_to_end(
        &["--check", "--", "/bin/sh", "-c", &touch],
        &[
            ("HOOKINIT_LIFECYCLE", &lifecycle),
            ("HOOKINIT_GRACE_PERIOD", "4"),
            ("HOOKINIT_PRE_STOP_TIMEOUT", "1.5"),
            ("HOOKINIT_READY_FILE", &ready),
            ("HOOKINIT_STOP_ON", "TERM,HUP"),
        ],
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(!exists(&marker), "--check started the app");
    assert!(!exists(&ready), "--check created the ready file");
    assert_eq!(f.stderr, "", "{f:#?}");
    let out = &f.stdout;
    assert!(out.ends_with("configuration OK\n"), "{out}");
    assert!(
        plan(out, "command:").contains(&format!("\"-c\", \"{touch}\"")),
        "{out}"
    );
    assert_eq!(
        plan(out, "postStart:"),
        r#"exec ["/bin/sh", "-c", "echo hi"] (timeout: none)"#
    );
    assert_eq!(
        plan(out, "preStop:"),
        "httpGet http://127.0.0.1:8080/drain (timeout: 1.5s)"
    );
    assert_eq!(
        plan(out, "grace period:"),
        "4s (PreStop may use up to 2s; 2s kept for the app)"
    );
    assert_eq!(plan(out, "stop signal:"), "SIGQUIT");
    assert_eq!(plan(out, "stop on:"), "SIGHUP, SIGTERM");
    assert_eq!(plan(out, "ready file:"), ready);

    // Invalid: exit 2, no plan, nothing started.
    let f = run_to_end(
        &["--check", "--", "/bin/sh", "-c", &touch],
        &[("HOOKINIT_GRACE_PERIOD", "soon")],
    );
    assert_eq!(f.code, Some(2), "{f:#?}");
    assert!(!f.stdout.contains("configuration OK"), "{f:#?}");
    assert!(
        f.stderr.starts_with("hookinit: HOOKINIT_GRACE_PERIOD: "),
        "{f:#?}"
    );
    assert!(!exists(&marker));

    // No command is fine for --check.
    let f = run_to_end(&["--check"], &[]);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(plan(&f.stdout, "command:"), "(none given)");
    assert_eq!(
        plan(&f.stdout, "grace period:"),
        "9s (PreStop may use up to 7s; 2s kept for the app)"
    );
}

/// `--check` (and `HOOKINIT_CHECK=1`, which keeps the image's command)
/// approves valid settings but warns about those that cannot work: a ready
/// file that can never be created, a PreStop with no time, a network
/// PostStart that races the app's bind, an exec hook whose program is missing.
#[test]
fn check_warns_about_settings_that_cannot_work() {
    let d = TempDir::new("checkwarn");
    let marker = p(&d, "ran");
    let touch = format!(": > {marker}");
    let warnings = |f: &Finished| -> Vec<String> {
        f.stdout
            .lines()
            .filter_map(|l| l.strip_prefix("warning: "))
            .map(str::to_string)
            .collect()
    };
    // HOOKINIT_CHECK=1: the image's command is shown, not run.
    let f = run_to_end(
        &["--", "/bin/sh", "-c", &touch],
        &[
            ("HOOKINIT_CHECK", "1"),
            ("HOOKINIT_READY_FILE", "/nonexistent-dir/ready"),
            ("HOOKINIT_GRACE_PERIOD", "0"),
            ("HOOKINIT_PRE_STOP", r#"["/nonexistent/drain"]"#),
            ("HOOKINIT_POST_START", r#"{"httpGet":{"port":8080}}"#),
        ],
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(!exists(&marker), "HOOKINIT_CHECK=1 started the app");
    assert!(plan(&f.stdout, "command:").contains(&touch), "{f:#?}");
    assert!(f.stdout.ends_with("configuration OK\n"), "{f:#?}");
    let w = warnings(&f);
    assert_eq!(w.len(), 5, "{w:#?}");
    assert!(
        w[0].starts_with(
            "ready file /nonexistent-dir/ready: its directory /nonexistent-dir does not exist"
        ),
        "{w:#?}"
    );
    assert_eq!(
        w[1],
        "grace period: 0s is below the kubelet's minimum of 2s: raised to 2s (minimumGracePeriodInSeconds)",
        "{w:#?}"
    );
    assert_eq!(
        w[2],
        "preStop: the grace period is 0s: PreStop is not run (as the kubelet's killContainer), the app gets the 2s minimum",
        "{w:#?}"
    );
    assert!(
        w[3].starts_with("postStart is httpGet: it runs at once, beside the app"),
        "{w:#?}"
    );
    assert!(
        w[4].starts_with(
            "preStop: '/nonexistent/drain' is not found (the hook would fail with exit 127)"
        ),
        "{w:#?}"
    );

    // A ready file on a read-only filesystem (`docker run --read-only`).
    let ro = p(&d, "ro");
    std::fs::create_dir_all(&ro).unwrap();
    let script = format!(
        "mount -t tmpfs -o ro none {ro} && exec {} --check -- true",
        bin().display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        // The harness's own variable is not hookinit's: unknown, it would warn.
        .env_remove("HOOKINIT_BIN")
        .env("HOOKINIT_READY_FILE", format!("{ro}/ready"))
        .env("HOOKINIT_PRE_STOP_TIMEOUT", "30")
        .env("HOOKINIT_PRE_STOP", r#"["true"]"#)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let w: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("warning: "))
        .collect();
    assert_eq!(w.len(), 2, "{stdout}");
    assert!(
        w[0].contains("is not writable (Read-only file system (errno 30))"),
        "{stdout}"
    );
    assert!(
        w[1].starts_with(
            "preStop: its timeout of 30s is longer than the 7s it may use of the 9s grace period"
        ),
        "{stdout}"
    );

    // Nothing to warn about: no warning line.
    let f = run_to_end(
        &["--check", "--", "true"],
        &[("HOOKINIT_PRE_STOP", r#"["true"]"#)],
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(warnings(&f).is_empty(), "{f:#?}");
}

#[test]
fn config_file_settings_with_env_and_flag_overrides() {
    let d = TempDir::new("cfgfile");
    let (file, log, ready) = (p(&d, "hookinit.json"), p(&d, "log"), p(&d, "ready"));
    let config = json!({
        "lifecycle": {
            "postStart": exec_sh(&format!("echo file-poststart >> {log}")),
            "preStop": exec_sh(&format!("echo file-prestop >> {log}")),
        },
        "terminationGracePeriodSeconds": 4,
        "readyFile": ready,
    });
    std::fs::write(&file, config.to_string()).unwrap();
    let env_pre_stop = json!(["/bin/sh", "-c", format!("echo env-prestop >> {log}")]).to_string();
    let env = [
        ("HOOKINIT_CONFIG", file.as_str()),
        ("HOOKINIT_PRE_STOP", env_pre_stop.as_str()),
    ];

    let f = run_to_end(&["--check"], &env);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(
        plan(&f.stdout, "grace period:").starts_with("4s "),
        "{}",
        f.stdout
    );
    assert!(
        plan(&f.stdout, "preStop:").contains("env-prestop"),
        "{}",
        f.stdout
    );
    assert!(
        plan(&f.stdout, "postStart:").contains("file-poststart"),
        "{}",
        f.stdout
    );
    assert_eq!(plan(&f.stdout, "ready file:"), ready);
    let f = run_to_end(
        &["--check"],
        &[env[0], env[1], ("HOOKINIT_GRACE_PERIOD", "6")],
    );
    assert!(
        plan(&f.stdout, "grace period:").starts_with("6s "),
        "{}",
        f.stdout
    );
    let f = run_to_end(
        &["--check", "--grace-period=3"],
        &[env[0], env[1], ("HOOKINIT_GRACE_PERIOD", "6")],
    );
    assert!(
        plan(&f.stdout, "grace period:").starts_with("3s "),
        "{}",
        f.stdout
    );

    let script = app(&format!("trap 'echo app-term >> {log}; exit 0' TERM"));
    let mut init = start(&env, &script);
    init.out("APP-READY", 10.0);
    init.err("HookSucceeded hook=PostStart", 10.0);
    init.file(&ready, 2.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(
        read(&log),
        "file-poststart\nenv-prestop\napp-term\n",
        "{f:#?}"
    );
    assert!(f.stderr.contains("grace period 4s"), "{f:#?}");
}

#[test]
fn pre_stop_on_exit_runs_pre_stop_when_the_app_exits_by_itself() {
    let d = TempDir::new("onexit");
    let log = p(&d, "log");
    let pre_stop = json!(["/bin/sh", "-c", format!("echo prestop >> {log}")]).to_string();
    let script = format!("sleep 0.2; echo app-exit >> {log}; exit 4");
    let f = run_to_end(
        &["--", "/bin/sh", "-c", &script],
        &[
            ("HOOKINIT_PRE_STOP", &pre_stop),
            ("HOOKINIT_PRE_STOP_ON_EXIT", "1"),
        ],
    );
    assert_eq!(f.code, Some(4), "{f:#?}");
    assert_eq!(read(&log), "app-exit\nprestop\n", "{f:#?}");
    assert_eq!(events(&f.stderr, "HookSucceeded").len(), 1, "{f:#?}");

    std::fs::remove_file(&log).unwrap();
    let f = run_to_end(
        &["--", "/bin/sh", "-c", &script],
        &[("HOOKINIT_PRE_STOP", &pre_stop)],
    );
    assert_eq!(f.code, Some(4), "{f:#?}");
    assert_eq!(
        read(&log),
        "app-exit\n",
        "PreStop ran after the app exited\n{f:#?}"
    );
    assert!(events(&f.stderr, "HookStarted").is_empty(), "{f:#?}");
}

/// hookinit with `HOOKINIT_PRE_STOP_ON_EXIT` and an app that exits 3 at once:
/// its PreStop writes `mark`, sleeps `sleep` seconds, then writes `done`.
fn pre_stop_on_exit(t: &TempDir, sleep: u32) -> Init {
    let script = format!(
        "echo started > {mark}; sleep {sleep}; echo done > {done}",
        mark = p(t, "mark"),
        done = p(t, "done"),
    );
    let pre_stop = serde_json::json!(["sh", "-c", script]).to_string();
    start(
        &[
            ("HOOKINIT_PRE_STOP_ON_EXIT", "1"),
            ("HOOKINIT_PRE_STOP", &pre_stop),
        ],
        "exit 3",
    )
}

/// The app exited by itself and PreStop runs for it: the first stop signal
/// arriving then is not a second one, and lets PreStop finish.
#[test]
fn first_stop_signal_does_not_cut_short_a_pre_stop_on_exit() {
    let t = TempDir::new("onexit1");
    let mut init = pre_stop_on_exit(&t, 1);
    init.file(&p(&t, "mark"), 5.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    eprintln!("PreStop on exit + TERM: {:?} after {:?}", f.code, f.elapsed);
    assert_eq!(t.read("done"), "done\n", "PreStop did not complete\n{f:#?}");
    let killing = events(&f.stderr, "Killing");
    assert!(
        killing
            .iter()
            .any(|l| l.contains("received SIGTERM: the PreStop hook for the app's exit goes on")),
        "{f:#?}"
    );
    assert!(!f.stderr.contains("cut short"), "{f:#?}");
    assert!(events(&f.stderr, "FailedPreStopHook").is_empty(), "{f:#?}");
    assert_eq!(f.code, Some(3), "{f:#?}");
}

/// A failed liveness probe began the stop: the runtime's first stop signal
/// (`docker stop` meeting the restart under way) lets PreStop finish, as
/// the kubelet lets a liveness kill finish under a pod's deletion; a second
/// cuts it short.
#[test]
fn first_stop_signal_does_not_cut_short_a_pre_stop_begun_by_liveness() {
    for (sleep, signals) in [(1, 1), (10, 2)] {
        let t = TempDir::new("liveness-prestop");
        let script = format!(
            "echo started > {mark}; sleep {sleep}; echo done > {done}",
            mark = p(&t, "mark"),
            done = p(&t, "done"),
        );
        let pre_stop = serde_json::json!(["sh", "-c", script]).to_string();
        let probe = r#"{"exec":{"command":["false"]},"periodSeconds":1,"failureThreshold":1}"#;
        let mut init = start(
            &[
                ("HOOKINIT_PRE_STOP", &pre_stop),
                ("HOOKINIT_LIVENESS_PROBE", probe),
                ("HOOKINIT_GRACE_PERIOD", "20"),
            ],
            "trap 'exit 0' TERM; while :; do sleep 0.05; done",
        );
        init.file(&p(&t, "mark"), 10.0);
        init.signal_and_mark(SIGTERM);
        init.err(
            "received SIGTERM: the PreStop hook for liveness goes on",
            5.0,
        );
        if signals == 2 {
            init.signal_and_mark(SIGTERM);
        }
        let f = init.wait(15.0);
        assert_eq!(f.code, Some(5), "{f:#?}");
        match signals {
            1 => {
                assert_eq!(t.read("done"), "done\n", "PreStop did not complete\n{f:#?}");
                assert!(!f.stderr.contains("cut short"), "{f:#?}");
            }
            _ => {
                assert!(!t.path("done").exists(), "{f:#?}");
                assert!(f.stderr.contains("cut short by a second SIGTERM"), "{f:#?}");
            }
        }
    }
}

/// PreStop for the app's exit runs out its window: what is SIGKILLed then
/// never got a SIGTERM, and the event does not say it did.
#[test]
fn a_pre_stop_on_exit_at_its_deadline_claims_no_sigterm() {
    let pre_stop = serde_json::json!(["sh", "-c", "sleep 20"]).to_string();
    let f = run_to_end(
        &["--", "/bin/sh", "-c", "exit 3"],
        &[
            ("HOOKINIT_PRE_STOP_ON_EXIT", "1"),
            ("HOOKINIT_PRE_STOP", &pre_stop),
            ("HOOKINIT_GRACE_PERIOD", "2"),
        ],
    );
    assert_eq!(f.code, Some(3), "{f:#?}");
    assert!(events(&f.stderr, "SigtermSent").is_empty(), "{f:#?}");
    assert!(!f.stderr.contains("after SIGTERM"), "{f:#?}");
}

#[test]
fn second_stop_signal_cuts_short_a_pre_stop_on_exit() {
    let t = TempDir::new("onexit2");
    let mut init = pre_stop_on_exit(&t, 10);
    init.file(&p(&t, "mark"), 5.0);
    init.signal_and_mark(SIGTERM);
    init.err("the PreStop hook for the app's exit goes on", 5.0);
    assert!(!t.path("done").exists());
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    eprintln!(
        "PreStop on exit + 2 TERMs: {:?} after {:?}",
        f.code, f.elapsed
    );
    let failed = events(&f.stderr, "FailedPreStopHook");
    assert!(
        failed.len() == 1 && failed[0].contains("cut short by a second SIGTERM"),
        "{f:#?}"
    );
    assert!(!t.path("done").exists(), "PreStop was not cut\n{f:#?}");
    assert!(f.elapsed < secs(3.0), "{:?}\n{f:#?}", f.elapsed);
    assert_eq!(f.code, Some(3), "{f:#?}");
}

#[test]
fn stop_signal_usr1_reaches_the_app_instead_of_term() {
    let script = app("trap 'echo APP-USR1; exit 0' USR1; trap 'echo APP-TERM; exit 9' TERM");
    let mut init = start(&[("HOOKINIT_STOP_SIGNAL", "USR1")], &script);
    init.out("APP-READY", 10.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(f.stdout.contains("APP-USR1"), "{f:#?}");
    assert!(!f.stdout.contains("APP-TERM"), "{f:#?}");
    assert!(
        event(&f, "StopSignalSent").starts_with("StopSignalSent: sent SIGUSR1 to the app"),
        "{f:#?}"
    );
}

#[test]
fn stop_signal_from_the_lifecycle_object() {
    let d = TempDir::new("lcsig");
    let log = p(&d, "log");
    let lifecycle = json!({
        "preStop": exec_sh(&format!("echo prestop >> {log}")),
        "stopSignal": "SIGUSR2",
    })
    .to_string();
    let script = app(&format!(
        "trap 'echo app-usr2 >> {log}; exit 0' USR2; trap 'echo app-int >> {log}; exit 8' INT; \
         trap 'echo app-term >> {log}; exit 9' TERM"
    ));
    let mut init = start(&[("HOOKINIT_LIFECYCLE", &lifecycle)], &script);
    init.out("APP-READY", 10.0);
    // INT is a default stop trigger; the app must get stopSignal, not INT.
    init.signal_and_mark(libc::SIGINT);
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(read(&log), "prestop\napp-usr2\n", "{f:#?}");
    assert!(event(&f, "Killing").contains("received SIGINT"), "{f:#?}");
}

#[test]
fn pre_stop_timeout_bounds_pre_stop() {
    let mut init = start(
        &[
            ("HOOKINIT_PRE_STOP", r#"["sleep","30"]"#),
            ("HOOKINIT_PRE_STOP_TIMEOUT", "1"),
        ],
        &app_exiting_on_term(0),
    );
    init.out("APP-READY", 10.0);
    init.signal_and_mark(SIGTERM);
    let t = init.out("APP-TERM", 10.0);
    let f = init.wait(10.0);
    assert_between("app's TERM with a 1 s PreStop timeout", t, 1.0, 1.6, &f);
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(
        event(&f, "FailedPreStopHook hook=PreStop handler=exec")
            .ends_with("PreStop hook failed: timed out after 1.0s"),
        "{f:#?}"
    );
}

#[test]
fn post_start_timeout_fails_post_start() {
    let d = TempDir::new("pstimeout");
    let (log, ready) = (p(&d, "log"), p(&d, "app-ready"));
    let pre_stop = json!(["/bin/sh", "-c", format!("echo prestop >> {log}")]).to_string();
    let init = start(
        &[
            (
                "HOOKINIT_POST_START",
                r#"{"exec":{"command":["sleep","30"]}}"#,
            ),
            ("HOOKINIT_POST_START_TIMEOUT", "1"),
            ("HOOKINIT_PRE_STOP", &pre_stop),
        ],
        &app_logging_term(&log, 0, &ready),
    );
    let t = init.out("APP-TERM", 10.0);
    let f = init.wait(10.0);
    assert_between("app's TERM after a 1 s PostStart timeout", t, 1.0, 1.8, &f);
    assert_eq!(f.code, Some(4), "PostStart failed: {f:#?}");
    assert!(
        event(&f, "FailedPostStartHook hook=PostStart handler=exec")
            .ends_with("PostStart hook failed: timed out after 1.0s"),
        "{f:#?}"
    );
    assert_eq!(read(&log), "prestop\napp-term\n", "{f:#?}");
}

// ---- more of the stop state machine ----------------------------------------------------

#[test]
fn hooks_that_cannot_start_are_failures() {
    let init = start(
        &[
            ("HOOKINIT_POST_START", r#"["/nonexistent/post-start"]"#),
            ("HOOKINIT_PRE_STOP", r#"["/nonexistent/pre-stop"]"#),
        ],
        // Dies of TERM whenever it comes: no trap to race with.
        "exec sleep 1000",
    );
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(4), "PostStart failed\n{f:#?}");
    assert_eq!(
        event(&f, "FailedPostStartHook hook=PostStart handler=exec"),
        "FailedPostStartHook hook=PostStart handler=exec: PostStart hook failed: \
         cannot run '/nonexistent/post-start': command not found"
    );
    assert_eq!(
        event(&f, "FailedPreStopHook hook=PreStop handler=exec"),
        "FailedPreStopHook hook=PreStop handler=exec: PreStop hook failed: \
         cannot run '/nonexistent/pre-stop': command not found"
    );
    assert_order(
        &f.stderr,
        &[
            "FailedPostStartHook",
            "Killing",
            "FailedPreStopHook",
            "StopSignalSent",
        ],
    );
    assert!(f.elapsed < secs(2.0), "{f:#?}");
}

#[test]
fn stop_during_post_start_cancels_it_and_is_not_a_failure() {
    let d = TempDir::new("stopps");
    let (log, ready) = (p(&d, "log"), p(&d, "ready"));
    let lifecycle = json!({
        "postStart": {"exec": {"command": ["sleep", "30"]}},
        "preStop": exec_sh(&format!("echo prestop >> {log}")),
    })
    .to_string();
    let script = app(&format!("trap 'echo app-term >> {log}; exit 0' TERM"));
    let mut init = start(
        &[
            ("HOOKINIT_LIFECYCLE", &lifecycle),
            ("HOOKINIT_READY_FILE", &ready),
        ],
        &script,
    );
    init.out("APP-READY", 10.0);
    init.err("HookStarted hook=PostStart", 10.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    assert_eq!(
        f.code,
        Some(0),
        "a cancelled PostStart is no failure\n{f:#?}"
    );
    assert!(f.elapsed < secs(2.0), "{f:#?}");
    assert_eq!(
        event(&f, "HookCancelled hook=PostStart handler=exec"),
        "HookCancelled hook=PostStart handler=exec: the container is stopping"
    );
    assert!(!f.stderr.contains("Failed"), "{f:#?}");
    assert_eq!(read(&log), "prestop\napp-term\n", "{f:#?}");
    assert!(!exists(&ready), "{f:#?}");
}

/// The app exits during PreStop: the hook may go on for the cleanup timeout
/// (an "ask, then wait" PreStop like `pg_ctl stop` is about to end), then it
/// is cancelled, not failed.
#[test]
fn app_exit_during_pre_stop_ends_the_stop_after_the_cleanup_timeout() {
    let d = TempDir::new("exitprestop");
    let go = p(&d, "go");
    let script = format!(
        "trap 'echo APP-TERM; exit 9' TERM; echo APP-READY; \
         while [ ! -e {go} ]; do sleep 0.01; done; exit 6"
    );
    let mut init = start(
        &[
            ("HOOKINIT_PRE_STOP", r#"["sleep","30"]"#),
            ("HOOKINIT_CLEANUP_TIMEOUT", "0.5"),
        ],
        &script,
    );
    init.out("APP-READY", 10.0);
    init.signal(SIGTERM);
    init.err("HookStarted hook=PreStop", 10.0);
    std::fs::write(&go, b"").unwrap();
    init.0.as_mut().unwrap().mark();
    let f = init.wait(10.0);
    assert_eq!(f.code, Some(6), "{f:#?}");
    assert_between("exit after the app's", f.elapsed, 0.45, 1.5, &f);
    assert!(
        event(&f, "HookCancelled hook=PreStop handler=exec").starts_with(
            "HookCancelled hook=PreStop handler=exec: the app exited and the hook did not end within the cleanup timeout after it"
        ),
        "{f:#?}"
    );
    assert!(!f.stdout.contains("APP-TERM"), "{f:#?}");
    assert!(events(&f.stderr, "StopSignalSent").is_empty(), "{f:#?}");
    assert!(events(&f.stderr, "HookSucceeded").is_empty(), "{f:#?}");
}

/// PreStop kills the app itself (a common "graceful stop" script): the app's
/// exit cancels the hook (`HookCancelled`), it is not a `FailedPreStopHook`.
#[test]
fn app_exiting_during_pre_stop_cancels_it_without_a_failure() {
    let t = TempDir::new("cancel");
    let pidfile = p(&t, "app.pid");
    let pre_stop = serde_json::json!(["sh", "-c", format!("kill $(cat {pidfile}); sleep 10")]);
    let mut init = start(
        &[("HOOKINIT_PRE_STOP", &pre_stop.to_string())],
        &app(&format!(
            "echo $$ > {pidfile}; trap 'echo APP-TERM; exit 5' TERM"
        )),
    );
    init.out("APP-READY", 5.0);
    init.signal_and_mark(SIGTERM);
    let f = init.wait(10.0);
    eprintln!(
        "app killed by PreStop: exit {:?} after {:?}",
        f.code, f.elapsed
    );
    assert!(f.stdout.contains("APP-TERM"), "{f:#?}");
    assert!(
        events(&f.stderr, "FailedPreStopHook").is_empty(),
        "the app's exit is not a PreStop failure\n{f:#?}"
    );
    let cancelled = events(&f.stderr, "HookCancelled");
    assert!(
        cancelled.iter().any(
            |l| l.starts_with("HookCancelled hook=PreStop handler=exec: the app exited and the hook did not end within the cleanup timeout")
        ),
        "{f:#?}"
    );
    assert_eq!(f.code, Some(5), "the app's status\n{f:#?}");
    assert!(f.elapsed < secs(4.0), "not prompt: {:?}\n{f:#?}", f.elapsed);
}

/// A grace period below 2 s is raised to the kubelet's minimum of 2 s
/// (`minimumGracePeriodInSeconds`): PreStop may use half, the app the rest.
#[test]
fn grace_below_two_seconds_is_raised_to_two_half_reserved_for_the_app() {
    let mut init = start(
        &[
            ("HOOKINIT_GRACE_PERIOD", "1.5"),
            ("HOOKINIT_PRE_STOP", r#"["sleep","1000"]"#),
        ],
        &app("trap 'echo APP-TERM' TERM"),
    );
    init.out("APP-READY", 10.0);
    init.signal_and_mark(SIGTERM);
    let term = init.out("APP-TERM", 10.0);
    let kill = init.err("hookinit: SigkillSent", 10.0);
    let f = init.wait(10.0);
    assert_between(
        "app's TERM (grace 1.5 s raised to 2 s, half reserved)",
        term,
        0.95,
        1.4,
        &f,
    );
    assert_between("SIGKILL at 2 s", kill, 1.95, 2.4, &f);
    assert!(f.elapsed <= secs(2.5), "{f:#?}");
    assert_eq!(f.code, Some(137), "{f:#?}");
    assert!(
        event(&f, "FailedPreStopHook hook=PreStop handler=exec").ends_with("timed out after 1.0s"),
        "{f:#?}"
    );
    assert!(event(&f, "Killing").ends_with("grace period 2s"), "{f:#?}");
}
