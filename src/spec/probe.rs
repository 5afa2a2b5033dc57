//! The Kubernetes `Probe` object: one handler of `exec`, `httpGet`,
//! `tcpSocket` or `grpc`, and the timing fields, with the kubelet's defaults
//! (`SetDefaults_Probe`) and the API server's validation (`validateProbe`,
//! `validateLivenessProbe`, `validateStartupProbe`, `validateReadinessProbe`),
//! messages included. exec, httpGet and tcpSocket are parsed by the same code
//! as the lifecycle hooks' ([`crate::spec::handler`]).

use crate::os::text::Quoted;
use crate::spec::handler::{self, Action, HostPort, Port, PortNames, DEFAULT_HOST, MAX_SECONDS};
use crate::spec::json::{self, join, PathError};
use crate::spec::json::{Map, Value};
use std::fmt;
use std::time::Duration;

/// A validated probe, defaults applied. `P` is the type of its handler's
/// port: [`Port`] as parsed, the number once resolved ([`Probe::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Probe<P = u16> {
    pub handler: ProbeHandler<P>,
    /// `initialDelaySeconds` (0).
    pub initial_delay: Duration,
    /// `periodSeconds` (10).
    pub period: Duration,
    /// `timeoutSeconds` (1).
    pub timeout: Duration,
    /// `successThreshold` (1; always 1 for liveness and startup).
    pub success_threshold: u32,
    /// `failureThreshold` (3).
    pub failure_threshold: u32,
    /// `terminationGracePeriodSeconds`: replaces the grace period of a stop
    /// this probe starts (liveness and startup only; never zero).
    pub termination_grace: Option<Duration>,
}

/// A probe's handler; `P` as in [`Probe`]. A grpc port is never a name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeHandler<P = u16> {
    /// exec, httpGet or tcpSocket, as a hook's.
    Action(Action<P>),
    /// `grpc.health.v1.Health/Check` on 127.0.0.1 (the pod IP, for the
    /// kubelet); `service` "" asks for the server's overall health.
    Grpc { port: u16, service: String },
}

/// Which probe: each has its own rules and event names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 3] = [
        ProbeKind::Startup,
        ProbeKind::Liveness,
        ProbeKind::Readiness,
    ];

    /// The kubelet's `probeType.String()`, as in its events
    /// (`Liveness probe failed: ...`).
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }

    /// The Container field: `startupProbe`, `livenessProbe`, `readinessProbe`.
    pub fn field(self) -> &'static str {
        match self {
            ProbeKind::Startup => "startupProbe",
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Readiness => "readinessProbe",
        }
    }
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(10);
pub const DEFAULT_SUCCESS_THRESHOLD: u32 = 1;
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 3;

const KINDS: [&str; 4] = ["exec", "httpGet", "tcpSocket", "grpc"];

const FIELDS: [&str; 10] = [
    "exec",
    "httpGet",
    "tcpSocket",
    "grpc",
    "initialDelaySeconds",
    "timeoutSeconds",
    "periodSeconds",
    "successThreshold",
    "failureThreshold",
    "terminationGracePeriodSeconds",
];

impl<P> ProbeHandler<P> {
    /// The Kubernetes name of the handler kind.
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeHandler::Action(action) => action.kind(),
            ProbeHandler::Grpc { .. } => "grpc",
        }
    }
}

impl ProbeHandler {
    /// One line for `--check` and events, formatted without allocating:
    /// an action's line, or `grpc 127.0.0.1:50051 service ""`.
    pub fn describe(&self) -> Describe<'_> {
        Describe(self)
    }

    /// The same handler as a lifecycle hook's (its runner), `None` for grpc.
    pub fn as_hook_handler(&self) -> Option<handler::Handler> {
        match self {
            ProbeHandler::Action(action) => Some(handler::Handler::Action(action.clone())),
            ProbeHandler::Grpc { .. } => None,
        }
    }
}

impl Probe<Port> {
    /// The probe with its handler's port resolved in `names`; `path` is
    /// where the probe sits (`livenessProbe` in a container, `""` on its own).
    pub fn resolve(self, path: &str, names: PortNames<'_>) -> Result<Probe, PathError> {
        let handler = match self.handler {
            ProbeHandler::Action(action) => ProbeHandler::Action(action.resolve(path, names)?),
            ProbeHandler::Grpc { port, service } => ProbeHandler::Grpc { port, service },
        };
        Ok(Probe {
            handler,
            initial_delay: self.initial_delay,
            period: self.period,
            timeout: self.timeout,
            success_threshold: self.success_threshold,
            failure_threshold: self.failure_threshold,
            termination_grace: self.termination_grace,
        })
    }
}

