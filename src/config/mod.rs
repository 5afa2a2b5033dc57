//! Configuration: `HOOKINIT_*` environment variables, the same settings as
//! flags, and an optional JSON file (`HOOKINIT_CONFIG`).
//!
//! Every setting has one row in [`OPTIONS`] naming it in all three places.
//! Each source is parsed into a [`Layer`]; layers merge with flags over env
//! over file. Within one layer, a hook given both inside the `lifecycle`
//! object and on its own is an error, and so is a hook or probe given both
//! inside the `container` object and on its own. Named ports in hooks and
//! probes given on their own resolve against the `ports` of the container
//! object of the highest source that has one. Everything is validated before
//! the app starts, and every error names the variable, flag or file key it
//! came from.

use crate::events::Format;
use crate::os::signals::{self, SignalSet};
use crate::spec::container::{self, Container};
use crate::spec::handler::{
    self, Action, ContainerPort, Handler, Lifecycle, PortNames, MAX_SECONDS,
};
use crate::spec::json::{self, PathError};
use crate::spec::probe::{self as probe_spec, Probe, ProbeKind};
use serde_json::Value;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Everything hookinit needs to run, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub command: Vec<OsString>,
    pub verbosity: u8,
    pub log_format: Format,
    /// Signals go to the app's whole process group (default) or the app only.
    pub signal_group: bool,
    /// `None`: become a subreaper exactly when not PID 1.
    pub subreaper: Option<bool>,
    pub exit_remap: Vec<(i32, i32)>,
    pub post_start: Option<Handler>,
    pub pre_stop: Option<Handler>,
    pub grace: Duration,
    /// `None`: the app gets the signal that started the stop.
    pub stop_signal: Option<i32>,
    pub stop_on: SignalSet,
    pub post_start_timeout: Option<Duration>,
    pub pre_stop_timeout: Option<Duration>,
    pub ready_file: Option<PathBuf>,
    pub pre_stop_on_exit: bool,
    /// PreStop starts the app's own graceful shutdown: after it, wait for the
    /// app to exit and send the stop signal only when its reserve begins.
    pub pre_stop_drains: bool,
    /// How long processes left behind get after SIGTERM when the app exits
    /// by itself; also how long an "ask, then wait" PreStop may go on after
    /// the app exited.
    pub cleanup_timeout: Duration,
    pub startup_probe: Option<Probe>,
    pub liveness_probe: Option<Probe>,
    pub readiness_probe: Option<Probe>,
    /// `name` of the `container` object, for event messages.
    pub container_name: Option<String>,
    /// Start PostStart once the startup probe first succeeds, not with the
    /// app (only meaningful with a startup probe).
    pub post_start_after_startup: bool,
}

/// Below `docker stop`'s 10 s (and Cloud Run's): hookinit's SIGKILL, not the
/// runtime's, ends a stop that overruns, and says so.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(9);
pub const DEFAULT_CLEANUP: Duration = Duration::from_secs(2);
pub const DEFAULT_VERBOSITY: u8 = 2;

/// What the command line asks for.
#[derive(Debug)]
pub enum Request {
    Run(Config),
    /// `--check`: validate and print the plan, never start the app.
    Check(Config),
    /// `--ready`: whether the ready file exists (a shell-free HEALTHCHECK).
    Ready(Config),
    Help,
    Version,
}

/// A configuration problem: where it came from and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub source: String,
    pub message: String,
}

