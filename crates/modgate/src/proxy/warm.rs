//! Dependency-aware prefetch. The go command walks a module graph largely one request at a
//! time; when modgate serves a go.mod it often knows the next requests, so it warms them in
//! parallel. It predicts what the go command loads, not the requirement closure:
//! - module graph pruning (go 1.17): the go command reads the go.mod of a module's
//!   requirements only when that module is unpruned (no `go` line, or below 1.17) — and then of
//!   everything below it, pruned or not. A pruned module's requirements are listed in the main
//!   module when a build needs them, and asked for from there. So only go.mod files of unpruned
//!   modules, and of everything below one, are expanded: their `.mod`, and their `.info` when
//!   the version is the highest of its path seen so far (see below);
//! - a version's `.info` is warmed after its `.mod` when the go command reached it directly
//!   (it downloads those: `.info`, then the zip), not below an unpruned module, where most
//!   versions are old ones minimal version selection never picks;
//! - a pruned module's requirements are in the build list (and downloaded by `go mod download
//!   all`: `.mod`, `.info`, zip) at the version minimal version selection picks, so each is
//!   warmed (`.mod` and `.info`, no deeper) only when it is the highest version of its path
//!   seen so far. These are guesses: together they stay within a quarter of the `.mod` and
//!   `.info` clients asked for (plus a few), so a client that never downloads them (plain
//!   `go mod download`, builds) costs little. Guesses clients do ask for earn two more each
//!   (`go mod download all` asks for nearly all of them); guesses over the budget wait in a
//!   bounded queue for their turn, and are dropped if a higher version of their path shows up.
//!   None goes before a client has asked for a `.info`: until then it is loading its module
//!   graph, asking for its main module's requirements, usually at higher versions than those
//!   its dependencies name (on a real project, most guesses made then were overtaken so).
//!
//! What clients then ask for is counted (`Prefetcher::client_asked`): warmed objects used,
//! objects missed (filled by the client's own request), waste (warmed, never asked for) — a
//! summary at debug level every 256 client requests.
//!
//! It is a guess, never a cost: it runs after the reply on its own tasks, holds a bounded
//! number of source fetches (the prefetcher's permits), stops at a configured depth, expands
//! each go.mod at most once per process, respects routes, and shares fills with client
//! requests through the single flight.

use super::prefetch::{Asked, Guess};
use super::reply::{CacheStatus, Reply};
use super::service::ModuleService;
use crate::errors::ServeError;
use crate::request::{Endpoint, ModuleRequest};
use crate::source::SharedSource;
use futures::future::BoxFuture;
use gomod::limits::MAX_GO_MOD;
use std::sync::Arc;

impl ModuleService {
    /// Learns from a client's request for an immutable object (its answer): a used guess
    /// frees budget for the guesses waiting for it.
    pub(super) fn learn(self: &Arc<Self>, req: &ModuleRequest, reply: &Result<Reply, ServeError>) {
        let Ok(reply) = reply else { return };
        if !self.prefetcher.cfg().enabled {
            return;
        }
        let filled_now = reply.cache_status() == CacheStatus::Miss;
        if let Asked::Used { guess: true } = self.prefetcher.client_asked(req.rel(), filled_now) {
            self.release_deferred();
        }
    }

    /// Called after a go.mod was served: warms what the go command will ask for next.
    pub(super) fn after_go_mod(self: &Arc<Self>, req: &ModuleRequest, source: &SharedSource) {
        if !self.prefetcher.expands() || req.endpoint != Endpoint::Mod {
            return;
        }
        self.prefetcher.count_asked();
        self.release_deferred();
        let below_unpruned = self.prefetcher.below_unpruned(req.rel());
        if let Some(v) = &req.version {
            self.prefetcher.at_least_highest(&req.module, v);
        }
        // The go command asks for a version's .info right after its .mod when it downloads it.
        let own_info = req.with_endpoint(Endpoint::Info);
        if !below_unpruned && self.prefetcher.first_expansion(own_info.rel()) {
            let (this, source2) = (Arc::clone(self), Arc::clone(source));
            tokio::spawn(async move {
                this.warm_if_missing(&own_info, &source2, false).await;
            });
        }
        let (this, req) = (Arc::clone(self), req.clone());
        tokio::spawn(async move {
            let Some(f) = this.stored_go_mod(&req).await else { return };
            if !this.prefetcher.first_expansion(req.rel()) {
                return;
            }
            let expands = below_unpruned || !f.go_at_least("1.17");
            let requirements = f.require.into_iter().map(|r| (r.path, r.version)).collect();
            if expands {
                let depth = this.prefetcher.cfg().depth;
                this.expand(requirements, depth).await;
            } else {
                this.warm_selected(requirements);
            }
        });
    }

    /// A stored go.mod, parsed (`None` when it is not there or does not parse: nothing is
    /// guessed from it).
    async fn stored_go_mod(&self, req: &ModuleRequest) -> Option<gomod::modfile::ModFile> {
        let data = self.read_small(req.rel(), MAX_GO_MOD).await.ok()??;
        gomod::modfile::parse_lax(&data).ok()
    }

    /// Warms the `.mod` and `.info` of a pruned go.mod's requirements that are the highest
    /// version of their path seen so far: those minimal version selection will pick.
    fn warm_selected(self: &Arc<Self>, requirements: Vec<(String, String)>) {
        for (path, version) in requirements {
            if !self.prefetcher.at_least_highest(&path, &version) {
                continue;
            }
            let Some(req) = ModuleRequest::for_version(&path, &version, Endpoint::Mod) else { continue };
            self.guess(Guess { req, endpoints: &[Endpoint::Mod, Endpoint::Info] });
        }
    }

