//! One bare mirror per repository under the data dir, filled the way the go command fills its
//! own: the server's refs come from `git ls-remote` (a listing needs nothing more), a version's
//! commit is fetched alone with `--depth=1`, and the whole history only when an answer needs
//! ancestry (`fetch_all`), after which fetches are incremental. Fetches queue on one lock per
//! repository, never two git processes writing one mirror; refs wanted by requests waiting in
//! that queue are fetched together, and a ref that cannot be fetched fails alone.

use super::git::Git;
use crate::net::redact;
use crate::source::FetchError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The server's refs: `HEAD`, `refs/heads/*` and `refs/tags/*` to commits (annotated tags
/// peeled), as the go command reads them from `git ls-remote`.
pub(super) type Refs = BTreeMap<String, String>;

/// Where the last listing is kept, so a mirror still answers when its server is down.
const LISTING: &str = "modgate-refs";
/// Touched on every use; pruning goes by its time.
const USED: &str = "modgate-used";
/// Written when a fetch of the whole history worked: from then on fetches are incremental.
const COMPLETE: &str = "modgate-complete";

/// How much of the history the mirror holds.
#[derive(Default)]
struct History {
    /// The last fetch of every branch and tag with their whole history: when, and how it ended.
    full: Option<(Instant, Result<(), FetchError>)>,
}

pub(super) struct Mirror {
    pub url: String,
    pub dir: PathBuf,
    git: Git,
    /// Credentials for the network commands.
    auth: Vec<(String, String)>,
    fresh: Duration,
    ready: tokio::sync::OnceCell<()>,
    /// Held while git writes the mirror: fetches queue here.
    writer: tokio::sync::Mutex<History>,
    /// The last listing of the server's refs and when it was made; callers share one listing.
    listed: tokio::sync::Mutex<Option<(Instant, Arc<Refs>)>>,
    /// Refspecs of requests waiting for `writer`, fetched together by whichever gets it next.
    wanted: Mutex<BTreeSet<String>>,
}

/// Parses `git ls-remote` output the go command's way: HEAD, branches and tags only, and an
/// annotated tag stands for the commit it peels to.
pub(super) fn parse_refs(text: &str) -> Refs {
    let mut refs = Refs::new();
    let mut peeled = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(hash), Some(name), None) = (f.next(), f.next(), f.next()) else { continue };
        if let Some(tag) = name.strip_suffix("^{}") {
            peeled.push((tag.to_string(), hash.to_string()));
        } else if name == "HEAD" || name.starts_with("refs/heads/") || name.starts_with("refs/tags/") {
            refs.insert(name.to_string(), hash.to_string());
        }
    }
    for (tag, hash) in peeled {
        if tag.starts_with("refs/tags/") {
            refs.insert(tag, hash);
        }
    }
    refs
}

/// Whether `name` can follow `refs/tags/` or `refs/heads/` as a plain name: no revision syntax
/// (`~`, `^`, `:`, `@{`, `..`), no globs, spaces or control characters.
pub(super) fn plain_ref_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '/', '.'])
        && !name.ends_with(['/', '.'])
        && !name.contains("..")
        && !name.contains("@{")
        && !name.contains("//")
        && !name.ends_with(".lock")
        && !name.bytes().any(|b| b < 0x21 || b == 0x7f || b"~^:?*[\\".contains(&b))
}

impl Mirror {
    pub fn new(url: String, dir: PathBuf, git: Git, auth: Vec<(String, String)>, fresh: Duration) -> Self {
        Self {
            url,
            dir,
            git,
            auth,
            fresh,
            ready: tokio::sync::OnceCell::new(),
            writer: tokio::sync::Mutex::new(History::default()),
            listed: tokio::sync::Mutex::new(None),
            wanted: Mutex::new(BTreeSet::new()),
        }
    }

