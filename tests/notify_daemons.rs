//! Real Debian daemons that speak systemd's notify protocol (linked with
//! libsystemd), unmodified, under hookinit as PID 1 with
//! `HOOKINIT_NOTIFY_SOCKET=1`: PostgreSQL 15, HAProxy `-Ws`, php-fpm,
//! unbound, rsyslog, OpenSSH's sshd and squid. Each must make the ready file
//! appear within milliseconds of its `READY=1` (hookinit's events, and
//! PostgreSQL's own log), serve when it does, say exactly what the README's
//! compatibility table says it says, and stop cleanly on SIGTERM.
//!
//! Needs root and the Debian packages (scripts/setup installs them).
//! Without them every test prints why and passes, unless
//! `E2E_REQUIRE_SERVERS=1` (CI), which makes it fail.

mod common;
use common::*;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const REQUIRE: &str = "E2E_REQUIRE_SERVERS";

/// Whether the test can run: root and `binary`; else skipped (or failed
/// under `E2E_REQUIRE_SERVERS=1`).
fn can_run(test: &str, binary: &str) -> bool {
    let why = if !is_root() {
        "not root".to_string()
    } else if !Path::new(binary).exists() {
        format!("{binary} is missing (scripts/setup installs it)")
    } else {
        return true;
    };
    if std::env::var(REQUIRE).is_ok_and(|v| v == "1") {
        panic!("{REQUIRE}=1, but {why}");
    }
    eprintln!("skipping {test}: {why}");
    false
}

/// A free TCP port on 127.0.0.1 (the kernel's pick, released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a daemon's run must show.
struct Expect<'a> {
    /// The `AppNotify`/`AppStatus`/`NotifyIgnored` messages, in order, up
    /// to the stop (repeats of a periodic `STATUS=` are counted once).
    before_stop: &'a [&'a str],
    /// Those after the stop signal.
    after_stop: &'a [&'a str],
    exit: i32,
    /// The daemon's first words on its port when it serves, if it speaks
    /// first; else a request and the start of the answer.
    greeting: Option<&'a str>,
    request: Option<(&'a str, &'a str)>,
    /// Stopped only once hookinit's events show this (a periodic message).
    wait_for: Option<&'a str>,
}

