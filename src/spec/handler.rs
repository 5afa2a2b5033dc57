//! The Kubernetes `lifecycle` object: `postStart`, `preStop`, `stopSignal`,
//! and the four handler kinds, parsed from JSON with errors that carry a path.
//!
//! A user pastes their pod spec's JSON unchanged, so field names, defaults and
//! validation messages follow Kubernetes. A port is parsed into a [`Port`],
//! a number or a name; a name resolves against a container's `ports`
//! ([`PortNames`]), and without a container port list it is an error. The
//! handler pieces here (exec, httpGet, tcpSocket, the one-handler rule) are
//! shared with probes ([`crate::spec::probe`]).

use crate::os::signals;
use crate::os::text::QuotedList;
use crate::spec::json::Value;
use crate::spec::json::{self, join, PathError};
use std::time::Duration;

/// What an exec, httpGet or tcpSocket handler does: the same for hooks and
/// probes (the Kubernetes `LifecycleHandler` and `ProbeHandler` share them).
/// `P` is the type of its port: [`Port`] as parsed, the number once resolved
/// ([`Action::resolve`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<P = u16> {
    Exec { command: Vec<String> },
    HttpGet(HttpGet<P>),
    TcpSocket { host: String, port: P },
}

/// A lifecycle hook's handler: an action, or a sleep. `P` as in [`Action`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handler<P = u16> {
    Action(Action<P>),
    Sleep { duration: Duration },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpGet<P = u16> {
    pub scheme: Scheme,
    pub host: String,
    pub port: P,
    /// Path and optional query, always starting with `/`.
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl<P> Action<P> {
    /// The Kubernetes name of the handler kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Exec { .. } => "exec",
            Action::HttpGet(_) => "httpGet",
            Action::TcpSocket { .. } => "tcpSocket",
        }
    }
}

/// One line for `--check` and logs: `exec ["cat", "/tmp/healthy"]`,
/// `httpGet http://127.0.0.1:8080/healthz`, `tcpSocket 127.0.0.1:5432`.
impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Exec { command } => write!(f, "exec {}", QuotedList(command)),
            Action::HttpGet(h) => write!(f, "httpGet {h}"),
            Action::TcpSocket { host, port } => write!(f, "tcpSocket {}", HostPort(host, *port)),
        }
    }
}

impl<P> Handler<P> {
    /// The Kubernetes name of the handler kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Handler::Action(action) => action.kind(),
            Handler::Sleep { .. } => "sleep",
        }
    }
}

impl Handler {
    /// One line for `--check` and logs, formatted without allocating.
    pub fn describe(&self) -> Describe<'_> {
        Describe(self)
    }
}

pub struct Describe<'a>(&'a Handler);

impl std::fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Handler::Action(action) => action.fmt(f),
            Handler::Sleep { duration } => write!(f, "sleep {}s", duration.as_secs()),
        }
    }
}

/// The URL: `http://127.0.0.1:8080/healthz`.
impl std::fmt::Display for HttpGet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.scheme == Scheme::Https {
            "https"
        } else {
            "http"
        };
        write!(
            f,
            "{scheme}://{}{}",
            HostPort(&self.host, self.port),
            self.path
        )
    }
}

/// `host:port`, bracketing IPv6 literals; a `Display` value.
pub struct HostPort<'a>(pub &'a str, pub u16);

impl std::fmt::Display for HostPort<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.as_bytes().contains(&b':') {
            write!(f, "[{}]:{}", self.0, self.1)
        } else {
            write!(f, "{}:{}", self.0, self.1)
        }
    }
}

/// `host:port`, bracketing IPv6 literals.
pub fn host_port(host: &str, port: u16) -> String {
    HostPort(host, port).to_string()
}

pub const DEFAULT_HOST: &str = "127.0.0.1";

/// The parsed `lifecycle` object; `P` as in [`Handler`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifecycle<P = u16> {
    pub post_start: Option<Handler<P>>,
    pub pre_stop: Option<Handler<P>>,
    pub stop_signal: Option<i32>,
}

