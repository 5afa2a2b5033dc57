//! Kubernetes' own tests, translated into scenarios for one container with
//! hookinit as its init (the README's "Kubelet conformance" table lists them).
//! Each test names the Kubernetes test it comes from (path in
//! kubernetes/kubernetes, then the test or case name). Times are scaled
//! down (seconds, not minutes); what is asserted is the outcome the
//! Kubernetes test asserts: whether a hook ran and when, whether the
//! container was restarted (hookinit: exit 5), ready or not.
//!
//! A spec made only of Kubernetes fields behaves here as under the kubelet,
//! except where a test says "Difference" (each one is in the README's table).
mod common;
use common::*;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// An app that prints `app-ready` once its TERM trap is set, and `app-term`
/// (then exits 0) on TERM.
const APP: &str =
    "trap 'echo app-term; exit 0' TERM; echo app-rea\"\"dy; while :; do sleep 0.05; done";

/// An app that ignores TERM (only SIGKILL ends it).
const APP_IGNORING_TERM: &str = "trap '' TERM; echo app-rea\"\"dy; while :; do sleep 0.05; done";

/// hookinit as PID 1 of its own PID namespace, SIGKILLed (with the whole
/// namespace) if the test panics before it exited: a failed test leaves no
/// probes running.
struct Init(Option<Running>);

impl Init {
    fn new(env: &[(&str, &str)], script: &str) -> Init {
        Init(Some(Running::pid1(&["--", "sh", "-c", script], env)))
    }

    fn r(&self) -> &Running {
        self.0.as_ref().unwrap()
    }

    fn wait_for(&self, needle: &str, timeout: Duration) {
        self.r().wait_for(needle, timeout)
    }

    fn signal(&self, sig: i32) {
        self.r().signal(sig)
    }

    fn mark(&mut self) {
        self.0.as_mut().unwrap().mark()
    }

    fn wait(mut self, timeout: Duration) -> Finished {
        self.0.take().unwrap().wait(timeout)
    }
}

impl Drop for Init {
    fn drop(&mut self) {
        if let Some(r) = self.0.as_ref().filter(|r| r.pid > 0) {
            // SAFETY: a plain kill(2) of the pid this test started.
            unsafe { libc::kill(r.pid, libc::SIGKILL) };
        }
    }
}

/// hookinit running `script`, once the app has set its traps.
fn start(env: &[(&str, &str)], script: &str) -> Init {
    let r = Init::new(env, script);
    r.wait_for("app-ready", secs(10.0));
    r
}

fn events<'a>(stderr: &'a str, name: &str) -> Vec<&'a str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with([' ', ':']))
        })
        .collect()
}

fn exec(script: &str) -> Value {
    json!({"exec": {"command": ["sh", "-c", script]}})
}

fn path(t: &TempDir, name: &str) -> String {
    t.path(name).display().to_string()
}

fn exists(p: &str) -> bool {
    std::path::Path::new(p).exists()
}

/// An HTTP server recording each request's head (lowercased header names);
/// `/healthz` answers `status`, `/redirect` 302 to `/healthz`, `/elsewhere`
/// 302 to the same port under the name `localhost`, anything else 200.
struct Server {
    port: u16,
    status: Arc<Mutex<u16>>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(status: u16) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let status = Arc::new(Mutex::new(status));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (s, h) = (status.clone(), heads.clone());
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (s, h) = (s.clone(), h.clone());
                thread::spawn(move || serve(conn, port, &s, &h));
            }
        });
        Server {
            port,
            status,
            heads,
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    fn set(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }
}

