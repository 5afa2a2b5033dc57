//! The protocols a handler speaks, each run in a forked child of hookinit
//! ([`runner`]) or as a spawned command ([`exec`]), for hooks and probes alike.
//!
//! - [`exec`]: an exec handler's output, copied through pipes.
//! - [`http`] and [`http1`]: httpGet, an HTTP/1.1 GET client.
//! - [`tcp`]: tcpSocket, a connect within the deadline; [`net`]: dialing.
//! - [`grpc`]: the grpc probe, `grpc.health.v1.Health/Check` over HTTP/2.
//! - [`runner`]: running hookinit's own code in a forked child, with a report.

pub(crate) mod exec;
pub mod grpc;
pub(crate) mod http;
pub(crate) mod http1;
pub(crate) mod net;
pub(crate) mod runner;
pub(crate) mod tcp;