impl<P> Default for Lifecycle<P> {
    fn default() -> Self {
        Lifecycle {
            post_start: None,
            pre_stop: None,
            stop_signal: None,
        }
    }
}

/// A named entry of a Kubernetes Container's `ports`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: String,
    pub container_port: u16,
}

/// A handler's `port` as written: a number 1-65535, or the name of one of
/// the container's `ports` (`"port": "http"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Port {
    Number(u16),
    Named(String),
}

/// Where a port name is looked up.
#[derive(Clone, Copy, Debug)]
pub enum PortNames<'a> {
    /// No container port list: a name is an error.
    Unsupported,
    /// Names resolve to these container ports; any other name is an error.
    Container(&'a [ContainerPort]),
}

impl Port {
    /// The number this port stands for, its name looked up in `names`.
    /// `at` and `kind` place the port for an error: `preStop` and `httpGet`
    /// for `preStop.httpGet.port`.
    pub fn number(&self, names: PortNames<'_>, at: &str, kind: &str) -> Result<u16, PathError> {
        match self {
            Port::Number(n) => Ok(*n),
            Port::Named(name) => names.look_up(name, &join(&join(at, kind), "port")),
        }
    }
}

impl PortNames<'_> {
    /// The number of the container port named `name`; `path` is where the
    /// name was given.
    fn look_up(self, name: &str, path: &str) -> Result<u16, PathError> {
        match self {
            PortNames::Unsupported => Err(PathError::new(
                path,
                format!("named port \"{name}\" is not supported here: give the number (names are looked up in HOOKINIT_CONTAINER's ports, for its hooks and probes)"),
            )),
            PortNames::Container(list) => match list.iter().find(|p| p.name == name) {
                Some(p) => Ok(p.container_port),
                None if list.is_empty() => Err(PathError::new(
                    path,
                    format!("named port \"{name}\" is not among the container's ports: none of them has a name"),
                )),
                None => Err(PathError::new(
                    path,
                    format!(
                        "named port \"{name}\" is not among the container's ports (known: {})",
                        crate::os::text::join(&list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ", ")
                    ),
                )),
            },
        }
    }
}

impl Action<Port> {
    /// The action with its port resolved in `names`; `path` is where the
    /// handler holding it sits (`preStop`, `lifecycle.preStop`, `""` on its own).
    pub fn resolve(self, path: &str, names: PortNames<'_>) -> Result<Action, PathError> {
        Ok(match self {
            Action::Exec { command } => Action::Exec { command },
            Action::HttpGet(h) => Action::HttpGet(h.resolve(path, names)?),
            Action::TcpSocket { host, port } => Action::TcpSocket {
                port: port.number(names, path, "tcpSocket")?,
                host,
            },
        })
    }
}

impl Handler<Port> {
    /// The handler with its port resolved in `names`; `path` as in
    /// [`Action::resolve`].
    pub fn resolve(self, path: &str, names: PortNames<'_>) -> Result<Handler, PathError> {
        Ok(match self {
            Handler::Action(action) => Handler::Action(action.resolve(path, names)?),
            Handler::Sleep { duration } => Handler::Sleep { duration },
        })
    }
}

impl HttpGet<Port> {
    /// The same request with its port resolved in `names`; `path` is where
    /// the handler holding it sits.
    pub fn resolve(self, path: &str, names: PortNames<'_>) -> Result<HttpGet, PathError> {
        Ok(HttpGet {
            port: self.port.number(names, path, "httpGet")?,
            scheme: self.scheme,
            host: self.host,
            path: self.path,
            headers: self.headers,
        })
    }
}

/// A `lifecycle` object, where a port name is an error (every port comes
/// out a [`Port::Number`]).
pub fn parse_lifecycle(v: &Value, path: &str) -> Result<Lifecycle<Port>, PathError> {
    parse_lifecycle_with(v, path, Some(PortNames::Unsupported))
}

