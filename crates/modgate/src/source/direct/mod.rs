//! Direct mode: modules served straight from their git repositories, with the `git` CLI driven
//! the way the go command drives it — one bare mirror per repository under the data dir,
//! refs listed with `ls-remote`, a version's commit fetched alone with depth 1 and the whole
//! history only when an answer needs ancestry, fetches queued per repository, raw blobs (no
//! export-subst, no CRLF conversion) for `.mod` and `.zip`. Mirrors unused for
//! `[direct] mirror_idle` are pruned.
//!
//! Repositories are found through configured mappings (`[[direct.repo]]`: module prefix →
//! repository URL, for private servers), the built-in hosting patterns (github.com,
//! bitbucket.org, the `.git` qualifier), and `?go-get=1` discovery; a `mod` go-import tag makes
//! the named server a GOPROXY source for the module.
//!
//! The files: `location` (static rules), `discover` (probe and go-get), `creds` (per-host
//! credentials), `git` (running git), `mirror` (refs, fetches, pruning), `stat` (revisions to
//! commits), `resolve` (queries to versions), `answer` (GOPROXY answers), `zip` (module zips).

mod answer;
mod creds;
mod discover;
mod git;
mod location;
mod mirror;
mod resolve;
mod stat;
mod zip;

use super::{Body, FetchError, Source};
use crate::config::{GitCredential, RepoMapping};
use crate::net::HttpClient;
use crate::request::ModuleRequest;
use location::Found;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What direct mode runs with.
#[derive(Debug, Clone)]
pub struct DirectSettings {
    /// Where mirrors (and the known-hosts file of trust-on-first-use) live.
    pub root: PathBuf,
    /// Module prefix → repository mappings, longest prefix first.
    pub mappings: Vec<RepoMapping>,
    pub credentials: Vec<GitCredential>,
    /// GOINSECURE-style patterns: plain-HTTP discovery and `http://`/`git://` repositories.
    pub insecure: String,
    /// Proxy settings for git, when the config names an egress proxy.
    pub egress_env: Vec<(String, String)>,
    /// Longest a git command may run.
    pub timeout: Duration,
    /// How long a listing of refs, a full fetch and a found location stay fresh.
    pub fresh: Duration,
    /// Mirrors not used for this long are removed (`None`: never).
    pub mirror_idle: Option<Duration>,
    /// Where git commands are counted.
    pub git_metrics: crate::obs::metrics::GitMetrics,
}

pub struct Direct {
    settings: DirectSettings,
    /// Archives and zips being built; emptied at start, so a crash leaves nothing behind.
    scratch: PathBuf,
    git: git::Git,
    http: Arc<HttpClient>,
    /// The mirrors in use, by repository URL.
    mirrors: Arc<Mutex<HashMap<String, Arc<mirror::Mirror>>>>,
    /// When idle mirrors were last looked for.
    pruned: Mutex<Option<Instant>>,
    /// Where modules were found (discovery and scheme probes), for the freshness window.
    located: Mutex<HashMap<String, (Instant, Found)>>,
}

impl Direct {
    /// Removes the archives a previous run left half-built (at start only: a direct source
    /// built by a reload shares the directory with the one still finishing requests).
    pub fn clean_scratch(root: &std::path::Path) {
        if let Ok(entries) = std::fs::read_dir(root.join("tmp")) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    pub fn new(settings: DirectSettings, http: Arc<HttpClient>) -> Self {
        let scratch = settings.root.join("tmp");
        let git = git::Git {
            timeout: settings.timeout,
            egress_env: settings.egress_env.clone(),
            metrics: settings.git_metrics.clone(),
        };
        Self {
            settings,
            scratch,
            git,
            http,
            mirrors: Arc::default(),
            pruned: Mutex::new(None),
            located: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait::async_trait]
impl Source for Direct {
    async fn fetch(&self, req: &ModuleRequest) -> Result<Body, FetchError> {
        match self.locate(&req.module).await? {
            Found::Git(loc) => self.answer(req, &loc).await,
            Found::Proxy(base) => super::goproxy::fetch_url(&self.http, &format!("{base}/{}", req.rel())).await,
        }
    }
}

/// How often idle mirrors are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

impl Direct {
    fn mirror_dir(&self, url: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        self.settings.root.join(&hex::encode(Sha256::digest(url.as_bytes()))[..24])
    }

    /// The mirror of a repository (one per URL, shared by every request).
    fn mirror(&self, url: &str) -> Arc<mirror::Mirror> {
        self.maybe_prune();
        let mut mirrors = self.mirrors.lock().unwrap_or_else(|p| p.into_inner());
        let m = mirrors.entry(url.to_string()).or_insert_with(|| {
            let (dir, auth) = (self.mirror_dir(url), self.auth_env(url));
            Arc::new(mirror::Mirror::new(url.to_string(), dir, self.git.clone(), auth, self.settings.fresh))
        });
        Arc::clone(m)
    }

    /// At most once per hour, removes mirrors idle for longer than `mirror_idle`, off the
    /// request path. A mirror some request holds is never removed.
    fn maybe_prune(&self) {
        let Some(idle) = self.settings.mirror_idle else { return };
        {
            let mut last = self.pruned.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < PRUNE_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let (mirrors, root) = (Arc::clone(&self.mirrors), self.settings.root.clone());
        tokio::task::spawn_blocking(move || {
            // The map stays locked while idle mirrors go, so no request can pick one up then.
            let mut map = mirrors.lock().unwrap_or_else(|p| p.into_inner());
            mirror::prune(&root, idle, |dir| {
                let held = map.iter().find(|(_, m)| m.dir == dir).map(|(url, m)| (url.clone(), Arc::strong_count(m)));
                match held {
                    Some((_, n)) if n > 1 => false,
                    Some((url, _)) => map.remove(&url).is_some(),
                    None => true,
                }
            });
        });
    }
}
