//! Immutable objects on the local disk, in GOPROXY layout under `cache/` (a static file server
//! could serve it). Objects are staged in `tmp/`, which is emptied at start, and committed with
//! a hard link: atomic, and refused when the name exists, so nothing is ever overwritten and a
//! crash leaves only unreferenced temporaries behind.

use super::usage::{disk_space, Usage};
use super::{Commit, ObjectBody, ObjectStore, ReadAt, Staged, StoreUsage, StoredObject};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::fs;
use tokio::io::AsyncWriteExt;

/// Chunk size when reading a committed object for a client.
const READ_CHUNK: usize = 64 * 1024;

pub struct LocalObjects {
    cache: PathBuf,
    tmp: PathBuf,
    usage: Arc<Usage>,
}

impl LocalObjects {
    /// Opens (creating) the store under `root` and removes fills a crash left behind.
    pub fn open(root: &Path) -> io::Result<Self> {
        let (cache, tmp) = (root.join("cache"), root.join("tmp"));
        std::fs::create_dir_all(&cache)?;
        fresh_tmp(&tmp)?;
        let usage = Arc::new(Usage::default());
        usage.count_in_background(cache.clone());
        Ok(Self { cache, tmp, usage })
    }

    /// Opens the store under `root` beside a server that may be running on it: what is staged in
    /// `tmp/` is left alone (the server's fills), and nothing is counted.
    pub fn attach(root: &Path) -> io::Result<Self> {
        let (cache, tmp) = (root.join("cache"), root.join("tmp"));
        std::fs::create_dir_all(&cache)?;
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { cache, tmp, usage: Arc::new(Usage::default()) })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.cache.join(key)
    }

    /// Every committed object and its size.
    pub fn sizes(&self) -> io::Result<Vec<(String, u64)>> {
        let keys = list_under(&self.cache, "")?;
        Ok(keys.into_iter().filter_map(|k| std::fs::metadata(self.path(&k)).ok().map(|m| (k, m.len()))).collect())
    }

    /// Removes a committed object (a cache in front of another store evicting it; readers
    /// that opened it keep reading).
    pub fn remove(&self, key: &str) {
        let _ = std::fs::remove_file(self.path(key));
    }
}

/// Creates `dir` for staged objects, removing any a crash left behind.
pub(super) fn fresh_tmp(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let _ = std::fs::remove_file(entry?.path());
    }
    Ok(())
}

/// A temporary file; dropped without being kept, it is removed.
pub(super) struct TempFile {
    pub path: PathBuf,
    pub file: fs::File,
    pub keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A new temporary file in `dir`, named so that no two are alike (process, random, sequence).
pub(super) async fn temp_in(dir: &Path) -> io::Result<TempFile> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{}-{}-{n}", std::process::id(), rand::random::<u64>()));
    let file = fs::OpenOptions::new().create_new(true).read(true).write(true).open(&path).await?;
    Ok(TempFile { path, file, keep: false })
}

/// Flushes a directory's entries to disk (after a link or rename into it).
pub(super) async fn sync_dir(dir: Option<&Path>) {
    if let Some(d) = dir {
        if let Ok(f) = fs::File::open(d).await {
            let _ = f.sync_all().await;
        }
    }
}

#[async_trait::async_trait]
impl ObjectStore for LocalObjects {
    async fn open(&self, key: &str) -> io::Result<Option<StoredObject>> {
        // Open and stat in one trip to the blocking pool (each trip is two context switches,
        // which on a warm cache cost more than the calls themselves).
        let path = self.path(key);
        let opened = tokio::task::spawn_blocking(move || -> io::Result<Option<(std::fs::File, std::fs::Metadata)>> {
            let file = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let meta = file.metadata()?;
            Ok(Some((file, meta)))
        })
        .await
        .map_err(io::Error::other)??;
        let Some((file, meta)) = opened else { return Ok(None) };
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let etag = etag_for(key, meta.len(), modified, inode(&meta));
        Ok(Some(StoredObject { len: meta.len(), etag, modified, body: Box::new(LocalBody(file)) }))
    }

    async fn stage(&self) -> io::Result<Box<dyn Staged>> {
        let spool = Spool::new(&self.tmp).await?;
        Ok(Box::new(LocalStaged { spool, cache: self.cache.clone(), usage: Arc::clone(&self.usage) }))
    }

