//! End to end with real servers: nginx and PostgreSQL from
//! Debian's packages in Docker, hookinit as their init, stopped, signalled
//! and restarted as users do, with exact outcomes checked: bytes of a
//! download, PostgreSQL's own log after a restart, nginx's error lines,
//! Docker's health probes.
//!
//! The images are built locally with no registry (`tests/common/images.rs`:
//! `debootstrap --variant=minbase bookworm` + `docker import`, then
//! `apt-get install nginx postgresql` in a `docker build --network host`,
//! cached across runs), and this run's hookinit release binary goes on top
//! with an nginx configuration (`NGINX_CONF`) and a 6 MiB file served at
//! 1 MiB/s. Containers run with `--network none`; the test reaches nginx from
//! a thread that joins the container's network namespace (`setns`), so a
//! download outlives the container's processes (a `docker exec` client would
//! be killed with them).
//!
//! Needs what tests/docker.rs needs (an engine, or dockerd) plus root (the
//! client's `setns`; the USR1 rounds chown the container's log pipes),
//! `debootstrap` and the Debian archive. Without them every test prints why
//! and passes, unless `E2E_REQUIRE_SERVERS=1` (CI), which makes it fail.
//!
//! Four of these pin down defaults that real servers need (each says why):
//! the drain knob, the default signal target, an "ask, then wait" PreStop
//! that outlives the app by a moment, and the ready file removed at start.

mod common;
#[path = "common/e2e.rs"]
mod e2e;
#[path = "common/images.rs"]
mod images;

use e2e::{docker, docker_ok, Container, Logs, Volume};
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

const REQUIRE: &str = "E2E_REQUIRE_SERVERS";

/// The file nginx serves slowly: 6 MiB at `limit_rate 1m` (1 MiB/s), so a
/// download takes 6 s.
const BIG_PATH: &str = "/big.bin";
const BIG_LEN: usize = 6 << 20;

const NGINX_CONF: &str = r#"# hookinit e2e: Debian's nginx, logs on the container's stdout/stderr
# (as the official nginx image links them), notices on, two workers.
user www-data;
worker_processes 2;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log notice;
events { worker_connections 768; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log /var/log/nginx/access.log;
    server {
        listen 80 default_server;
        root /var/www/html;
        location /big { limit_rate 1m; }
    }
}
"#;

const NGINX: &[&str] = &["nginx", "-g", "daemon off;"];

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const PG_DATA: &str = "/var/lib/postgresql/15/main";

// ---- set-up ------------------------------------------------------------------------

/// The deterministic content of `BIG_PATH` (xorshift bytes: incompressible,
/// and any cut or shuffle shows).
fn big_content() -> &'static [u8] {
    static BIG: OnceLock<Vec<u8>> = OnceLock::new();
    BIG.get_or_init(|| {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut v = Vec::with_capacity(BIG_LEN);
        while v.len() < BIG_LEN {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.extend_from_slice(&x.to_le_bytes());
        }
        v.truncate(BIG_LEN);
        v
    })
}

