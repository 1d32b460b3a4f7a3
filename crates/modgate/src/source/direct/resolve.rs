//! Queries to versions: a branch, tag, version or commit prefix to a commit, the module's
//! directory at that commit, and the canonical version (tag or pseudo-version) with its time.

use super::location::Location;
use super::Direct;
use crate::source::FetchError;
use gomod::{path, vcs};
use std::path::Path;

impl Direct {
    /// A query (branch, tag, version, commit prefix) to a full commit hash.
    pub(super) async fn commit_of(&self, dir: &Path, loc: &Location, query: &str) -> Result<String, FetchError> {
        if query.starts_with('-') {
            return Err(FetchError::not_found(format!("invalid revision {query:?}")));
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
                self.git.status(dir, &["rev-parse", "--verify", "--quiet", "--end-of-options", &c]).await?;
            if ok {
                return Ok(String::from_utf8_lossy(&out).trim().to_string());
            }
        }
        Err(FetchError::not_found(format!("unknown revision {query}")))
    }

    /// The module's directory at a commit: `code_dir`, or its `vN/` subdirectory when that
    /// holds the go.mod for a `/vN` path (major-version subdirectory).
    pub(super) async fn module_dir(
        &self,
        dir: &Path,
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

    pub(super) async fn commit_time(&self, dir: &Path, commit: &str) -> Result<i64, FetchError> {
        let out = self.git.run(dir, &["log", "-1", "--format=%ct", commit]).await?;
        String::from_utf8_lossy(&out).trim().parse().map_err(|_| FetchError::Failed("unreadable commit time".into()))
    }

    /// The canonical version and time of a query.
    pub(super) async fn resolve(
        &self,
        dir: &Path,
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
                return Err(FetchError::not_found(format!(
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
            let tagged = self.git.status(dir, &["rev-parse", "--verify", "--quiet", "--end-of-options", &tag]).await?.0;
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
        let own = lines(self.git.run(dir, &["tag", "--points-at", &commit]).await?);
        let ancestors = lines(self.git.run(dir, &["tag", "--merged", &commit]).await?);
        let ts = crate::time::compact(time);
        let version =
            vcs::resolve_commit(&own, &ancestors, &loc.code_dir, &loc.path_major, has_go_mod, &ts, &commit[..12]);
        Ok((version, time))
    }
}
