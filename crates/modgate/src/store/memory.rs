//! Both stores in memory: for tests that exercise the proxy through its seams, and for runs
//! that need no cache beyond their own life. Ages and expiry follow tokio's clock, so tests can
//! move time instead of sleeping.

use super::not_found::NotFoundMemory;
use super::{Commit, MetaStore, NotFound, ObjectBody, ObjectStore, ReadAt, Staged, StoredObject};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

struct Object {
    data: Bytes,
    etag: String,
    modified: SystemTime,
}

type Objects = Arc<RwLock<HashMap<String, Arc<Object>>>>;

#[derive(Default)]
pub struct MemoryObjects {
    objects: Objects,
    seq: Arc<AtomicU64>,
    /// Staged objects not yet committed or dropped.
    staged: Arc<AtomicU64>,
    /// While true, commits wait (tests of what happens before a commit ends).
    held: Arc<tokio::sync::watch::Sender<bool>>,
}

impl MemoryObjects {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many objects are being written (staged and neither committed nor dropped).
    pub fn staged_now(&self) -> u64 {
        self.staged.load(Ordering::SeqCst)
    }

    /// Holds every commit until `release_commits`.
    pub fn hold_commits(&self) {
        self.held.send_replace(true);
    }

    pub fn release_commits(&self) {
        self.held.send_replace(false);
    }

    /// Whether an object is committed under `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.objects.read().unwrap_or_else(|p| p.into_inner()).contains_key(key)
    }
}

#[async_trait::async_trait]
impl ObjectStore for MemoryObjects {
    async fn open(&self, key: &str) -> io::Result<Option<StoredObject>> {
        let map = self.objects.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(key).map(|o| StoredObject {
            len: o.data.len() as u64,
            etag: o.etag.clone(),
            modified: o.modified,
            body: Box::new(MemoryBody(o.data.clone())),
        }))
    }

    async fn stage(&self) -> io::Result<Box<dyn Staged>> {
        self.staged.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(MemoryStaged {
            buf: Arc::new(SharedBuf::default()),
            objects: Arc::clone(&self.objects),
            seq: Arc::clone(&self.seq),
            staged: Arc::clone(&self.staged),
            held: self.held.subscribe(),
        }))
    }

    async fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let map = self.objects.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }

    async fn delete(&self, key: &str) -> io::Result<Option<u64>> {
        let mut map = self.objects.write().unwrap_or_else(|p| p.into_inner());
        Ok(map.remove(key).map(|o| o.data.len() as u64))
    }

    async fn check_ready(&self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Default)]
struct SharedBuf(RwLock<Vec<u8>>);

impl ReadAt for SharedBuf {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let data = self.0.read().unwrap_or_else(|p| p.into_inner());
        let start = usize::try_from(pos).unwrap_or(usize::MAX).min(data.len());
        let n = buf.len().min(data.len() - start);
        buf[..n].copy_from_slice(&data[start..start + n]);
        Ok(n)
    }
}

struct MemoryStaged {
    buf: Arc<SharedBuf>,
    objects: Objects,
    seq: Arc<AtomicU64>,
    staged: Arc<AtomicU64>,
    held: tokio::sync::watch::Receiver<bool>,
}

impl Drop for MemoryStaged {
    fn drop(&mut self) {
        self.staged.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait::async_trait]
impl Staged for MemoryStaged {
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.buf.0.write().unwrap_or_else(|p| p.into_inner()).extend_from_slice(data);
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn reader(&mut self) -> io::Result<Arc<dyn ReadAt>> {
        Ok(Arc::clone(&self.buf) as Arc<dyn ReadAt>)
    }

