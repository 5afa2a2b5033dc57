//! The option table: every setting once, with its environment variable,
//! flag and config file key, and the `--help` text made from it.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Key {
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
    HttpHookCheckStatus,
    Reload,
    ReloadSignal,
    ReloadTimeout,
    ReportOom,
    NotifySocket,
    NotifyWatchdog,
    NotifyStartTimeout,
    NotifyExtendLimit,
    NotifyRelay,
    PreStart,
    PostStop,
    TerminationMessagePath,
    ReadinessAddress,
    Drain,
    Check,
    Config,
}

/// One setting. Its three names are spelled from one, the environment
/// variable's after `HOOKINIT_`: the flag in lower case with `-` between
/// words, the file key in camelCase (a table of the three names took 56
/// bytes a row more, and 30 of text).
pub struct Opt {
    pub(super) key: Key,
    /// [`PLAIN`], or [`SECONDS`], [`NO_FLAG`], [`NO_FILE`] combined.
    form: u8,
    /// The name after `HOOKINIT_`, one space, the `--help` text.
    text: &'static str,
}

/// Flag and file key both.
const PLAIN: u8 = 0;
/// A duration: the file key ends in `Seconds`, as Kubernetes' do.
const SECONDS: u8 = 1;
/// Only an environment variable (`HOOKINIT_CHECK`: the flag is `--check`).
const NO_FLAG: u8 = 2;
/// Not in the config file.
const NO_FILE: u8 = 4;

const fn opt(key: Key, form: u8, text: &'static str) -> Opt {
    Opt { key, form, text }
}

impl Opt {
    /// The environment variable's name after `HOOKINIT_`.
    fn name(&self) -> &'static str {
        self.text
            .split_once(' ')
            .map_or(self.text, |(name, _)| name)
    }

    pub fn help(&self) -> &'static str {
        self.text.split_once(' ').map_or("", |(_, help)| help)
    }

    pub fn env(&self) -> String {
        format!("HOOKINIT_{}", self.name())
    }

    /// Whether `var` is this setting's environment variable.
    pub fn is_env(&self, var: &str) -> bool {
        var.strip_prefix("HOOKINIT_") == Some(self.name())
    }

    /// The flag without its `--`, if it has one.
    pub fn flag(&self) -> Option<String> {
        (self.form & NO_FLAG == 0).then(|| self.spelling(false).map(char::from).collect())
    }

    /// Whether `--name` is this setting's flag (compared as spelled: no
    /// name is made for each row looked at).
    pub fn is_flag(&self, name: &str) -> bool {
        self.form & NO_FLAG == 0 && self.spelling(false).eq(name.bytes())
    }

    /// The config file key, if it has one.
    pub fn file(&self) -> Option<String> {
        if self.form & NO_FILE != 0 {
            return None;
        }
        if self.key == Key::GracePeriod {
            return Some(GRACE_KEY.into());
        }
        let mut key: String = self.spelling(true).map(char::from).collect();
        if self.form & SECONDS != 0 {
            key.push_str("Seconds");
        }
        Some(key)
    }

    /// Whether `key` is this setting's config file key.
    pub fn is_file(&self, key: &str) -> bool {
        if self.form & NO_FILE != 0 {
            return false;
        }
        if self.key == Key::GracePeriod {
            return key == GRACE_KEY;
        }
        let stem = match self.form & SECONDS {
            0 => Some(key),
            _ => key.strip_suffix("Seconds"),
        };
        stem.is_some_and(|stem| self.spelling(true).eq(stem.bytes()))
    }

    /// The name's bytes as the flag spells them (lower case, `-` between
    /// words) or, `camel`, the file key (camelCase).
    fn spelling(&self, camel: bool) -> impl Iterator<Item = u8> {
        let mut word_start = false;
        self.name().bytes().filter_map(move |b| {
            if b == b'_' {
                word_start = true;
                return (!camel).then_some(b'-');
            }
            let upper = std::mem::take(&mut word_start) && camel;
            Some(if upper { b } else { b.to_ascii_lowercase() })
        })
    }
}

/// The grace period's file key: Kubernetes' name for it.
const GRACE_KEY: &str = "terminationGracePeriodSeconds";

