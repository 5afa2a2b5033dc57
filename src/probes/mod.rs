//! Container probes (startup, liveness, readiness), as the kubelet runs them.
//!
//! - [`spec`]: the Kubernetes `Probe` object, parsed and validated, with the
//!   kubelet's defaults.

pub mod spec;

pub use spec::{parse_probe, Probe, ProbeHandler, ProbeKind};
