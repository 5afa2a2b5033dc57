//! The protocols a handler speaks, each run in a forked child of hookinit
//! ([`runner`]) or as a spawned command ([`exec`]), for hooks and probes alike.
//!
//! - [`exec`]: an exec handler's output, copied through pipes.
//! - [`http`] and [`http1`]: httpGet, an HTTP/1.1 GET client.
//! - [`tcp`]: tcpSocket, a connect within the deadline; [`net`]: dialing.
//! - [`grpc`]: the grpc probe, `grpc.health.v1.Health/Check` over HTTP/2.
//! - [`runner`]: running hookinit's own code in a forked child, with a report.
//!
//! Every handler, of a hook or a probe, ends in one [`Outcome`]: a
//! [`Verdict`] and a message. Where hooks and the kubelet's probes differ
//! (wording, redirects, User-Agent), the protocol takes a [`Caller`].

pub(crate) mod exec;
pub mod grpc;
pub(crate) mod http;
pub(crate) mod http1;
pub(crate) mod net;
pub(crate) mod resolve;
pub(crate) mod runner;
pub(crate) mod tcp;

/// What a handler found (the kubelet's probe results).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Counts as success, with a warning event: a probe's final 3xx
    /// (`ProbeWarning`), a hook's status outside 2xx (`HookHttpStatus`).
    Warning,
    Failure,
    /// The handler could not run at all: the kubelet discards the result.
    Error,
}

impl Verdict {
    /// Whether a hook counts it as done (a warning is a success there).
    pub fn succeeded(self) -> bool {
        matches!(self, Verdict::Success | Verdict::Warning)
    }
}

/// How a handler run ended: its verdict and its message. The message is a
/// `String` where it is made (in a handler's own process), and borrowed or
/// formatted in place where PID 1 reads it ([`runner::ReportText`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome<M = String> {
    pub verdict: Verdict,
    pub message: M,
}

impl<M> Outcome<M> {
    pub fn new(verdict: Verdict, message: M) -> Outcome<M> {
        Outcome { verdict, message }
    }

    pub fn success(message: M) -> Outcome<M> {
        Outcome::new(Verdict::Success, message)
    }

    pub fn failure(message: M) -> Outcome<M> {
        Outcome::new(Verdict::Failure, message)
    }
}

/// Who runs a handler: a lifecycle hook (hookinit's wording, same-host
/// redirects, its own User-Agent) or a probe (the kubelet's messages and
/// rules, byte for byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Hook,
    Probe,
}