impl ConfigError {
    fn new(source: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            source: source.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Verbosity,
    LogFormat,
    SignalGroup,
    Subreaper,
    ExitRemap,
    Lifecycle,
    PostStart,
    PreStop,
    GracePeriod,
    StopSignal,
    StopOn,
    PostStartTimeout,
    PreStopTimeout,
    ReadyFile,
    PreStopOnExit,
    PreStopDrains,
    CleanupTimeout,
    Container,
    StartupProbe,
    LivenessProbe,
    ReadinessProbe,
    PostStartAfterStartup,
    Check,
    Config,
}

/// One setting, as it is named in each source (`""`: not available there).
pub struct Opt {
    key: Key,
    pub env: &'static str,
    pub flag: &'static str,
    pub file: &'static str,
    pub help: &'static str,
}

const fn opt(
    key: Key,
    env: &'static str,
    flag: &'static str,
    file: &'static str,
    help: &'static str,
) -> Opt {
    Opt {
        key,
        env,
        flag,
        file,
        help,
    }
}

pub const OPTIONS: &[Opt] = &[
    opt(
        Key::Container,
        "HOOKINIT_CONTAINER",
        "container",
        "container",
        "Kubernetes Container object as JSON (kubectl get pod -o json): its lifecycle, probes, ports",
    ),
    opt(
        Key::Lifecycle,
        "HOOKINIT_LIFECYCLE",
        "lifecycle",
        "lifecycle",
        "Kubernetes lifecycle object as JSON",
    ),
    opt(
        Key::PostStart,
        "HOOKINIT_POST_START",
        "post-start",
        "postStart",
        "PostStart handler (JSON, or [\"cmd\",\"arg\"])",
    ),
    opt(
        Key::PreStop,
        "HOOKINIT_PRE_STOP",
        "pre-stop",
        "preStop",
        "PreStop handler (JSON, or [\"cmd\",\"arg\"])",
    ),
    opt(
        Key::StartupProbe,
        "HOOKINIT_STARTUP_PROBE",
        "startup-probe",
        "startupProbe",
        "Kubernetes Probe object as JSON",
    ),
    opt(
        Key::LivenessProbe,
        "HOOKINIT_LIVENESS_PROBE",
        "liveness-probe",
        "livenessProbe",
        "Kubernetes Probe object as JSON",
    ),
    opt(
        Key::ReadinessProbe,
        "HOOKINIT_READINESS_PROBE",
        "readiness-probe",
        "readinessProbe",
        "Kubernetes Probe object as JSON",
    ),
    opt(
        Key::PostStartAfterStartup,
        "HOOKINIT_POST_START_AFTER_STARTUP",
        "post-start-after-startup",
        "postStartAfterStartup",
        "1: start PostStart once the startup probe first succeeds (0)",
    ),
    opt(
        Key::GracePeriod,
        "HOOKINIT_GRACE_PERIOD",
        "grace-period",
        "terminationGracePeriodSeconds",
        "seconds from stop signal to SIGKILL (9)",
    ),
    opt(
        Key::StopSignal,
        "HOOKINIT_STOP_SIGNAL",
        "stop-signal",
        "stopSignal",
        "signal the app gets on stop (the one received)",
    ),
    opt(
        Key::StopOn,
        "HOOKINIT_STOP_ON",
        "stop-on",
        "stopOn",
        "signals that start a stop (TERM,INT,QUIT; none)",
    ),
    opt(
        Key::PostStartTimeout,
        "HOOKINIT_POST_START_TIMEOUT",
        "post-start-timeout",
        "postStartTimeoutSeconds",
        "seconds (none)",
    ),
    opt(
        Key::PreStopTimeout,
        "HOOKINIT_PRE_STOP_TIMEOUT",
        "pre-stop-timeout",
        "preStopTimeoutSeconds",
        "seconds (bounded by the grace period)",
    ),
    opt(
        Key::ReadyFile,
        "HOOKINIT_READY_FILE",
        "ready-file",
        "readyFile",
        "file present while ready",
    ),
    opt(
        Key::PreStopOnExit,
        "HOOKINIT_PRE_STOP_ON_EXIT",
        "pre-stop-on-exit",
        "preStopOnExit",
        "1: run PreStop when the app exits by itself (0)",
    ),
    opt(
        Key::PreStopDrains,
        "HOOKINIT_PRE_STOP_DRAINS",
        "pre-stop-drains",
        "preStopDrains",
        "1: PreStop starts the app's graceful shutdown; wait for the app, stop signal when its reserve begins (0)",
    ),
    opt(
        Key::CleanupTimeout,
        "HOOKINIT_CLEANUP_TIMEOUT",
        "cleanup-timeout",
        "cleanupTimeoutSeconds",
        "seconds leftovers get after SIGTERM (2)",
    ),
    opt(
        Key::SignalGroup,
        "HOOKINIT_SIGNAL_GROUP",
        "signal-group",
        "signalGroup",
        "1: signal the app's process group, 0: the app only (0)",
    ),
    opt(
        Key::Subreaper,
        "HOOKINIT_SUBREAPER",
        "subreaper",
        "subreaper",
        "1/0: force subreaper on/off (auto: on when not PID 1)",
    ),
    opt(
        Key::ExitRemap,
        "HOOKINIT_EXIT_REMAP",
        "exit-remap",
        "exitRemap",
        "exit code remaps, e.g. 143:0,130:0 (143 alone means 143:0)",
    ),
    opt(
        Key::Verbosity,
        "HOOKINIT_VERBOSITY",
        "verbosity",
        "verbosity",
        "0 quiet, 1 failures, 2 lifecycle events, 3 debug (2)",
    ),
    opt(
        Key::LogFormat,
        "HOOKINIT_LOG_FORMAT",
        "log-format",
        "logFormat",
        "text or json (text)",
    ),
    opt(
        Key::Check,
        "HOOKINIT_CHECK",
        "",
        "",
        "1: as --check, with the image's command (docker run -e HOOKINIT_CHECK=1 IMAGE)",
    ),
    opt(
        Key::Config,
        "HOOKINIT_CONFIG",
        "config",
        "",
        "JSON file with these settings (file keys shown by --help)",
    ),
];

/// A value as a source holds it: text (env, flags) or JSON (the file).
enum Raw<'a> {
    Text(&'a str),
    Json(&'a Value),
}

/// A hook or probe with where it came from.
struct Given<T> {
    value: T,
    source: String,
    /// The JSON path of the value inside its source: `preStop` in a
    /// lifecycle object, `livenessProbe` in a container, empty on its own.
    path: &'static str,
    /// The JSON of the value when it names a port still to resolve
    /// ([`PortNames::Deferred`]): parsed again once the ports are known.
    pending: Option<Value>,
}

impl<T> Given<T> {
    fn new(value: T, source: &str, path: &'static str, pending: Option<Value>) -> Self {
        Given {
            value,
            source: source.to_string(),
            path,
            pending,
        }
    }
}

/// The settings one source gives; unset ones are `None`.
#[derive(Default)]
struct Layer {
    verbosity: Option<u8>,
    log_format: Option<Format>,
    signal_group: Option<bool>,
    subreaper: Option<bool>,
    exit_remap: Option<Vec<(i32, i32)>>,
    /// With the JSON of postStart and preStop when they name a port.
    lifecycle: Option<(Lifecycle, String, [Option<Value>; 2])>,
    container: Option<(Container, String)>,
    post_start: Option<Given<Handler>>,
    pre_stop: Option<Given<Handler>>,
    startup_probe: Option<Given<Probe>>,
    liveness_probe: Option<Given<Probe>>,
    readiness_probe: Option<Given<Probe>>,
    /// The named ports of this source's container object, if it has one.
    container_ports: Option<Vec<ContainerPort>>,
    container_name: Option<String>,
    post_start_after_startup: Option<bool>,
    stop_signal: Option<(i32, String)>,
    grace: Option<Duration>,
    stop_on: Option<SignalSet>,
    post_start_timeout: Option<Duration>,
    pre_stop_timeout: Option<Duration>,
    ready_file: Option<PathBuf>,
    pre_stop_on_exit: Option<bool>,
    pre_stop_drains: Option<bool>,
    cleanup_timeout: Option<Duration>,
    check: Option<bool>,
    config: Option<PathBuf>,
}

impl Layer {
    fn set(&mut self, key: Key, raw: Raw<'_>, source: &str) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError::new(source, message);
        let path_err = |e: PathError| ConfigError::new(source, e.to_string());
        match key {
            Key::Verbosity => {
                self.verbosity = Some(
                    match raw {
                        Raw::Text(t) => t.trim().parse::<u8>().ok().filter(|v| *v <= 3),
                        Raw::Json(v) => v.as_u64().filter(|v| *v <= 3).map(|v| v as u8),
                    }
                    .ok_or_else(|| err(format!("{} is not a verbosity from 0 to 3", show(&raw))))?,
                )
            }
            Key::LogFormat => {
                self.log_format = Some(match text(&raw, source)?.trim() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    other => {
                        return Err(err(format!(
                            "\"{other}\" is not a log format: use text or json"
                        )))
                    }
                })
            }
            Key::SignalGroup => self.signal_group = Some(boolean(&raw, source)?),
            Key::Subreaper => {
                self.subreaper = match text_or_bool(&raw) {
                    Some(t) if t.trim() == "auto" => None,
                    _ => Some(boolean(&raw, source)?),
                }
            }
            Key::PreStopOnExit => self.pre_stop_on_exit = Some(boolean(&raw, source)?),
            Key::PreStopDrains => self.pre_stop_drains = Some(boolean(&raw, source)?),
            Key::Check => self.check = Some(boolean(&raw, source)?),
            Key::ExitRemap => {
                self.exit_remap = Some(parse_remap(text(&raw, source)?).map_err(err)?)
            }
            Key::PostStartAfterStartup => {
                self.post_start_after_startup = Some(boolean(&raw, source)?)
            }
            Key::Lifecycle => {
                let (l, pending) = with_json(&raw, source, |v| {
                    let l = handler::parse_lifecycle_with(v, "", PortNames::Deferred)
                        .map_err(path_err)?;
                    let pending = |h: &Option<Handler>, key: &str| {
                        h.as_ref()
                            .filter(|h| h.port_pending())
                            .map(|_| v[key].clone())
                    };
                    let pending = [
                        pending(&l.post_start, "postStart"),
                        pending(&l.pre_stop, "preStop"),
                    ];
                    Ok((l, pending))
                })?;
                self.lifecycle = Some((l, source.to_string(), pending));
            }
            Key::Container => {
                let c = with_json(&raw, source, |v| {
                    container::parse_container(v, "").map_err(path_err)
                })?;
                self.container = Some((c, source.to_string()));
            }
            Key::PostStart | Key::PreStop => {
                let (h, pending) = with_json(&raw, source, |v| {
                    let h = handler::parse_handler_or_shorthand_with(v, "", PortNames::Deferred)
                        .map_err(path_err)?;
                    let pending = h.port_pending().then(|| v.clone());
                    Ok((h, pending))
                })?;
                let slot = if key == Key::PostStart {
                    &mut self.post_start
                } else {
                    &mut self.pre_stop
                };
                *slot = Some(Given::new(h, source, "", pending));
            }
            Key::StartupProbe | Key::LivenessProbe | Key::ReadinessProbe => {
                let kind = match key {
                    Key::StartupProbe => ProbeKind::Startup,
                    Key::LivenessProbe => ProbeKind::Liveness,
                    _ => ProbeKind::Readiness,
                };
                let (p, pending) = with_json(&raw, source, |v| {
                    let p = probe_spec::parse_probe(v, "", kind, PortNames::Deferred)
                        .map_err(path_err)?;
                    let pending = p.handler.port_pending().then(|| v.clone());
                    Ok((p, pending))
                })?;
                *self.probe_slot(kind) = Some(Given::new(p, source, "", pending));
            }
            Key::StopSignal => {
                let sig = match raw {
                    Raw::Json(Value::Number(n)) => handler::parse_stop_signal(&n.to_string()),
                    _ => handler::parse_stop_signal(text(&raw, source)?),
                }
                .map_err(err)?;
                self.stop_signal = Some((sig, source.to_string()));
            }
            Key::StopOn => self.stop_on = Some(parse_stop_on(&raw).map_err(err)?),
            Key::GracePeriod => self.grace = Some(seconds(&raw).map_err(err)?),
            Key::PostStartTimeout => self.post_start_timeout = Some(seconds(&raw).map_err(err)?),
            Key::PreStopTimeout => self.pre_stop_timeout = Some(seconds(&raw).map_err(err)?),
            Key::CleanupTimeout => self.cleanup_timeout = Some(seconds(&raw).map_err(err)?),
            Key::ReadyFile | Key::Config => {
                let t = text(&raw, source)?;
                if t.contains('\0') {
                    return Err(err("a path may not contain a NUL byte".into()));
                }
                let path = Some(PathBuf::from(t));
                if key == Key::ReadyFile {
                    self.ready_file = path
                } else {
                    self.config = path
                }
            }
        }
        Ok(())
    }

    /// Folds `lifecycle` into the hook and stop-signal slots, rejecting a hook
    /// given twice in this one source.
    /// In place: a layer is large, and moving it costs more than the parse.
    fn settle(&mut self) -> Result<(), ConfigError> {
        if let Some((l, lsource, [post_raw, pre_raw])) = self.lifecycle.take() {
            for (from_lc, raw, slot, name) in [
                (l.post_start, post_raw, &mut self.post_start, "postStart"),
                (l.pre_stop, pre_raw, &mut self.pre_stop, "preStop"),
            ] {
                let Some(h) = from_lc else { continue };
                if let Some(other) = slot {
                    return Err(ConfigError::new(
                        other.source.clone(),
                        format!("{name} is also set in {lsource}: set each hook in one place only"),
                    ));
                }
                *slot = Some(Given::new(h, &lsource, name, raw));
            }
            if let Some(sig) = l.stop_signal {
                if let Some((_, other)) = &self.stop_signal {
                    return Err(ConfigError::new(
                        other.clone(),
                        format!("stopSignal is also set in {lsource}: set it in one place only"),
                    ));
                }
                self.stop_signal = Some((sig, format!("{lsource}: stopSignal")));
            }
        }
        if let Some((c, csource)) = self.container.take() {
            let l = c.lifecycle.unwrap_or_default();
            for (from_c, slot, name, path) in [
                (
                    l.post_start,
                    &mut self.post_start,
                    "postStart",
                    "lifecycle.postStart",
                ),
                (
                    l.pre_stop,
                    &mut self.pre_stop,
                    "preStop",
                    "lifecycle.preStop",
                ),
            ] {
                let Some(h) = from_c else { continue };
                if let Some(other) = slot {
                    return Err(ConfigError::new(
                        other.source.clone(),
                        format!("{name} is also set in {csource}: set each hook in one place only"),
                    ));
                }
                *slot = Some(Given::new(h, &csource, path, None));
            }
            if let Some(sig) = l.stop_signal {
                if let Some((_, other)) = &self.stop_signal {
                    return Err(ConfigError::new(
                        other.clone(),
                        format!("stopSignal is also set in {csource}: set it in one place only"),
                    ));
                }
                self.stop_signal = Some((sig, format!("{csource}: lifecycle.stopSignal")));
            }
            for (kind, probe) in [
                (ProbeKind::Startup, c.startup_probe),
                (ProbeKind::Liveness, c.liveness_probe),
                (ProbeKind::Readiness, c.readiness_probe),
            ] {
                let Some(p) = probe else { continue };
                let slot = self.probe_slot(kind);
                if let Some(other) = slot {
                    return Err(ConfigError::new(
                        other.source.clone(),
                        format!(
                            "{} is also set in {csource}: set it in one place only",
                            kind.field()
                        ),
                    ));
                }
                *slot = Some(Given::new(p, &csource, kind.field(), None));
            }
            self.container_name = c.name;
            self.container_ports = Some(c.ports);
        }
        Ok(())
    }

    fn probe_slot(&mut self, kind: ProbeKind) -> &mut Option<Given<Probe>> {
        match kind {
            ProbeKind::Startup => &mut self.startup_probe,
            ProbeKind::Liveness => &mut self.liveness_probe,
            ProbeKind::Readiness => &mut self.readiness_probe,
        }
    }

    /// Parses again, now with the container's ports (`None`: no container
    /// object anywhere), the hooks and probes of this source that name a port.
    fn resolve(&mut self, ports: Option<&[ContainerPort]>) -> Result<(), ConfigError> {
        let names = ports.map_or(PortNames::Unsupported, PortNames::Container);
        for slot in [&mut self.post_start, &mut self.pre_stop] {
            if let Some(g) = slot.as_mut() {
                if let Some(raw) = g.pending.take() {
                    g.value = handler::parse_handler_or_shorthand_with(&raw, g.path, names)
                        .map_err(|e| ConfigError::new(g.source.clone(), e.to_string()))?;
                }
            }
        }
        for kind in ProbeKind::ALL {
            if let Some(g) = self.probe_slot(kind).as_mut() {
                if let Some(raw) = g.pending.take() {
                    g.value = probe_spec::parse_probe(&raw, g.path, kind, names)
                        .map_err(|e| ConfigError::new(g.source.clone(), e.to_string()))?;
                }
            }
        }
        Ok(())
    }

    /// `self` over `lower`: a setting here wins.
    /// Fills what this layer leaves unset from `lower` (a setting here
    /// wins), in place: moving whole layers cost more than parsing them.
    fn fill_from(&mut self, lower: &mut Layer) {
        fn fill<T>(mine: &mut Option<T>, theirs: &mut Option<T>) {
            if mine.is_none() && theirs.is_some() {
                *mine = theirs.take();
            }
        }
        fill(&mut self.verbosity, &mut lower.verbosity);
        fill(&mut self.log_format, &mut lower.log_format);
        fill(&mut self.signal_group, &mut lower.signal_group);
        fill(&mut self.subreaper, &mut lower.subreaper);
        fill(&mut self.exit_remap, &mut lower.exit_remap);
        fill(&mut self.post_start, &mut lower.post_start);
        fill(&mut self.pre_stop, &mut lower.pre_stop);
        fill(&mut self.startup_probe, &mut lower.startup_probe);
        fill(&mut self.liveness_probe, &mut lower.liveness_probe);
        fill(&mut self.readiness_probe, &mut lower.readiness_probe);
        fill(&mut self.container_ports, &mut lower.container_ports);
        fill(&mut self.container_name, &mut lower.container_name);
        fill(
            &mut self.post_start_after_startup,
            &mut lower.post_start_after_startup,
        );
        fill(&mut self.stop_signal, &mut lower.stop_signal);
        fill(&mut self.grace, &mut lower.grace);
        fill(&mut self.stop_on, &mut lower.stop_on);
        fill(&mut self.post_start_timeout, &mut lower.post_start_timeout);
        fill(&mut self.pre_stop_timeout, &mut lower.pre_stop_timeout);
        fill(&mut self.ready_file, &mut lower.ready_file);
        fill(&mut self.pre_stop_on_exit, &mut lower.pre_stop_on_exit);
        fill(&mut self.pre_stop_drains, &mut lower.pre_stop_drains);
        fill(&mut self.cleanup_timeout, &mut lower.cleanup_timeout);
        fill(&mut self.check, &mut lower.check);
        fill(&mut self.config, &mut lower.config);
        self.lifecycle = None;
        self.container = None;
    }
}

fn show(raw: &Raw<'_>) -> String {
    match raw {
        Raw::Text(t) => format!("\"{t}\""),
        Raw::Json(v) => v.to_string(),
    }
}

fn text<'a>(raw: &Raw<'a>, source: &str) -> Result<&'a str, ConfigError> {
    match raw {
        Raw::Text(t) => Ok(t),
        Raw::Json(Value::String(s)) => Ok(s),
        Raw::Json(v) => Err(ConfigError::new(
            source,
            format!("must be a string, not {}", json::kind(v)),
        )),
    }
}