fn serve(conn: TcpStream, port: u16, status: &Mutex<u16>, heads: &Mutex<Vec<String>>) {
    conn.set_read_timeout(Some(secs(5.0))).unwrap();
    let mut r = BufReader::new(conn);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        match r.read_line(&mut head) {
            Ok(n) if n > 0 => {}
            _ => return,
        }
    }
    let target = head.split(' ').nth(1).unwrap_or("").to_string();
    heads.lock().unwrap().push(head);
    let (code, location) = match target.as_str() {
        "/healthz" => (*status.lock().unwrap(), String::new()),
        "/redirect" => (302, "/healthz".to_string()),
        "/elsewhere" => (302, format!("http://localhost:{port}/healthz")),
        _ => (200, String::new()),
    };
    let location = match location.is_empty() {
        true => String::new(),
        false => format!("location: {location}\r\n"),
    };
    let body = format!("status {code}");
    let _ = write!(
        r.get_mut(),
        "HTTP/1.1 {code} X\r\n{location}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The value of header `name` in a request head, if present.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

// ---- test/e2e/common/node/lifecycle_hook.go ---------------------------------------------

/// lifecycle_hook.go: "should execute poststart exec hook properly" and
/// "should execute prestop exec hook properly" (the hooks call the logging
/// server; here they append to a log, which also shows the order).
#[test]
fn exec_post_start_runs_after_the_start_and_exec_pre_stop_before_the_termination() {
    let t = TempDir::new("kc-exec-hooks");
    let log = path(&t, "log");
    let lifecycle = json!({
        "postStart": exec(&format!("echo poststart >> {log}")),
        "preStop": exec(&format!("echo prestop >> {log}")),
    });
    let app = format!(
        "trap 'echo term >> {log}; exit 0' TERM; echo app-rea\"\"dy; while :; do sleep 0.05; done"
    );
    let mut r = start(&[("HOOKINIT_LIFECYCLE", &lifecycle.to_string())], &app);
    r.wait_for("HookSucceeded hook=PostStart", secs(10.0));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "poststart\nprestop\nterm\n"
    );
}

/// lifecycle_hook.go: "should execute poststart http hook properly" and
/// "should execute prestop http hook properly"; `handlers.go`
/// `runHTTPHandler` sends `User-Agent: kube-lifecycle/<major>.<minor>`.
#[test]
fn http_post_start_and_pre_stop_reach_the_server_as_kube_lifecycle() {
    let srv = Server::start(200);
    let lifecycle = json!({
        "postStart": {"httpGet": {"port": srv.port, "path": "/echo?msg=poststart"}},
        "preStop": {"httpGet": {"port": srv.port, "path": "/echo?msg=prestop"}},
    });
    let mut r = start(&[("HOOKINIT_LIFECYCLE", &lifecycle.to_string())], APP);
    r.wait_for("HookSucceeded hook=PostStart", secs(10.0));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    let heads = srv.heads();
    let lines: Vec<&str> = heads.iter().map(|h| h.lines().next().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "GET /echo?msg=poststart HTTP/1.1",
            "GET /echo?msg=prestop HTTP/1.1"
        ]
    );
    for h in &heads {
        assert_eq!(header(h, "user-agent"), Some("kube-lifecycle/1.34"), "{h}");
        assert_eq!(header(h, "accept"), Some("*/*"), "{h}");
    }
}

/// lifecycle_hook.go, "Lifecycle Sleep Hook": "valid prestop hook using
/// sleep action" (sleep 50 s in a 100 s grace period, scaled to 1 s in 5 s):
/// the container ends after the sleep and before the grace period.
#[test]
fn pre_stop_sleep_delays_the_termination_by_its_seconds() {
    let lifecycle = json!({"preStop": {"sleep": {"seconds": 1}}});
    let mut r = start(
        &[
            ("HOOKINIT_LIFECYCLE", &lifecycle.to_string()),
            ("HOOKINIT_GRACE_PERIOD", "5"),
        ],
        APP,
    );
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(
        f.elapsed >= secs(1.0) && f.elapsed < secs(2.0),
        "{:?}\n{f:#?}",
        f.elapsed
    );
}

/// lifecycle_hook.go, "Lifecycle sleep action zero value": "prestop hook
/// using sleep action with zero duration": the handler returns at once.
#[test]
fn pre_stop_sleep_of_zero_returns_at_once() {
    let lifecycle = json!({"preStop": {"sleep": {"seconds": 0}}});
    let mut r = start(&[("HOOKINIT_LIFECYCLE", &lifecycle.to_string())], APP);
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(f.elapsed < secs(0.5), "{:?}\n{f:#?}", f.elapsed);
    assert_eq!(events(&f.stderr, "HookSucceeded").len(), 1, "{f:#?}");
}

