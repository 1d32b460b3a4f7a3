//! The module service: what it holds, how it is put together, and where a request enters.
//! The work is in the files beside this one, each an `impl ModuleService` block: `fill`
//! (lookups and small fills), `zipfill` (zips, streamed while they fill), `mutable` (lists,
//! `@latest` and queries), `publish`, and `warm` (prefetch).

use super::commits::Commits;
use super::prefetch::Prefetcher;
use super::progress::ZipFills;
use super::reply::{CacheStatus, Reply};
use super::routes::Routes;
use super::verify::ChecksumHook;
use crate::cache::{MemCache, MemObject};
use crate::config::PrefetchConfig;
use crate::errors::ServeError;
use crate::obs::metrics::FillMetrics;
use crate::request::{Endpoint, ModuleRequest};
use crate::rt::{FillRuntime, Flights};
use crate::source::published::Published;
use crate::source::FetchError;
use crate::store::{MetaStore, NotFound, ObjectStore};
use arc_swap::ArcSwap;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The service's tunables.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long `list`, `@latest` and query answers are fresh.
    pub list_ttl: Duration,
    /// How long a not-found answer is remembered.
    pub negative_ttl: Duration,
    /// Bytes of small immutable objects kept in memory.
    pub memory_bytes: u64,
    pub prefetch: PrefetchConfig,
    /// Largest zip a publish may send.
    pub publish_max_bytes: u64,
}

/// What the service is built from: the seams, and where fills run.
pub struct Parts {
    pub objects: Arc<dyn ObjectStore>,
    pub meta: Arc<dyn MetaStore>,
    pub routes: Routes,
    pub checksums: Arc<dyn ChecksumHook>,
    /// The runtime zip fills run on; `None` runs them on the caller's runtime.
    pub fill_rt: Option<FillRuntime>,
    pub settings: Settings,
    /// Where fills are counted (`Default`: counted nowhere).
    pub fill_metrics: FillMetrics,
    /// Fills taken in turn with other replicas sharing the store (`[coordination]` over a
    /// bucket); `None`: this process fills alone.
    pub leases: Option<Arc<crate::coord::Leases>>,
}

pub struct ModuleService {
    pub(super) objects: Arc<dyn ObjectStore>,
    pub(super) meta: Arc<dyn MetaStore>,
    pub(super) routes: ArcSwap<Routes>,
    pub(super) checksums: Arc<dyn ChecksumHook>,
    pub(super) published: Published,
    pub(super) memory: MemCache,
    pub(super) commits: Commits,
    pub(super) small_fills: Arc<Flights<()>>,
    pub(super) answers: Arc<Flights<Bytes>>,
    pub(super) zip_fills: ZipFills,
    pub(super) prefetcher: Prefetcher,
    /// One publish per module at a time.
    pub(super) publish_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(super) settings: ArcSwap<Settings>,
    pub(super) fill_metrics: FillMetrics,
    pub(super) leases: Option<Arc<crate::coord::Leases>>,
    pub(super) quarantine: super::quarantine::Quarantine,
    fill_rt: Option<FillRuntime>,
}

/// A source's failure as the client sees it.
pub(super) fn fetch_error(req: &ModuleRequest, e: FetchError) -> ServeError {
    match e {
        FetchError::NotFound { status, reason } => {
            ServeError::NotFound { status, reason: format!("{}: {reason}", req.display()) }
        }
        FetchError::Refused { status, reason } => {
            ServeError::Refused { status, reason: format!("{}: {reason}", req.display()) }
        }
        FetchError::Failed(r) => ServeError::BadGateway(format!("upstream failed: {r}")),
        FetchError::Timeout(r) => ServeError::Timeout(format!("upstream timed out: {r}")),
    }
}

impl ModuleService {
    pub fn new(parts: Parts) -> Self {
        let Parts { objects, meta, routes, checksums, fill_rt, settings, fill_metrics, leases } = parts;
        Self {
            published: Published::new(Arc::clone(&meta), Arc::clone(&objects)),
            memory: MemCache::new(settings.memory_bytes),
            commits: Commits::default(),
            prefetcher: Prefetcher::new(settings.prefetch),
            small_fills: Arc::new(Flights::counting(fill_metrics.joined.clone())),
            answers: Arc::new(Flights::counting(fill_metrics.joined.clone())),
            zip_fills: ZipFills::default(),
            publish_locks: Mutex::new(HashMap::new()),
            objects,
            meta,
            routes: ArcSwap::from_pointee(routes),
            checksums,
            settings: ArcSwap::from_pointee(settings),
            fill_metrics,
            leases,
            quarantine: Default::default(),
            fill_rt,
        }
    }

    /// Fills running now: small objects, answers (lists, queries) and zips.
    pub fn fills_in_flight(&self) -> usize {
        self.small_fills.len() + self.answers.len() + self.zip_fills.count()
    }

    /// The memory cache: bytes and objects held, objects evicted so far.
    pub fn memory_stats(&self) -> (u64, u64, u64) {
        let (held, evicted) = self.memory.counts();
        (self.memory.bytes(), held, evicted)
    }

    /// The routes in force (a reload may swap them; this reading keeps its own).
    pub fn routes(&self) -> arc_swap::Guard<Arc<Routes>> {
        self.routes.load()
    }

