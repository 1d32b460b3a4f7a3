//! The bundle: a tar whose first entry is `manifest.json`, then (when signed) `manifest.sig`,
//! then `go.sum` (the lines of every version it carries), then each version's objects in
//! GOPROXY layout under `cache/`. The manifest gives every file's SHA-256 and the go.sum hashes
//! of each `.mod` and `.zip`; import checks all of them, and the zips in full, before it commits
//! anything. The signature is a signed note (the checksum database's format, Ed25519) over
//! the manifest's SHA-256, so one key vouches for every byte.

use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "modgate-mirror/1";
pub const MANIFEST: &str = "manifest.json";
pub const GO_SUM: &str = "go.sum";
pub const SIGNATURE: &str = "manifest.sig";

/// The text a bundle's signature signs: the manifest's bytes, by their SHA-256.
pub fn signed_text(manifest: &[u8]) -> String {
    use sha2::Digest;
    format!("{FORMAT} manifest sha256 {}\n", hex::encode(sha2::Sha256::digest(manifest)))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub created: String,
    pub entries: Vec<Entry>,
}

/// One module version in the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: String,
    pub version: String,
    pub info: Option<File>,
    /// Every version carries its go.mod.
    pub go_mod: File,
    pub zip: Option<File>,
}

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Its name in the tar (`cache/<escaped module>/@v/<escaped version>.<ext>`).
    pub name: String,
    pub size: u64,
    /// Hex.
    pub sha256: String,
    /// go.sum's `h1:` for a `.mod` or `.zip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h1: Option<String>,
}

impl Manifest {
    /// The go.sum lines of everything in the bundle, sorted as the go command sorts them.
    pub fn go_sum(&self) -> String {
        let mut lines: Vec<(String, String, bool, String)> = Vec::new();
        for e in &self.entries {
            if let Some(h) = e.zip.as_ref().and_then(|z| z.h1.clone()) {
                lines.push((e.path.clone(), e.version.clone(), false, h));
            }
            if let Some(h) = e.go_mod.h1.clone() {
                lines.push((e.path.clone(), e.version.clone(), true, h));
            }
        }
        lines.sort_by(|a, b| a.0.cmp(&b.0).then(gomod::semver::compare(&a.1, &b.1)).then(a.2.cmp(&b.2)));
        lines.into_iter().map(|(p, v, m, h)| format!("{p} {v}{} {h}\n", if m { "/go.mod" } else { "" })).collect()
    }

    /// The file a tar name stands for: its entry and which object it is.
    pub fn file(&self, name: &str) -> Option<(&Entry, &File)> {
        self.entries.iter().find_map(|e| {
            [e.info.as_ref(), Some(&e.go_mod), e.zip.as_ref()]
                .into_iter()
                .flatten()
                .find(|f| f.name == name)
                .map(|f| (e, f))
        })
    }

    /// Every file, with its entry.
    pub fn files(&self) -> impl Iterator<Item = (&Entry, &File)> {
        self.entries
            .iter()
            .flat_map(|e| [e.info.as_ref(), Some(&e.go_mod), e.zip.as_ref()].into_iter().flatten().map(move |f| (e, f)))
    }
}

/// The tar name (and storage key, after `cache/`) of a version's object.
pub fn name(path: &str, version: &str, ext: &str) -> Option<String> {
    let (p, v) = (gomod::path::escape_path(path).ok()?, gomod::path::escape_version(version).ok()?);
    Some(format!("cache/{p}/@v/{v}.{ext}"))
}

/// Whether stderr is a terminal (progress is shown there, and not in a pipe).
pub fn on_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// A progress line on a terminal, redrawn in place; nothing in a pipe.
pub struct Progress {
    on: bool,
    what: &'static str,
    total: usize,
}

impl Progress {
    pub fn new(what: &'static str, total: usize) -> Self {
        Self { on: on_terminal(), what, total }
    }

    pub fn step(&self, done: usize, item: &str) {
        if self.on {
            let item: String = item.chars().take(60).collect();
            eprint!("\r\x1b[2K{} {done}/{}: {item}", self.what, self.total);
        }
    }

    pub fn finish(&self) {
        if self.on {
            eprint!("\r\x1b[2K");
        }
    }
}
