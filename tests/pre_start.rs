//! Pre-start handlers end to end (`HOOKINIT_PRE_START`): hookinit as PID 1
//! of a fresh PID namespace, `/bin/sh` steps and apps that print markers on
//! stdout; hookinit's events on stderr.

mod common;
use common::*;

use serde_json::{json, Value};
use std::time::Duration;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn sh(script: &str) -> Value {
    json!({"exec": {"command": ["/bin/sh", "-c", script]}})
}

/// hookinit's event lines (text), without the `hookinit: ` prefix.
fn event_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("hookinit: "))
        .collect()
}

/// Waits for `STEP-READY` on stdout (the step's own; the `HookStarted`
/// event on stderr quotes the script).
fn ready_on_stdout(r: &Running) {
    assert!(
        eventually(secs(10.0), || r.stdout().contains("STEP-READY")),
        "{}",
        r.stderr()
    );
}

fn names(f: &Finished) -> Vec<String> {
    f.events()
}

#[test]
fn steps_run_in_order_to_success_before_the_app_with_their_output() {
    let d = TempDir::new("pre-start-ok");
    let dir = d.path("data").display().to_string();
    // A port that listens: a tcpSocket step is a hookinit step, not one of
    // Kubernetes' deprecated tcpSocket lifecycle hooks (no `Deprecated`).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let steps = json!([
        sh(&format!("mkdir {dir} && echo STEP-1")),
        [
            "/bin/sh",
            "-c",
            format!("test -d {dir} && touch {dir}/ready && echo STEP-2-ERR >&2")
        ],
        {"tcpSocket": {"port": port, "host": "127.0.0.1"}},
    ])
    .to_string();
    let app = format!("test -e {dir}/ready && echo APP-RAN");
    let f = run_pid1(
        &["--", "/bin/sh", "-c", &app],
        &[("HOOKINIT_PRE_START", &steps)],
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    assert_eq!(f.stdout, "STEP-1\nAPP-RAN\n", "{f:#?}");
    assert!(f.stderr.contains("STEP-2-ERR\n"), "{f:#?}");
    assert_eq!(
        names(&f),
        [
            "HookStarted",
            "HookSucceeded",
            "HookStarted",
            "HookSucceeded",
            "HookStarted",
            "HookSucceeded"
        ],
        "{f:#?}"
    );
    let lines = event_lines(&f.stderr);
    assert!(
        lines[0].starts_with(
            "HookStarted hook=PreStart handler=exec: exec [\"/bin/sh\", \"-c\", \"mkdir "
        ),
        "{f:#?}"
    );
    assert!(
        lines[1]
            .starts_with("HookSucceeded hook=PreStart handler=exec: PreStart hook succeeded in 0."),
        "{f:#?}"
    );
}

#[test]
fn a_failed_step_stops_there_and_the_app_never_starts_exit_6() {
    let d = TempDir::new("pre-start-fail");
    let third = d.path("third").display().to_string();
    let app_ran = d.path("app").display().to_string();
    let steps = json!([
        sh("true"),
        sh("echo 'no database' >&2; exit 3"),
        sh(&format!("touch {third}")),
    ])
    .to_string();
    let f = run_pid1(
        &["--", "/bin/sh", "-c", &format!("touch {app_ran}")],
        &[("HOOKINIT_PRE_START", &steps)],
    );
    assert_eq!(f.code, Some(6), "{f:#?}");
    assert!(!std::path::Path::new(&third).exists());
    assert!(!std::path::Path::new(&app_ran).exists());
    let lines = event_lines(&f.stderr);
    assert_eq!(
        &lines[lines.len() - 2..],
        [
            "FailedPreStartHook hook=PreStart handler=exec: PreStart hook failed: command '/bin/sh -c echo 'no database' >&2; exit 3' exited with 3: no database",
            "PreStartFailed: pre-start step 2 of 3 failed (exit 6)",
        ],
        "{f:#?}"
    );
}