    /// Swaps in the routes and settings of a reloaded configuration: requests and fills already
    /// running keep what they started with. The memory cache keeps its size.
    pub fn reconfigure(&self, routes: Routes, settings: Settings) {
        self.prefetcher.reconfigure(settings.prefetch);
        self.routes.store(Arc::new(routes));
        self.settings.store(Arc::new(settings));
    }

    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// The versions published here for `module` (unescaped), in publish order.
    pub async fn published_versions(&self, module: &str) -> std::io::Result<Vec<String>> {
        let escaped = gomod::path::escape_path(module).map_err(std::io::Error::other)?;
        self.meta.published(&escaped).await
    }

    /// The versions of `module`'s cached list answer, if one is cached (whatever its age).
    pub async fn cached_list(&self, module: &str) -> Option<Vec<String>> {
        let escaped = gomod::path::escape_path(module).ok()?;
        let (data, _) = self.meta.answer(&format!("{escaped}/@v/list")).await.ok()??;
        Some(String::from_utf8_lossy(&data).split_whitespace().map(str::to_string).collect())
    }

    /// Forgets `module`'s mutable answers and not-found answers; returns how many answers went.
    pub async fn purge(&self, module: &str) -> std::io::Result<u64> {
        let escaped = gomod::path::escape_path(module).map_err(std::io::Error::other)?;
        self.meta.purge(&escaped).await
    }

    pub fn list_ttl(&self) -> Duration {
        self.settings.load().list_ttl
    }

    pub fn publish_max_bytes(&self) -> u64 {
        self.settings.load().publish_max_bytes
    }

    /// A warm small object by its storage key (the escaped path after the leading `/`), for
    /// the HTTP layer's hot path.
    pub fn memory_hit(&self, key: &str) -> Option<Arc<MemObject>> {
        self.memory.get(key)
    }

    /// Waits until the small objects answered from memory are all committed (graceful
    /// shutdown; tests that read the store).
    pub async fn settle(&self) {
        self.commits.settle().await;
    }

    /// Runs a fill where fills run (see `rt::fill`).
    pub(super) fn spawn_fill<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        match &self.fill_rt {
            Some(rt) => rt.spawn(fut),
            None => {
                tokio::spawn(fut);
            }
        }
    }

    /// Answers one validated module request. `may_stream` allows a cold zip to be streamed
    /// while it is filled (a plain GET; HEAD and Range requests wait for the commit).
    pub async fn serve(self: &Arc<Self>, req: &ModuleRequest, may_stream: bool) -> Result<Reply, ServeError> {
        // Routed once, before the cache: a denied module is refused even when cached, and the
        // source chosen here serves every fill this request starts.
        let source = Arc::clone(self.routes.load().resolve(&req.module)?);
        self.check_quarantine(req)?;
        if req.endpoint == Endpoint::Zip {
            let reply = self.zip(req, &source, may_stream).await;
            self.learn(req, &reply);
            return reply;
        }
        if !req.is_immutable() {
            let reply = self.mutable(req, &source).await;
            return self.screen(req, reply);
        }
        let reply = self.immutable(req, &source).await;
        // The prefetch hooks run once per object in memory (they remember what they saw, but
        // asking costs a lock and a hash on every warm hit).
        let first = match &reply {
            Ok(Reply::Memory { obj, .. }) => !obj.prefetch_seen.swap(true, Ordering::Relaxed),
            Ok(_) => true,
            Err(_) => false,
        };
        if first {
            self.learn(req, &reply);
            self.after_go_mod(req, &source);
            self.after_info(req, &source);
        }
        reply
    }

    /// Answers from the cache alone (the `Disable-Module-Fetch: true` request header): no
    /// source is asked; a mutable answer is served whatever its age.
    pub async fn serve_cached(&self, req: &ModuleRequest) -> Result<Reply, ServeError> {
        self.routes.load().resolve(&req.module)?;
        self.check_quarantine(req)?;
        if req.is_immutable() {
            if let Some(reply) = self.stored(req).await? {
                return Ok(reply);
            }
        } else if let Some((data, age)) = self.meta.answer(req.rel()).await? {
            let cache = if age < self.settings.load().list_ttl { CacheStatus::Hit } else { CacheStatus::Stale };
            return self.screen(req, Ok(Reply::Mutable { data, cache }));
        }
        Err(ServeError::not_found(format!(
            "{}: not cached, and Disable-Module-Fetch forbids fetching it",
            req.display()
        )))
    }

    /// Whether an immutable object is already stored.
    pub(super) async fn is_cached(&self, req: &ModuleRequest) -> bool {
        self.in_memory(req.rel()).is_some() || matches!(self.objects.contains(req.rel()).await, Ok(true))
    }

    /// The not-found answer remembered for `key`, as an error.
    pub(super) async fn known_missing(&self, key: &str) -> Option<ServeError> {
        let n = self.meta.not_found(key).await?;
        Some(ServeError::NotFound { status: n.status, reason: n.reason })
    }

    /// Remembers a not-found error for the negative TTL; other errors are not remembered.
    pub(super) async fn remember_not_found(&self, key: &str, e: &ServeError) {
        if let ServeError::NotFound { status, reason } = e {
            let answer = NotFound { status: *status, reason: reason.clone() };
            let ttl = self.settings.load().negative_ttl;
            self.meta.remember_not_found(key, answer, ttl).await;
        }
    }
}