    /// Creates the bare repository once, and notes the use for pruning.
    async fn ready(&self) -> Result<(), FetchError> {
        self.ready
            .get_or_try_init(|| async {
                if self.dir.join("HEAD").exists() {
                    // A mirror from before shallow fetches holds the whole history.
                    let fetched =
                        std::fs::read_dir(self.dir.join("objects/pack")).is_ok_and(|mut d| d.next().is_some());
                    if fetched && !self.dir.join(LISTING).exists() && !self.dir.join("shallow").exists() {
                        let _ = std::fs::write(self.dir.join(COMPLETE), b"");
                    }
                } else {
                    std::fs::create_dir_all(&self.dir)
                        .map_err(|e| FetchError::Failed(format!("creating mirror: {e}")))?;
                    self.git.run(&self.dir, &["init", "-q", "--bare"]).await?;
                    self.git.run(&self.dir, &["remote", "add", "origin", &self.url]).await?;
                }
                Ok::<_, FetchError>(())
            })
            .await?;
        let _ = std::fs::write(self.dir.join(USED), b"");
        Ok(())
    }

    /// The server's refs, listed at most once per freshness window. When the server cannot
    /// be reached, the last listing the mirror kept, with a warning.
    pub async fn refs(&self) -> Result<Arc<Refs>, FetchError> {
        let mut listed = self.listed.lock().await;
        if let Some((_, refs)) = listed.as_ref().filter(|(at, _)| at.elapsed() < self.fresh) {
            return Ok(Arc::clone(refs));
        }
        // Listing needs no repository: it runs beside the mirror's creation.
        let root = self.dir.parent().unwrap_or(&self.dir).to_path_buf();
        let _ = std::fs::create_dir_all(&root);
        let args = ["ls-remote", "-q", "--end-of-options", self.url.as_str()];
        let (ready, listing) = tokio::join!(self.ready(), self.git.run_env(&root, &args, &self.auth));
        ready?;
        match listing {
            Ok(out) => {
                let refs = Arc::new(parse_refs(&String::from_utf8_lossy(&out)));
                let _ = std::fs::write(self.dir.join(LISTING), &out);
                *listed = Some((Instant::now(), Arc::clone(&refs)));
                Ok(refs)
            }
            Err(e) => match std::fs::read(self.dir.join(LISTING)) {
                Ok(kept) => {
                    tracing::warn!(repo = %redact(&self.url), error = %e.reason(), "listing refs failed; using the last listing");
                    // Asked again after the freshness window, not by every request of an outage.
                    let refs = Arc::new(parse_refs(&String::from_utf8_lossy(&kept)));
                    *listed = Some((Instant::now(), Arc::clone(&refs)));
                    Ok(refs)
                }
                // A server that hangs is a timeout (504); one that refuses is "not here" (404).
                Err(_) => Err(match e {
                    FetchError::Timeout(_) => {
                        FetchError::Timeout(format!("direct: listing {} timed out", redact(&self.url)))
                    }
                    _ => FetchError::not_found(format!("direct: cannot fetch {}: {}", redact(&self.url), e.reason())),
                }),
            },
        }
    }

    /// Whether the mirror holds each commit, in one `git cat-file --batch-check`.
    pub async fn holds(&self, commits: &[String]) -> Result<Vec<bool>, FetchError> {
        let objects: Vec<String> = commits.iter().map(|c| format!("{c}^{{commit}}")).collect();
        self.batch_exists(&objects).await
    }

    /// Makes sure the mirror holds `hash`, the commit `refname` names on the server: fetched
    /// with depth 1 together with every other ref waiting, or incrementally once the mirror
    /// has the whole history. Whether it worked, the caller sees in the mirror.
    pub async fn fetch_ref(&self, refname: &str, hash: &str) -> Result<(), FetchError> {
        self.ready().await?;
        // HEAD is fetched by hash under a name no lookup uses, which still brings along the
        // tags that point at it (as the go command does).
        let spec = if refname == "HEAD" { format!("{hash}:refs/dummy") } else { format!("+{refname}:{refname}") };
        self.wanted.lock().unwrap_or_else(|p| p.into_inner()).insert(spec.clone());
        let _writing = self.writer.lock().await;
        if self.holds(&[hash.to_string()]).await?.first() == Some(&true) {
            self.wanted.lock().unwrap_or_else(|p| p.into_inner()).remove(&spec);
            return Ok(());
        }
        let mut specs: Vec<String> =
            std::mem::take(&mut *self.wanted.lock().unwrap_or_else(|p| p.into_inner())).into_iter().collect();
        if !specs.contains(&spec) {
            specs.push(spec.clone());
        }
        let complete = self.complete();
        if self.fetch_specs(&specs, complete).await.is_err() && specs.len() > 1 {
            // One bad ref must not cost the others: each alone.
            for s in &specs {
                let _ = self.fetch_specs(std::slice::from_ref(s), complete).await;
            }
        }
        Ok(())
    }

