//! Creating a module zip from a file tree (spec §4.4–4.6), the way the go command does: which
//! files are omitted (vendored packages, nested modules, `.hg_archival.txt`, symlinks and other
//! irregular files, VCS directories in a directory walk), which are errors (unclean or invalid
//! names, case-fold collisions, a root go.mod in another case, sizes over the limits), and the
//! zip itself (Deflate, `module@version/` prefix, no directory entries).

use crate::limits::{MAX_GO_MOD, MAX_LICENSE, MAX_ZIP_FILE};
use crate::path;
use std::collections::HashSet;
use std::io::{Read, Seek, Write};
use std::path::Path;
use thiserror::Error;

/// What a tree entry is; only regular files can go into a zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Symlink,
    /// Devices, sockets, pipes, submodule gitlinks…
    Other,
}

/// A file of the module tree, by its slash-separated path relative to the module root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    pub kind: FileKind,
    pub size: u64,
}

/// Why a file is silently left out of the zip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Omission {
    Vendored,
    InSubmodule,
    HgArchival,
    Symlink,
    NotRegular,
}

/// Why a zip cannot be created. Reads as a sentence for the user.
#[derive(Debug, Error)]
pub enum CreateError {
    #[error("{0}")]
    Module(#[from] path::PathError),
    #[error("{path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("module source tree too large (max size is {MAX_ZIP_FILE} bytes)")]
    TooLarge,
    #[error("reading the module tree: {0}")]
    Io(#[from] std::io::Error),
    #[error("writing the zip: {0}")]
    Zip(#[from] zip::result::ZipError),
}

/// The files of a tree that go into its zip (indices into the input, in input order), and the
/// ones left out with the reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub include: Vec<usize>,
    pub omitted: Vec<(usize, Omission)>,
}

/// Whether the Go 1.24 zip rules apply to a module whose root go.mod is `go_mod`: it parses
/// (as `modfile.ParseLax` does) and its `go` line's language version is at least 1.24. A
/// go.mod that does not parse, or has no `go` line, gets the older rules.
pub fn go_1_24(go_mod: Option<&[u8]>) -> bool {
    go_mod.and_then(|g| crate::modfile::parse_lax(g).ok()).is_some_and(|f| f.go_1_24())
}

/// Whether a file belongs to a vendored package and is left out (`isVendoredPackage`).
/// Before Go 1.24 (by the root go.mod's `go` line) a nested `…/vendor/…` path is judged from a
/// fixed offset — a historic quirk that checksums of existing modules depend on, so
/// `pkg/vendor/vendor.go` is left out. From Go 1.24 the remainder after the match is judged
/// (so that file is kept) and `vendor/modules.txt` is left out too. Checked against the go
/// command by the direct-mode oracle test.
pub fn is_vendored(name: &str, go_1_24: bool) -> bool {
    if go_1_24 && name == "vendor/modules.txt" {
        return true;
    }
    let rest = if let Some(r) = name.strip_prefix("vendor/") {
        r.as_bytes()
    } else if let Some(j) = name.find("/vendor/") {
        if go_1_24 {
            &name.as_bytes()[j + "/vendor/".len()..]
        } else {
            &name.as_bytes()["/vendor/".len()..]
        }
    } else {
        return false;
    };
    rest.contains(&b'/')
}

fn is_clean_relative(p: &str) -> Result<(), &'static str> {
    if p.starts_with('/') {
        return Err("file path is not relative");
    }
    if p.is_empty() || p.ends_with('/') || p.split('/').any(|e| e.is_empty() || e == "." || e == "..") {
        return Err("file path is not clean");
    }
    Ok(())
}

/// Decides which files go into the zip. `root_go_mod` is the content of the root `go.mod`, if
/// the tree has one (it selects the vendoring rules).
pub fn plan(files: &[TreeFile], root_go_mod: Option<&[u8]>) -> Result<Plan, CreateError> {
    let go_1_24 = go_1_24(root_go_mod);
    // Directories (other than the root) holding a regular file named go.mod in any case.
    let mut module_dirs: HashSet<&str> = HashSet::new();
    for f in files {
        let (dir, base) = f.path.rsplit_once('/').unwrap_or(("", &f.path));
        if !dir.is_empty() && base.eq_ignore_ascii_case("go.mod") && f.kind == FileKind::Regular {
            module_dirs.insert(dir);
        }
    }
    let in_submodule = |p: &str| {
        let mut d = p;
        while let Some((parent, _)) = d.rsplit_once('/') {
            if module_dirs.contains(parent) {
                return true;
            }
            d = parent;
        }
        false
    };
    let mut plan = Plan::default();
    let mut collisions = crate::zipcheck::Collisions::default();
    let mut total: u64 = 0;
    // Like Go, a path is reported once: after it was left out or refused, later entries with
    // the same path are dropped without a word (a pipe and a file both named `x`: the pipe is
    // left out and the file silently dropped).
    let mut reported: HashSet<&str> = HashSet::new();
    for (i, f) in files.iter().enumerate() {
        let p = f.path.as_str();
        let omission = match check_file(f, go_1_24, &in_submodule, &mut collisions) {
            Ok(None) => None,
            Ok(Some(o)) => Some(o),
            Err(_) if reported.contains(p) => continue,
            Err(e) => return Err(e),
        };
        if let Some(o) = omission {
            if reported.insert(p) {
                plan.omitted.push((i, o));
            }
            continue;
        }
        total = total.checked_add(f.size).filter(|t| *t <= MAX_ZIP_FILE).ok_or(CreateError::TooLarge)?;
        let invalid = |reason: String| CreateError::Invalid { path: p.to_string(), reason };
        if p == "go.mod" && f.size > MAX_GO_MOD {
            return Err(invalid(format!("go.mod file too large (max size is {MAX_GO_MOD} bytes)")));
        }
        if p == "LICENSE" && f.size > MAX_LICENSE {
            return Err(invalid(format!("LICENSE file too large (max size is {MAX_LICENSE} bytes)")));
        }
        plan.include.push(i);
    }
    Ok(plan)
}

/// The checks of one file, in Go's order: `Ok(Some(_))` when it is left out, an error when it
/// makes the tree invalid.
fn check_file(
    f: &TreeFile,
    go_1_24: bool,
    in_submodule: &dyn Fn(&str) -> bool,
    collisions: &mut crate::zipcheck::Collisions,
) -> Result<Option<Omission>, CreateError> {
    let p = f.path.as_str();
    let invalid = |reason: String| CreateError::Invalid { path: p.to_string(), reason };
    is_clean_relative(p).map_err(|r| invalid(r.to_string()))?;
    if is_vendored(p, go_1_24) {
        return Ok(Some(Omission::Vendored));
    }
    if in_submodule(p) {
        return Ok(Some(Omission::InSubmodule));
    }
    if p == ".hg_archival.txt" {
        return Ok(Some(Omission::HgArchival));
    }
    path::check_file_path(p).map_err(|e| invalid(e.reason.clone()))?;
    if p.eq_ignore_ascii_case("go.mod") && p != "go.mod" {
        return Err(invalid("go.mod files must have lowercase names".into()));
    }
    collisions.check(p, false).map_err(|e| invalid(e.to_string()))?;
    Ok(match f.kind {
        FileKind::Symlink => Some(Omission::Symlink),
        FileKind::Other => Some(Omission::NotRegular),
        FileKind::Regular => None,
    })
}

/// Writes a module zip entry by entry (for sources that hand out one reader at a time): one
/// Deflate entry per file, named `module@version/path`, no directory entries.
pub struct ZipWriter<W: Write + Seek> {
    zw: zip::ZipWriter<W>,
    prefix: String,
}

impl<W: Write + Seek> ZipWriter<W> {
    pub fn new(w: W, module: &str, version: &str) -> Result<Self, CreateError> {
        path::check_canonical(module, version)?;
        Ok(Self { zw: zip::ZipWriter::new(w), prefix: format!("{module}@{version}/") })
    }

