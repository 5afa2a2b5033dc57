//! systemd's notify protocol heard from the app (`HOOKINIT_NOTIFY_SOCKET`),
//! through the real binary as PID 1: the socket is the app's alone,
//! READY/RELOADING/STOPPING drive the ready file at once, readiness needs
//! both READY=1 and the readiness probe, PostStart-after-startup waits for
//! READY=1, senders outside the app's tree are ignored, and a flood neither
//! slows signals nor grows memory or descriptors.
mod common;
use common::*;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::thread;
use std::time::Duration;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The test app: writes its `NOTIFY_SOCKET` to `DIR/socket`, then carries
/// out `DIR/cmdN` files in order: `A:MSG` sends MSG itself, `C:MSG` from a
/// child process (`send.py`), `B:N` from N forked children in turn, each
/// exiting (and reaped) as soon as its barrier is answered, `F:FILE` floods from a child until FILE
/// exists (oversized datagrams, descriptors, READY=1), `P:PERIOD FILE` sends
/// WATCHDOG=1 from a child every PERIOD seconds until FILE exists (the last
/// one's time in FILE.last). Each done is `DIR/sentN`,
/// holding the time just before it was sent (a bound from below for
/// anything hookinit does on it, however late this process runs after). SIGUSR1's arrival times go to `DIR/usr1`.
const APP: &str = r#"
import os, signal, socket, subprocess, sys, time
d = sys.argv[1]
here = os.path.dirname(os.path.abspath(__file__))
def put(name, text):
    open(f"{d}/{name}.tmp", "w").write(text)
    os.rename(f"{d}/{name}.tmp", f"{d}/{name}")
put("watchdog-env", os.environ.get("WATCHDOG_USEC", "unset"))
put("socket", os.environ.get("NOTIFY_SOCKET", "unset"))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
signal.signal(signal.SIGUSR1, lambda *a: open(f"{d}/usr1", "a").write(f"{time.time()}\n"))
sys.path.insert(0, here)
import send
n = 0
while True:
    p = f"{d}/cmd{n}"
    if os.path.exists(p):
        how, msg = open(p, "rb").read().split(b":", 1)
        t0 = time.time()
        if how == b"A":
            send.send(msg)
        elif how == b"C":
            subprocess.run([sys.executable, f"{here}/send.py", msg])
        elif how == b"B":
            for i in range(int(msg)):
                child = os.fork()
                if child == 0:
                    send.send(b"STATUS=child %d" % i, barrier=True)
                    os._exit(0)
                os.waitpid(child, 0)
        elif how == b"P":
            period, stop = msg.split(b" ")
            subprocess.Popen([sys.executable, f"{here}/send.py", "--ping", period, stop])
        else:
            subprocess.Popen([sys.executable, f"{here}/send.py", "--flood", msg, f"{d}/flood-done"])
        put(f"sent{n}", str(t0))
        n += 1
    time.sleep(0.002)
"#;

const SEND: &str = r#"
import os, socket, sys, time
def sock():
    addr = os.environ["NOTIFY_SOCKET"]
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.connect(addr)
    return s
def send(msg, barrier=False):
    s = sock()
    s.send(msg)
    if barrier:
        # sd_notify_barrier: wait until the receiver closed our descriptor,
        # so that this process is alive when its message is checked.
        r, w = os.pipe()
        socket.send_fds(s, [b"BARRIER=1"], [w])
        os.close(w)
        os.read(r, 1)
if __name__ == "__main__":
    if sys.argv[1] == "--ping":
        s, period, stop = sock(), float(sys.argv[2]), sys.argv[3]
        while not os.path.exists(stop):
            s.send(b"WATCHDOG=1")
            t = time.time()
            open(stop + ".tmp", "w").write(str(t))
            os.rename(stop + ".tmp", stop + ".last")
            time.sleep(period)
    elif sys.argv[1] == "--flood":
        s = sock()
        r = os.open("/dev/null", os.O_RDONLY)
        big = b"X" * 60000
        i = 0
        while i % 1000 or not os.path.exists(sys.argv[2]):
            i += 1
            try:
                if i % 3 == 0:
                    s.send(big)
                elif i % 3 == 1:
                    socket.send_fds(s, [b"FDSTORE=1"], [r, r, r])
                else:
                    s.send(b"READY=1")
            except BlockingIOError:
                pass
            except OSError:
                pass
        # Alive until hookinit has read it all (else: "exited before...").
        send(b"READY=1", barrier=True)
        open(sys.argv[3], "w").close()
    else:
        send(sys.argv[1].encode(), barrier=True)
"#;

/// A scratch directory with the app and its sender.
fn app_dir(tag: &str) -> TempDir {
    let t = TempDir::new(tag);
    std::fs::write(t.path("app.py"), APP).unwrap();
    std::fs::write(t.path("send.py"), SEND).unwrap();
    t
}

/// hookinit as PID 1 of the test app in `t`, with `env`.
fn run_app(t: &TempDir, env: &[(&str, &str)]) -> Running {
    Running::pid1(&["python3", s(&t.path("app.py")), s(&t.0)], env)
}

struct Driver<'a> {
    t: &'a TempDir,
    n: usize,
}