fn text_or_bool<'a>(raw: &Raw<'a>) -> Option<&'a str> {
    match raw {
        Raw::Text(t) => Some(t),
        Raw::Json(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn boolean(raw: &Raw<'_>, source: &str) -> Result<bool, ConfigError> {
    let parsed = match raw {
        Raw::Json(Value::Bool(b)) => Some(*b),
        Raw::Json(Value::Number(n)) => match n.as_u64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        _ => match text_or_bool(raw)
            .map(|t| t.trim().to_ascii_lowercase())
            .as_deref()
        {
            Some("1" | "true" | "yes" | "on") => Some(true),
            Some("0" | "false" | "no" | "off") => Some(false),
            _ => None,
        },
    };
    parsed.ok_or_else(|| {
        ConfigError::new(
            source,
            format!("{} is not a boolean: use 1 or 0", show(raw)),
        )
    })
}

/// JSON given as text (env, flag) or inline (file).
fn with_json<T>(
    raw: &Raw<'_>,
    source: &str,
    f: impl FnOnce(&Value) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    match raw {
        Raw::Json(v) => f(v),
        Raw::Text(t) => f(&json::parse(t).map_err(|e| ConfigError::new(source, e))?),
    }
}

/// A duration: seconds as a number (`10`, `2.5`), or Go's and Compose's
/// syntax (`30s`, `1m30s`, `500ms`, `1h`, `1.5m`). JSON numbers are seconds.
fn seconds(raw: &Raw<'_>) -> Result<Duration, String> {
    let value = match raw {
        Raw::Json(Value::Number(n)) => n.as_f64(),
        Raw::Text(_) | Raw::Json(Value::String(_)) => {
            parse_duration(text_or_bool(raw).unwrap_or_default().trim())
        }
        Raw::Json(_) => None,
    };
    match value {
        None => Err(format!(
            "{} is not a duration: use seconds (10, 2.5) or 1m30s, 500ms",
            show(raw)
        )),
        Some(v) if !v.is_finite() || v < 0.0 => Err(format!(
            "{} must be a number of seconds, 0 or more",
            show(raw)
        )),
        Some(v) if v > MAX_SECONDS as f64 => {
            Err(format!("{} is more than a year of seconds", show(raw)))
        }
        Some(v) => Ok(Duration::from_secs_f64(v)),
    }
}

/// Seconds in `text`: a plain decimal number, or a sequence of decimal
/// numbers each with a unit (h, m, s, ms, us, µs, ns), as Go's
/// `time.ParseDuration` (which Compose uses); `None` if it is neither.
fn parse_duration(text: &str) -> Option<f64> {
    let number = decimal;
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, text.strip_prefix('+').unwrap_or(text)),
    };
    if let Some(v) = number(rest) {
        return Some(sign * v);
    }
    let mut total = 0.0;
    let mut rest = rest;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value = number(&rest[..digits])?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Some(sign * total)
}

