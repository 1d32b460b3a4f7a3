//! Dependency-aware prefetch. The go command walks a module graph largely one request at a
//! time; when modgate serves a go.mod it already knows the next requests, so it warms the
//! requirements' `.mod` and `.info` in parallel, and theirs in turn as they arrive.
//!
//! It is a guess, never a cost: it runs after the reply on its own tasks, holds a bounded
//! number of source fetches (the prefetcher's permits), stops at a configured depth, expands
//! each go.mod at most once per process, respects routes, and shares fills with client
//! requests through the single flight.

use super::service::ModuleService;
use crate::errors::ServeError;
use crate::request::{Endpoint, ModuleRequest};
use crate::source::SharedSource;
use futures::future::BoxFuture;
use gomod::limits::MAX_GO_MOD;
use std::sync::Arc;

impl ModuleService {
    /// Called after a go.mod was served: warms its requirements in the background.
    pub(super) fn after_go_mod(self: &Arc<Self>, req: &ModuleRequest, source: &SharedSource) {
        if !self.prefetcher.expands() || req.endpoint != Endpoint::Mod {
            return;
        }
        if !self.prefetcher.first_expansion(req.rel()) {
            return;
        }
        let depth = self.prefetcher.cfg.depth;
        // The go command asks for a version's .info right after its .mod (go mod download, go get).
        let own_info = req.with_endpoint(Endpoint::Info);
        let (this, source2) = (Arc::clone(self), Arc::clone(source));
        tokio::spawn(async move {
            this.warm_if_missing(&own_info, &source2).await;
        });
        tokio::spawn(Arc::clone(self).expand(req.clone(), depth));
    }

    /// Called after a canonical version's `.info` was served: the go command asks for the
    /// `.info` of every module in the build list before it downloads their zips (`go mod
    /// download`, `go get`, builds with an empty module cache), so the zip is warmed now, in
    /// parallel with the others, instead of one round trip at a time later. Off with
    /// `prefetch.zips = false`.
    pub(super) fn after_info(self: &Arc<Self>, req: &ModuleRequest, source: &SharedSource) {
        // Nothing to warm from when the module's sources are only `off`.
        if !self.prefetcher.warms_zips() || req.endpoint != Endpoint::Info || !source.can_answer() {
            return;
        }
        let zip = req.with_endpoint(Endpoint::Zip);
        // Cheap checks first: most .info hits are for modules whose zip is long cached.
        if !self.prefetcher.first_expansion(zip.rel()) {
            return;
        }
        let (this, source) = (Arc::clone(self), Arc::clone(source));
        tokio::spawn(async move {
            if this.warm_if_missing(&zip, &source).await {
                tracing::debug!(object = %zip.rel(), "zip prefetched");
            }
        });
    }

    /// Fills an immutable object without answering anyone. Zips join the same single flight as
    /// client requests, and are waited for until committed.
    pub(super) async fn warm(self: &Arc<Self>, req: &ModuleRequest, source: &SharedSource) -> Result<(), ServeError> {
        if req.endpoint == Endpoint::Zip {
            return self.zip_filled(req, source).await;
        }
        self.fill_immutable(req, source).await
    }

    /// Fills one object unless it is stored or known missing, holding a prefetch permit while
    /// the source is asked. True when it was filled now.
    async fn warm_if_missing(self: &Arc<Self>, r: &ModuleRequest, source: &SharedSource) -> bool {
        if self.is_cached(r).await || self.known_missing(r.rel()).await.is_some() {
            return false;
        }
        let Ok(_permit) = Arc::clone(&self.prefetcher.permits).acquire_owned().await else { return false };
        match self.warm(r, source).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(object = %r.rel(), error = %e, "prefetch failed");
                false
            }
        }
    }

    /// Warms the requirements of `req`'s go.mod (whose expansion the caller has claimed), each
    /// from the source its own route names.
    fn expand(self: Arc<Self>, req: ModuleRequest, depth: u32) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if depth == 0 {
                return;
            }
            let Ok(Some(go_mod)) = self.objects.read(req.rel(), MAX_GO_MOD).await else { return };
            for (path, version) in gomod::modfile::requires(&go_mod) {
                let Some(dep) = ModuleRequest::for_version(&path, &version, Endpoint::Mod) else { continue };
                // Never for modules a route refuses.
                let Ok(source) = self.routes.resolve(&dep.module).map(Arc::clone) else { continue };
                let this = Arc::clone(&self);
                tokio::spawn(async move {
                    let mut filled = false;
                    for r in [dep.clone(), dep.with_endpoint(Endpoint::Info)] {
                        filled |= this.warm_if_missing(&r, &source).await;
                    }
                    if filled {
                        tracing::debug!(module = %dep.display(), "prefetched");
                    }
                    if this.prefetcher.first_expansion(dep.rel()) {
                        this.expand(dep, depth - 1).await;
                    }
                });
            }
        })
    }
}