impl Driver<'_> {
    /// Hands the app `cmd`, without waiting; returns its number.
    fn order(&mut self, cmd: &str) -> usize {
        let n = self.n;
        self.n += 1;
        let tmp = self.t.path(&format!("cmd{n}.tmp"));
        std::fs::write(&tmp, cmd).unwrap();
        std::fs::rename(&tmp, self.t.path(&format!("cmd{n}"))).unwrap();
        n
    }

    /// Has the app send `cmd` (see [`APP`]); returns the time just before
    /// it was sent (seconds since the epoch).
    fn say(&mut self, cmd: &str) -> f64 {
        let n = self.order(cmd);
        let sent = self.t.path(&format!("sent{n}"));
        assert!(eventually(secs(10.0), || sent.exists()), "{cmd} never sent");
        self.t.read(&format!("sent{n}")).trim().parse().unwrap()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// When `path` was created, in seconds since the epoch (its mtime).
fn created(path: &Path) -> f64 {
    let m = std::fs::metadata(path).unwrap();
    m.mtime() as f64 + m.mtime_nsec() as f64 / 1e9
}

fn events<'a>(stderr: &'a str, name: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .filter(|l| l.starts_with(&format!("{name}:")) || l.starts_with(&format!("{name} ")))
        .collect()
}

#[test]
fn ready_reloading_and_stopping_from_the_app_drive_the_ready_file_at_once() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-ready");
    let ready = t.path("ready");
    let hook = format!(
        r#"["sh","-c","echo ${{NOTIFY_SOCKET-unset}} > {}"]"#,
        s(&t.path("hook"))
    );
    let r = run_app(
        &t,
        &[
            ("HOOKINIT_NOTIFY_SOCKET", "1"),
            ("HOOKINIT_READY_FILE", s(&ready)),
            ("HOOKINIT_POST_START", &hook),
            // hookinit's own (outer) socket is not the app's, and the hooks
            // keep hookinit's environment.
            ("NOTIFY_SOCKET", "/outer/socket"),
        ],
    );
    let mut d = Driver { t: &t, n: 0 };
    assert!(eventually(secs(10.0), || t.path("socket").exists()));
    let name = t.read("socket");
    assert!(
        name.starts_with('@') && name.len() > 1,
        "the app's NOTIFY_SOCKET: {name}"
    );
    assert!(eventually(secs(10.0), || t.path("hook").exists()));
    assert_eq!(t.read("hook").trim(), "/outer/socket");
    d.say("A:STATUS=warming up");
    r.wait_for("warming up", secs(5.0));
    assert!(!ready.exists(), "ready before READY=1");
    let mut latencies = Vec::new();
    for round in 0..5 {
        let sent = d.say("A:READY=1");
        assert!(eventually(secs(5.0), || ready.exists()), "round {round}");
        latencies.push(created(&ready) - sent);
        d.say("C:RELOADING=1");
        assert!(eventually(secs(5.0), || !ready.exists()), "round {round}");
    }
    d.say("A:READY=1\nMAINPID=77\nBOGUS=1");
    assert!(eventually(secs(5.0), || ready.exists()));
    d.say("A:STOPPING=1");
    assert!(eventually(secs(5.0), || !ready.exists()));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    // The mtime is taken at a clock tick: a little below the send time at worst.
    latencies.sort_by(f64::total_cmp);
    eprintln!("READY=1 -> ready file: {latencies:?}");
    // At once, not a probe period later; the median is what hookinit does,
    // the worst what a loaded machine adds.
    let (median, worst) = (latencies[2], latencies[4]);
    assert!(median < 0.005, "READY=1 to the ready file: {latencies:?}");
    assert!(worst < 0.5, "READY=1 to the ready file took {worst}s");
    let notify: Vec<_> = events(&f.stderr, "AppNotify")
        .into_iter()
        .map(|l| l.split_once(": ").unwrap().1)
        .collect();
    let mut want = Vec::new();
    for _ in 0..5 {
        want.push("the app sent READY=1");
        want.push("the app sent RELOADING=1: not ready until its next READY=1");
    }
    want.push("the app sent READY=1");
    want.push("the app sent STOPPING=1: not ready");
    assert_eq!(notify, want, "{}", f.stderr);
    assert_eq!(events(&f.stderr, "Readiness").len(), 12, "{}", f.stderr);
    assert_eq!(
        events(&f.stderr, "AppStatus"),
        ["AppStatus: the app's status: warming up"]
    );
    let ignored = events(&f.stderr, "NotifyIgnored");
    assert_eq!(ignored.len(), 2, "{}", f.stderr);
    assert!(ignored[0].contains("MAINPID=77: ignored"), "{ignored:?}");
    assert!(ignored[1].contains("BOGUS=1: ignored"), "{ignored:?}");
    assert_eq!(events(&f.stderr, "NotifySocket").len(), 1);
}

#[test]
fn ready_needs_both_ready_from_the_app_and_the_readiness_probe() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-probe");
    let (ready, ok) = (t.path("ready"), t.path("ok"));
    let probe = format!(
        r#"{{"exec":{{"command":["test","-e","{}"]}},"periodSeconds":1}}"#,
        s(&ok)
    );
    let r = run_app(
        &t,
        &[
            ("HOOKINIT_NOTIFY_SOCKET", "1"),
            ("HOOKINIT_READY_FILE", s(&ready)),
            ("HOOKINIT_READINESS_PROBE", &probe),
        ],
    );
    let mut d = Driver { t: &t, n: 0 };
    // The probe fails, READY=1 alone is not enough.
    d.say("A:READY=1");
    r.wait_for("sent READY=1", secs(5.0));
    thread::sleep(secs(1.5));
    assert!(!ready.exists(), "ready with a failing readiness probe");
    // The probe succeeds: ready.
    std::fs::write(&ok, "").unwrap();
    assert!(eventually(secs(5.0), || ready.exists()));
    // RELOADING=1 withdraws it though the probe succeeds; READY=1 restores it.
    d.say("A:RELOADING=1");
    assert!(eventually(secs(5.0), || !ready.exists()));
    d.say("A:READY=1");
    assert!(eventually(secs(5.0), || ready.exists()));
    // The probe fails: not ready, though the app says it is.
    std::fs::remove_file(&ok).unwrap();
    assert!(eventually(secs(5.0), || !ready.exists()));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let readiness: Vec<_> = events(&f.stderr, "Readiness");
    assert_eq!(
        readiness,
        [
            "Readiness: the container is ready",
            "Readiness: the container is not ready",
            "Readiness: the container is ready",
            "Readiness: the container is not ready"
        ],
        "{}",
        f.stderr
    );
}

