//! The Kubernetes objects hookinit reads, parsed and validated with the
//! kubelet's defaults and the API server's wording.
//!
//! - [`json`]: strict JSON (duplicate keys and unknown fields rejected), read
//!   into [`json_value`]'s `Value` by hookinit's own reader.
//! - [`handler`]: `LifecycleHandler` (exec, httpGet, tcpSocket, sleep).
//! - [`pre_start`]: the pre-start list (a hookinit extension).
//! - [`probe`]: `Probe` (the same handlers plus grpc, thresholds, periods).
//! - [`container`]: a whole `Container` object (lifecycle, probes, ports, env).
//! - [`drain`]: hookinit's drain autopilot settings (an extension, same rules).
//! - [`expand`]: `$(VAR)` in an exec probe's command, from that `env`.

pub(crate) mod container;
pub(crate) mod drain;
pub(crate) mod expand;
pub mod handler;
pub(crate) mod json;
pub(crate) mod json_value;
pub(crate) mod pre_start;
pub mod probe;