    async fn fetch_specs(&self, specs: &[String], complete: bool) -> Result<(), FetchError> {
        let mut args = vec!["-c", "protocol.version=2", "fetch", "-q", "-f"];
        if !complete {
            args.push("--depth=1");
        }
        args.extend(["--end-of-options", "origin"]);
        args.extend(specs.iter().map(String::as_str));
        let out = self.git.run_env(&self.dir, &args, &self.auth).await;
        if let Err(e) = &out {
            tracing::debug!(repo = %redact(&self.url), refs = ?specs, error = %e.reason(), "fetch of refs failed");
        }
        out.map(|_| ())
    }

    /// Points a ref of the mirror at a commit it holds, in the writers' queue.
    pub async fn write_ref(&self, name: &str, hash: &str) -> Result<(), FetchError> {
        let _writing = self.writer.lock().await;
        self.git.run(&self.dir, &["update-ref", "--end-of-options", name, hash]).await.map(|_| ())
    }

    /// Whether the mirror holds the whole history: a full fetch worked and nothing since made
    /// it shallow.
    fn complete(&self) -> bool {
        self.dir.join(COMPLETE).exists() && !self.dir.join("shallow").exists()
    }

    /// Every branch and tag with its whole history (deleted ones pruned), fetched at most once
    /// per freshness window; a failure is remembered for the window too.
    pub async fn fetch_all(&self) -> Result<(), FetchError> {
        self.ready().await?;
        let mut history = self.writer.lock().await;
        if let Some((at, outcome)) = &history.full {
            if at.elapsed() < self.fresh {
                return outcome.clone();
            }
        }
        let outcome = self.fetch_everything().await;
        if let Err(e) = &outcome {
            tracing::warn!(repo = %redact(&self.url), error = %e.reason(), "fetching the whole history failed");
        }
        history.full = Some((Instant::now(), outcome.clone()));
        outcome
    }

    async fn fetch_everything(&self) -> Result<(), FetchError> {
        let specs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];
        let fail = |e: FetchError| match e {
            FetchError::Timeout(_) => FetchError::Timeout(format!("direct: fetching {} timed out", redact(&self.url))),
            e => FetchError::not_found(format!("direct: cannot fetch {}: {}", redact(&self.url), e.reason())),
        };
        let mut args = vec!["fetch", "-q", "-f", "--prune", "--end-of-options", "origin"];
        args.extend(specs);
        self.git.run_env(&self.dir, &args, &self.auth).await.map_err(fail)?;
        // Branches and tags first, then the history behind earlier shallow fetches: two steps,
        // as the go command takes them. One `--unshallow` fetch was 30% faster on a
        // 100,000-commit history, but against a shallow server it sees other ancestors than the
        // go command does, and so names other pseudo-versions (direct_scale.rs caught it).
        if self.dir.join("shallow").exists() {
            let mut args = vec!["fetch", "-q", "-f", "--unshallow", "--end-of-options", "origin"];
            args.extend(specs);
            self.git.run_env(&self.dir, &args, &self.auth).await.map_err(fail)?;
        }
        let _ = std::fs::write(self.dir.join(COMPLETE), b"");
        Ok(())
    }

    /// Whether each object exists, in one `git cat-file --batch-check`.
    pub async fn batch_exists(&self, objects: &[String]) -> Result<Vec<bool>, FetchError> {
        if objects.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = objects.join("\n");
        input.push('\n');
        let (_, stdout, _) =
            self.git.status_env(&self.dir, &["cat-file", "--batch-check"], &[], Some(input.as_bytes())).await?;
        let answers: Vec<bool> = String::from_utf8_lossy(&stdout).lines().map(|l| !l.ends_with(" missing")).collect();
        if answers.len() != objects.len() {
            return Err(FetchError::Failed("git cat-file answered a different number of lines".into()));
        }
        Ok(answers)
    }

    /// A blob by `<commit>:<path>`, or `None` when there is none.
    pub async fn blob(&self, object: &str) -> Result<Option<Vec<u8>>, FetchError> {
        match self.git.status(&self.dir, &["cat-file", "blob", object]).await? {
            (true, out, _) => Ok(Some(out)),
            _ => Ok(None),
        }
    }

    pub fn git(&self) -> &Git {
        &self.git
    }
}

