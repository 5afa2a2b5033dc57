//! The optional `https` build: httpGet hooks over TLS against a local
//! `openssl s_server` with a self-signed certificate (not verified, as the
//! kubelet does not verify). The default build rejects HTTPS hooks as a
//! configuration error (tests/config_errors.rs).
//!
//! Needs musl-gcc (Debian's musl-tools, for ring) and openssl; without them
//! the tests skip, unless `E2E_REQUIRE_HTTPS=1` (CI), which makes them fail.

mod common;
use common::*;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The https build, made once in its own target directory (the default
/// release binary stays as it is).
fn https_bin() -> Option<PathBuf> {
    static BIN: OnceLock<Option<PathBuf>> = OnceLock::new();
    BIN.get_or_init(|| {
        let required = std::env::var("E2E_REQUIRE_HTTPS").as_deref() == Ok("1");
        let missing: Vec<&str> = ["musl-gcc", "openssl"]
            .into_iter()
            .filter(|tool| {
                !Command::new("sh")
                    .args(["-c", &format!("command -v {tool}")])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .collect();
        if !missing.is_empty() {
            assert!(
                !required,
                "E2E_REQUIRE_HTTPS=1 but {missing:?} not installed (scripts/setup)"
            );
            eprintln!(
                "skipping https tests: {missing:?} not installed (scripts/setup installs them)"
            );
            return None;
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let ok = Command::new(root.join("scripts/build"))
            .env("HOOKINIT_FEATURES", "https")
            .env("CARGO_TARGET_DIR", root.join("target/https"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "scripts/build with HOOKINIT_FEATURES=https failed");
        Some(root.join("target/https/x86_64-unknown-linux-musl/release/hookinit"))
    })
    .clone()
}

/// `openssl s_server -www` on a free loopback port; killed on drop.
struct TlsServer {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl TlsServer {
    fn start() -> TlsServer {
        let dir = TempDir::new("tls");
        let (key, cert) = (dir.path("key.pem"), dir.path("cert.pem"));
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(made, "openssl req failed");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-quiet",
                "-www",
                "-accept",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("-key")
            .arg(&key)
            .arg("-cert")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let up = eventually(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "openssl s_server did not listen on {port}");
        TlsServer {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(bin: &PathBuf, env: &[(&str, &str)], app: &str) -> Finished {
    let mut cmd = Command::new(bin);
    cmd.args(["--", "sh", "-c", app])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Running::start(cmd, false).wait(Duration::from_secs(30))
}

#[test]
fn https_post_start_succeeds_against_a_self_signed_server() {
    let Some(bin) = https_bin() else { return };
    let server = TlsServer::start();
    let hook = format!(
        r#"{{"httpGet":{{"scheme":"HTTPS","port":{},"path":"/"}}}}"#,
        server.port
    );
    let t = Instant::now();
    let f = run(&bin, &[("HOOKINIT_POST_START", &hook)], "sleep 0.5; exit 4");
    assert_eq!(f.code, Some(4), "{f:#?}");
    let ok = "HookSucceeded hook=PostStart handler=httpGet: PostStart hook succeeded";
    assert!(f.stderr.contains(ok), "{f:#?}");
    assert!(!f.stderr.contains("FailedPostStartHook"), "{f:#?}");
    assert!(t.elapsed() < Duration::from_secs(10), "{f:#?}");
}

#[test]
fn https_pre_stop_to_a_closed_port_fails_and_the_stop_goes_on() {
    let Some(bin) = https_bin() else { return };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = format!(r#"{{"httpGet":{{"scheme":"HTTPS","port":{port}}}}}"#);
    let mut cmd = Command::new(&bin);
    cmd.args([
        "--",
        "sh",
        "-c",
        "trap 'echo APP-TERM; exit 0' TERM; echo APP-READY; while :; do sleep 0.05; done",
    ])
    .env_clear()
    .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
    .env("HOOKINIT_PRE_STOP", &hook)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let running = Running::start(cmd, false);
    running.wait_for("APP-READY", Duration::from_secs(10));
    running.signal(libc::SIGTERM);
    let f = running.wait(Duration::from_secs(15));
    assert_eq!(f.code, Some(0), "{f:#?}");
    let failed = format!("FailedPreStopHook hook=PreStop handler=httpGet: PreStop hook failed: GET https://127.0.0.1:{port}/");
    assert!(f.stderr.contains(&failed), "{f:#?}");
    assert!(f.stdout.contains("APP-TERM"), "{f:#?}");
}

/// httpGet probes over TLS: a readiness probe against the self-signed
/// server makes the container ready (the body read over TLS), a liveness
/// probe to a closed port fails with the kubelet's `Get "URL": ...`.
#[test]
fn https_probes_succeed_and_fail() {
    let Some(bin) = https_bin() else { return };
    let server = TlsServer::start();
    let dir = TempDir::new("https-ready");
    let ready = dir.path("ready");
    let probe = |port: u16| {
        format!(
            r#"{{"httpGet":{{"scheme":"HTTPS","port":{port}}},"periodSeconds":1,"failureThreshold":1}}"#
        )
    };
    let app = format!(
        "for i in $(seq 50); do [ -e {0} ] && exit 0; sleep 0.1; done; exit 9",
        ready.display()
    );
    let f = run(
        &bin,
        &[
            ("HOOKINIT_READINESS_PROBE", &probe(server.port)),
            ("HOOKINIT_READY_FILE", ready.to_str().unwrap()),
        ],
        &app,
    );
    assert_eq!(f.code, Some(0), "never ready: {f:#?}");
    assert!(!f.stderr.contains("probe failed"), "{f:#?}");

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let f = run(
        &bin,
        &[("HOOKINIT_LIVENESS_PROBE", &probe(closed))],
        "sleep 10",
    );
    assert_eq!(f.code, Some(5), "{f:#?}");
    let want = format!(
        "Liveness probe failed: Get \"https://127.0.0.1:{closed}/\": \
         connect to 127.0.0.1:{closed}: Connection refused"
    );
    assert!(f.stderr.contains(&want), "{f:#?}");
}