pub struct Describe<'a>(&'a ProbeHandler);

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ProbeHandler::Action(action) => action.fmt(f),
            ProbeHandler::Grpc { port, service } => {
                write!(
                    f,
                    "grpc {} service {}",
                    HostPort(DEFAULT_HOST, *port),
                    Quoted(service)
                )
            }
        }
    }
}

impl Probe {
    /// `$(VAR)` in an exec command expanded from the container's static
    /// `env`, as the kubelet does before each run; `$$` is `$`.
    pub fn expand_command(&mut self, env: &crate::spec::expand::StaticEnv) {
        if let ProbeHandler::Action(Action::Exec { command }) = &mut self.handler {
            for arg in command.iter_mut() {
                *arg = crate::spec::expand::expand(arg, env);
            }
        }
    }

    /// The `--check` plan line: `httpGet http://127.0.0.1:8080/healthz every
    /// 10s, timeout 1s, delay 0s, failure after 3, success after 1 (grace:
    /// the container's)`; readiness probes have no grace.
    pub fn plan(&self, kind: ProbeKind) -> String {
        let secs = crate::events::secs;
        let mut s = format!(
            "{} every {}, timeout {}, delay {}, failure after {}, success after {}",
            self.handler.describe(),
            secs(self.period),
            secs(self.timeout),
            secs(self.initial_delay),
            self.failure_threshold,
            self.success_threshold
        );
        if kind != ProbeKind::Readiness {
            match self.termination_grace {
                None => s.push_str(" (grace: the container's)"),
                Some(g) => s.push_str(&format!(" (grace: {})", secs(g))),
            }
        }
        s
    }
}

/// Parses a `Probe` object at `path` (`""` at the top, `livenessProbe` in a
/// Container), applies the kubelet's defaults and validates it as the API
/// server does for `kind`. Port names in httpGet and tcpSocket are looked up
/// in `ports` as they are parsed, or kept (`None`) for [`Probe::resolve`]; a
/// grpc port is always a number.
pub fn parse_probe(
    v: &Value,
    path: &str,
    kind: ProbeKind,
    ports: Option<PortNames<'_>>,
) -> Result<Probe<Port>, PathError> {
    let obj = json::object(v, path, &FIELDS)?;
    let (handler_kind, body) = handler::one_handler(obj, path, &KINDS)?;
    let hpath = &join(path, handler_kind);
    let handler = match handler::parse_action(handler_kind, body, hpath, ports)? {
        Some(action) => ProbeHandler::Action(action),
        None => parse_grpc(body, hpath)?,
    };

    // validateProbe: every int32 field >= 0; then SetDefaults_Probe's values
    // replace 0 (defaulting runs before validation, so 0 is never an error).
    let seconds = |key: &str, default: Duration| -> Result<Duration, PathError> {
        Ok(match int32(obj, key, path)? {
            None | Some(0) => default,
            Some(n) if n as u64 > MAX_SECONDS => {
                return Err(PathError::new(
                    &join(path, key),
                    format!("Invalid value: {n}: must be no more than {MAX_SECONDS} (a year, hookinit's limit)"),
                ))
            }
            Some(n) => Duration::from_secs(n as u64),
        })
    };
    let count = |key: &str, default: u32| -> Result<u32, PathError> {
        Ok(match int32(obj, key, path)? {
            None | Some(0) => default,
            Some(n) => n as u32,
        })
    };
    let initial_delay = seconds("initialDelaySeconds", Duration::ZERO)?;
    let timeout = seconds("timeoutSeconds", DEFAULT_TIMEOUT)?;
    let period = seconds("periodSeconds", DEFAULT_PERIOD)?;
    let success_threshold = count("successThreshold", DEFAULT_SUCCESS_THRESHOLD)?;
    let failure_threshold = count("failureThreshold", DEFAULT_FAILURE_THRESHOLD)?;

    let grace_key = "terminationGracePeriodSeconds";
    let grace_path = join(path, grace_key);
    let termination_grace = match obj.get(grace_key) {
        None => None,
        Some(v) => {
            let n = integer(v, &grace_path)?;
            if n <= 0 {
                return Err(PathError::new(
                    &grace_path,
                    format!("Invalid value: {n}: must be greater than 0"),
                ));
            }
            if n as u64 > MAX_SECONDS {
                return Err(PathError::new(
                    &grace_path,
                    format!("Invalid value: {n}: must be no more than {MAX_SECONDS} (a year, hookinit's limit)"),
                ));
            }
            Some(Duration::from_secs(n as u64))
        }
    };

    match kind {
        ProbeKind::Liveness | ProbeKind::Startup if success_threshold != 1 => {
            return Err(PathError::new(
                &join(path, "successThreshold"),
                format!("Invalid value: {success_threshold}: must be 1"),
            ))
        }
        ProbeKind::Readiness if termination_grace.is_some() => {
            let n = termination_grace.unwrap_or_default().as_secs();
            return Err(PathError::new(
                &grace_path,
                format!("Invalid value: {n}: must not be set for readinessProbes"),
            ));
        }
        _ => {}
    }

    Ok(Probe {
        handler,
        initial_delay,
        period,
        timeout,
        success_threshold,
        failure_threshold,
        termination_grace,
    })
}