#[test]
fn a_step_past_its_timeout_is_killed_and_fails() {
    let steps = json!([{"exec": {"command": ["sleep", "100"]}, "timeoutSeconds": 1}]).to_string();
    let mut r = Running::pid1(&["--", "true"], &[("HOOKINIT_PRE_START", &steps)]);
    r.wait_for("HookStarted", secs(10.0));
    r.mark();
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(6), "{f:#?}");
    // From the moment the test saw the step start (a little after it did).
    assert!(
        f.elapsed >= secs(0.9) && f.elapsed < secs(1.6),
        "{:?}\n{f:#?}",
        f.elapsed
    );
    assert!(
        event_lines(&f.stderr).contains(
            &"FailedPreStartHook hook=PreStart handler=exec: PreStart hook failed: timed out after 1.0s"
        ),
        "{f:#?}"
    );
}

/// The step's command gets the stop signal and ends on it: no further step,
/// no app; exit 128 + the signal.
#[test]
fn a_stop_signal_ends_the_running_step_and_exits_without_the_app() {
    let d = TempDir::new("pre-start-stop");
    let next = d.path("next").display().to_string();
    let step = "trap 'echo STEP-TERM; exit 0' TERM; echo STEP-READY; while :; do sleep 1 & wait $!; done 2>/dev/null";
    let steps = json!([sh(step), sh(&format!("touch {next}"))]).to_string();
    let mut r = Running::pid1(
        &["--", "/bin/sh", "-c", "echo APP-RAN"],
        &[("HOOKINIT_PRE_START", &steps)],
    );
    ready_on_stdout(&r);
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(143), "{f:#?}");
    // A `sleep` forked as the signal came may have run the shell's trap
    // before its exec (STEP-TERM twice) or outlived the step: it is then
    // drained as any leftover, within the cleanup timeout (2 s).
    assert!(f.elapsed < secs(2.5), "{:?}\n{f:#?}", f.elapsed);
    assert!(f.stdout.starts_with("STEP-READY\nSTEP-TERM\n"), "{f:#?}");
    assert!(!std::path::Path::new(&next).exists());
    let lines = event_lines(&f.stderr);
    assert!(
        lines.contains(&"Killing: stopping the container: received SIGTERM; grace period 9s"),
        "{f:#?}"
    );
    let ended = lines
        .iter()
        .position(|l| l.starts_with("HookSucceeded hook=PreStart"))
        .unwrap_or_else(|| panic!("{f:#?}"));
    assert!(
        lines[ended + 1..]
            .iter()
            .all(|l| l.starts_with("SigtermSent: ") || l.starts_with("SigkillSent: ")),
        "{f:#?}"
    );
}

/// A step that ignores the stop signal is killed when the grace window ends.
#[test]
fn a_step_ignoring_the_stop_signal_is_killed_at_the_grace_deadline() {
    let step = "trap '' TERM; echo STEP-READY; while :; do sleep 1; done";
    let steps = json!([sh(step)]).to_string();
    let mut r = Running::pid1(
        &["--", "true"],
        &[
            ("HOOKINIT_PRE_START", &steps),
            ("HOOKINIT_GRACE_PERIOD", "2"),
        ],
    );
    ready_on_stdout(&r);
    r.mark();
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(143), "{f:#?}");
    assert!(
        f.elapsed >= secs(2.0) && f.elapsed < secs(2.8),
        "{:?}\n{f:#?}",
        f.elapsed
    );
    // How long the step ran: from its start, a little before the stop. (A
    // `sleep` the step forked as it was killed may escape its group's
    // SIGKILL: then `SigkillSent` follows, for the rest of the namespace.)
    let lines = event_lines(&f.stderr);
    let killed = lines
        .iter()
        .position(|l| l.starts_with("FailedPreStartHook hook=PreStart handler=exec: PreStart killed at the end of the grace period after 2."))
        .unwrap_or_else(|| panic!("{f:#?}"));
    assert!(
        lines[killed + 1..]
            .iter()
            .all(|l| l.starts_with("SigkillSent: SIGKILL sent to ")
                && l.ends_with(": the grace period of 2s is over")),
        "{f:#?}"
    );
}

/// A sleep step has nothing of its own to finish: a stop ends it at once.
#[test]
fn a_stop_during_a_sleep_step_ends_it_at_once() {
    let steps = json!([{"sleep": {"seconds": 5}}]).to_string();
    let mut r = Running::pid1(&["--", "true"], &[("HOOKINIT_PRE_START", &steps)]);
    r.wait_for("HookStarted", secs(10.0));
    r.mark();
    r.signal(libc::SIGINT);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(130), "{f:#?}");
    assert!(f.elapsed < secs(0.5), "{:?}\n{f:#?}", f.elapsed);
    assert!(
        event_lines(&f.stderr).last().unwrap().starts_with(
            "HookCancelled hook=PreStart handler=sleep: the container is stopping after 0."
        ),
        "{f:#?}"
    );
}

