//! Dependency-aware prefetch. The go command walks a module graph largely one request at a
//! time; when modgate serves a go.mod it already knows the next requests, so it warms the
//! requirements' `.mod` and `.info` in parallel, and theirs in turn as they arrive.
//!
//! It is a guess, never a cost: it runs after the reply on its own tasks, holds a bounded
//! number of upstream fetches (a semaphore), stops at a configured depth, expands each go.mod at
//! most once per process, and shares fills with client requests through the single flight.

use crate::config::PrefetchConfig;
use crate::route::{Endpoint, ModuleRequest};
use crate::service::Service;
use futures::future::BoxFuture;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Upper bound on remembered expansions before the memory is cleared.
const MAX_EXPANDED: usize = 200_000;

pub struct Prefetcher {
    cfg: PrefetchConfig,
    permits: Arc<Semaphore>,
    expanded: Mutex<HashSet<String>>,
}

impl Prefetcher {
    pub fn new(cfg: PrefetchConfig) -> Self {
        let permits = Arc::new(Semaphore::new(cfg.concurrency.max(1)));
        Self { cfg, permits, expanded: Mutex::new(HashSet::new()) }
    }

    pub fn enabled(&self) -> bool {
        self.cfg.enabled && self.cfg.depth > 0
    }

    /// True the first time a go.mod is expanded. Called on every served go.mod, so a repeat
    /// costs one lookup and no allocation.
    fn first_expansion(&self, key: &str) -> bool {
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

/// Called after a go.mod was served: warms its requirements in the background.
pub fn after_go_mod(svc: &Arc<Service>, req: &ModuleRequest) {
    if !svc.prefetcher.enabled() || req.endpoint != Endpoint::Mod {
        return;
    }
    if !svc.prefetcher.first_expansion(req.rel()) {
        return;
    }
    let depth = svc.prefetcher.cfg.depth;
    // The go command asks for a version's .info right after its .mod (go mod download, go get).
    let own_info = req.with_endpoint(Endpoint::Info);
    let svc2 = Arc::clone(svc);
    tokio::spawn(async move {
        warm_if_missing(&svc2, &own_info).await;
    });
    tokio::spawn(expand(Arc::clone(svc), req.clone(), depth));
}

/// Called after a canonical version's `.info` was served: the go command asks for the `.info`
/// of every module in the build list before it downloads their zips (`go mod download`, `go
/// get`, builds with an empty module cache), so the zip is warmed now, in parallel with the
/// others, instead of one round trip at a time later. Off with `prefetch.zips = false`.
pub fn after_info(svc: &Arc<Service>, req: &ModuleRequest) {
    if !svc.prefetcher.cfg.enabled || !svc.prefetcher.cfg.zips || req.endpoint != Endpoint::Info {
        return;
    }
    // Nothing to warm from when the module's sources are only `off`.
    if !svc.chain_for(&req.module).is_ok_and(|c| c.has_sources()) {
        return;
    }
    let zip = req.with_endpoint(Endpoint::Zip);
    // Cheap checks first: most .info hits are for modules whose zip is long cached.
    if svc.is_known_missing(&zip) || !svc.prefetcher.first_expansion(zip.rel()) {
        return;
    }
    let svc = Arc::clone(svc);
    tokio::spawn(async move {
        if warm_if_missing(&svc, &zip).await {
            tracing::debug!(object = %zip.rel(), "zip prefetched");
        }
    });
}

/// Fills one object unless it is stored or known missing, holding a prefetch permit while the
/// source is asked. True when it was filled now.
async fn warm_if_missing(svc: &Arc<Service>, r: &ModuleRequest) -> bool {
    if svc.is_cached(r).await || svc.is_known_missing(r) {
        return false;
    }
    let Ok(_permit) = svc.prefetcher.permits.acquire().await else { return false };
    match svc.warm(r).await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(object = %r.rel(), error = %e, "prefetch failed");
            false
        }
    }
}

/// Warms the requirements of `req`'s go.mod (whose expansion the caller has claimed).
fn expand(svc: Arc<Service>, req: ModuleRequest, depth: u32) -> BoxFuture<'static, ()> {
    Box::pin(async move {
        if depth == 0 {
            return;
        }
        let Ok(Some(go_mod)) = svc.store.read_immutable(req.rel()).await else { return };
        for (path, version) in gomod::modfile::requires(&go_mod) {
            let Some(dep) = ModuleRequest::for_version(&path, &version, Endpoint::Mod) else { continue };
            // Never for modules a route refuses.
            if svc.chain_for(&dep.module).is_err() {
                continue;
            }
            let svc = Arc::clone(&svc);
            tokio::spawn(async move {
                let mut filled = false;
                for r in [dep.clone(), dep.with_endpoint(Endpoint::Info)] {
                    filled |= warm_if_missing(&svc, &r).await;
                }
                if filled {
                    tracing::debug!(module = %dep.display(), "prefetched");
                }
                if svc.prefetcher.first_expansion(dep.rel()) {
                    expand(svc, dep, depth - 1).await;
                }
            });
        }
    })
}
