//! The module service: cache lookup, single-flight fills from the upstream chain, verification
//! before commit, stale answers when every source fails, and a short memory of not-found.

use crate::config::Config;
use crate::errors::ServeError;
use crate::route::{Endpoint, ModuleRequest};
use crate::singleflight::Flights;
use crate::storage::{Commit, LocalStore, StoredObject};
use crate::upstream::{FetchError, Upstreams};
use bytes::Bytes;
use gomod::limits::{MAX_GO_MOD, MAX_ZIP_FILE};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest `.info`, `@latest` or `list` answer accepted from a source.
const MAX_SMALL: u64 = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    Stale,
}

impl CacheStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Stale => "stale",
        }
    }
}

/// A small immutable object held in memory with its validators precomputed, so that a warm
/// `.info`/`.mod` is answered without touching the disk or a blocking thread.
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

/// How many newly written bytes of a filling zip wake its streaming readers.
const PUBLISH_STEP: u64 = 256 * 1024;

/// Cold zips announced smaller than this are verified before the first byte is sent.
pub const STREAM_MIN: u64 = 1 << 20;

/// Objects up to this size are kept in the memory cache; larger ones (zips) are streamed.
pub const MEM_OBJECT_MAX: u64 = 64 * 1024;

/// How far a zip fill has come; published to every request waiting for that zip.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// The temporary file being written, once the upstream answered.
    pub path: Option<std::path::PathBuf>,
    /// The length the upstream announced, if it did.
    pub total: Option<u64>,
    /// Bytes written to the temporary file and readable from it.
    pub written: u64,
    /// The whole body has arrived; what remains is verifying and committing it.
    pub downloaded: bool,
    pub state: FillState,
}

#[derive(Debug, Clone, Default)]
pub enum FillState {
    #[default]
    Running,
    Committed,
    Failed(ServeError),
}

impl FillState {
    fn is_running(&self) -> bool {
        matches!(self, FillState::Running)
    }
}

/// What the service answers with.
pub enum Reply {
    /// A zip still being filled, streamed from its temporary file as it grows; the final byte
    /// is held back until the zip is verified and committed.
    Stream { file: std::fs::File, progress: tokio::sync::watch::Receiver<Progress>, total: Option<u64> },
    /// A committed immutable object, to stream from storage.
    Object { obj: StoredObject, cache: CacheStatus },
    /// A small committed immutable object from memory.
    Memory { obj: Arc<MemObject>, cache: CacheStatus },
    /// A mutable answer (list, latest, query info).
    Mutable { data: Bytes, cache: CacheStatus },
}

struct Negative {
    until: Instant,
    status: u16,
    reason: String,
}

pub struct Service {
    /// Where zip fills and upstream connections run (see `fillrt`).
    fill_rt: crate::fillrt::FillRuntime,
    pub store: LocalStore,
    upstreams: Upstreams,
    /// `[[route]]` rules in order: patterns and their chain (`None` = deny).
    routes: Vec<(String, Option<Upstreams>)>,
    list_ttl: Duration,
    negative_ttl: Duration,
    fills: Arc<Flights<()>>,
    answers: Arc<Flights<Bytes>>,
    negative: Mutex<HashMap<String, Negative>>,
    pub(crate) prefetcher: crate::prefetch::Prefetcher,
    memory: crate::memcache::MemCache,
    zip_fills: Mutex<HashMap<String, tokio::sync::watch::Receiver<Progress>>>,
    /// Keys, policy and audit; `None` when `[auth]` is not configured (everyone may read).
    pub auth: Option<Arc<crate::auth::Auth>>,
    /// Published versions per escaped module path, mirrored from `published/` at start.
    published: std::sync::RwLock<HashMap<String, Vec<String>>>,
    /// One publish per module at a time.
    publish_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Largest publish body.
    pub publish_max_bytes: u64,
    upstream_raw: String,
    route_raw: Vec<(String, String)>,
}

