//! Configuration: `HOOKINIT_*` environment variables, the same settings as
//! flags, and an optional JSON file (`HOOKINIT_CONFIG`).
//!
//! Every setting has one row in [`OPTIONS`]: its variable's name, from
//! which its flag and file key are spelled.
//! Each source is parsed into a [`Layer`]; layers merge with flags over env
//! over file. Within one layer, a hook given both inside the `lifecycle`
//! object and on its own is an error, and so is a hook or probe given both
//! inside the `container` object and on its own. Named ports in hooks and
//! probes given on their own resolve against the `ports` of the container
//! object of the highest source that has one. Everything is validated before
//! the app starts, and every error names the variable, flag or file key it
//! came from.

mod check;
mod drain;
mod layers;
mod options;
mod peers;
mod sources;
mod values;

pub use options::{usage, Opt, OPTIONS, TOLD};
pub use peers::{Peer, PeerSettings};
pub use sources::{environment, lossy};

use crate::events::Format;
use crate::os::notify_socket::Address;
use crate::os::signals::SignalSet;
use crate::spec::handler::{Handler, PortNames};
use crate::spec::json;
use crate::spec::probe::{Probe, ProbeKind};
pub use drain::Drain;
use layers::{Given, HooksAndProbes, Layer};
use sources::CommandLine;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
pub use values::Listen;

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
    /// The grace window; [`Grace::new`] splits it for PreStop and the app.
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
    /// `HOOKINIT_HTTP_HOOK_CHECK_STATUS`: an httpGet hook fails on a status
    /// outside 200–299 (the kubelet never checks it, kubernetes#56963).
    pub http_hook_check_status: bool,
    /// What a peer's flags ask for beyond hookinit's options (started as
    /// `tini`, `dumb-init`, `catatonit`...).
    pub peer: PeerSettings,
    /// The reload handler: run on `reload_signal`, which is forwarded to
    /// the app only if it succeeds.
    pub reload: Option<Handler>,
    /// The signal that runs `reload` (SIGHUP by default; only with `reload`).
    pub reload_signal: i32,
    pub reload_timeout: Option<Duration>,
    /// `HOOKINIT_REPORT_OOM`: tell an OOM kill from other SIGKILLs.
    pub report_oom: bool,
    /// `HOOKINIT_NOTIFY_SOCKET`: where the app's `sd_notify` datagrams go.
    pub notify_socket: Option<Address>,
    /// `HOOKINIT_NOTIFY_WATCHDOG`: the app's `WATCHDOG_USEC` (never zero).
    pub notify_watchdog: Option<Duration>,
    /// `HOOKINIT_NOTIFY_START_TIMEOUT`: READY=1 due (never zero).
    pub notify_start_timeout: Option<Duration>,
    /// `HOOKINIT_NOTIFY_EXTEND_LIMIT`: how far `EXTEND_TIMEOUT_USEC` reaches.
    pub notify_extend_limit: Option<Duration>,
    /// `HOOKINIT_NOTIFY_RELAY`: tell hookinit's own `NOTIFY_SOCKET`.
    pub notify_relay: bool,
    /// `HOOKINIT_PRE_START`: run in order to success before the app.
    pub pre_start: Vec<crate::spec::pre_start::Step>,
    /// `HOOKINIT_POST_STOP`: run once the app and its leftovers are gone.
    pub post_stop: Option<Handler>,
    /// `HOOKINIT_TERMINATION_MESSAGE_PATH`, or the container object's.
    pub termination_message_path: Option<PathBuf>,
    /// `HOOKINIT_READINESS_ADDRESS`: where readiness is served over HTTP.
    pub readiness_address: Option<std::net::SocketAddr>,
    /// `HOOKINIT_DRAIN`: on a stop, wait for the traffic to leave first.
    pub drain: Option<Drain>,
}

/// Below `docker stop`'s 10 s (and Cloud Run's): hookinit's SIGKILL, not the
/// runtime's, ends a stop that overruns, and says so.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(9);
pub const DEFAULT_CLEANUP: Duration = Duration::from_secs(2);
pub const DEFAULT_VERBOSITY: u8 = 2;
fn default_stop_on() -> SignalSet {
    SignalSet::of(&[libc::SIGTERM, libc::SIGINT, libc::SIGQUIT])
}

