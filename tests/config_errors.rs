//! Malformed configurations, one test each: hookinit (PID 1 of a fresh PID
//! namespace) must exit 2 before starting the app (which would create a
//! marker file), with one error line on stderr naming the variable, flag or
//! file, and the JSON path where there is one.

mod common;
use common::*;

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Command;
use std::time::Duration;

/// One malformed configuration.
#[derive(Default)]
struct Case {
    env: Vec<(OsString, OsString)>,
    args: Vec<OsString>,
    /// Config file content; its path is `{file}` in `wants`.
    file: Option<Vec<u8>>,
    /// Pass the file with `--config` instead of `HOOKINIT_CONFIG`.
    file_flag: bool,
    /// The app's argv instead of the marker-creating default.
    command: Option<Vec<OsString>>,
    /// Substrings stderr must contain (`{file}` is the config file's path).
    wants: Vec<String>,
}

fn env(name: &str, value: &str) -> Case {
    Case::default().env(name, value)
}

fn flags(args: &[&str]) -> Case {
    Case::default().args(args)
}

fn file(content: &str) -> Case {
    Case {
        file: Some(content.as_bytes().to_vec()),
        ..Case::default()
    }
}

impl Case {
    fn env(self, name: &str, value: &str) -> Case {
        self.env_bytes(name.as_bytes(), value.as_bytes())
    }

    fn env_bytes(mut self, name: &[u8], value: &[u8]) -> Case {
        self.env.push((
            OsString::from_vec(name.to_vec()),
            OsString::from_vec(value.to_vec()),
        ));
        self
    }

    fn args(mut self, args: &[&str]) -> Case {
        self.args.extend(args.iter().map(OsString::from));
        self
    }

    fn arg_bytes(mut self, arg: &[u8]) -> Case {
        self.args.push(OsString::from_vec(arg.to_vec()));
        self
    }

    fn file_content(mut self, content: &[u8]) -> Case {
        self.file = Some(content.to_vec());
        self
    }

    fn via_flag(mut self) -> Case {
        self.file_flag = true;
        self
    }

    fn command(mut self, argv: &[&str]) -> Case {
        self.command = Some(argv.iter().map(OsString::from).collect());
        self
    }

    fn want(mut self, s: &str) -> Case {
        self.wants.push(s.to_string());
        self
    }
}

fn check(case: Case) {
    let d = TempDir::new("cfgerr");
    let marker = d.path("app-ran");
    let config = d.path("config.json");
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(bin())
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        );
    if let Some(content) = &case.file {
        std::fs::write(&config, content).unwrap();
        if case.file_flag {
            cmd.arg(format!("--config={}", config.display()));
        } else {
            cmd.env("HOOKINIT_CONFIG", &config);
        }
    }
    cmd.args(&case.args);
    match &case.command {
        Some(argv) => cmd.args(argv),
        None => cmd
            .args(["--", "/bin/sh", "-c"])
            .arg(format!("touch {}", marker.display())),
    };
    for (k, v) in &case.env {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    // `false`: hookinit exits too fast for the harness to look up its pid
    // under unshare (which it would wait 5 s for); nothing is signalled here.
    let f = Running::start(cmd, false).wait(Duration::from_secs(20));

    let app_ran = marker.exists();
    let mut problems = Vec::new();
    if f.code != Some(2) {
        problems.push(format!("exit code {:?}, want 2", f.code));
    }
    if app_ran {
        problems.push("the app ran".to_string());
    }
    let lines: Vec<&str> = f.stderr.lines().collect();
    if lines.len() != 1 || !lines[0].starts_with("hookinit: ") {
        problems.push("stderr is not one `hookinit: ...` line".to_string());
    }
    for want in &case.wants {
        let want = want.replace("{file}", &config.display().to_string());
        if !f.stderr.contains(&want) {
            problems.push(format!("stderr lacks {want:?}"));
        }
    }
    if f.stdout.contains("configuration OK") {
        problems.push("stdout says configuration OK".to_string());
    }
    assert!(
        problems.is_empty(),
        "{}\nstderr: {}\nstdout: {}",
        problems.join("\n"),
        f.stderr,
        f.stdout
    );
}

macro_rules! bad_config {
    ($($name:ident: $case:expr;)*) => {
        $(
            #[test]
            fn $name() {
                check($case);
            }
        )*
    };
}

const LC: &str = "HOOKINIT_LIFECYCLE";

