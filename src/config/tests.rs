use super::*;
use crate::spec::handler::Action;
use crate::spec::probe::ProbeHandler;

/// `parse` of `args` and `env` into the configuration to run or check.
pub(super) fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let env: Vec<(OsString, OsString)> = env.iter().map(|(a, b)| (a.into(), b.into())).collect();
    match parse(&args, &env).map_err(|e| e.to_string())? {
        Request::Run(c) | Request::Check(c) => Ok(*c),
        other => Err(format!("{other:?}")),
    }
}

#[test]
fn defaults() {
    let c = run(&["app"], &[]).unwrap();
    assert_eq!(c.grace, Duration::from_secs(9));
    assert!(
        !c.signal_group && c.stop_on.contains(libc::SIGTERM) && c.stop_on.contains(libc::SIGQUIT)
    );
    assert_eq!(Grace::new(c.grace).reserve, Duration::from_secs(2));
}

#[test]
fn grace_keeps_two_seconds_or_half_the_window_for_the_app() {
    let g = |ms| Grace::new(Duration::from_millis(ms));
    assert_eq!(g(9000).reserve, Duration::from_secs(2));
    assert_eq!(g(9000).pre_stop(), Duration::from_secs(7));
    assert_eq!(g(3000).reserve, Duration::from_millis(1500));
}

#[test]
fn grace_below_two_seconds_is_raised_to_two_and_zero_leaves_no_time_for_pre_stop() {
    let g = |ms| Grace::new(Duration::from_millis(ms));
    let two = Duration::from_secs(2);
    assert_eq!(
        (g(0).window, g(0).reserve, g(0).pre_stop()),
        (two, two, Duration::ZERO)
    );
    let one = Duration::from_secs(1);
    assert_eq!(
        (g(1000).window, g(1000).reserve, g(1000).pre_stop()),
        (two, one, one)
    );
    assert_eq!((g(1).window, g(1).pre_stop()), (two, one));
    assert_eq!((g(2000).window, g(2000).pre_stop()), (two, one));
}

/// `prober_test.go` `TestProbe` ("some $(A) $(B)" with `A=script`):
/// exec probes expand from the container object's static `env`, also
/// when given on their own; without a container object, from nothing.
#[test]
fn exec_probe_commands_expand_from_the_container_objects_env() {
    let exec = |c: &Config, kind| match &c.probe(kind).unwrap().handler {
        ProbeHandler::Action(Action::Exec { command }) => command.clone(),
        other => panic!("{other:?}"),
    };
    let container = r#"{"name":"web","env":[{"name":"A","value":"script"},{"name":"S","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}}],
        "livenessProbe":{"exec":{"command":["some","$(A) $(B)","$$(A)","[$(S)]"]}}}"#;
    let own = r#"{"exec":{"command":["sh","-c","echo $(A) $$HOME"]}}"#;
    let c = run(
        &["app"],
        &[
            ("HOOKINIT_CONTAINER", container),
            ("HOOKINIT_READINESS_PROBE", own),
        ],
    )
    .unwrap();
    assert_eq!(
        exec(&c, ProbeKind::Liveness),
        ["some", "script $(B)", "$(A)", "[]"]
    );
    assert_eq!(
        exec(&c, ProbeKind::Readiness),
        ["sh", "-c", "echo script $HOME"]
    );
    let c = run(&["app"], &[("HOOKINIT_READINESS_PROBE", own)]).unwrap();
    assert_eq!(
        exec(&c, ProbeKind::Readiness),
        ["sh", "-c", "echo $(A) $HOME"]
    );
    // Hooks are not expanded: the kubelet runs their command as written.
    let c = run(
        &["app"],
        &[("HOOKINIT_PRE_STOP", r#"["echo","$(A)","$$"]"#)],
    )
    .unwrap();
    let Some(Handler::Action(Action::Exec { command })) = &c.pre_stop else {
        panic!()
    };
    assert_eq!(command, &["echo", "$(A)", "$$"]);
}

#[test]
fn reload_signal_defaults_to_hup_and_is_checked() {
    let c = run(&["app"], &[("HOOKINIT_RELOAD", r#"["nginx","-t"]"#)]).unwrap();
    assert_eq!((c.reload_signal, c.reload_timeout), (libc::SIGHUP, None));
    assert!(c
        .plan()
        .contains("\nreload:         exec [\"nginx\", \"-t\"] (timeout: none): on SIGHUP, forwarded if it succeeds\n"));
    let c = run(
        &["--reload-signal=USR2", "--reload-timeout=5", "app"],
        &[("HOOKINIT_RELOAD", r#"{"exec":{"command":["true"]}}"#)],
    )
    .unwrap();
    assert_eq!(
        (c.reload_signal, c.reload_timeout),
        (libc::SIGUSR2, Some(Duration::from_secs(5)))
    );
    assert!(run(&["app"], &[])
        .unwrap()
        .plan()
        .contains("\nreload:         none\n"));
    // A hook's timeout of 0 is none (it would fail every run at once).
    let c = run(
        &["--reload-timeout=0", "--post-start-timeout=0s", "app"],
        &[
            ("HOOKINIT_RELOAD", r#"["true"]"#),
            ("HOOKINIT_PRE_STOP_TIMEOUT", "0"),
        ],
    )
    .unwrap();
    let timeouts = (c.reload_timeout, c.post_start_timeout, c.pre_stop_timeout);
    assert_eq!(timeouts, (None, None, None));
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("HOOKINIT_RELOAD_SIGNAL", "HUP")],
            "HOOKINIT_RELOAD_SIGNAL: needs HOOKINIT_RELOAD",
        ),
        (
            &[("HOOKINIT_RELOAD", r#"["true"]"#), ("HOOKINIT_RELOAD_SIGNAL", "TERM")],
            "HOOKINIT_RELOAD_SIGNAL: the reload signal SIGTERM also starts a stop (HOOKINIT_STOP_ON)",
        ),
        (
            &[("HOOKINIT_RELOAD", r#"["true"]"#), ("HOOKINIT_STOP_ON", "TERM,HUP")],
            "HOOKINIT_RELOAD: the reload signal SIGHUP also starts a stop",
        ),
        (
            &[("HOOKINIT_RELOAD", r#"["true"]"#), ("HOOKINIT_RELOAD_SIGNAL", "KILL")],
            "HOOKINIT_RELOAD_SIGNAL: the reload signal SIGKILL cannot be caught",
        ),
        (
            &[("HOOKINIT_RELOAD", r#"["true"]"#), ("HOOKINIT_RELOAD_SIGNAL", "CHLD")],
            "HOOKINIT_RELOAD_SIGNAL: SIGCHLD cannot be the reload signal",
        ),
        (
            &[("HOOKINIT_RELOAD", r#"{"exec":{}}"#)],
            "HOOKINIT_RELOAD: exec.command: Required value",
        ),
    ];
    for (env, want) in cases {
        let e = run(&["app"], env).unwrap_err();
        assert!(e.starts_with(want), "{env:?}: {e}");
    }
}

#[test]
fn remap_and_no_command() {
    let c = run(&["app"], &[("HOOKINIT_EXIT_REMAP", "143, 130:5")]).unwrap();
    assert_eq!((c.remap(143), c.remap(130), c.remap(1)), (0, 5, 1));
    assert!(run(&[], &[]).unwrap_err().starts_with("usage:"));
    assert!(run(&["--bogus", "app"], &[])
        .unwrap_err()
        .contains("unknown option"));
}
