//! Checking an existing module zip (spec §4.1–4.3), computing its `h1:` hash in the same pass.

use crate::dirhash::Hash1;
use crate::limits::{MAX_GO_MOD, MAX_LICENSE, MAX_ZIP_FILE};
use crate::{path, uni};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use thiserror::Error;

/// Why a module zip was refused.
#[derive(Debug, Error)]
pub enum ZipError {
    #[error("zip file is too large ({0} bytes; the limit is {MAX_ZIP_FILE})")]
    TooLarge(u64),
    #[error("not a readable zip file: {0}")]
    Unreadable(String),
    #[error("{0}")]
    Module(#[from] path::PathError),
    #[error("{name:?}: path does not have prefix {prefix:?}")]
    BadPrefix { name: String, prefix: String },
    #[error("{0:?}: file path is not clean")]
    NotClean(String),
    #[error("{0}")]
    BadFilePath(path::PathError),
    #[error("{0:?}: case-insensitive file name collision")]
    Collision(String),
    #[error("{0:?}: multiple entries for the file")]
    Duplicate(String),
    #[error("{0:?}: directory entry has content")]
    DirectoryData(String),
    #[error("{0:?}: entry is both a file and a directory")]
    FileAndDir(String),
    #[error("{0:?}: go.mod files must have lowercase names")]
    GoModCase(String),
    #[error("{0:?}: go.mod file not in module root directory")]
    NestedGoMod(String),
    #[error("total size of files in zip exceeds {MAX_ZIP_FILE} bytes")]
    TotalTooLarge,
    #[error("{0:?}: file is too large")]
    FileTooLarge(String),
    #[error("{0:?}: uncompressed size does not match the declared size")]
    SizeMismatch(String),
}

/// What a valid zip contained.
#[derive(Debug, Clone)]
pub struct CheckedZip {
    /// The zip's `h1:` hash.
    pub h1: String,
    /// The root `go.mod`, when the zip has one.
    pub go_mod: Option<Vec<u8>>,
    /// Number of file entries.
    pub files: usize,
    /// Sum of uncompressed sizes.
    pub uncompressed: u64,
}

fn is_clean(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.ends_with('/')
        && p.split('/').all(|e| !e.is_empty() && e != "." && e != "..")
}

/// Checks a module zip for `module@version` and reads every entry: names under the
/// `module@version/` prefix, clean and valid file paths, no case-fold collisions, no go.mod
/// outside the root, sizes within limits and equal to what is declared, CRCs correct.
pub fn check_zip<R: Read + Seek>(mut r: R, module: &str, version: &str) -> Result<CheckedZip, ZipError> {
    path::check_canonical(module, version)?;
    let size = r.seek(SeekFrom::End(0)).map_err(|e| ZipError::Unreadable(e.to_string()))?;
    if size > MAX_ZIP_FILE {
        return Err(ZipError::TooLarge(size));
    }
    r.seek(SeekFrom::Start(0)).map_err(|e| ZipError::Unreadable(e.to_string()))?;
    let entries = central_directory(&mut r)?;
    r.seek(SeekFrom::Start(0)).map_err(|e| ZipError::Unreadable(e.to_string()))?;
    let mut archive = zip::ZipArchive::new(r).map_err(|e| ZipError::Unreadable(e.to_string()))?;
    let prefix = format!("{module}@{version}/");
    let mut seen = Collisions::default();
    let mut total: u64 = 0;
    let mut hash = Hash1::new();
    let mut go_mod = None;
    let mut files = 0;
    let mut buf = vec![0u8; 64 * 1024];
    // Go's HashZip opens entries by name, so each entry of a repeated (directory) name is read
    // as the last entry of that name.
    let last: HashMap<String, u64> = entries.iter().cloned().collect();
    for (full, declared) in entries {
        let Some(name) = full.strip_prefix(&prefix) else {
            return Err(ZipError::BadPrefix { name: full, prefix });
        };
        let name = name.to_string();
        if !name.is_empty() {
            let is_dir = name.ends_with('/');
            let clean = name.strip_suffix('/').unwrap_or(&name);
            if !is_clean(clean) {
                return Err(ZipError::NotClean(name));
            }
            path::check_file_path(clean).map_err(ZipError::BadFilePath)?;
            seen.check(clean, is_dir)?;
            if !is_dir {
                let base = clean.rsplit('/').next().unwrap_or(clean);
                if base.eq_ignore_ascii_case("go.mod") {
                    if base != clean {
                        return Err(ZipError::NestedGoMod(clean.into()));
                    } else if clean != "go.mod" {
                        return Err(ZipError::GoModCase(clean.into()));
                    }
                }
                total = total.checked_add(declared).filter(|t| *t <= MAX_ZIP_FILE).ok_or(ZipError::TotalTooLarge)?;
                if (clean == "go.mod" && declared > MAX_GO_MOD) || (clean == "LICENSE" && declared > MAX_LICENSE) {
                    return Err(ZipError::FileTooLarge(clean.into()));
                }
                files += 1;
            }
        }
        if full.ends_with('/') {
            // Go reads a directory entry as empty, and fails when it declares a size.
            if last.get(&full).copied().unwrap_or(declared) != 0 {
                return Err(ZipError::DirectoryData(full));
            }
            hash.add(full, Sha256::digest(b"").into()).map_err(|e| ZipError::Unreadable(e.to_string()))?;
            continue;
        }
        // File names are unique here (a second entry of a name failed the collision check).
        let mut f = archive.by_name(&full).map_err(|e| ZipError::Unreadable(format!("{full}: {e}")))?;
        let (sum, kept) = read_entry(&mut f, &full, declared, name == "go.mod", &mut buf)?;
        if kept.is_some() {
            go_mod = kept;
        }
        hash.add(full, sum).map_err(|e| ZipError::Unreadable(e.to_string()))?;
    }
    Ok(CheckedZip { h1: hash.finish(), go_mod, files, uncompressed: total })
}

/// Reads one file entry, bounded by its declared size + 1 to catch lies: its SHA-256, and its
/// bytes when `keep`.
fn read_entry<R: Read>(
    f: &mut R,
    full: &str,
    declared: u64,
    keep: bool,
    buf: &mut [u8],
) -> Result<([u8; 32], Option<Vec<u8>>), ZipError> {
    let mut sha = Sha256::new();
    let mut kept = Vec::new();
    let mut read: u64 = 0;
    let mut limited = f.take(declared.saturating_add(1));
    loop {
        let n = limited.read(buf).map_err(|e| ZipError::Unreadable(format!("{full}: {e}")))?;
        if n == 0 {
            break;
        }
        read += n as u64;
        sha.update(&buf[..n]);
        if keep {
            kept.extend_from_slice(&buf[..n]);
        }
    }
    if read != declared {
        return Err(ZipError::SizeMismatch(full.to_string()));
    }
    Ok((sha.finalize().into(), keep.then_some(kept)))
}

/// Every entry of the central directory in order, duplicates kept (the archive reader keeps
/// one entry per name): the name and declared uncompressed size.
fn central_directory<R: Read + Seek>(r: &mut R) -> Result<Vec<(String, u64)>, ZipError> {
    let unreadable = |e: zip::result::ZipError| ZipError::Unreadable(e.to_string());
    let mut it = zip::unstable::read::ZipIterable::try_new(r, zip::read::Config::default()).map_err(unreadable)?;
    let mut out = Vec::new();
    for e in it.files().map_err(unreadable)? {
        let e = e.map_err(unreadable)?;
        let name = String::from_utf8(e.name_raw().to_vec())
            .map_err(|_| ZipError::Unreadable("entry name is not UTF-8".into()))?;
        out.push((name, e.size()));
    }
    Ok(out)
}

/// The case-fold collision check of x/mod's zip rules: every path recorded with its kind
/// under its folded form (see [`uni::fold`]), parents as directories. The same path twice is
/// an error for files ("multiple entries") and allowed for directories.
#[derive(Default)]
pub(crate) struct Collisions {
    seen: HashMap<String, (String, bool)>,
}

impl Collisions {
    pub(crate) fn check(&mut self, p: &str, is_dir: bool) -> Result<(), ZipError> {
        let mut p = p;
        let mut is_dir = is_dir;
        loop {
            let key = uni::fold_str(p);
            match self.seen.get(&key) {
                Some((other, other_dir)) => {
                    if p != other {
                        return Err(ZipError::Collision(p.into()));
                    }
                    if is_dir != *other_dir {
                        return Err(ZipError::FileAndDir(p.into()));
                    }
                    if !is_dir {
                        return Err(ZipError::Duplicate(p.into()));
                    }
                }
                None => {
                    self.seen.insert(key, (p.to_string(), is_dir));
                }
            }
            match p.rfind('/') {
                Some(i) => {
                    p = &p[..i];
                    is_dir = true;
                }
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    fn make(entries: &[(&str, &[u8])]) -> Cursor<Vec<u8>> {
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = zip::ZipWriter::new(&mut buf);
            let o = zip::write::SimpleFileOptions::default();
            for (n, d) in entries {
                if n.ends_with('/') {
                    w.add_directory(n.trim_end_matches('/'), o).unwrap();
                } else {
                    w.start_file(*n, o).unwrap();
                    w.write_all(d).unwrap();
                }
            }
            w.finish().unwrap();
        }
        buf.set_position(0);
        buf
    }

    #[test]
    fn simple_case_folding() {
        let fold = uni::fold_str;
        assert_eq!(fold("ABC.go"), fold("abc.go"));
        assert_eq!(fold("\u{212A}.go"), fold("k.go"), "Kelvin sign folds to k");
        assert_eq!(fold("\u{17F}.go"), fold("s.go"), "long s folds to s");
        assert_eq!(fold("\u{3A3}"), fold("\u{3C2}"), "sigma and final sigma");
        assert_ne!(fold("stra\u{DF}e.go"), fold("strasse.go"), "sharp s is not ss under simple folding");
        let z = make(&[("example.com/m@v1.0.0/stra\u{DF}e.go", b"x"), ("example.com/m@v1.0.0/strasse.go", b"y")]);
        assert!(check_zip(z, "example.com/m", "v1.0.0").is_ok());
        let z = make(&[("example.com/m@v1.0.0/\u{212A}.go", b"x"), ("example.com/m@v1.0.0/k.go", b"y")]);
        assert!(check_zip(z, "example.com/m", "v1.0.0").is_err());
    }

    #[test]
    fn valid_zip() {
        let z = make(&[
            ("example.com/m@v1.0.0/go.mod", b"module example.com/m\n"),
            ("example.com/m@v1.0.0/a/b.go", b"package a\n"),
        ]);
        let c = check_zip(z, "example.com/m", "v1.0.0").unwrap();
        assert_eq!(c.go_mod.as_deref(), Some(&b"module example.com/m\n"[..]));
        assert_eq!(c.files, 2);
        let mut h = Hash1::new();
        h.add_bytes("example.com/m@v1.0.0/go.mod", b"module example.com/m\n").unwrap();
        h.add_bytes("example.com/m@v1.0.0/a/b.go", b"package a\n").unwrap();
        assert_eq!(c.h1, h.finish());
    }

    #[test]
    fn rejections() {
        let m = "example.com/m";
        let v = "v1.0.0";
        type Entries<'a> = Vec<(&'a str, &'a [u8])>;
        let cases: Vec<(Entries, &str)> = vec![
            (vec![("example.com/other@v1.0.0/a.go", b"x")], "prefix"),
            (vec![("example.com/m@v1.0.0/bad.go'", b"x")], "malformed file path"),
            (vec![("example.com/m@v1.0.0/a.go", b"x"), ("example.com/m@v1.0.0/A.go", b"y")], "collision"),
            (vec![("example.com/m@v1.0.0/a", b"x"), ("example.com/m@v1.0.0/a/b.go", b"y")], "both a file"),
            (vec![("example.com/m@v1.0.0/a/b.go", b"x"), ("example.com/m@v1.0.0/A", b"y")], "collision"),
            (vec![("example.com/m@v1.0.0/GO.MOD", b"module example.com/m\n")], "lowercase"),
            (vec![("example.com/m@v1.0.0/sub/go.mod", b"module example.com/m/sub\n")], "not in module root"),
            (vec![("example.com/m@v1.0.0/../evil", b"x")], "not clean"),
            (vec![("example.com/m@v1.0.0/a//b", b"x")], "not clean"),
        ];
        for (entries, want) in cases {
            let err = check_zip(make(&entries), m, v).unwrap_err().to_string();
            assert!(err.contains(want), "{entries:?}: {err} should mention {want}");
        }
        assert!(check_zip(Cursor::new(b"not a zip".to_vec()), m, v).is_err());
        assert!(check_zip(make(&[]), m, "v1.0").is_err());
        assert!(check_zip(make(&[]), "example.com/m", "v2.0.0").is_err());
        assert!(check_zip(make(&[("example.com/m@v1.0.0/x/", b"")]), m, v).is_ok());
    }
}