/// This run's image: the cached Debian servers image plus this run's
/// hookinit, the nginx configuration and the big file.
fn build_run_image(servers: &str) -> Result<String, String> {
    let started = Instant::now();
    let ctx = common::TempDir::new("servers-image");
    let bin = ctx.path("hookinit");
    fs::copy(common::bin(), &bin).map_err(|e| e.to_string())?;
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    fs::write(ctx.path("nginx.conf"), NGINX_CONF).map_err(|e| e.to_string())?;
    fs::write(ctx.path("big.bin"), big_content()).map_err(|e| e.to_string())?;
    fs::write(
        ctx.path("Dockerfile"),
        format!(
            "FROM {servers}\n\
             COPY hookinit /hookinit\n\
             COPY nginx.conf /etc/nginx/nginx.conf\n\
             COPY big.bin /var/www/html{BIG_PATH}\n\
             RUN rm -f /etc/nginx/sites-enabled/default \\\n \
             && ln -sf /dev/stdout /var/log/nginx/access.log \\\n \
             && ln -sf /dev/stderr /var/log/nginx/error.log\n\
             ENTRYPOINT [\"/hookinit\", \"--\"]\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let image = e2e::tag("servers");
    e2e::docker_build(
        &image,
        &ctx.0,
        &[format!("{}={}", e2e::LABEL, e2e::run_id())],
        "none",
        Duration::from_secs(180),
    )?;
    eprintln!(
        "servers e2e: {image} built in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(image)
}

fn prepare() -> Result<Result<String, String>, String> {
    if !common::is_root() {
        return Err("needs root: the download client joins a container's network namespace (setns) and the USR1 rounds chown the container's log pipes".into());
    }
    e2e::start_engine()?;
    let servers = images::debian_servers()?;
    e2e::docker_cleanup_at_exit();
    Ok(build_run_image(&servers))
}

/// This run's image, or `None` when the test must be skipped (after saying
/// why). A failure to build this run's layer is a failure, not a skip.
fn setup(test: &str) -> Option<&'static str> {
    static IMAGE: OnceLock<Result<Result<String, String>, String>> = OnceLock::new();
    match IMAGE.get_or_init(prepare) {
        Err(why) => {
            if e2e::required(REQUIRE) {
                panic!("{REQUIRE}=1, but {why}");
            }
            eprintln!("skipping {test}: {why}");
            None
        }
        Ok(Err(e)) => panic!("{e}"),
        Ok(Ok(image)) => Some(image.as_str()),
    }
}

// ---- a client inside the container's network namespace ------------------------------------

/// A download running in its own thread; `received` counts the bytes read
/// so far (headers included).
struct Download {
    received: Arc<AtomicUsize>,
    thread: thread::JoinHandle<Result<Vec<u8>, String>>,
}

/// The response of an HTTP/1.0 GET of `path` from 127.0.0.1:80 in the
/// network namespace of host pid `pid` (the thread joins it with `setns`;
/// its socket keeps the namespace alive after the container is gone).
fn download(pid: i32, path: &str) -> Download {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let path = path.to_string();
    let thread = thread::spawn(move || -> Result<Vec<u8>, String> {
        let ns = fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| e.to_string())?;
        // SAFETY: setns on a descriptor we own; affects this thread only.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(format!("setns: {}", std::io::Error::last_os_error()));
        }
        let mut s = TcpStream::connect("127.0.0.1:80").map_err(|e| format!("connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    all.extend_from_slice(&buf[..n]);
                    counter.fetch_add(n, Ordering::SeqCst);
                }
                // A reset (fast shutdown): what arrived is the answer.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => return Err(format!("read after {} bytes: {e}", all.len())),
            }
        }
        Ok(all)
    });
    Download { received, thread }
}

/// An HTTP response split up: status code, Content-Length, body.
struct Response {
    status: u16,
    content_length: Option<usize>,
    body: Vec<u8>,
}

impl Download {
    fn wait_for_bytes(&self, n: usize, timeout: Duration) {
        let end = Instant::now() + timeout;
        while self.received.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < end && !self.thread.is_finished(),
                "the download got {} bytes, not {n}, within {timeout:?}",
                self.received.load(Ordering::SeqCst)
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(self) -> Response {
        let raw = self
            .thread
            .join()
            .expect("download thread")
            .unwrap_or_else(|e| panic!("download: {e}"));
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("no end of the response headers");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line: {head}"));
        let content_length = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        });
        Response {
            status,
            content_length,
            body: raw[split + 4..].to_vec(),
        }
    }
}

// ---- nginx -----------------------------------------------------------------------------

/// Waits until nginx's two workers are up (`start worker process N`, not
/// the master's `start worker processes`).
fn wait_nginx(c: &Container) {
    c.wait_for_n("start worker process ", 2, e2e::LOG_TIMEOUT);
}

/// `[emerg]` and `[alert]` lines in a log.
fn nginx_errors(logs: &Logs) -> Vec<String> {
    logs.out
        .lines()
        .chain(logs.err.lines())
        .filter(|l| l.contains("[emerg]") || l.contains("[alert]"))
        .map(str::to_string)
        .collect()
}

struct Drained {
    stop_took: Duration,
    /// How much of the file had arrived when `docker stop` was run.
    at_stop: usize,
    code: i32,
    response: Response,
    logs: Logs,
}

/// nginx with `opts` (hookinit's settings), a slow download started, then
/// `docker stop -t 20` once 1 MiB has arrived; grace period 15 s, so
/// neither deadline is near a 6 s download.
fn stop_during_download(test: &str, image: &str, opts: &[&str]) -> Drained {
    let mut all = vec!["-e", "HOOKINIT_GRACE_PERIOD=15"];
    all.extend(opts);
    let c = Container::start(test, image, &all, NGINX);
    wait_nginx(&c);
    let d = download(c.pid(), BIG_PATH);
    d.wait_for_bytes(1 << 20, Duration::from_secs(10));
    let at_stop = d.received.load(Ordering::SeqCst);
    let stop_took = c.stop(20);
    let code = c.exit_code();
    let response = d.finish();
    let logs = c.logs();
    eprintln!(
        "{test}: {} of {BIG_LEN} bytes at docker stop, then {} bytes in all; stop took {:.2}s; exit {code}",
        at_stop,
        response.body.len(),
        stop_took.as_secs_f64()
    );
    Drained {
        stop_took,
        at_stop,
        code,
        response,
        logs,
    }
}