#[test]
fn post_start_after_startup_waits_for_ready_from_the_app() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-poststart");
    let hook = format!(r#"["sh","-c","date +%s.%N > {}"]"#, s(&t.path("hook")));
    let r = run_app(
        &t,
        &[
            ("HOOKINIT_NOTIFY_SOCKET", "1"),
            ("HOOKINIT_POST_START", &hook),
            ("HOOKINIT_POST_START_AFTER_STARTUP", "1"),
        ],
    );
    let mut d = Driver { t: &t, n: 0 };
    assert!(eventually(secs(10.0), || t.path("socket").exists()));
    thread::sleep(secs(0.5));
    assert!(!t.path("hook").exists(), "PostStart before READY=1");
    let before = now_unix();
    let sent = d.say("C:READY=1");
    assert!(eventually(secs(5.0), || !t.read("hook").is_empty()));
    let ran: f64 = t.read("hook").trim().parse().unwrap();
    assert!(
        ran >= before && ran - sent < 1.0,
        "PostStart at {ran}, READY=1 ordered at {before}, sent by {sent}"
    );
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let names = f.events();
    let at = |n: &str| names.iter().position(|e| e == n).unwrap();
    assert!(at("AppNotify") < at("HookStarted"), "{names:?}");
}

#[test]
fn messages_from_outside_the_apps_tree_are_ignored() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-outsider");
    let ready = t.path("ready");
    // PostStart is hookinit's child, not the app's: it reads the app's
    // socket name and sends READY=1 to it.
    let hook = format!(
        r#"["sh","-c","until test -e {dir}/socket; do sleep 0.01; done; NOTIFY_SOCKET=$(cat {dir}/socket) python3 {dir}/send.py READY=1 && touch {dir}/hook-sent"]"#,
        dir = s(&t.0)
    );
    let r = run_app(
        &t,
        &[
            ("HOOKINIT_NOTIFY_SOCKET", "@hookinit-test-outsider"),
            ("HOOKINIT_READY_FILE", s(&ready)),
            ("HOOKINIT_POST_START", &hook),
        ],
    );
    let mut d = Driver { t: &t, n: 0 };
    assert!(eventually(secs(10.0), || t.path("hook-sent").exists()));
    r.wait_for("outside the app's tree", secs(5.0));
    // And from this test, outside the container's PID namespace.
    let out = std::process::Command::new("python3")
        .arg(t.path("send.py"))
        .arg("READY=1")
        .env("NOTIFY_SOCKET", "@hookinit-test-outsider")
        .status()
        .unwrap();
    assert!(out.success());
    thread::sleep(secs(0.3));
    assert!(!ready.exists(), "ready from an outsider");
    assert_eq!(t.read("socket"), "@hookinit-test-outsider");
    // The app's child is heard.
    d.say("C:READY=1");
    assert!(eventually(secs(5.0), || ready.exists()));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(events(&f.stderr, "AppNotify").len(), 1, "{}", f.stderr);
    // Logged once, however many came.
    assert_eq!(events(&f.stderr, "NotifyIgnored").len(), 1, "{}", f.stderr);
}

#[test]
fn senders_that_exit_as_their_barrier_is_answered_are_heard_as_the_apps() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-barrier");
    let r = run_app(&t, &[("HOOKINIT_NOTIFY_SOCKET", "1")]);
    let mut d = Driver { t: &t, n: 0 };
    assert!(eventually(secs(10.0), || t.path("socket").exists()));
    // The barrier's descriptor is closed only after its sender was checked:
    // none of these is "gone" or "outside the app's tree" for hookinit.
    // 300 forks and barriers: about 1 s on an idle machine, far more
    // on a loaded one.
    let n = d.order("B:300");
    assert!(eventually(secs(60.0), || t
        .path(&format!("sent{n}"))
        .exists()));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(events(&f.stderr, "NotifyIgnored"), [] as [&str; 0]);
    let statuses = events(&f.stderr, "AppStatus");
    assert_eq!(statuses.len(), 300, "{}", f.stderr);
    assert_eq!(statuses[299], "AppStatus: the app's status: child 299");
}

#[test]
fn with_another_namespaces_proc_every_sender_in_this_one_is_heard() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-outer-proc");
    // PID 1 of a new PID namespace that still sees the outer /proc, where
    // the senders' numbers name other processes.
    let cmd = command_under(
        &["--pid", "--fork", "--kill-child"],
        &["python3", s(&t.path("app.py")), s(&t.0)],
        &[("HOOKINIT_NOTIFY_SOCKET", "1")],
    );
    let r = Running::start(cmd, true);
    let mut d = Driver { t: &t, n: 0 };
    assert!(eventually(secs(10.0), || t.path("socket").exists()));
    d.say("A:STATUS=the app");
    d.say("B:20");
    d.say("C:STATUS=a subprocess");
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(events(&f.stderr, "NotifyIgnored"), [] as [&str; 0]);
    assert_eq!(events(&f.stderr, "AppStatus").len(), 22, "{}", f.stderr);
    let socket = events(&f.stderr, "NotifySocket");
    assert!(
        socket[0].ends_with("/proc is another PID namespace's: every sender in this one is heard"),
        "{socket:?}"
    );
}

