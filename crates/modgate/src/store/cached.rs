//! A local read-through cache in front of a shared store (`[storage] local_cache_mb`): objects
//! read from the bucket, or committed to it by this replica, are kept on the local disk too,
//! up to a size, the least recently used leaving first. A hit is served like the local store's
//! (a file, positioned reads) and needs the bucket neither to answer nor to be up.
//!
//! A miss is served from the bucket while a copy is made beside it; an object this replica
//! commits is copied from its staged file. Copies are made create-only in the local store, so
//! a copy is either whole or absent, and the bucket stays the one truth: the cache holds only
//! committed, verified objects, which never change.

use super::local::LocalObjects;
use super::{Commit, ObjectStore, ReadAt, Staged, StoreUsage, StoredObject};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct CachedObjects {
    remote: Arc<dyn ObjectStore>,
    local: Arc<LocalObjects>,
    /// The bucket's validators of each local copy (`<dir>/validators/<key>`: the ETag, then the
    /// modification time in nanoseconds), so that a client sees the same `ETag` and
    /// `Last-Modified` from the copy as from the bucket, and an `If-Range` holds across both.
    validators: Arc<PathBuf>,
    index: Arc<Mutex<Lru>>,
    /// Keys being copied from the bucket now.
    copying: Arc<Mutex<HashSet<String>>>,
}

/// Which objects the cache holds, their sizes, and the order they were last used in.
#[derive(Default)]
struct Lru {
    entries: HashMap<String, (u64, u64)>,
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: u64,
    limit: u64,
}

impl Lru {
    fn touch(&mut self, key: &str) {
        self.tick += 1;
        let tick = self.tick;
        if let Some((_, t)) = self.entries.get_mut(key) {
            self.order.remove(t);
            *t = tick;
            self.order.insert(tick, key.to_string());
        }
    }

    fn forget(&mut self, key: &str) {
        if let Some((size, t)) = self.entries.remove(key) {
            self.order.remove(&t);
            self.bytes -= size;
        }
    }

    /// Adds an object; returns the keys to remove to stay within the limit.
    fn insert(&mut self, key: &str, size: u64) -> Vec<String> {
        if self.entries.contains_key(key) {
            self.touch(key);
            return Vec::new();
        }
        self.tick += 1;
        self.entries.insert(key.to_string(), (size, self.tick));
        self.order.insert(self.tick, key.to_string());
        self.bytes += size;
        let mut evicted = Vec::new();
        while self.bytes > self.limit {
            let Some((_, oldest)) = self.order.pop_first() else { break };
            if let Some((size, _)) = self.entries.remove(&oldest) {
                self.bytes -= size;
            }
            evicted.push(oldest);
        }
        evicted
    }
}

impl CachedObjects {
    /// `remote` with a cache of `limit` bytes under `dir` (kept across restarts).
    pub fn new(remote: Arc<dyn ObjectStore>, dir: &Path, limit: u64) -> io::Result<Self> {
        let local = Arc::new(LocalObjects::open(dir)?);
        let mut lru = Lru { limit, ..Lru::default() };
        let mut evicted = Vec::new();
        for (key, size) in local.sizes()? {
            evicted.extend(lru.insert(&key, size));
        }
        let validators = Arc::new(dir.join("validators"));
        let me = Self { remote, local, validators, index: Arc::new(Mutex::new(lru)), copying: Arc::default() };
        for key in evicted {
            me.evict(&key);
        }
        Ok(me)
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a committed object, read from `src`, in the local store, with the bucket's
    /// validators beside it (written before the copy is committed: a copy without them is not
    /// used).
    async fn keep(&self, key: String, src: Source) -> io::Result<()> {
        let mut staged = self.local.stage().await?;
        let (size, (etag, modified)) = match src {
            Source::Bytes(bytes, validators) => {
                staged.write(&bytes).await?;
                (bytes.len() as u64, validators)
            }
            Source::Staged(reader, size) => {
                let Some(validators) = self.remote.validators(&key).await? else { return Ok(()) };
                copy_staged(reader, size, staged.as_mut()).await?;
                (size, validators)
            }
            Source::Remote => {
                let Some(remote) = self.remote.open(&key).await? else { return Ok(()) };
                if remote.len > self.index().limit / 4 {
                    return Ok(());
                }
                let mut body = remote.body.range(0, remote.len);
                while let Some(chunk) = body.next().await {
                    staged.write(&chunk?).await?;
                }
                (remote.len, (remote.etag, remote.modified))
            }
        };
        let nanos = modified.duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let sidecar = self.validators.join(&key);
        if let Some(parent) = sidecar.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::write(&sidecar, format!("{etag}\n{nanos}\n")).await?;
        if staged.commit(&key).await? == Commit::Created {
            let evicted = self.index().insert(&key, size);
            for k in evicted {
                self.evict(&k);
            }
        }
        Ok(())
    }

    fn evict(&self, key: &str) {
        self.local.remove(key);
        let _ = std::fs::remove_file(self.validators.join(key));
    }

    /// The bucket's validators of a local copy.
    async fn validators_of(&self, key: &str) -> Option<(String, SystemTime)> {
        let text = tokio::fs::read_to_string(self.validators.join(key)).await.ok()?;
        let mut lines = text.lines();
        let etag = lines.next().filter(|e| e.starts_with('"'))?.to_string();
        let nanos: u64 = lines.next()?.parse().ok()?;
        Some((etag, UNIX_EPOCH + std::time::Duration::from_nanos(nanos)))
    }

    /// Copies `key` in the background, unless it is too large to keep or already on its way.
    fn copy_in_background(&self, key: &str, src: Source, size: u64) {
        if size > self.index().limit / 4 {
            return;
        }
        let (me, key) = (self.clone(), key.to_string());
        tokio::spawn(async move {
            if let Err(e) = me.keep_once(&key, src).await {
                tracing::debug!(object = %key, error = %e, "not kept in the local cache");
            }
        });
    }

    /// [`CachedObjects::keep`], unless a copy of `key` is already being made (that one is not
    /// waited for: readers meanwhile read from the bucket).
    async fn keep_once(&self, key: &str, src: Source) -> io::Result<()> {
        if !self.copying.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_string()) {
            return Ok(());
        }
        let kept = self.keep(key.to_string(), src).await;
        self.copying.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        kept
    }
}

