//! Revisions to commits, the way the go command's git code host does it: the mirror first,
//! then the server's refs (a tag, a branch, HEAD, or a hash prefix of one of them is fetched
//! alone with depth 1), and the whole history only as a last resort — for a commit no ref
//! names, for the highest tag behind a commit, and for whether a commit descends from a tag.

use super::mirror::{plain_ref_name, Mirror, Refs};
use crate::source::FetchError;

/// A commit the mirror holds.
#[derive(Debug, Clone)]
pub(super) struct Commit {
    pub hash: String,
    /// Commit time, Unix seconds.
    pub time: i64,
    /// Tags on the commit: the mirror's and the server's.
    pub tags: Vec<String>,
}

impl Commit {
    /// Adds the tags the server has on the commit (a shallow fetch need not bring them along).
    fn add_server_tags(&mut self, refs: Option<&Refs>) {
        for (name, h) in refs.into_iter().flatten() {
            if let Some(t) = name.strip_prefix("refs/tags/").filter(|_| *h == self.hash) {
                self.tags.push(t.to_string());
            }
        }
        self.tags.sort();
        self.tags.dedup();
    }
}

/// The shortest hash prefix the go command takes for a commit.
const MIN_HASH_DIGITS: usize = 7;

fn hex_rev(rev: &str) -> bool {
    (MIN_HASH_DIGITS..=40).contains(&rev.len()) && rev.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn unknown(rev: &str) -> FetchError {
    FetchError::not_found(format!("unknown revision {rev}"))
}

impl Mirror {
    /// `git log -n1` of a revision the mirror holds: its hash, time and tags (the mirror's,
    /// plus the server's from `refs`); `None` when the mirror does not hold it.
    pub async fn stat_local(&self, rev: &str, refs: Option<&Refs>) -> Result<Option<Commit>, FetchError> {
        let args = [
            "-c",
            "log.showsignature=false",
            "log",
            "--no-decorate",
            "-n1",
            "--format=format:%H %ct %D",
            "--end-of-options",
            rev,
            "--",
        ];
        let (ok, out, _) = self.git().status(&self.dir, &args).await?;
        if !ok {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&out);
        let mut f = text.split_whitespace();
        let (Some(hash), Some(time)) = (f.next(), f.next().and_then(|t| t.parse().ok())) else {
            return Err(FetchError::Failed(format!("unexpected answer from git log: {text:?}")));
        };
        let mut tags = Vec::new();
        while let Some(word) = f.next() {
            if word == "tag:" {
                if let Some(t) = f.next() {
                    tags.push(t.trim_end_matches(',').to_string());
                }
            }
        }
        let mut c = Commit { hash: hash.to_string(), time, tags };
        c.add_server_tags(refs);
        Ok(Some(c))
    }

    /// A revision — tag, branch, `HEAD`, or a hash or hash prefix of at least 7 digits — to a
    /// commit, fetching what the mirror lacks. Only commits reachable from the server's
    /// branches and tags are ever fetched.
    pub async fn stat(&self, rev: &str) -> Result<Commit, FetchError> {
        if rev.starts_with('-') {
            return Err(unknown(rev));
        }
        let hex = hex_rev(rev);
        // A commit the mirror holds, or a tag it holds (tags are taken never to move), needs no
        // fetch; the server's tags on it are added as far as they are known.
        let held = if hex { self.stat_local(rev, None).await? } else { None };
        let held = match held {
            None if plain_ref_name(rev) => self.stat_local(&format!("refs/tags/{rev}"), None).await?,
            held => held,
        };
        if let Some(mut c) = held {
            c.add_server_tags(self.refs().await.ok().as_deref());
            return Ok(c);
        }
        let refs = self.refs().await?;
        let plain = plain_ref_name(rev);
        let (refname, hash) = if let Some(h) = refs.get(&format!("refs/tags/{rev}")).filter(|_| plain) {
            (Some(format!("refs/tags/{rev}")), Some(h.clone()))
        } else if let Some(h) = refs.get(&format!("refs/heads/{rev}")).filter(|_| plain) {
            (Some(format!("refs/heads/{rev}")), Some(h.clone()))
        } else if rev == "HEAD" && refs.contains_key("HEAD") {
            (Some("HEAD".to_string()), refs.get("HEAD").cloned())
        } else if hex {
            // A hash prefix of a ref's commit names that ref (the first by name on a tie).
            let mut found: Option<(String, String)> = None;
            for (name, h) in refs.iter().filter(|(_, h)| h.starts_with(rev)) {
                match &found {
                    Some((_, fh)) if fh != h => return Err(FetchError::not_found(format!("ambiguous revision {rev}"))),
                    Some(_) => {}
                    None => found = Some((name.clone(), h.clone())),
                }
            }
            match found {
                Some((name, h)) => (Some(name), Some(h)),
                None => (None, (rev.len() == 40).then(|| rev.to_string())),
            }
        } else {
            return Err(unknown(rev));
        };
        let local = hash.as_deref().unwrap_or(rev);
        if !hex {
            if let Some(c) = self.stat_local(local, Some(&refs)).await? {
                self.keep_tag(refname.as_deref(), &c).await?;
                return Ok(c);
            }
        }
        if let (Some(name), Some(h)) = (&refname, &hash) {
            // The fetch names the tag in the mirror too.
            self.fetch_ref(name, h).await?;
            if let Some(c) = self.stat_local(h, Some(&refs)).await? {
                return Ok(c);
            }
        }
        // The last resort: every branch and tag with its history, and hope the commit is in it.
        self.fetch_all().await?;
        self.stat_local(local, Some(&refs)).await?.ok_or_else(|| unknown(rev))
    }

    /// A tag the server has on a commit the mirror holds, made in the mirror too, so that
    /// ancestry questions (`--merged`) see it.
    async fn keep_tag(&self, refname: Option<&str>, c: &Commit) -> Result<(), FetchError> {
        let Some(tag) = refname.and_then(|r| r.strip_prefix("refs/tags/")) else { return Ok(()) };
        let (held, _, _) =
            self.git().status(&self.dir, &["rev-parse", "--verify", "-q", &format!("refs/tags/{tag}")]).await?;
        if !held {
            self.write_ref(&format!("refs/tags/{tag}"), &c.hash).await?;
        }
        Ok(())
    }

    /// The tags (names) the mirror holds among `commit`'s ancestors and itself.
    async fn merged_tags(&self, commit: &str) -> Result<Vec<String>, FetchError> {
        let merged = format!("--merged={commit}");
        let out = self.git().run(&self.dir, &["for-each-ref", "--format=%(refname)", &merged, "refs/tags/"]).await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| l.strip_prefix("refs/tags/"))
            .map(str::to_string)
            .collect())
    }

    /// The tags behind `commit` from which `pick` chooses a pseudo-version base: the ones the
    /// mirror has; when `pick` finds none there but the server has tags starting with
    /// `prefix` + "v", the whole history is fetched and the mirror asked again.
    pub async fn ancestor_tags(
        &self,
        commit: &str,
        prefix: &str,
        pick: impl Fn(&[String]) -> bool,
    ) -> Result<Vec<String>, FetchError> {
        let tags = self.merged_tags(commit).await?;
        if pick(&tags) {
            return Ok(tags);
        }
        let refs = self.refs().await?;
        let plausible = format!("refs/tags/{prefix}v");
        if !refs.keys().any(|r| r.starts_with(&plausible)) {
            return Ok(tags);
        }
        self.fetch_all().await?;
        self.merged_tags(commit).await
    }

    /// Whether `commit` descends from (or is) the commit of `tag`, fetching the whole history
    /// when the mirror cannot tell.
    pub async fn descends_from(&self, commit: &str, tag: &str) -> Result<bool, FetchError> {
        let name = format!("refs/tags/{tag}");
        let ask = || async {
            let (ok, _, _) =
                self.git().status(&self.dir, &["merge-base", "--is-ancestor", "--", &name, commit]).await?;
            Ok::<_, FetchError>(ok)
        };
        if ask().await? {
            return Ok(true);
        }
        let refs = self.refs().await?;
        if !refs.contains_key(&name) {
            return Ok(false);
        }
        self.fetch_all().await?;
        ask().await
    }
}
