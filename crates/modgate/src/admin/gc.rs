//! Garbage collection: keeps the objects cached from upstreams under `[cache] max_size`.
//!
//! What counts against the limit: every stored `.info`, `.mod` and `.zip` except the protected
//! ones — versions published here, and modules that are private (the checksum database's
//! private patterns and the routes that reach only their own repositories): those may exist
//! nowhere else, so they are never evicted. When the rest is over the limit, objects go until
//! it is under 90 % of it: zips first, least recently served first (never served: oldest cached
//! first); then the `.mod` and `.info` of versions their module's cached list no longer names,
//! and of pseudo-versions (never listed). A listed version's go.mod stays (builds read many of
//! them), and so does one whose module has no cached list to say.
//!
//! An object being read stays readable to the end (see `ObjectStore::delete`); one deleted
//! between a lookup and a read is a miss, fetched again.

use super::Admin;
use crate::proxy::ModuleService;
use crate::store::Listed;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Evictions listed in a report at most (the counts are whole).
const LISTED: usize = 1000;

/// What garbage collection is told by the configuration.
#[derive(Debug, Clone, Default)]
pub struct GcSettings {
    /// `[cache] max_size`; `None`: no collection.
    pub max_bytes: Option<u64>,
    /// Private module patterns (GOPRIVATE syntax): never evicted.
    pub private: String,
}

/// One evicted (or, in a dry run, evictable) object.
#[derive(Debug, Clone, Serialize)]
pub struct Victim {
    pub key: String,
    pub module: String,
    pub version: String,
    pub size: u64,
    pub last_served: Option<String>,
    /// `zip, least recently served` or `go.mod/info of a version no longer listed`.
    pub why: &'static str,
}

/// The outcome of one collection.
#[derive(Debug, Clone, Serialize, Default)]
pub struct GcReport {
    pub at: String,
    pub dry_run: bool,
    pub limit: Option<u64>,
    /// Bytes of upstream-cached objects before and after.
    pub before: u64,
    pub after: u64,
    /// Bytes of published and private objects, never evicted.
    pub protected: u64,
    pub evicted_objects: u64,
    pub evicted_bytes: u64,
    /// The first `LISTED` evictions.
    pub evicted: Vec<Victim>,
    pub errors: Vec<String>,
}

/// Totals since start, for `/metrics`.
#[derive(Default)]
pub struct GcCounters {
    pub runs: AtomicU64,
    pub objects: AtomicU64,
    pub bytes: AtomicU64,
}

struct Candidate {
    listed: Listed,
    module: String,
    version: String,
    zip: bool,
    /// When it was last served, else when it was cached (seconds).
    last: i64,
    served: bool,
}

impl Admin {
    /// Plans a collection and, unless `dry_run`, carries it out.
    pub async fn collect(&self, modules: &ModuleService, dry_run: bool) -> std::io::Result<GcReport> {
        let settings = self.gc_settings.load_full();
        let mut report =
            GcReport { at: crate::time::now_rfc3339(), dry_run, limit: settings.max_bytes, ..Default::default() };
        let objects = modules.objects();
        let listing = objects.entries("").await?;
        let (candidates, protected) = self.candidates(modules, &settings, listing).await;
        report.protected = protected;
        report.before = candidates.iter().map(|c| c.listed.size).sum();
        report.after = report.before;
        let Some(limit) = settings.max_bytes else { return Ok(report) };
        if report.before <= limit {
            return Ok(report);
        }
        let target = limit / 10 * 9;
        for c in self.order(modules, candidates).await {
            if report.after <= target {
                break;
            }
            let freed = if dry_run { Ok(Some(c.listed.size)) } else { objects.delete(&c.listed.key).await };
            match freed {
                Ok(Some(size)) => {
                    report.after = report.after.saturating_sub(size);
                    report.evicted_objects += 1;
                    report.evicted_bytes += size;
                    if report.evicted.len() < LISTED {
                        report.evicted.push(victim(&c, size));
                    }
                }
                Ok(None) => report.after = report.after.saturating_sub(c.listed.size),
                Err(e) => report.errors.push(format!("{}: {e}", c.listed.key)),
            }
        }
        if !dry_run {
            self.catalog.invalidate();
            self.gc_counters.runs.fetch_add(1, Ordering::Relaxed);
            self.gc_counters.objects.fetch_add(report.evicted_objects, Ordering::Relaxed);
            self.gc_counters.bytes.fetch_add(report.evicted_bytes, Ordering::Relaxed);
            if report.evicted_objects > 0 || report.after > limit {
                tracing::info!(
                    evicted = report.evicted_objects,
                    bytes = report.evicted_bytes,
                    before = report.before,
                    after = report.after,
                    limit,
                    "garbage collection"
                );
            }
            *self.gc_last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        }
        Ok(report)
    }

