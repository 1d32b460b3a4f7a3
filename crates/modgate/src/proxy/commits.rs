//! Commits off the client's critical path. A small object (`.info`, `.mod`) that passed its
//! checks is answered from memory at once while its commit to the store (write, sync, link,
//! directory sync) completes beside it. Until the commit ends the object stays readable here,
//! whatever the memory cache evicts, so every reader sees it; a crash before the commit ends
//! loses it, and the next request fetches it again. Nothing unverified is ever held here.

use crate::cache::MemObject;
use crate::coord::Lease;
use crate::store::ObjectStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

#[derive(Clone)]
pub(super) struct Commits {
    inner: Arc<Inner>,
}

struct Inner {
    pending: Mutex<HashMap<String, Arc<MemObject>>>,
    /// How many commits are in progress, for `settle`.
    count: watch::Sender<usize>,
}

impl Default for Commits {
    fn default() -> Self {
        let (count, _) = watch::channel(0);
        Self { inner: Arc::new(Inner { pending: Mutex::new(HashMap::new()), count }) }
    }
}

impl Commits {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<MemObject>>> {
        self.inner.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A verified object whose commit is in progress.
    pub fn get(&self, key: &str) -> Option<Arc<MemObject>> {
        self.pending().get(key).cloned()
    }

    /// Commits `obj` under `key` in the background, holding `lease` (the fill's turn among
    /// replicas) until the commit ends, so that a replica waiting on it finds the object.
    pub fn start(&self, key: &str, obj: Arc<MemObject>, objects: Arc<dyn ObjectStore>, lease: Option<Lease>) {
        let data = obj.data.clone();
        if self.pending().insert(key.to_string(), obj).is_some() {
            // Already being committed: the first commit carries it.
            return;
        }
        self.inner.count.send_modify(|n| *n += 1);
        let (this, key) = (self.clone(), key.to_string());
        tokio::spawn(async move {
            if let Err(e) = objects.put(&key, &data).await {
                tracing::warn!(object = %key, error = %e, "commit failed: served from memory, fetched again when evicted");
            }
            drop(lease);
            this.pending().remove(&key);
            this.inner.count.send_modify(|n| *n -= 1);
        });
    }

    /// Waits until every commit started so far has ended (graceful shutdown, tests).
    pub async fn settle(&self) {
        let mut rx = self.inner.count.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}
