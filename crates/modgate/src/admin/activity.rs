//! What was served: for each module, its requests and bytes and, for each version, when it was
//! first and last served; for each client (key name, certificate subject or `anonymous`), its
//! requests and bytes; cache hits and misses. Only answers that succeeded are counted, so
//! requests for modules that do not exist cannot grow it.
//!
//! Kept in memory (a lock held for a few map operations per answer) and saved to
//! `<data_dir>/admin/activity.json` when it changed, every 30 seconds and at shutdown; a crash
//! loses at most that interval. Garbage collection orders zips by `last` served.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// When a version was served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    pub first: i64,
    pub last: i64,
    pub count: u64,
}

/// Requests and bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub requests: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ModuleActivity {
    tally: Tally,
    versions: HashMap<String, Served>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Tallies {
    /// When counting started (the first start with this data directory).
    since: i64,
    hits: u64,
    misses: u64,
    bytes: u64,
    modules: HashMap<String, ModuleActivity>,
    clients: HashMap<String, Tally>,
}

/// One answer, as counted.
pub struct Answer<'a> {
    pub module: &'a str,
    /// The version of a `.info`, `.mod` or `.zip`; `None` for lists and queries.
    pub version: Option<&'a str>,
    pub who: Option<&'a str>,
    pub bytes: u64,
    /// `Some(true)` for a cache hit, `Some(false)` for a miss.
    pub hit: Option<bool>,
}

/// The figures of `GET /-/admin/stats`.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub since: String,
    pub hits: u64,
    pub misses: u64,
    pub hit_ratio: Option<f64>,
    pub bytes: u64,
    pub top_modules: Vec<Top>,
    pub top_clients: Vec<Top>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Top {
    pub name: String,
    pub requests: u64,
    pub bytes: u64,
}

pub struct Activity {
    tallies: Mutex<Tallies>,
    dirty: AtomicBool,
    file: Option<PathBuf>,
}

impl Activity {
    /// Counting kept in memory only (tests, embedding).
    pub fn in_memory() -> Self {
        Self {
            tallies: Mutex::new(Tallies { since: now_secs(), ..Default::default() }),
            dirty: false.into(),
            file: None,
        }
    }

    /// Reads what was saved under `dir` (an unreadable file is set aside and counting starts over).
    pub fn open(dir: &std::path::Path) -> Self {
        let file = dir.join("activity.json");
        let tallies = match std::fs::read(&file) {
            Ok(data) => serde_json::from_slice(&data).unwrap_or_else(|e| {
                tracing::warn!(file = %file.display(), error = %e, "activity unreadable; counting starts over");
                Tallies { since: now_secs(), ..Default::default() }
            }),
            Err(_) => Tallies { since: now_secs(), ..Default::default() },
        };
        Self { tallies: Mutex::new(tallies), dirty: false.into(), file: Some(file) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tallies> {
        self.tallies.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, a: &Answer<'_>) {
        self.record_at(a, now_secs());
    }

    /// `record`, as if it happened at `now` (seconds since the epoch).
    pub fn record_at(&self, a: &Answer<'_>, now: i64) {
        let mut t = self.lock();
        t.bytes += a.bytes;
        match a.hit {
            Some(true) => t.hits += 1,
            Some(false) => t.misses += 1,
            None => {}
        }
        let m = match t.modules.get_mut(a.module) {
            Some(m) => m,
            None => t.modules.entry(a.module.to_string()).or_default(),
        };
        m.tally.requests += 1;
        m.tally.bytes += a.bytes;
        if let Some(v) = a.version {
            let s = match m.versions.get_mut(v) {
                Some(s) => s,
                None => m.versions.entry(v.to_string()).or_insert(Served { first: now, ..Default::default() }),
            };
            s.last = now;
            s.count += 1;
        }
        if let Some(who) = a.who {
            let c = match t.clients.get_mut(who) {
                Some(c) => c,
                None => t.clients.entry(who.to_string()).or_default(),
            };
            c.requests += 1;
            c.bytes += a.bytes;
        }
        drop(t);
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// When `module@version` was served, if it ever was.
    pub fn served(&self, module: &str, version: &str) -> Option<Served> {
        self.lock().modules.get(module)?.versions.get(version).copied()
    }

    /// Every version's last serving (for eviction order), as `(module, version, last)`.
    pub fn last_served(&self) -> Vec<(String, String, i64)> {
        let t = self.lock();
        t.modules
            .iter()
            .flat_map(|(m, a)| a.versions.iter().map(move |(v, s)| (m.clone(), v.clone(), s.last)))
            .collect()
    }

    pub fn stats(&self, top: usize) -> Stats {
        let t = self.lock();
        let total = t.hits + t.misses;
        let rank = |items: Vec<(String, Tally)>| {
            let mut items: Vec<Top> =
                items.into_iter().map(|(name, t)| Top { name, requests: t.requests, bytes: t.bytes }).collect();
            items.sort_by(|a, b| b.requests.cmp(&a.requests).then(b.bytes.cmp(&a.bytes)).then(a.name.cmp(&b.name)));
            items.truncate(top);
            items
        };
        Stats {
            since: crate::time::rfc3339(t.since),
            hits: t.hits,
            misses: t.misses,
            hit_ratio: (total > 0).then(|| t.hits as f64 / total as f64),
            bytes: t.bytes,
            top_modules: rank(t.modules.iter().map(|(k, v)| (k.clone(), v.tally)).collect()),
            top_clients: rank(t.clients.iter().map(|(k, v)| (k.clone(), *v)).collect()),
        }
    }

    /// Saves the figures when they changed since the last save (a temporary file renamed over).
    pub fn save(&self) -> io::Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        // Copied under the lock (serving waits for a copy, not for the encoding and the write).
        let copy = self.lock().clone();
        let data = serde_json::to_vec(&copy).map_err(io::Error::other)?;
        let written = write_replacing(file, &data);
        if written.is_err() {
            self.dirty.store(true, Ordering::Relaxed);
        }
        written
    }
}

/// Writes `data` to `file` through a temporary file beside it, renamed over it.
pub fn write_replacing(file: &std::path::Path, data: &[u8]) -> io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_ranked_and_saved() {
        let dir = tempfile::tempdir().unwrap();
        let a = Activity::open(dir.path());
        let answer = |module, version, who, bytes, hit| Answer { module, version, who, bytes, hit };
        a.record(&answer("a.example/m", Some("v1.0.0"), Some("key:ci"), 100, Some(false)));
        a.record(&answer("a.example/m", Some("v1.0.0"), Some("key:ci"), 100, Some(true)));
        a.record(&answer("b.example/n", None, Some("anonymous"), 10, Some(true)));
        let s = a.stats(10);
        assert_eq!((s.hits, s.misses, s.bytes), (2, 1, 210));
        assert_eq!(s.top_modules[0].name, "a.example/m");
        assert_eq!(s.top_modules[0].requests, 2);
        assert_eq!(s.top_clients[0].name, "key:ci");
        assert_eq!(a.stats(1).top_clients.len(), 1);
        let served = a.served("a.example/m", "v1.0.0").unwrap();
        assert_eq!(served.count, 2);
        assert!(served.first <= served.last);
        a.save().unwrap();
        let back = Activity::open(dir.path());
        assert_eq!(back.served("a.example/m", "v1.0.0"), Some(served));
        assert_eq!(back.stats(10).bytes, 210);
    }
}
