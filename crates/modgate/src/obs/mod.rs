//! Observability: structured logs (and, as they come, metrics and traces).

pub mod log;
pub mod metrics;
