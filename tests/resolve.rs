//! Handler host names resolved by hookinit's own resolver, end to end: the
//! release binary in a mount namespace whose `/etc/resolv.conf` names a
//! DNS server run by the test (UDP on 127.0.53.53:53), with a search list
//! and `ndots`, as Kubernetes writes it.

mod common;
use common::*;

use serde_json::json;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const SERVER: [u8; 4] = [127, 0, 53, 53];

/// Answers A queries for `web.svc.test` with 127.0.0.1, AAAA ones with no
/// address, every other name with NXDOMAIN; logs each question as
/// `name/type`.
fn dns_server() -> Arc<Mutex<Vec<String>>> {
    let sock = UdpSocket::bind(SocketAddr::from((SERVER, 53))).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let q = &buf[..n];
            let mut at = 12;
            let mut labels = Vec::new();
            while q[at] != 0 {
                let l = q[at] as usize;
                labels.push(String::from_utf8_lossy(&q[at + 1..at + 1 + l]).into_owned());
                at += l + 1;
            }
            let (name, qtype) = (labels.join("."), q[at + 2]);
            seen.lock().unwrap().push(format!("{name}/{qtype}"));
            let mut r = q[..at + 5].to_vec();
            r[2] = 0x81;
            r[3] = if name == "web.svc.test" { 0x80 } else { 0x83 };
            if name == "web.svc.test" && qtype == 1 {
                r[7] = 1;
                r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
            }
            sock.send_to(&r, from).unwrap();
        }
    });
    log
}

#[test]
fn names_resolve_through_the_search_list_and_an_unknown_one_fails_as_musl_said() {
    if !is_root() {
        eprintln!("skipped: needs root (mount namespace)");
        return;
    }
    let questions = dns_server();
    let dir = TempDir::new("resolve");
    let conf = dir.path("resolv.conf");
    std::fs::write(
        &conf,
        "search other.test svc.test\nnameserver 127.0.53.53\noptions ndots:2 timeout:2 attempts:2\n",
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let lifecycle = json!({
        "postStart": {"tcpSocket": {"host": "web", "port": port}},
        "preStop": {"tcpSocket": {"host": "nowhere", "port": port}},
    })
    .to_string();
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "/bin/sh", "-c"])
        .arg("mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
        .arg(&conf)
        .arg(bin())
        .args(["--", "/bin/sh", "-c"])
        .arg("trap 'echo APP-TERM; exit 0' TERM; echo APP-READY; while :; do sleep 1 & wait $!; done 2>/dev/null")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOOKINIT_LIFECYCLE", &lifecycle)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let init = Running::start(cmd, false);
    init.wait_for(
        "hookinit: HookSucceeded hook=PostStart handler=tcpSocket",
        Duration::from_secs(10),
    );
    init.wait_for("APP-READY", Duration::from_secs(10));
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_ok(), "PostStart never connected");
    init.signal(libc::SIGTERM);
    let f = init.wait(Duration::from_secs(20));
    assert_eq!(f.code, Some(0), "{f:#?}");
    let failed: Vec<&str> = events(&f.stderr, "FailedPreStopHook");
    assert_eq!(failed.len(), 1, "{f:#?}");
    assert!(
        failed[0].contains(&format!(
            "PreStop hook failed: cannot resolve nowhere:{port}: \
             failed to lookup address information: Name does not resolve"
        )),
        "{}",
        failed[0]
    );
    // Each name with every search domain first (fewer than 2 dots), A and
    // AAAA; the first domain that has the name ends the search.
    let mut asked = questions.lock().unwrap().clone();
    asked.dedup();
    let pairs = |names: &[&str]| -> Vec<String> {
        names
            .iter()
            .flat_map(|n| [format!("{n}/1"), format!("{n}/28")])
            .collect()
    };
    let mut expected = pairs(&["web.other.test", "web.svc.test"]);
    expected.extend(pairs(&[
        "nowhere.other.test",
        "nowhere.svc.test",
        "nowhere",
    ]));
    let mut sorted = asked.clone();
    sorted.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(sorted, want, "{asked:?}");
    let position = |s: &str| asked.iter().position(|a| a == s).unwrap();
    assert!(position("web.other.test/1") < position("web.svc.test/1"));
    assert!(position("nowhere.svc.test/1") < position("nowhere/1"));
}