fn fds_of(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn rss_kb(pid: i32) -> u64 {
    proc_status_field(pid, "VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

#[test]
fn a_flood_leaves_signals_forwarded_quickly_and_nothing_grows() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-flood");
    let r = run_app(
        &t,
        &[("HOOKINIT_NOTIFY_SOCKET", "1"), ("HOOKINIT_VERBOSITY", "3")],
    );
    let mut d = Driver { t: &t, n: 0 };
    assert!(eventually(secs(10.0), || t.path("socket").exists()));
    let (fds, rss) = (fds_of(r.pid), rss_kb(r.pid));
    let stop = t.path("stop-flood");
    d.say(&format!("F:{}", s(&stop)));
    let mut delays = Vec::new();
    for i in 0..20 {
        let before = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        r.signal(libc::SIGUSR1);
        assert!(eventually(secs(5.0), || t.read("usr1").lines().count() > i));
        let got: f64 = t.read("usr1").lines().nth(i).unwrap().parse().unwrap();
        delays.push(got - before);
        thread::sleep(secs(0.02));
    }
    let flooding = !t.path("flood-done").exists();
    // End the flood, then compare.
    std::fs::write(&stop, "").unwrap();
    assert!(eventually(secs(60.0), || t.path("flood-done").exists()));
    thread::sleep(secs(0.2));
    assert_eq!(fds_of(r.pid), fds, "descriptors grew");
    let grown = rss_kb(r.pid).saturating_sub(rss);
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    delays.sort_by(f64::total_cmp);
    eprintln!("SIGUSR1 forwarded under a flood, seconds: {delays:?}; RSS grew {grown} kB");
    assert!(
        flooding,
        "the flood ended before the signals: make it longer"
    );
    // Two cores shared with the flood and the other tests: the scheduler,
    // not hookinit, makes the rare outlier.
    assert!(delays[delays.len() / 2] < 0.010, "median {delays:?}");
    // Not starved: the worst is the scheduler's on a loaded machine.
    assert!(delays[delays.len() - 1] < 1.0, "max {delays:?}");
    assert!(grown < 64, "RSS grew by {grown} kB");
    assert!(
        f.stderr.contains(" 0 heap allocations after start-up"),
        "{}",
        f.stderr
    );
    let ignored = events(&f.stderr, "NotifyIgnored");
    assert_eq!(ignored.len(), 3, "{ignored:?}");
    assert!(
        ignored.iter().any(|l| l.contains("FDSTORE=1: ignored")),
        "{ignored:?}"
    );
    assert!(
        ignored.iter().any(|l| l.contains("60000 bytes")),
        "{ignored:?}"
    );
    assert!(
        ignored.iter().any(|l| l.contains("file descriptor")),
        "{ignored:?}"
    );
    assert_eq!(events(&f.stderr, "AppNotify").len(), 1);
}

#[test]
fn a_bad_notify_socket_is_rejected_before_the_app_starts() {
    for (value, says) in [
        ("relative/path", "HOOKINIT_NOTIFY_SOCKET"),
        ("@", "HOOKINIT_NOTIFY_SOCKET"),
    ] {
        let f = run_plain(
            &["sh", "-c", "echo app-ran"],
            &[("HOOKINIT_NOTIFY_SOCKET", value)],
        );
        assert_eq!(f.code, Some(2), "{value}: {}", f.stderr);
        assert!(f.stderr.contains(says), "{value}: {}", f.stderr);
        assert!(!f.stdout.contains("app-ran"));
    }
    // A path whose directory is missing: the socket cannot be made.
    let f = run_plain(
        &["sh", "-c", "echo app-ran"],
        &[("HOOKINIT_NOTIFY_SOCKET", "/nonexistent-dir/notify")],
    );
    assert_eq!(f.code, Some(1), "{}", f.stderr);
    assert!(f.stderr.contains("HOOKINIT_NOTIFY_SOCKET"), "{}", f.stderr);
    assert!(!f.stdout.contains("app-ran"));
    // Off: nothing in the app's environment, no line in --check.
    let f = run_plain(&["sh", "-c", "echo ${NOTIFY_SOCKET-unset}"], &[]);
    assert_eq!((f.code, f.stdout.trim()), (Some(0), "unset"));
    let f = run_plain(&["--check", "true"], &[]);
    assert!(!f.stdout.contains("notify"), "{}", f.stdout);
    let f = run_plain(&["--check", "--notify-socket", "@x", "true"], &[]);
    assert!(
        f.stdout
            .contains("notify socket:  @x (abstract); NOTIFY_SOCKET for the app only"),
        "{}",
        f.stdout
    );
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A liveness failure with the events of a failed liveness probe, in
/// order; returns when hookinit logged `Unhealthy` and started PreStop.
fn assert_liveness_failure(f: &Finished, why: &str) -> (f64, f64) {
    assert_eq!(f.code, Some(5), "{}", f.stderr);
    let events = json_events(&f.stderr);
    let names: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    let at = |n: &str| {
        names
            .iter()
            .position(|e| *e == n)
            .unwrap_or_else(|| panic!("{n}: {names:?}"))
    };
    let (unhealthy, killing, pre_stop) = (at("Unhealthy"), at("Killing"), at("HookStarted"));
    assert!(
        unhealthy < killing && killing < pre_stop && pre_stop < at("StopSignalSent"),
        "{names:?}"
    );
    assert_eq!(
        names.iter().filter(|n| **n == "Unhealthy").count(),
        1,
        "{names:?}"
    );
    let e = &events[unhealthy];
    assert_eq!(
        (e.2.as_str(), e.3.as_str()),
        (
            "watchdog",
            format!("Liveness probe failed: {why} (sd_notify watchdog)").as_str()
        )
    );
    assert_eq!(
        events[killing].3,
        "stopping the container: Container app failed liveness probe, will be restarted; grace period 9s"
    );
    (events[unhealthy].0, events[pre_stop].0)
}

/// hookinit with the test app, a watchdog of `interval` and a PreStop.
fn watched(t: &TempDir, interval: &str) -> Running {
    run_app(
        t,
        &[
            ("HOOKINIT_NOTIFY_SOCKET", "1"),
            ("HOOKINIT_NOTIFY_WATCHDOG", interval),
            ("HOOKINIT_PRE_STOP", r#"["true"]"#),
            ("HOOKINIT_LOG_FORMAT", "json"),
        ],
    )
}

#[test]
fn an_app_that_stops_sending_watchdog_is_killed_through_pre_stop_with_exit_5() {
    if !is_root() {
        return;
    }
    timed("watchdog miss", || {
        let t = app_dir("notify-watchdog-miss");
        let stop = t.path("stop-ping");
        // Armed at the app's start: room for two Pythons to start.
        let r = watched(&t, "1s");
        let mut d = Driver { t: &t, n: 0 };
        d.say(&format!("P:0.1 {}", s(&stop)));
        // Pinging for three intervals: alive.
        thread::sleep(secs(3.0));
        assert!(!r.stderr().contains("Unhealthy"), "killed while pinging");
        std::fs::write(&stop, "").unwrap();
        let f = r.wait(secs(15.0));
        let last: f64 = t.read("stop-ping.last").trim().parse().unwrap();
        let why = "no WATCHDOG=1 from the app within 1s";
        let (failed, pre_stop) = assert_liveness_failure(&f, why);
        let (failed, pre_stop) = (failed - last, pre_stop - last);
        eprintln!("last WATCHDOG=1 -> failure {failed}s, PreStop {pre_stop}s (WATCHDOG_USEC 1s)");
        assert_eq!(t.read("watchdog-env"), "1000000");
        // Never early: event times are cut to the millisecond, and `last`
        // is taken just after the send.
        assert!(failed >= 0.995, "failed {failed}s after the last ping");
        match pre_stop < 1.1 {
            true => Ok(()),
            false => Err(format!("PreStop {pre_stop}s after the last ping")),
        }
    });
}

#[test]
fn an_app_that_keeps_sending_watchdog_is_never_killed() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-watchdog-ok");
    let stop = t.path("stop-ping");
    let mut r = watched(&t, "1");
    let mut d = Driver { t: &t, n: 0 };
    d.say(&format!("P:0.1 {}", s(&stop)));
    thread::sleep(secs(4.0));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(15.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let events = json_events(&f.stderr);
    assert!(!events.iter().any(|e| e.1 == "Unhealthy"), "{}", f.stderr);
    let killing: Vec<_> = events.iter().filter(|e| e.1 == "Killing").collect();
    assert_eq!(killing.len(), 1, "{}", f.stderr);
    assert_eq!(
        killing[0].3,
        "stopping the container: received SIGTERM; grace period 9s"
    );
    assert!(f.elapsed < secs(2.0), "{:?}", f.elapsed);
}

#[test]
fn watchdog_trigger_fails_at_once() {
    if !is_root() {
        return;
    }
    timed("WATCHDOG=trigger", || {
        let t = app_dir("notify-watchdog-trigger");
        let r = watched(&t, "30");
        let mut d = Driver { t: &t, n: 0 };
        assert!(eventually(secs(10.0), || t.path("socket").exists()));
        // The app may be stopped before it says it sent it: timed from
        // here (the app looks for orders every 2 ms).
        let sent = now_unix();
        d.order("A:WATCHDOG=trigger");
        let f = r.wait(secs(15.0));
        let (failed, _) = assert_liveness_failure(&f, "the app sent WATCHDOG=trigger");
        let took = failed - sent;
        match took < 0.1 {
            true => Ok(()),
            false => Err(format!("failed {took}s after WATCHDOG=trigger")),
        }
    });
}

#[test]
fn watchdog_usec_from_the_app_changes_the_interval() {
    if !is_root() {
        return;
    }
    timed("WATCHDOG_USEC", || {
        let t = app_dir("notify-watchdog-usec");
        let r = watched(&t, "30");
        let mut d = Driver { t: &t, n: 0 };
        let sent = d.say("A:WATCHDOG_USEC=300000");
        let f = r.wait(secs(15.0));
        let why = "no WATCHDOG=1 from the app within 0.3s";
        let (failed, _) = assert_liveness_failure(&f, why);
        assert_eq!(t.read("watchdog-env"), "30000000");
        let took = failed - sent;
        // Event times are cut to the millisecond, and `sent` is taken just
        // after the send.
        assert!(took >= 0.295, "failed {took}s after WATCHDOG_USEC=300000");
        match took < 0.4 {
            true => Ok(()),
            false => Err(format!("failed {took}s after WATCHDOG_USEC=300000")),
        }
    });
}

#[test]
fn a_watchdog_without_a_notify_socket_is_rejected() {
    let f = run_plain(&["true"], &[("HOOKINIT_NOTIFY_WATCHDOG", "5")]);
    assert_eq!(f.code, Some(2), "{}", f.stderr);
    assert_eq!(
        f.stderr.trim(),
        "hookinit: HOOKINIT_NOTIFY_WATCHDOG: needs a notify socket (HOOKINIT_NOTIFY_SOCKET)"
    );
    let f = run_plain(
        &[
            "--check",
            "--notify-socket=1",
            "--notify-watchdog=2.5",
            "true",
        ],
        &[],
    );
    assert!(
        f.stdout.contains(
            "watchdog:       no WATCHDOG=1 within 2.5s (the app's WATCHDOG_USEC) is a liveness failure (exit 5)"
        ),
        "{}",
        f.stdout
    );
}

#[test]
fn the_relay_tells_hookinits_own_notify_socket_each_readiness_change_once() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("notify-relay");
    let outer_path = t.path("outer");
    let outer = std::os::unix::net::UnixDatagram::bind(&outer_path).unwrap();
    outer.set_read_timeout(Some(secs(10.0))).unwrap();
    let ok = t.path("ok");
    let probe = format!(
        r#"{{"exec":{{"command":["test","-e","{}"]}},"periodSeconds":1,"failureThreshold":1}}"#,
        s(&ok)
    );
    let app = format!(
        "echo ${{NOTIFY_SOCKET-unset}} > {}; trap 'exit 0' TERM; while :; do sleep 0.05; done",
        s(&t.path("app-env"))
    );
    // No notify socket of its own: a probe alone makes the readiness.
    let r = Running::pid1(
        &["sh", "-c", &app],
        &[
            ("NOTIFY_SOCKET", s(&outer_path)),
            ("HOOKINIT_NOTIFY_RELAY", "1"),
            ("HOOKINIT_READINESS_PROBE", &probe),
        ],
    );
    let next = || {
        let mut buf = [0u8; 256];
        let n = outer.recv(&mut buf).expect("a message from the relay");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(eventually(secs(10.0), || !t.read("app-env").is_empty()));
    assert_eq!(
        t.read("app-env").trim(),
        "unset",
        "the app got the outer socket"
    );
    std::fs::write(&ok, "").unwrap();
    assert_eq!(next(), "READY=1\nSTATUS=ready");
    std::fs::remove_file(&ok).unwrap();
    assert_eq!(next(), "STATUS=not ready");
    std::fs::write(&ok, "").unwrap();
    assert_eq!(next(), "READY=1\nSTATUS=ready");
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(next(), "STOPPING=1\nSTATUS=stopping");
    outer.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 256];
    assert!(
        outer.recv(&mut buf).is_err(),
        "more than one message per change"
    );
    assert_eq!(events(&f.stderr, "NotifyRelay").len(), 1, "{}", f.stderr);
}

// ---- EXTEND_TIMEOUT_USEC ----------------------------------------------------------

/// An app that sends argv[2] (if any) at its start and argv[3] on SIGTERM,
/// which it otherwise ignores; it writes when it sent the latter to
/// argv[1]/term.
const EXTEND_APP: &str = r#"
import os, signal, socket, sys, time
addr = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect("\0" + addr[1:] if addr.startswith("@") else addr)
def term(*a):
    s.send(sys.argv[3].encode())
    open(sys.argv[1] + "/term", "w").write(str(time.time()))
signal.signal(signal.SIGTERM, term)
if sys.argv[2]:
    s.send(sys.argv[2].encode())
while True:
    signal.pause()
"#;

fn extend_run(t: &TempDir, at_start: &str, on_term: &str, env: &[(&str, &str)]) -> Running {
    std::fs::write(t.path("extend.py"), EXTEND_APP).unwrap();
    let mut all = vec![
        ("HOOKINIT_NOTIFY_SOCKET", "1"),
        ("HOOKINIT_LOG_FORMAT", "json"),
    ];
    all.extend_from_slice(env);
    let app = t.path("extend.py");
    Running::pid1(&["python3", s(&app), s(&t.0), at_start, on_term], &all)
}

/// The time of the first event named `name` and its message.
fn first<'a>(
    events: &'a [(f64, String, String, String)],
    name: &str,
) -> &'a (f64, String, String, String) {
    events
        .iter()
        .find(|e| e.1 == name)
        .unwrap_or_else(|| panic!("no {name}: {events:?}"))
}

#[test]
fn no_ready_within_the_start_timeout_is_a_startup_failure_and_extend_moves_it_up_to_the_ceiling() {
    if !is_root() {
        return;
    }
    timed("start timeout", || {
        let t = TempDir::new("notify-extend-start");
        let r = extend_run(
            &t,
            "EXTEND_TIMEOUT_USEC=10000000",
            "",
            &[
                ("HOOKINIT_NOTIFY_START_TIMEOUT", "1"),
                ("HOOKINIT_NOTIFY_EXTEND_LIMIT", "2.5"),
            ],
        );
        let f = r.wait(secs(15.0));
        assert_eq!(f.code, Some(5), "{}", f.stderr);
        let events = json_events(&f.stderr);
        let started = first(&events, "NotifySocket").0;
        let extended = first(&events, "AppNotify");
        assert!(
            extended.3.starts_with(
                "the app sent EXTEND_TIMEOUT_USEC=10000000: the start-up budget (READY=1 due) is "
            ) && extended.3.ends_with(" from now (at its ceiling)"),
            "{}",
            extended.3
        );
        let unhealthy = first(&events, "Unhealthy");
        assert_eq!(
            (unhealthy.2.as_str(), unhealthy.3.as_str()),
            (
                "notify",
                "Startup probe failed: no READY=1 from the app within 2.5s"
            )
        );
        assert_eq!(
            first(&events, "Killing").3,
            "stopping the container: Container app failed startup probe, will be restarted; grace period 9s"
        );
        let took = unhealthy.0 - started;
        // Not at the timeout (1 s), not at the app's 10 s: at the ceiling.
        assert!(took >= 2.495, "failed {took}s after the start");
        match took < 2.6 {
            true => Ok(()),
            false => Err(format!("failed {took}s after the start")),
        }
    });
}

#[test]
fn ready_in_time_ends_the_start_timeout() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("notify-start-ready");
    let mut r = extend_run(
        &t,
        "READY=1",
        "",
        &[("HOOKINIT_NOTIFY_START_TIMEOUT", "0.5")],
    );
    r.wait_for("the app sent READY=1", secs(10.0));
    thread::sleep(secs(1.0));
    r.mark();
    r.signal(libc::SIGKILL);
    let f = r.wait(secs(15.0));
    assert!(!f.stderr.contains("Unhealthy"), "{}", f.stderr);
}

