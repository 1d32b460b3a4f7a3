//! The prefetcher's state: what it may do (`[prefetch]`), the permits that bound its upstream
//! fetches, the go.mod files it has already expanded, and what it learns from clients — which
//! warmed objects they asked for (used), which they fetched themselves (missed), and the guesses
//! waiting for budget. What it does is in `warm`.

use crate::config::PrefetchConfig;
use crate::request::{Endpoint, ModuleRequest};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Upper bound on remembered expansions before the memory is cleared.
const MAX_EXPANDED: usize = 200_000;

/// Guesses allowed before clients have asked for anything.
const FREE_GUESSES: u64 = 16;

/// Guesses kept waiting for budget; the oldest go first when there are more.
const MAX_DEFERRED: usize = 4096;

/// A summary line (debug level) after this many client requests.
const REPORT_EVERY: u64 = 256;

/// A guess at what minimal version selection picks: these endpoints of `req`'s version.
pub(super) struct Guess {
    pub req: ModuleRequest,
    pub endpoints: &'static [Endpoint],
}

/// How a client's request relates to what the prefetcher did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Asked {
    /// Prefetch warmed it (or was warming it): a guess, or a sure thing.
    Used { guess: bool },
    /// Nobody warmed it and the client's own request filled it.
    Missed,
    /// Cached before, or not an object prefetch warms.
    Other,
}

pub struct Prefetcher {
    cfg: std::sync::RwLock<PrefetchConfig>,
    pub(super) permits: Arc<Semaphore>,
    expanded: Mutex<HashSet<String>>,
    /// go.mod files reached below an unpruned module: the go command loads all of theirs too.
    unpruned: Mutex<HashSet<String>>,
    /// The highest version of each module path seen in served go.mod requests and
    /// requirements: minimal version selection picks no version below it.
    highest: Mutex<HashMap<String, String>>,
    /// Objects prefetch warmed that no client has asked for yet: key → whether it was a guess.
    warmed: Mutex<HashMap<String, bool>>,
    /// Guesses waiting for budget.
    deferred: Mutex<VecDeque<Guess>>,
    deferred_len: AtomicUsize,
    /// Set by the first `.info` a client asks for: until a client downloads, it is loading its
    /// module graph, asking for its main module's requirements — at versions often higher than
    /// the guesses, which would be wasted.
    downloading: AtomicBool,
    stats: Stats,
}

/// What the prefetcher did and what came of it, for the log (and metrics).
#[derive(Default)]
struct Stats {
    /// `.mod` and `.info` clients asked for (once each per process).
    asked: AtomicU64,
    /// Guesses taken from the budget.
    guessed: AtomicU64,
    /// Guesses clients then asked for: each gives its budget back, and one more.
    guesses_used: AtomicU64,
    /// Objects prefetch started filling.
    warmed: AtomicU64,
    /// Warmed objects a client then asked for.
    used: AtomicU64,
    /// Objects a client asked for that nobody had warmed, filled by its own request.
    missed: AtomicU64,
}

impl Prefetcher {
    /// The settings in force.
    pub fn cfg(&self) -> PrefetchConfig {
        *self.cfg.read().unwrap_or_else(|p| p.into_inner())
    }

    /// New settings from a reload; the fetch permits follow the new concurrency (permits in use
    /// are not taken back: a lower limit is reached as they are returned).
    pub fn reconfigure(&self, cfg: PrefetchConfig) {
        let mut cur = self.cfg.write().unwrap_or_else(|p| p.into_inner());
        let (old, new) = (cur.concurrency.max(1), cfg.concurrency.max(1));
        if new > old {
            self.permits.add_permits(new - old);
        } else if new < old {
            self.permits.forget_permits(old - new);
        }
        *cur = cfg;
    }

    pub fn new(cfg: PrefetchConfig) -> Self {
        let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        Self {
            cfg: std::sync::RwLock::new(cfg),
            permits,
            expanded: Mutex::new(HashSet::new()),
            unpruned: Mutex::new(HashSet::new()),
            highest: Mutex::new(HashMap::new()),
            warmed: Mutex::new(HashMap::new()),
            deferred: Mutex::new(VecDeque::new()),
            deferred_len: AtomicUsize::new(0),
            downloading: AtomicBool::new(false),
            stats: Stats::default(),
        }
    }

