//! The prefetcher's state: what it may do (`[prefetch]`), the permits that bound its upstream
//! fetches, and the go.mod files it has already expanded. What it does is in `warm`.

use crate::config::PrefetchConfig;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Upper bound on remembered expansions before the memory is cleared.
const MAX_EXPANDED: usize = 200_000;

pub struct Prefetcher {
    pub(super) cfg: PrefetchConfig,
    pub(super) permits: Arc<Semaphore>,
    expanded: Mutex<HashSet<String>>,
    /// go.mod files reached below an unpruned module: the go command loads all of theirs too.
    unpruned: Mutex<HashSet<String>>,
    /// The highest version of each module path seen in served go.mod requests and
    /// requirements: minimal version selection picks no version below it.
    highest: Mutex<HashMap<String, String>>,
    /// `.mod` and `.info` clients asked for, and objects warmed on a guess (versions minimal
    /// version selection may pick): guesses stay within a quarter of what clients ask.
    asked: AtomicU64,
    guessed: AtomicU64,
}

/// Guesses allowed before clients have asked for anything.
const FREE_GUESSES: u64 = 16;

impl Prefetcher {
    pub fn new(cfg: PrefetchConfig) -> Self {
        let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        Self {
            cfg,
            permits,
            expanded: Mutex::new(HashSet::new()),
            unpruned: Mutex::new(HashSet::new()),
            highest: Mutex::new(HashMap::new()),
            asked: AtomicU64::new(0),
            guessed: AtomicU64::new(0),
        }
    }

    /// Whether served go.mod files warm their requirements.
    pub fn expands(&self) -> bool {
        self.cfg.enabled && self.cfg.depth > 0
    }

    /// Whether a served `.info` warms its zip.
    pub fn warms_zips(&self) -> bool {
        self.cfg.enabled && self.cfg.zips
    }

    /// Remembers that the go.mod at `key` is reached below an unpruned module.
    pub fn mark_unpruned(&self, key: &str) {
        let mut set = self.unpruned.lock().unwrap_or_else(|p| p.into_inner());
        if set.len() >= MAX_EXPANDED {
            set.clear();
        }
        set.insert(key.to_string());
    }

    /// Whether the go.mod at `key` was reached below an unpruned module.
    pub fn below_unpruned(&self, key: &str) -> bool {
        self.unpruned.lock().unwrap_or_else(|p| p.into_inner()).contains(key)
    }

    /// Counts a `.mod` or `.info` a client asked for.
    pub fn count_asked(&self) {
        self.asked.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one guess from the budget (a quarter of what clients asked for, plus a few); false
    /// when it is spent.
    pub fn take_guess(&self) -> bool {
        let budget = self.asked.load(Ordering::Relaxed) / 4 + FREE_GUESSES;
        self.guessed.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| (g < budget).then_some(g + 1)).is_ok()
    }

    /// Notes `version` of `path`; true when it is the highest seen so far (or equal to it).
    pub fn at_least_highest(&self, path: &str, version: &str) -> bool {
        let mut map = self.highest.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(path) {
            Some(h) if gomod::semver::compare(version, h).is_lt() => false,
            Some(h) if gomod::semver::compare(version, h).is_eq() => true,
            _ => {
                if map.len() >= MAX_EXPANDED {
                    map.clear();
                }
                map.insert(path.to_string(), version.to_string());
                true
            }
        }
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
