//! `Auth`: the keys and the policy in force, the rate limits and the audit log, and the two
//! questions every request is asked — who are you, and may you do this.
//!
//! Keys and policy reload atomically on SIGHUP and when their files change; a bad file is
//! refused with an error log and the old state stays in force.

use super::audit::{Audit, Entry};
use super::keys::KeysFile;
use super::policy::Policy;
use super::principal::{Action, Authn, ClientCert, Principal};
use super::rate::RateLimiter;
use crate::config::AuthSettings;
use crate::obs::metrics::EdgeMetrics;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

struct State {
    keys: KeysFile,
    policy: Policy,
    stamps: Vec<Option<SystemTime>>,
}

pub struct Auth {
    settings: AuthSettings,
    rates: RateLimiter,
    state: RwLock<Arc<State>>,
    audit: Audit,
    metrics: EdgeMetrics,
    /// One edit of the keys file at a time (the admin API).
    keys_edit: std::sync::Mutex<()>,
}

fn stamps(s: &AuthSettings) -> Vec<Option<SystemTime>> {
    [&s.keys_file, &s.policy_file].iter().map(|f| std::fs::metadata(f).and_then(|m| m.modified()).ok()).collect()
}

/// Checks that the keys file and the policy load; the error names the setting at fault
/// (`auth.keys_file` or `auth.policy_file`).
pub fn check_files(settings: &AuthSettings) -> Result<(), (&'static str, String)> {
    KeysFile::load(&settings.keys_file).map_err(|e| ("auth.keys_file", e))?;
    Policy::load(&settings.policy_file).map_err(|e| ("auth.policy_file", e))?;
    Ok(())
}

/// The key a request offers: `X-API-Key`, a Bearer token, or the password of Basic auth (so a
/// `.netrc` works with the go command). `Err` for another scheme.
fn offered_key(headers: &http::HeaderMap) -> Result<Option<String>, ()> {
    if let Some(v) = headers.get("x-api-key") {
        return Ok(Some(v.to_str().unwrap_or("").trim().to_string()));
    }
    let Some(v) = headers.get(http::header::AUTHORIZATION) else { return Ok(None) };
    let v = v.to_str().unwrap_or("").trim();
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(rest.trim().to_string()))
    } else if scheme.eq_ignore_ascii_case("basic") {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).unwrap_or_default();
        let text = String::from_utf8_lossy(&decoded).into_owned();
        Ok(Some(text.split_once(':').map(|(_, p)| p.to_string()).unwrap_or_default()))
    } else {
        Err(())
    }
}

