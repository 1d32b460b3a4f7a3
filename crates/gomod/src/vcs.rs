//! From repository tags to module versions (spec §2.4, §3.5, §7.4): which tags are versions of
//! a module living in `code_dir` of its repository, and when `+incompatible` versions are listed.
//! Pure: the caller answers "does this version's tree have a go.mod?".

use crate::{path, pseudo, semver};

/// The tag prefix of a module whose root is `code_dir` in its repository (`""` at the root).
pub fn tag_prefix(code_dir: &str) -> String {
    let d = code_dir.trim_matches('/');
    if d.is_empty() {
        String::new()
    } else {
        format!("{d}/")
    }
}

/// The version a tag names for a module, or `None` when the tag is not one of its versions by
/// spelling: other prefix, not canonical (`v1.2`, `v1.2.3+meta`, anything spelled
/// `+incompatible`), or shaped like a pseudo-version.
pub fn tag_version<'a>(tag: &'a str, prefix: &str) -> Option<&'a str> {
    let v = tag.strip_prefix(prefix)?;
    if v.is_empty() || semver::canonical(v) != v || pseudo::is_pseudo_version(v) {
        return None;
    }
    Some(v)
}

/// The version a tag stands for when choosing a pseudo-version base (Go's `tagToVersion`): its
/// canonical form, which the tag must start with — so `v1.2.3+meta` stands for `v1.2.3` but
/// `v1.2` (incomplete) stands for nothing — and whether the tag is spelled canonically. Tags
/// shaped like pseudo-versions stand for nothing.
pub fn tag_base(tag: &str, prefix: &str) -> Option<(String, bool)> {
    let trimmed = tag.strip_prefix(prefix)?;
    if pseudo::is_pseudo_version(tag) {
        return None;
    }
    let v = semver::canonical(trimmed);
    if v.is_empty() || !trimmed.starts_with(&v) {
        return None;
    }
    let exact = v == trimmed;
    Some((v, exact))
}