    async fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let cache = self.cache.clone();
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || list_under(&cache, &prefix)).await.map_err(io::Error::other)?
    }

    async fn delete(&self, key: &str) -> io::Result<Option<u64>> {
        let path = self.path(key);
        let size = match fs::metadata(&path).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        match fs::remove_file(&path).await {
            Ok(()) => {
                self.usage.removed(size);
                Ok(Some(size))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn entries(&self, prefix: &str) -> io::Result<Vec<super::Listed>> {
        let cache = self.cache.clone();
        let prefix = prefix.to_string();
        let walk = move || -> io::Result<Vec<super::Listed>> {
            let keys = list_under(&cache, &prefix)?;
            let stat = |key: String| {
                let m = std::fs::metadata(cache.join(&key)).ok()?;
                Some(super::Listed { key, size: m.len(), modified: m.modified().ok()? })
            };
            Ok(keys.into_iter().filter_map(stat).collect())
        };
        tokio::task::spawn_blocking(walk).await.map_err(io::Error::other)?
    }

    async fn check_ready(&self) -> io::Result<()> {
        let mut tmp = temp_in(&self.tmp).await?;
        tmp.file.write_all(b"ready").await?;
        tmp.file.flush().await?;
        let back = fs::read(&tmp.path).await?;
        if back != b"ready" {
            return Err(io::Error::other("storage read back different bytes"));
        }
        Ok(())
    }

    fn usage(&self) -> Option<StoreUsage> {
        let (free, size) = disk_space(&self.cache).unzip();
        Some(StoreUsage { disk_free: free, disk_size: size, ..self.usage.read() })
    }
}

/// Every key under `cache` (a directory in GOPROXY layout) that starts with `prefix`.
pub fn list_under(cache: &Path, prefix: &str) -> io::Result<Vec<String>> {
    let start = match prefix.rfind('/') {
        Some(i) => cache.join(&prefix[..i]),
        None => cache.to_path_buf(),
    };
    let mut out = Vec::new();
    let mut stack = vec![start];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
                continue;
            }
            let rel = entry.path().strip_prefix(cache).map_err(io::Error::other)?.to_string_lossy().into_owned();
            let key = rel.replace(std::path::MAIN_SEPARATOR, "/");
            if key.starts_with(prefix) {
                out.push(key);
            }
        }
    }
    Ok(out)
}

/// An object being written to a temporary file, readable while it is written: what every store
/// stages in (a bucket's objects too, until they go up whole).
pub(super) struct Spool {
    pub tmp: TempFile,
    reader: Option<Arc<std::fs::File>>,
}

impl Spool {
    pub async fn new(dir: &Path) -> io::Result<Self> {
        Ok(Self { tmp: temp_in(dir).await?, reader: None })
    }

    pub async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.tmp.file.write_all(data).await
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        self.tmp.file.flush().await
    }

    pub fn reader(&mut self) -> io::Result<Arc<std::fs::File>> {
        if self.reader.is_none() {
            // A plain open of a page-cached directory entry: microseconds, and kept off the
            // blocking pool that the fill's own writes are queued on.
            self.reader = Some(Arc::new(std::fs::File::open(&self.tmp.path)?));
        }
        self.reader.clone().ok_or_else(|| io::Error::other("no reader"))
    }
}

struct LocalStaged {
    spool: Spool,
    cache: PathBuf,
    usage: Arc<Usage>,
}

#[async_trait::async_trait]
impl Staged for LocalStaged {
    async fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.spool.write(data).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.spool.flush().await
    }

    fn reader(&mut self) -> io::Result<Arc<dyn ReadAt>> {
        Ok(self.spool.reader()?)
    }

    async fn commit(mut self: Box<Self>, key: &str) -> io::Result<Commit> {
        let tmp = &mut self.spool.tmp;
        tmp.file.flush().await?;
        tmp.file.sync_all().await?;
        let target = self.cache.join(key);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).await?;
        }
        // The temporary name goes either way; Drop removes it.
        match fs::hard_link(&tmp.path, &target).await {
            Ok(()) => {
                sync_dir(target.parent()).await;
                if let Ok(meta) = tmp.file.metadata().await {
                    self.usage.added(meta.len());
                }
                Ok(Commit::Created)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Commit::AlreadyExists),
            Err(e) => Err(e),
        }
    }
}

/// A committed file. Its bytes are read with positioned reads on the worker thread: in steady
/// state the file is in the page cache, where a 64 KiB read is a memory copy of a few
/// microseconds; going through the blocking pool instead cost two context switches and an
/// extra copy per chunk, which dominated the warm-zip profile.
struct LocalBody(std::fs::File);

