//! Finding a module's repository over the network: the `.git` qualifier's scheme probe and
//! `?go-get=1` discovery, with the go command's checks on what a page may claim. Found
//! locations are remembered for the freshness window.

use super::location::{locate_static, location_in, Found, Location, Static};
use super::Direct;
use crate::net::{redact, redact_text, NetError};
use crate::source::FetchError;
use gomod::path;
use std::time::Instant;

/// Largest `?go-get=1` page read.
const MAX_DISCOVERY_PAGE: u64 = 1 << 20;

/// Whether a matched go-import tag may be used: a repository root with a scheme, never
/// `file:`, git or mod only, plain `http://`/`git://` only for insecure modules, and a
/// subdirectory that stays inside the repository.
pub(super) fn trust(mi: &gomod::goimport::MetaImport, insecure: bool) -> Result<(), String> {
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

impl Direct {
    fn is_insecure(&self, module: &str) -> bool {
        gomod::glob::match_prefix_patterns(&self.settings.insecure, module)
    }

    /// Where `module` is served from: mappings and static patterns first, then `?go-get=1`
    /// discovery. Found locations are remembered for the freshness window.
    pub(super) async fn locate(&self, module: &str) -> Result<Found, FetchError> {
        let kind = locate_static(module, &self.settings.mappings)?;
        if let Static::Found(loc) = kind {
            return Ok(Found::Git(loc));
        }
        {
            let located = self.located.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, src)) = located.get(module) {
                if at.elapsed() < self.settings.fresh {
                    return Ok(src.clone());
                }
            }
        }
        let src = match kind {
            Static::Probe { root, repo } => Found::Git(self.probe(module, &root, &repo).await?),
            _ => self.discover(module).await?,
        };
        let mut located = self.located.lock().unwrap_or_else(|p| p.into_inner());
        located.retain(|_, (at, _)| at.elapsed() < self.settings.fresh);
        located.insert(module.to_string(), (Instant::now(), src.clone()));
        Ok(src)
    }

    /// The `.git` qualifier rule: the first scheme whose `git ls-remote` answers, in the go
    /// command's order (`git://` and `http://` only for insecure modules).
    async fn probe(&self, module: &str, root: &str, repo: &str) -> Result<Location, FetchError> {
        let insecure = self.is_insecure(module);
        let schemes = ["git", "https", "http", "git+ssh", "ssh"];
        std::fs::create_dir_all(&self.scratch).map_err(|e| FetchError::Failed(format!("direct: {e}")))?;
        let mut last = String::new();
        for scheme in schemes.iter().filter(|s| insecure || !matches!(**s, "git" | "http")) {
            let url = format!("{scheme}://{repo}");
            let env = self.auth_env(&url);
            match self.git.status_env(&self.scratch, &["ls-remote", "-q", &url, "HEAD"], &env, None).await {
                Ok((true, _, _)) => return location_in(module, root, url, ""),
                Ok((false, _, err)) => last = redact_text(String::from_utf8_lossy(&err).lines().next().unwrap_or("")),
                Err(e) => last = e.reason().to_string(),
            }
        }
        Err(FetchError::not_found(format!("direct: no scheme reaches {repo}: {last}")))
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
            let body = crate::net::body::collect(
                answer.response.into_body(),
                self.http.idle,
                answer.url.clone(),
                MAX_DISCOVERY_PAGE,
            );
            let page = tokio::time::timeout(self.http.timeout, body)
                .await
                .map_err(|_| FetchError::Timeout(format!("direct: {url}: the page did not arrive in time")))??;
            let imports = gomod::goimport::parse_meta_go_imports(&page);
            // The status does not matter when the page carries tags (a 404 page may).
            if imports.is_empty() {
                let why = if status == 200 { "no go-import meta tag".to_string() } else { format!("status {status}") };
                return Err(FetchError::not_found(format!("direct: {}: {why}", answer.url)));
            }
            return Ok((answer.url, imports));
        }
        Err(match last {
            Some(NetError::Timeout(r)) => FetchError::Timeout(format!("direct: discovery: {r}")),
            Some(e) => FetchError::not_found(format!("direct: discovery: {}", e.reason())),
            None => FetchError::not_found("direct: discovery failed"),
        })
    }

    /// `?go-get=1` discovery (spec §7.2), with the go command's checks: the tag must be for a
    /// path prefix of the module, a tag for a shorter prefix must be confirmed by that prefix's
    /// own page, the repository URL needs a scheme and not `file:`, and plain `http://` or
    /// `git://` only for modules marked insecure.
    async fn discover(&self, module: &str) -> Result<Found, FetchError> {
        use gomod::goimport;
        let insecure = self.is_insecure(module);
        let (page, imports) = self.meta_imports(module, insecure).await?;
        let mi = goimport::match_go_import(&imports, module)
            .map_err(|e| FetchError::not_found(format!("direct: {page}: {e}")))?
            .clone();
        if mi.prefix != module {
            if path::check_import_path(&mi.prefix).is_err() {
                return Err(FetchError::not_found(format!("direct: {page}: invalid go-import prefix {:?}", mi.prefix)));
            }
            let (page2, imports2) = self.meta_imports(&mi.prefix, insecure).await?;
            if goimport::match_go_import(&imports2, module).ok() != Some(&mi) {
                return Err(FetchError::not_found(format!(
                    "direct: {page} and {page2} disagree about go-import for {}",
                    mi.prefix
                )));
            }
        }
        trust(&mi, insecure).map_err(|e| FetchError::not_found(format!("direct: {page}: {e}")))?;
        if mi.vcs == "mod" {
            return Ok(Found::Proxy(mi.repo_root.trim_end_matches('/').to_string()));
        }
        location_in(module, &mi.prefix, mi.repo_root.clone(), mi.subdir.trim_matches('/')).map(Found::Git)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