/// lifecycle_hook.go, "Lifecycle Sleep Hook": "ignore terminated container"
/// (`sh -c "sleep 3"` with a PreStop sleep of 10 s): a container that
/// exited by itself gets no PreStop (kubernetes#55807).
#[test]
fn pre_stop_is_not_run_for_a_container_that_exited_by_itself() {
    let lifecycle = json!({"preStop": {"sleep": {"seconds": 10}}});
    let r = Init::new(
        &[
            ("HOOKINIT_LIFECYCLE", &lifecycle.to_string()),
            ("HOOKINIT_GRACE_PERIOD", "30"),
        ],
        "sleep 0.3",
    );
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(f.elapsed < secs(2.0), "{:?}\n{f:#?}", f.elapsed);
    assert!(events(&f.stderr, "HookStarted").is_empty(), "{f:#?}");
}

// ---- pkg/kubelet/kuberuntime/kuberuntime_container_test.go ---------------------------

/// kuberuntime_container_test.go `TestLifeCycleHook`, "PreStop-NoTimeToRun":
/// with a grace period of 0, `killContainer` does not run PreStop (it runs
/// it only when `gracePeriod > 0`); then the 2 s minimum
/// (`minimumGracePeriodInSeconds`) applies to the kill. An httpGet PreStop
/// never reaches its server; an event says it was skipped and why.
#[test]
fn grace_period_0_runs_no_pre_stop_and_the_app_gets_the_2s_minimum() {
    let srv = Server::start(200);
    let lifecycle = json!({"preStop": {"httpGet": {"port": srv.port, "path": "/drain"}}});
    let mut r = start(
        &[
            ("HOOKINIT_LIFECYCLE", &lifecycle.to_string()),
            ("HOOKINIT_GRACE_PERIOD", "0"),
        ],
        APP_IGNORING_TERM,
    );
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(137), "{f:#?}");
    assert!(
        f.elapsed >= secs(2.0) && f.elapsed < secs(2.6),
        "SIGKILL at the 2 s minimum: {:?}\n{f:#?}",
        f.elapsed
    );
    assert!(srv.heads().is_empty(), "PreStop reached its server");
    assert!(events(&f.stderr, "HookStarted").is_empty(), "{f:#?}");
    let skipped = events(&f.stderr, "PreStopSkipped");
    assert_eq!(
        skipped,
        ["PreStopSkipped: the grace period is 0s: PreStop is not run (as the kubelet's killContainer); the app gets the 2s minimum"],
        "{f:#?}"
    );
    let killing = events(&f.stderr, "Killing");
    assert!(killing[0].ends_with("grace period 2s"), "{f:#?}");
}

/// kuberuntime_container.go `killContainer` (`minimumGracePeriodInSeconds`,
/// exercised by kuberuntime_container_test.go `TestKillContainer`'s grace
/// cases): a grace period of 1 s gives the app 2 s before SIGKILL.
#[test]
fn grace_period_below_2s_is_raised_to_2s() {
    let mut r = start(&[("HOOKINIT_GRACE_PERIOD", "1")], APP_IGNORING_TERM);
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(137), "{f:#?}");
    assert!(
        f.elapsed >= secs(2.0) && f.elapsed < secs(2.6),
        "{:?}\n{f:#?}",
        f.elapsed
    );
}

// ---- pkg/kubelet/lifecycle/handlers_test.go ------------------------------------------

/// handlers_test.go `TestRunHandlerHttp*` with `handlers.go`
/// `runHTTPHandler`: the status of an httpGet hook is never checked
/// (kubernetes#56963): a PostStart answered 500 leaves the container
/// running. hookinit logs the status as a warning (`HookHttpStatus`);
/// `HOOKINIT_HTTP_HOOK_CHECK_STATUS=1` is the opt-in that fails it.
#[test]
fn http_post_start_answered_500_does_not_stop_the_container() {
    let srv = Server::start(500);
    let lifecycle = json!({"postStart": {"httpGet": {"port": srv.port, "path": "/healthz"}}});
    let mut r = start(&[("HOOKINIT_LIFECYCLE", &lifecycle.to_string())], APP);
    r.wait_for("HookSucceeded hook=PostStart", secs(10.0));
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(events(&f.stderr, "HookHttpStatus").len(), 1, "{f:#?}");
    assert!(
        events(&f.stderr, "FailedPostStartHook").is_empty(),
        "{f:#?}"
    );
}