/// The download completed byte for byte, nginx and hookinit stopped cleanly
/// after it (exit 0, no SIGKILL), and the stop took as long as the rest of
/// the download, not much more.
fn assert_drained(d: &Drained) {
    let all = d.logs.all();
    assert_eq!(d.response.status, 200, "{all}");
    assert_eq!(d.response.content_length, Some(BIG_LEN), "{all}");
    assert_eq!(
        d.response.body.len(),
        BIG_LEN,
        "the download was cut ({} bytes at docker stop)\n{all}",
        d.at_stop
    );
    assert!(
        d.response.body == big_content(),
        "the downloaded bytes differ from the file"
    );
    assert_eq!(d.code, 0, "{all}");
    // Left at stop: ~5 MiB at 1 MiB/s.
    let rest =
        Duration::from_secs_f64((BIG_LEN - d.at_stop.min(BIG_LEN)) as f64 / (1 << 20) as f64);
    assert!(
        d.stop_took + Duration::from_millis(1500) >= rest
            && d.stop_took < rest + Duration::from_secs(3),
        "docker stop took {:?} for {rest:?} of download left\n{all}",
        d.stop_took
    );
    assert!(nginx_errors(&d.logs).is_empty(), "{all}");
    assert!(!d.logs.err.contains("SigkillSent"), "{all}");
}

/// The Kubernetes documentation's `lifecycle-demo` ("Attach Handlers to
/// Container Lifecycle Events"), its `lifecycle` pasted verbatim:
///
/// ```yaml
/// lifecycle:
///   postStart:
///     exec:
///       command: ["/bin/sh", "-c", "echo Hello from the postStart handler > /usr/share/message"]
///   preStop:
///     exec:
///       command: ["/bin/sh","-c","nginx -s quit; while killall -0 nginx; do sleep 1; done"]
/// ```
///
/// with real nginx: the postStart message is written; the PreStop asks nginx
/// to quit gracefully and waits until it is gone, so a download started
/// before `docker stop` completes byte for byte.
#[test]
fn lifecycle_demo_verbatim_drains_a_download() {
    let Some(image) = setup("lifecycle_demo_verbatim_drains_a_download") else {
        return;
    };
    let lifecycle = r#"{"postStart": {"exec": {"command": ["/bin/sh", "-c", "echo Hello from the postStart handler > /usr/share/message"]}}, "preStop": {"exec": {"command": ["/bin/sh","-c","nginx -s quit; while killall -0 nginx; do sleep 1; done"]}}}"#;
    let lifecycle_env = format!("HOOKINIT_LIFECYCLE={lifecycle}");
    // The postStart message, on its own container (the drain run below
    // checks the stop).
    {
        let c = Container::start("demo-poststart", image, &["-e", &lifecycle_env], NGINX);
        c.wait_for("hookinit: HookSucceeded hook=PostStart handler=exec");
        let message = c.exec_ok(&[], &["cat", "/usr/share/message"]);
        assert_eq!(message, "Hello from the postStart handler\n");
    }
    let d = stop_during_download("demo", image, &["-e", &lifecycle_env]);
    assert_drained(&d);
    d.logs.assert_order(
        &d.logs.err,
        &[
            "hookinit: HookSucceeded hook=PostStart handler=exec",
            "hookinit: Killing: stopping the container: received SIGTERM",
            "hookinit: HookStarted hook=PreStop handler=exec",
        ],
    );
    // nginx's own lines, on QUIT from `nginx -s quit` (the order of lines
    // from different writers of one stream is only checked within each).
    d.logs.assert_order(
        &d.logs.err,
        &["(SIGQUIT) received", "gracefully shutting down"],
    );
    // Today the PreStop is cancelled when nginx exits during it; once it may
    // finish, it succeeds (`killall -0` finds no nginx): never a failure.
    assert!(
        !d.logs.err.contains("FailedPreStopHook"),
        "{}",
        d.logs.all()
    );
}

/// `HOOKINIT_STOP_SIGNAL=SIGQUIT`, no PreStop: `docker stop` sends TERM,
/// hookinit gives nginx QUIT (graceful shutdown), the download completes.
#[test]
fn stop_signal_quit_drains_a_download() {
    let Some(image) = setup("stop_signal_quit_drains_a_download") else {
        return;
    };
    let d = stop_during_download("quit", image, &["-e", "HOOKINIT_STOP_SIGNAL=SIGQUIT"]);
    assert_drained(&d);
    d.logs.assert_order(
        &d.logs.err,
        &[
            "hookinit: Killing: stopping the container: received SIGTERM",
            "hookinit: StopSignalSent: sent SIGQUIT to the app",
        ],
    );
    // nginx's master on QUIT (logged around hookinit's line: no order across writers).
    assert!(
        d.logs.err.contains("signal 3 (SIGQUIT) received from 1")
            && d.logs.err.contains("gracefully shutting down"),
        "{}",
        d.logs.all()
    );
}