/// A plain decimal number (`10`, `2.5`, `.5`, `5.`): digits with at most one
/// point. Not `str::parse::<f64>`, which also takes "inf", "NaN" and
/// exponents, and whose exact algorithm (12 KB of tables and code) a
/// duration does not need: digits past the 18th after the point (below a
/// nanosecond) are dropped.
fn decimal(t: &str) -> Option<f64> {
    let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !digits(whole) || !digits(fraction) {
        return None;
    }
    let mut value = 0.0;
    for b in whole.bytes() {
        value = value * 10.0 + f64::from(b - b'0');
    }
    let fraction = &fraction[..fraction.len().min(18)];
    let mut numerator: u64 = 0;
    for b in fraction.bytes() {
        numerator = numerator * 10 + u64::from(b - b'0');
    }
    Some(value + numerator as f64 / 10f64.powi(fraction.len() as i32))
}

/// `143:0,130:0`; a bare `143` means `143:0` (tini's `-e`).
fn parse_remap(t: &str) -> Result<Vec<(i32, i32)>, String> {
    let code = |s: &str| {
        s.trim()
            .parse::<u8>()
            .map(i32::from)
            .map_err(|_| format!("\"{}\" is not an exit code 0-255", s.trim()))
    };
    t.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| match part.split_once(':') {
            Some((from, to)) => Ok((code(from)?, code(to)?)),
            None => Ok((code(part)?, 0)),
        })
        .collect()
}