// ---- pkg/kubelet/prober/prober_test.go, pkg/probe/http ------------------------------

/// prober_test.go `TestProbe` ("exec probe with env"): `some $(A) $(B)`
/// with `A=script` in the container's `env` runs as `some script $(B)`
/// (`ExpandContainerCommandOnlyStatic`); `$$` is `$`.
#[test]
fn exec_probe_command_expands_the_containers_static_env() {
    let t = TempDir::new("kc-expand");
    let out = path(&t, "out");
    let script = format!("echo 'some $(A) $(B) $$(A)' > {out}.tmp && mv {out}.tmp {out}");
    let container = json!({
        "name": "app",
        "env": [{"name": "A", "value": "script"}],
        "readinessProbe": {"exec": {"command": ["sh", "-c", script]}, "periodSeconds": 1},
    });
    let r = start(&[("HOOKINIT_CONTAINER", &container.to_string())], APP);
    r.wait_for("the container is ready", secs(10.0));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "some script $(B) $(A)\n"
    );
    r.signal(libc::SIGTERM);
    assert_eq!(r.wait(secs(10.0)).code, Some(0));
}

/// http_test.go `TestHTTPProbeChecker` (its header cases) with
/// `request.go` `newProbeRequest`: `User-Agent: kube-probe/<ver>` and
/// `Accept: */*` by default; a header of the probe's replaces them; a
/// `User-Agent` or `Accept` set to "" is not sent at all.
#[test]
fn http_probe_headers_default_replace_and_empty_omit() {
    let srv = Server::start(200);
    let probe = |headers: Value| {
        json!({"httpGet": {"port": srv.port, "path": "/ok", "httpHeaders": headers},
               "periodSeconds": 1})
        .to_string()
    };
    let empty =
        probe(json!([{"name": "User-Agent", "value": ""}, {"name": "Accept", "value": ""}]));
    let own =
        probe(json!([{"name": "Accept", "value": "text/html"}, {"name": "X-A", "value": "1"}]));
    let r = start(
        &[
            ("HOOKINIT_READINESS_PROBE", &probe(json!([]))),
            ("HOOKINIT_LIVENESS_PROBE", &empty),
            ("HOOKINIT_STARTUP_PROBE", &own),
        ],
        APP,
    );
    r.wait_for("the container is ready", secs(10.0));
    assert!(eventually(secs(5.0), || srv.heads().len() >= 3));
    r.signal(libc::SIGTERM);
    assert_eq!(r.wait(secs(10.0)).code, Some(0));
    let heads = srv.heads();
    // Startup first (own headers), then readiness (defaults) and liveness
    // (both empty) in either order.
    assert_eq!(header(&heads[0], "accept"), Some("text/html"));
    assert_eq!(header(&heads[0], "x-a"), Some("1"));
    assert_eq!(header(&heads[0], "user-agent"), Some("kube-probe/1.34"));
    let defaults = heads[1..]
        .iter()
        .filter(|h| header(h, "accept") == Some("*/*"))
        .count();
    let bare = heads[1..]
        .iter()
        .filter(|h| header(h, "accept").is_none() && header(h, "user-agent").is_none())
        .count();
    assert!(defaults >= 1 && bare >= 1, "{heads:#?}");
    assert_eq!(defaults + bare, heads.len() - 1, "{heads:#?}");
}

// ---- test/e2e/common/node/container_probe.go ------------------------------------------

/// container_probe.go: "should be restarted with a exec "cat /tmp/health"
/// liveness probe" (the file removed after 10 s, scaled to 1 s).
#[test]
fn liveness_exec_cat_health_restarts_once_the_file_is_gone() {
    let t = TempDir::new("kc-cat");
    let health = path(&t, "health");
    let app = format!(
        "echo ok > {health}; trap 'exit 0' TERM; echo app-rea\"\"dy; sleep 1; rm -f {health}; while :; do sleep 0.05; done"
    );
    let probe =
        json!({"exec": {"command": ["cat", health]}, "periodSeconds": 1, "failureThreshold": 1});
    let r = start(&[("HOOKINIT_LIVENESS_PROBE", &probe.to_string())], &app);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(5), "restarted\n{f:#?}");
    assert_eq!(
        events(&f.stderr, "Killing")[0],
        "Killing: stopping the container: Container app failed liveness probe, will be restarted; grace period 9s"
    );
}