/// `HOOKINIT_PRE_STOP_DRAINS` (a way to drain without a wait loop): with
/// the knob, a PreStop that only asks nginx to quit (`nginx -s quit` returns
/// at once) drains, because
/// hookinit then waits for the app to exit and sends the stop signal only
/// when the app's reserve begins. nginx drains in ~5 s of a 15 s grace, so
/// no stop signal is expected at all.
#[test]
fn prestop_drains_knob_nginx_quit_completes_a_download() {
    let Some(image) = setup("prestop_drains_knob_nginx_quit_completes_a_download") else {
        return;
    };
    let d = stop_during_download(
        "drains",
        image,
        &[
            "-e",
            "HOOKINIT_PRE_STOP_DRAINS=1",
            "-e",
            r#"HOOKINIT_PRE_STOP=["nginx","-s","quit"]"#,
        ],
    );
    assert_drained(&d);
    d.logs.assert_order(
        &d.logs.err,
        &[
            "hookinit: Killing: stopping the container: received SIGTERM",
            "hookinit: HookSucceeded hook=PreStop handler=exec",
        ],
    );
    d.logs.assert_order(
        &d.logs.err,
        &["(SIGQUIT) received", "gracefully shutting down"],
    );
    // The app drained and exited on its own: no stop signal was needed.
    assert!(!d.logs.err.contains("StopSignalSent"), "{}", d.logs.all());
}

