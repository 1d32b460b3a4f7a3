//! The cache's storage. Two kinds of object live here:
//! - **immutable** objects (canonical `.info`, `.mod`, `.zip`): committed create-only from a
//!   complete, verified temporary file, so readers see all of an object or none of it;
//! - **mutable** answers (`list`, `@latest`, query `.info`): replaced atomically, aged by mtime.
//!
//! The local-disk backend keeps the GOPROXY layout under `cache/` (a static file server could
//! serve it), mutable answers under `meta/`, and fills in progress under `tmp/`, which is emptied
//! at start: a crash can leave only unreferenced temporaries behind.
//!
//! The interface is kept narrow (open, commit-from-temp, replace, read-with-age) so that an
//! object-store backend can implement it later.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::fs;
use tokio::io::AsyncWriteExt;

/// A committed immutable object, opened for reading.
/// A committed object, open. The file is std's: committed objects are read with positioned
/// reads (zips, on the worker thread, from the page cache) or whole in one blocking call.
pub struct StoredObject {
    pub file: std::fs::File,
    pub len: u64,
    /// A strong validator: stable for the life of this committed object.
    pub etag: String,
    pub modified: SystemTime,
}

/// A temporary file being filled; dropped without commit, it is removed.
pub struct TempObject {
    pub path: PathBuf,
    pub file: fs::File,
    committed: bool,
}

impl Drop for TempObject {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl TempObject {
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data).await
    }
}

/// Outcome of a create-only commit.
#[derive(Debug, PartialEq, Eq)]
pub enum Commit {
    Created,
    /// Another writer committed first; its object stands.
    AlreadyExists,
}

pub struct LocalStore {
    root: PathBuf,
    seq: AtomicU64,
}

