//! Fills taken in turn with the other replicas that share the store: before fetching, a
//! replica takes the object's lease (`coord::Leases`); one that finds it taken waits for the
//! commit — or for a not-found answer the holder remembered in the shared metadata — instead
//! of asking the source again.

use super::service::ModuleService;
use crate::coord::{Lease, Turn};
use crate::errors::ServeError;
use crate::request::ModuleRequest;
use std::sync::Arc;

/// What a replica does about an object it does not hold.
pub(super) enum MyTurn {
    /// Fill it, holding the lease (if any) until the fill has ended.
    Fill(Option<Lease>),
    /// Another replica ended its fill: committed, or remembered as not found.
    Ended(Result<(), ServeError>),
}

impl ModuleService {
    /// Waits until this replica may fill `req`, or another one has.
    pub(super) async fn my_turn(&self, req: &ModuleRequest) -> MyTurn {
        let Some(leases) = &self.leases else { return MyTurn::Fill(None) };
        let (objects, meta, key) = (Arc::clone(&self.objects), Arc::clone(&self.meta), req.rel());
        let ended = || {
            let (objects, meta) = (Arc::clone(&objects), Arc::clone(&meta));
            async move { matches!(objects.contains(key).await, Ok(true)) || meta.not_found(key).await.is_some() }
        };
        match leases.turn(key, ended).await {
            Turn::Lead(lease) => MyTurn::Fill(lease),
            Turn::Done => MyTurn::Ended(match self.known_missing(key).await {
                Some(e) if !matches!(self.objects.contains(key).await, Ok(true)) => Err(e),
                _ => Ok(()),
            }),
        }
    }
}