    /// Adds one file; the reader must yield exactly `size` bytes (the size it was planned with).
    pub fn add<R: Read>(&mut self, p: &str, size: u64, r: R) -> Result<(), CreateError> {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(false);
        self.zw.start_file(format!("{}{p}", self.prefix), opts)?;
        let copied = std::io::copy(&mut r.take(size.saturating_add(1)), &mut self.zw)?;
        if copied != size {
            return Err(CreateError::Invalid {
                path: p.to_string(),
                reason: format!("file changed size while being read ({copied} bytes, expected {size})"),
            });
        }
        Ok(())
    }

    pub fn finish(self) -> Result<W, CreateError> {
        Ok(self.zw.finish()?)
    }
}

/// Writes a module zip of the given files (already planned) to `w`.
pub fn write<W, R, I>(w: W, module: &str, version: &str, files: I) -> Result<W, CreateError>
where
    W: Write + Seek,
    R: Read,
    I: IntoIterator<Item = (String, u64, R)>,
{
    let mut zw = ZipWriter::new(w, module, version)?;
    for (p, size, r) in files {
        zw.add(&p, size, r)?;
    }
    zw.finish()
}

/// The go.mod served for a version without one (§4.6): `module <path>\n`.
pub fn synthesize_go_mod(module: &str) -> Vec<u8> {
    format!("module {module}\n").into_bytes()
}

const VCS_DIRS: [&str; 4] = [".bzr", ".git", ".hg", ".svn"];

/// Lists a directory tree as the go command's directory walk does (`listFilesInDir`): in
/// lexical order, VCS directories and nested module directories (holding a `go.mod` that is
/// not a directory) skipped whole, and vendored files (by the rules of the root go.mod, read
/// through a symlink if it is one), symlinks, pipes, sockets and devices left out. Only regular
/// files are returned.
pub fn list_dir(root: &Path) -> Result<Vec<TreeFile>, CreateError> {
    let walk_1_24 = go_1_24(std::fs::read(root.join("go.mod")).ok().as_deref());
    let mut out = Vec::new();
    walk(root, "", walk_1_24, &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, rel: &str, go_1_24: bool, out: &mut Vec<TreeFile>) -> Result<(), CreateError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel_path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let meta = std::fs::symlink_metadata(e.path())?;
        if meta.is_dir() {
            if VCS_DIRS.contains(&name.as_str()) {
                continue;
            }
            if std::fs::symlink_metadata(e.path().join("go.mod")).is_ok_and(|m| !m.is_dir()) {
                continue;
            }
            walk(&e.path(), &rel_path, go_1_24, out)?;
        } else if meta.is_file() && !is_vendored(&rel_path, go_1_24) {
            out.push(TreeFile { path: rel_path, kind: FileKind::Regular, size: meta.len() });
        }
    }
    Ok(())
}

