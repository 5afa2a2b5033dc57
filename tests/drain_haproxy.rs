//! The drain autopilot behind a real balancer: two nginx backends under
//! hookinit, each in its own network and PID namespace (two pods), behind
//! Debian's HAProxy health-checking hookinit's readiness endpoint
//! (`inter 200ms fall 2`), under continuous keep-alive, new-connection and
//! slow-download load; rolling stops (tests/drain_bench.py does the work).
//!
//! The autopilot (`HOOKINIT_DRAIN`, nginx's QUIT as the stop signal) must
//! fail no request, and each stop must take no longer than the balancer's
//! detection (2 x 200 ms) + the quiet interval (0.5 s) + one sample and
//! nginx's own graceful exit (an in-flight 128 KB download at 256 KB/s:
//! 0.5 s at most). hookinit's defaults (TERM at once) are run alongside for
//! the comparison (printed, not asserted: their failures vary).
//!
//! Needs root, nginx, haproxy and tini (scripts/setup); without them the
//! test says so and passes, unless `E2E_REQUIRE_SERVERS=1` (CI).

mod common;

use common::*;
use std::process::Command;

const REQUIRE: &str = "E2E_REQUIRE_SERVERS";

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One set-up's line of the bench's output: (failed, requests, stop_max).
fn result(out: &str, setup: &str) -> (u64, u64, f64) {
    let line = out
        .lines()
        .find(|l| l.contains(&format!("\"setup\": \"{setup}\"")))
        .unwrap_or_else(|| panic!("no result for {setup}: {out}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    (
        v["failed"].as_u64().unwrap(),
        v["requests"].as_u64().unwrap(),
        v["stop_max"].as_f64().unwrap(),
    )
}

#[test]
fn the_autopilot_drops_no_request_behind_haproxy_and_stops_within_detection_plus_quiet() {
    assert!(is_root(), "needs root");
    let missing: Vec<_> = ["nginx", "haproxy", "tini", "ip", "unshare"]
        .into_iter()
        .filter(|p| !have(p))
        .collect();
    if !missing.is_empty() {
        let msg = format!("skipped: {missing:?} not installed (scripts/setup)");
        assert!(std::env::var_os(REQUIRE).is_none(), "{msg}");
        eprintln!("{msg}");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/drain_bench.py");
    let out = Command::new("unshare")
        .args(["--net", "python3", script])
        .arg(bin())
        .args(["drain,defaults", "4", "200", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{err}");
    eprintln!("{text}");
    let (failed, requests, stop_max) = result(&text, "drain");
    assert!(requests > 1000, "{text}");
    assert_eq!(failed, 0, "the autopilot failed requests: {text}");
    let bound = 2.0 * 0.2 + 0.5 + 0.3 + 0.5;
    assert!(
        stop_max <= bound,
        "a stop took {stop_max:.2}s > {bound}s: {text}"
    );
    let _ = result(&text, "defaults");
}