#[test]
fn extend_during_the_stop_moves_sigkill_to_now_plus_n_within_the_ceiling() {
    if !is_root() {
        return;
    }
    for (usec, limit, want) in [("3000000", "10", 3.0), ("60000000", "4", 4.0)] {
        timed("stop extended", || {
            let t = TempDir::new("notify-extend-stop");
            let on_term = format!("EXTEND_TIMEOUT_USEC={usec}");
            let mut r = extend_run(
                &t,
                "READY=1",
                &on_term,
                &[
                    ("HOOKINIT_GRACE_PERIOD", "2"),
                    ("HOOKINIT_NOTIFY_EXTEND_LIMIT", limit),
                    // The Exiting event counts heap allocations.
                    ("HOOKINIT_VERBOSITY", "3"),
                ],
            );
            r.wait_for("the app sent READY=1", secs(10.0));
            r.mark();
            r.signal(libc::SIGTERM);
            let f = r.wait(secs(20.0));
            assert_eq!(f.code, Some(137), "{}", f.stderr);
            // Nothing on the stop path allocates, extensions included.
            assert!(
                f.stderr.contains(" 0 heap allocations after start-up"),
                "{}",
                f.stderr
            );
            let events = json_events(&f.stderr);
            let stop = first(&events, "Killing").0;
            let term: f64 = t.read("term").trim().parse().unwrap();
            let extended = events
                .iter()
                .find(|e| e.1 == "AppNotify" && e.3.contains("EXTEND"))
                .unwrap_or_else(|| panic!("{}", f.stderr));
            assert!(
                extended.3.starts_with(&format!(
                    "the app sent EXTEND_TIMEOUT_USEC={usec}: the stop's budget (SIGKILL) is "
                )),
                "{}",
                extended.3
            );
            let kill = first(&events, "SigkillSent");
            assert!(
                kill.3.contains(
                    "the grace period of 2s, extended by the app's EXTEND_TIMEOUT_USEC, is over"
                ),
                "{}",
                kill.3
            );
            // From the stop when capped, else from the app's message.
            let took = match want == 4.0 {
                true => kill.0 - stop,
                false => kill.0 - term,
            };
            eprintln!("SIGKILL {took}s after (want {want}s; grace 2s)");
            // `term` is taken just after the send: a few ms late at worst.
            assert!(took >= want - 0.02, "SIGKILL {took}s, want {want}s");
            match took < want + 0.1 {
                true => Ok(()),
                false => Err(format!("SIGKILL {took}s, want {want}s")),
            }
        });
    }
}