pub const OPTIONS: &[Opt] = &[
    opt(
        Key::Container,
        PLAIN,
        "CONTAINER Kubernetes Container object as JSON (kubectl get pod -o json): its lifecycle, probes, ports",
    ),
    opt(
        Key::Lifecycle,
        PLAIN,
        "LIFECYCLE Kubernetes lifecycle object as JSON",
    ),
    opt(
        Key::PreStart,
        PLAIN,
        "PRE_START handlers run in order before the app (JSON array)",
    ),
    opt(
        Key::PostStart,
        PLAIN,
        "POST_START PostStart handler (JSON, or [\"cmd\",\"arg\"])",
    ),
    opt(
        Key::PreStop,
        PLAIN,
        "PRE_STOP PreStop handler (JSON, or [\"cmd\",\"arg\"])",
    ),
    opt(
        Key::StartupProbe,
        PLAIN,
        "STARTUP_PROBE Kubernetes Probe object as JSON",
    ),
    opt(
        Key::LivenessProbe,
        PLAIN,
        "LIVENESS_PROBE Kubernetes Probe object as JSON",
    ),
    opt(
        Key::ReadinessProbe,
        PLAIN,
        "READINESS_PROBE Kubernetes Probe object as JSON",
    ),
    opt(
        Key::PostStartAfterStartup,
        PLAIN,
        "POST_START_AFTER_STARTUP 1: start PostStart once the startup probe first succeeds (0)",
    ),
    opt(
        Key::HttpHookCheckStatus,
        PLAIN,
        "HTTP_HOOK_CHECK_STATUS 1: an httpGet hook fails on a status outside 200-299 (0: any status succeeds, as the kubelet)",
    ),
    opt(
        Key::Reload,
        PLAIN,
        "RELOAD reload handler (JSON, or [\"cmd\",\"arg\"])",
    ),
    opt(
        Key::PostStop,
        PLAIN,
        "POST_STOP post-stop handler (JSON, or [\"cmd\",\"arg\"])",
    ),
    opt(
        Key::TerminationMessagePath,
        PLAIN,
        "TERMINATION_MESSAGE_PATH file for the reason of a failure, if the app left it empty",
    ),
    opt(
        Key::ReloadSignal,
        PLAIN,
        "RELOAD_SIGNAL signal that runs the reload handler (SIGHUP)",
    ),
    opt(
        Key::ReloadTimeout,
        SECONDS,
        "RELOAD_TIMEOUT seconds (none)",
    ),
    opt(
        Key::ReportOom,
        PLAIN,
        "REPORT_OOM 1: report OOM kills (0)",
    ),
    opt(
        Key::NotifySocket,
        PLAIN,
        "NOTIFY_SOCKET the app's NOTIFY_SOCKET: 1 (abstract), @NAME or /PATH (0: none)",
    ),
    opt(
        Key::NotifyWatchdog,
        SECONDS,
        "NOTIFY_WATCHDOG no WATCHDOG=1 within it fails liveness (none)",
    ),
    opt(
        Key::NotifyStartTimeout,
        SECONDS,
        "NOTIFY_START_TIMEOUT no READY=1 within it fails startup (none)",
    ),
    opt(
        Key::NotifyExtendLimit,
        SECONDS,
        "NOTIFY_EXTEND_LIMIT EXTEND_TIMEOUT_USEC's ceiling (none)",
    ),
    opt(
        Key::NotifyRelay,
        PLAIN,
        "NOTIFY_RELAY 1: tell hookinit's own NOTIFY_SOCKET the container's state (0)",
    ),
    opt(
        Key::ReadinessAddress,
        PLAIN,
        "READINESS_ADDRESS serve readiness over HTTP on PORT, :PORT, IP:PORT or [IPv6]:PORT: 200 while ready, else 503 (0: none)",
    ),
    opt(
        Key::Drain,
        PLAIN,
        "DRAIN 1 or {\"quietSeconds\":1,\"minSeconds\":0,\"maxSeconds\":N,\"ports\":[8080]}: on a stop, not ready at once; PreStop once the app's ports are quiet (0: none)",
    ),
    opt(
        Key::GracePeriod,
        PLAIN,
        "GRACE_PERIOD seconds from stop signal to SIGKILL (9)",
    ),
    opt(
        Key::StopSignal,
        PLAIN,
        "STOP_SIGNAL signal the app gets on stop (the one received)",
    ),
    opt(
        Key::StopOn,
        PLAIN,
        "STOP_ON signals that start a stop (TERM,INT,QUIT; none)",
    ),
    opt(
        Key::PostStartTimeout,
        SECONDS,
        "POST_START_TIMEOUT seconds (none)",
    ),
    opt(
        Key::PreStopTimeout,
        SECONDS,
        "PRE_STOP_TIMEOUT seconds (bounded by the grace period)",
    ),
    opt(
        Key::ReadyFile,
        PLAIN,
        "READY_FILE file present while ready",
    ),
    opt(
        Key::PreStopOnExit,
        PLAIN,
        "PRE_STOP_ON_EXIT 1: run PreStop when the app exits by itself (0)",
    ),
    opt(
        Key::PreStopDrains,
        PLAIN,
        "PRE_STOP_DRAINS 1: PreStop starts the app's graceful shutdown; wait for the app, stop signal when its reserve begins (0)",
    ),
    opt(
        Key::CleanupTimeout,
        SECONDS,
        "CLEANUP_TIMEOUT seconds leftovers get after SIGTERM (2)",
    ),
    opt(
        Key::SignalGroup,
        PLAIN,
        "SIGNAL_GROUP 1: signal the app's process group, 0: the app only (0)",
    ),
    opt(
        Key::Subreaper,
        PLAIN,
        "SUBREAPER 1/0: force subreaper on/off (auto: on when not PID 1)",
    ),
    opt(
        Key::ExitRemap,
        PLAIN,
        "EXIT_REMAP exit code remaps, e.g. 143:0,130:0 (143 alone means 143:0)",
    ),
    opt(
        Key::Verbosity,
        PLAIN,
        "VERBOSITY 0 quiet, 1 failures, 2 lifecycle events, 3 debug (2)",
    ),
    opt(
        Key::LogFormat,
        PLAIN,
        "LOG_FORMAT text or json (text)",
    ),
    opt(
        Key::Check,
        NO_FLAG | NO_FILE,
        "CHECK 1: as --check, with the image's command (docker run -e HOOKINIT_CHECK=1 IMAGE)",
    ),
    opt(
        Key::Config,
        NO_FILE,
        "CONFIG JSON file with these settings (file keys shown by --help)",
    ),
];

