//! Mutable state on the local disk: answers under `meta/` (replaced atomically, aged by their
//! modification time), the published-versions index under `published/` (read once at start,
//! so `list` and `@latest` merge it without touching the disk), and not-found answers in
//! memory, where a restart forgetting them costs one upstream request each. The operators'
//! state (the quarantine) is under `state/`, written durably.

use super::local::{sync_dir, temp_in};
use super::not_found::NotFoundMemory;
use super::{MetaStore, NotFound};
use bytes::Bytes;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::{Duration, SystemTime};
use tokio::fs;
use tokio::io::AsyncWriteExt;

pub struct LocalMeta {
    meta: PathBuf,
    state_dir: PathBuf,
    published_dir: PathBuf,
    tmp: PathBuf,
    published: RwLock<HashMap<String, Vec<String>>>,
    not_found: NotFoundMemory,
}

impl LocalMeta {
    /// Opens (creating) the mutable state under `root`; `tmp/` must exist (the object store
    /// made it) and is where replacements are written before their rename.
    pub fn open(root: &Path) -> io::Result<Self> {
        let (meta, published_dir, tmp) = (root.join("meta"), root.join("published"), root.join("tmp"));
        let state_dir = root.join("state");
        for d in [&meta, &published_dir, &tmp, &state_dir] {
            std::fs::create_dir_all(d)?;
        }
        let published = read_published(&published_dir)?;
        let not_found = NotFoundMemory::default();
        Ok(Self { meta, state_dir, published_dir, tmp, published: RwLock::new(published), not_found })
    }

    /// Writes `data` to `target` durably: a temporary file, fsynced, renamed over it.
    async fn replace_durably(&self, target: &Path, data: &[u8]) -> io::Result<()> {
        let mut tmp = temp_in(&self.tmp).await?;
        tmp.file.write_all(data).await?;
        tmp.file.flush().await?;
        tmp.file.sync_all().await?;
        fs::rename(&tmp.path, target).await?;
        tmp.keep = true;
        sync_dir(target.parent()).await;
        Ok(())
    }
}

/// Every module's published versions (escaped module path → versions).
fn read_published(root: &Path) -> io::Result<HashMap<String, Vec<String>>> {
    let mut out = HashMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if entry.file_name() == "versions" {
                let rel = dir.strip_prefix(root).map_err(io::Error::other)?;
                let module = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
                let text = std::fs::read_to_string(&path)?;
                out.insert(module, text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect());
            }
        }
    }
    Ok(out)
}

#[async_trait::async_trait]
impl MetaStore for LocalMeta {
    async fn answer(&self, key: &str) -> io::Result<Option<(Bytes, Duration)>> {
        let path = self.meta.join(key);
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
        Ok(Some((Bytes::from(data), age)))
    }