/// An app that, on SIGTERM, asks for 3 s more and exits 2.5 s later.
const EXTEND_THEN_EXIT_APP: &str = r#"
import os, signal, socket, time
addr = os.environ["NOTIFY_SOCKET"]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect("\0" + addr[1:] if addr.startswith("@") else addr)
def term(*a):
    s.send(b"EXTEND_TIMEOUT_USEC=3000000")
    time.sleep(2.5)
    os._exit(0)
signal.signal(signal.SIGTERM, term)
s.send(b"READY=1")
while True:
    signal.pause()
"#;

#[test]
fn an_extended_stop_gives_post_stop_what_is_left_of_the_new_window() {
    if !is_root() {
        return;
    }
    let t = TempDir::new("notify-extend-post-stop");
    std::fs::write(t.path("app.py"), EXTEND_THEN_EXIT_APP).unwrap();
    let post_stop = format!(
        r#"["sh","-c","echo $HOOKINIT_KILL_IN_MS > {}"]"#,
        t.path("left").display()
    );
    let mut r = Running::pid1(
        &["python3", s(&t.path("app.py"))],
        &[
            ("HOOKINIT_NOTIFY_SOCKET", "1"),
            ("HOOKINIT_NOTIFY_EXTEND_LIMIT", "10"),
            ("HOOKINIT_GRACE_PERIOD", "2"),
            ("HOOKINIT_POST_STOP", &post_stop),
        ],
    );
    r.wait_for("the app sent READY=1", secs(10.0));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(20.0));
    // The app exited 0.5 s before the extended SIGKILL, 0.5 s after the
    // grace period's: post-stop ran, told the half second left.
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(!f.stderr.contains("PostStopSkipped"), "{}", f.stderr);
    let left: u64 = t.read("left").trim().parse().unwrap();
    assert!((300..=560).contains(&left), "{left} ms left\n{}", f.stderr);
}

