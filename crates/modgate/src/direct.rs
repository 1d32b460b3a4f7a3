//! Direct mode: modules served straight from their git repositories, with the `git` CLI driven
//! the way the go command drives it — one bare mirror per repository under the data dir,
//! fetched at most once per freshness window and by one task at a time, raw blobs (no
//! export-subst, no CRLF conversion) for `.mod` and `.zip`.
//!
//! Repositories are found through configured mappings (`[[direct.repo]]`: module prefix →
//! repository URL, for private servers), the built-in hosting patterns (github.com,
//! bitbucket.org, the `.git` qualifier), and `?go-get=1` discovery; a `mod` go-import tag makes
//! the named server a GOPROXY source for the module.

use crate::route::{Endpoint, ModuleRequest};
use crate::upstream::{redact, redact_text, FetchError};
use bytes::Bytes;
use gomod::{path, vcs, zipcreate};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::Command;

pub struct Direct {
    root: PathBuf,
    /// The store's temporary directory, emptied at start: a crash leaves nothing behind.
    tmp: PathBuf,
    mappings: Vec<crate::config::RepoMapping>,
    credentials: Vec<crate::config::GitCredential>,
    /// GOINSECURE-style patterns: plain-HTTP discovery and `http://`/`git://` repositories.
    insecure: String,
    /// Proxy settings for git, when the config names an egress proxy.
    egress_env: Vec<(String, String)>,
    http: Arc<crate::httpclient::HttpClient>,
    timeout: Duration,
    fresh: Duration,
    repos: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
    /// Where modules were found (discovery and scheme probes), for the freshness window.
    located: Mutex<HashMap<String, (Instant, Source)>>,
}

/// Where a module lives: its repository and the module's directory in it.
#[derive(Debug, Clone)]
struct Location {
    repo_url: String,
    code_dir: String,
    path_major: String,
    /// Whether a `/vN` module may live in a `vN/` subdirectory: not when the repository root
    /// is the module path itself.
    major_subdir: bool,
}

/// What answers a module: a git repository, or (a `mod` go-import tag) a module proxy.
#[derive(Debug, Clone)]
enum Source {
    Git(Location),
    Proxy(String),
}

/// Largest `?go-get=1` page read.
const MAX_DISCOVERY_PAGE: u64 = 1 << 20;

fn not_found(reason: impl Into<String>) -> FetchError {
    FetchError::NotFound { status: 404, reason: reason.into() }
}

/// The location of `module` in a repository rooted at module path `root`.
fn location_in(module: &str, root: &str, repo_url: String, subdir: &str) -> Result<Location, FetchError> {
    let (prefix, major) = path::split_path_version(module).unwrap_or((module, ""));
    let mut code_dir = String::new();
    if root != module {
        let Some(rest) = prefix.strip_prefix(root).filter(|r| r.is_empty() || r.starts_with('/')) else {
            return Err(not_found(format!("direct: the repository rooted at {root} cannot contain module {module}")));
        };
        code_dir = rest.trim_matches('/').to_string();
    }
    if !subdir.is_empty() {
        code_dir = if code_dir.is_empty() { subdir.to_string() } else { format!("{subdir}/{code_dir}") };
    }
    Ok(Location { repo_url, code_dir, path_major: major.to_string(), major_subdir: root != module })
}

/// Whether a matched go-import tag may be used: a repository root with a scheme, never
/// `file:`, git or mod only, plain `http://`/`git://` only for insecure modules, and a
/// subdirectory that stays inside the repository.
fn trust(mi: &gomod::goimport::MetaImport, insecure: bool) -> Result<(), String> {
    let shown = redact(&mi.repo_root);
    let scheme =
        gomod::goimport::validate_repo_root(&mi.repo_root).map_err(|e| format!("invalid repo root {shown:?}: {e}"))?;
    let secure = match (mi.vcs.as_str(), scheme.as_str()) {
        ("mod", "https") | ("git", "https" | "ssh" | "git+ssh") => true,
        ("mod", "http") | ("git", "http" | "git") => false,
        (vcs, scheme) => return Err(format!("{vcs} over {scheme}: is not supported (git and mod are)")),
    };
    if !secure && !insecure {
        return Err(format!("refusing insecure repository URL {shown} (allow it with [direct] insecure)"));
    }
    if mi.subdir.starts_with('/') || mi.subdir.split('/').any(|e| e == ".." || e == ".") {
        return Err(format!("invalid subdirectory {:?}", mi.subdir));
    }
    Ok(())
}

/// How a module path maps to a repository without asking the network.
enum Static {
    Found(Location),
    /// `host/path.git/...`: a git repository at `repo` (no scheme), rooted at module path `root`;
    /// the scheme is found by asking the server.
    Probe {
        root: String,
        repo: String,
    },
    /// Nothing static: ask `?go-get=1`.
    Unknown,
}

