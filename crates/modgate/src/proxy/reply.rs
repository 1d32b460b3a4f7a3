//! What the module service answers with, for the HTTP layer to turn into a response.

use super::progress::Progress;
use crate::cache::MemObject;
use crate::store::{ReadAt, StoredObject};
use bytes::Bytes;
use std::sync::Arc;

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

pub enum Reply {
    /// A zip still being filled, followed through its staged bytes as they grow; the final
    /// byte is held back until the zip is verified and committed.
    Stream { reader: Arc<dyn ReadAt>, progress: tokio::sync::watch::Receiver<Progress>, total: Option<u64> },
    /// A committed immutable object, to stream from storage.
    Object { obj: StoredObject, cache: CacheStatus },
    /// A small committed immutable object from memory.
    Memory { obj: Arc<MemObject>, cache: CacheStatus },
    /// A mutable answer (list, latest, query info).
    Mutable { data: Bytes, cache: CacheStatus },
}

impl Reply {
    pub fn cache_status(&self) -> CacheStatus {
        match self {
            Reply::Stream { .. } => CacheStatus::Miss,
            Reply::Object { cache, .. } | Reply::Memory { cache, .. } | Reply::Mutable { cache, .. } => *cache,
        }
    }
}