/// The versions to list for a module: tags valid for its path, sorted, plus `+incompatible`
/// versions where Go would list them — only at the repository root of a path without a major
/// suffix, only when the latest compatible version has no go.mod, and only for majors whose
/// latest tag has no go.mod. `has_go_mod(v)` answers for a version's tree.
pub fn list_versions<E>(
    tags: &[String],
    code_dir: &str,
    path_major: &str,
    mut has_go_mod: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Vec<String>, E> {
    let prefix = tag_prefix(code_dir);
    let mut list: Vec<String> = Vec::new();
    let mut incompatible: Vec<String> = Vec::new();
    for tag in tags {
        let Some(v) = tag_version(tag, &prefix) else { continue };
        if path::check_path_major(v, path_major).is_err() {
            if prefix.is_empty() && path_major.is_empty() && semver::compare(&semver::major(v), "v1").is_gt() {
                incompatible.push(v.to_string());
            }
            continue;
        }
        list.push(v.to_string());
    }
    list.sort_by(|a, b| semver::compare(a, b).then_with(|| a.cmp(b)));
    list.dedup();
    incompatible.sort_by(|a, b| semver::compare(a, b).then_with(|| a.cmp(b)));
    incompatible.dedup();
    if incompatible.is_empty() || !path_major.is_empty() {
        return Ok(list);
    }
    if let Some(latest) = list.last() {
        if has_go_mod(latest)? {
            // The author means consumers to stay on v0/v1: no +incompatible versions at all.
            return Ok(list);
        }
    }
    let mut i = 0;
    while i < incompatible.len() {
        let major = semver::major(&incompatible[i]);
        let end =
            incompatible[i..].iter().position(|v| semver::major(v) != major).map_or(incompatible.len(), |n| i + n);
        // A major whose latest tag has a go.mod is left out whole.
        if !has_go_mod(&incompatible[end - 1])? {
            list.extend(incompatible[i..end].iter().map(|v| format!("{v}+incompatible")));
        }
        i = end;
    }
    Ok(list)
}

/// The highest of `tags` that names a version of the module (Go's "allowed" tags): versions
/// fitting the path's major, and — only at the repository root of a path without a major
/// suffix, when the commit's tree has no go.mod — higher majors as `+incompatible`.
fn best_version(tags: &[String], prefix: &str, path_major: &str, tree_has_go_mod: bool, own: bool) -> Option<String> {
    let incompatible_ok = prefix.is_empty() && path_major.is_empty() && !tree_has_go_mod;
    let mut best: Option<String> = None;
    for tag in tags {
        let Some((v, exact)) = tag_base(tag, prefix) else { continue };
        // A commit's own version must be spelled canonically; a base need only start so.
        if own && !exact {
            continue;
        }
        let candidate = if path::check_path_major(&v, path_major).is_ok() {
            v
        } else if incompatible_ok && semver::compare(&semver::major(&v), "v1").is_gt() {
            format!("{v}+incompatible")
        } else {
            continue;
        };
        if best.as_deref().is_none_or(|b| semver::compare(&candidate, b).is_gt()) {
            best = Some(candidate);
        }
    }
    best
}

/// The pseudo-version base among a commit's ancestor tags (Go's `RecentTag` with its
/// "allowed" rule): the highest tag naming a version of the module, if any.
pub fn pseudo_base(
    ancestor_tags: &[String],
    code_dir: &str,
    path_major: &str,
    tree_has_go_mod: bool,
) -> Option<String> {
    best_version(ancestor_tags, &tag_prefix(code_dir), path_major, tree_has_go_mod, false)
}

/// The canonical version of a commit (spec §3.4): its own highest version tag when it has one;
/// otherwise a pseudo-version (§3.3) based on the highest version tag among its ancestors.
/// `timestamp` is the commit time in UTC as `yyyymmddhhmmss`, `rev` the 12-hex short hash.
pub fn resolve_commit(
    commit_tags: &[String],
    ancestor_tags: &[String],
    code_dir: &str,
    path_major: &str,
    tree_has_go_mod: bool,
    timestamp: &str,
    rev: &str,
) -> String {
    let prefix = tag_prefix(code_dir);
    if let Some(v) = best_version(commit_tags, &prefix, path_major, tree_has_go_mod, true) {
        return v;
    }
    let base = best_version(ancestor_tags, &prefix, path_major, tree_has_go_mod, false).unwrap_or_default();
    let major = path_major.trim_start_matches(['/', '.']).trim_end_matches("-unstable");
    pseudo::pseudo_version(major, &base, timestamp, rev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    fn list(t: &[&str], code_dir: &str, major: &str, with_go_mod: &[&str]) -> Vec<String> {
        let gm: HashSet<&str> = with_go_mod.iter().copied().collect();
        list_versions::<()>(&tags(t), code_dir, major, |v| Ok(gm.contains(v))).unwrap()
    }

    #[test]
    fn tag_spellings() {
        assert_eq!(tag_version("v1.2.3", ""), Some("v1.2.3"));
        assert_eq!(tag_version("v1.2", ""), None);
        assert_eq!(tag_version("v1.2.3+meta", ""), None);
        assert_eq!(tag_version("v2.0.0+incompatible", ""), None);
        assert_eq!(tag_version("v0.0.0-20191109021931-daa7c04131f5", ""), None);
        assert_eq!(tag_version("sub/v1.0.0", "sub/"), Some("v1.0.0"));
        assert_eq!(tag_version("v1.0.0", "sub/"), None);
        assert_eq!(tag_version("sub/v1.0.0-rc.1", "sub/"), Some("v1.0.0-rc.1"));
        assert_eq!(tag_prefix("/a/b/"), "a/b/");
        assert_eq!(tag_prefix(""), "");
    }

    #[test]
    fn listing() {
        // Plain v0/v1 with junk tags.
        assert_eq!(
            list(&["v1.0.0", "v0.9.0", "v1.1", "release", "v1.10.0", "v1.2.0-rc.1", "v1.0.0+meta"], "", "", &[]),
            ["v0.9.0", "v1.0.0", "v1.2.0-rc.1", "v1.10.0"]
        );
        // /v2 at the root: only v2 tags.
        assert_eq!(list(&["v1.0.0", "v2.0.0", "v2.1.0", "v3.0.0"], "", "/v2", &[]), ["v2.0.0", "v2.1.0"]);
        // Subdirectory module: its own prefix only; no +incompatible there.
        assert_eq!(list(&["v1.0.0", "sub/v1.1.0", "sub/v2.0.0", "sub/v1.0.0"], "sub", "", &[]), ["v1.0.0", "v1.1.0"]);
        // +incompatible: the latest v1 lacks a go.mod, v2 and v3 lack one at their latest tags.
        assert_eq!(
            list(&["v1.0.0", "v2.0.0", "v2.1.0", "v3.0.0"], "", "", &[]),
            ["v1.0.0", "v2.0.0+incompatible", "v2.1.0+incompatible", "v3.0.0+incompatible"]
        );
        // The latest compatible version has a go.mod: no +incompatible at all.
        assert_eq!(list(&["v1.0.0", "v2.0.0"], "", "", &["v1.0.0"]), ["v1.0.0"]);
        // A major whose latest tag has a go.mod is dropped whole (v2), others kept (v3).
        assert_eq!(list(&["v2.0.0", "v2.1.0", "v3.0.0"], "", "", &["v2.1.0"]), ["v3.0.0+incompatible"]);
        // Only incompatible tags, no go.mod anywhere.
        assert_eq!(list(&["v4.1.0", "v4.0.0"], "", "", &[]), ["v4.0.0+incompatible", "v4.1.0+incompatible"]);
        // gopkg.in style major.
        assert_eq!(list(&["v1.0.0", "v2.0.0", "v2.0.1"], "", ".v2", &[]), ["v2.0.0", "v2.0.1"]);
        // Errors from the go.mod probe are passed on.
        let e = list_versions::<&str>(&tags(&["v1.0.0", "v2.0.0"]), "", "", |_| Err("git failed"));
        assert_eq!(e, Err("git failed"));
    }

    #[test]
    fn commits_to_versions() {
        let ts = "20191109021931";
        let rev = "daa7c04131f5";
        let r = |own: &[&str], anc: &[&str], dir: &str, major: &str, gm: bool| {
            resolve_commit(&tags(own), &tags(anc), dir, major, gm, ts, rev)
        };
        // Tagged commits resolve to their highest valid tag.
        assert_eq!(r(&["v1.2.0", "v1.1.0", "v1.2"], &[], "", "", true), "v1.2.0");
        assert_eq!(r(&["sub/v0.3.0", "v9.0.0"], &[], "sub", "", true), "v0.3.0");
        // Untagged: pseudo-versions on the highest ancestor.
        assert_eq!(r(&[], &[], "", "", true), "v0.0.0-20191109021931-daa7c04131f5");
        assert_eq!(r(&[], &["v1.2.3", "v1.10.0"], "", "", true), "v1.10.1-0.20191109021931-daa7c04131f5");
        assert_eq!(r(&[], &["v1.3.0-pre"], "", "", true), "v1.3.0-pre.0.20191109021931-daa7c04131f5");
        assert_eq!(r(&[], &[], "", "/v2", true), "v2.0.0-20191109021931-daa7c04131f5");
        assert_eq!(r(&[], &["v1.9.0", "v2.1.0"], "", "/v2", true), "v2.1.1-0.20191109021931-daa7c04131f5");
        // +incompatible: a v2 tag at the root of a path without suffix, no go.mod.
        assert_eq!(r(&["v2.0.0"], &[], "", "", false), "v2.0.0+incompatible");
        assert_eq!(r(&[], &["v2.0.0"], "", "", false), "v2.0.1-0.20191109021931-daa7c04131f5+incompatible");
        // With a go.mod the v2 tag is not a version of this path.
        assert_eq!(r(&["v2.0.0"], &["v1.0.0"], "", "", true), "v1.0.1-0.20191109021931-daa7c04131f5");
        // Without a go.mod the highest allowed tag wins, +incompatible included.
        assert_eq!(r(&[], &["v1.4.0", "v2.0.0"], "", "", false), "v2.0.1-0.20191109021931-daa7c04131f5+incompatible");
        assert_eq!(r(&["v1.4.0", "v2.0.0"], &[], "", "", false), "v2.0.0+incompatible");
        assert_eq!(r(&["v1.4.0", "v2.0.0"], &[], "", "", true), "v1.4.0");
        // gopkg.in
        assert_eq!(r(&[], &[], "", ".v2", true), "v2.0.0-20191109021931-daa7c04131f5");
        // Build metadata: not the commit's own version, but a base (without the metadata);
        // incomplete spellings are neither.
        assert_eq!(r(&["v0.2.0+build.5"], &["v0.2.0+build.5"], "", "", true), "v0.2.1-0.20191109021931-daa7c04131f5");
        assert_eq!(r(&[], &["v1.2", "v1.1.0"], "", "", true), "v1.1.1-0.20191109021931-daa7c04131f5");
        assert_eq!(tag_base("a/v1.0.0+x", "a/"), Some(("v1.0.0".into(), false)));
        assert_eq!(tag_base("v1.2", ""), None);
        assert_eq!(tag_base("v1.0.0", ""), Some(("v1.0.0".into(), true)));
    }
}
