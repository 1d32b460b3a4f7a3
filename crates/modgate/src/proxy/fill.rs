//! Immutable objects: found in memory or the store, else filled from the request's source —
//! one fill per object however many requests wait — verified, committed, then served. Small
//! objects move into the memory cache on their first read.

use super::progress::FillState;
use super::replicas::MyTurn;
use super::reply::{CacheStatus, Reply};
use super::service::{fetch_error, ModuleService};
use super::verify::{self, Checked};
use crate::cache::MemObject;
use crate::coord::Lease;
use crate::errors::ServeError;
use crate::request::{Endpoint, ModuleRequest};
use crate::source::SharedSource;
use crate::store::StoredObject;
use bytes::Bytes;
use futures::future::BoxFuture;
use gomod::limits::MAX_GO_MOD;
use std::sync::Arc;
use std::time::SystemTime;

/// Largest `.info`, `@latest` or `list` answer accepted from a source.
pub(super) const MAX_SMALL: u64 = 4 << 20;

/// Objects up to this size are kept in the memory cache; larger ones (zips) are streamed.
pub const MEM_OBJECT_MAX: u64 = 64 * 1024;

impl ModuleService {
    pub(super) async fn immutable(
        self: &Arc<Self>,
        req: &ModuleRequest,
        source: &SharedSource,
    ) -> Result<Reply, ServeError> {
        if let Some(reply) = self.stored(req).await? {
            return Ok(reply);
        }
        if let Some(e) = self.known_missing(req.rel()).await {
            return Err(e);
        }
        self.fill_immutable(req, source).await?;
        self.committed(req).await
    }

    /// A stored immutable object, from memory (or a commit in progress) or the store, if there
    /// is one.
    pub(super) async fn stored(&self, req: &ModuleRequest) -> Result<Option<Reply>, ServeError> {
        if let Some(obj) = self.in_memory(req.rel()) {
            return Ok(Some(Reply::Memory { obj, cache: CacheStatus::Hit }));
        }
        match self.objects.open(req.rel()).await? {
            Some(obj) => self.reply_from_store(req, obj, CacheStatus::Hit).await.map(Some),
            None => Ok(None),
        }
    }

    /// A small object held in memory: cached, or verified and still being committed.
    pub(super) fn in_memory(&self, key: &str) -> Option<Arc<MemObject>> {
        self.memory.get(key).or_else(|| self.commits.get(key))
    }

    /// A small stored object's bytes (a go.mod), from memory or the store.
    pub(super) async fn read_small(&self, key: &str, limit: u64) -> Result<Option<Bytes>, ServeError> {
        if let Some(obj) = self.in_memory(key) {
            return Ok(Some(obj.data.clone()));
        }
        Ok(self.objects.read(key, limit).await?.map(Bytes::from))
    }

    /// The object a fill just made: from memory when it is small (its commit may still be in
    /// progress), else from the store.
    pub(super) async fn committed(&self, req: &ModuleRequest) -> Result<Reply, ServeError> {
        if let Some(obj) = self.in_memory(req.rel()) {
            return Ok(Reply::Memory { obj, cache: CacheStatus::Miss });
        }
        match self.objects.open(req.rel()).await? {
            Some(obj) => self.reply_from_store(req, obj, CacheStatus::Miss).await,
            None => Err(ServeError::Storage(format!("{} was committed but cannot be read", req.rel()))),
        }
    }

    /// Small objects move into the memory cache; large ones are streamed from the store.
    async fn reply_from_store(
        &self,
        req: &ModuleRequest,
        obj: StoredObject,
        cache: CacheStatus,
    ) -> Result<Reply, ServeError> {
        if obj.len > MEM_OBJECT_MAX {
            return Ok(Reply::Object { obj, cache });
        }
        let (len, etag, modified) = (obj.len, obj.etag, obj.modified);
        let data = obj.body.read_all(MEM_OBJECT_MAX).await?;
        if data.len() as u64 != len {
            return Err(ServeError::Storage(format!("{} changed size while being read", req.rel())));
        }
        let mem = mem_object(req, Bytes::from(data), &etag, modified)?;
        self.memory.insert(req.rel().to_string(), Arc::clone(&mem));
        Ok(Reply::Memory { obj: mem, cache })
    }

