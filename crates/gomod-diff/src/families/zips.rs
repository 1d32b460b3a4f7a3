//! `golang.org/x/mod/zip` and `sumdb/dirhash`: checking module zips (CheckZip, HashZip and
//! reading every entry), planning a zip from a file list (CheckFiles), zipping a real
//! directory (CreateFromDir), and `Hash1` over file sets.

use super::{val_err, Case, Family};
use crate::gen::{mutate, pick, TRICKY};
use crate::oracle::Request;
use crate::rawzip::{self, RawEntry};
use gomod::dirhash::{self, Hash1};
use gomod::zipcheck;
use gomod::zipcreate::{self, FileKind, Omission, TreeFile};
use rand::rngs::SmallRng;
use rand::Rng;
use std::io::Cursor;
use std::path::{Path, PathBuf};

const MODULES: &[(&str, &str)] = &[
    ("example.com/m", "v1.0.0"),
    ("example.com/m", "v1.0.0"),
    ("example.com/m", "v1.0.0"),
    ("example.com/M", "v2.0.0+incompatible"),
    ("example.com/m/v2", "v2.1.0-pre"),
    ("example.com/m", "v1.0"),
    ("example.com/m", "v2.0.0"),
];

/// Names the zip rules single out: go.mod in every case and place, case-fold twins (Kelvin
/// sign, long s, dotted I, sharp s, sigmas), vendor and nested-module paths, names Go's letter
/// table refuses, unclean paths, Windows device names.
const ZIP_NAMES: &[&str] = &[
    "go.mod",
    "go.mod",
    "GO.MOD",
    "Go.mod",
    "sub/go.mod",
    "sub/GO.MOD",
    "sub/x.go",
    "a.go",
    "A.go",
    "a/x.go",
    "A/y.go",
    "a",
    "a/",
    "k.go",
    "\u{212a}.go",
    "s.go",
    "\u{17f}.go",
    "i.go",
    "\u{130}.go",
    "\u{131}.go",
    "ss.go",
    "\u{df}.go",
    "\u{3a3}",
    "\u{3c3}",
    "\u{3c2}",
    "vendor/x.go",
    "vendor/modules.txt",
    "vendor/a/b.go",
    "pkg/vendor/vendor.go",
    "pkg/vendor/a/b.go",
    "vendor/vendor.go",
    ".hg_archival.txt",
    "sub/.hg_archival.txt",
    "LICENSE",
    "\u{2160}.go",
    "\u{24b6}/x",
    "a\u{93e}.go",
    "\u{e9}.go",
    "e\u{301}.go",
    "x/./y",
    "x/../y",
    "",
    "/abs",
    "a//b",
    "dup.go",
    "dup.go",
    "com1.txt",
    "x~1.go",
    ".git/config",
    "a b.go",
    "a'b.go",
    "\u{ff21}.go",
    "\u{1e900}.go",
    "\u{1e922}.go",
    "\u{1c5}.go",
    "\u{1c4}.go",
    "\u{1c6}.go",
];

const GO_MODS: &[&str] = &[
    "module example.com/m\n",
    "module example.com/m\n\ngo 1.24\n",
    "module example.com/m\n\ngo 1.23\n",
    "module example.com/m\ngo 2\n",
    "module example.com/m\ngo 01.24\n",
    "\u{feff}module example.com/m\ngo 1.24\n",
    "module example.com/m\ngo 1.24\nrequire (\n",
    "module example.com/m\ngo 1.25rc1\n",
    "module example.com/m\ngo v1.24.x\n",
    "go 1.24\n",
];

/// A relative file name for a tree or zip: mostly the names the rules single out.
fn rel_name(rng: &mut SmallRng) -> String {
    let n = pick(rng, ZIP_NAMES).to_string();
    match rng.random_range(0..10) {
        0 => mutate(rng, &n, &['a', 'A', '/', '.', 'é', 'K', 'ſ']),
        1 => format!("{n}{}", pick(rng, TRICKY)),
        _ => n,
    }
}

fn zip_case(rng: &mut SmallRng, i: u64) -> Case {
    zip_case_with(rng, i, false)
}

fn zip_bytes_case(rng: &mut SmallRng, i: u64) -> Case {
    zip_case_with(rng, i, true)
}