/// `--help` text, generated from [`OPTIONS`].
pub fn usage() -> String {
    let mut s = String::from(
        "hookinit: a tiny init for containers with Kubernetes-style lifecycle hooks\n\n\
         Usage: hookinit [OPTIONS] [--] CMD [ARGS...]\n       hookinit --check [OPTIONS] [--] [CMD...]\n\n\
         Options (flag / environment variable / config file key):\n",
    );
    for o in OPTIONS {
        let flag = o.flag().map_or(String::new(), |f| format!("--{f} V"));
        s.push_str(&format!("  {:<22} {:<28} {}\n", flag, o.env(), o.help()));
        if let Some(file) = o.file() {
            s.push_str(&format!("  {:<51} file key: {file}\n", ""));
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

/// The variables hookinit gives PreStop, post-stop and the reload hook
/// (`crate::hooks::context`): its own output, never a setting. A hook that
/// runs hookinit (`--ready`, `--check`) has them, and is not refused for it.
pub const TOLD: [&[u8]; 5] = [
    b"HOOKINIT_STOP_REASON",
    b"HOOKINIT_KILL_IN_MS",
    b"HOOKINIT_KILL_AT",
    b"HOOKINIT_EXIT_CODE",
    b"HOOKINIT_EXIT_SIGNAL",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn named(env: &str) -> &'static Opt {
        OPTIONS.iter().find(|o| o.is_env(env)).unwrap()
    }

    #[test]
    fn flags_and_file_keys_are_spelled_from_the_variable() {
        let o = named("HOOKINIT_NOTIFY_START_TIMEOUT");
        assert_eq!(o.env(), "HOOKINIT_NOTIFY_START_TIMEOUT");
        assert_eq!(o.flag().as_deref(), Some("notify-start-timeout"));
        assert_eq!(o.file().as_deref(), Some("notifyStartTimeoutSeconds"));
        assert!(o.is_flag("notify-start-timeout") && o.is_file("notifyStartTimeoutSeconds"));
        for wrong in [
            "notify_start_timeout",
            "notify-start-timeou",
            "notify-start-timeoutx",
        ] {
            assert!(!o.is_flag(wrong), "{wrong}");
        }
        for wrong in ["notifyStartTimeout", "notifystarttimeoutSeconds", "Seconds"] {
            assert!(!o.is_file(wrong), "{wrong}");
        }
        let grace = named("HOOKINIT_GRACE_PERIOD");
        assert_eq!(grace.flag().as_deref(), Some("grace-period"));
        assert_eq!(
            grace.file().as_deref(),
            Some("terminationGracePeriodSeconds")
        );
        assert!(!grace.is_file("gracePeriodSeconds"));
        let check = named("HOOKINIT_CHECK");
        assert_eq!((check.flag(), check.file()), (None, None));
        assert!(!check.is_flag("check") && !check.is_file("check"));
        assert_eq!(named("HOOKINIT_CONFIG").file(), None);
        assert_eq!(
            named("HOOKINIT_READY_FILE").file().as_deref(),
            Some("readyFile")
        );
        assert_eq!(
            named("HOOKINIT_CONTAINER").help().split(' ').next(),
            Some("Kubernetes")
        );
    }

    #[test]
    fn every_row_is_found_by_its_own_names_only() {
        for (i, o) in OPTIONS.iter().enumerate() {
            let by_env: Vec<usize> = (0..OPTIONS.len())
                .filter(|&j| OPTIONS[j].is_env(&o.env()))
                .collect();
            assert_eq!(by_env, [i]);
            if let Some(flag) = o.flag() {
                let by_flag: Vec<usize> = (0..OPTIONS.len())
                    .filter(|&j| OPTIONS[j].is_flag(&flag))
                    .collect();
                assert_eq!(by_flag, [i], "{flag}");
            }
            if let Some(key) = o.file() {
                let by_key: Vec<usize> = (0..OPTIONS.len())
                    .filter(|&j| OPTIONS[j].is_file(&key))
                    .collect();
                assert_eq!(by_key, [i], "{key}");
            }
            assert!(!o.help().is_empty() && !o.name().contains(' '));
        }
    }
}
