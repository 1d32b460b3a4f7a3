//! Who is asking, and what they may do.
//!
//! - **Keys** (`[auth] keys_file`): API keys `mg_<id>_<secret>`, stored only as SHA-256 hashes
//!   (the secrets are 256 random bits, so a fast hash is enough; nothing to brute-force), each
//!   with groups. Accepted as `X-API-Key`, `Authorization: Bearer`, or the password of HTTP Basic
//!   auth (so a `.netrc` works with the go command). Compared in constant time.
//! - **Policy** (`[auth] policy_file`): ordered rules; the first whose module patterns (GOPRIVATE
//!   syntax) match the canonical, unescaped module path decides which groups may `read`,
//!   `write` (publish) and `admin`. No matching rule: nobody. `"*"` names every principal that
//!   presented a key or a client certificate; anonymous callers only get the groups of
//!   `anonymous_group`.
//! - **Audit** (`[auth] audit_log`): one JSON line per decision — who, module, version, action,
//!   allowed or denied, reason, request id — apart from the access log.
//!
//! Keys and policy reload atomically on SIGHUP and when their files change; a bad file is
//! refused with an error log and the old state stays in force.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;
use subtle::ConstantTimeEq;

/// What a request wants to do with a module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Read,
    Write,
    Admin,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::Admin => "admin",
        }
    }
}

/// The `[auth]` section, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    pub keys_file: PathBuf,
    pub policy_file: PathBuf,
    /// Group given to callers without credentials; `None`: they get 401.
    pub anonymous_group: Option<String>,
    /// Answer 404 instead of 403 so private module names do not leak.
    pub hide_denied: bool,
    /// `stdout`, or a file appended to.
    pub audit_log: Option<String>,
    /// Requests per second per key or certificate (0: no limit), and the bucket size.
    pub key_rate: f64,
    pub key_burst: f64,
}

// ---------------------------------------------------------------- keys file

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysFile {
    #[serde(default, rename = "key")]
    pub keys: Vec<KeyEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub groups: Vec<String>,
    /// `sha256:<hex>` of the whole key.
    pub hash: String,
    pub created: String,
    #[serde(default)]
    pub revoked: bool,
}

pub const KEY_PREFIX: &str = "mg_";

fn hash_key(key: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

/// The id part of `mg_<id>_<secret>`.
fn key_id(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some(id)
}

impl KeysFile {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let f: KeysFile = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1).unwrap_or(0);
            format!("{}:{line}: {}", path.display(), e.message())
        })?;
        let mut ids = BTreeSet::new();
        for k in &f.keys {
            if !ids.insert(k.id.as_str()) {
                return Err(format!("{}: key id {} appears twice", path.display(), k.id));
            }
            if k.hash.strip_prefix("sha256:").is_none_or(|h| h.len() != 64 || hex::decode(h).is_err()) {
                return Err(format!("{}: key {}: hash must be sha256:<64 hex digits>", path.display(), k.id));
            }
        }
        Ok(f)
    }

    /// Writes the file atomically (a temporary file renamed over it), readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = toml::to_string_pretty(self).map_err(|e| e.to_string())?;
        let text = format!("# modgate API keys: only hashes are stored. Manage with `modgate keys`.\n\n{text}");
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| format!("{}: {e}", tmp.display()))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Adds a key and returns its secret, which is shown once and never stored.
    pub fn add(&mut self, name: &str, groups: Vec<String>) -> String {
        let id = hex::encode(rand::random::<[u8; 6]>());
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let key = format!("{KEY_PREFIX}{id}_{secret}");
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.keys.push(KeyEntry {
            id,
            name: name.to_string(),
            groups,
            hash: hash_key(&key),
            created: httpdate::fmt_http_date(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(now)),
            revoked: false,
        });
        key
    }

    /// Marks a key revoked (by id or name); false when there is no such key.
    pub fn revoke(&mut self, which: &str) -> bool {
        let mut found = false;
        for k in self.keys.iter_mut().filter(|k| k.id == which || k.name == which) {
            k.revoked = true;
            found = true;
        }
        found
    }

    /// The key's entry when the key is known, not revoked, and its hash matches (in constant time).
    fn check(&self, key: &str) -> Option<&KeyEntry> {
        let id = key_id(key)?;
        let entry = self.keys.iter().find(|k| k.id == id)?;
        let want = entry.hash.as_bytes();
        let got = hash_key(key);
        (bool::from(want.ct_eq(got.as_bytes())) && !entry.revoked).then_some(entry)
    }
}

// ---------------------------------------------------------------- policy file

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
    fn decide(&self, who: &Principal, module: &str, action: Action) -> (bool, String) {
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

// ---------------------------------------------------------------- decisions

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// `key:<name>`, `cert:<subject>` or `anonymous`.
    pub name: String,
    pub groups: Vec<String>,
    pub anonymous: bool,
}

impl Principal {
    fn in_any(&self, groups: &[String]) -> bool {
        groups.iter().any(|g| (g == "*" && !self.anonymous) || self.groups.iter().any(|m| m == g))
    }
}