#[test]
fn start_timeout_and_extend_limit_without_a_notify_socket_are_rejected() {
    for var in [
        "HOOKINIT_NOTIFY_START_TIMEOUT",
        "HOOKINIT_NOTIFY_EXTEND_LIMIT",
    ] {
        let f = run_plain(&["true"], &[(var, "5")]);
        assert_eq!(f.code, Some(2), "{}", f.stderr);
        assert_eq!(
            f.stderr.trim(),
            format!("hookinit: {var}: needs a notify socket (HOOKINIT_NOTIFY_SOCKET)")
        );
    }
}

#[test]
fn ignored_keys_are_logged_once_each_with_their_reason() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-ignored");
    let r = run_app(&t, &[("HOOKINIT_NOTIFY_SOCKET", "1")]);
    let mut d = Driver { t: &t, n: 0 };
    let all = "MAINPID=7\nERRNO=2\nBUSERROR=org.x.Failed\nFDSTORE=1\nFDNAME=x\nEXTEND_TIMEOUT_USEC=5\nWATCHDOG=1\nBOGUS=1\nOTHER=2";
    for _ in 0..3 {
        d.say(&format!("A:{all}"));
    }
    d.say("A:READY=1");
    r.wait_for("the app sent READY=1", secs(5.0));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let ignored: Vec<_> = events(&f.stderr, "NotifyIgnored")
        .into_iter()
        .map(|l| l.split_once(": ").unwrap().1)
        .collect();
    assert_eq!(
        ignored,
        [
            "the app sent MAINPID=7: ignored, hookinit watches the pid it started (logged once)",
            "the app sent ERRNO=2: ignored, the exit code says how it failed (logged once)",
            "the app sent BUSERROR=org.x.Failed: ignored, no D-Bus here (logged once)",
            "the app sent FDSTORE=1: ignored, hookinit keeps no descriptors (logged once)",
            "the app sent EXTEND_TIMEOUT_USEC=5: ignored, no HOOKINIT_NOTIFY_EXTEND_LIMIT (logged once)",
            "the app sent WATCHDOG=1: ignored, no HOOKINIT_NOTIFY_WATCHDOG (logged once)",
            "the app sent BOGUS=1: ignored, unknown key (logged once)",
        ],
        "{}",
        f.stderr
    );
    // Ignored otherwise: ready as if only READY=1 had come.
    assert_eq!(
        events(&f.stderr, "Readiness"),
        ["Readiness: the container is ready"]
    );
}