/// The kubelet's `minimumGracePeriodInSeconds`: a stop never gives the app
/// less (`killContainer`).
pub const MIN_GRACE: Duration = Duration::from_secs(2);

/// A stop's grace window, and the part of it kept for the app's own
/// shutdown after PreStop (the "reserve"): 2 s, the kubelet's minimum, or
/// half the window if that is shorter.
///
/// A grace period below 2 s is raised to 2 s, as the kubelet raises it. A
/// grace period of 0 runs no PreStop at all (the kubelet's `killContainer`
/// runs it only when the grace period is above 0): the whole 2 s are the
/// app's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grace {
    pub window: Duration,
    pub reserve: Duration,
}

impl Grace {
    pub fn new(grace: Duration) -> Grace {
        if grace.is_zero() {
            return Grace {
                window: MIN_GRACE,
                reserve: MIN_GRACE,
            };
        }
        let window = grace.max(MIN_GRACE);
        Grace {
            window,
            reserve: MIN_GRACE.min(window / 2),
        }
    }

    /// What PreStop may use: the window less the reserve (0: PreStop is
    /// not run).
    pub fn pre_stop(self) -> Duration {
        self.window - self.reserve
    }
}

/// What the command line asks for. The configuration is boxed where it is
/// built: a `Config` is over 1 KB, and each move of one by value is a copy
/// at every start.
#[derive(Debug)]
pub enum Request {
    Run(Box<Config>),
    /// `--check`: validate and print the plan, never start the app.
    Check(Box<Config>),
    /// `--ready`: whether the ready file exists (a shell-free HEALTHCHECK).
    Ready(Box<Config>),
    Help,
    Version,
    /// A text to print (to stderr if set) before exiting 0: a peer's help,
    /// version or license.
    Say(String, bool),
}

/// A configuration problem: where it came from and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub source: String,
    pub message: String,
}