fn parse_stop_on(raw: &Raw<'_>) -> Result<SignalSet, String> {
    let items: Vec<String> = match raw {
        Raw::Text(_) | Raw::Json(Value::String(_)) => text_or_bool(raw)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        Raw::Json(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("must list signal names, not {}", json::kind(other))),
            })
            .collect::<Result<_, _>>()?,
        Raw::Json(v) => return Err(format!("must be a list of signals, not {}", json::kind(v))),
    };
    let mut set = SignalSet::empty();
    if items.len() == 1 && items[0].eq_ignore_ascii_case("none") {
        return Ok(set);
    }
    for item in items {
        match signals::parse(&item) {
            Some(sig) if sig == libc::SIGKILL || sig == libc::SIGSTOP || sig == libc::SIGCHLD => {
                return Err(format!("{} cannot start a stop", signals::name(sig)))
            }
            Some(sig) => set.insert(sig),
            None => return Err(format!("\"{item}\" is not a signal name or number")),
        }
    }
    Ok(set)
}

/// Reads `HOOKINIT_*` variables. An empty value counts as unset; an unknown
/// `HOOKINIT_` name is an error (a typo would otherwise be silently ignored).
fn env_layer(vars: &[(OsString, OsString)], layer: &mut Layer) -> Result<(), ConfigError> {
    for (name, value) in vars {
        use std::os::unix::ffi::OsStrExt;
        if !name.as_bytes().starts_with(b"HOOKINIT_") {
            continue;
        }
        let Some(name) = name.to_str() else {
            return Err(ConfigError::new(
                lossy(name),
                "unknown variable (its name is not valid UTF-8)",
            ));
        };
        if !name.starts_with("HOOKINIT_") {
            continue;
        }
        let Some(o) = OPTIONS.iter().find(|o| o.env == name) else {
            let known: Vec<&str> = OPTIONS.iter().map(|o| o.env).collect();
            return Err(ConfigError::new(
                name,
                format!("unknown variable (known: {})", known.join(", ")),
            ));
        };
        let value = value
            .to_str()
            .ok_or_else(|| ConfigError::new(name, "the value is not valid UTF-8"))?;
        if !value.trim().is_empty() {
            layer.set(o.key, Raw::Text(value), name)?;
        }
    }
    Ok(())
}

/// The most a config file may hold: a real one is a few hundred bytes.
const CONFIG_FILE_MAX: u64 = 1024 * 1024;

/// Reads a config file without ever blocking or reading without bound: a
/// FIFO would block `open` (with every signal blocked, even TERM could not
/// stop hookinit) and `/dev/zero` would fill memory. Only regular files of at
/// most 1 MiB are read.
fn read_config_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("cannot read: not a regular file".into());
    }
    let mut bytes = Vec::new();
    file.take(CONFIG_FILE_MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > CONFIG_FILE_MAX {
        return Err(format!("cannot read: larger than {CONFIG_FILE_MAX} bytes"));
    }
    Ok(bytes)
}

fn file_layer(path: &std::path::Path) -> Result<Layer, ConfigError> {
    let source = format!("config file {}", path.display());
    let bytes = read_config_file(path).map_err(|e| ConfigError::new(&source, e))?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| ConfigError::new(&source, "not valid UTF-8"))?;
    let value = json::parse(text).map_err(|e| ConfigError::new(&source, e))?;
    let known: Vec<&str> = OPTIONS
        .iter()
        .map(|o| o.file)
        .filter(|f| !f.is_empty())
        .collect();
    let obj =
        json::object(&value, "", &known).map_err(|e| ConfigError::new(&source, e.to_string()))?;
    let mut layer = Layer::default();
    for (key, v) in obj {
        let Some(o) = OPTIONS.iter().find(|o| o.file == key) else {
            continue;
        };
        if !v.is_null() {
            layer.set(o.key, Raw::Json(v), &format!("{source}: {key}"))?;
        }
    }
    Ok(layer)
}

