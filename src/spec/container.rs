//! A whole Kubernetes `Container` object, as `kubectl get pod -o json` prints
//! `.spec.containers[i]`: hookinit takes `name`, `ports`, `lifecycle` and the
//! three probes; every other Container field is known and ignored, and an
//! unknown field is an error. Named ports in the container's own handlers
//! resolve against its own `ports` as they are parsed, as in Kubernetes.

use crate::os::text::Quoted;
use crate::spec::handler::{self, ContainerPort, Lifecycle, Port, PortNames};
use crate::spec::json::Value;
use crate::spec::json::{self, join, PathError};
use crate::spec::probe::{parse_probe, Probe, ProbeKind};

/// What hookinit takes from a Container. Its hooks and probes keep the
/// [`Port`] type of handlers given on their own, but every port is a number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub name: Option<String>,
    /// The named entries of `ports` (an unnamed one cannot be referred to).
    pub ports: Vec<ContainerPort>,
    /// Every TCP `containerPort`, named or not (the drain watches them).
    pub tcp_ports: Vec<u16>,
    pub lifecycle: Option<Lifecycle<Port>>,
    pub startup_probe: Option<Probe<Port>>,
    pub liveness_probe: Option<Probe<Port>>,
    pub readiness_probe: Option<Probe<Port>>,
    /// The static `env` (`valueFrom` entries are `""`): `$(VAR)` in exec
    /// probes expands from it.
    pub env: Vec<(String, String)>,
    /// Where hookinit writes its final reason when the container fails.
    pub termination_message_path: Option<std::path::PathBuf>,
}

impl Container {
    #[cfg(test)]
    pub fn probe(&self, kind: ProbeKind) -> Option<&Probe<Port>> {
        match kind {
            ProbeKind::Startup => self.startup_probe.as_ref(),
            ProbeKind::Liveness => self.liveness_probe.as_ref(),
            ProbeKind::Readiness => self.readiness_probe.as_ref(),
        }
    }
}

/// Fields hookinit reads.
const USED: [&str; 8] = [
    "name",
    "terminationMessagePath",
    "env",
    "ports",
    "lifecycle",
    "startupProbe",
    "livenessProbe",
    "readinessProbe",
];

/// The other fields of a Kubernetes Container (k8s.io/api core/v1), known
/// and ignored: the runtime that starts hookinit has applied them already.
pub const IGNORED: [&str; 17] = [
    "image",
    "command",
    "args",
    "workingDir",
    "envFrom",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "restartPolicyRules",
    "volumeMounts",
    "volumeDevices",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
];

/// Parses a Container object at `path` (`""` at the top).
pub fn parse_container(v: &Value, path: &str) -> Result<Container, PathError> {
    let allowed: Vec<&str> = USED.iter().chain(IGNORED.iter()).copied().collect();
    let obj = json::object(v, path, &allowed)?;
    let name = match obj.get("name") {
        None => None,
        Some(n) => Some(parse_name(n, &join(path, "name"))?),
    };
    let (ports, tcp_ports) = match obj.get("ports") {
        None => (Vec::new(), Vec::new()),
        Some(p) => parse_ports(p, &join(path, "ports"))?,
    };
    let env = match obj.get("env") {
        None => Vec::new(),
        Some(e) => parse_env(e, &join(path, "env"))?,
    };
    let names = Some(PortNames::Container(&ports));
    let lifecycle = obj
        .get("lifecycle")
        .map(|l| handler::parse_lifecycle_with(l, &join(path, "lifecycle"), names))
        .transpose()?;
    let probe = |kind: ProbeKind| {
        obj.get(kind.field())
            .map(|p| parse_probe(p, &join(path, kind.field()), kind, names))
            .transpose()
    };
    Ok(Container {
        name,
        lifecycle,
        startup_probe: probe(ProbeKind::Startup)?,
        liveness_probe: probe(ProbeKind::Liveness)?,
        readiness_probe: probe(ProbeKind::Readiness)?,
        ports,
        tcp_ports,
        env,
        termination_message_path: match obj.get("terminationMessagePath") {
            None => None,
            Some(p) => Some(json::string(p, &join(path, "terminationMessagePath"))?)
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from),
        },
    })
}

