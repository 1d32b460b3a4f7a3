//! The cache's storage, behind two seams:
//! - [`ObjectStore`]: **immutable** objects (canonical `.info`, `.mod`, `.zip`). An object is
//!   staged, written, verified by the caller, then committed create-only: readers see all of
//!   it or none of it, and a second writer loses quietly instead of overwriting.
//! - [`MetaStore`]: **mutable** state — `list`, `@latest` and query answers with their age,
//!   the short memory of not-found answers, and the index of published versions.
//!
//! `local` keeps both on the local disk (the default); `memory` keeps them in memory (tests,
//! ephemeral runs). An object-store backend implements `ObjectStore` with conditional
//! create; a shared cache implements `MetaStore`.

pub mod cached;
pub mod local;
pub mod local_meta;
pub mod memory;
pub mod not_found;
pub mod read_at;
pub mod s3;
pub mod usage;

pub use read_at::{ReadAt, ReadAtCursor};
pub use usage::StoreUsage;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Outcome of a create-only commit.
#[derive(Debug, PartialEq, Eq)]
pub enum Commit {
    Created,
    /// Another writer committed first; its object stands.
    AlreadyExists,
}

/// A committed object as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    /// When it was committed.
    pub modified: SystemTime,
}

/// A committed object, open for reading.
pub struct StoredObject {
    pub len: u64,
    /// A strong validator: stable for the life of this committed object.
    pub etag: String,
    pub modified: SystemTime,
    pub body: Box<dyn ObjectBody>,
}

/// The bytes of a committed object.
pub trait ObjectBody: Send + 'static {
    /// Bytes `[start, start + count)`, in chunks.
    fn range(self: Box<Self>, start: u64, count: u64) -> BoxStream<'static, io::Result<Bytes>>;
    /// The whole object, refusing more than `limit` bytes (small objects only).
    fn read_all(self: Box<Self>, limit: u64) -> BoxFuture<'static, io::Result<Vec<u8>>>;
    /// The bytes, when they are already in memory (a small object a bucket sent whole).
    fn in_memory(&self) -> Option<Bytes> {
        None
    }
}

/// An object being written. Dropped without a commit, it leaves nothing behind.
#[async_trait::async_trait]
pub trait Staged: Send {
    async fn write(&mut self, data: &[u8]) -> io::Result<()>;
    /// Makes everything written so far readable through [`Staged::reader`].
    async fn flush(&mut self) -> io::Result<()>;
    /// Positioned reads of what has been written: for clients that follow a fill, and for
    /// verifying the object before it is committed.
    fn reader(&mut self) -> io::Result<Arc<dyn ReadAt>>;
    /// Makes the object visible under `key`, unless one is there already (create-only).
    async fn commit(self: Box<Self>, key: &str) -> io::Result<Commit>;
}

