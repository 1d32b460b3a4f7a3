//! A bounded in-memory cache of small immutable objects, by bytes. Reads take one shard's read
//! lock and clone an `Arc`; nothing is reordered on a hit, so the hot path stays a hash lookup.
//! Eviction is random within the full shard: the objects are immutable and their authoritative
//! copy is on disk, so a lost entry costs one file read.

use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, RwLock};

/// A small immutable object held in memory with its validators precomputed, so that a warm
/// `.info`/`.mod` is answered without touching the store or a blocking thread.
pub struct MemObject {
    pub data: Bytes,
    pub etag: http::HeaderValue,
    pub last_modified: http::HeaderValue,
    /// What the object is of, unescaped, so the HTTP layer's hot path can apply routes and
    /// access rules to a hit without parsing the request path again.
    pub module: Box<str>,
    pub version: Box<str>,
    pub content_type: &'static str,
    /// Set once the prefetch hooks have seen this object, so later hits skip them.
    pub prefetch_seen: std::sync::atomic::AtomicBool,
}

const SHARDS: usize = 32;
/// Bookkeeping charged per entry beyond its key and bytes.
const ENTRY_OVERHEAD: u64 = 96;

struct Shard {
    map: HashMap<String, Arc<MemObject>>,
    bytes: u64,
}

pub struct MemCache {
    shards: Vec<RwLock<Shard>>,
    hasher: RandomState,
    shard_budget: u64,
    evictions: std::sync::atomic::AtomicU64,
}

impl MemObject {
    /// Bytes charged for holding this object: data, names and bookkeeping.
    fn footprint(&self) -> u64 {
        (self.data.len() + self.module.len() + self.version.len()) as u64 + ENTRY_OVERHEAD
    }
}

impl MemCache {
    pub fn new(max_bytes: u64) -> Self {
        let shards = (0..SHARDS).map(|_| RwLock::new(Shard { map: HashMap::new(), bytes: 0 })).collect();
        Self {
            shards,
            hasher: RandomState::new(),
            shard_budget: max_bytes / SHARDS as u64,
            evictions: Default::default(),
        }
    }

    fn shard(&self, key: &str) -> &RwLock<Shard> {
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    pub fn get(&self, key: &str) -> Option<Arc<MemObject>> {
        self.shard(key).read().unwrap_or_else(|p| p.into_inner()).map.get(key).cloned()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.shard(key).read().unwrap_or_else(|p| p.into_inner()).map.contains_key(key)
    }

    pub fn insert(&self, key: String, value: Arc<MemObject>) {
        let cost = key.len() as u64 + value.footprint();
        if cost > self.shard_budget {
            return;
        }
        let mut shard = self.shard(&key).write().unwrap_or_else(|p| p.into_inner());
        if shard.map.contains_key(&key) {
            return;
        }
        while shard.bytes + cost > self.shard_budget {
            let Some(victim) = shard.map.keys().next().cloned() else { break };
            if let Some(v) = shard.map.remove(&victim) {
                shard.bytes -= victim.len() as u64 + v.footprint();
                self.evictions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        shard.bytes += cost;
        shard.map.insert(key, value);
    }

    /// Bytes currently held (keys, data and bookkeeping).
    pub fn bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.read().unwrap_or_else(|p| p.into_inner()).bytes).sum()
    }

    /// Objects held now, and objects evicted to make room so far.
    pub fn counts(&self) -> (u64, u64) {
        let held = self.shards.iter().map(|s| s.read().unwrap_or_else(|p| p.into_inner()).map.len() as u64).sum();
        (held, self.evictions.load(std::sync::atomic::Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(n: usize) -> Arc<MemObject> {
        Arc::new(MemObject {
            data: Bytes::from(vec![b'x'; n]),
            etag: http::HeaderValue::from_static("\"e\""),
            last_modified: http::HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
            module: "example.com/m".into(),
            version: "v1.0.0".into(),
            content_type: "text/plain; charset=utf-8",
            prefetch_seen: std::sync::atomic::AtomicBool::new(false),
        })
    }

    #[test]
    fn bounded_by_bytes() {
        let c = MemCache::new(32 * 4096);
        for i in 0..10_000 {
            c.insert(format!("k{i}"), obj(1000));
        }
        assert!(c.bytes() <= 32 * 4096, "{}", c.bytes());
        assert!(c.bytes() > 16 * 4096, "the cache is used: {}", c.bytes());
        c.insert("fresh".into(), obj(10));
        assert_eq!(c.get("fresh").map(|o| o.data.len()), Some(10));
        assert!(c.contains("fresh"));
        assert!(c.get("missing").is_none());
        // Larger than a shard's budget: never held.
        c.insert("huge".into(), obj(1 << 20));
        assert!(c.get("huge").is_none());
    }
}
