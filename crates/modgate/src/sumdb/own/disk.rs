//! The own log on disk, in `data_dir/sumdb-own/`:
//! - `key`: the note signer key (created at first start, readable by the owner only);
//! - `records`: every record, appended, each as a 4-byte big-endian length and the text;
//! - `head`: the signed tree note of the records committed so far, replaced atomically.
//!
//! The head is the truth: a record is appended and synced before the head that counts it is
//! signed, so a record past the head (a `kill -9` between the two) was never served and is cut
//! off at the next start. Fewer records than the head counts, or records whose tree is not the
//! signed one, mean the log would have to change: a hard error, never a rewrite.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub struct Disk {
    pub dir: PathBuf,
    records: File,
    /// Bytes of `records` the signed head counts.
    signed_len: u64,
}

/// What is on disk at start.
pub struct Loaded {
    pub signer_key: String,
    pub head: Option<Vec<u8>>,
    pub records: Vec<Vec<u8>>,
    /// Bytes of `records` after the last whole record.
    pub whole_len: u64,
}

fn context(path: &Path, e: io::Error) -> String {
    format!("{}: {e}", path.display())
}

impl Disk {
    /// Opens (creating) the directory and reads what it holds. `new_key` makes a signer key
    /// when there is none yet.
    pub fn open(dir: &Path, new_key: impl FnOnce() -> Result<String, String>) -> Result<(Disk, Loaded), String> {
        fs::create_dir_all(dir).map_err(|e| context(dir, e))?;
        let key_path = dir.join("key");
        let signer_key = match fs::read_to_string(&key_path) {
            Ok(k) => k.trim().to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let k = new_key()?;
                write_atomic(dir, "key", k.as_bytes(), true).map_err(|e| context(&key_path, e))?;
                k
            }
            Err(e) => return Err(context(&key_path, e)),
        };
        let head_path = dir.join("head");
        let head = match fs::read(&head_path) {
            Ok(h) => Some(h),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(context(&head_path, e)),
        };
        let rec_path = dir.join("records");
        let mut records_file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&rec_path)
            .map_err(|e| context(&rec_path, e))?;
        let mut bytes = Vec::new();
        records_file.read_to_end(&mut bytes).map_err(|e| context(&rec_path, e))?;
        let (records, whole_len) = split_records(&bytes);
        let disk = Disk { dir: dir.to_path_buf(), records: records_file, signed_len: whole_len };
        Ok((disk, Loaded { signer_key, head, records, whole_len }))
    }

    /// Cuts the records file to `len` bytes (records never signed).
    pub fn truncate(&mut self, len: u64) -> Result<(), String> {
        self.records.set_len(len).and_then(|_| self.records.sync_all()).map_err(|e| context(&self.dir, e))?;
        self.signed_len = len;
        Ok(())
    }

    /// Appends records, syncs them, then replaces the signed head that counts them. When
    /// either step fails the records are cut off again, so the file never holds a record
    /// before one the head counts that it does not.
    pub fn commit(&mut self, texts: &[&[u8]], head: &[u8]) -> Result<(), String> {
        let mut buf = Vec::new();
        for t in texts {
            let len = u32::try_from(t.len()).map_err(|_| "record too large".to_string())?;
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(t);
        }
        let written = self
            .records
            .write_all(&buf)
            .and_then(|_| self.records.sync_data())
            .map_err(|e| context(&self.dir, e))
            .and_then(|_| self.write_head(head));
        match written {
            Ok(()) => {
                self.signed_len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let _ = self.records.set_len(self.signed_len);
                Err(e)
            }
        }
    }

    /// Replaces the signed head.
    pub fn write_head(&self, note: &[u8]) -> Result<(), String> {
        write_atomic(&self.dir, "head", note, false).map_err(|e| context(&self.dir.join("head"), e))
    }
}

/// The whole records in `bytes`, and where the last whole one ends.
fn split_records(bytes: &[u8]) -> (Vec<Vec<u8>>, u64) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while bytes.len() >= at + 4 {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let Some(text) = bytes.get(at + 4..at + 4 + len) else { break };
        out.push(text.to_vec());
        at += 4 + len;
    }
    (out, at as u64)
}

/// Writes `name` in `dir` through a synced temporary file and a rename.
fn write_atomic(dir: &Path, name: &str, data: &[u8], private: bool) -> io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut opts = OpenOptions::new();
    opts.create(true).write(true).truncate(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut f = opts.open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()
}