/// [`parse_lifecycle`], with port names looked up in `ports` as they are
/// parsed (every port then comes out a [`Port::Number`]), or kept (`None`)
/// for [`Handler::resolve`] once the container's ports are known.
pub fn parse_lifecycle_with(
    v: &Value,
    path: &str,
    ports: Option<PortNames<'_>>,
) -> Result<Lifecycle<Port>, PathError> {
    let obj = json::object(v, path, &["postStart", "preStop", "stopSignal"])?;
    let handler = |key: &str| -> Result<Option<Handler<Port>>, PathError> {
        obj.get(key)
            .map(|h| parse_handler_among(h, &join(path, key), ports, KINDS))
            .transpose()
    };
    let stop_signal = match obj.get("stopSignal") {
        None => None,
        Some(s) => {
            let p = join(path, "stopSignal");
            Some(parse_stop_signal(json::string(s, &p)?).map_err(|m| PathError::new(&p, m))?)
        }
    };
    Ok(Lifecycle {
        post_start: handler("postStart")?,
        pre_stop: handler("preStop")?,
        stop_signal,
    })
}

/// A stop signal: a name or number, and not one that cannot be caught or is
/// hookinit's own business.
pub fn parse_stop_signal(text: &str) -> Result<i32, String> {
    parse_signal_for(text, "a stop signal")
}

/// [`parse_stop_signal`] for a signal that is `what` (`the reload signal`).
pub fn parse_signal_for(text: &str, what: &str) -> Result<i32, String> {
    match signals::parse(text) {
        None => Err(format!("\"{text}\" is not a signal name or number")),
        Some(sig) if sig == libc::SIGCHLD => Err(format!("SIGCHLD cannot be {what}")),
        Some(sig) => Ok(sig),
    }
}

/// The handler kinds, then the one field a pre-start step adds to them.
pub(crate) const STEP_FIELDS: [&str; 5] =
    ["exec", "httpGet", "tcpSocket", "sleep", "timeoutSeconds"];
/// The handler kinds (one table with [`STEP_FIELDS`]).
pub(crate) const KINDS: &[&str] = STEP_FIELDS.split_at(4).0;

/// A handler object allowing the fields `allowed` (the kinds, and any the
/// caller reads itself), or the shorthand `["cmd", "arg"]` meaning exec;
/// port names are left for the caller to resolve.
pub(crate) fn parse_handler_or_shorthand(
    v: &Value,
    path: &str,
    allowed: &[&str],
) -> Result<Handler<Port>, PathError> {
    if v.is_array() {
        return Ok(Handler::Action(Action::Exec {
            command: parse_command(v, path)?,
        }));
    }
    parse_handler_among(v, path, None, allowed)
}

/// The Kubernetes rule for an object holding handlers (a hook, a probe):
/// exactly one of `kinds` is present. Returns it and its body.
pub(crate) fn one_handler<'v>(
    obj: &'v json::Map,
    path: &str,
    kinds: &[&'static str],
) -> Result<(&'static str, &'v Value), PathError> {
    let mut present = kinds.iter().filter_map(|&k| Some((k, obj.get(k)?)));
    let Some(found) = present.next() else {
        return Err(PathError::new(path, "must specify a handler type"));
    };
    if present.next().is_some() {
        return Err(PathError::new(
            path,
            "may not specify more than 1 handler type",
        ));
    }
    Ok(found)
}

/// An `exec` body: `{"command": [...]}`; `path` ends in `exec`.
fn parse_exec(body: &Value, path: &str) -> Result<Vec<String>, PathError> {
    let o = json::object(body, path, &["command"])?;
    let command = o
        .get("command")
        .ok_or_else(|| PathError::new(&join(path, "command"), "Required value"))?;
    parse_command(command, &join(path, "command"))
}

/// A `tcpSocket` body: (host, port); `path` ends in `tcpSocket`.
fn parse_tcp_socket(
    body: &Value,
    path: &str,
    ports: Option<PortNames<'_>>,
) -> Result<(String, Port), PathError> {
    let o = json::object(body, path, &["port", "host"])?;
    Ok((
        parse_host(o.get("host"), path)?,
        parse_port(o.get("port"), path, ports)?,
    ))
}