/// container_probe.go: "should *not* be restarted with a exec "cat
/// /tmp/health" liveness probe".
#[test]
fn liveness_exec_cat_health_does_not_restart_while_the_file_stays() {
    let t = TempDir::new("kc-cat-ok");
    let health = path(&t, "health");
    std::fs::write(&health, "ok").unwrap();
    let probe =
        json!({"exec": {"command": ["cat", health]}, "periodSeconds": 1, "failureThreshold": 1});
    let r = start(&[("HOOKINIT_LIVENESS_PROBE", &probe.to_string())], APP);
    thread::sleep(secs(2.5));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(events(&f.stderr, "Unhealthy").is_empty(), "{f:#?}");
}

/// container_probe.go: "should be restarted with a failing exec liveness
/// probe that took longer than the timeout" (`ExecProbeTimeout`).
#[test]
fn liveness_exec_past_its_timeout_restarts() {
    let probe = json!({"exec": {"command": ["sh", "-c", "sleep 10"]}, "timeoutSeconds": 1,
                       "periodSeconds": 1, "failureThreshold": 1});
    let r = start(&[("HOOKINIT_LIVENESS_PROBE", &probe.to_string())], APP);
    let f = r.wait(secs(15.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    assert_eq!(
        events(&f.stderr, "Unhealthy"),
        ["Unhealthy handler=exec: Liveness probe failed: command \"sh -c sleep 10\" timed out"],
        "{f:#?}"
    );
}

/// container_probe.go: "with readiness probe that fails should never be
/// ready and never restart".
#[test]
fn failing_readiness_is_never_ready_and_never_restarts() {
    let t = TempDir::new("kc-ready-fail");
    let ready = path(&t, "ready");
    let probe = json!({"exec": {"command": ["false"]}, "periodSeconds": 1});
    let r = start(
        &[
            ("HOOKINIT_READINESS_PROBE", &probe.to_string()),
            ("HOOKINIT_READY_FILE", &ready),
        ],
        APP,
    );
    let end = Instant::now() + secs(2.5);
    while Instant::now() < end {
        assert!(!exists(&ready), "ready");
        thread::sleep(secs(0.05));
    }
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(events(&f.stderr, "Killing")[0].contains("received SIGTERM"));
}

/// container_probe.go: "should be restarted with a /healthz http liveness
/// probe" and "should be restarted with a local redirect http liveness
/// probe": `/redirect` to `/healthz` on the same host is followed, and the
/// 500 it answers once unhealthy restarts the container.
#[test]
fn http_liveness_follows_a_local_redirect_and_restarts_on_500() {
    let srv = Server::start(200);
    let probe = json!({"httpGet": {"port": srv.port, "path": "/redirect"},
                       "periodSeconds": 1, "failureThreshold": 1});
    let r = start(&[("HOOKINIT_LIVENESS_PROBE", &probe.to_string())], APP);
    assert!(eventually(secs(5.0), || srv.heads().len() >= 2));
    srv.set(500);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    assert_eq!(
        events(&f.stderr, "Unhealthy"),
        ["Unhealthy handler=httpGet: Liveness probe failed: HTTP probe failed with statuscode: 500"],
        "{f:#?}"
    );
}

/// container_probe.go: "should *not* be restarted with a non-local redirect
/// http liveness probe": a redirect to another host name is not followed;
/// the 3xx is a success with a `ProbeWarning` ("Probe terminated
/// redirects"), even though its target is unhealthy.
#[test]
fn http_liveness_does_not_follow_a_redirect_to_another_host() {
    let srv = Server::start(500);
    let probe = json!({"httpGet": {"port": srv.port, "path": "/elsewhere"},
                       "periodSeconds": 1, "failureThreshold": 1});
    let r = start(&[("HOOKINIT_LIVENESS_PROBE", &probe.to_string())], APP);
    r.wait_for("ProbeWarning", secs(5.0));
    thread::sleep(secs(1.2));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert!(events(&f.stderr, "ProbeWarning")[0]
        .contains("Liveness probe warning: Probe terminated redirects, Response body: status 302"));
    assert!(srv.heads().iter().all(|h| h.starts_with("GET /elsewhere ")));
}

/// container_probe.go: "should be restarted startup probe fails" and
/// container_lifecycle_test.go (e2e_node): "should call the container's
/// preStop hook and terminate it if its startup probe fails".
#[test]
fn failing_startup_probe_runs_pre_stop_and_restarts() {
    let probe = json!({"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1});
    let r = start(
        &[
            ("HOOKINIT_STARTUP_PROBE", &probe.to_string()),
            ("HOOKINIT_PRE_STOP", r#"["sh","-c","echo pre-stop-ran"]"#),
        ],
        APP,
    );
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    let (pre, term) = (f.stdout.find("pre-stop-ran"), f.stdout.find("app-term"));
    assert!(pre.is_some() && pre < term, "{f:#?}");
    assert!(events(&f.stderr, "Killing")[0].contains("failed startup probe, will be restarted"));
}

/// container_lifecycle_test.go (e2e_node): "should call the container's
/// preStop hook and terminate it if its liveness probe fails".
#[test]
fn failing_liveness_probe_runs_pre_stop_and_restarts() {
    let probe = json!({"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1});
    let r = start(
        &[
            ("HOOKINIT_LIVENESS_PROBE", &probe.to_string()),
            ("HOOKINIT_PRE_STOP", r#"["sh","-c","echo pre-stop-ran"]"#),
        ],
        APP,
    );
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    let (pre, term) = (f.stdout.find("pre-stop-ran"), f.stdout.find("app-term"));
    assert!(pre.is_some() && pre < term, "{f:#?}");
}

/// container_probe.go: "should *not* be restarted by liveness probe because
/// startup probe delays it".
#[test]
fn a_startup_probe_still_failing_holds_a_failing_liveness_probe() {
    let startup =
        json!({"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 60});
    let liveness =
        json!({"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1});
    let r = start(
        &[
            ("HOOKINIT_STARTUP_PROBE", &startup.to_string()),
            ("HOOKINIT_LIVENESS_PROBE", &liveness.to_string()),
        ],
        APP,
    );
    thread::sleep(secs(2.5));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "not restarted\n{f:#?}");
    let unhealthy = events(&f.stderr, "Unhealthy");
    assert!(!unhealthy.is_empty(), "{f:#?}");
    assert!(
        unhealthy.iter().all(|l| l.contains("Startup probe failed")),
        "{f:#?}"
    );
}

/// container_probe.go: "should be ready immediately after startupProbe
/// succeeds" (readiness with a long period runs at once when the container
/// has started: the kubelet's manual trigger).
#[test]
fn ready_at_once_after_the_startup_probe_succeeds() {
    let t = TempDir::new("kc-startup-ready");
    let (ok, ready) = (path(&t, "ok"), path(&t, "ready"));
    let startup = json!({"exec": {"command": ["test", "-e", ok]}, "periodSeconds": 1, "failureThreshold": 60});
    let readiness = json!({"exec": {"command": ["true"]}, "periodSeconds": 60});
    let r = start(
        &[
            ("HOOKINIT_STARTUP_PROBE", &startup.to_string()),
            ("HOOKINIT_READINESS_PROBE", &readiness.to_string()),
            ("HOOKINIT_READY_FILE", &ready),
        ],
        APP,
    );
    std::fs::write(&ok, "").unwrap();
    let t0 = Instant::now();
    assert!(eventually(secs(5.0), || exists(&ready)));
    // The startup probe's next run (≤ 1 s), then readiness at once.
    assert!(t0.elapsed() < secs(1.6), "{:?}", t0.elapsed());
    r.signal(libc::SIGTERM);
    assert_eq!(r.wait(secs(10.0)).code, Some(0));
}

/// container_probe.go: "should override timeoutGracePeriodSeconds when
/// LivenessProbe field is set": the probe's `terminationGracePeriodSeconds`
/// (2 s) replaces the pod's (30 s) for the stop it causes.
#[test]
fn liveness_probes_own_grace_period_replaces_the_containers() {
    let probe = json!({"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 1,
                       "terminationGracePeriodSeconds": 2});
    let r = start(
        &[
            ("HOOKINIT_LIVENESS_PROBE", &probe.to_string()),
            ("HOOKINIT_GRACE_PERIOD", "30"),
        ],
        APP_IGNORING_TERM,
    );
    r.wait_for("Killing", secs(5.0));
    let t0 = Instant::now();
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(5), "{f:#?}");
    assert!(t0.elapsed() < secs(2.6), "{:?}", t0.elapsed());
    assert!(events(&f.stderr, "Killing")[0].ends_with("grace period 2s"));
}

// ---- probes wait for PostStart (prober worker, pod lifecycle docs) -------------------

/// The kubelet's status gating: a container is not Running until PostStart
/// has completed, and the prober's worker (`worker.go` `doProbe`) waits for
/// Running; so its probes start after PostStart ("Container hooks": "the
/// Container's status is not set to RUNNING until the PostStart handler
/// completes"). The issue's example: PostStart `sleep 2.5; touch F` (scaled
/// to 1.5 s) with a liveness probe `cat F`, period 1, failureThreshold 1,
/// is never restarted.
#[test]
fn probes_start_only_once_post_start_has_completed() {
    let t = TempDir::new("kc-ps-probes");
    let (f_path, ready) = (path(&t, "F"), path(&t, "ready"));
    let liveness =
        json!({"exec": {"command": ["cat", f_path]}, "periodSeconds": 1, "failureThreshold": 1});
    let readiness = json!({"exec": {"command": ["cat", f_path]}, "periodSeconds": 1});
    let r = start(
        &[
            (
                "HOOKINIT_POST_START",
                &exec(&format!("sleep 1.5; touch {f_path}")).to_string(),
            ),
            ("HOOKINIT_LIVENESS_PROBE", &liveness.to_string()),
            ("HOOKINIT_READINESS_PROBE", &readiness.to_string()),
            ("HOOKINIT_READY_FILE", &ready),
        ],
        APP,
    );
    r.wait_for("HookSucceeded hook=PostStart", secs(5.0));
    // Readiness runs at once after PostStart: ready soon.
    assert!(eventually(secs(1.0), || exists(&ready)));
    thread::sleep(secs(1.2));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "not restarted\n{f:#?}");
    assert!(events(&f.stderr, "Unhealthy").is_empty(), "{f:#?}");
}

/// With `HOOKINIT_POST_START_AFTER_STARTUP=1` (hookinit's own setting):
/// the startup probe runs first, PostStart starts at its success, and
/// liveness and readiness start once PostStart has completed.
#[test]
fn after_startup_post_start_holds_liveness_and_readiness_until_it_completes() {
    let t = TempDir::new("kc-ps-after");
    let (f_path, ready) = (path(&t, "F"), path(&t, "ready"));
    let startup = json!({"exec": {"command": ["true"]}, "periodSeconds": 1});
    let liveness =
        json!({"exec": {"command": ["cat", f_path]}, "periodSeconds": 1, "failureThreshold": 1});
    let r = start(
        &[
            ("HOOKINIT_STARTUP_PROBE", &startup.to_string()),
            (
                "HOOKINIT_POST_START",
                &exec(&format!("sleep 1.5; touch {f_path}")).to_string(),
            ),
            ("HOOKINIT_POST_START_AFTER_STARTUP", "1"),
            ("HOOKINIT_LIVENESS_PROBE", &liveness.to_string()),
            ("HOOKINIT_READY_FILE", &ready),
        ],
        APP,
    );
    r.wait_for("HookStarted hook=PostStart", secs(5.0));
    assert!(!exists(&ready), "ready before PostStart completed");
    r.wait_for("HookSucceeded hook=PostStart", secs(5.0));
    // At once in fact; the bound leaves room for a loaded machine.
    assert!(
        eventually(secs(3.0), || exists(&ready)),
        "{}",
        r.r().stderr()
    );
    thread::sleep(secs(1.2));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(0), "not restarted\n{f:#?}");
    assert!(events(&f.stderr, "Unhealthy").is_empty(), "{f:#?}");
}
