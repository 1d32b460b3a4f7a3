//! Checksum databases: proxied for clients (`/sumdb/<name>/...`), cached, and used to verify
//! every `.mod` and `.zip` before it is committed.
//!
//! - `remote`: how a database is reached (its URL, or the upstream chain's `/sumdb/`);
//! - this file: the cached answers — full tiles are immutable and kept for good; lookups,
//!   signed heads and partial tiles are fresh for `checksum_db.fresh` and served stale when
//!   the database cannot be reached; one fetch per object however many ask; `memo` keeps
//!   them in memory too;
//! - `verify`: the [`crate::proxy::ChecksumHook`] that checks fills against a database —
//!   signed heads, inclusion proofs, and consistency with every head seen before;
//! - `own/`: modgate's own log, served like a database and pinning what it has served.

mod alarm;
mod memo;
pub mod own;
mod remote;
mod verify;

pub use alarm::Alarm;
pub use own::{OwnLog, Pinning};
pub use verify::SumdbChecks;

use crate::config::{ChecksumDb, SumdbSpec};
use crate::errors::ServeError;
use crate::net::HttpClient;
use crate::proxy::CacheStatus;
use crate::request::SumdbPath;
use crate::rt::Flights;
use crate::source::FetchError;
use crate::store::{MetaStore, ObjectStore};
use bytes::Bytes;
use gomod::proxylist::ProxySpec;
use gomod::sumdb::note::Verifier;
use remote::{Remote, MAX_ANSWER};
use std::sync::Arc;
use std::time::Duration;

/// One configured database.
pub struct Database {
    pub spec: SumdbSpec,
    /// Its key, when known: answers are checked before they are cached.
    pub verifier: Option<Verifier>,
    remote: Remote,
}

/// Bytes of answers kept in memory.
const MEMO_BYTES: usize = 32 << 20;

/// An answer for a client.
pub struct SumdbReply {
    pub data: Bytes,
    pub content_type: &'static str,
    pub cache: CacheStatus,
    /// Whether the answer can never change (full tiles).
    pub immutable: bool,
}

/// Everything the checksum-database side holds.
pub struct ChecksumDbs {
    dbs: Vec<Arc<Database>>,
    objects: Arc<dyn ObjectStore>,
    meta: Arc<dyn MetaStore>,
    fresh: Duration,
    flights: Arc<Flights<Bytes>>,
    memo: memo::Memo,
    /// Modules never looked up (GONOSUMDB syntax); a reload may change them.
    private: arc_swap::ArcSwap<String>,
    /// modgate's own log, when it keeps one.
    pub own: Option<Arc<OwnLog>>,
    pub alarm: Alarm,
}

impl ChecksumDbs {
    pub fn new(
        cfg: &ChecksumDb,
        http: &Arc<HttpClient>,
        upstream: &[ProxySpec],
        objects: Arc<dyn ObjectStore>,
        meta: Arc<dyn MetaStore>,
        private: String,
    ) -> Result<Self, String> {
        let mut dbs = Vec::new();
        for spec in cfg.all() {
            let verifier = match &spec.key {
                Some(k) => Some(Verifier::parse(k).map_err(|e| format!("checksum database {}: {e}", spec.name))?),
                None => None,
            };
            let remote = Remote::new(spec.clone(), Arc::clone(http), upstream.to_vec());
            dbs.push(Arc::new(Database { spec: spec.clone(), verifier, remote }));
        }
        Ok(Self {
            dbs,
            objects,
            meta,
            fresh: cfg.fresh,
            flights: Arc::default(),
            memo: memo::Memo::new(MEMO_BYTES),
            private: arc_swap::ArcSwap::from_pointee(private),
            own: None,
            alarm: Alarm::default(),
        })
    }

    pub fn database(&self, name: &str) -> Option<&Arc<Database>> {
        self.dbs.iter().find(|d| d.spec.name == name)
    }

    /// New patterns of modules never looked up (a reload).
    pub fn set_private(&self, private: String) {
        self.private.store(Arc::new(private));
    }

    /// Whether `module` must never be named to a checksum database.
    pub async fn is_private(&self, module: &str) -> bool {
        if gomod::glob::match_prefix_patterns(&self.private.load(), module) {
            return true;
        }
        match gomod::path::escape_path(module) {
            Ok(escaped) => self.meta.published(&escaped).await.map(|v| !v.is_empty()).unwrap_or(true),
            Err(_) => true,
        }
    }

