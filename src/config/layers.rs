//! Layers: the settings one source gives, how a source's `lifecycle` and
//! `container` objects fold into its hook and probe slots, the resolution of
//! named ports, and the merge (a higher source wins).

use super::options::Key;
use super::values::{
    boolean, parse_listen_address, parse_notify_socket, parse_remap, parse_stop_on, seconds, show,
    text, text_or_bool, with_json, Raw,
};
use super::ConfigError;
use crate::events::Format;
use crate::os::notify_socket::Address;
use crate::os::signals::SignalSet;
use crate::spec::container::{self, Container};
use crate::spec::drain::DrainSpec;
use crate::spec::handler::{self, ContainerPort, Handler, Lifecycle, Port, PortNames};
use crate::spec::json::PathError;
use crate::spec::json::Value;
use crate::spec::pre_start::{self, Step};
use crate::spec::probe::{self as probe_spec, Probe, ProbeKind};
use std::path::PathBuf;
use std::time::Duration;

/// A hook or probe with where it came from.
pub(super) struct Given<T> {
    pub(super) value: T,
    pub(super) source: String,
    /// The JSON path of the value inside its source: `preStop` in a
    /// lifecycle object, `livenessProbe` in a container, empty on its own.
    pub(super) path: &'static str,
}

impl<T> Given<T> {
    /// Not inlined: one copy per `T`, not one per caller.
    #[inline(never)]
    fn new(value: T, source: &str, path: &'static str) -> Self {
        Given {
            value,
            source: source.to_string(),
            path,
        }
    }
}

/// Hooks and probes with where each came from. `P` is the type of their
/// ports: [`Port`] as parsed, the number once resolved
/// ([`Layer::resolve_into`]).
pub(super) struct HooksAndProbes<P> {
    pub(super) post_start: Option<Given<Handler<P>>>,
    pub(super) pre_stop: Option<Given<Handler<P>>>,
    pub(super) reload: Option<Given<Handler<P>>>,
    pub(super) post_stop: Option<Given<Handler<P>>>,
    pub(super) startup_probe: Option<Given<Probe<P>>>,
    pub(super) liveness_probe: Option<Given<Probe<P>>>,
    pub(super) readiness_probe: Option<Given<Probe<P>>>,
}

impl<P> Default for HooksAndProbes<P> {
    fn default() -> Self {
        HooksAndProbes {
            post_start: None,
            pre_stop: None,
            reload: None,
            post_stop: None,
            startup_probe: None,
            liveness_probe: None,
            readiness_probe: None,
        }
    }
}

impl<P> HooksAndProbes<P> {
    pub(super) fn probe_slot(&mut self, kind: ProbeKind) -> &mut Option<Given<Probe<P>>> {
        match kind {
            ProbeKind::Startup => &mut self.startup_probe,
            ProbeKind::Liveness => &mut self.liveness_probe,
            ProbeKind::Readiness => &mut self.readiness_probe,
        }
    }
}

/// The settings one source gives; unset ones are `None`.
#[derive(Default)]
pub(super) struct Layer {
    pub(super) verbosity: Option<u8>,
    pub(super) log_format: Option<Format>,
    pub(super) signal_group: Option<bool>,
    pub(super) subreaper: Option<bool>,
    pub(super) exit_remap: Option<Vec<(i32, i32)>>,
    pub(super) lifecycle: Option<(Lifecycle<Port>, String)>,
    pub(super) container: Option<(Container, String)>,
    /// Hooks and probes as parsed, port names unresolved.
    pub(super) given: HooksAndProbes<Port>,
    /// The named ports of this source's container object, if it has one.
    pub(super) container_ports: Option<Vec<ContainerPort>>,
    /// The static `env` of this source's container object, if it has one.
    pub(super) container_env: Option<Vec<(String, String)>>,
    pub(super) container_name: Option<String>,
    pub(super) termination_message_path: Option<PathBuf>,
    pub(super) post_start_after_startup: Option<bool>,
    pub(super) http_hook_check_status: Option<bool>,
    pub(super) reload_signal: Option<(i32, String)>,
    pub(super) reload_timeout: Option<Duration>,
    pub(super) report_oom: Option<bool>,
    /// Empty when unset (a list given empty is refused).
    pub(super) pre_start: Vec<Step>,
    /// `Some(None)`: explicitly off (a lower source's setting is overridden).
    pub(super) notify_socket: Option<Option<Address>>,
    pub(super) notify_watchdog: Option<(Duration, String)>,
    pub(super) notify_start_timeout: Option<(Duration, String)>,
    pub(super) notify_extend_limit: Option<(Duration, String)>,
    pub(super) notify_relay: Option<bool>,
    /// `HOOKINIT_DRAIN` and where it was set; `Some(None)`: explicitly off.
    pub(super) drain: Option<Option<(DrainSpec, String)>>,
    /// Every TCP port of this source's container object, if it has one.
    pub(super) container_tcp_ports: Option<Vec<u16>>,
    /// `Some(None)`: explicitly off.
    pub(super) readiness_address: Option<Option<std::net::SocketAddr>>,
    pub(super) stop_signal: Option<(i32, String)>,
    pub(super) grace: Option<Duration>,
    pub(super) stop_on: Option<SignalSet>,
    pub(super) post_start_timeout: Option<Duration>,
    pub(super) pre_stop_timeout: Option<Duration>,
    pub(super) ready_file: Option<PathBuf>,
    pub(super) pre_stop_on_exit: Option<bool>,
    pub(super) pre_stop_drains: Option<bool>,
    pub(super) cleanup_timeout: Option<Duration>,
    pub(super) check: Option<bool>,
    pub(super) config: Option<PathBuf>,
}

