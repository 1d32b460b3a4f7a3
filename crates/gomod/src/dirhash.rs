//! The `h1:` directory hash (`golang.org/x/mod/sumdb/dirhash.Hash1`) over file sets, module zips
//! and go.mod files (spec §5).

use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum HashError {
    #[error("dirhash: file name {0:?} contains a newline")]
    NewlineInName(String),
    #[error("reading zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("reading zip entry: {0}")]
    Io(#[from] std::io::Error),
}

/// Accumulates (name, SHA-256 of content) pairs and produces the `h1:` hash.
#[derive(Debug, Default, Clone)]
pub struct Hash1 {
    files: Vec<(String, [u8; 32])>,
}

impl Hash1 {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one file by name and the SHA-256 of its bytes.
    pub fn add(&mut self, name: impl Into<String>, sha256: [u8; 32]) -> Result<(), HashError> {
        let name = name.into();
        if name.contains('\n') {
            return Err(HashError::NewlineInName(name));
        }
        self.files.push((name, sha256));
        Ok(())
    }

    /// Adds one file by name and content.
    pub fn add_bytes(&mut self, name: impl Into<String>, data: &[u8]) -> Result<(), HashError> {
        self.add(name, Sha256::digest(data).into())
    }

    /// The `h1:` hash: SHA-256 over the sorted summary lines `hex(sha)  name\n`, base64.
    pub fn finish(mut self) -> String {
        self.files.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut summary = Sha256::new();
        for (name, sum) in &self.files {
            summary.update(hex::encode(sum).as_bytes());
            summary.update(b"  ");
            summary.update(name.as_bytes());
            summary.update(b"\n");
        }
        format!("h1:{}", base64::engine::general_purpose::STANDARD.encode(summary.finalize()))
    }
}

/// The go.mod hash: `h1:` over one file named `go.mod` (no module prefix).
pub fn hash_go_mod(data: &[u8]) -> String {
    let mut h = Hash1::new();
    // The name is a constant without a newline.
    let _ = h.add_bytes("go.mod", data);
    h.finish()
}

/// The zip hash: `h1:` over every entry of the zip, named exactly as stored.
pub fn hash_zip<R: Read + Seek>(r: R) -> Result<String, HashError> {
    let mut archive = zip::ZipArchive::new(r)?;
    if archive.has_duplicate_names() {
        // Go would hash the last entry of a name once per entry; the go command refuses such
        // zips anyway, and the zip reader shows only one of them, so neither is guessed here.
        return Err(HashError::Zip(zip::result::ZipError::InvalidArchive("duplicate entry names".into())));
    }
    let mut h = Hash1::new();
    for i in 0..archive.len() {
        let mut f = archive.by_index(i)?;
        let name = String::from_utf8_lossy(f.name_raw()).into_owned();
        h.add(name, sha256_reader(&mut f)?)?;
    }
    Ok(h.finish())
}

/// SHA-256 of everything a reader yields.
pub fn sha256_reader<R: Read>(r: &mut R) -> std::io::Result<[u8; 32]> {
    let mut sha = Sha256::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(sha.finalize().into());
        }
        sha.update(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vectors() {
        let mut h = Hash1::new();
        h.add_bytes("xyz", b"data for xyz").unwrap();
        h.add_bytes("abc", b"data for abc").unwrap();
        assert_eq!(h.finish(), "h1:EP6WfDoQTSk9klnxcjriWJOGztueJUywHNmWeq+efB8=");
        assert_eq!(hash_go_mod(b"module golang.org/x/text\n"), "h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ=");
        assert_eq!(
            hash_go_mod(b"module \"rsc.io/quote\"\n\nrequire \"rsc.io/sampler\" v1.3.0\n"),
            "h1:LzX7hefJvL54yjefDEDHNONDjII0t9xZLPXsUe+TKr0="
        );
        assert_eq!(
            hash_go_mod(
                b"module \"rsc.io/sampler\"\n\nrequire \"golang.org/x/text\" v0.0.0-20170915032832-14c0d48ead0c\n"
            ),
            "h1:T1hPZKmBbMNahiBKFy5HrXp6adAjACjK9JXDnKaTXpA="
        );
        assert_eq!(Hash1::new().finish(), "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
        assert!(Hash1::new().add_bytes("a\nb", b"").is_err());
    }

    #[test]
    fn zip_hash_equals_file_set_hash() {
        use std::io::Write;
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            let o = zip::write::SimpleFileOptions::default();
            w.start_file("m.example@v1.0.0/xyz", o).unwrap();
            w.write_all(b"data for xyz").unwrap();
            w.start_file("m.example@v1.0.0/abc", o).unwrap();
            w.write_all(b"data for abc").unwrap();
            w.finish().unwrap();
        }
        let mut h = Hash1::new();
        h.add_bytes("m.example@v1.0.0/abc", b"data for abc").unwrap();
        h.add_bytes("m.example@v1.0.0/xyz", b"data for xyz").unwrap();
        buf.set_position(0);
        assert_eq!(hash_zip(buf).unwrap(), h.finish());
    }
}
