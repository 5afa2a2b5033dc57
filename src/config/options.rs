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

/// One setting, as it is named in each source (`""`: not available there).
pub struct Opt {
    pub(super) key: Key,
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
        Key::PreStart,
        "HOOKINIT_PRE_START",
        "pre-start",
        "preStart",
        "handlers run in order before the app (JSON array)",
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
        Key::HttpHookCheckStatus,
        "HOOKINIT_HTTP_HOOK_CHECK_STATUS",
        "http-hook-check-status",
        "httpHookCheckStatus",
        "1: an httpGet hook fails on a status outside 200-299 (0: any status succeeds, as the kubelet)",
    ),
    opt(
        Key::Reload,
        "HOOKINIT_RELOAD",
        "reload",
        "reload",
        "reload handler (JSON, or [\"cmd\",\"arg\"])",
    ),
    opt(
        Key::PostStop,
        "HOOKINIT_POST_STOP",
        "post-stop",
        "postStop",
        "post-stop handler (JSON, or [\"cmd\",\"arg\"])",
    ),
    opt(
        Key::TerminationMessagePath,
        "HOOKINIT_TERMINATION_MESSAGE_PATH",
        "termination-message-path",
        "terminationMessagePath",
        "file for the reason of a failure, if the app left it empty",
    ),
    opt(
        Key::ReloadSignal,
        "HOOKINIT_RELOAD_SIGNAL",
        "reload-signal",
        "reloadSignal",
        "signal that runs the reload handler (SIGHUP)",
    ),
    opt(
        Key::ReloadTimeout,
        "HOOKINIT_RELOAD_TIMEOUT",
        "reload-timeout",
        "reloadTimeoutSeconds",
        "seconds (none)",
    ),
    opt(
        Key::ReportOom,
        "HOOKINIT_REPORT_OOM",
        "report-oom",
        "reportOom",
        "1: report OOM kills (0)",
    ),
    opt(
        Key::NotifySocket,
        "HOOKINIT_NOTIFY_SOCKET",
        "notify-socket",
        "notifySocket",
        "the app's NOTIFY_SOCKET: 1 (abstract), @NAME or /PATH (0: none)",
    ),
    opt(
        Key::NotifyWatchdog,
        "HOOKINIT_NOTIFY_WATCHDOG",
        "notify-watchdog",
        "notifyWatchdogSeconds",
        "no WATCHDOG=1 within it fails liveness (none)",
    ),
    opt(
        Key::NotifyStartTimeout,
        "HOOKINIT_NOTIFY_START_TIMEOUT",
        "notify-start-timeout",
        "notifyStartTimeoutSeconds",
        "no READY=1 within it fails startup (none)",
    ),
    opt(
        Key::NotifyExtendLimit,
        "HOOKINIT_NOTIFY_EXTEND_LIMIT",
        "notify-extend-limit",
        "notifyExtendLimitSeconds",
        "EXTEND_TIMEOUT_USEC's ceiling (none)",
    ),
    opt(
        Key::NotifyRelay,
        "HOOKINIT_NOTIFY_RELAY",
        "notify-relay",
        "notifyRelay",
        "1: tell hookinit's own NOTIFY_SOCKET the container's state (0)",
    ),
    opt(
        Key::ReadinessAddress,
        "HOOKINIT_READINESS_ADDRESS",
        "readiness-address",
        "readinessAddress",
        "serve readiness over HTTP on PORT, :PORT, IP:PORT or [IPv6]:PORT: 200 while ready, else 503 (0: none)",
    ),
    opt(
        Key::Drain,
        "HOOKINIT_DRAIN",
        "drain",
        "drain",
        "1 or {\"quietSeconds\":1,\"minSeconds\":0,\"maxSeconds\":N,\"ports\":[8080]}: on a stop, not ready at once; PreStop once the app's ports are quiet (0: none)",
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