/// The trap the drain knob avoids, as a control for the drain tests: a PreStop
/// that only asks (`nginx -s quit`) with the default (Kubernetes) semantics
/// is followed at once by TERM, nginx's fast shutdown, which cuts the
/// download.
#[test]
fn nginx_quit_alone_then_term_cuts_a_download() {
    let Some(image) = setup("nginx_quit_alone_then_term_cuts_a_download") else {
        return;
    };
    let d = stop_during_download(
        "cut",
        image,
        &["-e", r#"HOOKINIT_PRE_STOP=["nginx","-s","quit"]"#],
    );
    let all = d.logs.all();
    assert_eq!(d.response.status, 200, "{all}");
    assert!(
        d.response.body.len() < BIG_LEN,
        "the download was not cut\n{all}"
    );
    assert!(
        big_content().starts_with(&d.response.body),
        "the bytes that arrived differ from the file"
    );
    assert!(d.stop_took < Duration::from_secs(3), "{all}");
    d.logs.assert_order(
        &d.logs.err,
        &[
            "hookinit: HookSucceeded hook=PreStop handler=exec",
            "hookinit: StopSignalSent: sent SIGTERM to the app",
        ],
    );
}

/// `docker kill -s HUP` (reload) and `-s USR1` (reopen the logs, what
/// logrotate sends), 50 rounds each, every round waiting until nginx has
/// acted on it; no `[emerg]` or `[alert]` line may appear. Returns the
/// number of such lines and the log.
fn hup_usr1_rounds(test: &str, image: &str, opts: &[&str]) -> (Vec<String>, Logs) {
    const ROUNDS: usize = 50;
    let c = Container::start(test, image, opts, NGINX);
    wait_nginx(&c);
    let hookinit = c.pid();
    let master = {
        let kids = common::children(hookinit);
        assert_eq!(kids.len(), 1, "hookinit's children: {kids:?}");
        kids[0]
    };
    let workers = || -> Vec<i32> {
        common::children(master)
            .into_iter()
            .filter(|p| e2e::proc_state(*p).is_some_and(|(_, _, s)| s != 'Z'))
            .collect()
    };
    let started = Instant::now();
    for round in 0..ROUNDS {
        let old = workers();
        docker_ok(&["kill", "-s", "HUP", &c.name]);
        // New workers up, the old ones gone.
        let ok = common::eventually(Duration::from_secs(10), || {
            let now = workers();
            now.len() == 2 && now.iter().all(|p| !old.contains(p))
        });
        assert!(
            ok,
            "HUP round {round}: workers {old:?} -> {:?}\n{}",
            workers(),
            c.logs().all()
        );
    }
    // nginx's master, at its first reopen, chowns the log files to the
    // workers' user: here that is the container's stdout and stderr pipes
    // (`/proc/self/fd/1`, `/2`), so only the first USR1 of a container can
    // race with workers reopening them on their own (as www-data, before the
    // chown: EACCES). Each round first hands the pipes back to root, the
    // state of a freshly started container, so that every round is a first
    // one (measured: 21 of 30 rounds fail with group signalling, 0 of 30
    // with the app only; without the reset only the first round can fail).
    let pipe_owner = |fd: i32| -> Option<u32> {
        use std::os::unix::fs::MetadataExt;
        fs::metadata(format!("/proc/{master}/fd/{fd}"))
            .ok()
            .map(|m| m.uid())
    };
    let mut failed_rounds = 0;
    for round in 0..ROUNDS {
        let errors_before = nginx_errors(&c.logs()).len();
        for fd in [1, 2] {
            let path = std::ffi::CString::new(format!("/proc/{master}/fd/{fd}")).unwrap();
            assert_eq!(
                // SAFETY: chown of a NUL-terminated path we own.
                unsafe { libc::chown(path.as_ptr(), 0, 0) },
                0,
                "chown {path:?}"
            );
        }
        docker_ok(&["kill", "-s", "USR1", &c.name]);
        // The master logs the signal, reopens (the pipes are www-data's
        // again), and its workers reopen next.
        c.wait_for_n("(SIGUSR1) received", round + 1, Duration::from_secs(10));
        let reopened = common::eventually(Duration::from_secs(10), || {
            pipe_owner(1) != Some(0) && pipe_owner(2) != Some(0)
        });
        assert!(
            reopened,
            "USR1 round {round}: the master did not reopen the logs\n{}",
            c.logs().all()
        );
        thread::sleep(Duration::from_millis(100));
        if nginx_errors(&c.logs()).len() > errors_before {
            failed_rounds += 1;
        }
    }
    thread::sleep(Duration::from_millis(500));
    assert_eq!(c.inspect("{{.State.Running}}"), "true");
    let logs = c.logs();
    let errors = nginx_errors(&logs);
    eprintln!(
        "{test}: {ROUNDS} HUP + {ROUNDS} USR1 rounds in {:.1}s, {} [emerg]/[alert] lines, in {failed_rounds} USR1 rounds",
        started.elapsed().as_secs_f64(),
        errors.len()
    );
    c.stop(10);
    (errors, logs)
}

/// The default signal target is the app only (`HOOKINIT_SIGNAL_GROUP=0`):
/// with group signalling nginx's workers get USR1 directly as well as from
/// the master, try to reopen the logs as
/// www-data before the master has handed the pipes to www-data, and log
/// `[emerg] open() "/var/log/nginx/error.log" failed (13: Permission
/// denied)`: measured in 37 to 45 of the 50 USR1 rounds (115 to 138 lines),
/// against 0 with `HOOKINIT_SIGNAL_GROUP=0` (the next test).
#[test]
fn nginx_hup_and_usr1_rounds_with_default_settings() {
    let Some(image) = setup("nginx_hup_and_usr1_rounds_with_default_settings") else {
        return;
    };
    let (errors, logs) = hup_usr1_rounds("rounds-default", image, &[]);
    assert!(
        errors.is_empty(),
        "{} error lines:\n{}\n{}",
        errors.len(),
        errors.join("\n"),
        logs.all()
    );
}

/// The same rounds with the app-only signal target set explicitly.
#[test]
fn nginx_hup_and_usr1_rounds_signalling_the_app_only() {
    let Some(image) = setup("nginx_hup_and_usr1_rounds_signalling_the_app_only") else {
        return;
    };
    let (errors, logs) = hup_usr1_rounds("rounds-app", image, &["-e", "HOOKINIT_SIGNAL_GROUP=0"]);
    assert!(
        errors.is_empty(),
        "{} error lines:\n{}\n{}",
        errors.len(),
        errors.join("\n"),
        logs.all()
    );
}

/// nginx's own configuration for the reload test, on a bind mount the test
/// edits: `/version` answers what `version.conf` says.
const RELOAD_CONF: &str = r#"user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log off;
    server { listen 80 default_server; include /conf/version.conf; }
}
"#;

/// The body of `GET path` from nginx in the container of host pid `pid`.
fn get(pid: i32, path: &str) -> String {
    let r = download(pid, path).finish();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    String::from_utf8_lossy(&r.body).into_owned()
}