/// A `grpc` body: `{"port": 50051, "service": "name"}`; the port is an int32
/// in Kubernetes, never a name, and the service defaults to "".
fn parse_grpc(body: &Value, path: &str) -> Result<ProbeHandler<Port>, PathError> {
    let o = json::object(body, path, &["port", "service"])?;
    let port = match o.get("port") {
        Some(Value::String(name)) => {
            return Err(PathError::new(
                &join(path, "port"),
                format!(
                    "must be a number, not a name (\"{name}\"): a grpc port cannot be a named port"
                ),
            ))
        }
        Some(v) => handler::port_number(v, &join(path, "port"))?,
        None => return Err(PathError::new(&join(path, "port"), "Required value")),
    };
    let service = match o.get("service") {
        None => String::new(),
        Some(v) => json::string(v, &join(path, "service"))?.to_string(),
    };
    Ok(ProbeHandler::Grpc { port, service })
}

/// An integer, as Go decodes it into an int: whole and in range.
fn integer(v: &Value, path: &str) -> Result<i64, PathError> {
    match v {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(i),
            // `5.0` is 5; beyond 2^53 a float is no longer a whole number.
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                Ok(f as i64)
            }
            (None, Some(f)) if f.is_finite() && f.fract() != 0.0 => {
                Err(PathError::new(path, format!("{n} must be a whole number")))
            }
            _ => Err(PathError::new(path, format!("{n} is out of range"))),
        },
        other => Err(PathError::new(
            path,
            format!("must be a number, not {}", json::kind(other)),
        )),
    }
}

