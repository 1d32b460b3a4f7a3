//! Observability: structured logs, metrics and traces.

pub mod log;
pub mod metrics;
pub mod sharded;
pub mod trace;
