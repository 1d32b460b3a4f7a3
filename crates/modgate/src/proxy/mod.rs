//! The module service: cache lookups, single-flight fills from the route's source, checks
//! before every commit, stale answers when every source fails, a short memory of not-found,
//! publishing, and prefetch. It stands on three seams — `source::Source`,
//! `store::ObjectStore`/`store::MetaStore` and the checksum hook — and knows nothing of HTTP.

mod commits;
mod fill;
mod holds;
mod mutable;
mod prefetch;
mod progress;
mod publish;
mod quarantine;
mod record;
mod replicas;
mod reply;
mod routes;
mod service;
#[cfg(test)]
mod tests;
mod verify;
mod warm;
mod zipfill;

pub use fill::MEM_OBJECT_MAX;
pub use progress::{FillState, Progress};
pub use quarantine::Quarantined;
pub use reply::{CacheStatus, Reply};
pub use routes::Routes;
pub use service::{ModuleService, Parts, Settings};
pub use verify::{info_version, Checked, ChecksumHook, Committed, Hooks, NoChecksums};
pub use zipfill::STREAM_MIN;
