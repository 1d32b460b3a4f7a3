//! The access policy: ordered rules; the first whose module patterns (GOPRIVATE syntax) match
//! the canonical, unescaped module path decides which groups may `read`, `write` (publish) and
//! `admin`. No matching rule: nobody. `"*"` names every principal that presented a key or a
//! client certificate; anonymous callers only get the groups of `anonymous_group`.

use super::principal::{Action, Principal};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Groups allowed to use admin endpoints.
    #[serde(default)]
    pub admin: Vec<String>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    /// Client-certificate subjects (mTLS) and the groups they belong to.
    #[serde(default, rename = "client_cert")]
    pub client_certs: Vec<CertIdentity>,
    /// Path-prefix rules for reverse-proxy routes.
    #[serde(default, rename = "path")]
    pub paths: Vec<PathRule>,
}

/// Who may read (GET, HEAD) and write (every other method) under a path prefix of the
/// reverse-proxy routes, optionally on one host. The longest matching prefix decides (one
/// naming the host before one that does not); no match: nobody.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathRule {
    pub prefix: String,
    pub host: Option<String>,
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertIdentity {
    /// The subject as modgate prints it, e.g. `CN=ci-bot, O=Corp` (see the audit log).
    pub subject: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// GOPRIVATE-syntax module patterns.
    pub modules: String,
    #[serde(default)]
    pub read: Vec<String>,
    #[serde(default)]
    pub write: Vec<String>,
}

impl Policy {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let p: Policy = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1).unwrap_or(0);
            format!("{}:{line}: {}", path.display(), e.message())
        })?;
        for (i, r) in p.rules.iter().enumerate() {
            if r.modules.split(',').all(|g| g.trim().is_empty()) {
                return Err(format!("{}: rule {}: modules names no pattern", path.display(), i + 1));
            }
            for g in r.modules.split(',').map(str::trim).filter(|g| !g.is_empty()) {
                if let Err(e) = gomod::glob::path_match(g, "") {
                    return Err(format!("{}: rule {}: bad pattern {g:?}: {e:?}", path.display(), i + 1));
                }
            }
        }
        let mut p = p;
        for (i, r) in p.paths.iter_mut().enumerate() {
            let plain = r.prefix.starts_with('/')
                && !r.prefix.split('/').skip(1).any(|s| s == "." || s == ".." || s.contains(['%', '\\']));
            if !plain {
                return Err(format!(
                    "{}: path rule {}: prefix {:?} is not a plain path",
                    path.display(),
                    i + 1,
                    r.prefix
                ));
            }
            let trimmed = r.prefix.trim_end_matches('/');
            r.prefix = if trimmed.is_empty() { "/".into() } else { trimmed.to_string() };
            r.host = r.host.as_ref().map(|h| h.trim_end_matches('.').to_ascii_lowercase());
        }
        Ok(p)
    }

    /// The longest path rule over `path` (checked, matched form) on `host` decides.
    pub(super) fn decide_path(
        &self,
        who: &Principal,
        host: Option<&str>,
        path: &str,
        action: Action,
    ) -> (bool, String) {
        use crate::request::{host_matches, under};
        let rule = self
            .paths
            .iter()
            .enumerate()
            .filter(|(_, r)| host_matches(r.host.as_deref(), host) && under(path, &r.prefix))
            .max_by_key(|(i, r)| (r.prefix.len(), r.host.is_some(), usize::MAX - i));
        let Some((i, r)) = rule else { return (false, "no path rule matches".into()) };
        let groups = if action == Action::Read { &r.read } else { &r.write };
        let ok = who.in_any(groups) || (action == Action::Read && who.in_any(&r.write));
        let verb = if ok { "allows" } else { "does not allow" };
        (ok, format!("path rule {} ({}) {verb} {}", i + 1, r.prefix, action.name()))
    }

    /// The first rule matching the module decides; the reason names it.
    pub(super) fn decide(&self, who: &Principal, module: &str, action: Action) -> (bool, String) {
        if action == Action::Admin {
            let ok = who.in_any(&self.admin);
            return (ok, if ok { "admin group".into() } else { "not in an admin group".into() });
        }
        for (i, r) in self.rules.iter().enumerate() {
            if !gomod::glob::match_prefix_patterns(&r.modules, module) {
                continue;
            }
            let groups = match action {
                Action::Read => &r.read,
                _ => &r.write,
            };
            // Whoever may publish may also read.
            let ok = who.in_any(groups) || (action == Action::Read && who.in_any(&r.write));
            let verb = if ok { "allows" } else { "does not allow" };
            return (ok, format!("policy rule {} ({}) {verb} {}", i + 1, r.modules, action.name()));
        }
        (false, "no policy rule matches the module".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(groups: &[&str]) -> Principal {
        Principal { name: "t".into(), groups: groups.iter().map(|s| s.to_string()).collect(), anonymous: false }
    }

    #[test]
    fn first_matching_rule_decides() {
        let p: Policy = toml::from_str(
            r#"
            admin = ["ops"]
            [[rule]]
            modules = "corp.example/secret"
            read = ["admins"]
            [[rule]]
            modules = "corp.example/*"
            read = ["devs"]
            write = ["ci"]
            [[rule]]
            modules = "*"
            read = ["*", "public"]
            "#,
        )
        .unwrap();
        let dev = who(&["devs"]);
        assert!(p.decide(&dev, "corp.example/tools", Action::Read).0);
        assert!(!p.decide(&dev, "corp.example/tools", Action::Write).0);
        assert!(!p.decide(&dev, "corp.example/secret", Action::Read).0, "an earlier rule closes it");
        assert!(!p.decide(&dev, "corp.example/secret/sub", Action::Read).0);
        assert!(p.decide(&who(&["admins"]), "corp.example/secret", Action::Read).0);
        assert!(p.decide(&who(&["ci"]), "corp.example/tools", Action::Read).0, "write implies read");
        assert!(p.decide(&dev, "github.com/x/y", Action::Read).0);
        let anon = Principal { name: "anonymous".into(), groups: vec!["public".into()], anonymous: true };
        assert!(p.decide(&anon, "github.com/x/y", Action::Read).0);
        assert!(!p.decide(&anon, "corp.example/tools", Action::Read).0);
        let nobody = Principal { name: "anonymous".into(), groups: vec!["other".into()], anonymous: true };
        assert!(!p.decide(&nobody, "github.com/x/y", Action::Read).0, "* is not anonymous");
        assert!(p.decide(&who(&["ops"]), "", Action::Admin).0);
        assert!(!p.decide(&dev, "", Action::Admin).0);
        let empty = Policy::default();
        assert!(!empty.decide(&dev, "github.com/x/y", Action::Read).0, "no rule, nobody");
    }
}