fn zip_case_with(rng: &mut SmallRng, _i: u64, corrupt: bool) -> Case {
    let (m, v) = *pick(rng, MODULES);
    let prefix = format!("{m}@{v}/");
    let mut entries = Vec::new();
    for _ in 0..rng.random_range(0..6) {
        let rel = rel_name(rng);
        let data: Vec<u8> = if rel == "go.mod" {
            pick(rng, GO_MODS).as_bytes().to_vec()
        } else {
            (0..rng.random_range(0..20)).map(|_| rng.random::<u8>()).collect()
        };
        let name = match rng.random_range(0..30) {
            0 => format!("example.com/other@v1.0.0/{rel}"),
            1 => rel.clone(),
            2 => format!("{prefix}{rel}/"),
            _ => format!("{prefix}{rel}"),
        };
        let mut e = RawEntry::new(name, data);
        if rng.random_range(0..25) == 0 {
            e.declared = Some(rng.random_range(0..30));
        }
        if rng.random_range(0..25) == 0 {
            e.crc = Some(rng.random());
        }
        entries.push(e);
        if rng.random_range(0..15) == 0 {
            entries.push(entries[entries.len() - 1].clone());
        }
    }
    let mut bytes = rawzip::write(&entries);
    if corrupt && !bytes.is_empty() {
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
    }
    let ours = match zipcheck::check_zip(Cursor::new(&bytes), m, v) {
        Ok(c) => format!("ok {} {} {}", c.h1, c.files, hex::encode(c.go_mod.unwrap_or_default())),
        Err(_) => "err".into(),
    };
    Case { req: Request::new("zip", &[m.as_bytes(), v.as_bytes(), &bytes]), ours: ours.into_bytes() }
}

fn omission(o: Omission) -> &'static str {
    match o {
        Omission::Vendored => "vendored",
        Omission::InSubmodule => "submodule",
        Omission::HgArchival => "hg",
        Omission::Symlink => "symlink",
        Omission::NotRegular => "notregular",
    }
}

fn files_case(rng: &mut SmallRng, _i: u64) -> Case {
    let mut files = Vec::new();
    let mut contents = Vec::new();
    for _ in 0..rng.random_range(0..7) {
        // NUL separates the fields of the request.
        let path = rel_name(rng).replace('\0', "");
        let kind = match rng.random_range(0..12) {
            0 => FileKind::Symlink,
            1 => FileKind::Other,
            _ => FileKind::Regular,
        };
        let content = if path.eq_ignore_ascii_case("go.mod") { pick(rng, GO_MODS).to_string() } else { String::new() };
        let size = if rng.random_range(0..200) == 0 { gomod::limits::MAX_GO_MOD + 1 } else { content.len() as u64 };
        files.push(TreeFile { path, kind, size });
        contents.push(content);
    }
    let args: Vec<Vec<u8>> = files
        .iter()
        .zip(&contents)
        .map(|(f, c)| {
            let k = match f.kind {
                FileKind::Regular => "f",
                FileKind::Symlink => "l",
                FileKind::Other => "o",
            };
            format!("{k}\0{}\0{}\0{c}", f.size, f.path).into_bytes()
        })
        .collect();
    let arg_refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let root = files.iter().zip(&contents).rev().find(|(f, _)| f.path == "go.mod" && f.kind == FileKind::Regular);
    let ours = match zipcreate::plan(&files, root.map(|(_, c)| c.as_bytes())) {
        Ok(p) => {
            let valid: Vec<&str> = p.include.iter().map(|&i| files[i].path.as_str()).collect();
            let om: Vec<String> =
                p.omitted.iter().map(|&(i, o)| format!("{} {}", files[i].path, omission(o))).collect();
            format!("ok\n{}\n--\n{}", valid.join("\n"), om.join("\n"))
        }
        Err(_) => "err".into(),
    };
    Case { req: Request::new("files", &arg_refs), ours: ours.into_bytes() }
}

/// Where directory cases are made; the runner empties it after every batch.
pub fn scratch_root() -> PathBuf {
    std::env::temp_dir().join(format!("gomod-diff-{}", std::process::id()))
}