/// A configured mapping (longest prefix first), else the built-in static patterns (spec §7.1):
/// hosts whose repository root is `host/owner/repo`, and the `.git` qualifier on any host.
fn locate_static(module: &str, mappings: &[crate::config::RepoMapping]) -> Result<Static, FetchError> {
    let (prefix, _) = path::split_path_version(module).unwrap_or((module, ""));
    for m in mappings {
        if gomod::goimport::has_path_prefix(prefix, &m.prefix) {
            return location_in(module, &m.prefix, m.url.clone(), "").map(Static::Found);
        }
    }
    let elems: Vec<&str> = module.split('/').collect();
    if matches!(elems[0], "github.com" | "bitbucket.org") {
        let pelems: Vec<&str> = prefix.split('/').collect();
        if pelems.len() < 3 || pelems.iter().any(|e| e.is_empty()) {
            return Err(not_found(format!("direct: invalid {} import path {module}", elems[0])));
        }
        let repo = pelems[2];
        if [".git", ".hg", ".svn", ".bzr", ".fossil"].iter().any(|s| repo.ends_with(s)) {
            return Err(not_found(format!("direct: invalid version control suffix in {} path {module}", elems[0])));
        }
        let root = pelems[..3].join("/");
        return location_in(module, &root, format!("https://{root}"), "").map(Static::Found);
    }
    // The general rule: the first element after the host that ends in ".git" closes the root.
    for (i, e) in elems.iter().enumerate().skip(1) {
        if let Some(stem) = e.strip_suffix(".git").filter(|s| !s.is_empty()) {
            let repo = format!("{}/{stem}", elems[..i].join("/"));
            return Ok(Static::Probe { root: elems[..=i].join("/"), repo });
        }
    }
    Ok(Static::Unknown)
}

impl Direct {
    pub fn new(cfg: &crate::config::Config, http: Arc<crate::httpclient::HttpClient>) -> Self {
        Self {
            root: cfg.data_dir.join("git"),
            tmp: cfg.data_dir.join("tmp"),
            mappings: cfg.direct_repos.clone(),
            credentials: cfg.git_credentials.clone(),
            insecure: cfg.direct_insecure.clone(),
            egress_env: cfg.egress.child_env(),
            http,
            timeout: cfg.git_timeout,
            fresh: cfg.list_ttl,
            repos: Mutex::new(HashMap::new()),
            located: Mutex::new(HashMap::new()),
        }
    }

    fn is_insecure(&self, module: &str) -> bool {
        gomod::glob::match_prefix_patterns(&self.insecure, module)
    }