/// Parses the command line (after argv[0]) and the environment.
pub fn parse(args: &[OsString], env_vars: &[(OsString, OsString)]) -> Result<Request, ConfigError> {
    let mut flags = Layer::default();
    let mut check = false;
    let mut ready = false;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        let Some(text) = arg.to_str() else {
            // An option that is not UTF-8 is an error; anything else starts the command.
            if std::os::unix::ffi::OsStrExt::as_bytes(arg.as_os_str()).starts_with(b"-") {
                return Err(ConfigError::new(lossy(arg), "is not valid UTF-8"));
            }
            break;
        };
        if text == "--" {
            i += 1;
            break;
        }
        if !text.starts_with('-') || text == "-" {
            break;
        }
        match text {
            "-h" | "--help" => return Ok(Request::Help),
            "-V" | "--version" => return Ok(Request::Version),
            "--check" => {
                check = true;
                i += 1;
                continue;
            }
            "--ready" => {
                ready = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        let (name, inline) = match text.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        let Some(o) = name
            .strip_prefix("--")
            .and_then(|n| OPTIONS.iter().find(|o| !o.flag.is_empty() && o.flag == n))
        else {
            return Err(ConfigError::new(text, "unknown option (see --help)"));
        };
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                let v = args
                    .get(i)
                    .ok_or_else(|| ConfigError::new(name, "needs a value"))?;
                v.to_str()
                    .ok_or_else(|| ConfigError::new(name, "the value is not valid UTF-8"))?
            }
        };
        flags.set(o.key, Raw::Text(value), name)?;
        i += 1;
    }
    let command: Vec<OsString> = args[i..].to_vec();

    flags.settle()?;
    let mut env = Layer::default();
    env_layer(env_vars, &mut env)?;
    env.settle()?;
    let config_path = flags.config.clone().or_else(|| env.config.clone());
    let mut file = match &config_path {
        Some(p) => file_layer(p)?,
        None => Layer::default(),
    };
    file.settle()?;
    // Named ports in hooks and probes given on their own: the ports of the
    // container object of the highest source that has one.
    let ports = flags
        .container_ports
        .clone()
        .or_else(|| env.container_ports.clone())
        .or_else(|| file.container_ports.clone());
    flags.resolve(ports.as_deref())?;
    env.resolve(ports.as_deref())?;
    file.resolve(ports.as_deref())?;
    env.fill_from(&mut file);
    flags.fill_from(&mut env);
    let merged = flags;
    let check = check || merged.check == Some(true);
    let config = finish(merged, command)?;
    if ready {
        return Ok(Request::Ready(config));
    }
    if check {
        return Ok(Request::Check(config));
    }
    if config.command.is_empty() {
        return Err(ConfigError::new(
            "usage",
            "no command given: hookinit [OPTIONS] [--] CMD [ARGS...] (see --help)",
        ));
    }
    if config.command[0].is_empty() {
        return Err(ConfigError::new("usage", "the command name is empty"));
    }
    Ok(Request::Run(config))
}

/// Time kept for the app's own shutdown after PreStop: 2 s (the kubelet's
/// minimum), or half the window if that is shorter.
pub fn app_reserve(grace: Duration) -> Duration {
    Duration::from_secs(2).min(grace / 2)
}

/// Cross-setting checks (Kubernetes: a sleep may not outlast the grace period).
fn finish(l: Layer, command: Vec<OsString>) -> Result<Config, ConfigError> {
    let grace = l.grace.unwrap_or(DEFAULT_GRACE);
    for hook in [&l.post_start, &l.pre_stop] {
        if let Some(Given {
            value: Handler::Sleep { duration },
            source,
            path,
            ..
        }) = hook
        {
            if *duration > grace {
                return Err(ConfigError::new(
                    source.clone(),
                    format!(
                        "{}: {}s must not exceed the grace period ({})",
                        json::join(path, "sleep.seconds"),
                        duration.as_secs(),
                        crate::events::secs(grace)
                    ),
                ));
            }
        }
    }
    // PreStop gets the window minus the time kept for the app: a sleep longer
    // than that would be cut at every stop and logged as a failure.
    if let Some(Given {
        value: Handler::Sleep { duration },
        source,
        path,
        ..
    }) = &l.pre_stop
    {
        let usable = grace - app_reserve(grace);
        if *duration > usable {
            return Err(ConfigError::new(
                source.clone(),
                format!(
                    "{}: {}s leaves the app no time: PreStop may use {} of the {} grace period ({} is kept for the app's shutdown)",
                    json::join(path, "sleep.seconds"),
                    duration.as_secs(),
                    crate::events::secs(usable),
                    crate::events::secs(grace),
                    crate::events::secs(app_reserve(grace)),
                ),
            ));
        }
    }
    Ok(Config {
        command,
        verbosity: l.verbosity.unwrap_or(DEFAULT_VERBOSITY),
        log_format: l.log_format.unwrap_or(Format::Text),
        signal_group: l.signal_group.unwrap_or(false),
        subreaper: l.subreaper,
        exit_remap: l.exit_remap.unwrap_or_default(),
        post_start: l.post_start.map(|g| g.value),
        pre_stop: l.pre_stop.map(|g| g.value),
        grace,
        stop_signal: l.stop_signal.map(|(s, _)| s),
        stop_on: l
            .stop_on
            .unwrap_or(SignalSet::of(&[libc::SIGTERM, libc::SIGINT, libc::SIGQUIT])),
        post_start_timeout: l.post_start_timeout,
        pre_stop_timeout: l.pre_stop_timeout,
        ready_file: l.ready_file,
        pre_stop_on_exit: l.pre_stop_on_exit.unwrap_or(false),
        pre_stop_drains: l.pre_stop_drains.unwrap_or(false),
        cleanup_timeout: l.cleanup_timeout.unwrap_or(DEFAULT_CLEANUP),
        startup_probe: l.startup_probe.map(|g| g.value),
        liveness_probe: l.liveness_probe.map(|g| g.value),
        readiness_probe: l.readiness_probe.map(|g| g.value),
        container_name: l.container_name,
        post_start_after_startup: l.post_start_after_startup.unwrap_or(false),
    })
}

impl Config {
    /// The probe of that kind, if configured.
    pub fn probe(&self, kind: ProbeKind) -> Option<&Probe> {
        match kind {
            ProbeKind::Startup => self.startup_probe.as_ref(),
            ProbeKind::Liveness => self.liveness_probe.as_ref(),
            ProbeKind::Readiness => self.readiness_probe.as_ref(),
        }
    }

    /// Time kept for the app's own shutdown after PreStop: 2 s (the kubelet's
    /// minimum), or half the window if that is shorter.
    pub fn app_reserve(&self) -> Duration {
        app_reserve(self.grace)
    }

    /// Applies `HOOKINIT_EXIT_REMAP` to an exit code.
    pub fn remap(&self, code: i32) -> i32 {
        self.exit_remap
            .iter()
            .find(|(from, _)| *from == code)
            .map_or(code, |(_, to)| *to)
    }