/// Creates the zip of the module rooted at `dir` (`zip.CreateFromDir`).
pub fn create_from_dir<W: Write + Seek>(dir: &Path, module: &str, version: &str, w: W) -> Result<W, CreateError> {
    path::check_canonical(module, version)?;
    let files = list_dir(dir)?;
    // The file rules read the root go.mod from the listed files: a regular file or nothing.
    let root_go_mod = match files.iter().any(|f| f.path == "go.mod") {
        true => Some(std::fs::read(dir.join("go.mod"))?),
        false => None,
    };
    let plan = plan(&files, root_go_mod.as_deref())?;
    let mut opened = Vec::with_capacity(plan.include.len());
    for &i in &plan.include {
        let f = &files[i];
        opened.push((f.path.clone(), f.size, std::fs::File::open(dir.join(&f.path))?));
    }
    write(w, module, version, opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dirhash::Hash1;
    use std::io::Cursor;

    fn reg(p: &str, size: u64) -> TreeFile {
        TreeFile { path: p.into(), kind: FileKind::Regular, size }
    }

    fn included(files: &[TreeFile], go_mod: Option<&[u8]>) -> Vec<String> {
        let p = plan(files, go_mod).unwrap();
        p.include.iter().map(|&i| files[i].path.clone()).collect()
    }

    #[test]
    fn vendoring_rules() {
        // (path, omitted before go 1.24, omitted from go 1.24)
        let cases = [
            ("vendor/foo/foo.go", true, true),
            ("pkg/vendor/foo/foo.go", true, true),
            ("longpackagename/vendor/foo/foo.go", true, true),
            ("vendor/vendor.go", false, false),
            ("vendor/foo/modules.txt", true, true),
            ("modules.txt", false, false),
            ("vendor/amodules.txt", false, false),
            ("vendor/modules.txt", false, true),
            // Go's historic fixed offset before 1.24; the real remainder from 1.24.
            ("pkg/vendor/vendor.go", true, false),
            ("sub/vendor/sub.txt", true, false),
            ("\u{e9}\u{e9}\u{e9}/vendor/x", true, false),
        ];
        for (p, old, new) in cases {
            assert_eq!(is_vendored(p, false), old, "{p} before 1.24");
            assert_eq!(is_vendored(p, true), new, "{p} from 1.24");
        }
        assert!(go_1_24(Some(b"module m\n\ngo 1.24\n")));
        assert!(!go_1_24(Some(b"module m\ngo 1.23.4 // comment\n")));
        assert!(go_1_24(Some(b"module m\ngo 1.25rc1\n")));
        assert!(!go_1_24(Some(b"module m\ngolang 1.2\n")));
        assert!(!go_1_24(Some(b"module m\n")));
        // Go's parser refuses these, so the older rules apply (issue: vendor rules).
        for bad in [
            &b"module m\ngo 2\n"[..],
            b"module m\ngo 01.24\n",
            b"\xef\xbb\xbfmodule m\ngo 1.24\n",
            b"module m\ngo 1.24\nrequire (\n",
        ] {
            assert!(!go_1_24(Some(bad)), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(!go_1_24(None));
    }

    #[test]
    fn omissions_and_errors() {
        let files = vec![
            reg("go.mod", 10),
            reg("a.go", 5),
            reg(".hg_archival.txt", 3),
            reg("sub/go.mod", 10),
            reg("sub/x.go'", 1), // invalid name, but omitted first: nested module
            reg("other/GO.MOD", 10),
            reg("other/y.go", 1),
            TreeFile { path: "link.go".into(), kind: FileKind::Symlink, size: 0 },
            TreeFile { path: "fifo".into(), kind: FileKind::Other, size: 0 },
            reg(".svn/entries", 1), // from a VCS archive, VCS dirs are ordinary
        ];
        assert_eq!(included(&files, Some(b"module m\n")), vec!["go.mod", "a.go", ".svn/entries"]);
        let p = plan(&files, None).unwrap();
        assert!(p.omitted.contains(&(2, Omission::HgArchival)));
        assert!(p.omitted.contains(&(4, Omission::InSubmodule)));
        assert!(p.omitted.contains(&(7, Omission::Symlink)));
        assert!(p.omitted.contains(&(8, Omission::NotRegular)));
        // A directory named go.mod is just a directory.
        assert_eq!(included(&[reg("go.mod/a.go", 1), reg("b.go", 1)], None), vec!["go.mod/a.go", "b.go"]);

        let bad = |files: Vec<TreeFile>, want: &str| {
            let e = plan(&files, None).unwrap_err().to_string();
            assert!(e.contains(want), "{e} should mention {want}");
        };
        bad(vec![reg("bad.go'", 1)], "invalid char");
        bad(vec![reg("GO.MOD", 1)], "lowercase");
        bad(vec![reg("a.go", 1), reg("A.go", 1)], "collision");
        bad(vec![reg("a", 1), reg("a/b.go", 1)], "both a file and a directory");
        bad(vec![reg("a/../b.go", 1)], "not clean");
        bad(vec![reg("/abs.go", 1)], "not relative");
        bad(vec![reg("go.mod", MAX_GO_MOD + 1)], "go.mod file too large");
        bad(vec![reg("LICENSE", MAX_LICENSE + 1)], "LICENSE file too large");
        assert!(matches!(plan(&[reg("a", MAX_ZIP_FILE), reg("b", 1)], None), Err(CreateError::TooLarge)));
    }

    #[test]
    fn go_1_24_vendor_case() {
        // The shape of x/mod's "exclude_vendor_go124" case (spec §5.2 #9), with the outcome the
        // go command (1.26) gives for it in the direct-mode oracle test: go.mod and
        // sub/vendor/sub.txt survive; vendor/modules.txt and the vendored package do not.
        let go_mod = b"module example.com/m\n\ngo 1.24\n";
        let files = vec![
            reg("go.mod", go_mod.len() as u64),
            reg("vendor/modules.txt", 9),
            reg("vendor/example.com/x/x.go", 9),
            reg("sub/vendor/sub.txt", 9),
        ];
        assert_eq!(included(&files, Some(go_mod)), vec!["go.mod", "sub/vendor/sub.txt"]);
    }

    #[test]
    fn create_from_a_directory() {
        let dir = std::env::temp_dir().join(format!("gomod-zipcreate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let w = |p: &str, d: &[u8]| {
            let full = dir.join(p);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, d).unwrap();
        };
        w("go.mod", b"module example.com/m\n\ngo 1.21\n");
        w("m.go", b"package m\n");
        w("internal/x/x.go", b"package x\n");
        w(".git/config", b"[core]\n");
        w("nested/go.mod", b"module example.com/m/nested\n");
        w("nested/n.go", b"package nested\n");
        w("vendor/modules.txt", b"# vendored\n");
        w("vendor/example.com/dep/d.go", b"package dep\n");
        w(".hg_archival.txt", b"repo: x\n");
        #[cfg(unix)]
        std::os::unix::fs::symlink("m.go", dir.join("link.go")).unwrap();
        std::fs::create_dir_all(dir.join("empty/dir")).unwrap();
        let z = create_from_dir(&dir, "example.com/m", "v1.2.3", Cursor::new(Vec::new())).unwrap().into_inner();
        let checked = crate::zipcheck::check_zip(Cursor::new(z.clone()), "example.com/m", "v1.2.3").unwrap();
        let mut want = Hash1::new();
        for (p, d) in [
            ("go.mod", &b"module example.com/m\n\ngo 1.21\n"[..]),
            ("m.go", b"package m\n"),
            ("internal/x/x.go", b"package x\n"),
            ("vendor/modules.txt", b"# vendored\n"),
        ] {
            want.add_bytes(format!("example.com/m@v1.2.3/{p}"), d).unwrap();
        }
        assert_eq!(checked.h1, want.finish());
        assert_eq!(checked.files, 4);
        let names: Vec<String> = {
            let mut a = zip::ZipArchive::new(Cursor::new(z)).unwrap();
            (0..a.len()).map(|i| String::from_utf8_lossy(a.by_index(i).unwrap().name_raw()).into_owned()).collect()
        };
        assert!(names.iter().all(|n| !n.ends_with('/')), "no directory entries: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(
            create_from_dir(Path::new("/nonexistent/dir"), "example.com/m", "v1.0.0", Cursor::new(Vec::new())),
            Err(CreateError::Io(_))
        ));
        assert_eq!(synthesize_go_mod("golang.org/x/text"), b"module golang.org/x/text\n");
        assert_eq!(
            crate::dirhash::hash_go_mod(&synthesize_go_mod("golang.org/x/text")),
            "h1:NqM8EUOU14njkJ3fqMW+pc6Ldnwhi/IjpwHt7yyuwOQ="
        );
    }
}