/// The body of an `exec`, `httpGet` or `tcpSocket` handler (`kind`; `path`
/// ends in it), for hooks and probes alike; `None` for any other kind.
pub(crate) fn parse_action(
    kind: &str,
    body: &Value,
    path: &str,
    ports: Option<PortNames<'_>>,
) -> Result<Option<Action<Port>>, PathError> {
    Ok(Some(match kind {
        "exec" => Action::Exec {
            command: parse_exec(body, path)?,
        },
        "httpGet" => Action::HttpGet(parse_http_get(body, path, ports)?),
        "tcpSocket" => {
            let (host, port) = parse_tcp_socket(body, path, ports)?;
            Action::TcpSocket { host, port }
        }
        _ => return Ok(None),
    }))
}

/// A handler object allowing the fields `allowed` (the kinds, and any the
/// caller reads itself), with port names as in [`parse_lifecycle_with`].
pub(crate) fn parse_handler_among(
    v: &Value,
    path: &str,
    ports: Option<PortNames<'_>>,
    allowed: &[&str],
) -> Result<Handler<Port>, PathError> {
    let obj = json::object(v, path, allowed)?;
    let (kind, body) = one_handler(obj, path, KINDS)?;
    let path = &join(path, kind);
    if let Some(action) = parse_action(kind, body, path, ports)? {
        return Ok(Handler::Action(action));
    }
    // The one kind left: sleep.
    let o = json::object(body, path, &["seconds"])?;
    Ok(Handler::Sleep {
        duration: Duration::from_secs(seconds_field(o, "seconds", path, true)?),
    })
}

/// The whole number of seconds at `key` of `obj`, up to a year: a sleep's
/// `seconds` (`sleep`: required, from 0) or a pre-start step's
/// `timeoutSeconds` (optional, from 1; 0 when not given).
pub(crate) fn seconds_field(
    obj: &json::Map,
    key: &str,
    path: &str,
    sleep: bool,
) -> Result<u64, PathError> {
    let p = join(path, key);
    let Some(v) = obj.get(key) else {
        return match sleep {
            true => Err(PathError::new(&p, "Required value")),
            false => Ok(0),
        };
    };
    let n = json::whole(v, &p)?;
    let min = u64::from(!sleep);
    if !(min..=MAX_SECONDS).contains(&n) {
        return Err(PathError::new(
            &p,
            // The year written out: one argument fewer to format.
            format!("Invalid value: {n}: must be between {min} and 31536000"),
        ));
    }
    Ok(n)
}

const _: () = assert!(MAX_SECONDS == 31536000);

/// The longest duration hookinit accepts anywhere (a year): keeps deadline
/// arithmetic far from overflow.
pub const MAX_SECONDS: u64 = 365 * 24 * 3600;

pub(crate) fn parse_command(v: &Value, path: &str) -> Result<Vec<String>, PathError> {
    let items = v.as_array().ok_or_else(|| {
        PathError::new(
            path,
            format!("must be an array of strings, not {}", json::kind(v)),
        )
    })?;
    if items.is_empty() {
        return Err(PathError::new(
            path,
            "Required value: the command may not be empty",
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let p = format!("{path}[{i}]");
            let s = json::string(item, &p)?;
            if s.as_bytes().contains(&b'\0') {
                return Err(PathError::new(&p, "may not contain a NUL byte"));
            }
            Ok(s.to_string())
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|cmd| {
            if cmd[0].is_empty() {
                Err(PathError::new(
                    &format!("{path}[0]"),
                    "the program name may not be empty",
                ))
            } else {
                Ok(cmd)
            }
        })
}

/// `port` in `path`: a number 1-65535, or a name, looked up now in `ports`
/// unless that is `None`.
pub(crate) fn parse_port(
    v: Option<&Value>,
    path: &str,
    ports: Option<PortNames<'_>>,
) -> Result<Port, PathError> {
    let path = join(path, "port");
    Ok(match v {
        None => return Err(PathError::new(&path, "Required value")),
        Some(Value::String(name)) => match ports {
            Some(names) => Port::Number(names.look_up(name, &path)?),
            None => Port::Named(name.clone()),
        },
        Some(v) => Port::Number(port_number(v, &path)?),
    })
}

/// A port number 1-65535 at `path`.
pub(crate) fn port_number(v: &Value, path: &str) -> Result<u16, PathError> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(p @ 1..=65535) => Ok(p as u16),
            _ => Err(PathError::new(path, format!("{n} is out of range 1-65535"))),
        },
        other => Err(PathError::new(
            path,
            format!("must be a number, not {}", json::kind(other)),
        )),
    }
}