impl ConfigError {
    /// Not inlined: one copy per type pair, not one per caller (~40).
    #[inline(never)]
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

/// Parses the command line (after argv[0]) and the environment.
pub fn parse(args: &[OsString], env_vars: &[(OsString, OsString)]) -> Result<Request, ConfigError> {
    parse_as(None, args, env_vars)
}

/// Exit code for a configuration error: hookinit's 2, or 1 under a peer's
/// name (tini, dumb-init and catatonit all exit 1).
pub fn usage_exit_code(peer: Option<Peer>) -> i32 {
    match peer {
        Some(_) => crate::os::exit::EXIT_FAILURE,
        None => crate::os::exit::EXIT_USAGE,
    }
}

/// [`parse`] under a peer's name: its flags and variables instead of
/// hookinit's flags; `HOOKINIT_*` variables as always, over the peer's.
pub fn parse_as(
    peer: Option<Peer>,
    args: &[OsString],
    env_vars: &[(OsString, OsString)],
) -> Result<Request, ConfigError> {
    let mut flags = Layer::empty();
    let mut env = Layer::empty();
    let mut defaults = Layer::empty();
    let mut peer_settings = PeerSettings::default();
    let line = match peer {
        None => sources::flag_layer(args, &mut flags)?,
        Some(p) => peers::read(
            p,
            args,
            env_vars,
            &mut flags,
            &mut env,
            &mut defaults,
            &mut peer_settings,
        )?,
    };
    let (check, ready, command) = match line {
        CommandLine::Help => return Ok(Request::Help),
        CommandLine::Version => return Ok(Request::Version),
        CommandLine::Say { text, stderr } => return Ok(Request::Say(text, stderr)),
        CommandLine::Settings {
            check,
            ready,
            command,
        } => (check, ready, command.to_vec()),
    };

    flags.settle()?;
    sources::env_layer(env_vars, &mut env)?;
    env.settle()?;
    let config_path = flags.config.clone().or_else(|| env.config.clone());
    let mut file = match &config_path {
        Some(p) => sources::file_layer(p)?,
        None => Layer::empty(),
    };
    file.settle()?;
    // Named ports in hooks and probes given on their own: the ports of the
    // container object of the highest source that has one.
    let ports = flags
        .container_ports
        .take()
        .or_else(|| env.container_ports.take())
        .or_else(|| file.container_ports.take());
    let names = ports
        .as_deref()
        .map_or(PortNames::Unsupported, PortNames::Container);
    // `$(VAR)` in exec probes: the env of the same container object.
    let static_env = flags
        .container_env
        .take()
        .or_else(|| env.container_env.take())
        .or_else(|| file.container_env.take())
        .unwrap_or_default();
    let mut hooks_and_probes = HooksAndProbes::default();
    flags.resolve_into(names, &mut hooks_and_probes)?;
    env.resolve_into(names, &mut hooks_and_probes)?;
    file.resolve_into(names, &mut hooks_and_probes)?;
    file.fill_from(&mut defaults);
    env.fill_from(&mut file);
    flags.fill_from(&mut env);
    let check = check || flags.check == Some(true);
    for kind in ProbeKind::ALL {
        if let Some(given) = hooks_and_probes.probe_slot(kind) {
            given.value.expand_command(&static_env);
        }
    }
    let tcp_ports = flags
        .container_tcp_ports
        .take()
        .or_else(|| env.container_tcp_ports.take())
        .or_else(|| file.container_tcp_ports.take());
    let drain = drain::resolve(&mut flags, tcp_ports)?;
    let mut config = finish(&mut flags, &mut hooks_and_probes, command)?;
    if let Some((d, source)) = drain {
        drain::check(&d, &source, config.grace)?;
        config.drain = Some(d);
    }
    config.peer = peer_settings;
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

/// Cross-setting checks (Kubernetes: a sleep may not outlast the grace
/// period). `h` is taken from, not moved in: a move copies every slot.
/// The merged layer `l` made a `Config` (by reference: a `Layer` is over
/// 2 KB, and every move of one is a copy).
fn finish(
    l: &mut Layer,
    h: &mut HooksAndProbes<u16>,
    command: Vec<OsString>,
) -> Result<Box<Config>, ConfigError> {
    let grace = l.grace.unwrap_or(DEFAULT_GRACE);
    for hook in [&h.post_start, &h.pre_stop] {
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
    }) = &h.pre_stop
    {
        let split = Grace::new(grace);
        let usable = split.pre_stop();
        if *duration > usable {
            return Err(ConfigError::new(
                source.clone(),
                format!(
                    "{}: {}s leaves the app no time: PreStop may use {} of the {} grace period ({} is kept for the app's shutdown)",
                    json::join(path, "sleep.seconds"),
                    duration.as_secs(),
                    crate::events::secs(usable),
                    crate::events::secs(grace),
                    crate::events::secs(split.reserve),
                ),
            ));
        }
    }
    let reload_signal = check_reload(l, h)?;
    let [notify_watchdog, notify_start_timeout, notify_extend_limit] = notify_times(
        [
            &mut l.notify_watchdog,
            &mut l.notify_start_timeout,
            &mut l.notify_extend_limit,
        ],
        matches!(l.notify_socket, Some(Some(_))),
    )?;
    let mut config = Box::new(Config {
        command,
        verbosity: l.verbosity.unwrap_or(DEFAULT_VERBOSITY),
        log_format: l.log_format.unwrap_or(Format::Text),
        signal_group: l.signal_group.unwrap_or(false),
        subreaper: l.subreaper,
        exit_remap: l.exit_remap.take().unwrap_or_default(),
        post_start: None,
        pre_stop: None,
        grace,
        stop_signal: l.stop_signal.as_ref().map(|&(s, _)| s),
        stop_on: l.stop_on.unwrap_or_else(default_stop_on),
        post_start_timeout: some_time(l.post_start_timeout),
        pre_stop_timeout: some_time(l.pre_stop_timeout),
        ready_file: l.ready_file.take(),
        pre_stop_on_exit: l.pre_stop_on_exit.unwrap_or(false),
        pre_stop_drains: l.pre_stop_drains.unwrap_or(false),
        cleanup_timeout: l.cleanup_timeout.unwrap_or(DEFAULT_CLEANUP),
        startup_probe: None,
        liveness_probe: None,
        readiness_probe: None,
        container_name: l.container_name.take(),
        post_start_after_startup: l.post_start_after_startup.unwrap_or(false),
        http_hook_check_status: l.http_hook_check_status.unwrap_or(false),
        peer: PeerSettings::default(),
        reload: None,
        reload_signal,
        reload_timeout: some_time(l.reload_timeout),
        report_oom: l.report_oom.unwrap_or(false),
        notify_socket: l.notify_socket.take().flatten(),
        notify_watchdog,
        notify_start_timeout,
        notify_extend_limit,
        notify_relay: l.notify_relay.unwrap_or(false),
        pre_start: std::mem::take(&mut l.pre_start),
        post_stop: None,
        termination_message_path: l.termination_message_path.take(),
        readiness_address: l.readiness_address.take().flatten(),
        drain: None,
    });
    // Moved into the box where they are given: no copy of an empty one.
    move_value(&mut h.post_start, &mut config.post_start);
    move_value(&mut h.pre_stop, &mut config.pre_stop);
    move_value(&mut h.startup_probe, &mut config.startup_probe);
    move_value(&mut h.liveness_probe, &mut config.liveness_probe);
    move_value(&mut h.readiness_probe, &mut config.readiness_probe);
    move_value(&mut h.reload, &mut config.reload);
    move_value(&mut h.post_stop, &mut config.post_stop);
    Ok(config)
}

/// The watchdog, start-up timeout and `EXTEND_TIMEOUT_USEC` ceiling: 0 is
/// none (as systemd's `WatchdogSec=0`), each needs the notify socket, and
/// the watchdog at least 1 ms. Not inlined: one loop, not three copies.
#[inline(never)]
fn notify_times(
    times: [&mut Option<(Duration, String)>; 3],
    socket: bool,
) -> Result<[Option<Duration>; 3], ConfigError> {
    let mut out = [None; 3];
    // None set (the usual case): no loop at every start-up.
    if times.iter().all(|t| t.is_none()) {
        return Ok(out);
    }
    for (i, time) in times.into_iter().enumerate() {
        let Some((d, source)) = time.take().filter(|(d, _)| !d.is_zero()) else {
            continue;
        };
        // The source names the setting: one text for the three.
        let msg = match () {
            _ if !socket => "needs a notify socket (HOOKINIT_NOTIFY_SOCKET)",
            _ if i == 0 && d < Duration::from_millis(1) => {
                "the watchdog interval must be at least 1ms"
            }
            _ => {
                out[i] = Some(d);
                continue;
            }
        };
        return Err(ConfigError::new(source, msg));
    }
    Ok(out)
}

/// A hook's timeout: `0` is none, as the notify durations' (a timeout of
/// 0 would fail every run before it began).
fn some_time(t: Option<Duration>) -> Option<Duration> {
    t.filter(|t| !t.is_zero())
}

/// Moves the value given, without where it came from, into `to`. Not
/// inlined: one copy for the four hooks, one for the three probes.
#[inline(never)]
fn move_value<T>(given: &mut Option<Given<T>>, to: &mut Option<T>) {
    if let Some(g) = given.take() {
        *to = Some(g.value);
    }
}

/// The reload signal: one that can be caught, not a stop signal, and only
/// with a reload handler (alone it would change nothing, silently).
fn check_reload(l: &Layer, h: &HooksAndProbes<u16>) -> Result<i32, ConfigError> {
    let (sig, source) = match (&l.reload_signal, &h.reload) {
        (Some((sig, source)), _) => (*sig, source.as_str()),
        (None, Some(given)) => (libc::SIGHUP, given.source.as_str()),
        (None, None) => return Ok(libc::SIGHUP),
    };
    let name = crate::os::signals::name(sig);
    if h.reload.is_none() {
        return Err(ConfigError::new(source, "needs HOOKINIT_RELOAD"));
    }
    let stop_on = l.stop_on.unwrap_or_else(default_stop_on);
    // One format for the two problems of the signal itself.
    let problem = if sig == libc::SIGKILL || sig == libc::SIGSTOP {
        "cannot be caught"
    } else if stop_on.contains(sig) {
        "also starts a stop (HOOKINIT_STOP_ON)"
    } else {
        return Ok(sig);
    };
    Err(ConfigError::new(
        source,
        format!("the reload signal {name} {problem}"),
    ))
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

    /// Applies `HOOKINIT_EXIT_REMAP` to an exit code.
    pub fn remap(&self, code: i32) -> i32 {
        self.exit_remap
            .iter()
            .find(|(from, _)| *from == code)
            .map_or(code, |(_, to)| *to)
    }
}

#[cfg(test)]
mod tests;