/// Runs `argv` under hookinit as PID 1 with a notify socket and a ready
/// file; checks that the daemon serves on `port` once the ready file is
/// there, its messages and its stop (panics), and the ready file's timing
/// against READY=1 (an error: see [`timed`]). Returns hookinit's output.
fn run_daemon(
    t: &TempDir,
    argv: &[&str],
    port: u16,
    expect: &Expect<'_>,
) -> Result<String, String> {
    let ready = t.path("ready");
    let mut r = Running::pid1(
        argv,
        &[
            ("HOOKINIT_NOTIFY_SOCKET", "1"),
            ("HOOKINIT_READY_FILE", ready.to_str().unwrap()),
            ("HOOKINIT_LOG_FORMAT", "json"),
        ],
    );
    assert!(
        eventually(secs(60.0), || ready.exists()),
        "never ready\nstdout: {}\nstderr: {}",
        r.stdout(),
        r.stderr()
    );
    // Ready means serving: the port answers at once.
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("ready, but not serving");
    c.set_read_timeout(Some(secs(5.0))).unwrap();
    if let Some((request, answer)) = expect.request {
        c.write_all(request.as_bytes()).unwrap();
        let mut got = vec![0; answer.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), answer);
    }
    if let Some(greeting) = expect.greeting {
        let mut got = vec![0; greeting.len()];
        c.read_exact(&mut got).unwrap();
        assert_eq!(String::from_utf8_lossy(&got), greeting);
    }
    drop(c);
    if let Some(needle) = expect.wait_for {
        r.wait_for(needle, secs(10.0));
    }
    let meta = std::fs::metadata(&ready).unwrap();
    let created = meta.mtime() as f64 + meta.mtime_nsec() as f64 / 1e9;
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(30.0));
    let events = json_events(&f.stderr);
    let said = |e: &&(f64, String, String, String)| {
        matches!(e.1.as_str(), "AppNotify" | "AppStatus" | "NotifyIgnored")
    };
    let stop = events.iter().position(|e| e.1 == "Killing").unwrap();
    let msgs = |range: &[(f64, String, String, String)]| -> Vec<String> {
        range.iter().filter(said).map(|e| e.3.clone()).collect()
    };
    let (before, after) = (msgs(&events[..stop]), msgs(&events[stop..]));
    assert!(
        in_order(&before, expect.before_stop) && in_order(&after, expect.after_stop),
        "said {before:?} then {after:?}, want {:?} then {:?}\n{}\n{}",
        expect.before_stop,
        expect.after_stop,
        f.stdout,
        f.stderr
    );
    assert_eq!(f.code, Some(expect.exit), "{}\n{}", f.stdout, f.stderr);
    // At once: the ready file and the Readiness event follow READY=1 in
    // the same wake-up. Event times are cut to the millisecond; the file's
    // time is the kernel's coarse clock (a tick, up to 10 ms, behind).
    let at = |name: &str, msg: &str| {
        events
            .iter()
            .find(|e| e.1 == name && e.3 == msg)
            .unwrap_or_else(|| panic!("no {name} {msg}: {}", f.stderr))
            .0
    };
    let sent = at("AppNotify", "the app sent READY=1");
    let readiness = at("Readiness", "the container is ready");
    eprintln!(
        "{}: READY=1 heard -> Readiness {:.1} ms, ready file {:.1} ms",
        argv[0],
        (readiness - sent) * 1e3,
        (created - sent) * 1e3
    );
    let late = readiness - sent > 0.002 || created - sent > 0.002;
    // Never before it (less a tick of the coarse clock).
    assert!(created - sent > -0.011, "{}", f.stderr);
    match late {
        false => Ok(f.stderr + &f.stdout),
        true => Err(format!(
            "Readiness {:.1} ms, ready file {:.1} ms after READY=1",
            (readiness - sent) * 1e3,
            (created - sent) * 1e3
        )),
    }
}

/// Whether `said` is `want` in order, each message starting with its
/// pattern, a message repeating the one before allowed (a periodic STATUS=).
fn in_order(said: &[String], want: &[&str]) -> bool {
    let mut next = 0;
    for s in said {
        if next < want.len() && s.starts_with(want[next]) {
            next += 1;
        } else if next == 0 || !s.starts_with(want[next - 1]) {
            return false;
        }
    }
    next == want.len()
}

const READY: &str = "the app sent READY=1";
const STOPPING: &str = "the app sent STOPPING=1: not ready";
fn mainpid(pid: u32) -> String {
    format!(
        "the app sent MAINPID={pid}: ignored, hookinit watches the pid it started (logged once)"
    )
}