/// `env`: `[{"name": "A", "value": "x"}, {"name": "B", "valueFrom": {...}}]`,
/// as the kubelet's `ExpandContainerCommandOnlyStatic` reads it: a
/// `valueFrom` (resolved by the kubelet at run time, not here) counts as
/// `""`, and so does a missing `value`.
fn parse_env(v: &Value, path: &str) -> Result<Vec<(String, String)>, PathError> {
    let items = v
        .as_array()
        .ok_or_else(|| PathError::new(path, format!("must be an array, not {}", json::kind(v))))?;
    let mut env = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let o = json::object(item, &ip, &["name", "value", "valueFrom"])?;
        let name = match o.get("name") {
            None => return Err(PathError::new(&join(&ip, "name"), "Required value")),
            Some(n) => json::string(n, &join(&ip, "name"))?,
        };
        if name.is_empty() {
            return Err(PathError::new(&join(&ip, "name"), "Required value"));
        }
        let value = match o.get("value") {
            None => "",
            Some(v) => json::string(v, &join(&ip, "value"))?,
        };
        env.push((name.to_string(), value.to_string()));
    }
    Ok(env)
}

/// A container name: a DNS label (RFC 1123), as Kubernetes requires. It
/// appears in event messages, so it is checked rather than ignored.
fn parse_name(v: &Value, path: &str) -> Result<String, PathError> {
    let name = json::string(v, path)?;
    if name.is_empty() {
        return Err(PathError::new(path, "Required value"));
    }
    if name.len() > 63 {
        return Err(PathError::new(
            path,
            format!("Invalid value: \"{name}\": must be no more than 63 characters"),
        ));
    }
    let b = name.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    if !b.iter().all(inner) || b[0] == b'-' || b[b.len() - 1] == b'-' {
        return Err(PathError::new(
            path,
            format!("Invalid value: {}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')", Quoted(name)),
        ));
    }
    Ok(name.to_string())
}

/// `ports`: `[{"name": "http", "containerPort": 8080, "protocol": "TCP"}]`,
/// validated as the API server does (`validateContainerPorts`); returns the
/// named ones, and every TCP port number.
fn parse_ports(v: &Value, path: &str) -> Result<(Vec<ContainerPort>, Vec<u16>), PathError> {
    let mut tcp = Vec::new();
    let items = v
        .as_array()
        .ok_or_else(|| PathError::new(path, format!("must be an array, not {}", json::kind(v))))?;
    let mut named: Vec<ContainerPort> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let o = json::object(
            item,
            &ip,
            &["name", "containerPort", "protocol", "hostPort", "hostIP"],
        )?;
        let container_port = match o.get("containerPort") {
            None => {
                return Err(PathError::new(
                    &join(&ip, "containerPort"),
                    "Required value",
                ))
            }
            Some(p) => handler::port_number(p, &join(&ip, "containerPort"))?,
        };
        let mut is_tcp = true;
        if let Some(p) = o.get("protocol") {
            let pp = join(&ip, "protocol");
            let proto = json::string(p, &pp)?;
            is_tcp = proto == "TCP";
            if !["TCP", "UDP", "SCTP"].contains(&proto) {
                return Err(PathError::new(
                    &pp,
                    format!("Unsupported value: \"{proto}\": supported values: \"SCTP\", \"TCP\", \"UDP\""),
                ));
            }
        }
        if is_tcp && !tcp.contains(&container_port) {
            tcp.push(container_port);
        }
        let Some(n) = o.get("name") else { continue };
        let np = join(&ip, "name");
        let name = json::string(n, &np)?;
        if name.is_empty() {
            continue;
        }
        if let Some(why) = iana_svc_name_problem(name) {
            return Err(PathError::new(
                &np,
                format!("Invalid value: {}: {why}", Quoted(name)),
            ));
        }
        if named.iter().any(|p| p.name == name) {
            return Err(PathError::new(&np, format!("Duplicate value: \"{name}\"")));
        }
        named.push(ContainerPort {
            name: name.to_string(),
            container_port,
        });
    }
    Ok((named, tcp))
}