impl LocalStore {
    /// Opens (creating) the store under `root` and removes fills a crash left behind.
    pub fn open(root: &Path) -> io::Result<Self> {
        for d in ["cache", "meta", "tmp", "published"] {
            std::fs::create_dir_all(root.join(d))?;
        }
        let tmp = root.join("tmp");
        for entry in std::fs::read_dir(&tmp)? {
            let entry = entry?;
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(Self { root: root.to_path_buf(), seq: AtomicU64::new(0) })
    }

    fn immutable_path(&self, key: &str) -> PathBuf {
        self.root.join("cache").join(key)
    }

    fn mutable_path(&self, key: &str) -> PathBuf {
        self.root.join("meta").join(key)
    }

    /// Opens a committed immutable object, or `None` if it is not stored.
    pub async fn open_immutable(&self, key: &str) -> io::Result<Option<StoredObject>> {
        // Open and stat in one trip to the blocking pool (each trip is two context switches,
        // which on a warm cache cost more than the calls themselves).
        let path = self.immutable_path(key);
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
        Ok(Some(StoredObject { file, len: meta.len(), etag, modified }))
    }

    /// Reads a small committed immutable object whole.
    pub async fn read_immutable(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.immutable_path(key)).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A new temporary object to fill.
    pub async fn temp(&self) -> io::Result<TempObject> {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("{}-{}-{n}", std::process::id(), rand::random::<u64>());
        let path = self.root.join("tmp").join(name);
        let file = fs::OpenOptions::new().create_new(true).read(true).write(true).open(&path).await?;
        Ok(TempObject { path, file, committed: false })
    }

    /// Makes a complete, verified temporary object visible under `key`, unless one is already
    /// there: a hard link is atomic and fails when the target exists, so nothing is overwritten.
    pub async fn commit_immutable(&self, mut tmp: TempObject, key: &str) -> io::Result<Commit> {
        tmp.file.flush().await?;
        tmp.file.sync_all().await?;
        let target = self.immutable_path(key);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).await?;
        }
        let res = fs::hard_link(&tmp.path, &target).await;
        // The temporary name goes either way; Drop removes it.
        match res {
            Ok(()) => {
                sync_dir(target.parent()).await;
                Ok(Commit::Created)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Commit::AlreadyExists),
            Err(e) => Err(e),
        }
    }

    /// Stores a small immutable object from memory (create-only).
    pub async fn put_immutable(&self, key: &str, data: &[u8]) -> io::Result<Commit> {
        let mut tmp = self.temp().await?;
        tmp.write_all(data).await?;
        self.commit_immutable(tmp, key).await
    }

    /// Replaces a mutable answer atomically (write temporary, rename over).
    pub async fn put_mutable(&self, key: &str, data: &[u8]) -> io::Result<()> {
        let mut tmp = self.temp().await?;
        tmp.write_all(data).await?;
        tmp.file.flush().await?;
        let target = self.mutable_path(key);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).await?;
        }
        fs::rename(&tmp.path, &target).await?;
        tmp.committed = true;
        Ok(())
    }

    /// The versions published to this server for a module (escaped path), in publish order.
    /// Published objects live in `cache/` like fetched ones; this index is what makes them a
    /// source (`list`, `@latest`) and marks them as never to be evicted.
    pub async fn published_versions(&self, escaped_module: &str) -> io::Result<Vec<String>> {
        match fs::read_to_string(self.root.join("published").join(escaped_module).join("versions")).await {
            Ok(t) => Ok(t.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Every module's published versions (escaped module path → versions), read once at start so
    /// that `list` and `@latest` need no disk access to merge them.
    pub fn all_published(&self) -> io::Result<std::collections::HashMap<String, Vec<String>>> {
        let root = self.root.join("published");
        let mut out = std::collections::HashMap::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    stack.push(path);
                } else if entry.file_name() == "versions" {
                    let rel = dir.strip_prefix(&root).map_err(io::Error::other)?;
                    let module = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
                    let text = std::fs::read_to_string(&path)?;
                    out.insert(module, text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect());
                }
            }
        }
        Ok(out)
    }

    /// Adds a version to a module's published index (the caller serializes per module).
    pub async fn add_published(&self, escaped_module: &str, version: &str) -> io::Result<()> {
        let mut versions = self.published_versions(escaped_module).await?;
        if versions.iter().any(|v| v == version) {
            return Ok(());
        }
        versions.push(version.to_string());
        let mut text = versions.join("\n");
        text.push('\n');
        let dir = self.root.join("published").join(escaped_module);
        fs::create_dir_all(&dir).await?;
        let mut tmp = self.temp().await?;
        tmp.write_all(text.as_bytes()).await?;
        tmp.file.flush().await?;
        tmp.file.sync_all().await?;
        fs::rename(&tmp.path, dir.join("versions")).await?;
        tmp.committed = true;
        sync_dir(Some(&dir)).await;
        Ok(())
    }

    /// Reads a mutable answer and how old it is.
    pub async fn get_mutable(&self, key: &str) -> io::Result<Option<(Vec<u8>, Duration)>> {
        let path = self.mutable_path(key);
        let data = match fs::read(&path).await {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let age = fs::metadata(&path)
            .await
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or(Duration::ZERO);
        Ok(Some((data, age)))
    }

    /// Checks that the store can be written and read: what `/readyz` reports.
    pub async fn check_ready(&self) -> io::Result<()> {
        let mut tmp = self.temp().await?;
        tmp.write_all(b"ready").await?;
        tmp.file.flush().await?;
        let back = fs::read(&tmp.path).await?;
        if back != b"ready" {
            return Err(io::Error::other("storage read back different bytes"));
        }
        Ok(())
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

async fn sync_dir(dir: Option<&Path>) {
    if let Some(d) = dir {
        if let Ok(f) = fs::File::open(d).await {
            let _ = f.sync_all().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn create_only_and_temp_cleanup() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(dir.path()).unwrap();
        assert_eq!(s.put_immutable("a/@v/v1.0.0.mod", b"one").await.unwrap(), Commit::Created);
        assert_eq!(s.put_immutable("a/@v/v1.0.0.mod", b"two").await.unwrap(), Commit::AlreadyExists);
        assert_eq!(s.read_immutable("a/@v/v1.0.0.mod").await.unwrap().unwrap(), b"one");
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
        let o1 = s.open_immutable("a/@v/v1.0.0.mod").await.unwrap().unwrap();
        let o2 = s.open_immutable("a/@v/v1.0.0.mod").await.unwrap().unwrap();
        assert_eq!(o1.etag, o2.etag);
        assert_eq!(o1.len, 3);
        // An abandoned fill leaves a temporary that the next start removes.
        let t = s.temp().await.unwrap();
        std::mem::forget(t);
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 1);
        drop(s);
        let _s = LocalStore::open(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn mutable_replace() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::open(dir.path()).unwrap();
        assert!(s.get_mutable("m/@v/list").await.unwrap().is_none());
        s.put_mutable("m/@v/list", b"v1.0.0\n").await.unwrap();
        s.put_mutable("m/@v/list", b"v1.0.0\nv1.1.0\n").await.unwrap();
        let (d, age) = s.get_mutable("m/@v/list").await.unwrap().unwrap();
        assert_eq!(d, b"v1.0.0\nv1.1.0\n");
        assert!(age < Duration::from_secs(60));
        s.check_ready().await.unwrap();
    }
}