/// The loop runs from the first step: nothing allocates after start-up,
/// neither through the steps and the app's start nor on a stop during a
/// step; the app starts only after the last step succeeded.
#[test]
fn no_allocation_from_the_first_step_on_through_the_app_or_a_stop() {
    let steps = json!([["true"], {"sleep": {"seconds": 0}}]).to_string();
    let f = run_pid1(
        &["--", "true"],
        &[("HOOKINIT_PRE_START", &steps), ("HOOKINIT_VERBOSITY", "3")],
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    let names = names(&f);
    let order: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| ["HookSucceeded", "Started", "Exiting"].contains(n))
        .collect();
    assert_eq!(
        order,
        ["HookSucceeded", "HookSucceeded", "Started", "Exiting"],
        "{f:#?}"
    );
    assert!(
        f.stderr
            .contains("Exiting: exit code 0; 0 heap allocations after start-up"),
        "{f:#?}"
    );
    let steps = json!([{"sleep": {"seconds": 5}}]).to_string();
    let r = Running::pid1(
        &["--", "true"],
        &[("HOOKINIT_PRE_START", &steps), ("HOOKINIT_VERBOSITY", "3")],
    );
    r.wait_for("HookStarted", secs(10.0));
    r.signal(libc::SIGTERM);
    let f = r.wait(secs(10.0));
    assert_eq!(f.code, Some(143), "{f:#?}");
    assert!(!f.events().contains(&"Started".to_string()), "{f:#?}");
    assert!(
        f.stderr
            .contains("Exiting: exit code 143; 0 heap allocations after start-up"),
        "{f:#?}"
    );
}

#[test]
fn pre_start_events_in_json_and_the_plan() {
    let steps = json!([["true"], {"sleep": {"seconds": 1}, "timeoutSeconds": 3}]).to_string();
    let f = run_pid1(
        &["--", "true"],
        &[
            ("HOOKINIT_PRE_START", &steps),
            ("HOOKINIT_LOG_FORMAT", "json"),
        ],
    );
    assert_eq!(f.code, Some(0), "{f:#?}");
    let events: Vec<(String, String)> = f
        .stderr
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            (
                v["event"].as_str().unwrap().into(),
                v["hook"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        "HookStarted",
        "HookSucceeded",
        "HookStarted",
        "HookSucceeded",
    ];
    assert_eq!(
        events,
        want.map(|e| (e.to_string(), "PreStart".to_string())),
        "{f:#?}"
    );
    let out = std::process::Command::new(bin())
        .args(["--check", "--pre-start", &steps, "app"])
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "\npreStart:       1. exec [\"true\"] (timeout: none); 2. sleep 1s (timeout: 3s)\n"
        ),
        "{stdout}"
    );
    let out = std::process::Command::new(bin())
        .args(["--check", "app"])
        .env_clear()
        .env(
            "HOOKINIT_PRE_START",
            r#"[["true"], {"exec":{"command":["x"]},"timeout":1}]"#,
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "hookinit: HOOKINIT_PRE_START: [1].timeout: unknown field (expected one of: exec, httpGet, tcpSocket, sleep, timeoutSeconds)\n"
    );
}

#[path = "common/e2e.rs"]
mod e2e;

