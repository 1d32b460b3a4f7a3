//! `[checksum_db]`: which checksum databases are proxied, which one modules are verified
//! against, and which modules are never looked up. Databases are written in GOSUMDB syntax:
//! `off`, a name the go command knows, or `<verifier key> [<url>]`.

use super::file::ChecksumDbSection;
use super::loader::{duration, fail, Loader, Origin};
use super::{ConfigError, Defaults};
use std::time::Duration;

/// One checksum database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SumdbSpec {
    /// The database's name (`host[/path]`), as clients write it after `/sumdb/`.
    pub name: String,
    /// Its verifier key, when known (a bare name the go command does not know has none:
    /// it can be proxied, not verified).
    pub key: Option<String>,
    /// Where it is reached; `None` asks the upstream chain (`/sumdb/<name>/`), then
    /// `https://<name>`.
    pub url: Option<String>,
}

/// The validated `[checksum_db]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ChecksumDb {
    /// The database modules are verified against (and proxied); `None` is off.
    pub database: Option<SumdbSpec>,
    /// Where `database` came from: "config", "$GOSUMDB", "go env GOSUMDB" or "default".
    pub origin: String,
    /// Further databases, proxied for clients only.
    pub proxied: Vec<SumdbSpec>,
    /// Modules never looked up (GONOSUMDB syntax).
    pub private: String,
    /// Whether fills are verified against `database`.
    pub verify: bool,
    /// How long lookups, signed heads and partial tiles are fresh.
    pub fresh: Duration,
    /// The name modgate's own log is served under (`/sumdb/<own>/`), when it keeps one.
    pub own: Option<String>,
}

impl ChecksumDb {
    /// Every database clients may ask for, the verifying one first.
    pub fn all(&self) -> impl Iterator<Item = &SumdbSpec> {
        self.database.iter().chain(self.proxied.iter())
    }
}

/// Parses GOSUMDB syntax; `Ok(None)` is `off`. `known` holds verifier keys for bare names.
pub fn parse_spec(text: &str, known: &[String]) -> Result<Option<SumdbSpec>, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        [] => Err("names no checksum database".into()),
        ["off"] => Ok(None),
        [_, _, _, ..] => Err(format!("{text:?}: too many fields; write \"<name or key> [<url>]\"")),
        [first, rest @ ..] => {
            let (name, key) = if first.contains('+') {
                let v = gomod::sumdb::note::Verifier::parse(first).map_err(|e| format!("{first:?}: {e}"))?;
                (v.name.clone(), Some(first.to_string()))
            } else {
                let key = known.iter().find(|k| k.split('+').next() == Some(*first)).cloned();
                (first.to_string(), key)
            };
            check_name(&name)?;
            let url = match rest.first() {
                None => None,
                Some(u)
                    if (u.starts_with("https://") || u.starts_with("http://")) && u.parse::<http::Uri>().is_ok() =>
                {
                    Some(u.trim_end_matches('/').to_string())
                }
                Some(u) => return Err(format!("{u:?} is not an http(s) URL")),
            };
            Ok(Some(SumdbSpec { name, key, url }))
        }
    }
}

/// A database name is `host[/path]`, nothing a URL would rewrite.
fn check_name(name: &str) -> Result<(), String> {
    let (host, path) = name.split_once('/').unwrap_or((name, ""));
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        && !host.starts_with('.');
    let segment_ok = |seg: &str| {
        !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    };
    let path_ok = !name.contains('/') || path.split('/').all(segment_ok);
    if host_ok && path_ok {
        Ok(())
    } else {
        Err(format!("invalid checksum database name {name:?} (must be host[/path])"))
    }
}

pub(super) fn load(l: &Loader<'_>, s: ChecksumDbSection, defaults: &Defaults) -> Result<ChecksumDb, ConfigError> {
    let known = &defaults.known_sumdb_keys;
    let (database, origin) = match &s.database {
        Some(v) => {
            let db =
                parse_spec(v.get_ref(), known).map_err(|e| fail("checksum_db.database", l.at(v.span().start), e))?;
            (db, "config".to_string())
        }
        None => match &defaults.gosumdb {
            Some((text, from)) => {
                let db = parse_spec(text, known)
                    .map_err(|e| fail("checksum_db.database", Origin::Default, format!("{e} (from {from})")))?;
                (db, from.clone())
            }
            None => (None, "default".to_string()),
        },
    };
    let mut proxied = Vec::new();
    for p in &s.proxied {
        match parse_spec(p.get_ref(), known).map_err(|e| fail("checksum_db.proxied", l.at(p.span().start), e))? {
            Some(db) => proxied.push(db),
            None => return Err(fail("checksum_db.proxied", l.at(p.span().start), "\"off\" is not a database")),
        }
    }
    let own = match &s.own {
        Some(v) => {
            let name = v.get_ref().trim();
            check_name(name).map_err(|e| fail("checksum_db.own", l.at(v.span().start), e))?;
            Some(name.to_string())
        }
        None => None,
    };
    let names: Vec<&str> =
        database.iter().chain(proxied.iter()).map(|d| d.name.as_str()).chain(own.as_deref()).collect();
    if let Some(dup) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(n)) {
        return Err(fail("checksum_db.proxied", Origin::Default, format!("{dup} is configured twice")));
    }
    Ok(ChecksumDb {
        database,
        origin,
        proxied,
        private: s.private.unwrap_or_default(),
        verify: s.verify.unwrap_or(true),
        fresh: duration("checksum_db.fresh", l.pick_file(&s.fresh, "10m"))?,
        own,
    })
}