impl Layer {
    /// An empty layer, built out of line: inlined, each of the four in
    /// `parse_as` was 370 bytes of stores.
    #[inline(never)]
    pub(super) fn empty() -> Self {
        Self::default()
    }

    pub(super) fn set(&mut self, key: Key, raw: Raw<'_>, source: &str) -> Result<(), ConfigError> {
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
            Key::Subreaper => {
                self.subreaper = match text_or_bool(&raw) {
                    Some(t) if t.trim() == "auto" => None,
                    _ => Some(boolean(&raw, source)?),
                }
            }
            // One arm per kind of value: an arm per key inlined its own copy.
            Key::SignalGroup
            | Key::PreStopOnExit
            | Key::PreStopDrains
            | Key::Check
            | Key::PostStartAfterStartup
            | Key::HttpHookCheckStatus
            | Key::ReportOom
            | Key::NotifyRelay => {
                let value = Some(boolean(&raw, source)?);
                *match key {
                    Key::SignalGroup => &mut self.signal_group,
                    Key::PreStopOnExit => &mut self.pre_stop_on_exit,
                    Key::PreStopDrains => &mut self.pre_stop_drains,
                    Key::Check => &mut self.check,
                    Key::PostStartAfterStartup => &mut self.post_start_after_startup,
                    Key::HttpHookCheckStatus => &mut self.http_hook_check_status,
                    Key::ReportOom => &mut self.report_oom,
                    _ => &mut self.notify_relay,
                } = value;
            }
            Key::ReloadTimeout
            | Key::GracePeriod
            | Key::PostStartTimeout
            | Key::PreStopTimeout
            | Key::CleanupTimeout => {
                let value = Some(seconds(&raw).map_err(err)?);
                *match key {
                    Key::ReloadTimeout => &mut self.reload_timeout,
                    Key::GracePeriod => &mut self.grace,
                    Key::PostStartTimeout => &mut self.post_start_timeout,
                    Key::PreStopTimeout => &mut self.pre_stop_timeout,
                    _ => &mut self.cleanup_timeout,
                } = value;
            }
            Key::ExitRemap => {
                self.exit_remap = Some(parse_remap(text(&raw, source)?).map_err(err)?)
            }
            Key::NotifySocket => self.notify_socket = Some(parse_notify_socket(&raw).map_err(err)?),
            Key::Drain => self.drain = Some(super::drain::parse(&raw, source)?),
            Key::ReadinessAddress => {
                self.readiness_address = Some(parse_listen_address(&raw).map_err(err)?)
            }
            // One arm for the three (each inlined its own copy).
            Key::NotifyWatchdog | Key::NotifyStartTimeout | Key::NotifyExtendLimit => {
                let value = Some((seconds(&raw).map_err(err)?, source.to_string()));
                *match key {
                    Key::NotifyWatchdog => &mut self.notify_watchdog,
                    Key::NotifyStartTimeout => &mut self.notify_start_timeout,
                    _ => &mut self.notify_extend_limit,
                } = value;
            }
            Key::PreStart => {
                with_json(&raw, source, &mut |v| {
                    pre_start::parse(v, &mut self.pre_start).map_err(path_err)
                })?;
            }
            // Port names wait for the container's ports: `Layer::resolve_into`.
            Key::Lifecycle => {
                with_json(&raw, source, &mut |v| {
                    let l = handler::parse_lifecycle_with(v, "", None).map_err(path_err)?;
                    self.lifecycle = Some((l, source.to_string()));
                    Ok(())
                })?;
            }
            Key::Container => {
                with_json(&raw, source, &mut |v| {
                    let c = container::parse_container(v, "").map_err(path_err)?;
                    self.container = Some((c, source.to_string()));
                    Ok(())
                })?;
            }
            Key::PostStart | Key::PreStop | Key::Reload | Key::PostStop => {
                let slot = match key {
                    Key::PostStart => &mut self.given.post_start,
                    Key::PreStop => &mut self.given.pre_stop,
                    Key::Reload => &mut self.given.reload,
                    _ => &mut self.given.post_stop,
                };
                with_json(&raw, source, &mut |v| {
                    let h = handler::parse_handler_or_shorthand(v, "", handler::KINDS);
                    *slot = Some(Given::new(h.map_err(path_err)?, source, ""));
                    Ok(())
                })?;
            }
            Key::StartupProbe | Key::LivenessProbe | Key::ReadinessProbe => {
                let kind = match key {
                    Key::StartupProbe => ProbeKind::Startup,
                    Key::LivenessProbe => ProbeKind::Liveness,
                    _ => ProbeKind::Readiness,
                };
                let slot = self.given.probe_slot(kind);
                with_json(&raw, source, &mut |v| {
                    let p = probe_spec::parse_probe(v, "", kind, None).map_err(path_err)?;
                    *slot = Some(Given::new(p, source, ""));
                    Ok(())
                })?;
            }
            // One arm for the two (the reload signal's errors name it).
            Key::StopSignal | Key::ReloadSignal => {
                let (slot, what) = match key {
                    Key::StopSignal => (&mut self.stop_signal, "a stop signal"),
                    _ => (&mut self.reload_signal, "the reload signal"),
                };
                let sig = match raw {
                    Raw::Json(Value::Number(n)) => handler::parse_signal_for(&n.to_string(), what),
                    _ => handler::parse_signal_for(text(&raw, source)?, what),
                }
                .map_err(err)?;
                *slot = Some((sig, source.to_string()));
            }
            Key::StopOn => self.stop_on = Some(parse_stop_on(&raw).map_err(err)?),
            Key::ReadyFile | Key::Config | Key::TerminationMessagePath => {
                let t = text(&raw, source)?;
                // An empty path names no file (an empty variable is unset
                // already; an empty flag or key is a mistake).
                if t.is_empty() || t.as_bytes().contains(&b'\0') {
                    return Err(err("a path may not be empty or contain a NUL byte".into()));
                }
                // One store for the three (each arm inlined its own).
                *match key {
                    Key::ReadyFile => &mut self.ready_file,
                    Key::Config => &mut self.config,
                    _ => &mut self.termination_message_path,
                } = Some(PathBuf::from(t));
            }
        }
        Ok(())
    }

    /// Folds `lifecycle` into the hook and stop-signal slots, rejecting a hook
    /// given twice in this one source.
    /// In place: a layer is large, and moving it costs more than the parse.
    pub(super) fn settle(&mut self) -> Result<(), ConfigError> {
        if let Some((l, lsource)) = self.lifecycle.take() {
            for (from_lc, slot, name) in [
                (l.post_start, &mut self.given.post_start, "postStart"),
                (l.pre_stop, &mut self.given.pre_stop, "preStop"),
            ] {
                let Some(h) = from_lc else { continue };
                if let Some(other) = slot {
                    return Err(ConfigError::new(
                        other.source.clone(),
                        format!("{name} is also set in {lsource}: set each hook in one place only"),
                    ));
                }
                *slot = Some(Given::new(h, &lsource, name));
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
        if let Some((mut c, csource)) = self.container.take() {
            let l = c.lifecycle.unwrap_or_default();
            for (from_c, slot, name, path) in [
                (
                    l.post_start,
                    &mut self.given.post_start,
                    "postStart",
                    "lifecycle.postStart",
                ),
                (
                    l.pre_stop,
                    &mut self.given.pre_stop,
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
                *slot = Some(Given::new(h, &csource, path));
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
                let slot = self.given.probe_slot(kind);
                if let Some(other) = slot {
                    return Err(ConfigError::new(
                        other.source.clone(),
                        format!(
                            "{} is also set in {csource}: set it in one place only",
                            kind.field()
                        ),
                    ));
                }
                *slot = Some(Given::new(p, &csource, kind.field()));
            }
            self.container_name = c.name;
            // This source's own HOOKINIT_TERMINATION_MESSAGE_PATH wins.
            fill(
                &mut self.termination_message_path,
                &mut c.termination_message_path,
            );
            self.container_ports = Some(c.ports);
            self.container_tcp_ports = Some(c.tcp_ports);
            self.container_env = Some(c.env);
        }
        Ok(())
    }

    /// Resolves the port names of this source's hooks and probes in
    /// `names` (the ports of the highest source's container object, if
    /// any), and moves them to the slots of `merged` that a higher source
    /// left empty. Every source's are resolved, so that each error shows.
    /// (A container object's own hooks and probes hold numbers only,
    /// resolved against its own ports as it was parsed.)
    pub(super) fn resolve_into(
        &mut self,
        names: PortNames<'_>,
        merged: &mut HooksAndProbes<u16>,
    ) -> Result<(), ConfigError> {
        let given = &mut self.given;
        let hook = |from: &mut _, to: &mut _| {
            resolve(from, to, |h: Handler<Port>, path| h.resolve(path, names))
        };
        // A loop: one call of `resolve` for the four hooks.
        for (from, to) in [
            (&mut given.post_start, &mut merged.post_start),
            (&mut given.pre_stop, &mut merged.pre_stop),
            (&mut given.reload, &mut merged.reload),
            (&mut given.post_stop, &mut merged.post_stop),
        ] {
            hook(from, to)?;
        }
        for kind in ProbeKind::ALL {
            let (from, to) = (given.probe_slot(kind), merged.probe_slot(kind));
            resolve(from, to, |p: Probe<Port>, path| p.resolve(path, names))?;
        }
        Ok(())
    }

    /// Fills what this layer leaves unset from `lower` (a setting here
    /// wins), in place: moving whole layers cost more than parsing them.
    /// Hooks and probes merge as they are resolved: [`Layer::resolve_into`].
    pub(super) fn fill_from(&mut self, lower: &mut Layer) {
        fill(&mut self.verbosity, &mut lower.verbosity);
        fill(&mut self.log_format, &mut lower.log_format);
        fill(&mut self.signal_group, &mut lower.signal_group);
        fill(&mut self.subreaper, &mut lower.subreaper);
        fill(&mut self.exit_remap, &mut lower.exit_remap);
        fill(&mut self.container_name, &mut lower.container_name);
        fill(
            &mut self.termination_message_path,
            &mut lower.termination_message_path,
        );
        fill(
            &mut self.post_start_after_startup,
            &mut lower.post_start_after_startup,
        );
        fill(
            &mut self.http_hook_check_status,
            &mut lower.http_hook_check_status,
        );
        fill(&mut self.reload_signal, &mut lower.reload_signal);
        fill(&mut self.reload_timeout, &mut lower.reload_timeout);
        fill(&mut self.report_oom, &mut lower.report_oom);
        if self.pre_start.is_empty() {
            self.pre_start = std::mem::take(&mut lower.pre_start);
        }
        fill(&mut self.notify_socket, &mut lower.notify_socket);
        fill(&mut self.notify_watchdog, &mut lower.notify_watchdog);
        fill(
            &mut self.notify_start_timeout,
            &mut lower.notify_start_timeout,
        );
        fill(
            &mut self.notify_extend_limit,
            &mut lower.notify_extend_limit,
        );
        fill(&mut self.notify_relay, &mut lower.notify_relay);
        fill(&mut self.readiness_address, &mut lower.readiness_address);
        fill(&mut self.drain, &mut lower.drain);
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

/// Resolves the value in `from` with `f` (given the value and its path)
/// and moves it to `to` unless that is set; an error names the source.
/// Most slots are empty: they cost a test, not a call.
#[inline(always)]
fn resolve<T, U>(
    from: &mut Option<Given<T>>,
    to: &mut Option<Given<U>>,
    f: impl FnOnce(T, &'static str) -> Result<U, PathError>,
) -> Result<(), ConfigError> {
    if from.is_none() {
        return Ok(());
    }
    resolve_given(from, to, f)
}

/// [`resolve`] of a slot that holds a value. Not inlined: the loop over the
/// probes would hold three copies.
#[inline(never)]
fn resolve_given<T, U>(
    from: &mut Option<Given<T>>,
    to: &mut Option<Given<U>>,
    f: impl FnOnce(T, &'static str) -> Result<U, PathError>,
) -> Result<(), ConfigError> {
    let Some(Given {
        value,
        source,
        path,
    }) = from.take()
    else {
        return Ok(());
    };
    match f(value, path) {
        Ok(value) => {
            if to.is_none() {
                *to = Some(Given {
                    value,
                    source,
                    path,
                });
            }
            Ok(())
        }
        Err(e) => Err(ConfigError::new(source, e.to_string())),
    }
}

/// Moves `theirs` into `mine` if `mine` is unset. Not inlined: one copy
/// per type, not one per setting (30 settings).
#[inline(never)]
fn fill<T>(mine: &mut Option<T>, theirs: &mut Option<T>) {
    if mine.is_none() && theirs.is_some() {
        *mine = theirs.take();
    }
}

#[cfg(test)]
#[path = "layers_tests.rs"]
mod tests;
