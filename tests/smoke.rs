mod common;
use common::*;

#[test]
fn exit_code_as_pid1() {
    let f = run_pid1(&["--", "sh", "-c", "exit 7"], &[]);
    assert_eq!(f.code, Some(7), "{f:?}");
}

#[test]
fn instant_exit_as_pid1_is_a_finished_run() {
    // hookinit exits before the harness can look up its pid: still a normal result.
    let f = run_pid1(&["--version"], &[]);
    assert_eq!(f.code, Some(0), "{f:?}");
    assert_eq!(
        f.stdout.trim(),
        format!("hookinit {}", env!("CARGO_PKG_VERSION"))
    );
}