    /// Warms a guess now if the budget allows, else keeps it until clients show that guesses
    /// are used (or ask for more).
    fn guess(self: &Arc<Self>, g: Guess) {
        if self.prefetcher.take_guess() {
            self.warm_guess(g);
        } else {
            self.prefetcher.defer(g);
        }
    }

    fn warm_guess(self: &Arc<Self>, g: Guess) {
        // Never for modules a route refuses.
        let Ok(source) = self.routes.load().resolve(&g.req.module).map(Arc::clone) else { return };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            for e in g.endpoints {
                this.warm_if_missing(&g.req.with_endpoint(*e), &source, true).await;
            }
        });
    }

    /// Warms the deferred guesses the budget now allows.
    pub(super) fn release_deferred(self: &Arc<Self>) {
        while let Some(g) = self.prefetcher.next_deferred() {
            self.warm_guess(g);
        }
    }

    /// Called after a canonical version's `.info` was served: the go command asks for the
    /// `.info` of every module in the build list before it downloads their zips (`go mod
    /// download`, `go get`, builds with an empty module cache), so the zip is warmed now, in
    /// parallel with the others, instead of one round trip at a time later. Off with
    /// `prefetch.zips = false`.
    pub(super) fn after_info(self: &Arc<Self>, req: &ModuleRequest, source: &SharedSource) {
        if req.endpoint != Endpoint::Info {
            return;
        }
        if self.prefetcher.expands() && self.prefetcher.client_downloads() {
            self.release_deferred();
        }
        // Nothing to warm from when the module's sources are only `off`.
        if !self.prefetcher.warms_zips() || !source.can_answer() {
            return;
        }
        self.prefetcher.count_asked();
        self.release_deferred();
        let zip = req.with_endpoint(Endpoint::Zip);
        // Cheap checks first: most .info hits are for modules whose zip is long cached.
        if !self.prefetcher.first_expansion(zip.rel()) {
            return;
        }
        let (this, source) = (Arc::clone(self), Arc::clone(source));
        tokio::spawn(async move {
            if this.warm_if_missing(&zip, &source, false).await {
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
    /// the source is asked; `guess` says what kind of prediction it was, for learning. True
    /// when it was filled now.
    async fn warm_if_missing(self: &Arc<Self>, r: &ModuleRequest, source: &SharedSource, guess: bool) -> bool {
        if self.is_cached(r).await || self.known_missing(r.rel()).await.is_some() {
            return false;
        }
        let Ok(_permit) = Arc::clone(&self.prefetcher.permits).acquire_owned().await else { return false };
        self.prefetcher.warming(r.rel(), guess);
        match self.warm(r, source).await {
            Ok(()) => true,
            Err(e) => {
                self.prefetcher.warm_failed(r.rel());
                tracing::debug!(object = %r.rel(), error = %e, "prefetch failed");
                false
            }
        }
    }

    /// Warms the go.mod files of `requirements` (those of a go.mod whose expansion the caller
    /// has claimed, and which is unpruned or below an unpruned module: the go command loads all
    /// of them), each from the source its own route names, and theirs in turn.
    fn expand(self: Arc<Self>, requirements: Vec<(String, String)>, depth: u32) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if depth == 0 {
                return;
            }
            for (path, version) in requirements {
                let Some(dep) = ModuleRequest::for_version(&path, &version, Endpoint::Mod) else { continue };
                // Never for modules a route refuses.
                let Ok(source) = self.routes.load().resolve(&dep.module).map(Arc::clone) else { continue };
                self.prefetcher.mark_unpruned(dep.rel());
                // Its .info too when minimal version selection may pick it (it is then downloaded).
                if self.prefetcher.at_least_highest(&path, &version) {
                    self.guess(Guess { req: dep.with_endpoint(Endpoint::Info), endpoints: &[Endpoint::Info] });
                }
                let this = Arc::clone(&self);
                tokio::spawn(async move {
                    if this.warm_if_missing(&dep, &source, false).await {
                        tracing::debug!(module = %dep.display(), "prefetched");
                    }
                    if let Some(f) = this.stored_go_mod(&dep).await {
                        if this.prefetcher.first_expansion(dep.rel()) {
                            let below = f.require.into_iter().map(|r| (r.path, r.version)).collect();
                            this.expand(below, depth - 1).await;
                        }
                    }
                });
            }
        })
    }
}

#[cfg(test)]
mod tests {
    /// Unpruned: no `go` line, or one below 1.17.
    fn unpruned(go_mod: &[u8]) -> bool {
        gomod::modfile::parse_lax(go_mod).is_ok_and(|f| !f.go_at_least("1.17"))
    }

    #[test]
    fn pruning_follows_the_go_line() {
        assert!(unpruned(b"module m\n"));
        assert!(unpruned(b"module m\n\ngo 1.16\n"));
        assert!(!unpruned(b"module m\n\ngo 1.17\n"));
        assert!(!unpruned(b"module m\n\ngo 1.21.0\n"));
        // An unparsable go.mod is never expanded (nothing is guessed from it).
        assert!(gomod::modfile::parse_lax(b"module m\ngo 1.21\nrequire (\n").is_err());
    }
}