/// `HOOKINIT_RELOAD` with `nginx -t`, as systemd's `ExecReload` habit: a
/// HUP with a broken configuration is not forwarded (nginx never logs it,
/// keeps its worker and serves the old configuration); once the
/// configuration is fixed, the next HUP reaches nginx and it reloads.
#[test]
fn nginx_reload_hook_keeps_a_broken_config_from_reaching_nginx() {
    let Some(image) = setup("nginx_reload_hook_keeps_a_broken_config_from_reaching_nginx") else {
        return;
    };
    let dir = common::TempDir::new("nginx-reload");
    fs::write(dir.path("nginx.conf"), RELOAD_CONF).unwrap();
    let version = dir.path("version.conf");
    fs::write(&version, "location = /version { return 200 \"v1\\n\"; }\n").unwrap();
    let mount = format!("{}:/conf", dir.0.display());
    let c = Container::start(
        "nginx-reload",
        image,
        &[
            "-v",
            &mount,
            "-e",
            r#"HOOKINIT_RELOAD=["nginx","-t","-c","/conf/nginx.conf"]"#,
        ],
        &["nginx", "-c", "/conf/nginx.conf", "-g", "daemon off;"],
    );
    c.wait_for_n("start worker process ", 1, e2e::LOG_TIMEOUT);
    let pid = c.pid();
    let master = common::children(pid)[0];
    let workers = || common::children(master);
    let first = workers();
    assert_eq!(get(pid, "/version"), "v1\n");

    // Broken: a brace missing. nginx -t fails; nginx never hears of it.
    fs::write(&version, "location = /version { return 200 \"v2\\n\";\n").unwrap();
    docker_ok(&["kill", "-s", "HUP", &c.name]);
    let logs = c.wait_for("ReloadNotForwarded");
    let all = logs.all();
    assert!(
        all.lines().any(|l| l.starts_with("hookinit: FailedReloadHook hook=Reload handler=exec: Reload hook failed: command 'nginx -t -c /conf/nginx.conf' exited with 1: ")
            && l.contains(" [emerg] ")
            && l.ends_with(": unexpected end of file, expecting \"}\" in /conf/version.conf:2 | nginx: configuration file /conf/nginx.conf test failed")),
        "{all}"
    );
    assert!(
        all.contains("hookinit: ReloadNotForwarded: SIGHUP is not forwarded\n"),
        "{all}"
    );
    assert!(!all.contains("(SIGHUP) received"), "{all}");
    assert_eq!(get(pid, "/version"), "v1\n");
    assert_eq!(workers(), first);

    // Fixed: the next HUP reaches nginx, which reloads.
    fs::write(&version, "location = /version { return 200 \"v2\\n\"; }\n").unwrap();
    docker_ok(&["kill", "-s", "HUP", &c.name]);
    let logs = c.wait_for("ReloadSignalSent");
    assert!(
        logs.all()
            .contains("hookinit: ReloadSignalSent: sent SIGHUP to the app (pid "),
        "{}",
        logs.all()
    );
    c.wait_for("signal 1 (SIGHUP) received");
    let reloaded = common::eventually(Duration::from_secs(10), || get(pid, "/version") == "v2\n");
    assert!(reloaded, "{}", c.logs().all());
    let logs = c.logs();
    assert_eq!(
        logs.all().matches("(SIGHUP) received").count(),
        1,
        "{}",
        logs.all()
    );
    assert_eq!(logs.all().matches("HookStarted hook=Reload").count(), 2);
    c.stop(10);
    assert_eq!(c.exit_code(), 0, "{}", c.logs().all());
}

// ---- PostgreSQL ----------------------------------------------------------------------------

/// postgres in the foreground as the postgres user, on `volume` (its data
/// directory; Docker copies the image's fresh cluster into the empty volume).
fn start_postgres(test: &str, image: &str, volume: &Volume, opts: &[&str]) -> Container {
    let mount = format!("{}:{PG_DATA}", volume.name);
    let mut all = vec!["-v", mount.as_str()];
    all.extend(opts);
    let postgres = format!("{PG_BIN}/postgres");
    let c = Container::start(
        test,
        image,
        &all,
        &[
            "setpriv",
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            &postgres,
            "-c",
            "config_file=/etc/postgresql/15/main/postgresql.conf",
        ],
    );
    c.wait_for("database system is ready to accept connections");
    c
}

fn psql(c: &Container, sql: &str) -> String {
    c.exec_ok(
        &["-u", "postgres"],
        &[
            "psql",
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ],
    )
}

/// Rows written, and an idle client connected (a `psql` reading from a pipe
/// nobody writes to), seen idle in `pg_stat_activity`.
fn rows_and_idle_client(c: &Container) {
    psql(
        c,
        "CREATE TABLE kept (i int); INSERT INTO kept SELECT generate_series(1, 1000);",
    );
    docker_ok(&[
        "exec",
        "-d",
        "-u",
        "postgres",
        &c.name,
        "sh",
        "-c",
        "sleep 600 | psql -X",
    ]);
    let idle = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'idle'";
    let ok = common::eventually(Duration::from_secs(10), || psql(c, idle).trim() == "1");
    assert!(ok, "no idle client\n{}", c.logs().all());
}

/// A new container on the same volume, no hooks: its log up to "ready", and
/// the rows.
fn restart_on(test: &str, image: &str, volume: &Volume) -> (Logs, String) {
    let c = start_postgres(test, image, volume, &[]);
    let rows = psql(&c, "SELECT count(*), sum(i) FROM kept");
    (c.logs(), rows.trim().to_string())
}

/// The line PostgreSQL logs at start about how it was stopped.
fn shutdown_line(logs: &Logs) -> String {
    logs.err
        .lines()
        .find(|l| l.contains("database system was"))
        .unwrap_or("(none)")
        .to_string()
}

