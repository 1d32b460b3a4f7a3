//! The prefetcher's state: what it may do (`[prefetch]`), the permits that bound its upstream
//! fetches, and the go.mod files it has already expanded. What it does is in `warm`.

use crate::config::PrefetchConfig;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Upper bound on remembered expansions before the memory is cleared.
const MAX_EXPANDED: usize = 200_000;

pub struct Prefetcher {
    pub(super) cfg: PrefetchConfig,
    pub(super) permits: Arc<Semaphore>,
    expanded: Mutex<HashSet<String>>,
}

impl Prefetcher {
    pub fn new(cfg: PrefetchConfig) -> Self {
        let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        Self { cfg, permits, expanded: Mutex::new(HashSet::new()) }
    }

    /// Whether served go.mod files warm their requirements.
    pub fn expands(&self) -> bool {
        self.cfg.enabled && self.cfg.depth > 0
    }

    /// Whether a served `.info` warms its zip.
    pub fn warms_zips(&self) -> bool {
        self.cfg.enabled && self.cfg.zips
    }

    /// True the first time `key` is claimed. Called on every served go.mod, so a repeat costs
    /// one lookup and no allocation.
    pub fn first_expansion(&self, key: &str) -> bool {
        let mut set = self.expanded.lock().unwrap_or_else(|p| p.into_inner());
        if set.contains(key) {
            return false;
        }
        if set.len() >= MAX_EXPANDED {
            set.clear();
        }
        set.insert(key.to_string())
    }
}
