//! The disagreements with golang.org/x/mod that the differential harness found, each with
//! Go's answer, so that they stay fixed without the oracle.

use gomod::{glob, path, pseudo, zipcheck, zipcreate};
use gomod_diff::rawzip::{self, RawEntry};
use std::io::Cursor;

#[test]
fn file_path_letters_are_go_letters() {
    // Letters to Rust's is_alphabetic, not to Go's unicode.IsLetter.
    for p in ["a.b/\u{2160}", "a.b/\u{24b6}", "x.y/a\u{93e}", "x.y/e\u{301}"] {
        assert!(path::check_file_path(p).is_err(), "{p:?}");
    }
    assert!(path::check_file_path("x.y/\u{e9}t\u{e9}").is_ok());
}

#[test]
fn check_path_major_never_panics() {
    assert!(path::check_path_major("v1.0.0", "\u{e9}").is_err());
    assert!(path::check_path_major("v2.0.0", "xv2").is_err());
    assert!(path::check_path_major("v2.0.0", "/v2").is_ok());
    assert!(path::check_path_major("v0.0.0-20200101000000-abcdefabcdef", ".v1").is_ok());
    // module.Check does not ask for a canonical version; the zip rules do.
    assert!(path::check("example.com/m", "v1.2").is_ok());
    assert!(path::check_canonical("example.com/m", "v1.2").is_err());
}

#[test]
fn glob_classes_match_slashes() {
    assert!(glob::match_prefix_patterns("a[/]b", "a/b"));
    assert!(glob::match_prefix_patterns("a[/]b", "a/b/c"));
    assert!(!glob::match_prefix_patterns("a?b", "a/b"));
}

#[test]
fn pseudo_version_times_are_real_times() {
    assert_eq!(pseudo::time("v0.0.0-20240229235959-abcdefabcdef").as_deref(), Some("20240229235959"));
    for v in ["v0.0.0-20230229120000-abcdefabcdef", "v0.0.0-20231231240000-abcdefabcdef", "v0.0.0-20230001000000-abc"] {
        assert_eq!(pseudo::time(v), None, "{v}");
    }
    assert_eq!(pseudo::base_version("v1.0.0-20191109021931-daa7c04131f5+meta"), None, "no base, but a build");
    assert!(pseudo::is_zero_pseudo_version("v0.0.0-00010101000000-000000000000"));
}

fn zip(entries: &[(&str, &[u8])]) -> Cursor<Vec<u8>> {
    let e: Vec<RawEntry> =
        entries.iter().map(|(n, d)| RawEntry::new(format!("example.com/m@v1.0.0/{n}"), *d)).collect();
    Cursor::new(rawzip::write(&e))
}

fn check(entries: &[(&str, &[u8])]) -> Result<zipcheck::CheckedZip, zipcheck::ZipError> {
    zipcheck::check_zip(zip(entries), "example.com/m", "v1.0.0")
}

#[test]
fn zip_rules_go_refuses() {
    // Case-folded directories collide.
    assert!(check(&[("A/x.go", b"x"), ("a/y.go", b"y")]).is_err());
    // The same file twice: "multiple entries" (the zip reader would keep only one).
    let e = check(&[("dup.go", b"1"), ("dup.go", b"2")]).unwrap_err();
    assert!(e.to_string().contains("multiple entries"), "{e}");
    // A directory entry that declares content.
    let mut d = RawEntry::new("example.com/m@v1.0.0/d/", &b"xyz"[..]);
    d.declared = Some(3);
    assert!(zipcheck::check_zip(Cursor::new(rawzip::write(&[d])), "example.com/m", "v1.0.0").is_err());
    // Kelvin sign and k, dotted I and i: Go's folding says K collides, İ does not.
    assert!(check(&[("\u{212a}.go", b"x"), ("k.go", b"y")]).is_err());
    assert!(check(&[("\u{130}.go", b"x"), ("i.go", b"y")]).is_ok());
}

#[test]
fn zip_rules_go_allows() {
    // The same directory twice is fine, and each entry is hashed, as Go's HashZip does.
    let c = check(&[("d/", b""), ("d/", b""), ("d/x.go", b"x")]).unwrap();
    let mut h = gomod::dirhash::Hash1::new();
    for (n, d) in [("d/", &b""[..]), ("d/", b""), ("d/x.go", b"x")] {
        h.add_bytes(format!("example.com/m@v1.0.0/{n}"), d).unwrap();
    }
    assert_eq!(c.h1, h.finish());
    // Not canonical: the zip rules refuse what module.Check allows.
    assert!(zipcheck::check_zip(zip(&[]), "example.com/m", "v1.0").is_err());
}

#[test]
fn zip_creation_walks_like_go() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.go"), "package a\n").unwrap();
    // A socket and a symlink with names Go refuses: the walk leaves them out.
    std::os::unix::net::UnixListener::bind(root.join("bad'sock")).unwrap();
    std::os::unix::fs::symlink("a.go", root.join("bad'link")).unwrap();
    // A directory named go.mod at the root: Go carries on (no go.mod to read).
    std::fs::create_dir(root.join("go.mod")).unwrap();
    std::fs::write(root.join("go.mod/x.go"), "package x\n").unwrap();
    let z = zipcreate::create_from_dir(root, "example.com/m", "v1.0.0", Cursor::new(Vec::new())).unwrap();
    let c = zipcheck::check_zip(Cursor::new(z.into_inner()), "example.com/m", "v1.0.0").unwrap();
    assert_eq!(c.files, 2);
    assert!(c.go_mod.is_none());
}

#[test]
fn vendor_rules_follow_a_go_mod_go_can_parse() {
    let files = |gm: &[u8]| {
        let list = vec![
            zipcreate::TreeFile { path: "go.mod".into(), kind: zipcreate::FileKind::Regular, size: gm.len() as u64 },
            zipcreate::TreeFile { path: "vendor/modules.txt".into(), kind: zipcreate::FileKind::Regular, size: 1 },
            zipcreate::TreeFile { path: "pkg/vendor/vendor.go".into(), kind: zipcreate::FileKind::Regular, size: 1 },
        ];
        let p = zipcreate::plan(&list, Some(gm)).unwrap();
        p.include.len()
    };
    assert_eq!(files(b"module m\ngo 1.24\n"), 2, "1.24: modules.txt out, pkg/vendor/vendor.go in");
    for bad in [
        &b"module m\ngo 2\n"[..],
        b"module m\ngo 01.24\n",
        b"\xef\xbb\xbfmodule m\ngo 1.24\n",
        b"module m\ngo 1.24\nrequire (\n",
    ] {
        assert_eq!(files(bad), 2, "older rules: modules.txt in, pkg/vendor/vendor.go out");
        let kept = zipcreate::plan(
            &[zipcreate::TreeFile { path: "vendor/modules.txt".into(), kind: zipcreate::FileKind::Regular, size: 1 }],
            Some(bad),
        )
        .unwrap();
        assert_eq!(kept.include, [0], "{:?}", String::from_utf8_lossy(bad));
    }
}
