//! The measurements, one module per metric family. Each `run_*` measures the
//! inits (or hookinit alone) and adds its rows to the report
//! ([`crate::report::Row`], with hookinit's target).

pub(crate) mod drain;
pub(crate) mod hooks;
pub(crate) mod idle;
pub(crate) mod instructions;
pub(crate) mod latencies;
pub(crate) mod notify;
pub(crate) mod probes;
pub(crate) mod size;
pub(crate) mod syscalls;
pub(crate) mod wall;