fn parse_host(v: Option<&Value>, path: &str) -> Result<String, PathError> {
    let path = &join(path, "host");
    let host = match v {
        None => return Ok(DEFAULT_HOST.to_string()),
        Some(v) => json::string(v, path)?,
    };
    if host.is_empty() {
        return Ok(DEFAULT_HOST.to_string());
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '@' | '[' | ']')
    }) {
        return Err(PathError::new(
            path,
            format!("\"{host}\" is not a valid host name or address"),
        ));
    }
    Ok(host.to_string())
}

/// An `httpGet` body; `path` ends in `httpGet`.
pub(crate) fn parse_http_get(
    v: &Value,
    path: &str,
    ports: Option<PortNames<'_>>,
) -> Result<HttpGet<Port>, PathError> {
    let o = json::object(v, path, &["path", "port", "host", "scheme", "httpHeaders"])?;
    let scheme = match o.get("scheme") {
        None => Scheme::Http,
        Some(s) => match json::string(s, &join(path, "scheme"))? {
            "HTTP" => Scheme::Http,
            "HTTPS" => Scheme::Https,
            other => {
                return Err(PathError::new(
                    &join(path, "scheme"),
                    format!(
                        "Unsupported value: \"{other}\": supported values: \"HTTP\", \"HTTPS\""
                    ),
                ))
            }
        },
    };
    if scheme == Scheme::Https && !cfg!(feature = "https") {
        return Err(PathError::new(
            &join(path, "scheme"),
            "HTTPS is not available in this build of hookinit (build it with --features https)",
        ));
    }
    let url_path = match o.get("path") {
        None => "/".to_string(),
        Some(p) => {
            let p_path = join(path, "path");
            let p = json::string(p, &p_path)?;
            if p.chars().any(|c| c.is_control() || c == ' ') {
                return Err(PathError::new(
                    &p_path,
                    "may not contain spaces or control characters (CR, LF, ...)",
                ));
            }
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("/{p}")
            }
        }
    };
    let mut headers = Vec::new();
    if let Some(list) = o.get("httpHeaders") {
        let hp = join(path, "httpHeaders");
        let items = list.as_array().ok_or_else(|| {
            PathError::new(&hp, format!("must be an array, not {}", json::kind(list)))
        })?;
        for (i, item) in items.iter().enumerate() {
            let ip = format!("{hp}[{i}]");
            let h = json::object(item, &ip, &["name", "value"])?;
            let name_path = join(&ip, "name");
            let name = json::string(
                h.get("name")
                    .ok_or_else(|| PathError::new(&name_path, "Required value"))?,
                &name_path,
            )?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(PathError::new(
                    &name_path,
                    format!("\"{name}\" is not a valid header name: use letters, digits and '-'"),
                ));
            }
            let value_path = join(&ip, "value");
            let value = match h.get("value") {
                None => "",
                Some(v) => json::string(v, &value_path)?,
            };
            if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
                return Err(PathError::new(
                    &value_path,
                    "may not contain CR, LF or NUL (header injection)",
                ));
            }
            headers.push((name.to_string(), value.to_string()));
        }
    }
    Ok(HttpGet {
        scheme,
        host: parse_host(o.get("host"), path)?,
        port: parse_port(o.get("port"), path, ports)?,
        path: url_path,
        headers,
    })
}

#[cfg(test)]
#[path = "handler_tests.rs"]
mod tests;