    /// Where `module` is served from: mappings and static patterns first, then `?go-get=1`
    /// discovery. Found locations are remembered for the freshness window.
    async fn locate(&self, module: &str) -> Result<Source, FetchError> {
        let kind = locate_static(module, &self.mappings)?;
        if let Static::Found(loc) = kind {
            return Ok(Source::Git(loc));
        }
        {
            let located = self.located.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, src)) = located.get(module) {
                if at.elapsed() < self.fresh {
                    return Ok(src.clone());
                }
            }
        }
        let src = match kind {
            Static::Probe { root, repo } => Source::Git(self.probe(module, &root, &repo).await?),
            _ => self.discover(module).await?,
        };
        let mut located = self.located.lock().unwrap_or_else(|p| p.into_inner());
        located.retain(|_, (at, _)| at.elapsed() < self.fresh);
        located.insert(module.to_string(), (Instant::now(), src.clone()));
        Ok(src)
    }

    /// The `.git` qualifier rule: the first scheme whose `git ls-remote` answers, in the go
    /// command's order (`git://` and `http://` only for insecure modules).
    async fn probe(&self, module: &str, root: &str, repo: &str) -> Result<Location, FetchError> {
        let insecure = self.is_insecure(module);
        let schemes = ["git", "https", "http", "git+ssh", "ssh"];
        std::fs::create_dir_all(&self.tmp).map_err(|e| FetchError::Failed(format!("direct: {e}")))?;
        let mut last = String::new();
        for scheme in schemes.iter().filter(|s| insecure || !matches!(**s, "git" | "http")) {
            let url = format!("{scheme}://{repo}");
            let env = self.auth_env(&url);
            match self.git_status_env(&self.tmp, &["ls-remote", "-q", &url, "HEAD"], &env, None).await {
                Ok((true, _, _)) => return location_in(module, root, url, ""),
                Ok((false, _, err)) => last = redact_text(String::from_utf8_lossy(&err).lines().next().unwrap_or("")),
                Err(e) => last = e.reason().to_string(),
            }
        }
        Err(not_found(format!("direct: no scheme reaches {repo}: {last}")))
    }

    /// The go-import tags at `https://<path>?go-get=1` (plain HTTP too for insecure modules).
    async fn meta_imports(
        &self,
        path: &str,
        insecure: bool,
    ) -> Result<(String, Vec<gomod::goimport::MetaImport>), FetchError> {
        let (host, rest) = path.split_once('/').map(|(h, r)| (h, format!("/{r}"))).unwrap_or((path, "/".into()));
        let mut schemes = vec!["https"];
        if insecure {
            schemes.push("http");
        }
        let mut last = None;
        for scheme in schemes {
            let url = format!("{scheme}://{host}{rest}?go-get=1");
            let answer = match self.http.get(&url).await {
                Ok(a) => a,
                Err(e) => {
                    last = Some(e);
                    continue;
                }
            };
            let status = answer.response.status().as_u16();
            let body = crate::upstream::Body::Http {
                body: answer.response.into_body(),
                idle: self.http.idle,
                origin: answer.url.clone(),
            };
            let page = tokio::time::timeout(self.http.timeout, body.collect(MAX_DISCOVERY_PAGE))
                .await
                .map_err(|_| FetchError::Timeout(format!("direct: {url}: the page did not arrive in time")))??;
            let imports = gomod::goimport::parse_meta_go_imports(&page);
            // The status does not matter when the page carries tags (a 404 page may).
            if imports.is_empty() {
                let why = if status == 200 { "no go-import meta tag".to_string() } else { format!("status {status}") };
                return Err(not_found(format!("direct: {}: {why}", answer.url)));
            }
            return Ok((answer.url, imports));
        }
        Err(match last {
            Some(FetchError::Timeout(r)) => FetchError::Timeout(format!("direct: discovery: {r}")),
            Some(e) => not_found(format!("direct: discovery: {}", e.reason())),
            None => not_found("direct: discovery failed"),
        })
    }

    /// `?go-get=1` discovery (spec §7.2), with the go command's checks: the tag must be for a
    /// path prefix of the module, a tag for a shorter prefix must be confirmed by that prefix's
    /// own page, the repository URL needs a scheme and not `file:`, and plain `http://` or
    /// `git://` only for modules marked insecure.
    async fn discover(&self, module: &str) -> Result<Source, FetchError> {
        use gomod::goimport;
        let insecure = self.is_insecure(module);
        let (page, imports) = self.meta_imports(module, insecure).await?;
        let mi =
            goimport::match_go_import(&imports, module).map_err(|e| not_found(format!("direct: {page}: {e}")))?.clone();
        if mi.prefix != module {
            if path::check_import_path(&mi.prefix).is_err() {
                return Err(not_found(format!("direct: {page}: invalid go-import prefix {:?}", mi.prefix)));
            }
            let (page2, imports2) = self.meta_imports(&mi.prefix, insecure).await?;
            if goimport::match_go_import(&imports2, module).ok() != Some(&mi) {
                return Err(not_found(format!(
                    "direct: {page} and {page2} disagree about go-import for {}",
                    mi.prefix
                )));
            }
        }
        trust(&mi, insecure).map_err(|e| not_found(format!("direct: {page}: {e}")))?;
        if mi.vcs == "mod" {
            return Ok(Source::Proxy(mi.repo_root.trim_end_matches('/').to_string()));
        }
        location_in(module, &mi.prefix, mi.repo_root.clone(), mi.subdir.trim_matches('/')).map(Source::Git)
    }

    /// Environment for git commands that talk to `url`'s host: an `Authorization` header scoped
    /// to that host (through GIT_CONFIG_* variables, so the secret is in no command line), or an
    /// SSH key. Nothing for hosts without credentials.
    fn auth_env(&self, url: &str) -> Vec<(String, String)> {
        let (scheme, host_port, host) = url_host(url);
        let Some(cred) = self.credentials.iter().find(|c| c.host == host_port || c.host == host) else {
            return if scheme == "ssh" { self.ssh_env(None, None) } else { Vec::new() };
        };
        let basic = |user: &str, secret: &str| {
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
            vec![
                ("GIT_CONFIG_COUNT".to_string(), "1".to_string()),
                ("GIT_CONFIG_KEY_0".to_string(), format!("http.{scheme}://{host_port}/.extraHeader")),
                ("GIT_CONFIG_VALUE_0".to_string(), format!("Authorization: Basic {token}")),
            ]
        };
        match &cred.auth {
            crate::config::GitAuth::Basic { username, secret } if scheme.starts_with("http") => basic(username, secret),
            crate::config::GitAuth::Netrc(path) if scheme.starts_with("http") => match netrc_login(path, &host) {
                Some((user, pass)) => basic(&user, &pass),
                None => Vec::new(),
            },
            crate::config::GitAuth::SshKey { key, known_hosts } if scheme == "ssh" => {
                self.ssh_env(Some(key), known_hosts.as_deref())
            }
            _ => Vec::new(),
        }
    }

    /// ssh for git: never prompting, the configured key only, and the server's key pinned by
    /// the configured known-hosts file or else trusted on first use and remembered in the data
    /// dir (never in the user's ~/.ssh).
    fn ssh_env(&self, key: Option<&std::path::Path>, known_hosts: Option<&std::path::Path>) -> Vec<(String, String)> {
        let hosts = match known_hosts {
            Some(f) => format!("-o StrictHostKeyChecking=yes -o UserKnownHostsFile='{}'", f.display()),
            None => format!(
                "-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile='{}'",
                self.root.join("known_hosts").display()
            ),
        };
        let identity = match key {
            Some(k) => format!("-i '{}' -o IdentitiesOnly=yes ", k.display()),
            None => String::new(),
        };
        vec![("GIT_SSH_COMMAND".to_string(), format!("ssh {identity}-o BatchMode=yes {hosts}"))]
    }

    fn mirror_dir(&self, url: &str) -> PathBuf {
        use sha2::{Digest, Sha256};
        self.root.join(&hex::encode(Sha256::digest(url.as_bytes()))[..24])
    }

    async fn git(&self, dir: &std::path::Path, args: &[&str]) -> Result<Vec<u8>, FetchError> {
        self.git_env(dir, args, &[]).await
    }

    async fn git_env(
        &self,
        dir: &std::path::Path,
        args: &[&str],
        env: &[(String, String)],
    ) -> Result<Vec<u8>, FetchError> {
        let out = self.git_status_env(dir, args, env, None).await?;
        match out {
            (true, stdout, _) => Ok(stdout),
            // git may quote the repository URL: never pass its credentials on.
            (false, _, stderr) => Err(FetchError::Failed(redact_text(&format!(
                "git {}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&stderr).lines().find(|l| !l.trim().is_empty()).unwrap_or("failed")
            )))),
        }
    }

    /// Runs git in `dir` (never prompting), with the configured timeout.
    async fn git_status(&self, dir: &std::path::Path, args: &[&str]) -> Result<(bool, Vec<u8>, Vec<u8>), FetchError> {
        self.git_status_env(dir, args, &[], None).await
    }

    /// Runs git with extra environment (credentials for the network commands) and, when given,
    /// `input` on its standard input; the whole run is bounded by the timeout, and the process is
    /// killed if it is dropped.
    async fn git_status_env(
        &self,
        dir: &std::path::Path,
        args: &[&str],
        env: &[(String, String)],
        input: Option<&[u8]>,
    ) -> Result<(bool, Vec<u8>, Vec<u8>), FetchError> {
        use std::process::Stdio;
        use tokio::io::AsyncWriteExt;
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(dir).args(args).env("GIT_TERMINAL_PROMPT", "0").kill_on_drop(true);
        cmd.envs(self.egress_env.iter().chain(env).map(|(k, v)| (k.as_str(), v.as_str())));
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let run = async {
            let mut child = cmd.spawn()?;
            let stdin = child.stdin.take();
            // Feed stdin while the output is read, so neither pipe can fill up and stall git.
            let feed = async {
                if let (Some(mut w), Some(data)) = (stdin, input) {
                    w.write_all(data).await?;
                }
                Ok::<_, std::io::Error>(())
            };
            let (fed, out) = tokio::join!(feed, child.wait_with_output());
            fed?;
            out
        };
        let out = tokio::time::timeout(self.timeout, run)
            .await
            .map_err(|_| {
                FetchError::Timeout(format!("git {} took longer than {:?}", args.first().unwrap_or(&""), self.timeout))
            })?
            .map_err(|e| FetchError::Failed(format!("running git: {e}")))?;
        Ok((out.status.success(), out.stdout, out.stderr))
    }

    /// The mirror of a repository, fetched if it is older than the freshness window; one fetch
    /// per repository at a time.
    async fn mirror(&self, url: &str) -> Result<PathBuf, FetchError> {
        let dir = self.mirror_dir(url);
        let lock = {
            let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(repos.entry(url.to_string()).or_default())
        };
        let mut last = lock.lock().await;
        if last.is_some_and(|t| t.elapsed() < self.fresh) {
            return Ok(dir);
        }
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(&dir).map_err(|e| FetchError::Failed(format!("creating mirror: {e}")))?;
            self.git(&dir, &["init", "-q", "--bare"]).await?;
            self.git(&dir, &["remote", "add", "origin", url]).await?;
        }
        let auth = self.auth_env(url);
        let fetched = self
            .git_env(
                &dir,
                &["fetch", "-q", "-f", "--prune", "origin", "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
                &auth,
            )
            .await;
        if let Err(e) = fetched {
            let has_refs = self.git(&dir, &["for-each-ref", "--count=1"]).await.map(|o| !o.is_empty()).unwrap_or(false);
            if !has_refs {
                // A server that hangs is a timeout (504); one that refuses is "not here" (404).
                return Err(match e {
                    FetchError::Timeout(_) => {
                        FetchError::Timeout(format!("direct: fetching {} timed out", redact(url)))
                    }
                    _ => not_found(format!("direct: cannot fetch {}: {}", redact(url), e.reason())),
                });
            }
            tracing::warn!(repo = %redact(url), error = %e.reason(), "fetch failed; using the mirror as it is");
        }
        // HEAD of the mirror follows the remote's default branch, for `latest` of untagged
        // repositories.
        if let Ok(out) = self.git_env(&dir, &["ls-remote", "--symref", "origin", "HEAD"], &auth).await {
            let text = String::from_utf8_lossy(&out);
            let target = text.lines().find_map(|l| l.strip_prefix("ref: ")).and_then(|l| l.split('\t').next());
            if let Some(branch) = target.filter(|b| b.starts_with("refs/heads/")) {
                let _ = self.git(&dir, &["symbolic-ref", "HEAD", branch]).await;
            }
        }
        *last = Some(Instant::now());
        Ok(dir)
    }

    async fn tags(&self, dir: &std::path::Path) -> Result<Vec<String>, FetchError> {
        let out = self.git(dir, &["for-each-ref", "--format=%(refname:lstrip=2)", "refs/tags/"]).await?;
        Ok(String::from_utf8_lossy(&out).lines().map(str::to_string).collect())
    }

    /// Whether each object exists, in one `git cat-file --batch-check`.
    async fn batch_exists(&self, dir: &std::path::Path, objects: &[String]) -> Result<Vec<bool>, FetchError> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = objects.join("\n");
        input.push('\n');
        let (_, stdout, _) =
            self.git_status_env(dir, &["cat-file", "--batch-check"], &[], Some(input.as_bytes())).await?;
        let answers: Vec<bool> = String::from_utf8_lossy(&stdout).lines().map(|l| !l.ends_with(" missing")).collect();
        if answers.len() != objects.len() {
            return Err(FetchError::Failed("git cat-file answered a different number of lines".into()));
        }
        Ok(answers)
    }

    async fn blob(&self, dir: &std::path::Path, object: &str) -> Result<Option<Vec<u8>>, FetchError> {
        match self.git_status(dir, &["cat-file", "blob", object]).await? {
            (true, out, _) => Ok(Some(out)),
            _ => Ok(None),
        }
    }

    /// A query (branch, tag, version, commit prefix) to a full commit hash.
    async fn commit_of(&self, dir: &std::path::Path, loc: &Location, query: &str) -> Result<String, FetchError> {
        if query.starts_with('-') {
            return Err(not_found(format!("invalid revision {query:?}")));
        }
        let prefix = vcs::tag_prefix(&loc.code_dir);
        let mut candidates = Vec::new();
        let plain = query.strip_suffix("+incompatible").unwrap_or(query);
        if gomod::semver::is_valid(plain) {
            candidates.push(format!("refs/tags/{prefix}{plain}^{{commit}}"));
        }
        if let Some(p) = gomod::pseudo::parse(query) {
            candidates.push(format!("{}^{{commit}}", p.rev));
        }
        candidates.push(format!("{query}^{{commit}}"));
        for c in candidates {
            let (ok, out, _) =
                self.git_status(dir, &["rev-parse", "--verify", "--quiet", "--end-of-options", &c]).await?;
            if ok {
                return Ok(String::from_utf8_lossy(&out).trim().to_string());
            }
        }
        Err(not_found(format!("unknown revision {query}")))
    }

    /// The module's directory at a commit: `code_dir`, or its `vN/` subdirectory when that
    /// holds the go.mod for a `/vN` path (major-version subdirectory).
    async fn module_dir(
        &self,
        dir: &std::path::Path,
        loc: &Location,
        module: &str,
        commit: &str,
    ) -> Result<String, FetchError> {
        let base = if loc.code_dir.is_empty() { String::new() } else { format!("{}/", loc.code_dir) };
        if let Some(n) = loc.path_major.strip_prefix('/').filter(|_| loc.major_subdir) {
            let sub = format!("{base}{n}/");
            if let Some(gm) = self.blob(dir, &format!("{commit}:{sub}go.mod")).await? {
                if gomod::modfile::module_path(&gm).as_deref() == Some(module) {
                    return Ok(sub);
                }
            }
        }
        Ok(base)
    }

    async fn commit_time(&self, dir: &std::path::Path, commit: &str) -> Result<i64, FetchError> {
        let out = self.git(dir, &["log", "-1", "--format=%ct", commit]).await?;
        String::from_utf8_lossy(&out).trim().parse().map_err(|_| FetchError::Failed("unreadable commit time".into()))
    }

    /// The canonical version and time of a query.
    async fn resolve(
        &self,
        dir: &std::path::Path,
        loc: &Location,
        module: &str,
        query: &str,
    ) -> Result<(String, i64), FetchError> {
        let commit = self.commit_of(dir, loc, query).await?;
        let time = self.commit_time(dir, &commit).await?;
        let mdir = self.module_dir(dir, loc, module, &commit).await?;
        let go_mod = self.blob(dir, &format!("{commit}:{mdir}go.mod")).await?;
        let has_go_mod = go_mod.is_some();
        // Like the go command, a go.mod may name another path, but not another major version.
        if let Some(declared) = go_mod.as_deref().and_then(gomod::modfile::module_path) {
            let major = path::split_path_version(&declared).map(|(_, m)| m).unwrap_or("");
            if major != loc.path_major {
                return Err(not_found(format!(
                    "{module}@{query}: invalid version: go.mod has module path {declared:?} at revision {}",
                    &commit[..12]
                )));
            }
        }
        // A version asked for by its own tag is that version, even when the commit carries a
        // higher tag too.
        if path::is_canonical_version(query) && !gomod::pseudo::is_pseudo_version(query) {
            let plain = query.strip_suffix("+incompatible").unwrap_or(query);
            let tag = format!("refs/tags/{}{plain}", vcs::tag_prefix(&loc.code_dir));
            let tagged = self.git_status(dir, &["rev-parse", "--verify", "--quiet", "--end-of-options", &tag]).await?.0;
            let fits = if query.ends_with("+incompatible") {
                !has_go_mod && loc.code_dir.is_empty() && loc.path_major.is_empty()
            } else {
                path::check_path_major(query, &loc.path_major).is_ok()
            };
            if tagged && fits {
                return Ok((query.to_string(), time));
            }
        }
        let lines = |b: Vec<u8>| String::from_utf8_lossy(&b).lines().map(str::to_string).collect::<Vec<_>>();
        let own = lines(self.git(dir, &["tag", "--points-at", &commit]).await?);
        let ancestors = lines(self.git(dir, &["tag", "--merged", &commit]).await?);
        let ts = utc_stamp(time);
        let version =
            vcs::resolve_commit(&own, &ancestors, &loc.code_dir, &loc.path_major, has_go_mod, &ts, &commit[..12]);
        Ok((version, time))
    }

    /// Answers one request from the module's repository.
    pub async fn fetch(&self, req: &ModuleRequest) -> Result<crate::upstream::Body, FetchError> {
        match self.locate(&req.module).await? {
            Source::Git(loc) => self.answer(req, &loc).await,
            Source::Proxy(base) => crate::upstream::fetch_http(&self.http, &format!("{base}/{}", req.rel())).await,
        }
    }

    async fn answer(&self, req: &ModuleRequest, loc: &Location) -> Result<crate::upstream::Body, FetchError> {
        use crate::upstream::Body;
        let dir = self.mirror(&loc.repo_url).await?;
        match req.endpoint {
            Endpoint::List => {
                let tags = self.tags(&dir).await?;
                let prefix = vcs::tag_prefix(&loc.code_dir);
                // First pass: which versions would the +incompatible rules ask about? (Answering
                // "no go.mod" asks the most.) Then one batched git call answers them all.
                let mut asked = Vec::new();
                vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |v| {
                    asked.push(v.to_string());
                    Ok::<_, FetchError>(false)
                })?;
                let objects: Vec<String> =
                    asked.iter().map(|v| format!("refs/tags/{prefix}{v}^{{commit}}:{prefix}go.mod")).collect();
                let answers = self.batch_exists(&dir, &objects).await?;
                let has: HashMap<&str, bool> = asked.iter().map(String::as_str).zip(answers).collect();
                let list = vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |v| {
                    Ok::<_, FetchError>(has.get(v).copied().unwrap_or(false))
                })?;
                Ok(Body::Memory(Some(Bytes::from(list.iter().map(|v| format!("{v}\n")).collect::<String>()))))
            }
            Endpoint::Latest => {
                let tags = self.tags(&dir).await?;
                let list = vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |_| Ok::<_, FetchError>(false))?;
                let best = list.iter().rev().find(|v| gomod::semver::prerelease(v).is_empty()).or(list.last()).cloned();
                let (version, time) = match best {
                    Some(v) => self.resolve(&dir, loc, &req.module, &v).await?,
                    None => self.resolve(&dir, loc, &req.module, "HEAD").await?,
                };
                Ok(Body::Memory(Some(info_json(&version, time))))
            }
            Endpoint::Info => {
                let query = req.version.as_deref().unwrap_or("HEAD");
                let (version, time) = self.resolve(&dir, loc, &req.module, query).await?;
                if path::check(&req.module, &version).is_err() {
                    return Err(not_found(format!(
                        "{}@{query}: resolves to {version}, not a version of this module",
                        req.module
                    )));
                }
                // A version query names that version (or its +incompatible form), never a
                // pseudo-version of the commit it points at.
                let plain_version = query != version && version != format!("{query}+incompatible");
                if path::is_canonical_version(query) && !gomod::pseudo::is_pseudo_version(query) && plain_version {
                    return Err(not_found(format!(
                        "{}@{query}: no such version (the revision is {version})",
                        req.module
                    )));
                }
                Ok(Body::Memory(Some(info_json(&version, time))))
            }
            Endpoint::Mod | Endpoint::Zip => {
                let version = req.version.as_deref().unwrap_or_default();
                let (resolved, _) = self.resolve(&dir, loc, &req.module, version).await?;
                if resolved != version && !gomod::pseudo::is_pseudo_version(version) {
                    return Err(not_found(format!("{}@{version}: no such version", req.module)));
                }
                let commit = self.commit_of(&dir, loc, version).await?;
                let mdir = self.module_dir(&dir, loc, &req.module, &commit).await?;
                let go_mod = self.blob(&dir, &format!("{commit}:{mdir}go.mod")).await?;
                if go_mod.is_some() {
                    if version.ends_with("+incompatible") {
                        return Err(not_found(format!(
                            "{}@{version}: invalid version: has a go.mod, so not +incompatible",
                            req.module
                        )));
                    }
                } else if !mdir.is_empty() || !loc.path_major.is_empty() {
                    return Err(not_found(format!("{}@{version}: no go.mod in {mdir:?}", req.module)));
                }
                if req.endpoint == Endpoint::Mod {
                    return Ok(Body::Memory(Some(Bytes::from(
                        go_mod.unwrap_or_else(|| zipcreate::synthesize_go_mod(&req.module)),
                    ))));
                }
                let zip = self.zip(&dir, &req.module, version, &commit, &mdir).await?;
                Ok(Body::File(tokio::fs::File::from_std(zip)))
            }
        }
    }

    /// The module zip, built the way the go command builds it: `git archive` of the module
    /// directory with export-ignore/export-subst disabled and `core.autocrlf=input`,
    /// `core.eol=lf` (so only explicit eol attributes convert line endings), then the module
    /// zip rules over that file set, plus the repository's root LICENSE for subdirectory modules.
    /// The archive and the zip live in temporary files, never whole in memory; the returned
    /// file is already unlinked.
    async fn zip(
        &self,
        dir: &std::path::Path,
        module: &str,
        version: &str,
        commit: &str,
        mdir: &str,
    ) -> Result<std::fs::File, FetchError> {
        let io = |e: std::io::Error| FetchError::Failed(format!("direct zip: {e}"));
        let attrs = dir.join("info").join("attributes");
        if !attrs.exists() {
            std::fs::create_dir_all(dir.join("info")).map_err(io)?;
            std::fs::write(&attrs, "* -export-subst -export-ignore\n").map_err(io)?;
        }
        let tmp_dir = &self.tmp;
        std::fs::create_dir_all(tmp_dir).map_err(io)?;
        let stem = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        let archive_path = tmp_dir.join(format!("{stem}.archive.zip"));
        let out_path = tmp_dir.join(format!("{stem}.module.zip"));
        // Removes both temporaries however this ends.
        struct Cleanup(Vec<PathBuf>);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                for p in &self.0 {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        let _cleanup = Cleanup(vec![archive_path.clone(), out_path.clone()]);
        let sub = mdir.trim_end_matches('/').to_string();
        let output = format!("--output={}", archive_path.display());
        let mut args = vec![
            "-c",
            "core.autocrlf=input",
            "-c",
            "core.eol=lf",
            "archive",
            "--format=zip",
            "--prefix=prefix/",
            &output,
            commit,
        ];
        if !sub.is_empty() {
            args.push(&sub);
        }
        self.git(dir, &args).await?;
        let license = if sub.is_empty() { None } else { self.blob(dir, &format!("{commit}:LICENSE")).await? };
        let (module, version) = (module.to_string(), version.to_string());
        // Reading and writing zips is blocking work.
        tokio::task::spawn_blocking(move || -> Result<std::fs::File, FetchError> {
            let bad = |e: zipcreate::CreateError| not_found(format!("{module}@{version}: {e}"));
            let rd = |e: zip::result::ZipError| FetchError::Failed(format!("reading git archive: {e}"));
            let mut z = zip::ZipArchive::new(std::fs::File::open(&archive_path).map_err(io)?).map_err(rd)?;
            let strip = if sub.is_empty() { "prefix/".to_string() } else { format!("prefix/{sub}/") };
            // (tree file, index in the archive, or None for the root LICENSE)
            let mut files = Vec::new();
            let mut index = Vec::new();
            for i in 0..z.len() {
                let e = z.by_index_raw(i).map_err(rd)?;
                let name = String::from_utf8_lossy(e.name_raw()).into_owned();
                let Some(rel) = name.strip_prefix(&strip) else { continue };
                if rel.is_empty() || rel.ends_with('/') {
                    continue;
                }
                let kind = match e.unix_mode().map(|m| m & 0o170000) {
                    Some(0o120000) => zipcreate::FileKind::Symlink,
                    Some(0o100000) | None => zipcreate::FileKind::Regular,
                    Some(_) => zipcreate::FileKind::Other,
                };
                files.push(zipcreate::TreeFile { path: rel.to_string(), kind, size: e.size() });
                index.push(Some(i));
            }
            if let Some(lic) = &license {
                if !files.iter().any(|f| f.path == "LICENSE") {
                    files.push(zipcreate::TreeFile {
                        path: "LICENSE".into(),
                        kind: zipcreate::FileKind::Regular,
                        size: lic.len() as u64,
                    });
                    index.push(None);
                }
            }
            let root_go_mod = match files.iter().position(|f| f.path == "go.mod").and_then(|i| index[i]) {
                Some(i) => {
                    let mut buf = Vec::new();
                    let entry = z.by_index(i).map_err(rd)?;
                    std::io::Read::read_to_end(
                        &mut std::io::Read::take(entry, gomod::limits::MAX_GO_MOD + 1),
                        &mut buf,
                    )
                    .map_err(io)?;
                    Some(buf)
                }
                None => None,
            };
            let plan = zipcreate::plan(&files, root_go_mod.as_deref()).map_err(bad)?;
            let out =
                std::fs::OpenOptions::new().create_new(true).read(true).write(true).open(&out_path).map_err(io)?;
            let mut w = zipcreate::ZipWriter::new(std::io::BufWriter::new(out), &module, &version).map_err(bad)?;
            for &i in &plan.include {
                let f = &files[i];
                match index[i] {
                    Some(ai) => w.add(&f.path, f.size, z.by_index(ai).map_err(rd)?).map_err(bad)?,
                    None => w.add(&f.path, f.size, license.as_deref().unwrap_or_default()).map_err(bad)?,
                }
            }
            let out = w.finish().map_err(bad)?.into_inner().map_err(|e| io(e.into_error()))?;
            // Unlinked now; the open handle still reads it.
            let _ = std::fs::remove_file(&out_path);
            let mut out = out;
            std::io::Seek::rewind(&mut out).map_err(io)?;
            Ok(out)
        })
        .await
        .map_err(|e| FetchError::Failed(format!("direct zip task: {e}")))?
    }
}

