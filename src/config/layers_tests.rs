use super::*;
use crate::config::tests::run;
use crate::spec::handler::Action;

#[test]
fn flag_wins_over_env() {
    let c = run(
        &["--grace-period=3", "--", "app"],
        &[("HOOKINIT_GRACE_PERIOD", "5")],
    )
    .unwrap();
    assert_eq!(c.grace, Duration::from_secs(3));
    let c = run(&["app"], &[("HOOKINIT_GRACE_PERIOD", "2.5s")]).unwrap();
    assert_eq!(c.grace, Duration::from_millis(2500));
    assert_eq!(
        crate::config::Grace::new(c.grace).reserve,
        Duration::from_millis(1250)
    );
}

#[test]
fn hook_twice_in_one_source_is_an_error() {
    let e = run(
        &["app"],
        &[
            (
                "HOOKINIT_LIFECYCLE",
                r#"{"preStop":{"sleep":{"seconds":1}}}"#,
            ),
            ("HOOKINIT_PRE_STOP", r#"["true"]"#),
        ],
    )
    .unwrap_err();
    assert!(
        e.starts_with("HOOKINIT_PRE_STOP: preStop is also set in HOOKINIT_LIFECYCLE"),
        "{e}"
    );
    // A flag overrides the environment without conflict.
    let c = run(
        &["--pre-stop", r#"["a"]"#, "app"],
        &[(
            "HOOKINIT_LIFECYCLE",
            r#"{"preStop":{"sleep":{"seconds":1}}}"#,
        )],
    )
    .unwrap();
    assert_eq!(
        c.pre_stop,
        Some(Handler::Action(Action::Exec {
            command: vec!["a".into()]
        }))
    );
}

const CONTAINER: &str = r#"{"name":"web","image":"nginx","ports":[{"name":"http","containerPort":8080},{"name":"admin","containerPort":9901}],
    "livenessProbe":{"httpGet":{"path":"/healthz","port":"http"},"failureThreshold":5},
    "lifecycle":{"preStop":{"httpGet":{"port":"admin","path":"/drain"}}}}"#;

#[test]
fn probes_and_the_container() {
    let c = run(
        &["app"],
        &[
            ("HOOKINIT_CONTAINER", CONTAINER),
            (
                "HOOKINIT_READINESS_PROBE",
                r#"{"tcpSocket":{"port":"admin"}}"#,
            ),
        ],
    )
    .unwrap();
    assert_eq!(c.container_name.as_deref(), Some("web"));
    let live = c.liveness_probe.as_ref().unwrap();
    assert_eq!(
        live.handler.describe().to_string(),
        "httpGet http://127.0.0.1:8080/healthz"
    );
    assert_eq!(live.failure_threshold, 5);
    assert_eq!(
        c.readiness_probe
            .as_ref()
            .unwrap()
            .handler
            .describe()
            .to_string(),
        "tcpSocket 127.0.0.1:9901"
    );
    assert_eq!(
        c.pre_stop.as_ref().unwrap().describe().to_string(),
        "httpGet http://127.0.0.1:9901/drain"
    );
    assert!(c.startup_probe.is_none() && !c.post_start_after_startup);
    let plan = c.plan();
    assert!(plan.contains("\ncontainer:      web\n"), "{plan}");
    assert!(plan.contains("\nstartup:        none\n"), "{plan}");
    assert!(
        plan.contains("\nliveness:       httpGet http://127.0.0.1:8080/healthz every 10s, timeout 1s, delay 0s, failure after 5, success after 1 (grace: the container's)\n"),
        "{plan}"
    );
    assert!(
        plan.contains("\nreadiness:      tcpSocket 127.0.0.1:9901 every 10s, timeout 1s, delay 0s, failure after 3, success after 1\n"),
        "{plan}"
    );

    // The container in the file, a probe naming its port in a flag.
    let dir = std::env::temp_dir().join(format!("hookinit-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.json");
    std::fs::write(&file, format!(r#"{{"container": {CONTAINER}}}"#)).unwrap();
    let c = run(
        &[r#"--startup-probe={"httpGet":{"port":"http"},"failureThreshold":30,"periodSeconds":1}"#, "--post-start-after-startup=1", "app"],
        &[("HOOKINIT_CONFIG", file.to_str().unwrap())],
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        c.startup_probe
            .as_ref()
            .unwrap()
            .handler
            .describe()
            .to_string(),
        "httpGet http://127.0.0.1:8080/"
    );
    assert!(c.post_start_after_startup && c.liveness_probe.is_some());
    // A flag overrides the container's probe of a lower source.
    let c = run(
        &[r#"--liveness-probe={"exec":{"command":["true"]}}"#, "app"],
        &[("HOOKINIT_CONTAINER", CONTAINER)],
    )
    .unwrap();
    assert_eq!(c.liveness_probe.unwrap().handler.kind(), "exec");
}

#[test]
fn named_port_errors() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("HOOKINIT_LIVENESS_PROBE", r#"{"httpGet":{"port":"http"}}"#)],
            "HOOKINIT_LIVENESS_PROBE: httpGet.port: named port \"http\" is not supported",
        ),
        (
            &[
                ("HOOKINIT_CONTAINER", CONTAINER),
                ("HOOKINIT_LIFECYCLE", r#"{"postStart":{"tcpSocket":{"port":"grpc"}}}"#),
            ],
            "HOOKINIT_LIFECYCLE: postStart.tcpSocket.port: named port \"grpc\" is not among the container's ports (known: http, admin)",
        ),
        (
            &[
                ("HOOKINIT_CONTAINER", CONTAINER),
                ("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":["true"]}}"#),
            ],
            "HOOKINIT_LIVENESS_PROBE: livenessProbe is also set in HOOKINIT_CONTAINER: set it in one place only",
        ),
        (
            &[
                ("HOOKINIT_CONTAINER", CONTAINER),
                ("HOOKINIT_PRE_STOP", r#"["true"]"#),
            ],
            "HOOKINIT_PRE_STOP: preStop is also set in HOOKINIT_CONTAINER: set each hook in one place only",
        ),
        (
            &[("HOOKINIT_READINESS_PROBE", r#"{"exec":{"command":["true"]},"terminationGracePeriodSeconds":3}"#)],
            "HOOKINIT_READINESS_PROBE: terminationGracePeriodSeconds: Invalid value: 3: must not be set for readinessProbes",
        ),
        (
            &[("HOOKINIT_POST_START_AFTER_STARTUP", "maybe")],
            "HOOKINIT_POST_START_AFTER_STARTUP: \"maybe\" is not a boolean",
        ),
    ];
    for (env, want) in cases {
        let e = run(&["app"], env).unwrap_err();
        assert!(e.starts_with(want), "{env:?}: {e}");
    }
}