bad_config! {
    // ---- ports ----
    http_port_70000: env(LC, r#"{"preStop":{"httpGet":{"port":70000}}}"#)
        .want("hookinit: HOOKINIT_LIFECYCLE: preStop.httpGet.port: 70000 is out of range 1-65535");
    tcp_port_0: env("HOOKINIT_PRE_STOP", r#"{"tcpSocket":{"port":0}}"#)
        .want("hookinit: HOOKINIT_PRE_STOP: tcpSocket.port: 0 is out of range 1-65535");
    http_port_negative: env(LC, r#"{"postStart":{"httpGet":{"port":-80}}}"#)
        .want("HOOKINIT_LIFECYCLE: postStart.httpGet.port: -80 is out of range 1-65535");
    named_port: env(LC, r#"{"postStart":{"httpGet":{"port":"http"}}}"#)
        .want("HOOKINIT_LIFECYCLE: postStart.httpGet.port: named port \"http\" is not supported");
    port_missing: env(LC, r#"{"preStop":{"tcpSocket":{"host":"localhost"}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.tcpSocket.port: Required value");

    // ---- handler shape ----
    two_handler_kinds: env(LC, r#"{"postStart":{"exec":{"command":["true"]},"sleep":{"seconds":1}}}"#)
        .want("HOOKINIT_LIFECYCLE: postStart: may not specify more than 1 handler type");
    no_handler_kind: env(LC, r#"{"preStop":{}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop: must specify a handler type");
    unknown_handler_field: env(LC, r#"{"preStop":{"exec":{"comand":["true"]}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.exec.comand: unknown field");
    unknown_lifecycle_field: env(LC, r#"{"postStop":{"exec":{"command":["true"]}}}"#)
        .want("HOOKINIT_LIFECYCLE: postStop: unknown field");
    unknown_http_field: env(LC, r#"{"preStop":{"httpGet":{"port":80,"headers":[]}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.httpGet.headers: unknown field");
    lifecycle_not_an_object: env(LC, r#"[{"preStop":{"exec":{"command":["true"]}}}]"#)
        .want("HOOKINIT_LIFECYCLE: must be an object, not an array");
    handler_a_string: env("HOOKINIT_POST_START", r#""touch /tmp/x""#)
        .want("HOOKINIT_POST_START: must be an object, not a string");

    // ---- exec commands ----
    empty_command: env(LC, r#"{"preStop":{"exec":{"command":[]}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.exec.command: Required value");
    empty_shorthand: env("HOOKINIT_PRE_STOP", "[]")
        .want("HOOKINIT_PRE_STOP: Required value");
    command_not_an_array: env(LC, r#"{"postStart":{"exec":{"command":"echo hi"}}}"#)
        .want("HOOKINIT_LIFECYCLE: postStart.exec.command: must be an array of strings, not a string");
    command_item_not_a_string: env(LC, r#"{"postStart":{"exec":{"command":["sleep",1]}}}"#)
        .want("HOOKINIT_LIFECYCLE: postStart.exec.command[1]: must be a string, not a number");
    command_with_nul: env("HOOKINIT_PRE_STOP", r#"["echo","a\u0000b"]"#)
        .want("HOOKINIT_PRE_STOP: [1]: may not contain a NUL byte");
    command_name_empty: env(LC, r#"{"preStop":{"exec":{"command":["","x"]}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.exec.command[0]: the program name may not be empty");

    // ---- httpGet ----
    header_name_with_space: env(LC, r#"{"preStop":{"httpGet":{"port":80,"httpHeaders":[{"name":"X Bad","value":"v"}]}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.httpGet.httpHeaders[0].name: \"X Bad\" is not a valid header name");
    header_name_empty: env(LC, r#"{"preStop":{"httpGet":{"port":80,"httpHeaders":[{"name":"","value":"v"}]}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.httpGet.httpHeaders[0].name:");
    header_value_crlf: env(LC, r#"{"preStop":{"httpGet":{"port":80,"httpHeaders":[{"name":"X-A","value":"ok"},{"name":"X-B","value":"a\r\nInjected: yes"}]}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.httpGet.httpHeaders[1].value: may not contain CR, LF or NUL");
    header_value_lf: env(LC, r#"{"postStart":{"httpGet":{"port":80,"httpHeaders":[{"name":"X-B","value":"a\nb"}]}}}"#)
        .want("HOOKINIT_LIFECYCLE: postStart.httpGet.httpHeaders[0].value: may not contain CR, LF or NUL");
    scheme_ftp: env(LC, r#"{"preStop":{"httpGet":{"port":21,"scheme":"FTP"}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.httpGet.scheme: Unsupported value: \"FTP\"");
    scheme_lowercase: env(LC, r#"{"preStop":{"httpGet":{"port":80,"scheme":"http"}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.httpGet.scheme: Unsupported value: \"http\"");
    https_without_tls: env(LC, r#"{"preStop":{"httpGet":{"port":443,"scheme":"HTTPS"}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.httpGet.scheme: HTTPS is not available in this build");
    path_with_space: env(LC, r#"{"preStop":{"httpGet":{"port":80,"path":"/a b"}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.httpGet.path: may not contain spaces");
    host_with_slash: env(LC, r#"{"preStop":{"httpGet":{"port":80,"host":"evil/x"}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.httpGet.host: \"evil/x\" is not a valid host");

    // ---- sleep ----
    sleep_negative: env(LC, r#"{"preStop":{"sleep":{"seconds":-1}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.sleep.seconds: -1 must not be negative");
    sleep_fraction: env(LC, r#"{"preStop":{"sleep":{"seconds":1.5}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.sleep.seconds: 1.5 must be a whole number");
    sleep_a_string: env(LC, r#"{"preStop":{"sleep":{"seconds":"5"}}}"#)
        .want("HOOKINIT_LIFECYCLE: preStop.sleep.seconds: must be a number, not a string");
    sleep_longer_than_default_grace: env(LC, r#"{"preStop":{"sleep":{"seconds":20}}}"#)
        .want("hookinit: HOOKINIT_LIFECYCLE: preStop.sleep.seconds: 20s must not exceed the grace period (9s)");
    sleep_longer_than_grace: env("HOOKINIT_PRE_STOP", r#"{"sleep":{"seconds":6}}"#)
        .env("HOOKINIT_GRACE_PERIOD", "5.5")
        .want("hookinit: HOOKINIT_PRE_STOP: ")
        .want("sleep.seconds: 6s must not exceed the grace period (5.5s)");

    // ---- signals ----
    stop_signal_unknown_in_lifecycle: env(LC, r#"{"stopSignal":"SIGFOO"}"#)
        .want("HOOKINIT_LIFECYCLE: stopSignal: \"SIGFOO\" is not a signal name or number");
    stop_signal_not_a_string: env(LC, r#"{"stopSignal":15}"#)
        .want("HOOKINIT_LIFECYCLE: stopSignal: must be a string, not a number");
    stop_signal_unknown: env("HOOKINIT_STOP_SIGNAL", "SIGFOO")
        .want("HOOKINIT_STOP_SIGNAL: \"SIGFOO\" is not a signal name or number");
    stop_signal_out_of_range: env("HOOKINIT_STOP_SIGNAL", "65")
        .want("HOOKINIT_STOP_SIGNAL: \"65\" is not a signal name or number");
    stop_signal_sigchld: env("HOOKINIT_STOP_SIGNAL", "CHLD")
        .want("HOOKINIT_STOP_SIGNAL: SIGCHLD cannot be a stop signal");
    stop_on_sigkill: env("HOOKINIT_STOP_ON", "SIGKILL")
        .want("HOOKINIT_STOP_ON: SIGKILL cannot start a stop");
    stop_on_sigstop_in_list: env("HOOKINIT_STOP_ON", "TERM,STOP")
        .want("HOOKINIT_STOP_ON: SIGSTOP cannot start a stop");
    stop_on_unknown: env("HOOKINIT_STOP_ON", "TERM,BOGUS")
        .want("HOOKINIT_STOP_ON: \"BOGUS\" is not a signal name or number");

    // ---- durations ----
    grace_nan: env("HOOKINIT_GRACE_PERIOD", "NaN")
        .want("hookinit: HOOKINIT_GRACE_PERIOD: \"NaN\"");
    grace_inf: env("HOOKINIT_GRACE_PERIOD", "inf")
        .want("hookinit: HOOKINIT_GRACE_PERIOD: \"inf\"");
    grace_negative: env("HOOKINIT_GRACE_PERIOD", "-1")
        .want("hookinit: HOOKINIT_GRACE_PERIOD: \"-1\" must be a number of seconds, 0 or more");
    grace_1e400: env("HOOKINIT_GRACE_PERIOD", "1e400")
        .want("hookinit: HOOKINIT_GRACE_PERIOD: \"1e400\"");
    grace_huge: env("HOOKINIT_GRACE_PERIOD", "99999999999999999999")
        .want("hookinit: HOOKINIT_GRACE_PERIOD: \"99999999999999999999\" is more than a year");
    grace_words: env("HOOKINIT_GRACE_PERIOD", "ten")
        .want("hookinit: HOOKINIT_GRACE_PERIOD: \"ten\" is not a duration: use seconds (10, 2.5) or 1m30s, 500ms");
    pre_stop_timeout_bad: env("HOOKINIT_PRE_STOP_TIMEOUT", "1min")
        .want("hookinit: HOOKINIT_PRE_STOP_TIMEOUT: \"1min\" is not a duration");
    grace_unit_only: env("HOOKINIT_GRACE_PERIOD", "m")
        .want("hookinit: HOOKINIT_GRACE_PERIOD: \"m\" is not a duration");
    grace_inf_seconds: env("HOOKINIT_GRACE_PERIOD", "infs")
        .want("hookinit: HOOKINIT_GRACE_PERIOD: \"infs\" is not a duration");
    post_start_timeout_negative: env("HOOKINIT_POST_START_TIMEOUT", "-0.5")
        .want("hookinit: HOOKINIT_POST_START_TIMEOUT: \"-0.5\" must be a number of seconds");

    // ---- JSON text ----
    invalid_json: env(LC, r#"{"preStop":"#)
        .want("hookinit: HOOKINIT_LIFECYCLE: invalid JSON");
    trailing_garbage: env(LC, r#"{"preStop":{"exec":{"command":["true"]}}} x"#)
        .want("hookinit: HOOKINIT_LIFECYCLE: invalid JSON: trailing characters");
    duplicate_keys: env(LC, r#"{"preStop":{"exec":{"command":["a"]}},"preStop":{"sleep":{"seconds":1}}}"#)
        .want("hookinit: HOOKINIT_LIFECYCLE: invalid JSON: duplicate key \"preStop\"");
    duplicate_nested_keys: env(LC, r#"{"preStop":{"httpGet":{"port":80,"port":81}}}"#)
        .want("hookinit: HOOKINIT_LIFECYCLE: invalid JSON: duplicate key \"port\"");
    deeply_nested_arrays: env("HOOKINIT_POST_START", &"[".repeat(10_000))
        .want("hookinit: HOOKINIT_POST_START: invalid JSON: recursion limit exceeded");
    deeply_nested_objects: env(LC, &r#"{"a":"#.repeat(10_000))
        .want("hookinit: HOOKINIT_LIFECYCLE: invalid JSON");

    // ---- the same setting twice in one source ----
    pre_stop_in_lifecycle_and_alone: env(LC, r#"{"preStop":{"sleep":{"seconds":1}}}"#)
        .env("HOOKINIT_PRE_STOP", r#"["true"]"#)
        .want("hookinit: HOOKINIT_PRE_STOP: preStop is also set in HOOKINIT_LIFECYCLE");
    post_start_in_lifecycle_and_alone_flags: flags(&[
            r#"--lifecycle={"postStart":{"exec":{"command":["true"]}}}"#,
            r#"--post-start=["true"]"#,
        ])
        .want("hookinit: --post-start: postStart is also set in --lifecycle");
    stop_signal_in_lifecycle_and_alone: env(LC, r#"{"stopSignal":"SIGQUIT"}"#)
        .env("HOOKINIT_STOP_SIGNAL", "USR1")
        .want("hookinit: HOOKINIT_STOP_SIGNAL: stopSignal is also set in HOOKINIT_LIFECYCLE");

    // ---- probes: the API server's validation, verbatim ----
    liveness_success_threshold_2: env("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":["true"]},"successThreshold":2}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: successThreshold: Invalid value: 2: must be 1");
    startup_success_threshold_3: env("HOOKINIT_STARTUP_PROBE", r#"{"tcpSocket":{"port":80},"successThreshold":3}"#)
        .want("hookinit: HOOKINIT_STARTUP_PROBE: successThreshold: Invalid value: 3: must be 1");
    probe_initial_delay_negative: env("HOOKINIT_READINESS_PROBE", r#"{"exec":{"command":["true"]},"initialDelaySeconds":-1}"#)
        .want("hookinit: HOOKINIT_READINESS_PROBE: initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0");
    probe_period_negative: env("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":["true"]},"periodSeconds":-10}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: periodSeconds: Invalid value: -10: must be greater than or equal to 0");
    probe_timeout_negative: env("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":["true"]},"timeoutSeconds":-1}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: timeoutSeconds: Invalid value: -1: must be greater than or equal to 0");
    probe_success_threshold_negative: env("HOOKINIT_READINESS_PROBE", r#"{"exec":{"command":["true"]},"successThreshold":-1}"#)
        .want("hookinit: HOOKINIT_READINESS_PROBE: successThreshold: Invalid value: -1: must be greater than or equal to 0");
    probe_failure_threshold_negative: env("HOOKINIT_STARTUP_PROBE", r#"{"exec":{"command":["true"]},"failureThreshold":-3}"#)
        .want("hookinit: HOOKINIT_STARTUP_PROBE: failureThreshold: Invalid value: -3: must be greater than or equal to 0");
    readiness_termination_grace: env("HOOKINIT_READINESS_PROBE", r#"{"exec":{"command":["true"]},"terminationGracePeriodSeconds":5}"#)
        .want("hookinit: HOOKINIT_READINESS_PROBE: terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes");
    readiness_termination_grace_in_container: env("HOOKINIT_CONTAINER", r#"{"name":"web","readinessProbe":{"exec":{"command":["true"]},"terminationGracePeriodSeconds":5}}"#)
        .want("hookinit: HOOKINIT_CONTAINER: readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes");
    liveness_termination_grace_0: env("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":["true"]},"terminationGracePeriodSeconds":0}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0");
    startup_termination_grace_negative: env("HOOKINIT_STARTUP_PROBE", r#"{"exec":{"command":["true"]},"terminationGracePeriodSeconds":-1}"#)
        .want("hookinit: HOOKINIT_STARTUP_PROBE: terminationGracePeriodSeconds: Invalid value: -1: must be greater than 0");
    probe_no_handler: env("HOOKINIT_LIVENESS_PROBE", r#"{"periodSeconds":5}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: must specify a handler type");
    probe_two_handlers: env("HOOKINIT_READINESS_PROBE", r#"{"exec":{"command":["true"]},"grpc":{"port":50051}}"#)
        .want("hookinit: HOOKINIT_READINESS_PROBE: may not specify more than 1 handler type");
    probe_sleep_handler: env("HOOKINIT_LIVENESS_PROBE", r#"{"sleep":{"seconds":1}}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: sleep: unknown field");
    probe_unknown_field: env("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":["true"]},"periodSecond":5}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: periodSecond: unknown field");
    probe_period_fraction: env("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":["true"]},"periodSeconds":2.5}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: periodSeconds: 2.5 must be a whole number");
    probe_period_string: env("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":["true"]},"periodSeconds":"10s"}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: periodSeconds: must be a number, not a string");
    probe_period_beyond_a_year: env("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":["true"]},"periodSeconds":40000000}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: periodSeconds: Invalid value: 40000000: must be no more than 31536000");
    probe_empty_command: env("HOOKINIT_LIVENESS_PROBE", r#"{"exec":{"command":[]}}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: exec.command: Required value");
    probe_http_port_70000: env("HOOKINIT_READINESS_PROBE", r#"{"httpGet":{"port":70000}}"#)
        .want("hookinit: HOOKINIT_READINESS_PROBE: httpGet.port: 70000 is out of range 1-65535");
    grpc_named_port: env("HOOKINIT_STARTUP_PROBE", r#"{"grpc":{"port":"grpc"}}"#)
        .want("hookinit: HOOKINIT_STARTUP_PROBE: grpc.port: must be a number, not a name (\"grpc\")");
    grpc_named_port_with_a_port_list: env("HOOKINIT_CONTAINER", r#"{"ports":[{"name":"grpc","containerPort":50051}],"livenessProbe":{"grpc":{"port":"grpc"}}}"#)
        .want("hookinit: HOOKINIT_CONTAINER: livenessProbe.grpc.port: must be a number, not a name (\"grpc\")");
    grpc_port_0: env("HOOKINIT_LIVENESS_PROBE", r#"{"grpc":{"port":0}}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: grpc.port: 0 is out of range 1-65535");
    grpc_unknown_field: env("HOOKINIT_LIVENESS_PROBE", r#"{"grpc":{"port":50051,"host":"10.0.0.1"}}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: grpc.host: unknown field");
    probe_not_an_object: env("HOOKINIT_LIVENESS_PROBE", r#"["true"]"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: must be an object, not an array");
    probe_in_file: file(r#"{"livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}}"#)
        .want("hookinit: config file {file}: livenessProbe: successThreshold: Invalid value: 2: must be 1");
    probe_flag: flags(&["--readiness-probe", r#"{"tcpSocket":{"port":5432},"failureThreshold":-1}"#])
        .want("hookinit: --readiness-probe: failureThreshold: Invalid value: -1: must be greater than or equal to 0");
    post_start_after_startup_maybe: env("HOOKINIT_POST_START_AFTER_STARTUP", "maybe")
        .want("hookinit: HOOKINIT_POST_START_AFTER_STARTUP: \"maybe\" is not a boolean");

    // ---- the container object and named ports ----
    container_unknown_field: env("HOOKINIT_CONTAINER", r#"{"name":"web","image":"nginx","imagePullSecrets":[]}"#)
        .want("hookinit: HOOKINIT_CONTAINER: imagePullSecrets: unknown field");
    container_not_an_object: env("HOOKINIT_CONTAINER", r#"[{"name":"web"}]"#)
        .want("hookinit: HOOKINIT_CONTAINER: must be an object, not an array");
    container_name_invalid: env("HOOKINIT_CONTAINER", r#"{"name":"Web_1"}"#)
        .want("hookinit: HOOKINIT_CONTAINER: name: Invalid value: \"Web_1\": a lowercase RFC 1123 label");
    container_port_name_duplicate: env("HOOKINIT_CONTAINER", r#"{"ports":[{"name":"http","containerPort":80},{"name":"http","containerPort":8080}]}"#)
        .want("hookinit: HOOKINIT_CONTAINER: ports[1].name: Duplicate value: \"http\"");
    container_port_name_invalid: env("HOOKINIT_CONTAINER", r#"{"ports":[{"name":"web_http","containerPort":80}]}"#)
        .want("hookinit: HOOKINIT_CONTAINER: ports[0].name: Invalid value: \"web_http\": must contain only alpha-numeric characters");
    container_port_missing: env("HOOKINIT_CONTAINER", r#"{"ports":[{"name":"http","protocol":"TCP"}]}"#)
        .want("hookinit: HOOKINIT_CONTAINER: ports[0].containerPort: Required value");
    container_port_protocol: env("HOOKINIT_CONTAINER", r#"{"ports":[{"containerPort":80,"protocol":"QUIC"}]}"#)
        .want("hookinit: HOOKINIT_CONTAINER: ports[0].protocol: Unsupported value: \"QUIC\"");
    container_named_port_unknown: env("HOOKINIT_CONTAINER", r#"{"ports":[{"name":"http","containerPort":8080},{"name":"metrics","containerPort":9090}],"livenessProbe":{"httpGet":{"port":"admin","path":"/healthz"}}}"#)
        .want("hookinit: HOOKINIT_CONTAINER: livenessProbe.httpGet.port: named port \"admin\" is not among the container's ports (known: http, metrics)");
    container_named_port_unknown_in_hook: env("HOOKINIT_CONTAINER", r#"{"ports":[{"name":"http","containerPort":8080}],"lifecycle":{"preStop":{"httpGet":{"port":"drain"}}}}"#)
        .want("hookinit: HOOKINIT_CONTAINER: lifecycle.preStop.httpGet.port: named port \"drain\" is not among the container's ports (known: http)");
    container_without_ports_named_port: env("HOOKINIT_CONTAINER", r#"{"name":"web","readinessProbe":{"tcpSocket":{"port":"http"}}}"#)
        .want("hookinit: HOOKINIT_CONTAINER: readinessProbe.tcpSocket.port: named port \"http\" is not among the container's ports: none of them has a name");
    separate_probe_named_port_unknown: env("HOOKINIT_CONTAINER", r#"{"ports":[{"name":"http","containerPort":8080}]}"#)
        .env("HOOKINIT_READINESS_PROBE", r#"{"tcpSocket":{"port":"admin"}}"#)
        .want("hookinit: HOOKINIT_READINESS_PROBE: tcpSocket.port: named port \"admin\" is not among the container's ports (known: http)");
    separate_hook_named_port_unknown: file(r#"{"container": {"ports": [{"name": "http", "containerPort": 8080}]}}"#)
        .env(LC, r#"{"preStop":{"httpGet":{"port":"admin"}}}"#)
        .want("hookinit: HOOKINIT_LIFECYCLE: preStop.httpGet.port: named port \"admin\" is not among the container's ports (known: http)");
    named_port_in_probe_without_port_list: env("HOOKINIT_LIVENESS_PROBE", r#"{"httpGet":{"port":"http"}}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: httpGet.port: named port \"http\" is not supported here: give the number (names are looked up in HOOKINIT_CONTAINER's ports, for its hooks and probes)");
    named_port_in_file_probe_without_port_list: file(r#"{"startupProbe": {"tcpSocket": {"port": "db"}}}"#)
        .want("hookinit: config file {file}: startupProbe: tcpSocket.port: named port \"db\" is not supported");
    container_sleep_beyond_grace: env("HOOKINIT_CONTAINER", r#"{"name":"web","lifecycle":{"preStop":{"sleep":{"seconds":20}}}}"#)
        .want("hookinit: HOOKINIT_CONTAINER: lifecycle.preStop.sleep.seconds: 20s must not exceed the grace period (9s)");

    // ---- a probe or hook both in the container and on its own, in one source ----
    probe_in_container_and_alone: env("HOOKINIT_CONTAINER", r#"{"name":"web","livenessProbe":{"exec":{"command":["true"]}}}"#)
        .env("HOOKINIT_LIVENESS_PROBE", r#"{"tcpSocket":{"port":80}}"#)
        .want("hookinit: HOOKINIT_LIVENESS_PROBE: livenessProbe is also set in HOOKINIT_CONTAINER: set it in one place only");
    probe_in_container_and_alone_flags: flags(&[
            r#"--container={"startupProbe":{"exec":{"command":["true"]}}}"#,
            r#"--startup-probe={"exec":{"command":["true"]}}"#,
        ])
        .want("hookinit: --startup-probe: startupProbe is also set in --container: set it in one place only");
    probe_in_container_and_alone_file: file(r#"{"container": {"readinessProbe": {"tcpSocket": {"port": 80}}}, "readinessProbe": {"tcpSocket": {"port": 81}}}"#)
        .want("hookinit: config file {file}: readinessProbe: readinessProbe is also set in config file {file}: container: set it in one place only");
    hook_in_container_and_lifecycle: env("HOOKINIT_CONTAINER", r#"{"lifecycle":{"preStop":{"sleep":{"seconds":1}}}}"#)
        .env(LC, r#"{"preStop":{"exec":{"command":["true"]}}}"#)
        .want("hookinit: HOOKINIT_LIFECYCLE: preStop is also set in HOOKINIT_CONTAINER: set each hook in one place only");
    hook_in_container_and_alone: env("HOOKINIT_CONTAINER", r#"{"lifecycle":{"postStart":{"exec":{"command":["true"]}}}}"#)
        .env("HOOKINIT_POST_START", r#"["true"]"#)
        .want("hookinit: HOOKINIT_POST_START: postStart is also set in HOOKINIT_CONTAINER: set each hook in one place only");
    stop_signal_in_container_and_alone: env("HOOKINIT_CONTAINER", r#"{"lifecycle":{"stopSignal":"SIGQUIT"}}"#)
        .env("HOOKINIT_STOP_SIGNAL", "TERM")
        .want("hookinit: HOOKINIT_STOP_SIGNAL: stopSignal is also set in HOOKINIT_CONTAINER: set it in one place only");

    // ---- other variables ----
    unknown_variable: env("HOOKINIT_FOO", "1")
        .want("hookinit: HOOKINIT_FOO: unknown variable");
    misspelled_variable: env("HOOKINIT_GRACE_PERIOD_SECONDS", "5")
        .want("hookinit: HOOKINIT_GRACE_PERIOD_SECONDS: unknown variable");
    non_utf8_value: Case::default()
        .env_bytes(b"HOOKINIT_GRACE_PERIOD", b"5\xff")
        .want("hookinit: HOOKINIT_GRACE_PERIOD: the value is not valid UTF-8");
    non_utf8_lifecycle: Case::default()
        .env_bytes(LC.as_bytes(), b"{\"preStop\":{\"exec\":{\"command\":[\"\xc3\x28\"]}}}")
        .want("hookinit: HOOKINIT_LIFECYCLE: the value is not valid UTF-8");
    non_utf8_variable_name: Case::default()
        .env_bytes(b"HOOKINIT_GRACE_\xffPERIOD", b"5")
        .want("unknown variable");
    verbosity_4: env("HOOKINIT_VERBOSITY", "4")
        .want("hookinit: HOOKINIT_VERBOSITY: \"4\" is not a verbosity from 0 to 3");
    log_format_xml: env("HOOKINIT_LOG_FORMAT", "xml")
        .want("hookinit: HOOKINIT_LOG_FORMAT: \"xml\" is not a log format");
    pre_stop_on_exit_maybe: env("HOOKINIT_PRE_STOP_ON_EXIT", "maybe")
        .want("hookinit: HOOKINIT_PRE_STOP_ON_EXIT: \"maybe\" is not a boolean");
    exit_remap_256: env("HOOKINIT_EXIT_REMAP", "143:256")
        .want("hookinit: HOOKINIT_EXIT_REMAP: \"256\" is not an exit code 0-255");

    // ---- flags ----
    unknown_flag: flags(&["--bogus"])
        .want("hookinit: --bogus: unknown option");
    flag_empty_ready_file: flags(&["--ready-file="])
        .want("hookinit: --ready-file: a path may not be empty or contain a NUL byte");
    flag_empty_termination_message_path: flags(&["--termination-message-path", ""])
        .want("hookinit: --termination-message-path: a path may not be empty or contain a NUL byte");
    file_empty_ready_file: file(r#"{"readyFile": ""}"#)
        .want("hookinit: config file {file}: readyFile: a path may not be empty or contain a NUL byte");
    flag_bad_grace: flags(&["--grace-period=NaN"])
        .want("hookinit: --grace-period: \"NaN\"");
    flag_bad_port: flags(&["--pre-stop", r#"{"httpGet":{"port":70000}}"#])
        .want("hookinit: --pre-stop: httpGet.port: 70000 is out of range 1-65535");
    flag_without_value: Case::default()
        .command(&["--stop-signal"])
        .want("hookinit: --stop-signal: needs a value");
    flag_non_utf8_value: Case::default()
        .arg_bytes(b"--grace-period")
        .arg_bytes(b"\xff")
        .want("hookinit: --grace-period: the value is not valid UTF-8");
    flag_non_utf8_inline_value: Case::default()
        .arg_bytes(b"--grace-period=\xff")
        .want("hookinit: --grace-period");
    check_with_bad_value: flags(&["--check", "--stop-on=KILL"])
        .want("hookinit: --stop-on: SIGKILL cannot start a stop");
    empty_command_name: Case::default()
        .command(&["--", ""])
        .want("hookinit: usage: the command name is empty");

    // ---- the config file ----
    config_file_missing: env("HOOKINIT_CONFIG", "/nonexistent/hookinit.json")
        .want("hookinit: config file /nonexistent/hookinit.json: cannot read:");
    config_file_missing_via_flag: flags(&["--config", "/nonexistent/hookinit.json"])
        .want("hookinit: config file /nonexistent/hookinit.json: cannot read:");
    config_file_is_a_directory: env("HOOKINIT_CONFIG", "/")
        .want("hookinit: config file /: cannot read:");
    config_file_unknown_key: file(r#"{"gracePeriod": 5}"#)
        .want("hookinit: config file {file}: gracePeriod: unknown field");
    config_file_env_only_key: file(r#"{"config": "/etc/other.json"}"#)
        .want("hookinit: config file {file}: config: unknown field");
    config_file_invalid_json: file(r#"{"terminationGracePeriodSeconds": 5,}"#)
        .want("hookinit: config file {file}: invalid JSON");
    config_file_duplicate_key: file(r#"{"stopSignal": "TERM", "stopSignal": "QUIT"}"#)
        .want("hookinit: config file {file}: invalid JSON: duplicate key \"stopSignal\"");
    config_file_not_an_object: file("[]")
        .want("hookinit: config file {file}: must be an object, not an array");
    config_file_not_utf8: Case::default()
        .file_content(b"{\"readyFile\": \"/tmp/\xff\"}")
        .want("hookinit: config file {file}: not valid UTF-8");
    config_file_grace_1e400: file(r#"{"terminationGracePeriodSeconds": 1e400}"#)
        .want("hookinit: config file {file}: invalid JSON");
    config_file_grace_negative: file(r#"{"terminationGracePeriodSeconds": -3}"#)
        .want("hookinit: config file {file}: terminationGracePeriodSeconds: -3 must be a number of seconds");
    config_file_grace_bool: file(r#"{"terminationGracePeriodSeconds": true}"#)
        .want("hookinit: config file {file}: terminationGracePeriodSeconds: true is not a duration");
    config_file_port_70000: file(r#"{"lifecycle": {"preStop": {"httpGet": {"port": 70000}}}}"#)
        .want("hookinit: config file {file}: lifecycle: preStop.httpGet.port: 70000 is out of range 1-65535");
    config_file_hook_twice: file(r#"{"lifecycle": {"postStart": {"sleep": {"seconds": 1}}}, "postStart": ["true"]}"#)
        .want("hookinit: config file {file}: postStart: postStart is also set in config file {file}: lifecycle");
    config_file_via_flag_bad: file(r#"{"readyFile": 5}"#)
        .via_flag()
        .want("hookinit: config file {file}: readyFile: must be a string, not a number");
    config_file_sleep_beyond_its_grace: file(r#"{"terminationGracePeriodSeconds": 2, "preStop": {"sleep": {"seconds": 3}}}"#)
        .want("hookinit: config file {file}: preStop")
        .want("sleep.seconds: 3s must not exceed the grace period (2s)");
    env_grace_shorter_than_file_sleep: file(r#"{"preStop": {"sleep": {"seconds": 3}}}"#)
        .env("HOOKINIT_GRACE_PERIOD", "2")
        .want("sleep.seconds: 3s must not exceed the grace period (2s)");
}

// ---- a PreStop sleep must fit beside the app's reserve -----------------------

/// `hookinit --check -- true` with `env`: (exit code, stderr).
fn run_check(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = command(false, &["--check", "--", "true"], env)
        .output()
        .expect("run --check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// PreStop only gets the window minus the app's reserve, so a sleep is
/// checked against that share, not against the whole grace period: one as
/// long as the grace period would time out (`FailedPreStopHook`) at every
/// stop.
#[test]
fn pre_stop_sleep_longer_than_its_window_is_a_config_error() {
    let (code, stderr) = run_check(&[
        ("HOOKINIT_GRACE_PERIOD", "3"),
        ("HOOKINIT_PRE_STOP", r#"{"sleep":{"seconds":3}}"#),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("HOOKINIT_PRE_STOP: sleep.seconds: 3s leaves the app no time")
            && stderr.contains("PreStop may use 1.5s of the 3s grace period"),
        "{stderr}"
    );
    let (code, stderr) = run_check(&[
        ("HOOKINIT_GRACE_PERIOD", "3"),
        (
            "HOOKINIT_LIFECYCLE",
            r#"{"preStop":{"sleep":{"seconds":3}}}"#,
        ),
    ]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("HOOKINIT_LIFECYCLE: preStop.sleep.seconds: 3s leaves the app no time"),
        "{stderr}"
    );
    let (code, stderr) = run_check(&[
        ("HOOKINIT_GRACE_PERIOD", "4"),
        ("HOOKINIT_PRE_STOP", r#"{"sleep":{"seconds":2}}"#),
    ]);
    assert_eq!(code, Some(0), "a 2 s sleep fits a 4 s window\n{stderr}");
}