    async fn commit(mut self: Box<Self>, key: &str) -> io::Result<Commit> {
        let _ = self.held.wait_for(|held| !held).await;
        let data = Bytes::from(self.buf.0.read().unwrap_or_else(|p| p.into_inner()).clone());
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let mut map = self.objects.write().unwrap_or_else(|p| p.into_inner());
        if map.contains_key(key) {
            return Ok(Commit::AlreadyExists);
        }
        let object = Object { data, etag: format!("\"m{n}\""), modified: SystemTime::now() };
        map.insert(key.to_string(), Arc::new(object));
        Ok(Commit::Created)
    }
}

struct MemoryBody(Bytes);

impl ObjectBody for MemoryBody {
    fn range(self: Box<Self>, start: u64, count: u64) -> BoxStream<'static, io::Result<Bytes>> {
        let len = self.0.len();
        let start = usize::try_from(start).unwrap_or(len).min(len);
        let end = start.saturating_add(usize::try_from(count).unwrap_or(len)).min(len);
        futures::stream::once(futures::future::ready(Ok(self.0.slice(start..end)))).boxed()
    }

    fn read_all(self: Box<Self>, limit: u64) -> BoxFuture<'static, io::Result<Vec<u8>>> {
        let result = if self.0.len() as u64 > limit {
            Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {limit} bytes")))
        } else {
            Ok(self.0.to_vec())
        };
        futures::future::ready(result).boxed()
    }
}

#[derive(Default)]
pub struct MemoryMeta {
    answers: Mutex<HashMap<String, (Bytes, Instant)>>,
    not_found: NotFoundMemory,
    published: Mutex<HashMap<String, Vec<String>>>,
    state: Mutex<HashMap<String, Bytes>>,
}

impl MemoryMeta {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl MetaStore for MemoryMeta {
    async fn answer(&self, key: &str) -> io::Result<Option<(Bytes, Duration)>> {
        let map = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(key).map(|(data, at)| (data.clone(), at.elapsed())))
    }

    async fn put_answer(&self, key: &str, data: &[u8]) -> io::Result<()> {
        let mut map = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key.to_string(), (Bytes::copy_from_slice(data), Instant::now()));
        Ok(())
    }

    async fn not_found(&self, key: &str) -> Option<NotFound> {
        self.not_found.get(key)
    }

    async fn remember_not_found(&self, key: &str, answer: NotFound, ttl: Duration) {
        self.not_found.remember(key, answer, ttl);
    }

    async fn forget_not_found(&self, key: &str) {
        self.not_found.forget(key);
    }

    async fn published(&self, escaped_module: &str) -> io::Result<Vec<String>> {
        let map = self.published.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(escaped_module).cloned().unwrap_or_default())
    }

    async fn add_published(&self, escaped_module: &str, version: &str) -> io::Result<()> {
        let mut map = self.published.lock().unwrap_or_else(|p| p.into_inner());
        let versions = map.entry(escaped_module.to_string()).or_default();
        if !versions.iter().any(|v| v == version) {
            versions.push(version.to_string());
        }
        Ok(())
    }

    async fn purge(&self, escaped_module: &str) -> io::Result<u64> {
        let mut map = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        let before = map.len();
        map.retain(|k, _| !super::answer_of(k, escaped_module));
        let gone = (before - map.len()) as u64;
        self.not_found.forget_module(escaped_module);
        Ok(gone)
    }

    async fn state(&self, name: &str) -> io::Result<Option<Bytes>> {
        Ok(self.state.lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned())
    }

    async fn put_state(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).insert(name.to_string(), Bytes::copy_from_slice(data));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_objects_are_create_only_and_staged_until_committed() {
        let s = MemoryObjects::new();
        let mut staged = s.stage().await.unwrap();
        staged.write(b"abc").await.unwrap();
        assert_eq!(s.staged_now(), 1);
        let mut buf = [0u8; 8];
        assert_eq!(staged.reader().unwrap().read_at(&mut buf, 1).unwrap(), 2);
        assert!(!s.contains("k"));
        assert_eq!(staged.commit("k").await.unwrap(), Commit::Created);
        assert_eq!(s.staged_now(), 0);
        assert_eq!(s.put("k", b"other").await.unwrap(), Commit::AlreadyExists);
        assert_eq!(s.read("k", 10).await.unwrap().unwrap(), b"abc");
        let obj = s.open("k").await.unwrap().unwrap();
        let parts: Vec<Bytes> = obj.body.range(1, 10).map(|c| c.unwrap()).collect().await;
        assert_eq!(parts.concat(), b"bc");
        drop(s.stage().await.unwrap());
        assert_eq!(s.staged_now(), 0, "a dropped stage leaves nothing");
    }
}