/// The outcome of authentication.
pub enum Authn {
    Ok(Principal),
    /// No usable credentials: 401.
    Missing,
    /// Credentials that match nothing (unknown, revoked, malformed): 401.
    Invalid,
}

struct State {
    keys: KeysFile,
    policy: Policy,
    stamps: Vec<Option<SystemTime>>,
}

pub struct Auth {
    settings: AuthSettings,
    /// Token buckets per principal: (tokens, last refill).
    buckets: Mutex<std::collections::HashMap<String, (f64, std::time::Instant)>>,
    state: RwLock<Arc<State>>,
    audit: Option<Mutex<Box<dyn std::io::Write + Send>>>,
}

fn stamps(s: &AuthSettings) -> Vec<Option<SystemTime>> {
    [&s.keys_file, &s.policy_file].iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).collect()
}

impl Auth {
    pub fn new(settings: AuthSettings) -> Result<Arc<Self>, String> {
        let state = Self::read(&settings)?;
        let audit: Option<Box<dyn std::io::Write + Send>> = match settings.audit_log.as_deref() {
            None => None,
            Some("stdout") | Some("-") => Some(Box::new(std::io::stdout())),
            Some(path) => Some(Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("audit log {path}: {e}"))?,
            )),
        };
        Ok(Arc::new(Self {
            settings,
            buckets: Mutex::new(std::collections::HashMap::new()),
            state: RwLock::new(Arc::new(state)),
            audit: audit.map(Mutex::new),
        }))
    }

    fn read(settings: &AuthSettings) -> Result<State, String> {
        let st = stamps(settings);
        Ok(State {
            keys: KeysFile::load(&settings.keys_file)?,
            policy: Policy::load(&settings.policy_file)?,
            stamps: st,
        })
    }

    pub fn hide_denied(&self) -> bool {
        self.settings.hide_denied
    }

    /// Reloads keys and policy, each on its own: a bad file keeps its previous version in force
    /// (so a broken policy never blocks a key revocation), and the swap is atomic.
    pub fn reload(&self, why: &str) {
        let mut cur = self.state.write().unwrap_or_else(|p| p.into_inner());
        let keys = KeysFile::load(&self.settings.keys_file);
        let policy = Policy::load(&self.settings.policy_file);
        for e in [keys.as_ref().err(), policy.as_ref().err()].into_iter().flatten() {
            tracing::error!(reason = why, error = %e, "keys or policy refused; the previous ones stay in force");
        }
        let (keys_ok, policy_ok) = (keys.is_ok(), policy.is_ok());
        *cur = Arc::new(State {
            keys: keys.unwrap_or_else(|_| cur.keys.clone()),
            policy: policy.unwrap_or_else(|_| cur.policy.clone()),
            // Remembered either way, so an error is reported once per change, not every poll.
            stamps: stamps(&self.settings),
        });
        if keys_ok || policy_ok {
            tracing::info!(reason = why, keys = keys_ok, policy = policy_ok, "access rules reloaded");
        }
    }

    pub fn reload_if_changed(&self) {
        let changed = self.state.read().unwrap_or_else(|p| p.into_inner()).stamps != stamps(&self.settings);
        if changed {
            self.reload("a keys or policy file changed");
        }
    }

    /// Who the request comes from: an API key (X-API-Key, Bearer, or Basic password), a
    /// verified client certificate, or nobody.
    pub fn authenticate(&self, headers: &http::HeaderMap, cert: Option<&crate::tls::ClientCert>) -> Authn {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner()).clone();
        let mut offered = None;
        if let Some(v) = headers.get("x-api-key") {
            offered = Some(v.to_str().unwrap_or("").trim().to_string());
        } else if let Some(v) = headers.get(http::header::AUTHORIZATION) {
            let v = v.to_str().unwrap_or("").trim();
            let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                offered = Some(rest.trim().to_string());
            } else if scheme.eq_ignore_ascii_case("basic") {
                use base64::Engine as _;
                let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).unwrap_or_default();
                let text = String::from_utf8_lossy(&decoded).into_owned();
                offered = Some(text.split_once(':').map(|(_, p)| p.to_string()).unwrap_or_default());
            } else {
                return Authn::Invalid;
            }
        }
        if let Some(key) = offered {
            return match state.keys.check(&key) {
                Some(k) => {
                    Authn::Ok(Principal { name: format!("key:{}", k.name), groups: k.groups.clone(), anonymous: false })
                }
                None => Authn::Invalid,
            };
        }
        if let Some(c) = cert {
            // A verified certificate's subject is its identity; the policy's `[[client_cert]]`
            // entries give its groups.
            let groups: Vec<String> =
                state.policy.client_certs.iter().filter(|i| i.subject == c.0).flat_map(|i| i.groups.clone()).collect();
            return Authn::Ok(Principal { name: format!("cert:{}", c.0), groups, anonymous: false });
        }
        match &self.settings.anonymous_group {
            Some(g) => Authn::Ok(Principal { name: "anonymous".into(), groups: vec![g.clone()], anonymous: true }),
            None => Authn::Missing,
        }
    }

    /// Takes a token from the principal's bucket; false when it is empty (429). Anonymous
    /// callers and servers without `limits.key_rate` are not limited here.
    pub fn rate_ok(&self, who: &Principal) -> bool {
        if self.settings.key_rate <= 0.0 || who.anonymous {
            return true;
        }
        let now = std::time::Instant::now();
        let (rate, burst) = (self.settings.key_rate, self.settings.key_burst.max(1.0));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() * rate < burst);
        }
        let (tokens, last) = buckets.entry(who.name.clone()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Whether `who` may do `action` on `module`, recorded in the audit log.
    pub fn authorize(
        &self,
        who: &Principal,
        module: &str,
        version: Option<&str>,
        action: Action,
        request_id: &str,
    ) -> (bool, String) {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (ok, reason) = state.policy.decide(who, module, action);
        self.record(&who.name, module, version, action, ok, &reason, request_id);
        (ok, reason)
    }

    /// One audit line for a request refused before any module was named (bad credentials).
    pub fn record_refusal(&self, who: &str, reason: &str, request_id: &str) {
        self.record(who, "", None, Action::Read, false, reason, request_id);
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        who: &str,
        module: &str,
        version: Option<&str>,
        action: Action,
        allowed: bool,
        reason: &str,
        request_id: &str,
    ) {
        let Some(out) = &self.audit else { return };
        let line = serde_json::json!({
            "time": httpdate::fmt_http_date(SystemTime::now()),
            "who": who,
            "module": module,
            "version": version,
            "action": action,
            "allowed": allowed,
            "reason": reason,
            "request_id": request_id,
        });
        let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(w, "{line}");
        let _ = w.flush();
    }
}