#[test]
fn the_relay_says_ready_once_per_change_however_often_the_app_says_it() {
    if !is_root() {
        return;
    }
    let t = app_dir("notify-relay-app");
    let outer_path = t.path("outer");
    let outer = std::os::unix::net::UnixDatagram::bind(&outer_path).unwrap();
    outer.set_read_timeout(Some(secs(10.0))).unwrap();
    let r = run_app(
        &t,
        &[
            ("NOTIFY_SOCKET", s(&outer_path)),
            ("HOOKINIT_NOTIFY_RELAY", "1"),
            ("HOOKINIT_NOTIFY_SOCKET", "1"),
        ],
    );
    let next = || {
        let mut buf = [0u8; 256];
        let n = outer.recv(&mut buf).expect("a message from the relay");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let mut d = Driver { t: &t, n: 0 };
    for msg in ["READY=1", "READY=1", "STATUS=x\nREADY=1"] {
        d.say(&format!("A:{msg}"));
    }
    assert_eq!(next(), "READY=1\nSTATUS=ready");
    for msg in ["RELOADING=1", "RELOADING=1", "READY=1", "READY=1"] {
        d.say(&format!("A:{msg}"));
    }
    assert_eq!(next(), "STATUS=not ready");
    assert_eq!(next(), "READY=1\nSTATUS=ready");
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(next(), "STOPPING=1\nSTATUS=stopping");
    outer.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 256];
    assert!(
        outer.recv(&mut buf).is_err(),
        "more than one message per change"
    );
}

#[test]
fn the_relay_pings_the_outer_watchdog_at_half_its_interval_until_the_stop() {
    if !is_root() {
        return;
    }
    timed("relay pings", relay_pings);
}

/// One run of the test above: its behaviour asserted, its timing returned.
fn relay_pings() -> Result<(), String> {
    let t = TempDir::new("notify-relay-watchdog");
    let outer_path = t.path("outer");
    let outer = std::os::unix::net::UnixDatagram::bind(&outer_path).unwrap();
    outer.set_read_timeout(Some(secs(10.0))).unwrap();
    let mut r = Running::pid1(
        &[
            "sh",
            "-c",
            "trap 'exit 0' TERM; while :; do sleep 0.05; done",
        ],
        &[
            ("NOTIFY_SOCKET", s(&outer_path)),
            ("WATCHDOG_USEC", "200000"),
            ("HOOKINIT_NOTIFY_RELAY", "1"),
            // The Exiting event counts heap allocations.
            ("HOOKINIT_VERBOSITY", "3"),
        ],
    );
    let mut buf = [0u8; 256];
    // No probe, no notify socket: ready at once.
    let n = outer.recv(&mut buf).expect("READY=1");
    assert_eq!(&buf[..n], b"READY=1\nSTATUS=ready");
    let mut at = Vec::new();
    while at.len() < 5 {
        let n = outer.recv(&mut buf).expect("a ping");
        assert_eq!(&buf[..n], b"WATCHDOG=1");
        at.push(std::time::Instant::now());
    }
    let gaps: Vec<f64> = at.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    eprintln!("pings every {gaps:?} s (WATCHDOG_USEC 0.2 s)");
    // Half the interval; never late enough for the outer watchdog to fire
    // (timed at this end: a late read here makes a long gap, then a short one).
    let on_time = gaps.iter().all(|&g| (0.09..0.2).contains(&g));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    // Pings sent before the stop may be queued; after STOPPING=1, none.
    outer.set_read_timeout(Some(secs(0.3))).unwrap();
    let mut after_stop = Vec::new();
    while let Ok(n) = outer.recv(&mut buf) {
        after_stop.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let stop = after_stop.iter().position(|m| m.starts_with("STOPPING=1"));
    let stop = stop.unwrap_or_else(|| panic!("{after_stop:?}"));
    assert_eq!(after_stop.len(), stop + 1, "{after_stop:?}");
    assert!(
        f.stderr.contains(" 0 heap allocations after start-up"),
        "{}",
        f.stderr
    );
    let relay = events(&f.stderr, "NotifyRelay");
    assert!(
        relay[0].ends_with("and WATCHDOG=1 every 0.1s while the app runs (WATCHDOG_USEC)"),
        "{relay:?}"
    );
    // Another process's watchdog (WATCHDOG_PID): not hookinit's to ping.
    let f = run_pid1(
        &["sleep", "0.5"],
        &[
            ("NOTIFY_SOCKET", s(&outer_path)),
            ("WATCHDOG_USEC", "100000"),
            ("WATCHDOG_PID", "12345"),
            ("HOOKINIT_NOTIFY_RELAY", "1"),
        ],
    );
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let mut got = Vec::new();
    while let Ok(n) = outer.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(!got.iter().any(|m| m.contains("WATCHDOG")), "{got:?}");
    match on_time {
        true => Ok(()),
        false => Err(format!("pings {gaps:?} s apart, want 0.1 s")),
    }
}