    /// Fills one immutable object from `source`, sharing the fill with concurrent requests.
    /// Boxed, with an explicit `Send`, because a zip fill recurses into the `.mod` fill.
    pub(super) fn fill_immutable(
        self: &Arc<Self>,
        req: &ModuleRequest,
        source: &SharedSource,
    ) -> BoxFuture<'static, Result<(), ServeError>> {
        let key = req.rel().to_string();
        let (this, r, source) = (Arc::clone(self), req.clone(), Arc::clone(source));
        let fills = Arc::clone(&self.small_fills);
        Box::pin(async move {
            fills
                .run(&key, async move {
                    // A fill that finished just before this one began has already done the work.
                    if this.is_cached(&r).await {
                        return Ok(());
                    }
                    // Counted by the zip fill itself, which takes its own turn.
                    if r.endpoint == Endpoint::Zip {
                        return this.zip_filled(&r, &source).await.inspect_err(|e| {
                            tracing::warn!(object = %r.rel(), error = %e, "fill failed");
                        });
                    }
                    // Held until the outcome is known here: committed, or remembered as not found.
                    let mut lease = match this.my_turn(&r).await {
                        MyTurn::Ended(res) => return res,
                        MyTurn::Fill(lease) => lease,
                    };
                    let start = std::time::Instant::now();
                    let res = this.fill_small(&r, &source, &mut lease).await;
                    let size = res.as_ref().ok().copied();
                    this.fill_metrics.ended(r.endpoint.name(), outcome(&res), start.elapsed(), size);
                    let res = res.map(|_| ());
                    if let Err(e) = &res {
                        this.remember_not_found(r.rel(), e).await;
                        tracing::warn!(object = %r.rel(), error = %e, "fill failed");
                    }
                    drop(lease);
                    res
                })
                .await
        })
    }

    /// Joins (or starts) the fill of a zip and waits until it is committed.
    pub(super) async fn zip_filled(
        self: &Arc<Self>,
        req: &ModuleRequest,
        source: &SharedSource,
    ) -> Result<(), ServeError> {
        let mut rx = self.start_zip_fill(req, source);
        match rx.wait_for(|p| !p.state.is_running()).await.map(|p| p.state.clone()) {
            Ok(FillState::Failed(e)) => Err(e),
            Ok(_) => Ok(()),
            Err(_) => Err(ServeError::BadGateway(format!("{}: the fill was abandoned", req.display()))),
        }
    }

    /// Fetches, checks and stores a small object; returns its size. A `lease` goes with the
    /// object's background commit, to be released when it ends.
    async fn fill_small(
        &self,
        req: &ModuleRequest,
        source: &SharedSource,
        lease: &mut Option<Lease>,
    ) -> Result<u64, ServeError> {
        let limit = if req.endpoint == Endpoint::Mod { MAX_GO_MOD } else { MAX_SMALL };
        if let (Endpoint::Mod, Some(v)) = (req.endpoint, &req.version) {
            self.checksums.prepare(&req.module, v);
        }
        let body = source.fetch(req).await.map_err(|e| fetch_error(req, e))?;
        let data = body.collect(limit).await.map_err(|e| fetch_error(req, e))?;
        match req.endpoint {
            Endpoint::Info => verify::check_info(req, &data).inspect_err(|_| self.refused("bad_info"))?,
            Endpoint::Mod => {
                let version = req.version.as_deref().unwrap_or_default();
                let what = Checked::GoMod { module: &req.module, version, data: &data };
                verify::consult(self.checksums.as_ref(), &what, req).await.inspect_err(|_| self.refused("checksum"))?;
            }
            _ => {}
        }
        let size = data.len() as u64;
        if size <= MEM_OBJECT_MAX {
            // Verified: served from memory now, made durable beside it.
            let etag = content_etag(req.rel(), &data);
            let mem = mem_object(req, data, &etag, SystemTime::now())?;
            self.memory.insert(req.rel().to_string(), Arc::clone(&mem));
            self.commits.start(req.rel(), mem, Arc::clone(&self.objects), lease.take());
            return Ok(size);
        }
        self.objects.put(req.rel(), &data).await?;
        Ok(size)
    }

    /// Counts a fill refused by verification.
    pub(super) fn refused(&self, reason: &'static str) {
        let labels = crate::obs::metrics::ReasonLabels { reason };
        self.fill_metrics.verify_failures.get_or_create(&labels).inc();
    }
}

/// A small object as the memory cache holds it, validators precomputed.
fn mem_object(
    req: &ModuleRequest,
    data: Bytes,
    etag: &str,
    modified: SystemTime,
) -> Result<Arc<MemObject>, ServeError> {
    let etag = http::HeaderValue::from_str(etag).map_err(|e| ServeError::Storage(e.to_string()))?;
    let last_modified = http::HeaderValue::from_str(&httpdate::fmt_http_date(modified))
        .map_err(|e| ServeError::Storage(e.to_string()))?;
    Ok(Arc::new(MemObject {
        data,
        etag,
        last_modified,
        module: req.module.as_str().into(),
        version: req.version.as_deref().unwrap_or_default().into(),
        content_type: req.endpoint.content_type(),
        prefetch_seen: std::sync::atomic::AtomicBool::new(false),
    }))
}

/// An entity tag from an object's key and bytes, for objects served before the store has them.
fn content_etag(key: &str, data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(data);
    format!("\"c{}\"", &hex::encode(h.finalize())[..31])
}

/// A fill's outcome as a metrics label.
pub(super) fn outcome<T>(res: &Result<T, ServeError>) -> &'static str {
    match res {
        Ok(_) => "ok",
        Err(ServeError::NotFound { .. }) => "not_found",
        Err(_) => "failed",
    }
}