    /// A client's `/sumdb/<db>/<path>`.
    pub async fn serve(&self, db: &str, path: &SumdbPath) -> Result<SumdbReply, ServeError> {
        if let Some(own) = self.own.as_ref().filter(|o| o.name == db) {
            return serve_own(own, path);
        }
        let Some(d) = self.database(db) else {
            return Err(ServeError::not_found(format!("checksum database {db} is not proxied here")));
        };
        if let SumdbPath::Lookup { module, .. } = path {
            if self.is_private(module).await {
                return Err(ServeError::not_found(format!(
                    "{module} is private here: it is not looked up in checksum database {db} (add it to GONOSUMDB)"
                )));
            }
        }
        match path {
            SumdbPath::Supported => Ok(SumdbReply {
                data: Bytes::new(),
                content_type: "text/plain; charset=utf-8",
                cache: CacheStatus::Hit,
                immutable: false,
            }),
            SumdbPath::Tile(t) if t.is_full() => {
                let (data, cache) = self.immutable(d, &t.path(), t.is_data()).await?;
                Ok(SumdbReply { data, content_type: content_type(path), cache, immutable: true })
            }
            _ => {
                let (data, cache) = self.mutable(d, path).await?;
                Ok(SumdbReply { data, content_type: content_type(path), cache, immutable: false })
            }
        }
    }

    /// A full tile: from the store, else fetched once, checked and stored for good.
    async fn immutable(
        &self,
        d: &Arc<Database>,
        rel: &str,
        data_tile: bool,
    ) -> Result<(Bytes, CacheStatus), ServeError> {
        let key = format!("sumdb/{}/{rel}", d.spec.name);
        if let Some(data) = self.memo.get(&key, None) {
            return Ok((data, CacheStatus::Hit));
        }
        if let Some(data) = self.objects.read(&key, MAX_ANSWER).await? {
            let data = Bytes::from(data);
            self.memo.put(&key, &data, Duration::ZERO);
            return Ok((data, CacheStatus::Hit));
        }
        let (d2, objects, rel2, key2) = (Arc::clone(d), Arc::clone(&self.objects), rel.to_string(), key.clone());
        let data = self
            .flights
            .run(&key, async move {
                // A flight that ended between the read above and this one left it stored.
                if let Some(data) = objects.read(&key2, MAX_ANSWER).await? {
                    return Ok(Bytes::from(data));
                }
                let data = d2.remote.get(&rel2).await.map_err(|e| fetch_error(&d2.spec.name, &rel2, e))?;
                check_tile(&rel2, &data, data_tile).map_err(|e| bad_answer(&d2.spec.name, &rel2, &e))?;
                objects.put(&key2, &data).await?;
                Ok(data)
            })
            .await?;
        self.memo.put(&key, &data, Duration::ZERO);
        Ok((data, CacheStatus::Miss))
    }

    /// A lookup, signed head or partial tile: fresh from the store, else fetched once and
    /// checked; the stored copy when the database cannot be reached.
    async fn mutable(&self, d: &Arc<Database>, path: &SumdbPath) -> Result<(Bytes, CacheStatus), ServeError> {
        let rel = path.rel();
        let key = format!("sumdb/{}/{rel}", d.spec.name);
        if let Some(data) = self.memo.get(&key, Some(self.fresh)) {
            return Ok((data, CacheStatus::Hit));
        }
        let cached = self.meta.answer(&key).await?;
        if let Some((data, age)) = &cached {
            if *age < self.fresh {
                self.memo.put(&key, data, *age);
                return Ok((data.clone(), CacheStatus::Hit));
            }
        }
        let (d2, meta, path2, key2) = (Arc::clone(d), Arc::clone(&self.meta), path.clone(), key.clone());
        let fresh = self.fresh;
        let res = self
            .flights
            .run(&key, async move {
                // A flight that ended between the read above and this one left a fresh copy.
                if let Some((data, age)) = meta.answer(&key2).await? {
                    if age < fresh {
                        return Ok(data);
                    }
                }
                let rel = path2.rel();
                let data = d2.remote.get(&rel).await.map_err(|e| fetch_error(&d2.spec.name, &rel, e))?;
                check_answer(&d2, &path2, &data).map_err(|e| bad_answer(&d2.spec.name, &rel, &e))?;
                meta.put_answer(&key2, &data).await?;
                Ok(data)
            })
            .await;
        match (res, cached) {
            (Ok(data), _) => {
                self.memo.put(&key, &data, Duration::ZERO);
                Ok((data, CacheStatus::Miss))
            }
            (Err(e @ (ServeError::NotFound { .. } | ServeError::Refused { .. })), _) => Err(e),
            (Err(e), Some((data, age))) => {
                tracing::warn!(object = %key, age_secs = age.as_secs(), error = %e, "checksum database unreachable; serving a stale answer");
                Ok((data, CacheStatus::Stale))
            }
            (Err(e), None) => Err(e),
        }
    }
}

