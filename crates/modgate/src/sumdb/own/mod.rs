//! modgate's own checksum database: an append-only transparent log (the tlog, tile and note
//! formats of the public one) of every version modgate commits — public ones after they
//! verified against the configured database, private and published ones as first committed —
//! signed with its own key. Served at `/sumdb/<name>/…`, it lets the go command verify private
//! modules too, and proves that no version changed after it was first served: a version
//! already in the log must hash the same on every later fill.

mod disk;

use crate::proxy::{Checked, ChecksumHook, Committed};
use crate::request::SumdbPath;
use bytes::Bytes;
use disk::Disk;
use gomod::sumdb::note::{self, Signer, Verifier};
use gomod::sumdb::record::{self, Tree};
use gomod::sumdb::tile::{self, Tile};
use gomod::sumdb::tlog::{self, Hash, HashReader};
use gomod::sumdb::SumdbError;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

pub struct OwnLog {
    pub name: String,
    pub verifier: Verifier,
    signer: Signer,
    state: RwLock<State>,
    /// Appends, one at a time.
    disk: Mutex<Disk>,
}

#[derive(Default)]
struct State {
    texts: Vec<Arc<[u8]>>,
    /// "module version" → record id.
    index: HashMap<String, i64>,
    hashes: Vec<Hash>,
    tree: Tree,
    head: Bytes,
}

/// Two slices of stored hashes read as one.
struct Joined<'a>(&'a [Hash], &'a [Hash]);

impl HashReader for Joined<'_> {
    fn read_hashes(&self, indexes: &[i64]) -> Result<Vec<Hash>, SumdbError> {
        let n = self.0.len() as i64;
        indexes
            .iter()
            .map(|&i| {
                let got = if i < n { self.0.get(i as usize) } else { self.1.get((i - n) as usize) };
                got.copied().ok_or(SumdbError::NotInTree(i))
            })
            .collect()
    }
}

fn key_of(module: &str, version: &str) -> String {
    format!("{module} {version}")
}

/// The module and version a record is for (its first line).
fn record_key(text: &[u8]) -> Option<String> {
    let line = std::str::from_utf8(text).ok()?.lines().next()?;
    let mut f = line.split(' ');
    Some(key_of(f.next()?, f.next()?))
}

impl OwnLog {
    /// Opens the log in `dir` (creating it and its key for `name` at first start).
    pub fn open(dir: &Path, name: &str) -> Result<OwnLog, String> {
        let new_key = || Signer::generate(name).map(|(s, _)| s).map_err(|e| format!("creating the log key: {e}"));
        let (mut disk, loaded) = Disk::open(dir, new_key)?;
        let signer = Signer::parse(&loaded.signer_key).map_err(|e| format!("{}: {e}", dir.join("key").display()))?;
        if signer.name != name {
            return Err(format!(
                "{}: this log is named {:?}, the configuration says {name:?}; a log keeps its name",
                dir.display(),
                signer.name
            ));
        }
        let verifier = signer.verifier();
        let mut state = State::default();
        let signed_n = match &loaded.head {
            Some(h) => {
                let n = note::open(h, std::slice::from_ref(&verifier))
                    .map_err(|e| format!("{}/head: {e}", dir.display()))?;
                record::parse_tree(&n.text).map_err(|e| format!("{}/head: {e}", dir.display()))?.n
            }
            None => 0,
        };
        let on_disk = loaded.records.len() as i64;
        if on_disk < signed_n {
            return Err(format!(
                "{}: the signed head counts {signed_n} records but only {on_disk} are on disk; the log was damaged and will not be rewritten",
                dir.display()
            ));
        }
        for text in loaded.records.iter().take(signed_n as usize) {
            state.push(text.as_slice().into())?;
        }
        if on_disk > signed_n || loaded.whole_len < std::fs::metadata(dir.join("records")).map(|m| m.len()).unwrap_or(0)
        {
            let keep: u64 = loaded.records.iter().take(signed_n as usize).map(|t| 4 + t.len() as u64).sum();
            tracing::warn!(dir = %dir.display(), unsigned = on_disk - signed_n, "own checksum log: cutting records that were never signed");
            disk.truncate(keep)?;
        }
        let root = tlog::tree_hash(signed_n, &state.hashes).map_err(|e| e.to_string())?;
        state.tree = Tree { n: signed_n, hash: root };
        match &loaded.head {
            Some(h) => {
                let n = note::open(h, std::slice::from_ref(&verifier)).map_err(|e| e.to_string())?;
                if record::parse_tree(&n.text).map_err(|e| e.to_string())? != state.tree {
                    return Err(format!(
                        "{}: the records do not hash to the signed head; the log was changed and will not be rewritten",
                        dir.display()
                    ));
                }
                state.head = Bytes::from(h.clone());
            }
            None => {
                let head = signer.sign(&record::format_tree(&state.tree)).map_err(|e| e.to_string())?;
                disk.write_head(&head)?;
                state.head = Bytes::from(head);
            }
        }
        Ok(OwnLog { name: name.to_string(), verifier, signer, state: RwLock::new(state), disk: Mutex::new(disk) })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The size of the signed tree.
    pub fn size(&self) -> i64 {
        self.read().tree.n
    }

    /// The record text of `module version`, when logged.
    pub fn record(&self, module: &str, version: &str) -> Option<Arc<[u8]>> {
        let st = self.read();
        st.index.get(&key_of(module, version)).map(|&id| Arc::clone(&st.texts[id as usize]))
    }

    /// Logs a version's go.sum lines (a version already logged must have the same ones).
    pub fn append(&self, module: &str, version: &str, zip_h1: &str, mod_h1: &str) -> Result<(), String> {
        let text = record::gosum_lines(module, version, zip_h1, mod_h1).into_bytes();
        if !record::valid_record_text(&text) {
            return Err(format!("{module} {version}: not a valid record"));
        }
        let mut disk = self.disk.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = self.record(module, version) {
            return if *old == *text {
                Ok(())
            } else {
                Err(format!("{module} {version}: the log already holds other hashes for this version"))
            };
        }
        let (tree, added) = {
            let st = self.read();
            let n = st.tree.n;
            let added =
                tlog::stored_hashes_for_record(n, tlog::record_hash(&text), &st.hashes).map_err(|e| e.to_string())?;
            let root = tlog::tree_hash(n + 1, &Joined(&st.hashes, &added)).map_err(|e| e.to_string())?;
            (Tree { n: n + 1, hash: root }, added)
        };
        let head = self.signer.sign(&record::format_tree(&tree)).map_err(|e| e.to_string())?;
        disk.commit(&[&text], &head)?;
        let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
        st.index.insert(key_of(module, version), tree.n - 1);
        st.texts.push(text.into());
        st.hashes.extend(added);
        st.tree = tree;
        st.head = Bytes::from(head);
        Ok(())
    }

    /// A client's `/sumdb/<name>/<path>`; `None` is "not found".
    pub fn serve(&self, path: &SumdbPath) -> Result<Option<Bytes>, String> {
        let st = self.read();
        match path {
            SumdbPath::Supported => Ok(Some(Bytes::new())),
            SumdbPath::Latest => Ok(Some(st.head.clone())),
            SumdbPath::Lookup { module, version, .. } => {
                let Some(&id) = st.index.get(&key_of(module, version)) else { return Ok(None) };
                let mut out = record::format_record(id, &st.texts[id as usize]).map_err(|e| e.to_string())?;
                out.extend_from_slice(&st.head);
                Ok(Some(Bytes::from(out)))
            }
            SumdbPath::Tile(t) => st.tile(t),
        }
    }
}

impl State {
    /// Adds a record read at start.
    fn push(&mut self, text: Arc<[u8]>) -> Result<(), String> {
        let n = self.texts.len() as i64;
        let added =
            tlog::stored_hashes_for_record(n, tlog::record_hash(&text), &self.hashes).map_err(|e| e.to_string())?;
        self.hashes.extend(added);
        if let Some(k) = record_key(&text) {
            self.index.insert(k, n);
        }
        self.texts.push(text);
        Ok(())
    }