/// The first `size` bytes a staged file holds into `to`, a read at a time off the runtime.
async fn copy_staged(reader: Arc<dyn ReadAt>, size: u64, to: &mut dyn Staged) -> io::Result<()> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut pos = 0;
    while pos < size {
        let want = buf.len().min((size - pos) as usize);
        let reader = Arc::clone(&reader);
        let (n, back) = tokio::task::spawn_blocking(move || {
            let mut b = buf;
            let n = reader.read_at(&mut b[..want], pos);
            (n, b)
        })
        .await
        .map_err(io::Error::other)?;
        buf = back;
        let n = n?;
        if n == 0 {
            return Err(io::Error::other("the staged object is shorter than committed"));
        }
        to.write(&buf[..n]).await?;
        pos += n as u64;
    }
    Ok(())
}

enum Source {
    /// A small object's bytes, read whole from the bucket, and its validators there.
    Bytes(bytes::Bytes, (String, SystemTime)),
    /// The staged file this replica committed, and its size.
    Staged(Arc<dyn ReadAt>, u64),
    /// The bucket, read again by the copy beside the client's own read.
    Remote,
}

#[async_trait::async_trait]
impl ObjectStore for CachedObjects {
    async fn open(&self, key: &str) -> io::Result<Option<StoredObject>> {
        if let Ok(Some(mut obj)) = self.local.open(key).await {
            if let Some((etag, modified)) = self.validators_of(key).await {
                self.index().touch(key);
                (obj.etag, obj.modified) = (etag, modified);
                return Ok(Some(obj));
            }
        }
        let Some(obj) = self.remote.open(key).await? else { return Ok(None) };
        let src = match obj.body.in_memory() {
            Some(bytes) => Source::Bytes(bytes, (obj.etag.clone(), obj.modified)),
            None => Source::Remote,
        };
        self.copy_in_background(key, src, obj.len);
        Ok(Some(obj))
    }

    async fn contains(&self, key: &str) -> io::Result<bool> {
        if self.index().entries.contains_key(key) {
            return Ok(true);
        }
        self.remote.contains(key).await
    }

    async fn prepare(&self, key: &str) -> io::Result<()> {
        if self.index().entries.contains_key(key) {
            return Ok(());
        }
        self.keep_once(key, Source::Remote).await
    }

    async fn stage(&self) -> io::Result<Box<dyn Staged>> {
        let inner = self.remote.stage().await?;
        Ok(Box::new(CachedStaged { inner, cache: self.clone(), written: 0 }))
    }

    async fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        self.remote.list(prefix).await
    }

    async fn delete(&self, key: &str) -> io::Result<Option<u64>> {
        let gone = self.remote.delete(key).await?;
        self.index().forget(key);
        self.evict(key);
        Ok(gone)
    }

    async fn open_origin(&self, key: &str) -> io::Result<Option<StoredObject>> {
        self.remote.open(key).await
    }

    async fn entries(&self, prefix: &str) -> io::Result<Vec<super::Listed>> {
        self.remote.entries(prefix).await
    }

    async fn check_ready(&self) -> io::Result<()> {
        self.remote.check_ready().await
    }

    fn usage(&self) -> Option<StoreUsage> {
        // The local cache's contents, and the room left on its disk.
        let disk = self.local.usage().unwrap_or_default();
        let idx = self.index();
        Some(StoreUsage { objects: idx.entries.len() as u64, bytes: idx.bytes, counted: true, ..disk })
    }
}

/// A staged object of the shared store, copied into the local cache once committed.
struct CachedStaged {
    inner: Box<dyn Staged>,
    cache: CachedObjects,
    written: u64,
}

#[async_trait::async_trait]
impl Staged for CachedStaged {
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner.write(data).await?;
        self.written += data.len() as u64;
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().await
    }

    fn reader(&mut self) -> io::Result<Arc<dyn ReadAt>> {
        self.inner.reader()
    }

    async fn commit(mut self: Box<Self>, key: &str) -> io::Result<Commit> {
        self.inner.flush().await?;
        // The reader keeps the staged file readable after the commit removes its name.
        let reader = self.inner.reader()?;
        let (size, cache) = (self.written, self.cache.clone());
        let outcome = self.inner.commit(key).await?;
        // Another replica's bytes won: they are read from the bucket on first use instead.
        if outcome == Commit::Created {
            cache.copy_in_background(key, Source::Staged(reader, size), size);
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_leave_first() {
        let mut lru = Lru { limit: 10, ..Lru::default() };
        assert!(lru.insert("a", 4).is_empty());
        assert!(lru.insert("b", 4).is_empty());
        lru.touch("a");
        assert_eq!(lru.insert("c", 4), vec!["b".to_string()], "b was used least recently");
        assert_eq!(lru.bytes, 8);
        assert_eq!(lru.insert("d", 9), vec!["a".to_string(), "c".to_string()]);
        assert!(lru.insert("d", 9).is_empty(), "a second insert only touches");
    }
}