impl Service {
    pub fn new(cfg: &Config) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        let store =
            LocalStore::open(&cfg.data_dir).with_context(|| format!("opening data dir {}", cfg.data_dir.display()))?;
        let published = store.all_published().context("reading the published-versions index")?;
        let uses_direct =
            |specs: &[gomod::proxylist::ProxySpec]| specs.iter().any(|s| s.entry == gomod::proxylist::Entry::Direct);
        let any_direct = uses_direct(&cfg.upstream)
            || cfg
                .routes
                .iter()
                .any(|r| matches!(&r.source, crate::config::RouteSource::Chain { specs, .. } if uses_direct(specs)));
        let fill_rt = crate::fillrt::FillRuntime::start().context("starting the fill runtime")?;
        let http = Arc::new(crate::httpclient::HttpClient::new(
            &cfg.egress,
            cfg.upstream_timeout,
            cfg.upstream_idle_timeout,
            fill_rt.spawner(),
        ));
        let direct = any_direct.then(|| Arc::new(crate::direct::Direct::new(cfg, Arc::clone(&http))));
        let chain =
            |specs: &[gomod::proxylist::ProxySpec]| Upstreams::new(specs.to_vec(), Arc::clone(&http), direct.clone());
        let upstreams = chain(&cfg.upstream);
        let mut routes = Vec::new();
        for r in &cfg.routes {
            let u = match &r.source {
                crate::config::RouteSource::Deny => None,
                crate::config::RouteSource::Chain { specs, .. } => Some(chain(specs)),
            };
            routes.push((r.modules.clone(), u));
        }
        Ok(Self {
            fill_rt,
            store,
            upstreams,
            routes,
            list_ttl: cfg.list_ttl,
            negative_ttl: cfg.negative_ttl,
            fills: Arc::default(),
            answers: Arc::default(),
            negative: Mutex::new(HashMap::new()),
            prefetcher: crate::prefetch::Prefetcher::new(cfg.prefetch.clone()),
            memory: crate::memcache::MemCache::new(cfg.memory_cache_bytes),
            zip_fills: Mutex::new(HashMap::new()),
            published: std::sync::RwLock::new(published),
            publish_locks: Mutex::new(HashMap::new()),
            upstream_raw: cfg.upstream_raw.clone(),
            route_raw: cfg
                .routes
                .iter()
                .map(|r| {
                    let src = match &r.source {
                        crate::config::RouteSource::Deny => "deny".to_string(),
                        crate::config::RouteSource::Chain { raw, .. } => raw.clone(),
                    };
                    (r.modules.clone(), src)
                })
                .collect(),
            publish_max_bytes: cfg.publish_max_bytes,
            auth: match &cfg.auth {
                Some(a) => Some(crate::auth::Auth::new(a.clone()).map_err(anyhow::Error::msg)?),
                None => None,
            },
        })
    }

    /// The default upstream chain as configured, credentials removed (for the admin status).
    pub fn upstream_summary(&self) -> String {
        crate::upstream::redact_text(&self.upstream_raw)
    }

    /// Route patterns and their sources (for the admin status).
    pub fn route_summary(&self) -> Vec<String> {
        self.route_raw.iter().map(|(m, s)| format!("{m} -> {}", crate::upstream::redact_text(s))).collect()
    }

    pub fn list_ttl(&self) -> Duration {
        self.list_ttl
    }

    pub fn has_sources(&self) -> bool {
        self.upstreams.has_sources() || self.routes.iter().any(|(_, u)| u.as_ref().is_some_and(Upstreams::has_sources))
    }

    /// The chain that serves a module: the first matching route's, else the default; a deny
    /// route refuses it.
    pub(crate) fn chain_for(&self, module: &str) -> Result<&Upstreams, ServeError> {
        for (patterns, chain) in &self.routes {
            if gomod::glob::match_prefix_patterns(patterns, module) {
                return chain
                    .as_ref()
                    .ok_or_else(|| ServeError::Forbidden(format!("{module}: denied by route {patterns:?}")));
            }
        }
        Ok(&self.upstreams)
    }

    /// Answers one validated module request. `may_stream` allows a cold zip to be streamed
    /// while it is filled (a plain GET; HEAD and Range requests wait for the commit).
    pub async fn serve(self: &Arc<Self>, req: &ModuleRequest, may_stream: bool) -> Result<Reply, ServeError> {
        // Routes are decided before the cache: a denied module is refused even when cached.
        self.chain_for(&req.module)?;
        if req.endpoint == Endpoint::Zip {
            return self.zip(req, may_stream).await;
        }
        if req.is_immutable() {
            let reply = self.immutable(req).await;
            // The prefetch hooks run once per object in memory (they remember what they saw,
            // but asking costs a lock and a hash on every warm hit).
            let first = match &reply {
                Ok(Reply::Memory { obj, .. }) => !obj.prefetch_seen.swap(true, std::sync::atomic::Ordering::Relaxed),
                Ok(_) => true,
                Err(_) => false,
            };
            if first {
                crate::prefetch::after_go_mod(self, req);
                crate::prefetch::after_info(self, req);
            }
            reply
        } else {
            self.mutable(req).await
        }
    }

    /// Whether an immutable object is already stored.
    pub(crate) async fn is_cached(&self, req: &ModuleRequest) -> bool {
        self.memory.contains(req.rel()) || matches!(self.store.open_immutable(req.rel()).await, Ok(Some(_)))
    }

    /// Whether a source recently said the object does not exist.
    pub(crate) fn is_known_missing(&self, req: &ModuleRequest) -> bool {
        self.negative_hit(req.rel()).is_some()
    }

    /// Fills an immutable object without answering anyone (prefetch). Zips join the same
    /// single flight as client requests, and are waited for until committed.
    pub(crate) async fn warm(self: &Arc<Self>, req: &ModuleRequest) -> Result<(), ServeError> {
        if req.endpoint == Endpoint::Zip {
            let mut rx = self.start_zip_fill(req);
            return match rx.wait_for(|p| !p.state.is_running()).await.map(|p| p.state.clone()) {
                Ok(FillState::Failed(e)) => Err(e),
                Err(_) => Err(ServeError::BadGateway(format!("{}: the fill was abandoned", req.display()))),
                Ok(_) => Ok(()),
            };
        }
        self.fill_immutable(req).await
    }

    /// Answers from the cache alone (the `Disable-Module-Fetch: true` request header): no
    /// source is asked; a mutable answer is served whatever its age.
    pub async fn serve_cached(&self, req: &ModuleRequest) -> Result<Reply, ServeError> {
        self.chain_for(&req.module)?;
        if req.is_immutable() {
            if let Some(reply) = self.stored(req).await? {
                return Ok(reply);
            }
        } else if let Some((data, age)) = self.store.get_mutable(req.rel()).await? {
            let cache = if age < self.list_ttl { CacheStatus::Hit } else { CacheStatus::Stale };
            return Ok(Reply::Mutable { data: Bytes::from(data), cache });
        }
        Err(ServeError::not_found(format!(
            "{}: not cached, and Disable-Module-Fetch forbids fetching it",
            req.display()
        )))
    }

    fn negative_hit(&self, key: &str) -> Option<ServeError> {
        let mut map = self.negative.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some(n) if n.until > Instant::now() => {
                Some(ServeError::NotFound { status: n.status, reason: n.reason.clone() })
            }
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    fn remember_not_found(&self, key: &str, e: &ServeError) {
        if let ServeError::NotFound { status, reason } = e {
            let mut map = self.negative.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() > 100_000 {
                let now = Instant::now();
                map.retain(|_, n| n.until > now);
            }
            map.insert(
                key.to_string(),
                Negative { until: Instant::now() + self.negative_ttl, status: *status, reason: reason.clone() },
            );
        }
    }

    /// A stored immutable object, from memory or disk, if there is one.
    async fn stored(&self, req: &ModuleRequest) -> Result<Option<Reply>, ServeError> {
        if let Some(obj) = self.memory.get(req.rel()) {
            return Ok(Some(Reply::Memory { obj, cache: CacheStatus::Hit }));
        }
        match self.store.open_immutable(req.rel()).await? {
            Some(obj) => self.reply_from_store(req, obj, CacheStatus::Hit).await.map(Some),
            None => Ok(None),
        }
    }

    /// A warm small object by its storage key (the escaped path after the leading `/`), for
    /// the HTTP layer's hot path.
    pub fn memory_hit(&self, key: &str) -> Option<Arc<MemObject>> {
        self.memory.get(key)
    }

    /// The object a fill just committed.
    async fn committed(&self, req: &ModuleRequest) -> Result<Reply, ServeError> {
        match self.store.open_immutable(req.rel()).await? {
            Some(obj) => self.reply_from_store(req, obj, CacheStatus::Miss).await,
            None => Err(ServeError::Storage(format!("{} was committed but cannot be read", req.rel()))),
        }
    }

    async fn immutable(self: &Arc<Self>, req: &ModuleRequest) -> Result<Reply, ServeError> {
        let key = req.rel();
        if let Some(reply) = self.stored(req).await? {
            return Ok(reply);
        }
        if let Some(e) = self.negative_hit(key) {
            return Err(e);
        }
        self.fill_immutable(req).await?;
        self.committed(req).await
    }

    async fn zip(self: &Arc<Self>, req: &ModuleRequest, may_stream: bool) -> Result<Reply, ServeError> {
        let key = req.rel();
        // A fill still downloading is joined without asking the disk first: a herd of requests
        // would otherwise queue hundreds of file opens on the blocking pool and delay everyone's
        // first byte. Past its download, the fill may have committed already (it still syncs
        // the directory before it ends), so the store is asked first and a committed zip is a hit.
        let mut rx = match self.running_zip_fill(key).filter(|rx| !rx.borrow().downloaded) {
            Some(rx) => rx,
            None => {
                if let Some(reply) = self.stored(req).await? {
                    return Ok(reply);
                }
                if let Some(e) = self.negative_hit(key) {
                    return Err(e);
                }
                self.start_zip_fill(req)
            }
        };
        if may_stream {
            // As soon as the upstream answered (the temporary exists), open it and follow it;
            // opening early keeps that step off the path of the first byte.
            let p = rx.wait_for(|p| p.path.is_some() || !p.state.is_running()).await.map(|p| p.clone());
            if let Ok(Progress { path: Some(path), total, state: FillState::Running, .. }) = p {
                // A small zip is not worth streaming unverified: waiting keeps a clean error
                // status and message for the client if it turns out bad.
                if total.is_none_or(|t| t >= STREAM_MIN) {
                    // A plain open of a page-cached directory entry: microseconds, and kept off
                    // the blocking pool that the fill's own writes are queued on.
                    if let Ok(file) = std::fs::File::open(&path) {
                        return Ok(Reply::Stream { file, progress: rx, total });
                    }
                }
                // Small, or the temporary was committed (and unlinked) just now: wait below.
            }
        }
        let done = rx.wait_for(|p| !p.state.is_running()).await.map(|p| p.state.clone());
        match done {
            Ok(FillState::Failed(e)) => return Err(e),
            Err(_) => return Err(ServeError::BadGateway(format!("{}: the fill was abandoned", req.display()))),
            Ok(_) => {}
        }
        self.committed(req).await
    }

    /// The progress of a zip fill that is running now, if any.
    fn running_zip_fill(&self, key: &str) -> Option<tokio::sync::watch::Receiver<Progress>> {
        let map = self.zip_fills.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|rx| rx.has_changed().is_ok() && rx.borrow().state.is_running()).cloned()
    }

    /// Joins the fill of a zip, starting it if none runs: the map of progress channels is the
    /// single flight for zips.
    fn start_zip_fill(self: &Arc<Self>, req: &ModuleRequest) -> tokio::sync::watch::Receiver<Progress> {
        let key = req.rel().to_string();
        let mut map = self.zip_fills.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = map.get(&key) {
            // Only a running fill is joined: one whose task died without a final state, or one
            // that has just ended, is replaced.
            if rx.has_changed().is_ok() && rx.borrow().state.is_running() {
                return rx.clone();
            }
        }
        let (tx, rx) = tokio::sync::watch::channel(Progress::default());
        map.insert(key.clone(), rx.clone());
        drop(map);
        let this = Arc::clone(self);
        let r = req.clone();
        let own = rx.clone();
        self.fill_rt.spawn(async move {
            let res = if this.is_cached(&r).await { Ok(()) } else { this.fill_zip(&r, &tx).await };
            match &res {
                Err(e @ ServeError::NotFound { .. }) => {
                    this.remember_not_found(&key, e);
                    tracing::debug!(object = %key, error = %e, "not found at the sources");
                }
                Err(e) => tracing::warn!(object = %key, error = %e, "fill failed"),
                Ok(()) => {}
            }
            // Leave the map before announcing the end: a client that has seen this fill fail and
            // asks again at once (the fill runs on another thread) must start a new fill, not
            // find this one. Only our own entry is removed.
            {
                let mut map = this.zip_fills.lock().unwrap_or_else(|p| p.into_inner());
                if map.get(&key).is_some_and(|rx| rx.same_channel(&own)) {
                    map.remove(&key);
                }
            }
            tx.send_modify(|p| {
                p.state = match res {
                    Ok(()) => FillState::Committed,
                    Err(e) => FillState::Failed(e),
                }
            });
        });
        rx
    }

    /// Small objects move into the memory cache; large ones are streamed from storage.
    async fn reply_from_store(
        &self,
        req: &ModuleRequest,
        obj: StoredObject,
        cache: CacheStatus,
    ) -> Result<Reply, ServeError> {
        if obj.len > MEM_OBJECT_MAX {
            return Ok(Reply::Object { obj, cache });
        }
        // One trip to the blocking pool for the whole read.
        let file = obj.file;
        let len = obj.len;
        let data = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            use std::io::Read;
            let mut data = Vec::with_capacity(len as usize);
            (&file).take(MEM_OBJECT_MAX + 1).read_to_end(&mut data)?;
            Ok(data)
        })
        .await
        .map_err(std::io::Error::other)??;
        if data.len() as u64 != obj.len {
            return Err(ServeError::Storage(format!("{} changed size while being read", req.rel())));
        }
        let etag = http::HeaderValue::from_str(&obj.etag).map_err(|e| ServeError::Storage(e.to_string()))?;
        let last_modified = http::HeaderValue::from_str(&httpdate::fmt_http_date(obj.modified))
            .map_err(|e| ServeError::Storage(e.to_string()))?;
        let mem = Arc::new(MemObject {
            data: Bytes::from(data),
            etag,
            last_modified,
            module: req.module.as_str().into(),
            version: req.version.as_deref().unwrap_or_default().into(),
            content_type: req.endpoint.content_type(),
            prefetch_seen: std::sync::atomic::AtomicBool::new(false),
        });
        self.memory.insert(req.rel().to_string(), Arc::clone(&mem));
        Ok(Reply::Memory { obj: mem, cache })
    }

    /// Fills one immutable object (sharing the fill with concurrent requests).
    /// Boxed, with an explicit `Send`, because a zip fill recurses into the `.mod` fill.
    fn fill_immutable(
        self: &Arc<Self>,
        req: &ModuleRequest,
    ) -> futures::future::BoxFuture<'static, Result<(), ServeError>> {
        let key = req.rel().to_string();
        let this = Arc::clone(self);
        let r = req.clone();
        let fills = Arc::clone(&self.fills);
        Box::pin(async move {
            fills
                .run(&key, async move {
                    // A fill that finished just before this one began has already done the work.
                    if this.is_cached(&r).await {
                        return Ok(());
                    }
                    let res = match r.endpoint {
                        Endpoint::Zip => {
                            let mut rx = this.start_zip_fill(&r);
                            match rx.wait_for(|p| !p.state.is_running()).await.map(|p| p.state.clone()) {
                                Ok(FillState::Failed(e)) => Err(e),
                                Ok(_) => Ok(()),
                                Err(_) => {
                                    Err(ServeError::BadGateway(format!("{}: the fill was abandoned", r.display())))
                                }
                            }
                        }
                        _ => this.fill_small(&r).await,
                    };
                    if let Err(e) = &res {
                        this.remember_not_found(r.rel(), e);
                        tracing::warn!(object = %r.rel(), error = %e, "fill failed");
                    }
                    res
                })
                .await
        })
    }

    async fn fetch(&self, req: &ModuleRequest) -> Result<crate::upstream::Body, ServeError> {
        self.chain_for(&req.module)?.fetch(req).await.map_err(|e| fetch_error(req, e))
    }

    async fn fill_small(&self, req: &ModuleRequest) -> Result<(), ServeError> {
        let limit = if req.endpoint == Endpoint::Mod { MAX_GO_MOD } else { MAX_SMALL };
        let data = self.fetch(req).await?.collect(limit).await.map_err(|e| fetch_error(req, e))?;
        if req.endpoint == Endpoint::Info {
            let v = info_version(&data)
                .map_err(|e| ServeError::BadGateway(format!("{}: upstream sent a bad .info: {e}", req.display())))?;
            if Some(&v) != req.version.as_ref() {
                return Err(ServeError::BadGateway(format!(
                    "{}: upstream returned info for version {v} instead of the requested version",
                    req.display()
                )));
            }
        }
        self.store.put_immutable(req.rel(), &data).await?;
        Ok(())
    }

    /// Streams the zip into a temporary file, checks it completely (zip rules, prefix, sizes,
    /// go.mod equal to the version's .mod), and only then commits it.
    async fn fill_zip(
        self: &Arc<Self>,
        req: &ModuleRequest,
        progress: &tokio::sync::watch::Sender<Progress>,
    ) -> Result<(), ServeError> {
        use tokio::io::AsyncWriteExt;
        // The .mod is needed only to verify the zip at the end: fetch it alongside.
        let mod_req = req.with_endpoint(Endpoint::Mod);
        let mod_fill = tokio::spawn(self.fill_immutable(&mod_req));
        // The temporary exists before the upstream answers, so nothing stands between the
        // first upstream byte and the first write.
        let mut tmp = self.store.temp().await?;
        let mut body = self.fetch(req).await?;
        progress.send_modify(|p| {
            p.path = Some(tmp.path.clone());
            p.total = body.len_hint();
        });
        let mut written: u64 = 0;
        let mut published: u64 = 0;
        while let Some(chunk) = body.next_chunk().await.map_err(|e| fetch_error(req, e))? {
            written += chunk.len() as u64;
            if written > MAX_ZIP_FILE {
                return Err(ServeError::BadGateway(format!("{}: zip larger than {MAX_ZIP_FILE} bytes", req.display())));
            }
            tmp.write_all(&chunk).await?;
            // Waiting readers are woken for the first bytes and then every PUBLISH_STEP bytes:
            // fewer, larger reads for them and far fewer wake-ups for a big herd. Flushed bytes
            // are in the file, where readers can see them.
            if written - published >= PUBLISH_STEP || published == 0 {
                tmp.file.flush().await?;
                progress.send_modify(|p| p.written = written);
                published = written;
            }
        }
        tmp.file.flush().await?;
        progress.send_modify(|p| {
            p.written = written;
            p.downloaded = true;
        });
        match mod_fill.await {
            Ok(r) => r?,
            Err(e) => return Err(ServeError::BadGateway(format!("{}: .mod fill failed: {e}", req.display()))),
        }
        let go_mod = self
            .store
            .read_immutable(mod_req.rel())
            .await?
            .ok_or_else(|| ServeError::Storage(format!("{} vanished after fill", mod_req.rel())))?;
        let path = tmp.path.clone();
        let (module, version) = (req.module.clone(), req.version.clone().unwrap_or_default());
        let checked = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&path)?;
            Ok::<_, std::io::Error>(gomod::zipcheck::check_zip(std::io::BufReader::new(f), &module, &version))
        })
        .await
        .map_err(|e| ServeError::Storage(format!("zip check task: {e}")))??;
        let checked = checked
            .map_err(|e| ServeError::BadGateway(format!("{}: upstream sent an invalid zip: {e}", req.display())))?;
        if let Some(zip_go_mod) = &checked.go_mod {
            if zip_go_mod != &go_mod {
                return Err(ServeError::BadGateway(format!(
                    "{}: the zip's go.mod differs from the version's .mod",
                    req.display()
                )));
            }
        }
        let outcome = self.store.commit_immutable(tmp, req.rel()).await?;
        tracing::info!(object = %req.rel(), bytes = written, h1 = %checked.h1, created = (outcome == Commit::Created), "zip committed");
        Ok(())
    }

    /// Publishes a module version from a zip body: canonical versions only, create-only (409
    /// when any of the version's objects exists), the zip checked completely before anything is
    /// committed. Returns the zip's `h1:` hash.
    pub async fn publish<S, E>(
        &self,
        req: &ModuleRequest,
        mut body: S,
        time: Option<String>,
    ) -> Result<String, ServeError>
    where
        S: futures::Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        use futures::StreamExt;
        use tokio::io::AsyncWriteExt;
        let version = req.version.clone().unwrap_or_default();
        let (mod_req, info_req) = (req.with_endpoint(Endpoint::Mod), req.with_endpoint(Endpoint::Info));
        let keys = [req.rel().to_string(), mod_req.rel().to_string(), info_req.rel().to_string()];
        let conflict =
            || ServeError::Conflict(format!("{}: this version exists; versions are never overwritten", req.display()));
        if self.any_stored(&keys).await? {
            return Err(conflict());
        }
        let time = match time {
            None => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                crate::direct::rfc3339(now.as_secs() as i64)
            }
            Some(t) => {
                rfc3339(&t).ok_or_else(|| ServeError::BadRequest(format!("publish: {t:?} is not an RFC 3339 time")))?
            }
        };
        // The body goes to a temporary file, within the limit.
        let mut tmp = self.store.temp().await?;
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ServeError::BadRequest(format!("publish: reading the body: {e}")))?;
            written += chunk.len() as u64;
            if written > self.publish_max_bytes {
                return Err(ServeError::TooLarge(format!(
                    "publish: the zip is larger than {} bytes",
                    self.publish_max_bytes
                )));
            }
            tmp.write_all(&chunk).await?;
        }
        tmp.file.flush().await?;
        let path = tmp.path.clone();
        let (module, v) = (req.module.clone(), version.clone());
        let checked = tokio::task::spawn_blocking(move || {
            let f = std::fs::File::open(&path)?;
            Ok::<_, std::io::Error>(gomod::zipcheck::check_zip(std::io::BufReader::new(f), &module, &v))
        })
        .await
        .map_err(|e| ServeError::Storage(format!("zip check task: {e}")))??
        .map_err(|e| ServeError::BadRequest(format!("publish: {}: invalid module zip: {e}", req.display())))?;
        let (_, major) = gomod::path::split_path_version(&req.module).unwrap_or((&req.module, ""));
        let go_mod = match checked.go_mod.clone() {
            Some(g) => g,
            None if major.is_empty() => gomod::zipcreate::synthesize_go_mod(&req.module),
            None => {
                return Err(ServeError::BadRequest(format!(
                    "publish: {}: a {major} module needs a go.mod in its zip",
                    req.display()
                )))
            }
        };
        if let Some(declared) = gomod::modfile::module_path(&go_mod) {
            if declared != req.module {
                return Err(ServeError::BadRequest(format!(
                    "publish: {}: the zip's go.mod declares {declared:?}",
                    req.display()
                )));
            }
        }
        let lock = {
            let mut locks = self.publish_locks.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(locks.entry(req.escaped_module().to_string()).or_default())
        };
        let _held = lock.lock().await;
        if self.any_stored(&keys).await? {
            return Err(conflict());
        }
        // The zip decides: its create-only link fails for every publisher but the first.
        if self.store.commit_immutable(tmp, req.rel()).await? == Commit::AlreadyExists {
            return Err(conflict());
        }
        self.store.put_immutable(mod_req.rel(), &go_mod).await?;
        let info = format!("{{\"Version\":\"{version}\",\"Time\":\"{time}\"}}\n");
        self.store.put_immutable(info_req.rel(), info.as_bytes()).await?;
        self.store.add_published(req.escaped_module(), &version).await?;
        self.published
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(req.escaped_module().to_string())
            .or_default()
            .push(version.clone());
        // Lists and @latest answers learn of the new version at once.
        for r in [req.with_endpoint(Endpoint::List), req.with_endpoint(Endpoint::Latest)] {
            self.negative.lock().unwrap_or_else(|p| p.into_inner()).remove(r.rel());
        }
        tracing::info!(object = %req.rel(), bytes = written, h1 = %checked.h1, "published");
        Ok(checked.h1)
    }

    async fn any_stored(&self, keys: &[String]) -> Result<bool, ServeError> {
        for k in keys {
            if self.store.open_immutable(k).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `list` and `@latest`, with the versions published here merged in: published modules are
    /// a source like any other, and the only one when no upstream knows the module.
    async fn mutable(self: &Arc<Self>, req: &ModuleRequest) -> Result<Reply, ServeError> {
        let published = match req.endpoint {
            Endpoint::List | Endpoint::Latest => self
                .published
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(req.escaped_module())
                .cloned()
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if published.is_empty() {
            return self.mutable_from_sources(req).await;
        }
        let from_sources = match self.mutable_from_sources(req).await {
            Ok(Reply::Mutable { data, cache }) => Some((data, cache)),
            Ok(other) => return Ok(other),
            Err(ServeError::NotFound { .. }) => None,
            Err(e) => {
                tracing::warn!(module = %req.module, error = %e, "sources failed; answering from published versions");
                None
            }
        };
        let cache = from_sources.as_ref().map(|(_, c)| *c).unwrap_or(CacheStatus::Hit);
        match req.endpoint {
            Endpoint::List => {
                let mut all: Vec<String> = published;
                if let Some((data, _)) = &from_sources {
                    all.extend(
                        String::from_utf8_lossy(data).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()),
                    );
                }
                all.sort_by(|a, b| gomod::semver::compare(a, b));
                all.dedup();
                let text: String = all.iter().map(|v| format!("{v}\n")).collect();
                Ok(Reply::Mutable { data: Bytes::from(text), cache })
            }
            _ => {
                // The highest release, else the highest pre-release, among published versions;
                // a source's answer wins when it is higher.
                let best = published
                    .iter()
                    .filter(|v| gomod::semver::prerelease(v).is_empty())
                    .max_by(|a, b| gomod::semver::compare(a, b))
                    .or_else(|| published.iter().max_by(|a, b| gomod::semver::compare(a, b)))
                    .cloned()
                    .unwrap_or_default();
                if let Some((data, c)) = from_sources {
                    if info_version(&data).is_ok_and(|v| gomod::semver::compare(&v, &best).is_ge()) {
                        return Ok(Reply::Mutable { data, cache: c });
                    }
                }
                let key = format!(
                    "{}/@v/{}.info",
                    req.escaped_module(),
                    gomod::path::escape_version(&best).unwrap_or_default()
                );
                let data = self
                    .store
                    .read_immutable(&key)
                    .await?
                    .ok_or_else(|| ServeError::Storage(format!("{key}: published but missing")))?;
                Ok(Reply::Mutable { data: Bytes::from(data), cache })
            }
        }
    }

    async fn mutable_from_sources(self: &Arc<Self>, req: &ModuleRequest) -> Result<Reply, ServeError> {
        let key = req.rel().to_string();
        let cached = self.store.get_mutable(&key).await?;
        if let Some((data, age)) = &cached {
            if *age < self.list_ttl {
                return Ok(Reply::Mutable { data: Bytes::from(data.clone()), cache: CacheStatus::Hit });
            }
        }
        if let Some(e) = self.negative_hit(&key) {
            return Err(e);
        }
        let this = Arc::clone(self);
        let r = req.clone();
        let res = self
            .answers
            .run(&key, async move {
                let res = this.fetch_answer(&r).await;
                if let Err(e) = &res {
                    this.remember_not_found(r.rel(), e);
                }
                res
            })
            .await;
        match res {
            Ok(data) => Ok(Reply::Mutable { data, cache: CacheStatus::Miss }),
            Err(e @ ServeError::NotFound { .. }) => Err(e),
            Err(e) => match cached {
                Some((data, age)) => {
                    tracing::warn!(object = %key, age_secs = age.as_secs(), error = %e, "every source failed; serving a stale answer");
                    Ok(Reply::Mutable { data: Bytes::from(data), cache: CacheStatus::Stale })
                }
                None => Err(e),
            },
        }
    }

    async fn fetch_answer(&self, req: &ModuleRequest) -> Result<Bytes, ServeError> {
        let data = self.fetch(req).await?.collect(MAX_SMALL).await.map_err(|e| fetch_error(req, e))?;
        match req.endpoint {
            Endpoint::List => {
                if std::str::from_utf8(&data).is_err() {
                    return Err(ServeError::BadGateway(format!("{}: upstream list is not UTF-8 text", req.display())));
                }
            }
            _ => {
                let v = info_version(&data).map_err(|e| {
                    ServeError::BadGateway(format!("{}: upstream sent a bad answer: {e}", req.display()))
                })?;
                if let Err(e) = gomod::path::check(&req.module, &v) {
                    return Err(ServeError::BadGateway(format!(
                        "{}: upstream resolved to an unusable version: {e}",
                        req.display()
                    )));
                }
            }
        }
        self.store.put_mutable(req.rel(), &data).await?;
        Ok(data)
    }
}

fn fetch_error(req: &ModuleRequest, e: FetchError) -> ServeError {
    match e {
        FetchError::NotFound { status, reason } => {
            ServeError::NotFound { status, reason: format!("{}: {reason}", req.display()) }
        }
        FetchError::Failed(r) => ServeError::BadGateway(format!("upstream failed: {r}")),
        FetchError::Timeout(r) => ServeError::Timeout(format!("upstream timed out: {r}")),
    }
}

/// The `Version` of an `.info` JSON object.
fn info_version(data: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "Version")]
        version: String,
    }
    let info: Info = serde_json::from_slice(data).map_err(|e| format!("not an .info JSON object: {e}"))?;
    Ok(info.version)
}

/// An RFC 3339 UTC time (`2006-01-02T15:04:05Z`) from RFC 3339 or HTTP-date input.
fn rfc3339(t: &str) -> Option<String> {
    let t = t.trim();
    if let Ok(st) = httpdate::parse_http_date(t) {
        let secs = st.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        return Some(crate::direct::rfc3339(i64::try_from(secs).ok()?));
    }
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() == 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'Z';
    shape.then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn publish_times() {
        assert_eq!(super::rfc3339("2006-01-02T15:04:05Z").as_deref(), Some("2006-01-02T15:04:05Z"));
        assert_eq!(super::rfc3339("Mon, 02 Jan 2006 15:04:05 GMT").as_deref(), Some("2006-01-02T15:04:05Z"));
        assert_eq!(super::rfc3339(" 2000-02-29T00:00:00Z ").as_deref(), Some("2000-02-29T00:00:00Z"));
        for bad in ["2006-01-02", "2006-01-02T15:04:05+01:00", "yesterday", ""] {
            assert!(super::rfc3339(bad).is_none(), "{bad}");
        }
    }
}
