//! Observability: structured logs, metrics and traces.

pub mod log;
pub mod metrics;
pub mod trace;
