//! Quarantined versions: an operator's "do not hand this out". A quarantined version's `.info`,
//! `.mod` and `.zip` are answered `410 Gone` with the reason, even when cached; `list` leaves
//! it out, and an `@latest` or query answer naming it is refused the same way, so the go
//! command never builds with it. Nothing is deleted: releasing the version serves it again.
//!
//! The set is operators' state in the `MetaStore` (`state/quarantine`, shared through Redis
//! when replicas coordinate), read at start and again by `load_quarantine`. The set is here;
//! what serving does with it is in `holds.rs`.

use crate::errors::ServeError;
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) const STATE: &str = "quarantine";

/// One quarantined version, and who put it there, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub module: String,
    pub version: String,
    pub reason: String,
    pub by: String,
    /// RFC 3339, UTC.
    pub at: String,
}

type Set = HashMap<String, HashMap<String, Quarantined>>;

/// The set in force: module → version → entry (looked up without allocating).
#[derive(Default)]
pub struct Quarantine {
    set: ArcSwap<Set>,
    /// One change at a time (read, modify, write the shared state).
    pub(super) change: tokio::sync::Mutex<()>,
}

impl Quarantine {
    pub fn get(&self, module: &str, version: &str) -> Option<Quarantined> {
        let set = self.set.load();
        if set.is_empty() {
            return None;
        }
        set.get(module)?.get(version).cloned()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.set.load().is_empty()
    }

    pub(super) fn replace(&self, list: Vec<Quarantined>) {
        let mut set = Set::new();
        for q in list {
            set.entry(q.module.clone()).or_default().insert(q.version.clone(), q);
        }
        self.set.store(Arc::new(set));
    }

    pub(super) fn list(&self) -> Vec<Quarantined> {
        let mut all: Vec<Quarantined> = self.set.load().values().flat_map(|v| v.values().cloned()).collect();
        all.sort_by(|a, b| (&a.module, &a.version).cmp(&(&b.module, &b.version)));
        all
    }
}

pub(super) fn gone(q: &Quarantined) -> ServeError {
    ServeError::NotFound { status: 410, reason: format!("{}@{}: quarantined: {}", q.module, q.version, q.reason) }
}
