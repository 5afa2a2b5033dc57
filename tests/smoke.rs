mod common;
use common::*;

#[test]
fn exit_code_as_pid1() {
    let f = run_pid1(&["--", "sh", "-c", "exit 7"], &[]);
    assert_eq!(f.code, Some(7), "{f:?}");
}