/// (scheme, host[:port], host) of a git URL, scp-like `user@host:path` included.
fn url_host(url: &str) -> (String, String, String) {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("ssh".to_string(), url),
    };
    let authority = if scheme == "ssh" && !url.contains("://") {
        rest.split(':').next().unwrap_or("")
    } else {
        rest.split('/').next().unwrap_or("")
    };
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority).to_string();
    let host = host_port.split(':').next().unwrap_or("").to_string();
    (scheme, host_port, host)
}

/// The login and password of `machine host` (or `default`) in a netrc file.
fn netrc_login(path: &std::path::Path, host: &str) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let (mut i, mut found, mut default) = (0, None, None);
    while i < tokens.len() {
        let matches = match tokens[i] {
            "machine" => {
                i += 1;
                tokens.get(i).is_some_and(|m| *m == host)
            }
            "default" => true,
            _ => {
                i += 1;
                continue;
            }
        };
        let is_default = tokens[i] == "default";
        i += 1;
        let (mut login, mut password) = (None, None);
        while i < tokens.len() && tokens[i] != "machine" && tokens[i] != "default" {
            match tokens[i] {
                "login" => login = tokens.get(i + 1).map(|s| s.to_string()),
                "password" => password = tokens.get(i + 1).map(|s| s.to_string()),
                _ => {}
            }
            i += 2;
        }
        if let (true, Some(l), Some(p)) = (matches, login, password) {
            if is_default {
                default = default.or(Some((l, p)));
            } else {
                found = found.or(Some((l, p)));
            }
        }
    }
    found.or(default)
}