/// An int32 field of the probe, if present, checked `>= 0` as
/// `ValidateNonnegativeField` does.
fn int32(obj: &Map, key: &str, path: &str) -> Result<Option<i64>, PathError> {
    let Some(v) = obj.get(key) else {
        return Ok(None);
    };
    let p = join(path, key);
    let n = integer(v, &p)?;
    if n > i64::from(i32::MAX) || n < i64::from(i32::MIN) {
        return Err(PathError::new(&p, format!("{n} is out of range")));
    }
    if n < 0 {
        return Err(PathError::new(
            &p,
            format!("Invalid value: {n}: must be greater than or equal to 0"),
        ));
    }
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::handler::{ContainerPort, Scheme};

    fn probe(kind: ProbeKind, text: &str) -> Result<Probe, String> {
        parse_probe(&json::parse(text)?, "", kind, None)
            .and_then(|p| p.resolve("", PortNames::Unsupported))
            .map_err(|e| e.to_string())
    }

    fn live(text: &str) -> Result<Probe, String> {
        probe(ProbeKind::Liveness, text)
    }

    #[test]
    fn kubelet_defaults() {
        let p = live(r#"{"httpGet":{"path":"/healthz","port":8080}}"#).unwrap();
        assert_eq!(
            (p.initial_delay, p.period, p.timeout),
            (
                Duration::ZERO,
                Duration::from_secs(10),
                Duration::from_secs(1)
            )
        );
        assert_eq!((p.success_threshold, p.failure_threshold), (1, 3));
        assert_eq!(p.termination_grace, None);
        assert_eq!(
            p.handler.describe().to_string(),
            "httpGet http://127.0.0.1:8080/healthz"
        );
        // 0 means the default, as SetDefaults_Probe.
        let p = live(r#"{"tcpSocket":{"port":5432},"periodSeconds":0,"timeoutSeconds":0,"successThreshold":0,"failureThreshold":0}"#).unwrap();
        assert_eq!(
            (p.period, p.timeout),
            (Duration::from_secs(10), Duration::from_secs(1))
        );
        assert_eq!((p.success_threshold, p.failure_threshold), (1, 3));
        assert_eq!(p.handler.describe().to_string(), "tcpSocket 127.0.0.1:5432");
    }

    #[test]
    fn every_field() {
        let p = probe(
            ProbeKind::Startup,
            r#"{"exec":{"command":["cat","/tmp/healthy"]},"initialDelaySeconds":5,"periodSeconds":2,
                "timeoutSeconds":3,"successThreshold":1,"failureThreshold":30,"terminationGracePeriodSeconds":7}"#,
        )
        .unwrap();
        assert_eq!(
            p,
            Probe {
                handler: ProbeHandler::Action(Action::Exec {
                    command: vec!["cat".into(), "/tmp/healthy".into()]
                }),
                initial_delay: Duration::from_secs(5),
                period: Duration::from_secs(2),
                timeout: Duration::from_secs(3),
                success_threshold: 1,
                failure_threshold: 30,
                termination_grace: Some(Duration::from_secs(7)),
            }
        );
        assert_eq!(p.handler.kind(), "exec");
        assert_eq!(
            p.handler.describe().to_string(),
            r#"exec ["cat", "/tmp/healthy"]"#
        );
        assert_eq!(
            p.plan(ProbeKind::Startup),
            r#"exec ["cat", "/tmp/healthy"] every 2s, timeout 3s, delay 5s, failure after 30, success after 1 (grace: 7s)"#
        );
        let r = probe(
            ProbeKind::Readiness,
            r#"{"grpc":{"port":50051},"successThreshold":2}"#,
        )
        .unwrap();
        assert_eq!(
            r.handler,
            ProbeHandler::Grpc {
                port: 50051,
                service: String::new()
            }
        );
        assert_eq!(
            r.handler.describe().to_string(),
            r#"grpc 127.0.0.1:50051 service """#
        );
        assert_eq!(
            r.plan(ProbeKind::Readiness),
            r#"grpc 127.0.0.1:50051 service "" every 10s, timeout 1s, delay 0s, failure after 3, success after 2"#
        );
        assert!(r.handler.as_hook_handler().is_none());
        let g = live(r#"{"grpc":{"port":9000,"service":"my.Svc"}}"#).unwrap();
        assert_eq!(
            g.handler.describe().to_string(),
            r#"grpc 127.0.0.1:9000 service "my.Svc""#
        );
        let h = live(r#"{"httpGet":{"port":8443,"scheme":"HTTP","host":"::1","path":"ready"}}"#)
            .unwrap();
        let ProbeHandler::Action(Action::HttpGet(get)) = &h.handler else {
            panic!()
        };
        assert_eq!((get.scheme, get.path.as_str()), (Scheme::Http, "/ready"));
        assert_eq!(
            h.handler.describe().to_string(),
            "httpGet http://[::1]:8443/ready"
        );
        assert_eq!(h.handler.as_hook_handler().unwrap().kind(), "httpGet");
    }

    #[test]
    fn kubernetes_validation_messages() {
        let cases: &[(ProbeKind, &str, &str)] = &[
            (ProbeKind::Liveness, r#"{"exec":{"command":["true"]},"successThreshold":2}"#,
             "successThreshold: Invalid value: 2: must be 1"),
            (ProbeKind::Startup, r#"{"exec":{"command":["true"]},"successThreshold":3}"#,
             "successThreshold: Invalid value: 3: must be 1"),
            (ProbeKind::Readiness, r#"{"exec":{"command":["true"]},"terminationGracePeriodSeconds":5}"#,
             "terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes"),
            (ProbeKind::Liveness, r#"{"exec":{"command":["true"]},"terminationGracePeriodSeconds":0}"#,
             "terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0"),
            (ProbeKind::Startup, r#"{"exec":{"command":["true"]},"terminationGracePeriodSeconds":-2}"#,
             "terminationGracePeriodSeconds: Invalid value: -2: must be greater than 0"),
            (ProbeKind::Readiness, r#"{"exec":{"command":["true"]},"initialDelaySeconds":-1}"#,
             "initialDelaySeconds: Invalid value: -1: must be greater than or equal to 0"),
            (ProbeKind::Readiness, r#"{"exec":{"command":["true"]},"periodSeconds":-10}"#,
             "periodSeconds: Invalid value: -10: must be greater than or equal to 0"),
            (ProbeKind::Readiness, r#"{"exec":{"command":["true"]},"timeoutSeconds":-1}"#,
             "timeoutSeconds: Invalid value: -1: must be greater than or equal to 0"),
            (ProbeKind::Readiness, r#"{"exec":{"command":["true"]},"successThreshold":-1}"#,
             "successThreshold: Invalid value: -1: must be greater than or equal to 0"),
            (ProbeKind::Readiness, r#"{"exec":{"command":["true"]},"failureThreshold":-3}"#,
             "failureThreshold: Invalid value: -3: must be greater than or equal to 0"),
            (ProbeKind::Liveness, r#"{"periodSeconds":5}"#, "must specify a handler type"),
            (ProbeKind::Liveness, r#"{"exec":{"command":["true"]},"tcpSocket":{"port":1}}"#,
             "may not specify more than 1 handler type"),
            (ProbeKind::Liveness, r#"{"sleep":{"seconds":1}}"#, "sleep: unknown field"),
            (ProbeKind::Liveness, r#"{"exec":{"command":["true"]},"period":5}"#, "period: unknown field"),
            (ProbeKind::Liveness, r#"{"grpc":{"port":"grpc"}}"#,
             "grpc.port: must be a number, not a name (\"grpc\")"),
            (ProbeKind::Liveness, r#"{"grpc":{"port":70000}}"#, "grpc.port: 70000 is out of range 1-65535"),
            (ProbeKind::Liveness, r#"{"grpc":{}}"#, "grpc.port: Required value"),
            (ProbeKind::Liveness, r#"{"grpc":{"port":1,"host":"x"}}"#, "grpc.host: unknown field"),
            (ProbeKind::Liveness, r#"{"grpc":{"port":1,"service":5}}"#, "grpc.service: must be a string"),
            (ProbeKind::Liveness, r#"{"exec":{"command":["true"]},"periodSeconds":1.5}"#,
             "periodSeconds: 1.5 must be a whole number"),
            (ProbeKind::Liveness, r#"{"exec":{"command":["true"]},"periodSeconds":"10s"}"#,
             "periodSeconds: must be a number, not a string"),
            (ProbeKind::Liveness, r#"{"exec":{"command":["true"]},"failureThreshold":2147483648}"#,
             "failureThreshold: 2147483648 is out of range"),
            (ProbeKind::Liveness, r#"{"exec":{"command":["true"]},"periodSeconds":99999999}"#,
             "periodSeconds: Invalid value: 99999999: must be no more than 31536000"),
            (ProbeKind::Liveness, r#"{"exec":{"command":[]}}"#, "exec.command: Required value"),
            (ProbeKind::Liveness, r#"{"httpGet":{"port":"http"}}"#, "httpGet.port: named port \"http\" is not supported"),
            (ProbeKind::Liveness, r#"[]"#, "must be an object, not an array"),
        ];
        for (kind, text, want) in cases {
            let e = probe(*kind, text).unwrap_err();
            assert!(e.starts_with(want), "{kind:?} {text}: {e}");
        }
        // Readiness may have successThreshold > 1; liveness may have a grace.
        assert!(probe(
            ProbeKind::Readiness,
            r#"{"exec":{"command":["true"]},"successThreshold":2}"#
        )
        .is_ok());
        assert!(live(r#"{"exec":{"command":["true"]},"terminationGracePeriodSeconds":1}"#).is_ok());
    }

    #[test]
    fn paths_inside_a_container() {
        let v = json::parse(r#"{"httpGet":{"port":"web"},"successThreshold":1}"#).unwrap();
        let ports = [ContainerPort {
            name: "http".into(),
            container_port: 8080,
        }];
        let e = parse_probe(
            &v,
            "livenessProbe",
            ProbeKind::Liveness,
            Some(PortNames::Container(&ports)),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "livenessProbe.httpGet.port: named port \"web\" is not among the container's ports (known: http)"
        );
        let v = json::parse(r#"{"tcpSocket":{"port":"http"}}"#).unwrap();
        let p = parse_probe(
            &v,
            "readinessProbe",
            ProbeKind::Readiness,
            Some(PortNames::Container(&ports)),
        )
        .unwrap();
        let number = ProbeHandler::Action(Action::TcpSocket {
            host: DEFAULT_HOST.into(),
            port: Port::Number(8080),
        });
        assert_eq!(p.handler, number);
        // Kept as a name, resolved once the ports are known.
        let p = parse_probe(&v, "", ProbeKind::Readiness, None).unwrap();
        assert_eq!(
            p.handler,
            ProbeHandler::Action(Action::TcpSocket {
                host: DEFAULT_HOST.into(),
                port: Port::Named("http".into())
            })
        );
        let p = p.resolve("", PortNames::Container(&ports)).unwrap();
        assert_eq!(p.handler.describe().to_string(), "tcpSocket 127.0.0.1:8080");
        let v = json::parse(r#"{"exec":{"command":["true"]},"terminationGracePeriodSeconds":3}"#)
            .unwrap();
        assert_eq!(
            parse_probe(&v, "readinessProbe", ProbeKind::Readiness, None)
                .unwrap_err()
                .to_string(),
            "readinessProbe.terminationGracePeriodSeconds: Invalid value: 3: must not be set for readinessProbes"
        );
    }
}
