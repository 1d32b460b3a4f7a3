//! Verifying fills against a checksum database, the way the go command verifies downloads:
//! the lookup's tree head must be signed by the database's key and consistent with every
//! head seen before (the latest is kept in the meta store, so this holds across restarts),
//! the record must be in that tree (an inclusion proof from tiles), and the record's hash
//! must equal the one modgate computed. Private modules are never looked up.

use super::{ChecksumDbs, Database};
use crate::errors::ServeError;
use crate::proxy::{Checked, ChecksumHook};
use crate::request::SumdbPath;
use gomod::sumdb::record::{self, Tree};
use gomod::sumdb::tile::{Tile, TileReader};
use gomod::sumdb::tlog::{record_hash, HashReader, Recorder};
use gomod::sumdb::{note, proof, SumdbError};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

pub struct SumdbChecks {
    dbs: Arc<ChecksumDbs>,
    db: Arc<Database>,
    /// Modules whose routes turned verification off (GOPRIVATE syntax); a reload may change them.
    unverified: arc_swap::ArcSwap<String>,
    /// The heads known to be consistent with each other, the latest first (read from the meta
    /// store at the first check); reading, checking and replacing it is one step at a time.
    heads: tokio::sync::Mutex<Vec<Tree>>,
}

/// How many consistent heads are remembered besides the latest (older ones come back in
/// cached lookups).
const KNOWN_HEADS: usize = 64;

impl SumdbChecks {
    /// Checks against `db` (which must have a key).
    pub fn new(dbs: Arc<ChecksumDbs>, db: &str, unverified: String) -> Option<Self> {
        let db = Arc::clone(dbs.database(db)?);
        db.verifier.as_ref()?;
        let unverified = arc_swap::ArcSwap::from_pointee(unverified);
        Some(Self { dbs, db, unverified, heads: tokio::sync::Mutex::new(Vec::new()) })
    }

    /// New patterns of modules not verified (a reload).
    pub fn set_unverified(&self, unverified: String) {
        self.unverified.store(Arc::new(unverified));
    }

    fn name(&self) -> &str {
        &self.db.spec.name
    }

    fn lookup_path(module: &str, version: &str) -> Result<SumdbPath, String> {
        let esc = gomod::path::escape_path(module).map_err(|e| e.to_string())?;
        let escv = gomod::path::escape_version(version).map_err(|e| e.to_string())?;
        Ok(SumdbPath::Lookup {
            module: module.to_string(),
            version: version.to_string(),
            rel: format!("lookup/{esc}@{escv}"),
        })
    }

    /// The record text for `module@version`, proven to be in a signed tree consistent with
    /// every tree seen before.
    async fn verified_record(&self, module: &str, version: &str) -> Result<Vec<u8>, String> {
        let path = Self::lookup_path(module, version)?;
        let reply = self.dbs.serve(self.name(), &path).await.map_err(|e| match e {
            ServeError::NotFound { .. } => {
                format!("{module}@{version} is not in checksum database {}: {}", self.name(), e)
            }
            e => format!("checksum database {} could not be asked: {e}", self.name()),
        })?;
        let (id, text, signed) = record::parse_record(&reply.data).map_err(|e| self.bad(e))?;
        let tree = self.open_tree(signed)?;
        self.check_consistent(&tree, signed).await?;
        let proof = self.with_tiles(tree.n, |r| proof::prove_record(tree.n, id, r)).await?;
        proof::check_record(&proof, tree.n, &tree.hash, id, &record_hash(text)).map_err(|e| self.bad(e))?;
        Ok(text.to_vec())
    }

    fn bad(&self, e: SumdbError) -> String {
        format!("checksum database {}: {e}", self.name())
    }

    fn open_tree(&self, signed: &[u8]) -> Result<Tree, String> {
        // `new` refuses a database without a key, so there is one.
        let known = self.db.verifier.as_slice();
        let n = note::open(signed, known).map_err(|e| self.bad(e))?;
        record::parse_tree(&n.text).map_err(|e| self.bad(e))
    }

    /// `tree` against the latest head seen: the smaller must be a prefix of the larger.
    /// A newer consistent head replaces the kept one; an inconsistent one is refused and
    /// logged as a security event.
    async fn check_consistent(&self, tree: &Tree, signed: &[u8]) -> Result<(), String> {
        let mut known = self.heads.lock().await;
        if known.contains(tree) {
            return Ok(());
        }
        let key = format!("sumdb-state/{}/latest", self.name());
        if known.is_empty() {
            let kept = self.dbs.meta.answer(&key).await.map_err(|e| format!("reading the kept tree head: {e}"))?;
            match kept {
                Some((note, _)) => known.push(self.open_tree(&note)?),
                None => {
                    self.dbs.meta.put_answer(&key, signed).await.map_err(|e| format!("keeping the tree head: {e}"))?;
                    known.push(*tree);
                    return Ok(());
                }
            }
        }
        let old = known[0];
        let (small, big) = if tree.n >= old.n { (&old, tree) } else { (tree, &old) };
        let checked = match self.with_tiles(big.n, |r| proof::prove_tree(big.n, small.n, r)).await {
            Ok(p) => proof::check_tree(&p, big.n, &big.hash, small.n, &small.hash).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        if let Err(why) = checked {
            return Err(self.misbehaved(&old, tree, &why));
        }
        if tree.n > old.n {
            self.dbs.meta.put_answer(&key, signed).await.map_err(|e| format!("keeping the tree head: {e}"))?;
            known.insert(0, *tree);
        } else {
            known.push(*tree);
        }
        known.truncate(KNOWN_HEADS);
        Ok(())
    }

    /// Raises the alarm for a head inconsistent with the kept one; the client's error line.
    fn misbehaved(&self, old: &Tree, tree: &Tree, why: &str) -> String {
        let b64 = |h: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, h);
        self.dbs.alarm.raise(
            "checksum database misbehaviour: a tree head inconsistent with one seen before",
            serde_json::json!({
                "database": self.name(),
                "kept_size": old.n, "kept_root": b64(&old.hash),
                "new_size": tree.n, "new_root": b64(&tree.hash),
                "error": why,
            }),
        );
        format!(
            "SECURITY ERROR: checksum database {} served tree {} that is inconsistent with tree {} seen before ({why})",
            self.name(),
            tree.n,
            old.n
        )
    }

