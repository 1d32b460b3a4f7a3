//! The ledger: for each version whose zip this server committed, the go.sum hashes it had
//! when it was committed (after every check passed), and the outcome of the last re-verify.
//! It is a checksum hook that never refuses anything: it only listens to `committed`.
//!
//! Appended to `<data_dir>/admin/ledger.jsonl` (one JSON record per line; a later line about
//! a version replaces an earlier one), read back at start and compacted when mostly stale.

use crate::proxy::{Checked, ChecksumHook, Committed};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// What is known of a version's integrity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Every check passed when it was committed; not re-verified since.
    VerifiedAtFill,
    /// A re-verify found the stored objects intact and in agreement.
    Reverified,
    /// A re-verify found a difference (see `detail`).
    Mismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub module: String,
    pub version: String,
    /// go.sum's `h1:` of the zip and of the go.mod, as committed.
    pub zip_h1: Option<String>,
    pub mod_h1: Option<String>,
    /// RFC 3339.
    pub committed: Option<String>,
    pub state: State,
    pub checked: Option<String>,
    /// What a re-verify compared, or what differed.
    pub detail: Option<String>,
}

pub struct Ledger {
    records: Mutex<HashMap<(String, String), Record>>,
    file: Option<PathBuf>,
}

impl Ledger {
    pub fn in_memory() -> Self {
        Self { records: Mutex::new(HashMap::new()), file: None }
    }

    /// Reads the ledger under `dir`; unreadable lines are skipped.
    pub fn open(dir: &std::path::Path) -> Self {
        let file = dir.join("ledger.jsonl");
        let mut records = HashMap::new();
        let mut lines = 0usize;
        if let Ok(text) = std::fs::read_to_string(&file) {
            for line in text.lines() {
                lines += 1;
                if let Ok(r) = serde_json::from_str::<Record>(line) {
                    records.insert((r.module.clone(), r.version.clone()), r);
                }
            }
        }
        let ledger = Self { records: Mutex::new(records), file: Some(file) };
        if lines > 1000 && lines > 2 * ledger.lock().len() {
            ledger.compact();
        }
        ledger
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Record>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, module: &str, version: &str) -> Option<Record> {
        self.lock().get(&(module.to_string(), version.to_string())).cloned()
    }

    /// Records (replacing) what is known of a version.
    pub fn put(&self, r: Record) {
        if let Some(file) = &self.file {
            let appended = serde_json::to_string(&r).map_err(std::io::Error::other).and_then(|line| {
                if let Some(dir) = file.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
                writeln!(f, "{line}")
            });
            if let Err(e) = appended {
                tracing::warn!(file = %file.display(), error = %e, "could not append to the ledger");
            }
        }
        self.lock().insert((r.module.clone(), r.version.clone()), r);
    }

    /// Rewrites the file with one line per version.
    fn compact(&self) {
        let Some(file) = &self.file else { return };
        let text: String =
            self.lock().values().filter_map(|r| serde_json::to_string(r).ok()).map(|l| l + "\n").collect();
        if let Err(e) = super::activity::write_replacing(file, text.as_bytes()) {
            tracing::warn!(file = %file.display(), error = %e, "could not compact the ledger");
        }
    }
}

#[async_trait::async_trait]
impl ChecksumHook for Ledger {
    async fn check(&self, _what: &Checked<'_>) -> Result<(), String> {
        Ok(())
    }

    async fn committed(&self, v: &Committed<'_>) -> Result<(), String> {
        self.put(Record {
            module: v.module.to_string(),
            version: v.version.to_string(),
            zip_h1: Some(v.zip_h1.to_string()),
            mod_h1: Some(v.mod_h1.to_string()),
            committed: Some(crate::time::now_rfc3339()),
            state: State::VerifiedAtFill,
            checked: None,
            detail: None,
        });
        Ok(())
    }
}
