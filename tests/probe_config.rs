//! Probe and Container configuration end to end: a Container object
//! pasted from `kubectl get pod -o json` (`.spec.containers[0]`) is
//! accepted by `hookinit --check`, its named ports resolve in its hooks and
//! probes (and in probes given on their own), and the plan shows one line
//! per probe. No root needed: `--check` starts nothing.

mod common;
use common::*;

use std::process::{Command, Stdio};

/// A container as `kubectl get pod web-7d9c5b7f4-x2x9q -o json` prints it
/// (keys sorted, every default filled in by the API server).
const KUBECTL_CONTAINER: &str = r#"{
    "args": [
        "--config=/etc/web/config.yaml"
    ],
    "command": [
        "/app/web"
    ],
    "env": [
        {
            "name": "POD_NAME",
            "valueFrom": {
                "fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": "metadata.name"
                }
            }
        },
        {
            "name": "LOG_LEVEL",
            "value": "info"
        }
    ],
    "envFrom": [
        {
            "configMapRef": {
                "name": "web-config"
            }
        }
    ],
    "image": "registry.example.com/shop/web:1.4.2",
    "imagePullPolicy": "IfNotPresent",
    "lifecycle": {
        "postStart": {
            "exec": {
                "command": [
                    "/bin/sh",
                    "-c",
                    "echo started > /tmp/started"
                ]
            }
        },
        "preStop": {
            "httpGet": {
                "path": "/drain",
                "port": "admin",
                "scheme": "HTTP"
            }
        }
    },
    "livenessProbe": {
        "failureThreshold": 3,
        "httpGet": {
            "httpHeaders": [
                {
                    "name": "X-Probe",
                    "value": "liveness"
                }
            ],
            "path": "/healthz",
            "port": "http",
            "scheme": "HTTP"
        },
        "initialDelaySeconds": 10,
        "periodSeconds": 10,
        "successThreshold": 1,
        "terminationGracePeriodSeconds": 5,
        "timeoutSeconds": 1
    },
    "name": "web",
    "ports": [
        {
            "containerPort": 8080,
            "name": "http",
            "protocol": "TCP"
        },
        {
            "containerPort": 9901,
            "name": "admin",
            "protocol": "TCP"
        },
        {
            "containerPort": 9090,
            "protocol": "TCP"
        }
    ],
    "readinessProbe": {
        "failureThreshold": 3,
        "periodSeconds": 5,
        "successThreshold": 2,
        "tcpSocket": {
            "port": "admin"
        },
        "timeoutSeconds": 2
    },
    "resources": {
        "limits": {
            "cpu": "500m",
            "memory": "256Mi"
        },
        "requests": {
            "cpu": "100m",
            "memory": "128Mi"
        }
    },
    "securityContext": {
        "allowPrivilegeEscalation": false,
        "capabilities": {
            "drop": [
                "ALL"
            ]
        },
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "runAsUser": 10001
    },
    "startupProbe": {
        "failureThreshold": 30,
        "httpGet": {
            "path": "/started",
            "port": "http",
            "scheme": "HTTP"
        },
        "periodSeconds": 2,
        "successThreshold": 1,
        "timeoutSeconds": 1
    },
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "volumeMounts": [
        {
            "mountPath": "/etc/web",
            "name": "config",
            "readOnly": true
        },
        {
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            "name": "kube-api-access-x7k2p",
            "readOnly": true
        }
    ]
}"#;

/// `hookinit --check ARGS` with only `env` (and PATH): (exit code, stdout, stderr).
fn check(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = Command::new(bin())
        .arg("--check")
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run hookinit");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The plan's value for `key` (`liveness:`), without the padding.
fn plan_line<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} line in:\n{stdout}"))
        .trim_start()
}

const PLAN: &[(&str, &str)] = &[
    ("container:", "web"),
    (
        "postStart:",
        r#"exec ["/bin/sh", "-c", "echo started > /tmp/started"] (timeout: none)"#,
    ),
    ("preStop:", "httpGet http://127.0.0.1:9901/drain (timeout: none)"),
    (
        "startup:",
        "httpGet http://127.0.0.1:8080/started every 2s, timeout 1s, delay 0s, failure after 30, success after 1 (grace: the container's)",
    ),
    (
        "liveness:",
        "httpGet http://127.0.0.1:8080/healthz every 10s, timeout 1s, delay 10s, failure after 3, success after 1 (grace: 5s)",
    ),
    (
        "readiness:",
        "tcpSocket 127.0.0.1:9901 every 5s, timeout 2s, delay 0s, failure after 3, success after 2",
    ),
];