#[test]
fn postgresql_is_ready_when_it_accepts_connections() {
    let bin = "/usr/lib/postgresql/15/bin";
    if !can_run("postgresql", &format!("{bin}/postgres")) {
        return;
    }
    let t = TempDir::new("notify-postgres");
    let data = t.path("data");
    let dir = t.0.to_str().unwrap();
    assert!(std::process::Command::new("chown")
        .args(["postgres", dir])
        .status()
        .unwrap()
        .success());
    let initdb = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--", &format!("{bin}/initdb")])
        .args(["-A", "trust", "--no-sync", "-D", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(initdb.status.success(), "{initdb:?}");
    let port = free_port();
    let (port_s, postgres) = (port.to_string(), format!("{bin}/postgres"));
    let argv = [
        "setpriv",
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
        &postgres,
        "-D",
        data.to_str().unwrap(),
        "-k",
        dir,
        "-p",
        &port_s,
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "log_line_prefix=%m ",
    ];
    let expect = Expect {
        before_stop: &[READY],
        after_stop: &[STOPPING],
        exit: 0,
        greeting: None,
        request: None,
        wait_for: None,
    };
    timed("postgres", || {
        let out = run_daemon(&t, &argv, port, &expect)?;
        // Its own log: "ready to accept connections", then READY=1 (both
        // times cut to the millisecond).
        let logged = out
            .lines()
            .find(|l| l.ends_with("database system is ready to accept connections"))
            .unwrap();
        let logged = rfc3339(&logged[..23].replacen(' ', "T", 1));
        let heard = json_events(&out)
            .into_iter()
            .find(|e| e.3 == READY)
            .unwrap()
            .0;
        let took = heard - logged;
        eprintln!(
            "postgres: logged ready -> READY=1 heard {:.1} ms",
            took * 1e3
        );
        assert!(took > -0.001, "{out}");
        match took < 0.01 {
            true => Ok(()),
            false => Err(format!("READY=1 heard {took}s after its log said ready")),
        }
    });
}

#[test]
fn haproxy_master_worker_is_ready_when_its_workers_are() {
    if !can_run("haproxy", "/usr/sbin/haproxy") {
        return;
    }
    let t = TempDir::new("notify-haproxy");
    let port = free_port();
    let cfg = format!(
        "global\n    log stderr format short local0\n\
         defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n\
         frontend f\n    bind 127.0.0.1:{port}\n    http-request return status 200\n"
    );
    std::fs::write(t.path("haproxy.cfg"), cfg).unwrap();
    let cfg = t.path("haproxy.cfg");
    let argv = ["haproxy", "-Ws", "-f", cfg.to_str().unwrap()];
    // Its master says RELOADING=1 as it loads, then READY=1 with its pid.
    let expect = Expect {
        before_stop: &[
            "the app sent RELOADING=1: not ready until its next READY=1",
            READY,
            &mainpid(2),
        ],
        after_stop: &[STOPPING],
        exit: 0,
        greeting: None,
        request: Some(("GET / HTTP/1.0\r\n\r\n", "HTTP/1.1 200")),
        wait_for: None,
    };
    timed(argv[0], || run_daemon(&t, &argv, port, &expect).map(drop));
}

#[test]
fn php_fpm_is_ready_and_reports_its_status() {
    if !can_run("php-fpm", "/usr/sbin/php-fpm8.2") {
        return;
    }
    let t = TempDir::new("notify-php-fpm");
    let port = free_port();
    let cfg = format!(
        "[global]\npid = {}\nerror_log = /proc/self/fd/2\ndaemonize = no\nsystemd_interval = 1\n\
         [www]\nuser = www-data\ngroup = www-data\nlisten = 127.0.0.1:{port}\npm = static\npm.max_children = 1\n",
        t.path("fpm.pid").display()
    );
    std::fs::write(t.path("fpm.conf"), cfg).unwrap();
    let cfg = t.path("fpm.conf");
    let argv = [
        "php-fpm8.2",
        "--nodaemonize",
        "--fpm-config",
        cfg.to_str().unwrap(),
    ];
    let expect = Expect {
        before_stop: &[
            READY,
            "the app's status: Ready to handle connections",
            &mainpid(2),
            "the app's status: Processes active: 0, idle: 1, Requests: ",
        ],
        after_stop: &[],
        exit: 0,
        greeting: None,
        request: None,
        // Its periodic STATUS= (systemd_interval, 1 s).
        wait_for: Some("Processes active"),
    };
    timed(argv[0], || run_daemon(&t, &argv, port, &expect).map(drop));
}

#[test]
fn unbound_is_ready_when_it_serves() {
    if !can_run("unbound", "/usr/sbin/unbound") {
        return;
    }
    let t = TempDir::new("notify-unbound");
    let port = free_port();
    let cfg = format!(
        "server:\n    interface: 127.0.0.1\n    port: {port}\n    username: \"\"\n    chroot: \"\"\n\
         \x20   directory: \"{}\"\n    pidfile: \"\"\n    do-daemonize: no\n    use-systemd: yes\n\
         \x20   use-syslog: no\n    logfile: \"\"\n    module-config: \"iterator\"\n",
        t.0.display()
    );
    std::fs::write(t.path("unbound.conf"), cfg).unwrap();
    let cfg = t.path("unbound.conf");
    let argv = ["unbound", "-d", "-c", cfg.to_str().unwrap()];
    let expect = Expect {
        before_stop: &[READY],
        after_stop: &[STOPPING],
        exit: 0,
        greeting: None,
        request: None,
        wait_for: None,
    };
    timed(argv[0], || run_daemon(&t, &argv, port, &expect).map(drop));
}

#[test]
fn rsyslog_is_ready_when_it_listens() {
    if !can_run("rsyslog", "/usr/sbin/rsyslogd") {
        return;
    }
    let t = TempDir::new("notify-rsyslog");
    let port = free_port();
    let cfg = format!(
        "module(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n*.* /dev/stdout\n"
    );
    std::fs::write(t.path("rsyslog.conf"), cfg).unwrap();
    let cfg = t.path("rsyslog.conf");
    let argv = ["rsyslogd", "-n", "-iNONE", "-f", cfg.to_str().unwrap()];
    let expect = Expect {
        before_stop: &[READY],
        after_stop: &[],
        exit: 0,
        greeting: None,
        request: None,
        wait_for: None,
    };
    timed(argv[0], || run_daemon(&t, &argv, port, &expect).map(drop));
}

#[test]
fn sshd_is_ready_when_it_listens() {
    if !can_run("sshd", "/usr/sbin/sshd") {
        return;
    }
    let t = TempDir::new("notify-sshd");
    let port = free_port();
    let key = t.path("host_key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
    // Its privilege separation directory (systemd's RuntimeDirectory).
    std::fs::create_dir_all("/run/sshd").unwrap();
    let cfg = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\n",
        key.display()
    );
    std::fs::write(t.path("sshd_config"), cfg).unwrap();
    let cfg = t.path("sshd_config");
    let argv = ["/usr/sbin/sshd", "-D", "-e", "-f", cfg.to_str().unwrap()];
    let expect = Expect {
        before_stop: &[READY],
        after_stop: &[],
        exit: 0,
        greeting: Some("SSH-2.0-OpenSSH_9.2p1"),
        request: None,
        wait_for: None,
    };
    timed(argv[0], || run_daemon(&t, &argv, port, &expect).map(drop));
}

#[test]
fn squid_in_one_process_is_ready_when_it_accepts() {
    if !can_run("squid", "/usr/sbin/squid") {
        return;
    }
    let t = TempDir::new("notify-squid");
    let port = free_port();
    let dir = t.0.to_str().unwrap();
    assert!(std::process::Command::new("chown")
        .args(["proxy", dir])
        .status()
        .unwrap()
        .success());
    let cfg = format!(
        "http_port 127.0.0.1:{port}\nhttp_access allow localhost\nhttp_access deny all\n\
         cache deny all\ncache_mem 1 MB\npid_filename none\ncache_log stdio:/dev/stderr\n\
         access_log none\nlogfile_rotate 0\ncoredump_dir {dir}\ncache_effective_user proxy\n\
         shutdown_lifetime 0 seconds\n"
    );
    std::fs::write(t.path("squid.conf"), cfg).unwrap();
    let cfg = t.path("squid.conf");
    // -N: one process, READY=1 once it accepts. With --foreground (Debian's
    // unit) its master says READY=1 when it has started its worker, before
    // that listens: the port may still refuse (seen here).
    let argv = ["squid", "-N", "-f", cfg.to_str().unwrap()];
    let expect = Expect {
        before_stop: &[READY],
        after_stop: &[],
        exit: 0,
        greeting: None,
        request: Some(("GET /x HTTP/1.0\r\n\r\n", "HTTP/1.1 400")),
        wait_for: None,
    };
    timed(argv[0], || run_daemon(&t, &argv, port, &expect).map(drop));
}