use std::io::Write as _;

#[cfg(test)]
mod tests {
    use super::*;

    fn who(groups: &[&str]) -> Principal {
        Principal { name: "t".into(), groups: groups.iter().map(|s| s.to_string()).collect(), anonymous: false }
    }

    #[test]
    fn keys_are_hashed_checked_and_revoked() {
        let mut f = KeysFile::default();
        let key = f.add("ci", vec!["ci".into()]);
        assert!(key.starts_with("mg_"));
        assert!(!f.keys[0].hash.contains(&key[15..]), "the secret is not stored");
        assert_eq!(f.check(&key).unwrap().name, "ci");
        let mut wrong = key.clone();
        wrong.pop();
        wrong.push(if key.ends_with('0') { '1' } else { '0' });
        assert!(f.check(&wrong).is_none());
        assert!(f.check("mg_nosuchid_abc").is_none());
        assert!(f.check("").is_none());
        assert!(f.revoke("ci"));
        assert!(f.check(&key).is_none());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys.toml");
        f.save(&p).unwrap();
        let back = KeysFile::load(&p).unwrap();
        assert_eq!(back.keys.len(), 1);
        assert!(back.keys[0].revoked);
        assert!(!std::fs::read_to_string(&p).unwrap().contains(&key[16..]));
    }

    /// An `Auth` over an empty keys file and the given policy text.
    fn auth_with(policy_text: &str, key_rate: f64, key_burst: f64) -> (tempfile::TempDir, Arc<Auth>) {
        let dir = tempfile::tempdir().unwrap();
        let (keys, policy) = (dir.path().join("keys.toml"), dir.path().join("policy.toml"));
        std::fs::write(&policy, policy_text).unwrap();
        let settings = AuthSettings {
            keys_file: keys,
            policy_file: policy,
            anonymous_group: None,
            hide_denied: false,
            audit_log: None,
            key_rate,
            key_burst,
        };
        (dir, Auth::new(settings).unwrap())
    }

    #[test]
    fn client_certificates_map_to_groups() {
        let policy = "[[rule]]\nmodules = \"*\"\nread = [\"devs\"]\n\n\
                      [[client_cert]]\nsubject = \"CN=ci-bot, O=Corp\"\ngroups = [\"devs\"]\n";
        let (_dir, auth) = auth_with(policy, 0.0, 0.0);
        let cert = crate::tls::ClientCert("CN=ci-bot, O=Corp".into());
        let Authn::Ok(p) = auth.authenticate(&http::HeaderMap::new(), Some(&cert)) else { panic!("no principal") };
        assert_eq!(p.groups, vec!["devs".to_string()]);
        assert!(auth.authorize(&p, "corp.example/x", None, Action::Read, "t").0);
    }

    #[test]
    fn token_buckets_limit_each_key() {
        let (_dir, auth) = auth_with("", 0.001, 3.0);
        let (a, b) = (who(&["x"]), Principal { name: "other".into(), groups: vec![], anonymous: false });
        let granted = (0..5).filter(|_| auth.rate_ok(&a)).count();
        assert_eq!(granted, 3, "the burst, then nothing (the refill is far slower than the test)");
        assert!(auth.rate_ok(&b), "another key has its own bucket");
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