#[test]
fn a_kubectl_container_object_is_accepted_by_check() {
    let (code, stdout, stderr) = check(&[], &[("HOOKINIT_CONTAINER", KUBECTL_CONTAINER)]);
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.ends_with("configuration OK\n"), "{stdout}");
    assert!(!stdout.contains("warning:"), "{stdout}");
    for (key, want) in PLAN {
        assert_eq!(plan_line(&stdout, key), *want, "{key}\n{stdout}");
    }
    // The exact line format, padding included.
    assert!(
        stdout.contains("\nliveness:       httpGet http://127.0.0.1:8080/healthz every 10s"),
        "{stdout}"
    );
}

#[test]
fn the_container_in_the_config_file_and_as_a_flag() {
    let d = TempDir::new("probe-config");
    let file = d.path("hookinit.json");
    std::fs::write(
        &file,
        format!(r#"{{"container": {KUBECTL_CONTAINER}, "terminationGracePeriodSeconds": 28}}"#),
    )
    .unwrap();
    let (code, stdout, stderr) = check(&[], &[("HOOKINIT_CONFIG", file.to_str().unwrap())]);
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    for (key, want) in PLAN {
        assert_eq!(plan_line(&stdout, key), *want, "{key}\n{stdout}");
    }
    assert!(
        plan_line(&stdout, "grace period:").starts_with("28s "),
        "{stdout}"
    );

    let flag = format!("--container={KUBECTL_CONTAINER}");
    let (code, stdout, stderr) = check(&[&flag], &[]);
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    for (key, want) in PLAN {
        assert_eq!(plan_line(&stdout, key), *want, "{key}\n{stdout}");
    }
}

#[test]
fn probes_on_their_own_use_the_container_ports_and_precedence() {
    // A flag's liveness probe overrides the container's (a lower source);
    // a variable's probe names the container's port.
    let (code, stdout, stderr) = check(
        &[r#"--liveness-probe={"grpc":{"port":50051},"periodSeconds":3}"#],
        &[
            (
                "HOOKINIT_CONTAINER",
                r#"{"name":"api","ports":[{"name":"http","containerPort":8080}]}"#,
            ),
            (
                "HOOKINIT_READINESS_PROBE",
                r#"{"httpGet":{"port":"http","path":"/ready"}}"#,
            ),
            (
                "HOOKINIT_STARTUP_PROBE",
                r#"{"tcpSocket":{"port":"http"},"failureThreshold":60,"periodSeconds":1}"#,
            ),
            (
                "HOOKINIT_POST_START",
                r#"{"httpGet":{"port":"http","path":"/warm"}}"#,
            ),
            ("HOOKINIT_POST_START_AFTER_STARTUP", "1"),
        ],
    );
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    // With the knob and a startup probe, no warning about an httpGet PostStart.
    assert!(!stdout.contains("warning:"), "{stdout}");
    assert_eq!(plan_line(&stdout, "container:"), "api");
    assert_eq!(
        plan_line(&stdout, "postStart:"),
        "httpGet http://127.0.0.1:8080/warm (timeout: none), once the startup probe first succeeds"
    );
    assert_eq!(
        plan_line(&stdout, "startup:"),
        "tcpSocket 127.0.0.1:8080 every 1s, timeout 1s, delay 0s, failure after 60, success after 1 (grace: the container's)"
    );
    assert_eq!(
        plan_line(&stdout, "liveness:"),
        r#"grpc 127.0.0.1:50051 service "" every 3s, timeout 1s, delay 0s, failure after 3, success after 1 (grace: the container's)"#
    );
    assert_eq!(
        plan_line(&stdout, "readiness:"),
        "httpGet http://127.0.0.1:8080/ready every 10s, timeout 1s, delay 0s, failure after 3, success after 1"
    );
}

#[test]
fn no_probes_and_the_knob_without_a_startup_probe() {
    let (code, stdout, stderr) = check(&[], &[("HOOKINIT_POST_START_AFTER_STARTUP", "1")]);
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    for key in ["startup:", "liveness:", "readiness:"] {
        assert_eq!(plan_line(&stdout, key), "none", "{stdout}");
    }
    assert!(!stdout.contains("\ncontainer:"), "{stdout}");
    assert!(
        stdout.contains(
            "warning: postStartAfterStartup has no effect without a startup probe: PostStart starts with the app\n"
        ),
        "{stdout}"
    );
}

#[test]
fn exec_probe_not_found_is_a_warning() {
    let (code, stdout, stderr) = check(
        &[],
        &[(
            "HOOKINIT_LIVENESS_PROBE",
            r#"{"exec":{"command":["/nonexistent/healthy"]}}"#,
        )],
    );
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.contains(
            "warning: livenessProbe: '/nonexistent/healthy' is not found (the probe would fail with exit 127)\n"
        ),
        "{stdout}"
    );
}