const PG_PRE_STOP: &str = r#"HOOKINIT_PRE_STOP=["su","postgres","-c","/usr/lib/postgresql/15/bin/pg_ctl stop -m fast -D /var/lib/postgresql/15/main"]"#;

/// With an idle client connected, `docker stop` with a PreStop `pg_ctl stop
/// -m fast` (which sends INT and waits for the postmaster to exit) is a clean
/// shutdown: fast, exit 0, and on a restart on the same volume PostgreSQL
/// says it was shut down, with no recovery, and the rows are there.
#[test]
fn postgres_prestop_fast_shutdown_is_clean_with_an_idle_client() {
    let Some(image) = setup("postgres_prestop_fast_shutdown_is_clean_with_an_idle_client") else {
        return;
    };
    let volume = Volume::create("pgdata");
    let (took, code, logs) = {
        let c = start_postgres(
            "pg-prestop",
            image,
            &volume,
            &["-e", "HOOKINIT_GRACE_PERIOD=8", "-e", PG_PRE_STOP],
        );
        rows_and_idle_client(&c);
        let took = c.stop(10);
        (took, c.exit_code(), c.logs())
    };
    eprintln!(
        "postgres with PreStop pg_ctl: docker stop took {:.2}s, exit {code}",
        took.as_secs_f64()
    );
    assert_eq!(code, 0, "{}", logs.all());
    assert!(
        took < Duration::from_secs(3),
        "took {took:?}\n{}",
        logs.all()
    );
    logs.assert_order(
        &logs.err,
        &[
            "hookinit: Killing: stopping the container: received SIGTERM",
            "hookinit: HookStarted hook=PreStop handler=exec",
        ],
    );
    // The postmaster's own lines (no order across writers).
    logs.assert_order(
        &logs.err,
        &[
            "received fast shutdown request",
            "database system is shut down",
        ],
    );
    assert!(!logs.err.contains("SigkillSent"), "{}", logs.all());

    let (restart, rows) = restart_on("pg-prestop-restart", image, &volume);
    let line = shutdown_line(&restart);
    eprintln!("postgres restart after PreStop pg_ctl: {line}");
    assert!(
        line.contains("database system was shut down at"),
        "{}",
        restart.all()
    );
    for bad in [
        "was interrupted",
        "automatic recovery",
        "not properly shut down",
    ] {
        assert!(!restart.err.contains(bad), "{bad:?}\n{}", restart.all());
    }
    assert_eq!(rows, "1000|500500");
}

/// An "ask, then wait" PreStop may finish after the app exits (the
/// postmaster exits during `pg_ctl stop`: cancelling the hook there,
/// `HookCancelled`, would lose its last output line). Wanted: the
/// PreStop logged as `HookSucceeded`, with pg_ctl's whole output (`waiting for
/// server to shut down.... done`, `server stopped`) in the container's log.
#[test]
fn postgres_prestop_is_logged_as_succeeded_with_its_output() {
    let Some(image) = setup("postgres_prestop_is_logged_as_succeeded_with_its_output") else {
        return;
    };
    let volume = Volume::create("pgdata");
    let c = start_postgres(
        "pg-output",
        image,
        &volume,
        &["-e", "HOOKINIT_GRACE_PERIOD=8", "-e", PG_PRE_STOP],
    );
    rows_and_idle_client(&c);
    c.stop(10);
    assert_eq!(c.exit_code(), 0, "{}", c.logs().all());
    let logs = c.logs();
    logs.assert_order(
        &logs.err,
        &[
            "hookinit: HookStarted hook=PreStop handler=exec",
            "hookinit: HookSucceeded hook=PreStop handler=exec",
        ],
    );
    assert!(!logs.err.contains("HookCancelled"), "{}", logs.all());
    // The hook's output is on the container's stdout.
    logs.assert_order(
        &logs.out,
        &["waiting for server to shut down", "done", "server stopped"],
    );
}

/// The control: no hooks and TERM, PostgreSQL's *smart* shutdown, waits for
/// the idle client; hookinit SIGKILLs it at the grace deadline (3 s here),
/// and the next start needs crash recovery.
#[test]
fn postgres_without_prestop_is_killed_waiting_for_an_idle_client() {
    let Some(image) = setup("postgres_without_prestop_is_killed_waiting_for_an_idle_client") else {
        return;
    };
    let volume = Volume::create("pgdata");
    let (took, code, logs) = {
        let c = start_postgres(
            "pg-plain",
            image,
            &volume,
            &["-e", "HOOKINIT_GRACE_PERIOD=3"],
        );
        rows_and_idle_client(&c);
        let took = c.stop(10);
        (took, c.exit_code(), c.logs())
    };
    eprintln!(
        "postgres without hooks: docker stop took {:.2}s, exit {code}",
        took.as_secs_f64()
    );
    assert_eq!(code, 137, "{}", logs.all());
    assert!(
        took >= Duration::from_millis(2800) && took < Duration::from_secs(6),
        "took {took:?}\n{}",
        logs.all()
    );
    logs.assert_order(
        &logs.err,
        &[
            "hookinit: StopSignalSent: sent SIGTERM to the app",
            "hookinit: SigkillSent",
        ],
    );
    // The postmaster's line (no order across writers of one stream).
    assert!(
        logs.err.contains("received smart shutdown request"),
        "{}",
        logs.all()
    );
    let (restart, rows) = restart_on("pg-plain-restart", image, &volume);
    eprintln!(
        "postgres restart after SIGKILL: {}",
        shutdown_line(&restart)
    );
    restart.assert_order(
        &restart.err,
        &[
            "database system was interrupted",
            "automatic recovery in progress",
        ],
    );
    assert_eq!(rows, "1000|500500");
}