/// Kubernetes' `IsValidPortName` (an IANA_SVC_NAME, RFC 6335).
fn iana_svc_name_problem(name: &str) -> Option<&'static str> {
    if name.len() > 15 {
        return Some("must be no more than 15 characters");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Some("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if crate::os::text::find(name, "--").is_some() {
        return Some("must not contain consecutive hyphens");
    }
    if !name.bytes().any(|c| c.is_ascii_lowercase()) {
        return Some("must contain at least one letter (a-z)");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Some("must not begin or end with a hyphen");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::handler::{Action, Handler};
    use crate::spec::probe::ProbeHandler;

    fn c(text: &str) -> Result<Container, String> {
        parse_container(&json::parse(text)?, "").map_err(|e| e.to_string())
    }

    #[test]
    fn named_ports_resolve_inside_the_container() {
        let c = c(
            r#"{"name":"web","image":"nginx:1.27","env":[{"name":"A","value":"b"}],
            "ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},{"containerPort":9090},
                     {"name":"dns","containerPort":53,"protocol":"UDP","hostPort":53}],
            "lifecycle":{"preStop":{"httpGet":{"port":"http","path":"/drain"}}},
            "livenessProbe":{"tcpSocket":{"port":"http"}},
            "readinessProbe":{"httpGet":{"port":"dns"}}}"#,
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("web"));
        assert_eq!(c.ports.len(), 2);
        let Some(Handler::Action(Action::HttpGet(h))) = &c.lifecycle.as_ref().unwrap().pre_stop
        else {
            panic!()
        };
        assert_eq!(h.port, Port::Number(8080));
        let port = |kind| match &c.probe(kind).unwrap().handler {
            ProbeHandler::Action(Action::TcpSocket { port, .. }) => port.clone(),
            ProbeHandler::Action(Action::HttpGet(h)) => h.port.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(port(ProbeKind::Liveness), Port::Number(8080));
        assert_eq!(port(ProbeKind::Readiness), Port::Number(53));
        assert!(c.startup_probe.is_none());
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            (r#"{"name":"web","imagee":"x"}"#, "imagee: unknown field"),
            (r#"{"livenessProbe":{"httpGet":{"port":"http"}}}"#,
             r#"livenessProbe.httpGet.port: named port "http" is not among the container's ports: none of them has a name"#),
            (r#"{"ports":[{"name":"http","containerPort":80}],"lifecycle":{"postStart":{"tcpSocket":{"port":"admin"}}}}"#,
             r#"lifecycle.postStart.tcpSocket.port: named port "admin" is not among the container's ports (known: http)"#),
            (r#"{"ports":[{"name":"http","containerPort":80},{"name":"http","containerPort":81}]}"#,
             r#"ports[1].name: Duplicate value: "http""#),
            (r#"{"ports":[{"name":"HTTP","containerPort":80}]}"#,
             r#"ports[0].name: Invalid value: "HTTP": must contain only alpha-numeric"#),
            (r#"{"ports":[{"name":"a-very-long-port-name","containerPort":80}]}"#,
             r#"ports[0].name: Invalid value: "a-very-long-port-name": must be no more than 15 characters"#),
            (r#"{"ports":[{"name":"8080","containerPort":80}]}"#, r#"ports[0].name: Invalid value: "8080": must contain at least one letter"#),
            (r#"{"ports":[{"name":"http"}]}"#, "ports[0].containerPort: Required value"),
            (r#"{"ports":[{"containerPort":0}]}"#, "ports[0].containerPort: 0 is out of range 1-65535"),
            (r#"{"ports":[{"containerPort":80,"protocol":"tcp"}]}"#, r#"ports[0].protocol: Unsupported value: "tcp""#),
            (r#"{"ports":[{"containerPort":80,"targetPort":80}]}"#, "ports[0].targetPort: unknown field"),
            (r#"{"ports":{}}"#, "ports: must be an array, not an object"),
            (r#"{"name":"Web"}"#, r#"name: Invalid value: "Web": a lowercase RFC 1123 label"#),
            (r#"{"name":""}"#, "name: Required value"),
            (r#"{"readinessProbe":{"exec":{"command":["true"]},"terminationGracePeriodSeconds":5}}"#,
             "readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes"),
            (r#"{"startupProbe":{"grpc":{"port":"grpc"}}}"#, "startupProbe.grpc.port: must be a number"),
        ];
        for (text, want) in cases {
            let e = c(text).unwrap_err();
            assert!(e.starts_with(want), "{text}: {e}");
        }
    }
}