    /// Runs `f` over the hashes of the tree of `size` records: once to learn which stored
    /// hashes it needs, then again over the tiles that hold them.
    async fn with_tiles<T>(
        &self,
        size: i64,
        f: impl Fn(&dyn HashReader) -> Result<T, SumdbError>,
    ) -> Result<T, String> {
        let wanted = {
            let rec = Recorder::default();
            f(&rec).map_err(|e| self.bad(e))?;
            let wanted = rec.wanted.borrow().clone();
            TileReader::tiles_for(size, &wanted)
        };
        let fetched = futures::future::join_all(wanted.iter().map(|t| self.tile(*t))).await;
        let mut tiles = BTreeMap::new();
        for (t, data) in wanted.into_iter().zip(fetched) {
            tiles.insert(t, data?);
        }
        f(&TileReader { tree_size: size, tiles }).map_err(|e| self.bad(e))
    }

    /// A hash tile; when the partial tile is gone, the full one (whose prefix it is).
    async fn tile(&self, t: Tile) -> Result<Vec<u8>, String> {
        let failed = |e: ServeError| format!("checksum database {}: {}: {e}", self.name(), t.path());
        match self.dbs.serve(self.name(), &SumdbPath::Tile(t)).await {
            Ok(r) => Ok(r.data.to_vec()),
            Err(ServeError::NotFound { .. }) if !t.is_full() => {
                let full = Tile { w: 1 << t.h, ..t };
                self.dbs.serve(self.name(), &SumdbPath::Tile(full)).await.map(|r| r.data.to_vec()).map_err(failed)
            }
            Err(e) => Err(failed(e)),
        }
    }
}

#[async_trait::async_trait]
impl ChecksumHook for SumdbChecks {
    /// Starts the lookup (through the shared cache and single flight) while the fill runs.
    fn prepare(&self, module: &str, version: &str) {
        if gomod::glob::match_prefix_patterns(&self.unverified.load(), module) {
            return;
        }
        let Ok(path) = Self::lookup_path(module, version) else { return };
        let (dbs, name, module) = (Arc::clone(&self.dbs), self.name().to_string(), module.to_string());
        // In the fill's trace: the lookup's call is made here more often than in `check`.
        tokio::spawn(
            async move {
                if !dbs.is_private(&module).await {
                    let _ = dbs.serve(&name, &path).await;
                }
            }
            .in_current_span(),
        );
    }

    /// Published modules are private: never looked up.
    async fn check_published(&self, _what: &Checked<'_>) -> Result<(), String> {
        Ok(())
    }

    async fn check(&self, what: &Checked<'_>) -> Result<(), String> {
        let (module, version, line_version, ours) = match what {
            Checked::GoMod { module, version, data } => {
                (*module, *version, format!("{version}/go.mod"), gomod::dirhash::hash_go_mod(data))
            }
            Checked::Zip { module, version, h1 } => (*module, *version, version.to_string(), h1.to_string()),
        };
        if gomod::glob::match_prefix_patterns(&self.unverified.load(), module) || self.dbs.is_private(module).await {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let span = crate::obs::trace::checksum_span(self.name(), module, &line_version);
        let text = self.verified_record(module, version).instrument(span.clone()).await;
        crate::obs::trace::outcome(&span, &text);
        let text = text?;
        tracing::debug!(module, version = %line_version, database = %self.name(), ms = started.elapsed().as_secs_f64() * 1e3, "verified against the checksum database");
        match record::hash_in_record(&text, module, &line_version) {
            Some(theirs) if theirs == ours => Ok(()),
            Some(theirs) => {
                self.dbs.alarm.raise(
                    "checksum mismatch",
                    serde_json::json!({
                        "module": module, "version": line_version, "computed": ours,
                        "database": self.name(), "recorded": theirs,
                    }),
                );
                Err(format!(
                    "checksum mismatch: {module} {line_version}: downloaded {ours}, checksum database {} has {theirs}",
                    self.name()
                ))
            }
            None => Err(format!("checksum database {} has no hash for {module} {line_version}", self.name())),
        }
    }
}