/// Removes mirrors under `root` whose last use is older than `idle` and that `may_go` lets
/// go. Returns how many went.
pub(super) fn prune(root: &Path, idle: Duration, mut may_go: impl FnMut(&Path) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        let is_mirror =
            entry.file_name().to_str().is_some_and(|n| n.len() == 24 && n.bytes().all(|b| b.is_ascii_hexdigit()));
        if !is_mirror {
            continue;
        }
        let used = std::fs::metadata(dir.join(USED)).or_else(|_| std::fs::metadata(&dir)).and_then(|m| m.modified());
        let idle_for = used.ok().and_then(|t| t.elapsed().ok()).unwrap_or_default();
        if idle_for >= idle && may_go(&dir) && std::fs::remove_dir_all(&dir).is_ok() {
            tracing::info!(mirror = %dir.display(), idle_days = idle_for.as_secs() / 86_400, "pruned an idle git mirror");
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_are_read_the_go_way() {
        let text = "aaa\tHEAD\nbbb\trefs/heads/main\nccc\trefs/tags/v1.0.0\nddd\trefs/tags/v1.0.0^{}\n\
                    eee\trefs/pull/1/head\nfff\trefs/tags/v0.1.0\nbad line here\n";
        let refs = parse_refs(text);
        assert_eq!(refs.get("HEAD").map(String::as_str), Some("aaa"));
        assert_eq!(refs.get("refs/tags/v1.0.0").map(String::as_str), Some("ddd"), "annotated tags are peeled");
        assert_eq!(refs.get("refs/tags/v0.1.0").map(String::as_str), Some("fff"));
        assert!(!refs.contains_key("refs/pull/1/head"));
        assert_eq!(refs.len(), 4);
    }

    #[test]
    fn idle_mirrors_go_and_used_or_held_ones_stay() {
        let root = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(40 * 86_400);
        let mirror = |name: &str, used: std::time::SystemTime| {
            let dir = root.path().join(name);
            std::fs::create_dir_all(dir.join("objects")).unwrap();
            let f = std::fs::File::create(dir.join(USED)).unwrap();
            f.set_modified(used).unwrap();
            dir
        };
        let idle = mirror("aaaaaaaaaaaaaaaaaaaaaaaa", old);
        let held = mirror("bbbbbbbbbbbbbbbbbbbbbbbb", old);
        let fresh = mirror("cccccccccccccccccccccccc", std::time::SystemTime::now());
        let other = root.path().join("tmp");
        std::fs::create_dir_all(&other).unwrap();
        let removed = prune(root.path(), Duration::from_secs(30 * 86_400), |d| d != held);
        assert_eq!(removed, 1);
        assert!(!idle.exists(), "idle for 40 days, past 30: removed");
        assert!(held.exists(), "held by a request: kept");
        assert!(fresh.exists(), "used just now: kept");
        assert!(other.exists(), "not a mirror: never touched");
    }

    #[test]
    fn only_plain_names_become_refs() {
        for ok in ["v1.0.0", "main", "sub/v1.2.3", "release-1.x", "v1.0.0+meta"] {
            assert!(plain_ref_name(ok), "{ok}");
        }
        for bad in ["", "main~1", "v1^", "HEAD@{1}", "a..b", "-x", "a b", "x:y", "a*", "/a", "a/", "a.lock", "a//b"] {
            assert!(!plain_ref_name(bad), "{bad}");
        }
    }
}