    /// The objects that count against the limit, and the bytes of the protected ones.
    async fn candidates(
        &self,
        modules: &ModuleService,
        settings: &GcSettings,
        listing: Vec<Listed>,
    ) -> (Vec<Candidate>, u64) {
        // Per module, once: whether it is private, and the versions published here.
        let mut shielded: HashMap<String, (bool, Vec<String>)> = HashMap::new();
        let (mut out, mut protected) = (Vec::new(), 0);
        for l in listing {
            let Some((module, version, ext)) = super::catalog::parse_key(&l.key) else { continue };
            if !shielded.contains_key(&module) {
                let private =
                    !settings.private.is_empty() && gomod::glob::match_prefix_patterns(&settings.private, &module);
                let published = modules.published_versions(&module).await.unwrap_or_default();
                shielded.insert(module.clone(), (private, published));
            }
            if shielded.get(&module).is_some_and(|(private, published)| *private || published.contains(&version)) {
                protected += l.size;
                continue;
            }
            let served = self.activity.served(&module, &version);
            let cached = l.modified.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
            out.push(Candidate {
                last: served.map_or(cached, |s| s.last),
                served: served.is_some(),
                zip: ext == super::catalog::Ext::Zip,
                listed: l,
                module,
                version,
            });
        }
        (out, protected)
    }

    /// Eviction order: zips by last use; then the go.mod and .info of versions no longer
    /// listed, by last use. The rest is never evicted.
    async fn order(&self, modules: &ModuleService, candidates: Vec<Candidate>) -> Vec<Candidate> {
        let (mut zips, small): (Vec<_>, Vec<_>) = candidates.into_iter().partition(|c| c.zip);
        zips.sort_by_key(|c| (c.last, c.listed.key.clone()));
        let mut lists: HashMap<String, Option<Vec<String>>> = HashMap::new();
        let mut unlisted = Vec::new();
        for c in small {
            if !lists.contains_key(&c.module) {
                lists.insert(c.module.clone(), modules.cached_list(&c.module).await);
            }
            // Unknown without a cached list, unless it is a pseudo-version (never listed).
            let listed = match lists.get(&c.module).and_then(|l| l.as_ref()) {
                Some(list) => list.contains(&c.version),
                None => !gomod::pseudo::is_pseudo_version(&c.version),
            };
            if !listed {
                unlisted.push(c);
            }
        }
        unlisted.sort_by_key(|c| (c.last, c.listed.key.clone()));
        zips.extend(unlisted);
        zips
    }
}

