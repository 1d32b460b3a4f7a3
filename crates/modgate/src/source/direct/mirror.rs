//! One bare mirror per repository under the data dir, fetched at most once per freshness
//! window and by one task at a time; the reads (tags, blobs, object checks) come from it.

use super::Direct;
use crate::net::redact;
use crate::source::FetchError;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

impl Direct {
    fn mirror_dir(&self, url: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        self.settings.root.join(&hex::encode(Sha256::digest(url.as_bytes()))[..24])
    }

    /// The mirror of a repository, fetched if it is older than the freshness window; one fetch
    /// per repository at a time.
    pub(super) async fn mirror(&self, url: &str) -> Result<PathBuf, FetchError> {
        let dir = self.mirror_dir(url);
        let lock = {
            let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(repos.entry(url.to_string()).or_default())
        };
        let mut last = lock.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.settings.fresh) {
            return Ok(dir);
        }
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(&dir).map_err(|e| FetchError::Failed(format!("creating mirror: {e}")))?;
            self.git.run(&dir, &["init", "-q", "--bare"]).await?;
            self.git.run(&dir, &["remote", "add", "origin", url]).await?;
        }
        let auth = self.auth_env(url);
        let fetched = self
            .git
            .run_env(
                &dir,
                &["fetch", "-q", "-f", "--prune", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                &auth,
            )
            .await;
        if let Err(e) = fetched {
            let has_refs =
                self.git.run(&dir, &["for-each-ref", "--count=1"]).await.map(|o| !o.is_empty()).unwrap_or(false);
            if !has_refs {
                // A server that hangs is a timeout (504); one that refuses is "not here" (404).
                return Err(match e {
                    FetchError::Timeout(_) => {
                        FetchError::Timeout(format!("direct: fetching {} timed out", redact(url)))
                    }
                    _ => FetchError::not_found(format!("direct: cannot fetch {}: {}", redact(url), e.reason())),
                });
            }
            tracing::warn!(repo = %redact(url), error = %e.reason(), "fetch failed; using the mirror as it is");
        }
        // HEAD of the mirror follows the remote's default branch, for `latest` of untagged
        // repositories.
        if let Ok(out) = self.git.run_env(&dir, &["ls-remote", "--symref", "origin", "HEAD"], &auth).await {
            let text = String::from_utf8_lossy(&out);
            let target = text.lines().find_map(|l| l.strip_prefix("ref: ")).and_then(|l| l.split('\t').next());
            if let Some(branch) = target.filter(|b| b.starts_with("refs/heads/")) {
                let _ = self.git.run(&dir, &["symbolic-ref", "HEAD", branch]).await;
            }
        }
        *last = Some(Instant::now());
        Ok(dir)
    }

    pub(super) async fn tags(&self, dir: &Path) -> Result<Vec<String>, FetchError> {
        let out = self.git.run(dir, &["for-each-ref", "--format=%(refname:lstrip=2)", "refs/tags/"]).await?;
        Ok(String::from_utf8_lossy(&out).lines().map(str::to_string).collect())
    }

    /// Whether each object exists, in one `git cat-file --batch-check`.
    pub(super) async fn batch_exists(&self, dir: &Path, objects: &[String]) -> Result<Vec<bool>, FetchError> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = objects.join("\n");
        input.push('\n');
        let (_, stdout, _) =
            self.git.status_env(dir, &["cat-file", "--batch-check"], &[], Some(input.as_bytes())).await?;
        let answers: Vec<bool> = String::from_utf8_lossy(&stdout).lines().map(|l| !l.ends_with(" missing")).collect();
        if answers.len() != objects.len() {
            return Err(FetchError::Failed("git cat-file answered a different number of lines".into()));
        }
        Ok(answers)
    }

    pub(super) async fn blob(&self, dir: &Path, object: &str) -> Result<Option<Vec<u8>>, FetchError> {
        match self.git.status(dir, &["cat-file", "blob", object]).await? {
            (true, out, _) => Ok(Some(out)),
            _ => Ok(None),
        }
    }
}