fn info_json(version: &str, time: i64) -> Bytes {
    Bytes::from(format!("{{\"Version\":\"{version}\",\"Time\":\"{}\"}}\n", rfc3339(time)))
}

/// Days-from-civil arithmetic for UTC timestamps (no time zone database needed).
fn civil(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// `2006-01-02T15:04:05Z` for a Unix time.
pub(crate) fn rfc3339(t: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn utc_stamp(t: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(t);
    format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_136_214_245), "2006-01-02T15:04:05Z");
        assert_eq!(utc_stamp(1_136_214_245), "20060102150405");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn hosts_and_netrc() {
        assert_eq!(
            url_host("https://bot:x@git.corp.example:8443/a.git"),
            ("https".into(), "git.corp.example:8443".into(), "git.corp.example".into())
        );
        assert_eq!(
            url_host("git@git.corp.example:team/a.git"),
            ("ssh".into(), "git.corp.example".into(), "git.corp.example".into())
        );
        assert_eq!(url_host("ssh://git@h.example/x"), ("ssh".into(), "h.example".into(), "h.example".into()));
        let dir = tempfile_dir();
        let p = dir.join("netrc");
        std::fs::write(&p, "machine other.example login a password b\nmachine git.corp.example\n  login bot\n  password s3\ndefault login d password dp\n").unwrap();
        assert_eq!(netrc_login(&p, "git.corp.example"), Some(("bot".into(), "s3".into())));
        assert_eq!(netrc_login(&p, "unknown.example"), Some(("d".into(), "dp".into())));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("modgate-netrc-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn go_import_trust() {
        let mi = |vcs: &str, root: &str, subdir: &str| gomod::goimport::MetaImport {
            prefix: "corp.example/m".into(),
            vcs: vcs.into(),
            repo_root: root.into(),
            subdir: subdir.into(),
        };
        assert!(trust(&mi("git", "https://git.corp.example/m.git", ""), false).is_ok());
        assert!(trust(&mi("git", "ssh://git@git.corp.example/m.git", "go"), false).is_ok());
        assert!(trust(&mi("mod", "https://proxy.corp.example", ""), false).is_ok());
        for (vcs, root) in
            [("git", "http://git.corp.example/m"), ("git", "git://git.corp.example/m"), ("mod", "http://p")]
        {
            let e = trust(&mi(vcs, root, ""), false).unwrap_err();
            assert!(e.contains("insecure"), "{e}");
            assert!(trust(&mi(vcs, root, ""), true).is_ok());
        }
        assert!(trust(&mi("git", "file:///srv/git/m", ""), true).unwrap_err().contains("file"));
        assert!(trust(&mi("git", "git.corp.example/m", ""), true).unwrap_err().contains("scheme"));
        assert!(trust(&mi("hg", "https://hg.corp.example/m", ""), true).unwrap_err().contains("not supported"));
        assert!(trust(&mi("mod", "ssh://p/x", ""), true).is_err());
        assert!(trust(&mi("git", "https://h/m", "../etc"), true).is_err());
        assert!(trust(&mi("git", "https://h/m", "/abs"), true).is_err());
        let e = trust(&mi("git", "http://bot:s3cret@h/m", ""), false).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }

    fn found(module: &str, maps: &[crate::config::RepoMapping]) -> Location {
        match locate_static(module, maps) {
            Ok(Static::Found(l)) => l,
            _ => panic!("{module}: not found statically"),
        }
    }

    #[test]
    fn locations() {
        let l = found("github.com/owner/repo/sub/v2", &[]);
        assert_eq!(
            (l.repo_url.as_str(), l.code_dir.as_str(), l.path_major.as_str()),
            ("https://github.com/owner/repo", "sub", "/v2")
        );
        assert!(l.major_subdir);
        assert!(matches!(locate_static("example.com/x", &[]), Ok(Static::Unknown)));
        assert!(locate_static("github.com/owner", &[]).is_err());
        assert!(locate_static("github.com/owner/repo.git", &[]).is_err());
        match locate_static("git.corp.example/team/tools.git/cli/v2", &[]) {
            Ok(Static::Probe { root, repo }) => {
                assert_eq!(
                    (root.as_str(), repo.as_str()),
                    ("git.corp.example/team/tools.git", "git.corp.example/team/tools")
                );
                let l = location_in("git.corp.example/team/tools.git/cli/v2", &root, "https://x".into(), "").unwrap();
                assert_eq!((l.code_dir.as_str(), l.path_major.as_str()), ("cli", "/v2"));
            }
            _ => panic!("the .git rule"),
        }
        let maps = vec![
            crate::config::RepoMapping {
                prefix: "corp.example/tools".into(),
                url: "ssh://git@corp.example/tools.git".into(),
            },
            crate::config::RepoMapping { prefix: "corp.example".into(), url: "https://corp.example/all.git".into() },
        ];
        let l = found("corp.example/tools/cli/v2", &maps);
        assert_eq!((l.repo_url.as_str(), l.code_dir.as_str()), ("ssh://git@corp.example/tools.git", "cli"));
        let l = found("corp.example/toolsmith", &maps);
        assert_eq!((l.repo_url.as_str(), l.code_dir.as_str()), ("https://corp.example/all.git", "toolsmith"));
        // A discovered root that is the module path itself: no code directory, no vN/ lookup.
        let l = location_in("corp.example/m/v3", "corp.example/m/v3", "https://x".into(), "").unwrap();
        assert_eq!((l.code_dir.as_str(), l.path_major.as_str(), l.major_subdir), ("", "/v3", false));
        // A go 1.25 subdirectory field prefixes the code directory.
        let l = location_in("corp.example/m/sub", "corp.example/m", "https://x".into(), "go").unwrap();
        assert_eq!(l.code_dir, "go/sub");
        assert!(location_in("corp.example/other", "corp.example/m", "https://x".into(), "").is_err());
    }
}
