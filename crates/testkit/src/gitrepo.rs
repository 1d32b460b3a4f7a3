//! Synthetic git repositories for direct-mode tests, built with the `git` CLI: files, commits
//! at fixed times, tags, branches. Everything is deterministic, so commit hashes repeat.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A work tree with its repository.
pub struct Repo {
    pub dir: PathBuf,
    clock: i64,
}

impl Repo {
    /// `git init` in `dir` (created), on branch `main`.
    pub fn init(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let r = Self { dir: dir.to_path_buf(), clock: 1_700_000_000 };
        r.git(&["init", "-q", "-b", "main"])?;
        r.git(&["config", "user.email", "test@modgate.test"])?;
        r.git(&["config", "user.name", "modgate test"])?;
        r.git(&["config", "commit.gpgsign", "false"])?;
        r.git(&["config", "tag.gpgsign", "false"])?;
        Ok(r)
    }

    /// Runs git in the work tree with a fixed identity and a hermetic configuration.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_AUTHOR_DATE", format!("@{} +0000", self.clock))
            .env("GIT_COMMITTER_DATE", format!("@{} +0000", self.clock))
            .output()
            .with_context(|| format!("running git {args:?}"))?;
        if !out.status.success() {
            bail!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Writes a file (creating directories).
    pub fn write(&self, path: &str, data: &[u8]) -> Result<()> {
        let p = self.dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, data)?;
        Ok(())
    }

    pub fn remove(&self, path: &str) -> Result<()> {
        self.git(&["rm", "-q", "-r", path]).map(|_| ())
    }

    /// Commits everything; each commit is one hour after the previous. Returns the hash.
    pub fn commit(&mut self, msg: &str) -> Result<String> {
        self.clock += 3600;
        self.git(&["add", "-A"])?;
        self.git(&["commit", "-q", "--allow-empty", "-m", msg])?;
        self.git(&["rev-parse", "HEAD"])
    }

    /// A lightweight tag on HEAD.
    pub fn tag(&self, name: &str) -> Result<()> {
        self.git(&["tag", name]).map(|_| ())
    }

    /// The commit time of HEAD as RFC 3339 UTC.
    pub fn head_time(&self) -> Result<String> {
        self.git(&["log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ"])
    }

    /// A commit's time as a pseudo-version timestamp (`yyyymmddhhmmss`, UTC).
    pub fn stamp(&self, rev: &str) -> Result<String> {
        self.git(&["log", "-1", "--format=%cd", "--date=format:%Y%m%d%H%M%S", rev])
    }

    /// `file://` URL of the repository.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

/// A git configuration file that redirects `https://<host>/` to local repositories under
/// `root` (`url.<file-url>.insteadOf`), so the go command's direct mode and modgate both reach
/// them. Point `GIT_CONFIG_GLOBAL` at the returned path.
pub fn insteadof_config(dir: &Path, host: &str, root: &Path) -> Result<PathBuf> {
    let p = dir.join("gitconfig");
    let text = format!(
        "[url \"file://{}/\"]\n\tinsteadOf = https://{host}/\n[protocol \"file\"]\n\tallow = always\n[safe]\n\tdirectory = *\n",
        root.display()
    );
    std::fs::write(&p, text)?;
    Ok(p)
}