fn victim(c: &Candidate, size: u64) -> Victim {
    Victim {
        key: c.listed.key.clone(),
        module: c.module.clone(),
        version: c.version.clone(),
        size,
        last_served: c.served.then(|| crate::time::rfc3339(c.last)),
        why: if c.zip { "zip, least recently served" } else { "go.mod/info of a version no longer listed" },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::Answer;
    use crate::proxy::{NoChecksums, Parts, Routes, Settings};
    use crate::request::ModuleRequest;
    use crate::source::{Body, FetchError, Source};
    use crate::store::memory::{MemoryMeta, MemoryObjects};
    use crate::store::{MetaStore, ObjectStore};
    use std::sync::Arc;
    use std::time::Duration;

    struct Nowhere;

    #[async_trait::async_trait]
    impl Source for Nowhere {
        async fn fetch(&self, _req: &ModuleRequest) -> Result<Body, FetchError> {
            Err(FetchError::NotFound { status: 404, reason: "nowhere".into() })
        }
    }

    fn service(objects: Arc<MemoryObjects>, meta: Arc<MemoryMeta>) -> ModuleService {
        ModuleService::new(Parts {
            objects,
            meta,
            routes: Routes::new(Arc::new(Nowhere)),
            checksums: Arc::new(NoChecksums),
            fill_rt: None,
            settings: Settings {
                list_ttl: Duration::from_secs(60),
                negative_ttl: Duration::from_secs(30),
                memory_bytes: 1 << 20,
                prefetch: crate::config::PrefetchConfig { enabled: false, concurrency: 1, depth: 1, zips: false },
                publish_max_bytes: 1 << 20,
            },
            fill_metrics: Default::default(),
            leases: None,
        })
    }

    #[tokio::test]
    async fn least_recently_served_zips_go_first_and_protected_ones_never() {
        let (objects, meta) = (Arc::new(MemoryObjects::new()), Arc::new(MemoryMeta::new()));
        let svc = service(objects.clone(), meta.clone());
        let admin = Admin::in_memory();
        // Four zips of 100 bytes, served at 300, 100, 200 and never; one published, one private.
        for (m, served) in
            [("a.example/m", Some(300)), ("b.example/m", Some(100)), ("c.example/m", Some(200)), ("d.example/m", None)]
        {
            objects.put(&format!("{m}/@v/v1.0.0.zip"), &[0u8; 100]).await.unwrap();
            objects.put(&format!("{m}/@v/v1.0.0.mod"), &[0u8; 10]).await.unwrap();
            if let Some(t) = served {
                let a = Answer { module: m, version: Some("v1.0.0"), who: None, bytes: 1, hit: Some(true) };
                admin.activity.record_at(&a, t);
            }
        }
        for m in ["pub.example/m", "corp.example/secret"] {
            objects.put(&format!("{m}/@v/v1.0.0.zip"), &[0u8; 1000]).await.unwrap();
        }
        meta.add_published("pub.example/m", "v1.0.0").await.unwrap();
        // A pseudo-version's go.mod is never listed; a listed version's go.mod stays.
        objects.put("a.example/m/@v/v0.0.0-20240101000000-abcdefabcdef.mod", &[0u8; 10]).await.unwrap();
        meta.put_answer("a.example/m/@v/list", b"v1.0.0\n").await.unwrap();
        admin.gc_settings.store(Arc::new(GcSettings { max_bytes: Some(300), private: "corp.example".into() }));

        let dry = admin.collect(&svc, true).await.unwrap();
        assert_eq!((dry.before, dry.protected), (450, 2000));
        let keys: Vec<&str> = dry.evicted.iter().map(|v| v.key.as_str()).collect();
        // Under 90 % of 300: the two served longest ago; the never-served zip (cached now, the
        // newest time) and the one served last stay.
        assert_eq!(keys, ["b.example/m/@v/v1.0.0.zip", "c.example/m/@v/v1.0.0.zip"], "{dry:?}");
        assert!(objects.contains("b.example/m/@v/v1.0.0.zip"), "a dry run evicts nothing");

        admin.gc_settings.store(Arc::new(GcSettings { max_bytes: Some(20), private: "corp.example".into() }));
        let done = admin.collect(&svc, false).await.unwrap();
        for m in ["a.example/m", "b.example/m", "c.example/m", "d.example/m"] {
            assert!(!objects.contains(&format!("{m}/@v/v1.0.0.zip")), "{m}: {done:?}");
        }
        assert!(!objects.contains("a.example/m/@v/v0.0.0-20240101000000-abcdefabcdef.mod"), "unlisted go.mod");
        assert!(objects.contains("a.example/m/@v/v1.0.0.mod"), "a listed version's go.mod stays");
        assert!(objects.contains("b.example/m/@v/v1.0.0.mod"), "no cached list: kept");
        assert!(
            objects.contains("pub.example/m/@v/v1.0.0.zip") && objects.contains("corp.example/secret/@v/v1.0.0.zip")
        );
        assert_eq!(admin.gc_counters.objects.load(Ordering::Relaxed), done.evicted_objects);
        assert!(done.after > 20, "what is left cannot go: {done:?}");
    }
}