    /// Whether served go.mod files warm their requirements.
    pub fn expands(&self) -> bool {
        let cfg = self.cfg();
        cfg.enabled && cfg.depth > 0
    }

    /// Whether a served `.info` warms its zip.
    pub fn warms_zips(&self) -> bool {
        let cfg = self.cfg();
        cfg.enabled && cfg.zips
    }

    /// Remembers that the go.mod at `key` is reached below an unpruned module.
    pub fn mark_unpruned(&self, key: &str) {
        insert_bounded(&self.unpruned, key);
    }

    /// Whether the go.mod at `key` was reached below an unpruned module.
    pub fn below_unpruned(&self, key: &str) -> bool {
        lock(&self.unpruned).contains(key)
    }

    /// Counts a `.mod` or `.info` a client asked for; every so often, a summary at debug level.
    pub fn count_asked(&self) {
        let n = self.stats.asked.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(REPORT_EVERY) {
            self.report();
        }
    }

    /// Takes one guess from the budget — a quarter of what clients asked for, plus a few, plus
    /// two for every guess clients used — false when it is spent.
    pub fn take_guess(&self) -> bool {
        if !self.downloading.load(Ordering::Relaxed) {
            return false;
        }
        let s = &self.stats;
        let budget = s.asked.load(Ordering::Relaxed) / 4 + FREE_GUESSES + 2 * s.guesses_used.load(Ordering::Relaxed);
        s.guessed.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |g| (g < budget).then_some(g + 1)).is_ok()
    }

    /// A client asked for a `.info`: guesses may go. True the first time.
    pub fn client_downloads(&self) -> bool {
        !self.downloading.swap(true, Ordering::Relaxed)
    }

    /// Keeps a guess the budget did not allow, for when clients show the guesses are used.
    pub(super) fn defer(&self, guess: Guess) {
        let mut q = lock(&self.deferred);
        if q.len() >= MAX_DEFERRED {
            q.pop_front();
        }
        q.push_back(guess);
        self.deferred_len.store(q.len(), Ordering::Relaxed);
    }

    /// The next deferred guess the budget allows, if any; guesses overtaken by a higher
    /// version of their path are dropped on the way.
    pub(super) fn next_deferred(&self) -> Option<Guess> {
        if self.deferred_len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut q = lock(&self.deferred);
        let mut next = None;
        while let Some(g) = q.front() {
            let v = g.req.version.as_deref().unwrap_or_default();
            if !self.still_highest(&g.req.module, v) {
                q.pop_front();
                continue;
            }
            if self.take_guess() {
                next = q.pop_front();
            }
            break;
        }
        self.deferred_len.store(q.len(), Ordering::Relaxed);
        next
    }

    /// Notes `version` of `path`; true when it is the highest seen so far (or equal to it).
    pub fn at_least_highest(&self, path: &str, version: &str) -> bool {
        let mut map = lock(&self.highest);
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

    /// Whether `version` is still the highest of `path` seen (a deferred guess may be stale).
    pub fn still_highest(&self, path: &str, version: &str) -> bool {
        lock(&self.highest).get(path).is_none_or(|h| gomod::semver::compare(version, h).is_ge())
    }

    /// True the first time `key` is claimed. Called on every served go.mod, so a repeat costs
    /// one lookup and no allocation.
    pub fn first_expansion(&self, key: &str) -> bool {
        let mut set = lock(&self.expanded);
        if set.contains(key) {
            return false;
        }
        if set.len() >= MAX_EXPANDED {
            set.clear();
        }
        set.insert(key.to_string())
    }

    /// Prefetch starts filling `key`.
    pub(super) fn warming(&self, key: &str, guess: bool) {
        self.stats.warmed.fetch_add(1, Ordering::Relaxed);
        let mut map = lock(&self.warmed);
        if map.len() >= MAX_EXPANDED {
            map.clear();
        }
        map.insert(key.to_string(), guess);
    }

    /// A warm that failed is neither used nor waste.
    pub(super) fn warm_failed(&self, key: &str) {
        if lock(&self.warmed).remove(key).is_some() {
            self.stats.warmed.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// A client asked for `key`; `filled_now` when its request was answered by a fresh fill.
    pub(super) fn client_asked(&self, key: &str, filled_now: bool) -> Asked {
        let was = lock(&self.warmed).remove(key);
        match was {
            Some(guess) => {
                self.stats.used.fetch_add(1, Ordering::Relaxed);
                if guess {
                    self.stats.guesses_used.fetch_add(1, Ordering::Relaxed);
                }
                Asked::Used { guess }
            }
            None if filled_now => {
                self.stats.missed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(object = %key, "prefetch missed: the client's request filled it");
                Asked::Missed
            }
            None => Asked::Other,
        }
    }

    /// The counts so far, at debug level: waste is what was warmed and not (yet) asked for.
    pub fn report(&self) {
        let s = &self.stats;
        let (warmed, used) = (s.warmed.load(Ordering::Relaxed), s.used.load(Ordering::Relaxed));
        tracing::debug!(
            asked = s.asked.load(Ordering::Relaxed),
            warmed,
            used,
            missed = s.missed.load(Ordering::Relaxed),
            waste = warmed.saturating_sub(used),
            guessed = s.guessed.load(Ordering::Relaxed),
            guesses_used = s.guesses_used.load(Ordering::Relaxed),
            deferred = self.deferred_len.load(Ordering::Relaxed),
            "prefetch"
        );
    }

    /// (warmed, used, missed) so far.
    #[cfg(test)]
    pub fn counts(&self) -> (u64, u64, u64) {
        let s = &self.stats;
        (s.warmed.load(Ordering::Relaxed), s.used.load(Ordering::Relaxed), s.missed.load(Ordering::Relaxed))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn insert_bounded(set: &Mutex<HashSet<String>>, key: &str) {
    let mut set = lock(set);
    if set.len() >= MAX_EXPANDED {
        set.clear();
    }
    set.insert(key.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefetcher() -> Prefetcher {
        Prefetcher::new(PrefetchConfig { enabled: true, concurrency: 4, depth: 8, zips: true })
    }

    fn guess(path: &str, version: &str) -> Guess {
        let req = ModuleRequest::for_version(path, version, Endpoint::Info).expect("valid");
        Guess { req, endpoints: &[Endpoint::Info] }
    }

    #[test]
    fn guesses_clients_use_earn_the_deferred_ones_their_turn() {
        let p = prefetcher();
        assert!(!p.take_guess(), "no guesses before a client downloads");
        assert!(p.client_downloads());
        // The free budget is spent; the next guesses wait.
        for _ in 0..FREE_GUESSES {
            assert!(p.take_guess());
        }
        assert!(!p.take_guess());
        for i in 0..5 {
            let path = format!("example.com/m{i}");
            assert!(p.at_least_highest(&path, "v1.0.0"));
            p.defer(guess(&path, "v1.0.0"));
        }
        assert!(p.next_deferred().is_none(), "no budget yet");
        // A client asks for a warmed guess: two more guesses may go.
        p.warming("example.com/g/@v/v1.0.0.info", true);
        assert_eq!(p.client_asked("example.com/g/@v/v1.0.0.info", false), Asked::Used { guess: true });
        let a = p.next_deferred().expect("first released");
        let b = p.next_deferred().expect("second released");
        assert_eq!((a.req.module.as_str(), b.req.module.as_str()), ("example.com/m0", "example.com/m1"));
        assert!(p.next_deferred().is_none(), "two per used guess");
        // A deferred guess overtaken by a higher version of its path is dropped, not warmed.
        assert!(p.at_least_highest("example.com/m2", "v1.1.0"));
        p.warming("example.com/h/@v/v1.0.0.info", true);
        p.client_asked("example.com/h/@v/v1.0.0.info", false);
        let c = p.next_deferred().expect("released");
        assert_eq!(c.req.module.as_str(), "example.com/m3");
    }

    #[test]
    fn client_requests_are_counted_as_used_missed_or_neither() {
        let p = prefetcher();
        p.warming("a/@v/v1.0.0.mod", false);
        p.warming("b/@v/v1.0.0.mod", false);
        assert_eq!(p.client_asked("a/@v/v1.0.0.mod", false), Asked::Used { guess: false });
        // Asked again: counted once.
        assert_eq!(p.client_asked("a/@v/v1.0.0.mod", false), Asked::Other);
        assert_eq!(p.client_asked("c/@v/v1.0.0.mod", true), Asked::Missed);
        p.warming("d/@v/v1.0.0.mod", false);
        p.warm_failed("d/@v/v1.0.0.mod");
        // Warmed 2 (the failed one is not counted), used 1, missed 1: b is waste so far.
        assert_eq!(p.counts(), (2, 1, 1));
    }
}
