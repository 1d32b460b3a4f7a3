//! The keys file: API keys `mg_<id>_<secret>`, stored only as SHA-256 hashes (the secrets are
//! 256 random bits, so a fast hash is enough; nothing to brute-force), each with groups, checked
//! in constant time. `modgate keys` manages it; a running server reloads it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;
use subtle::ConstantTimeEq;

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

    /// Adds a key for `name` (printable, not empty, not the name of a live key) in `groups`,
    /// and returns its secret, shown once.
    pub fn add_checked(&mut self, name: &str, groups: Vec<String>) -> Result<String, String> {
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err("the name must be printable and not empty".into());
        }
        if self.keys.iter().any(|k| k.name == name && !k.revoked) {
            return Err(format!("a key named {name:?} exists; revoke it first or pick another name"));
        }
        if let Some(g) = groups.iter().find(|g| g.trim().is_empty() || g.chars().any(|c| c.is_control() || c == ',')) {
            return Err(format!("group {g:?}: a group is a printable name without commas"));
        }
        Ok(self.add(name, groups))
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
    pub(super) fn check(&self, key: &str) -> Option<&KeyEntry> {
        let id = key_id(key)?;
        let entry = self.keys.iter().find(|k| k.id == id)?;
        let want = entry.hash.as_bytes();
        let got = hash_key(key);
        (bool::from(want.ct_eq(got.as_bytes())) && !entry.revoked).then_some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
