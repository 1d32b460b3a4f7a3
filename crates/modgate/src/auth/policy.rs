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
        Ok(p)
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