    /// The resolved plan, for `--check`.
    pub fn plan(&self) -> String {
        let secs = |d: Duration| crate::events::secs(d).to_string();
        let hook = |h: &Option<Handler>, timeout: Option<Duration>| match h {
            None => "none".to_string(),
            Some(h) => format!(
                "{} (timeout: {})",
                h.describe(),
                timeout.map_or("none".into(), secs)
            ),
        };
        let mut out = String::new();
        let mut line = |k: &str, v: String| out.push_str(&format!("{k:<15} {v}\n"));
        let cmd: Vec<String> = self
            .command
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        line(
            "command:",
            if cmd.is_empty() {
                "(none given)".into()
            } else {
                format!("{cmd:?}")
            },
        );
        if let Some(name) = &self.container_name {
            line("container:", name.clone());
        }
        let mut post_start = hook(&self.post_start, self.post_start_timeout);
        if self.post_start_after_startup && self.post_start.is_some() {
            post_start.push_str(if self.startup_probe.is_some() {
                ", once the startup probe first succeeds"
            } else {
                ", with the app (no startup probe)"
            });
        }
        line("postStart:", post_start);
        line("preStop:", hook(&self.pre_stop, self.pre_stop_timeout));
        for kind in ProbeKind::ALL {
            let label = match kind {
                ProbeKind::Startup => "startup:",
                ProbeKind::Liveness => "liveness:",
                ProbeKind::Readiness => "readiness:",
            };
            line(
                label,
                self.probe(kind).map_or("none".into(), |p| p.plan(kind)),
            );
        }
        line(
            "grace period:",
            format!(
                "{} (PreStop may use up to {}; {} kept for the app)",
                secs(self.grace),
                secs(self.grace - self.app_reserve()),
                secs(self.app_reserve())
            ),
        );
        line(
            "stop on:",
            if self.stop_on.is_empty() {
                "none".into()
            } else {
                self.stop_on
                    .iter()
                    .map(|s| signals::name(s).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        line(
            "stop signal:",
            self.stop_signal.map_or("the signal received".into(), |s| {
                signals::name(s).to_string()
            }),
        );
        line(
            "signals go to:",
            if self.signal_group {
                "the app's process group".into()
            } else {
                "the app only".into()
            },
        );
        line(
            "preStop on exit:",
            if self.pre_stop_on_exit {
                "yes".into()
            } else {
                "no".into()
            },
        );
        line(
            "preStop drains:",
            if self.pre_stop_drains {
                format!(
                    "yes: after PreStop, wait for the app; the stop signal at the reserve ({} before SIGKILL)",
                    secs(self.app_reserve())
                )
            } else {
                "no: the stop signal right after PreStop (as Kubernetes)".into()
            },
        );
        line(
            "ready file:",
            self.ready_file
                .as_ref()
                .map_or("none".into(), |p| p.display().to_string()),
        );
        line(
            "cleanup:",
            format!(
                "leftovers get SIGTERM, then SIGKILL after {}",
                secs(self.cleanup_timeout)
            ),
        );
        let remap: Vec<String> = self
            .exit_remap
            .iter()
            .map(|(a, b)| format!("{a}->{b}"))
            .collect();
        line(
            "exit remap:",
            if remap.is_empty() {
                "none".into()
            } else {
                remap.join(", ")
            },
        );
        out
    }
}

impl Config {
    /// What `--check` warns about: settings that are valid but cannot work
    /// as the user probably means, on this image.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(path) = &self.ready_file {
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => std::path::Path::new("."),
            };
            if !dir.is_dir() {
                out.push(format!(
                    "ready file {}: its directory {} does not exist: the file can never be created (HEALTHCHECK stays unhealthy)",
                    path.display(),
                    dir.display()
                ));
            } else if let Err(e) = writable(dir) {
                out.push(format!(
                    "ready file {}: {} is not writable ({e}): the file can never be created (HEALTHCHECK stays unhealthy)",
                    path.display(),
                    dir.display()
                ));
            }
        }
        if self.pre_stop.is_some() {
            let usable = self.grace - self.app_reserve();
            if usable.is_zero() {
                out.push(format!(
                    "preStop: the grace period is {}: PreStop has no time at all and is killed as it starts",
                    crate::events::secs(self.grace)
                ));
            } else if let Some(t) = self.pre_stop_timeout.filter(|t| *t > usable) {
                out.push(format!(
                    "preStop: its timeout of {} is longer than the {} it may use of the {} grace period: it is cut there",
                    crate::events::secs(t),
                    crate::events::secs(usable),
                    crate::events::secs(self.grace)
                ));
            }
        } else if self.pre_stop_drains {
            out.push("preStopDrains has no effect without a PreStop hook".into());
        }
        let post_start_waits = self.post_start_after_startup && self.startup_probe.is_some();
        if self.post_start_after_startup && self.startup_probe.is_none() {
            out.push("postStartAfterStartup has no effect without a startup probe: PostStart starts with the app".into());
        }
        if let Some(h @ Handler::Action(Action::HttpGet(_) | Action::TcpSocket { .. })) =
            self.post_start.as_ref().filter(|_| !post_start_waits)
        {
            out.push(format!(
                "postStart is {}: it runs at once, beside the app (as in Kubernetes), usually before the app listens, and then fails and stops the container; use an exec hook that waits for the port, e.g. [\"sh\",\"-c\",\"until nc -z 127.0.0.1 PORT; do sleep 0.2; done\"]",
                h.kind()
            ));
        }
        for (name, hook) in [("postStart", &self.post_start), ("preStop", &self.pre_stop)] {
            if let Some(Handler::Action(Action::Exec { command })) = hook {
                if !program_exists(&command[0]) {
                    out.push(format!(
                        "{name}: '{}' is not found{} (the hook would fail with exit 127)",
                        command[0],
                        if command[0].contains('/') {
                            ""
                        } else {
                            " in PATH"
                        }
                    ));
                }
            }
        }
        for kind in ProbeKind::ALL {
            if let Some(probe_spec::ProbeHandler::Action(Action::Exec { command })) =
                self.probe(kind).map(|p| &p.handler)
            {
                if !program_exists(&command[0]) {
                    out.push(format!(
                        "{}: '{}' is not found{} (the probe would fail with exit 127)",
                        kind.field(),
                        command[0],
                        if command[0].contains('/') {
                            ""
                        } else {
                            " in PATH"
                        }
                    ));
                }
            }
        }
        // One line each: a path may hold a newline.
        out.iter()
            .map(|w| {
                w.chars()
                    .map(|c| match c {
                        c if c.is_control() => c.escape_default().to_string(),
                        c => c.to_string(),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Whether hookinit could create a file in `dir` (EROFS, EACCES otherwise).
fn writable(dir: &std::path::Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: access with a NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
        Ok(())
    } else {
        Err(crate::os::errno::Errno::last().to_string())
    }
}

/// Whether `program` would be found by `execvp`: a path, or a name in PATH.
fn program_exists(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &std::path::Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return runnable(std::path::Path::new(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/bin:/usr/bin".into());
    std::env::split_paths(&path).any(|d| runnable(&d.join(program)))
}

/// `--help` text, generated from [`OPTIONS`].
pub fn usage() -> String {
    let mut s = String::from(
        "hookinit: a tiny init for containers with Kubernetes-style lifecycle hooks\n\n\
         Usage: hookinit [OPTIONS] [--] CMD [ARGS...]\n       hookinit --check [OPTIONS] [--] [CMD...]\n\n\
         Options (flag / environment variable / config file key):\n",
    );
    for o in OPTIONS {
        let flag = if o.flag.is_empty() {
            String::new()
        } else {
            format!("--{} V", o.flag)
        };
        s.push_str(&format!("  {:<22} {:<28} {}\n", flag, o.env, o.help));
        if !o.file.is_empty() {
            s.push_str(&format!("  {:<51} file key: {}\n", "", o.file));
        }
    }
    s.push_str("  --check                    validate, print the plan, do not start the app\n");
    s.push_str(
        "  --ready                    exit 0 if the ready file exists, else 1 (HEALTHCHECK without a shell)\n",
    );
    s.push_str(
        "  -h, --help                 this text\n  -V, --version              the version\n",
    );
    s.push_str("\nFlags win over environment variables, which win over the config file.\n");
    s
}

/// The `HOOKINIT_*` entries of the environment as (name, value) pairs.
/// `environ` is scanned in place: copying the whole environment (what
/// `std::env::vars_os` does) cost more than everything else at start-up.
pub fn environment() -> Vec<(OsString, OsString)> {
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        static environ: *const *const std::ffi::c_char;
    }
    let mut vars = Vec::new();
    // SAFETY: `environ` is the C runtime's NULL-terminated array of
    // NUL-terminated strings; hookinit does not modify its environment.
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            // Compare the prefix first: most entries end there, without a strlen.
            let prefix = b"HOOKINIT_";
            let matches = prefix
                .iter()
                .enumerate()
                .all(|(i, &b)| *(*entry).add(i) as u8 == b);
            let bytes = if matches {
                std::ffi::CStr::from_ptr(*entry).to_bytes()
            } else {
                &[]
            };
            if matches {
                let (name, value) = match bytes.iter().position(|&b| b == b'=') {
                    Some(i) => (&bytes[..i], &bytes[i + 1..]),
                    None => (bytes, &b""[..]),
                };
                vars.push((
                    OsStr::from_bytes(name).to_os_string(),
                    OsStr::from_bytes(value).to_os_string(),
                ));
            }
            entry = entry.add(1);
        }
    }
    vars
}

/// For messages: an argv element as text.
pub fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let env: Vec<(OsString, OsString)> =
            env.iter().map(|(a, b)| (a.into(), b.into())).collect();
        match parse(&args, &env).map_err(|e| e.to_string())? {
            Request::Run(c) | Request::Check(c) => Ok(c),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn defaults() {
        let c = run(&["app"], &[]).unwrap();
        assert_eq!(c.grace, Duration::from_secs(9));
        assert!(
            !c.signal_group
                && c.stop_on.contains(libc::SIGTERM)
                && c.stop_on.contains(libc::SIGQUIT)
        );
        assert_eq!(c.app_reserve(), Duration::from_secs(2));
    }

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
        assert_eq!(c.app_reserve(), Duration::from_millis(1250));
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

    #[test]
    fn bad_values_name_their_source() {
        let cases: &[(&str, &str, &str)] = &[
            ("HOOKINIT_GRACE_PERIOD", "NaN", "HOOKINIT_GRACE_PERIOD: "),
            ("HOOKINIT_GRACE_PERIOD", "-1", "must be a number of seconds"),
            (
                "HOOKINIT_VERBOSITY",
                "4",
                "HOOKINIT_VERBOSITY: \"4\" is not a verbosity",
            ),
            (
                "HOOKINIT_LIFECYCLE",
                r#"{"preStop":{"httpGet":{"port":70000}}}"#,
                "HOOKINIT_LIFECYCLE: preStop.httpGet.port: 70000 is out of range 1-65535",
            ),
            (
                "HOOKINIT_STOP_ON",
                "TERM,KILL",
                "SIGKILL cannot start a stop",
            ),
            ("HOOKINIT_EXIT_REMAP", "143:256", "not an exit code"),
            ("HOOKINIT_FOO", "1", "HOOKINIT_FOO: unknown variable"),
        ];
        for (k, v, want) in cases {
            let e = run(&["app"], &[(k, v)]).unwrap_err();
            assert!(e.contains(want), "{k}={v}: {e}");
        }
    }

    #[test]
    fn durations_in_seconds_or_go_syntax() {
        let d = |t: &str| parse_duration(t);
        assert_eq!(d("10"), Some(10.0));
        assert_eq!(d("2.5"), Some(2.5));
        assert_eq!(d("30s"), Some(30.0));
        assert_eq!(d("1m30s"), Some(90.0));
        assert_eq!(d("1.5m"), Some(90.0));
        assert_eq!(d("500ms"), Some(0.5));
        assert_eq!(d("1h2m3s4ms"), Some(3723.004));
        assert_eq!(d("-1s"), Some(-1.0));
        assert_eq!(d(".5"), Some(0.5));
        assert_eq!(d("5."), Some(5.0));
        assert_eq!(d("0.125"), Some(0.125));
        let ns = |t: &str| Duration::from_secs_f64(d(t).unwrap()).as_nanos();
        assert_eq!(ns("0.3"), 300_000_000);
        assert_eq!(ns("1.000000001"), 1_000_000_001);
        assert_eq!(ns("86399.999999999"), 86_399_999_999_999);
        assert_eq!(ns("0.0000000019999999999999"), 2);
        for bad in [
            "", "m", "1x", "inf", "NaN", "1 m", "s1", "1m30", ".", "1..2s", "1e3", "1.5.2", "+",
            "-", "0x10", "١",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        let c = run(&["app"], &[("HOOKINIT_GRACE_PERIOD", "1m30s")]).unwrap();
        assert_eq!(c.grace, Duration::from_secs(90));
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

    #[test]
    fn post_start_after_startup_warnings() {
        let c = run(
            &["app"],
            &[
                ("HOOKINIT_POST_START_AFTER_STARTUP", "1"),
                ("HOOKINIT_POST_START", r#"{"httpGet":{"port":80}}"#),
            ],
        )
        .unwrap();
        let w = c.warnings();
        assert!(
            w[0].starts_with("postStartAfterStartup has no effect without a startup probe"),
            "{w:?}"
        );
        assert!(
            w.iter().any(|w| w.starts_with("postStart is httpGet")),
            "{w:?}"
        );
        let c = run(
            &["app"],
            &[
                ("HOOKINIT_POST_START_AFTER_STARTUP", "1"),
                ("HOOKINIT_POST_START", r#"{"httpGet":{"port":80}}"#),
                ("HOOKINIT_STARTUP_PROBE", r#"{"tcpSocket":{"port":80}}"#),
            ],
        )
        .unwrap();
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        assert!(c.plan().contains(
            "postStart:      httpGet http://127.0.0.1:80/ (timeout: none), once the startup probe first succeeds\n"
        ));
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
}
