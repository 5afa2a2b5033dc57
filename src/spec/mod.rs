//! The Kubernetes objects hookinit reads, parsed and validated with the
//! kubelet's defaults and the API server's wording.
//!
//! - [`json`]: strict JSON (duplicate keys and unknown fields rejected).
//! - [`handler`]: `LifecycleHandler` (exec, httpGet, tcpSocket, sleep).
//! - [`probe`]: `Probe` (the same handlers plus grpc, thresholds, periods).
//! - [`container`]: a whole `Container` object (lifecycle, probes, ports).

pub(crate) mod container;
pub mod handler;
pub(crate) mod json;
pub mod probe;