/// Immutable objects by key (the escaped path relative to a proxy base, e.g.
/// `golang.org/x/text/@v/v0.3.0.zip`).
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync {
    /// A committed object, or `None` if there is none under `key`.
    async fn open(&self, key: &str) -> io::Result<Option<StoredObject>>;
    /// A new object to write.
    async fn stage(&self) -> io::Result<Box<dyn Staged>>;
    /// The keys of committed objects that start with `prefix`, in no particular order.
    async fn list(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// The committed objects whose keys start with `prefix`, with their sizes and commit times.
    async fn entries(&self, prefix: &str) -> io::Result<Vec<Listed>> {
        let mut out = Vec::new();
        for key in self.list(prefix).await? {
            if let Some(o) = self.open(&key).await? {
                out.push(Listed { key, size: o.len, modified: o.modified });
            }
        }
        Ok(out)
    }
    /// Whether a committed object is under `key` (no bytes read).
    async fn contains(&self, key: &str) -> io::Result<bool> {
        Ok(self.validators(key).await?.is_some())
    }
    /// A committed object's `ETag` and modification time (no bytes read).
    async fn validators(&self, key: &str) -> io::Result<Option<(String, SystemTime)>> {
        Ok(self.open(key).await?.map(|o| (o.etag, o.modified)))
    }
    /// Deletes a committed object (garbage collection); returns its size, or `None` when there
    /// was none. A reader that has it open reads on to the end: the disk keeps an unlinked
    /// file's bytes while it is open, and a bucket finishes a read it has begun.
    async fn delete(&self, key: &str) -> io::Result<Option<u64>>;
    /// A committed object as the store of record holds it, past any cache in front (what a
    /// re-verify checks).
    async fn open_origin(&self, key: &str) -> io::Result<Option<StoredObject>> {
        self.open(key).await
    }
    /// Readies a committed object for many readers here (a cache in front of a shared store
    /// copies it to the local disk now, so that they do not each read it from afar).
    async fn prepare(&self, _key: &str) -> io::Result<()> {
        Ok(())
    }
    /// Whether the store can be written and read now (what `/readyz` reports).
    async fn check_ready(&self) -> io::Result<()>;

    /// What the store holds, when it keeps count (`/metrics`).
    fn usage(&self) -> Option<StoreUsage> {
        None
    }

    /// A small committed object, whole.
    async fn read(&self, key: &str, limit: u64) -> io::Result<Option<Vec<u8>>> {
        match self.open(key).await? {
            Some(obj) => obj.body.read_all(limit).await.map(Some),
            None => Ok(None),
        }
    }

    /// Commits a small object from memory (create-only).
    async fn put(&self, key: &str, data: &[u8]) -> io::Result<Commit> {
        let mut staged = self.stage().await?;
        staged.write(data).await?;
        staged.commit(key).await
    }
}

/// A remembered not-found answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    pub status: u16,
    pub reason: String,
}

/// Mutable state: answers that age, not-found answers that expire, and what was published.
#[async_trait::async_trait]
pub trait MetaStore: Send + Sync {
    /// A mutable answer and how old it is.
    async fn answer(&self, key: &str) -> io::Result<Option<(Bytes, Duration)>>;
    /// Replaces a mutable answer atomically.
    async fn put_answer(&self, key: &str, data: &[u8]) -> io::Result<()>;

    /// A not-found answer remembered for `key` that has not expired.
    async fn not_found(&self, key: &str) -> Option<NotFound>;
    /// Remembers a not-found answer for `ttl`.
    async fn remember_not_found(&self, key: &str, answer: NotFound, ttl: Duration);
    /// Forgets a not-found answer (something was published under `key`).
    async fn forget_not_found(&self, key: &str);

    /// The versions published here for a module (escaped path), in publish order.
    async fn published(&self, escaped_module: &str) -> io::Result<Vec<String>>;
    /// Adds a version to a module's published index (the caller serializes per module).
    async fn add_published(&self, escaped_module: &str, version: &str) -> io::Result<()>;

    /// Forgets a module's mutable answers (`list`, `@latest`, queries) and its remembered
    /// not-found answers, so the next request asks a source; returns how many answers went.
    async fn purge(&self, escaped_module: &str) -> io::Result<u64>;

    /// A piece of the operators' state by name (the quarantine), kept until replaced.
    async fn state(&self, name: &str) -> io::Result<Option<Bytes>>;
    /// Replaces a piece of the operators' state atomically (durably; it never expires).
    async fn put_state(&self, name: &str, data: &[u8]) -> io::Result<()>;
}

/// Whether a mutable-answer or not-found key (`<module>/@v/...`, `<module>/@latest`) belongs to
/// `escaped_module` itself, not to a module nested under it.
pub fn answer_of(key: &str, escaped_module: &str) -> bool {
    match key.strip_prefix(escaped_module) {
        Some("/@latest") => true,
        Some(rest) => rest.strip_prefix("/@v/").is_some_and(|r| !r.is_empty() && !r.contains('/')),
        None => false,
    }
}