    async fn put_answer(&self, key: &str, data: &[u8]) -> io::Result<()> {
        let mut tmp = temp_in(&self.tmp).await?;
        tmp.file.write_all(data).await?;
        tmp.file.flush().await?;
        let target = self.meta.join(key);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).await?;
        }
        fs::rename(&tmp.path, &target).await?;
        tmp.keep = true;
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
        let map = self.published.read().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(escaped_module).cloned().unwrap_or_default())
    }

    async fn add_published(&self, escaped_module: &str, version: &str) -> io::Result<()> {
        let mut versions = self.published(escaped_module).await?;
        if versions.iter().any(|v| v == version) {
            return Ok(());
        }
        versions.push(version.to_string());
        let mut text = versions.join("\n");
        text.push('\n');
        let dir = self.published_dir.join(escaped_module);
        fs::create_dir_all(&dir).await?;
        self.replace_durably(&dir.join("versions"), text.as_bytes()).await?;
        self.published.write().unwrap_or_else(|p| p.into_inner()).insert(escaped_module.to_string(), versions);
        Ok(())
    }

    async fn purge(&self, escaped_module: &str) -> io::Result<u64> {
        self.not_found.forget_module(escaped_module);
        let dir = self.meta.join(escaped_module);
        let mut gone = 0;
        if fs::remove_file(dir.join("@latest")).await.is_ok() {
            gone += 1;
        }
        let mut entries = match fs::read_dir(dir.join("@v")).await {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(gone),
            Err(e) => return Err(e),
        };
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_type().await?.is_file() && fs::remove_file(entry.path()).await.is_ok() {
                gone += 1;
            }
        }
        Ok(gone)
    }

    async fn state(&self, name: &str) -> io::Result<Option<Bytes>> {
        match fs::read(self.state_dir.join(name)).await {
            Ok(d) => Ok(Some(Bytes::from(d))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn put_state(&self, name: &str, data: &[u8]) -> io::Result<()> {
        self.replace_durably(&self.state_dir.join(name), data).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_are_replaced_and_published_versions_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let m = LocalMeta::open(dir.path()).unwrap();
        assert!(m.answer("m/@v/list").await.unwrap().is_none());
        m.put_answer("m/@v/list", b"v1.0.0\n").await.unwrap();
        m.put_answer("m/@v/list", b"v1.0.0\nv1.1.0\n").await.unwrap();
        let (d, age) = m.answer("m/@v/list").await.unwrap().unwrap();
        assert_eq!(d, "v1.0.0\nv1.1.0\n");
        assert!(age < Duration::from_secs(60));
        m.add_published("corp.example/!x", "v1.0.0").await.unwrap();
        m.add_published("corp.example/!x", "v1.1.0").await.unwrap();
        m.add_published("corp.example/!x", "v1.0.0").await.unwrap();
        drop(m);
        let m = LocalMeta::open(dir.path()).unwrap();
        assert_eq!(m.published("corp.example/!x").await.unwrap(), ["v1.0.0", "v1.1.0"]);
        assert!(m.published("corp.example/y").await.unwrap().is_empty());
        m.put_state("quarantine", b"[1]").await.unwrap();
        drop(m);
        let m = LocalMeta::open(dir.path()).unwrap();
        assert_eq!(m.state("quarantine").await.unwrap().unwrap(), "[1]");
        assert!(m.state("other").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_purge_forgets_one_modules_answers_and_no_other() {
        let dir = tempfile::tempdir().unwrap();
        let m = LocalMeta::open(dir.path()).unwrap();
        for key in ["a.example/m/@v/list", "a.example/m/@latest", "a.example/m/@v/main.info", "a.example/m/sub/@v/list"]
        {
            m.put_answer(key, b"x").await.unwrap();
        }
        let gone = NotFound { status: 404, reason: "no".into() };
        m.remember_not_found("a.example/m/@v/v9.0.0.info", gone.clone(), Duration::from_secs(60)).await;
        m.remember_not_found("a.example/m/sub/@v/v1.0.0.info", gone.clone(), Duration::from_secs(60)).await;
        assert_eq!(m.purge("a.example/m").await.unwrap(), 3);
        assert!(m.answer("a.example/m/@v/list").await.unwrap().is_none());
        assert!(m.answer("a.example/m/@latest").await.unwrap().is_none());
        assert!(m.answer("a.example/m/sub/@v/list").await.unwrap().is_some(), "a nested module keeps its answers");
        assert!(m.not_found("a.example/m/@v/v9.0.0.info").await.is_none());
        assert_eq!(m.not_found("a.example/m/sub/@v/v1.0.0.info").await, Some(gone));
        assert_eq!(m.purge("nothing.example/x").await.unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_answers_expire() {
        let dir = tempfile::tempdir().unwrap();
        let m = LocalMeta::open(dir.path()).unwrap();
        let gone = NotFound { status: 410, reason: "gone".into() };
        m.remember_not_found("k", gone.clone(), Duration::from_secs(30)).await;
        assert_eq!(m.not_found("k").await, Some(gone.clone()));
        tokio::time::advance(Duration::from_secs(31)).await;
        assert_eq!(m.not_found("k").await, None);
        m.remember_not_found("k", gone, Duration::from_secs(30)).await;
        m.forget_not_found("k").await;
        assert_eq!(m.not_found("k").await, None);
    }
}
