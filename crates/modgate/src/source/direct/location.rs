//! Where a module lives without asking the network: configured mappings and the hosting
//! rules of the go command (spec §7.1). What needs the network — the `.git` qualifier's scheme
//! probe and `?go-get=1` discovery — is in `discover`.

use crate::config::RepoMapping;
use crate::source::FetchError;
use gomod::path;

/// Where a module lives: its repository and the module's directory in it.
#[derive(Debug, Clone)]
pub(super) struct Location {
    pub repo_url: String,
    pub code_dir: String,
    pub path_major: String,
    /// Whether a `/vN` module may live in a `vN/` subdirectory: not when the repository root
    /// is the module path itself.
    pub major_subdir: bool,
}

/// What answers a module: a git repository, or (a `mod` go-import tag) a module proxy.
#[derive(Debug, Clone)]
pub(super) enum Found {
    Git(Location),
    Proxy(String),
}

/// The location of `module` in a repository rooted at module path `root`.
pub(super) fn location_in(module: &str, root: &str, repo_url: String, subdir: &str) -> Result<Location, FetchError> {
    let (prefix, major) = path::split_path_version(module).unwrap_or((module, ""));
    let mut code_dir = String::new();
    if root != module {
        let Some(rest) = prefix.strip_prefix(root).filter(|r| r.is_empty() || r.starts_with('/')) else {
            return Err(FetchError::not_found(format!(
                "direct: the repository rooted at {root} cannot contain module {module}"
            )));
        };
        code_dir = rest.trim_matches('/').to_string();
    }
    if !subdir.is_empty() {
        code_dir = if code_dir.is_empty() { subdir.to_string() } else { format!("{subdir}/{code_dir}") };
    }
    Ok(Location { repo_url, code_dir, path_major: major.to_string(), major_subdir: root != module })
}

/// How a module path maps to a repository without asking the network.
pub(super) enum Static {
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
pub(super) fn locate_static(module: &str, mappings: &[RepoMapping]) -> Result<Static, FetchError> {
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
            return Err(FetchError::not_found(format!("direct: invalid {} import path {module}", elems[0])));
        }
        let repo = pelems[2];
        if [".git", ".hg", ".svn", ".bzr", ".fossil"].iter().any(|s| repo.ends_with(s)) {
            return Err(FetchError::not_found(format!(
                "direct: invalid version control suffix in {} path {module}",
                elems[0]
            )));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn found(module: &str, maps: &[RepoMapping]) -> Location {
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
            RepoMapping { prefix: "corp.example/tools".into(), url: "ssh://git@corp.example/tools.git".into() },
            RepoMapping { prefix: "corp.example".into(), url: "https://corp.example/all.git".into() },
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