// ---- the ready file across docker kill + docker start ------------------------------------------

/// Seconds since the epoch of an RFC 3339 UTC time as Docker prints it
/// (`2026-11-26T06:50:01.123456789Z`).
fn rfc3339(t: &str) -> f64 {
    let t = t.trim().trim_matches('"');
    let (date, time) = t.split_once('T').unwrap_or_else(|| panic!("time {t:?}"));
    let time = time.trim_end_matches('Z');
    let mut d = date.split('-').map(|x| x.parse::<i64>().unwrap());
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut hms = time.split(':');
    let h: f64 = hms.next().unwrap().parse().unwrap();
    let mi: f64 = hms.next().unwrap().parse().unwrap();
    let s: f64 = hms.next().unwrap().parse().unwrap();
    days as f64 * 86_400.0 + h * 3600.0 + mi * 60.0 + s
}

/// hookinit removes the ready file at start (the file of the previous run
/// survives `docker kill`; left there, after `docker start` the HEALTHCHECK
/// (`test -f /tmp/ready`) would pass during the whole 4 s PostStart).
/// Wanted: no probe succeeds before PostStart has.
#[test]
fn killed_container_is_not_healthy_before_poststart_on_restart() {
    let Some(image) = setup("killed_container_is_not_healthy_before_poststart_on_restart") else {
        return;
    };
    let c = Container::start(
        "ready",
        image,
        &[
            "-e",
            r#"HOOKINIT_POST_START=["sleep","4"]"#,
            "-e",
            "HOOKINIT_READY_FILE=/tmp/ready",
            "--health-cmd",
            "test -f /tmp/ready",
            "--health-interval",
            "250ms",
            "--health-timeout",
            "5s",
            "--health-retries",
            "1000",
        ],
        NGINX,
    );
    let health = || c.inspect("{{.State.Health.Status}}");
    let ok = common::eventually(Duration::from_secs(20), || health() == "healthy");
    assert!(ok, "never healthy: {}\n{}", health(), c.logs().all());
    docker_ok(&["kill", &c.name]);
    assert_eq!(c.exit_code(), 137);
    docker_ok(&["start", &c.name]);
    let started = rfc3339(&c.inspect("{{.State.StartedAt}}"));
    // Every probe of this start: (seconds after the start, exit code).
    let mut probes: Vec<(f64, i64)> = Vec::new();
    let mut statuses: Vec<(f64, String)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let out = docker(&["inspect", "-f", "{{json .State.Health}}", &c.name]);
        let health: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let status = health["Status"].as_str().unwrap_or("").to_string();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        statuses.push((now - started, status.clone()));
        for p in health["Log"].as_array().into_iter().flatten() {
            let at = rfc3339(p["Start"].as_str().unwrap_or("")) - started;
            let code = p["ExitCode"].as_i64().unwrap_or(-1);
            if at > 0.0 && !probes.iter().any(|(t, _)| (t - at).abs() < 1e-6) {
                probes.push((at, code));
            }
        }
        if probes.iter().any(|(_, code)| *code == 0) || Instant::now() > end {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    probes.sort_by(|a, b| a.0.total_cmp(&b.0));
    let logs = c.logs();
    let first_ok = probes.iter().find(|(_, code)| *code == 0).map(|(t, _)| *t);
    eprintln!("ready file after restart: first passing probe at {first_ok:?} s; probes {probes:?}");
    let first_ok =
        first_ok.unwrap_or_else(|| panic!("no probe passed: {probes:?}\n{}", logs.all()));
    // PostStart sleeps 4 s from the start: a passing probe before 3.5 s saw a stale file.
    assert!(
        first_ok >= 3.5,
        "a probe passed {first_ok:.2}s after the restart, before PostStart ended: {probes:?}\nstatuses {statuses:?}\n{}",
        logs.all()
    );
    c.wait_for_n(
        "hookinit: HookSucceeded hook=PostStart",
        2,
        e2e::LOG_TIMEOUT,
    );
}
