//! Direct mode: modules served straight from their git repositories, with the `git` CLI driven
//! the way the go command drives it — one bare mirror per repository under the data dir,
//! fetched at most once per freshness window and by one task at a time, raw blobs (no
//! export-subst, no CRLF conversion) for `.mod` and `.zip`.
//!
//! Repositories are found through configured mappings (`[[direct.repo]]`: module prefix →
//! repository URL, for private servers), the built-in hosting patterns (github.com,
//! bitbucket.org, the `.git` qualifier), and `?go-get=1` discovery; a `mod` go-import tag makes
//! the named server a GOPROXY source for the module.
//!
//! The files: `location` (static rules), `discover` (probe and go-get), `creds` (per-host
//! credentials), `git` (running git), `mirror`, `resolve` (queries to versions), `answer`
//! (GOPROXY answers), `zip` (building module zips).

mod answer;
mod creds;
mod discover;
mod git;
mod location;
mod mirror;
mod resolve;
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
    /// How long a fetched mirror and a found location stay fresh.
    pub fresh: Duration,
}

pub struct Direct {
    settings: DirectSettings,
    /// Archives and zips being built; emptied at start, so a crash leaves nothing behind.
    scratch: PathBuf,
    git: git::Git,
    http: Arc<HttpClient>,
    /// One lock per repository, holding when its mirror was last fetched.
    repos: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
    /// Where modules were found (discovery and scheme probes), for the freshness window.
    located: Mutex<HashMap<String, (Instant, Found)>>,
}

impl Direct {
    pub fn new(settings: DirectSettings, http: Arc<HttpClient>) -> Self {
        let scratch = settings.root.join("tmp");
        if let Ok(entries) = std::fs::read_dir(&scratch) {
            for entry in entries.flatten() {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let git = git::Git { timeout: settings.timeout, egress_env: settings.egress_env.clone() };
        Self { settings, scratch, git, http, repos: Mutex::new(HashMap::new()), located: Mutex::new(HashMap::new()) }
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