/// An answer from the own log (a lookup of a version not logged yet is "not found": the
/// HTTP handler fills the version first).
fn serve_own(own: &OwnLog, path: &SumdbPath) -> Result<SumdbReply, ServeError> {
    match own.serve(path).map_err(ServeError::Storage)? {
        Some(data) => Ok(SumdbReply {
            data,
            content_type: content_type(path),
            cache: CacheStatus::Hit,
            immutable: matches!(path, SumdbPath::Tile(t) if t.is_full()),
        }),
        None => Err(ServeError::not_found(format!("{}: not in checksum database {}", path.rel(), own.name))),
    }
}

fn content_type(path: &SumdbPath) -> &'static str {
    match path {
        SumdbPath::Tile(t) if !t.is_data() => "application/octet-stream",
        _ => "text/plain; charset=utf-8",
    }
}

fn fetch_error(db: &str, rel: &str, e: FetchError) -> ServeError {
    match e {
        FetchError::NotFound { status, reason } => {
            ServeError::NotFound { status, reason: format!("checksum database {db}: {rel}: {reason}") }
        }
        FetchError::Refused { status, reason } => {
            ServeError::Refused { status, reason: format!("checksum database {db}: {rel}: {reason}") }
        }
        FetchError::Failed(r) => ServeError::BadGateway(format!("checksum database {db}: {rel}: {r}")),
        FetchError::Timeout(r) => ServeError::Timeout(format!("checksum database {db}: {rel}: {r}")),
    }
}

fn bad_answer(db: &str, rel: &str, why: &str) -> ServeError {
    ServeError::BadGateway(format!("checksum database {db}: {rel}: refused answer: {why}"))
}

/// A hash tile holds exactly its width of hashes; a data tile is text.
fn check_tile(rel: &str, data: &[u8], data_tile: bool) -> Result<(), String> {
    if data_tile {
        return match std::str::from_utf8(data) {
            Ok(s) if s.ends_with("\n\n") => Ok(()),
            _ => Err("not record text".into()),
        };
    }
    let t = gomod::sumdb::tile::Tile::parse(rel).map_err(|e| e.to_string())?;
    if data.len() != t.byte_len() {
        return Err(format!("{} bytes, want {}", data.len(), t.byte_len()));
    }
    Ok(())
}

/// Answers are checked as far as they can be alone: signatures (when the key is known),
/// record syntax, tile sizes.
fn check_answer(d: &Database, path: &SumdbPath, data: &[u8]) -> Result<(), String> {
    use gomod::sumdb::{note, record};
    let signed_tree = |msg: &[u8]| -> Result<Option<record::Tree>, String> {
        let Some(v) = &d.verifier else { return Ok(None) };
        let n = note::open(msg, std::slice::from_ref(v)).map_err(|e| e.to_string())?;
        record::parse_tree(&n.text).map(Some).map_err(|e| e.to_string())
    };
    match path {
        SumdbPath::Latest => signed_tree(data).map(|_| ()),
        SumdbPath::Lookup { module, version, .. } => {
            let (id, text, rest) = record::parse_record(data).map_err(|e| e.to_string())?;
            let go_mod = format!("{version}/go.mod");
            if record::hash_in_record(text, module, version).or(record::hash_in_record(text, module, &go_mod)).is_none()
            {
                return Err(format!("the record is not for {module}@{version}"));
            }
            match signed_tree(rest)? {
                Some(tree) if id < 0 || id >= tree.n => Err(format!("record {id} is outside tree {}", tree.n)),
                _ => Ok(()),
            }
        }
        SumdbPath::Tile(t) => check_tile(&t.path(), data, t.is_data()),
        SumdbPath::Supported => Ok(()),
    }
}