impl ObjectBody for LocalBody {
    fn range(self: Box<Self>, start: u64, count: u64) -> BoxStream<'static, io::Result<Bytes>> {
        let file = self.0;
        futures::stream::unfold((file, start, start + count), |(file, pos, end)| async move {
            if pos >= end {
                return None;
            }
            let want = usize::try_from(end - pos).unwrap_or(usize::MAX).min(READ_CHUNK);
            let mut buf = bytes::BytesMut::zeroed(want);
            match ReadAt::read_at(&file, &mut buf, pos) {
                Ok(0) => Some((Err(io::Error::other("file shorter than expected")), (file, end, end))),
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok(buf.freeze()), (file, pos + n as u64, end)))
                }
                Err(e) => Some((Err(e), (file, end, end))),
            }
        })
        .boxed()
    }

    fn read_all(self: Box<Self>, limit: u64) -> BoxFuture<'static, io::Result<Vec<u8>>> {
        let file = self.0;
        // One trip to the blocking pool for the whole read.
        async move {
            tokio::task::spawn_blocking(move || -> io::Result<Vec<u8>> {
                use std::io::Read;
                let mut data = Vec::new();
                (&file).take(limit + 1).read_to_end(&mut data)?;
                if data.len() as u64 > limit {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {limit} bytes")));
                }
                Ok(data)
            })
            .await
            .map_err(io::Error::other)?
        }
        .boxed()
    }
}

#[cfg(unix)]
fn inode(m: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    m.ino()
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

fn etag_for(key: &str, len: u64, modified: SystemTime, ino: u64) -> String {
    use sha2::{Digest, Sha256};
    let nanos = modified.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut h = Sha256::new();
    h.update(key.as_bytes());
    h.update(len.to_le_bytes());
    h.update(nanos.to_le_bytes());
    h.update(ino.to_le_bytes());
    format!("\"{}\"", &hex::encode(h.finalize())[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_only_and_temp_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalObjects::open(dir.path()).unwrap();
        assert_eq!(s.put("a/@v/v1.0.0.mod", b"one").await.unwrap(), Commit::Created);
        assert_eq!(s.put("a/@v/v1.0.0.mod", b"two").await.unwrap(), Commit::AlreadyExists);
        assert_eq!(s.read("a/@v/v1.0.0.mod", 100).await.unwrap().unwrap(), b"one");
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        let o1 = s.open("a/@v/v1.0.0.mod").await.unwrap().unwrap();
        let o2 = s.open("a/@v/v1.0.0.mod").await.unwrap().unwrap();
        assert_eq!(o1.etag, o2.etag);
        assert_eq!(o1.len, 3);
        assert!(s.read("a/@v/v1.0.0.mod", 2).await.is_err(), "larger than the limit");
        // An abandoned fill leaves a temporary that the next start removes.
        let t = s.stage().await.unwrap();
        std::mem::forget(t);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 1);
        drop(s);
        let s = LocalObjects::open(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        s.check_ready().await.unwrap();
    }

    #[tokio::test]
    async fn staged_bytes_are_readable_before_the_commit_and_ranges_after() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalObjects::open(dir.path()).unwrap();
        let mut staged = s.stage().await.unwrap();
        staged.write(b"hello ").await.unwrap();
        staged.flush().await.unwrap();
        let reader = staged.reader().unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(reader.read_at(&mut buf, 0).unwrap(), 6);
        staged.write(b"world").await.unwrap();
        staged.flush().await.unwrap();
        assert_eq!(reader.read_at(&mut buf, 6).unwrap(), 5);
        assert!(s.open("m/@v/v1.0.0.zip").await.unwrap().is_none(), "nothing visible before the commit");
        assert_eq!(staged.commit("m/@v/v1.0.0.zip").await.unwrap(), Commit::Created);
        let obj = s.open("m/@v/v1.0.0.zip").await.unwrap().unwrap();
        let parts: Vec<Bytes> = obj.body.range(3, 5).map(|c| c.unwrap()).collect().await;
        assert_eq!(parts.concat(), b"lo wo");
        s.put("m/@v/v1.0.0.mod", b"module m\n").await.unwrap();
        s.put("n/@v/v1.0.0.mod", b"module n\n").await.unwrap();
        let mut keys = s.list("m/").await.unwrap();
        keys.sort();
        assert_eq!(keys, ["m/@v/v1.0.0.mod", "m/@v/v1.0.0.zip"]);
        assert_eq!(s.list("").await.unwrap().len(), 3);
    }
}
