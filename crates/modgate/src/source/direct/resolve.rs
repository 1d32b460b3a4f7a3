//! Queries to versions: a branch, tag, version or commit prefix to a commit, the module's
//! directory at that commit, and the canonical version (tag or pseudo-version) with its time.
//! A pseudo-version asked for by name is checked the go command's way (its revision, time and
//! base tag) rather than recomputed, so it needs history only when it has a base.

use super::location::Location;
use super::mirror::Mirror;
use super::stat::Commit;
use super::Direct;
use crate::source::FetchError;
use gomod::{path, pseudo, semver, vcs};

/// A query resolved: its canonical version, its commit, and there the module's directory
/// (`""` or ending in `/`) and go.mod (`None` when it has none).
pub(super) struct Resolved {
    pub version: String,
    pub commit: Commit,
    pub dir: String,
    pub go_mod: Option<Vec<u8>>,
}

fn invalid(module: &str, version: &str, why: impl std::fmt::Display) -> FetchError {
    FetchError::not_found(format!("{module}@{version}: invalid version: {why}"))
}

impl Direct {
    /// A query (version, pseudo-version, branch, tag, `HEAD`, commit prefix) to its commit.
    pub(super) async fn commit_of(&self, m: &Mirror, loc: &Location, query: &str) -> Result<Commit, FetchError> {
        if query.starts_with('-') {
            return Err(FetchError::not_found(format!("invalid revision {query:?}")));
        }
        let prefix = vcs::tag_prefix(&loc.code_dir);
        let mut revs = Vec::new();
        let plain = query.strip_suffix("+incompatible").unwrap_or(query);
        if let Some(p) = pseudo::parse(query) {
            revs.push(p.rev.to_string());
        } else if semver::is_valid(plain) {
            revs.push(format!("{prefix}{plain}"));
        }
        revs.push(query.to_string());
        let mut first_error = None;
        for rev in revs {
            match m.stat(&rev).await {
                Ok(c) => return Ok(c),
                Err(e @ FetchError::NotFound { .. }) => {
                    first_error.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(first_error.unwrap_or_else(|| FetchError::not_found(format!("unknown revision {query}"))))
    }

    /// The module's directory at a commit: `code_dir`, or its `vN/` subdirectory when that
    /// holds the go.mod for a `/vN` path (major-version subdirectory).
    pub(super) async fn module_dir(
        &self,
        m: &Mirror,
        loc: &Location,
        module: &str,
        commit: &str,
    ) -> Result<String, FetchError> {
        let base = if loc.code_dir.is_empty() { String::new() } else { format!("{}/", loc.code_dir) };
        if let Some(n) = loc.path_major.strip_prefix('/').filter(|_| loc.major_subdir) {
            let sub = format!("{base}{n}/");
            if let Some(gm) = m.blob(&format!("{commit}:{sub}go.mod")).await? {
                if gomod::modfile::module_path(&gm).as_deref() == Some(module) {
                    return Ok(sub);
                }
            }
        }
        Ok(base)
    }

    /// The canonical version of a query, with its commit and the module's directory and go.mod
    /// there.
    pub(super) async fn resolve(
        &self,
        m: &Mirror,
        loc: &Location,
        module: &str,
        query: &str,
    ) -> Result<Resolved, FetchError> {
        let c = self.commit_of(m, loc, query).await?;
        let mdir = self.module_dir(m, loc, module, &c.hash).await?;
        let go_mod = m.blob(&format!("{}:{mdir}go.mod", c.hash)).await?;
        let has_go_mod = go_mod.is_some();
        let done =
            |version: String, commit: Commit| Resolved { version, commit, dir: mdir.clone(), go_mod: go_mod.clone() };
        // Like the go command, a go.mod may name another path, but not another major version.
        if let Some(declared) = go_mod.as_deref().and_then(gomod::modfile::module_path) {
            let major = path::split_path_version(&declared).map(|(_, m)| m).unwrap_or("");
            if major != loc.path_major {
                return Err(FetchError::not_found(format!(
                    "{module}@{query}: invalid version: go.mod has module path {declared:?} at revision {}",
                    &c.hash[..12]
                )));
            }
        }
        let fits = |v: &str| {
            if v.ends_with("+incompatible") {
                !has_go_mod && loc.code_dir.is_empty() && loc.path_major.is_empty()
            } else {
                path::check_path_major(v, &loc.path_major).is_ok()
            }
        };
        if pseudo::is_pseudo_version(query) {
            self.check_pseudo(m, loc, module, &c, query).await?;
            if !fits(query) {
                return Err(invalid(module, query, "the major version does not fit the module path"));
            }
            return Ok(done(query.to_string(), c));
        }
        let prefix = vcs::tag_prefix(&loc.code_dir);
        // A version asked for by its own tag is that version, even when the commit carries a
        // higher tag too.
        if path::is_canonical_version(query) {
            let plain = query.strip_suffix("+incompatible").unwrap_or(query);
            if c.tags.iter().any(|t| *t == format!("{prefix}{plain}")) && fits(query) {
                return Ok(done(query.to_string(), c));
            }
        }
        let ts = crate::time::compact(c.time);
        let short = &c.hash[..12];
        let (dir, major) = (&loc.code_dir, &loc.path_major);
        // Retracted versions are neither a commit's version nor a pseudo-version's base.
        let retracted = self.retractions(m, loc, module).await;
        let live = |tags: &[String]| -> Vec<String> {
            let gone = |t: &String| {
                vcs::tag_base(t, &prefix).is_some_and(|(v, _)| {
                    retracted.iter().any(|(lo, hi)| semver::compare(lo, &v).is_le() && semver::compare(&v, hi).is_le())
                })
            };
            tags.iter().filter(|t| !gone(t)).cloned().collect()
        };
        let own_tags = live(&c.tags);
        let own = vcs::resolve_commit(&own_tags, &[], dir, major, has_go_mod, &ts, short);
        if !pseudo::is_pseudo_version(&own) {
            return Ok(done(own, c));
        }
        let pick = |tags: &[String]| vcs::pseudo_base(&live(tags), dir, major, has_go_mod).is_some();
        let ancestors = live(&m.ancestor_tags(&c.hash, &prefix, pick).await?);
        let version = vcs::resolve_commit(&own_tags, &ancestors, dir, major, has_go_mod, &ts, short);
        Ok(done(version, c))
    }

    /// The version intervals the module's latest release retracts (Go's `retractedVersions`):
    /// from the go.mod of the highest release among the compatible versions, else of the
    /// highest pre-release. Nothing when that cannot be read.
    async fn retractions(&self, m: &Mirror, loc: &Location, module: &str) -> Vec<(String, String)> {
        let Ok(tags) = self.tags(m).await else { return Vec::new() };
        // "Every version has a go.mod" lists the compatible versions alone.
        let Ok(list) = vcs::list_versions(&tags, &loc.code_dir, &loc.path_major, |_| Ok::<_, ()>(true)) else {
            return Vec::new();
        };
        let Some(highest) = list.iter().rev().find(|v| semver::prerelease(v).is_empty()).or(list.last()) else {
            return Vec::new();
        };
        let Ok(c) = m.stat(&format!("{}{highest}", vcs::tag_prefix(&loc.code_dir))).await else { return Vec::new() };
        let Ok(mdir) = self.module_dir(m, loc, module, &c.hash).await else { return Vec::new() };
        let Ok(Some(go_mod)) = m.blob(&format!("{}:{mdir}go.mod", c.hash)).await else { return Vec::new() };
        match gomod::modfile::parse_lax(&go_mod) {
            Ok(f) => f.retract.into_iter().map(|r| (r.low, r.high)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Whether a pseudo-version really names `c` (Go's `validatePseudoVersion`): its revision
    /// is the commit's 12-digit short hash, its time the commit time, and its base a tag the
    /// commit descends from but does not carry.
    async fn check_pseudo(
        &self,
        m: &Mirror,
        loc: &Location,
        module: &str,
        c: &Commit,
        version: &str,
    ) -> Result<(), FetchError> {
        let bad = |why: String| Err(invalid(module, version, why));
        let (Some(rev), Some(ts)) = (pseudo::rev(version), pseudo::time(version)) else {
            return bad("not a valid pseudo-version".into());
        };
        let short = &c.hash[..12];
        if rev != short {
            return bad(if rev.starts_with(short) {
                format!("revision is longer than canonical (expected {short})")
            } else if short.starts_with(rev) {
                format!("revision is shorter than canonical (expected {short})")
            } else {
                format!("does not match short name of revision (expected {short})")
            });
        }
        let want = crate::time::compact(c.time);
        if ts != want {
            return bad(format!("does not match version-control timestamp (expected {want})"));
        }
        let Some(base) = pseudo::base_version(version.strip_suffix("+incompatible").unwrap_or(version)) else {
            return bad("not a valid pseudo-version".into());
        };
        if base.is_empty() {
            if loc.path_major.is_empty() && semver::major(version) == "v1" {
                return bad("major version without preceding tag must be v0, not v1".into());
            }
            return Ok(());
        }
        let prefix = vcs::tag_prefix(&loc.code_dir);
        if let Some(t) = c.tags.iter().find(|t| t.strip_prefix(&prefix) == Some(base.as_str())) {
            return bad(format!(
                "tag ({t}) found on revision {rev} is already canonical, so should not be replaced with a pseudo-version derived from that tag"
            ));
        }
        let refs = m.refs().await?;
        let named = format!("refs/tags/{prefix}{base}");
        let mut last = None;
        for tag in refs.keys().filter(|r| r.starts_with(&named)).filter_map(|r| r.strip_prefix("refs/tags/")) {
            let v = tag.strip_prefix(&prefix).unwrap_or(tag);
            if semver::compare(v, &base).is_eq() {
                last = Some(tag.to_string());
                if m.descends_from(&c.hash, tag).await? {
                    return Ok(());
                }
            }
        }
        match last {
            None => bad(format!("preceding tag ({base}) not found")),
            Some(t) => bad(format!("revision {rev} is not a descendent of preceding tag ({t})")),
        }
    }
}