fn make_tree(rng: &mut SmallRng, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if rng.random_bool(0.7) {
        std::fs::write(dir.join("go.mod"), pick(rng, GO_MODS))?;
    } else if rng.random_bool(0.1) {
        std::fs::create_dir_all(dir.join("go.mod"))?;
    }
    for _ in 0..rng.random_range(0..6) {
        let rel = rel_name(rng);
        if rel.is_empty() || rel.contains('\0') || rel.starts_with('/') || rel.split('/').any(|e| e == "..") {
            continue;
        }
        let p = dir.join(&rel);
        if let Some(parent) = p.parent() {
            if std::fs::create_dir_all(parent).is_err() {
                continue;
            }
        }
        let _ = match rng.random_range(0..10) {
            0 => std::os::unix::fs::symlink("go.mod", &p),
            1 => std::os::unix::net::UnixListener::bind(&p).map(drop),
            2 => std::fs::create_dir_all(&p),
            _ => std::fs::write(&p, rel.as_bytes()),
        };
    }
    Ok(())
}

fn dir_case(rng: &mut SmallRng, i: u64) -> Case {
    let (m, v) = *pick(rng, MODULES);
    let dir = scratch_root().join(i.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let ours = match make_tree(rng, &dir) {
        Ok(()) => match zipcreate::create_from_dir(&dir, m, v, Cursor::new(Vec::new())) {
            Ok(c) => val_err(dirhash::hash_zip(Cursor::new(c.into_inner()))),
            Err(_) => "err".into(),
        },
        Err(e) => format!("could not make the tree: {e}"),
    };
    let d = dir.to_string_lossy().into_owned();
    Case { req: Request::new("dir", &[m.as_bytes(), v.as_bytes(), d.as_bytes()]), ours: ours.into_bytes() }
}

fn hash1_case(rng: &mut SmallRng, _i: u64) -> Case {
    let mut args: Vec<Vec<u8>> = Vec::new();
    let mut h = Hash1::new();
    let mut bad = false;
    for _ in 0..rng.random_range(0..5) {
        let name = rel_name(rng);
        // Go's Hash1 opens files by name, so two files of one name cannot differ there.
        if args.iter().step_by(2).any(|n| *n == name.as_bytes()) {
            continue;
        }
        let data: Vec<u8> = (0..rng.random_range(0..10)).map(|_| rng.random::<u8>()).collect();
        bad |= h.add_bytes(name.clone(), &data).is_err();
        args.push(name.into_bytes());
        args.push(data);
    }
    let ours = if bad { "err".to_string() } else { format!("ok {}", h.finish()) };
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    Case { req: Request::new("hash1", &refs), ours: ours.into_bytes() }
}

pub const ZIP: Family = Family {
    name: "zip-check",
    what: "CheckZip, HashZip, and every entry read (sizes, CRCs)",
    case: zip_case,
    cost: 1,
    at_least: 0,
    known: None,
};
/// The one documented difference of `zip-bytes`: on an archive whose bytes were damaged, the
/// two zip readers may disagree about whether it is readable at all (Go's `archive/zip`
/// ignores the disk-number and some offset fields of an empty archive's end record, the zip
/// crate refuses them, and each refuses some damage the other reads past). Whenever both read
/// the archive, every answer (`h1:`, files, go.mod) must still agree.
fn unreadable_either_way(go: &[u8], ours: &[u8]) -> Option<&'static str> {
    (go == b"err" || ours == b"err").then_some("a damaged archive one zip reader refuses and the other reads")
}

pub const ZIP_BYTES: Family = Family {
    name: "zip-bytes",
    what: "as zip-check, on archives with damaged bytes",
    case: zip_bytes_case,
    cost: 1,
    at_least: 0,
    known: Some(unreadable_either_way),
};
pub const FILES: Family = Family {
    name: "zip-plan",
    what: "CheckFiles (valid and omitted files)",
    case: files_case,
    cost: 1,
    at_least: 0,
    known: None,
};
pub const DIR: Family =
    Family { name: "zip-dir", what: "CreateFromDir, then HashZip", case: dir_case, cost: 10, at_least: 0, known: None };
pub const HASH1: Family =
    Family { name: "dirhash", what: "Hash1", case: hash1_case, cost: 1, at_least: 0, known: None };