/// The issue's image: `FROM scratch` with only hookinit and a static
/// busybox (used as programs, never as a shell: there is no /bin/sh),
/// whose pre-start steps prepare a directory before the app lists it; and
/// the same image with a failing step: exit 6, the app never runs.
#[test]
fn a_shell_less_scratch_image_prepares_a_directory_before_its_app() {
    let ctx = TempDir::new("pre-start-image");
    let rest = "ENV HOOKINIT_PRE_START='[[\"/busybox\",\"mkdir\",\"-p\",\"/data/cache\"],[\"/busybox\",\"touch\",\"/data/cache/prepared\"]]'\n\
                ENTRYPOINT [\"/hookinit\", \"--\"]\n\
                CMD [\"/busybox\", \"ls\", \"/data/cache\"]\n";
    let Some(image) = e2e::scratch_image("pre-start", &bin(), &ctx.0, rest) else {
        return;
    };
    let c = e2e::Container::start("pre-start-ok", &image, &[], &[]);
    assert_eq!(c.exit_code(), 0, "{}", c.logs().all());
    let logs = c.logs();
    assert_eq!(logs.out, "prepared\n", "{}", logs.all());
    assert_eq!(
        logs.err.matches("HookSucceeded hook=PreStart").count(),
        2,
        "{}",
        logs.all()
    );
    let failing = r#"HOOKINIT_PRE_START=[["/busybox","false"],["/busybox","mkdir","/data"]]"#;
    let c = e2e::Container::start("pre-start-fail", &image, &["-e", failing], &[]);
    assert_eq!(c.exit_code(), 6, "{}", c.logs().all());
    let logs = c.logs();
    assert_eq!(logs.out, "", "{}", logs.all());
    assert!(
        logs.err
            .ends_with("hookinit: PreStartFailed: pre-start step 1 of 2 failed (exit 6)\n"),
        "{}",
        logs.all()
    );
}

/// What a step left behind is the run's, as an app's leftovers: when
/// pre-start fails it gets SIGTERM, and hookinit exits (and post-stop runs)
/// only once it is gone, as PID 1 and not.
#[test]
fn what_a_failed_pre_start_left_gets_sigterm_before_the_exit() {
    let d = TempDir::new("pre-start-left");
    let ready = d.path("ready").display().to_string();
    let termed = d.path("termed").display().to_string();
    // (Its output pipe closes with the step: it writes nowhere, and says
    // that it got SIGTERM by a file.)
    let left = format!(
        "(trap 'touch {termed}; exit 0' TERM; touch {ready}; while :; do sleep 0.05; done) \
         >/dev/null 2>&1 & while [ ! -e {ready} ]; do sleep 0.01; done"
    );
    let steps = json!([sh(&left), sh("exit 3")]).to_string();
    let post = json!([
        "/bin/sh",
        "-c",
        format!("test -e {termed} && echo POST-AFTER-TERM")
    ]);
    let post = post.to_string();
    let env = [
        ("HOOKINIT_PRE_START", &steps[..]),
        ("HOOKINIT_POST_STOP", &post),
    ];
    for pid1 in [true, false] {
        let _ = std::fs::remove_file(&ready);
        let _ = std::fs::remove_file(&termed);
        let args = ["--", "true"];
        let f = match pid1 {
            true => run_pid1(&args, &env),
            false => run_plain(&args, &env),
        };
        assert_eq!(f.code, Some(6), "{f:#?}");
        assert_eq!(f.stdout, "POST-AFTER-TERM\n", "pid 1: {pid1}\n{f:#?}");
        assert!(
            f.stderr.contains("SigtermSent: SIGTERM sent to ")
                && f.stderr.contains(" after pre-start; SIGKILL follows"),
            "{f:#?}"
        );
    }
}

/// Not PID 1, with /proc unreadable (hidepid, another user): the drain of
/// what a failed pre-start left cannot walk /proc, and with no app there is
/// no process group to fall back on. hookinit must not signal its own
/// (`kill(-0)`): it exits 6, not killed.
#[test]
fn a_failed_pre_start_with_proc_unreadable_does_not_signal_hookinits_own_group() {
    if !is_root() {
        return;
    }
    let d = TempDir::new("pre-start-hidepid");
    let own = d.path("hookinit");
    std::fs::copy(bin(), &own).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&d.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let steps = r#"[["sh","-c","(trap \"\" TERM; exec sleep 30) & exit 1"]]"#;
    let script = format!(
        "mount -t proc -o hidepid=1 proc /proc && \
         HOOKINIT_CLEANUP_TIMEOUT=1 HOOKINIT_PRE_START='{steps}' \
         setsid -w setpriv --reuid=65534 --regid=65534 --clear-groups {} true; \
         echo rc=$?",
        own.display()
    );
    let out = std::process::Command::new("unshare")
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .args(["--pid", "--fork", "--mount", "--propagation", "private"])
        .args(["sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("rc=6"), "{stdout}\n{stderr}");
    assert!(!stderr.contains("process group only"), "{stderr}");
}