    /// A tile of the signed tree: hashes, or (data tiles) the records' texts.
    fn tile(&self, t: &Tile) -> Result<Option<Bytes>, String> {
        if t.h != tile::HEIGHT {
            return Ok(None);
        }
        let level = if t.is_data() { 0 } else { t.l as u32 * t.h };
        if level >= 63 {
            return Ok(None);
        }
        let first = t.n.checked_mul(1 << t.h).ok_or("tile index overflows")?;
        let available = (self.tree.n >> level) - first;
        if i64::from(t.w) > available {
            return Ok(None);
        }
        if t.is_data() {
            let mut out = Vec::new();
            for text in &self.texts[first as usize..first as usize + t.w as usize] {
                out.extend_from_slice(text);
                out.push(b'\n');
            }
            return Ok(Some(Bytes::from(out)));
        }
        tile::read_tile_data(t, &self.hashes).map(|d| Some(Bytes::from(d))).map_err(|e| e.to_string())
    }
}

/// The own log as a checksum hook: a version already logged must hash as it did when it was
/// first served, and every committed version is logged.
pub struct Pinning(pub Arc<OwnLog>, pub super::alarm::Alarm);

#[async_trait::async_trait]
impl ChecksumHook for Pinning {
    async fn check(&self, what: &Checked<'_>) -> Result<(), String> {
        let (module, version, line, ours) = match what {
            Checked::GoMod { module, version, data } => {
                (*module, *version, format!("{version}/go.mod"), gomod::dirhash::hash_go_mod(data))
            }
            Checked::Zip { module, version, h1 } => (*module, *version, version.to_string(), h1.to_string()),
        };
        let Some(text) = self.0.record(module, version) else { return Ok(()) };
        match record::hash_in_record(&text, module, &line) {
            Some(logged) if logged == ours => Ok(()),
            Some(logged) => {
                self.1.raise(
                    "a version differs from what was first served",
                    serde_json::json!({ "module": module, "version": line, "computed": ours, "logged": logged, "log": self.0.name }),
                );
                Err(format!(
                    "checksum mismatch: {module} {line}: downloaded {ours}, but modgate's own checksum log {} recorded {logged} when it first served it",
                    self.0.name
                ))
            }
            None => Ok(()),
        }
    }

    async fn committed(&self, c: &Committed<'_>) -> Result<(), String> {
        let (module, version, zip, md) =
            (c.module.to_string(), c.version.to_string(), c.zip_h1.to_string(), c.mod_h1.to_string());
        let log = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || log.append(&module, &version, &zip, &md))
            .await
            .map_err(|e| format!("logging task: {e}"))?
    }
}

#[cfg(test)]
mod tests;