impl Auth {
    pub fn new(settings: AuthSettings, metrics: EdgeMetrics) -> Result<Arc<Self>, String> {
        let state = Self::read(&settings)?;
        let audit = match settings.audit_log.as_deref() {
            Some(target) => Audit::open(target)?,
            None => Audit::in_memory(),
        };
        Ok(Arc::new(Self {
            rates: RateLimiter::new(settings.key_rate, settings.key_burst),
            settings,
            state: RwLock::new(Arc::new(state)),
            audit,
            metrics,
            keys_edit: std::sync::Mutex::new(()),
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

    /// New per-key rate limits (a reload).
    pub fn set_rates(&self, rate: f64, burst: f64) {
        self.rates.set(rate, burst);
    }

    /// Where access decisions are counted.
    pub fn metrics(&self) -> &EdgeMetrics {
        &self.metrics
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
    pub fn authenticate(&self, headers: &http::HeaderMap, cert: Option<&ClientCert>) -> Authn {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner()).clone();
        match offered_key(headers) {
            Err(()) => return Authn::Invalid,
            Ok(Some(key)) => {
                return match state.keys.check(&key) {
                    Some(k) => Authn::Ok(Principal {
                        name: format!("key:{}", k.name),
                        groups: k.groups.clone(),
                        anonymous: false,
                    }),
                    None => Authn::Invalid,
                }
            }
            Ok(None) => {}
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
        who.anonymous || self.rates.take(&who.name)
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
        let (allowed, reason) = state.policy.decide(who, module, action);
        self.record(&Entry {
            who: &who.name,
            module,
            path: None,
            version,
            action,
            allowed,
            reason: &reason,
            request_id,
        });
        (allowed, reason)
    }

    /// Whether `who` may do `action` (read: GET/HEAD, write: the rest) under `path` of a
    /// reverse-proxy route on `host`, recorded in the audit log.
    pub fn authorize_path(
        &self,
        who: &Principal,
        host: Option<&str>,
        path: &str,
        action: Action,
        request_id: &str,
    ) -> bool {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (allowed, reason) = state.policy.decide_path(who, host, path, action);
        let place = format!("{}{path}", host.unwrap_or(""));
        let entry = Entry {
            who: &who.name,
            module: "",
            path: Some(&place),
            version: None,
            action,
            allowed,
            reason: &reason,
            request_id,
        };
        self.record(&entry);
        allowed
    }

    /// One audit line for a request refused before any module was named (bad credentials).
    pub fn record_refusal(&self, who: &str, reason: &str, request_id: &str) {
        let entry = Entry {
            who,
            module: "",
            path: None,
            version: None,
            action: Action::Read,
            allowed: false,
            reason,
            request_id,
        };
        self.record(&entry);
    }

    fn record(&self, entry: &Entry<'_>) {
        self.audit.record(entry);
    }

    /// A security event (or an admin call) in the audit log.
    pub fn security_event(&self, event: &str, detail: &serde_json::Value) {
        self.audit.event(event, detail);
    }

    /// The audit log's latest lines (see `Audit::recent`).
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The keys file (the admin API edits it, then reloads).
    pub fn keys_file(&self) -> &std::path::Path {
        &self.settings.keys_file
    }

    /// Edits the keys file (read, change, written atomically, one edit at a time) and puts the
    /// result in force at once.
    pub fn edit_keys<T>(&self, change: impl FnOnce(&mut KeysFile) -> Result<T, String>) -> Result<T, String> {
        let _one = self.keys_edit.lock().unwrap_or_else(|p| p.into_inner());
        let mut f = KeysFile::load(&self.settings.keys_file)?;
        let out = change(&mut f)?;
        f.save(&self.settings.keys_file)?;
        self.reload("the admin API changed the keys");
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        (dir, Auth::new(settings, Default::default()).unwrap())
    }

    #[test]
    fn client_certificates_map_to_groups() {
        let policy = "[[rule]]\nmodules = \"*\"\nread = [\"devs\"]\n\n\
                      [[client_cert]]\nsubject = \"CN=ci-bot, O=Corp\"\ngroups = [\"devs\"]\n";
        let (_dir, auth) = auth_with(policy, 0.0, 0.0);
        let cert = ClientCert("CN=ci-bot, O=Corp".into());
        let Authn::Ok(p) = auth.authenticate(&http::HeaderMap::new(), Some(&cert)) else { panic!("no principal") };
        assert_eq!(p.groups, vec!["devs".to_string()]);
        assert!(auth.authorize(&p, "corp.example/x", None, Action::Read, "t").0);
    }

    #[test]
    fn token_buckets_limit_each_key() {
        let (_dir, auth) = auth_with("", 0.001, 3.0);
        let a = Principal { name: "t".into(), groups: vec!["x".into()], anonymous: false };
        let b = Principal { name: "other".into(), groups: vec![], anonymous: false };
        let granted = (0..5).filter(|_| auth.rate_ok(&a)).count();
        assert_eq!(granted, 3, "the burst, then nothing (the refill is far slower than the test)");
        assert!(auth.rate_ok(&b), "another key has its own bucket");
        let anon = Principal { name: "anonymous".into(), groups: vec![], anonymous: true };
        assert!((0..5).all(|_| auth.rate_ok(&anon)), "anonymous callers are not limited per key");
    }
}
