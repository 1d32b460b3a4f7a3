//! Module path, version and escaping rules against the spec's vectors.

use super::*;

/// (path, module ok, import ok, file ok) — golang.org/x/mod module_test.go checkPathTests and spec §2.2.
const CHECK_PATH: &[(&str, bool, bool, bool)] = &[
    ("x.y/z", true, true, true),
    ("x.y", true, true, true),
    ("", false, false, false),
    ("x.y/\u{FFFD}", false, false, false),
    ("/x.y/z", false, false, false),
    ("x./z", false, false, false),
    (".x/z", false, true, true),
    ("-x/z", false, false, true),
    ("x..y/z", true, true, true),
    ("x.y/z/../../w", false, false, false),
    ("x.y//z", false, false, false),
    ("x.y/z//w", false, false, false),
    ("x.y/z/", false, false, false),
    ("x.y/z/v0", false, true, true),
    ("x.y/z/v1", false, true, true),
    ("x.y/z/v2", true, true, true),
    ("x.y/z/v2.0", false, true, true),
    ("X.y/z", false, true, true),
    ("!x.y/z", false, false, true),
    ("_x.y/z", false, true, true),
    ("x.y!/z", false, false, true),
    ("x.y\"/z", false, false, false),
    ("x.y#/z", false, false, true),
    ("x.y$/z", false, false, true),
    ("x.y%/z", false, false, true),
    ("x.y&/z", false, false, true),
    ("x.y'/z", false, false, false),
    ("x.y(/z", false, false, true),
    ("x.y)/z", false, false, true),
    ("x.y*/z", false, false, false),
    ("x.y+/z", false, true, true),
    ("x.y,/z", false, false, true),
    ("x.y-/z", true, true, true),
    ("x.y./zt", false, false, false),
    ("x.y:/z", false, false, false),
    ("x.y;/z", false, false, false),
    ("x.y</z", false, false, false),
    ("x.y=/z", false, false, true),
    ("x.y>/z", false, false, false),
    ("x.y?/z", false, false, false),
    ("x.y@/z", false, false, true),
    ("x.y[/z", false, false, true),
    ("x.y\\/z", false, false, false),
    ("x.y]/z", false, false, true),
    ("x.y^/z", false, false, true),
    ("x.y_/z", false, true, true),
    ("x.y`/z", false, false, false),
    ("x.y{/z", false, false, true),
    ("x.y}/z", false, false, true),
    ("x.y~/z", false, true, true),
    ("x.y/z!", false, false, true),
    ("x.y/z\"", false, false, false),
    ("x.y/z#", false, false, true),
    ("x.y/z$", false, false, true),
    ("x.y/z+", false, true, true),
    ("x.y/z++", false, true, true),
    ("x.y/z-", true, true, true),
    ("x.y/z.t", true, true, true),
    ("x.y/z_", true, true, true),
    ("x.y/z~", true, true, true),
    ("x.y/x.foo", true, true, true),
    ("x.y/aux.foo", false, false, false),
    ("x.y/prn", false, false, false),
    ("x.y/prn2", true, true, true),
    ("x.y/com", true, true, true),
    ("x.y/com1", false, false, false),
    ("x.y/com1.txt", false, false, false),
    ("x.y/calm1", true, true, true),
    ("x.y/z~", true, true, true),
    ("x.y/z~0", false, false, true),
    ("x.y/z~09", false, false, true),
    ("x.y/z09", true, true, true),
    ("x.y/z09~", true, true, true),
    ("x.y/z09~09z", true, true, true),
    ("x.y/z09~09z~09", false, false, true),
    ("github.com/!123/logrus", false, false, true),
    ("github.com/user/unicode/испытание", false, false, true),
    ("../x", false, false, false),
    ("./y", false, false, false),
    ("x:y", false, false, false),
    ("\\temp\\foo", false, false, false),
    (".gitignore", false, true, true),
    (".github/ISSUE_TEMPLATE", false, true, true),
    ("x☺y", false, false, false),
];

#[test]
fn check_path_table() {
    for &(p, m, i, f) in CHECK_PATH {
        assert_eq!(check_path(p).is_ok(), m, "check_path({p:?}) = {:?}", check_path(p));
        assert_eq!(check_import_path(p).is_ok(), i, "check_import_path({p:?})");
        assert_eq!(check_file_path(p).is_ok(), f, "check_file_path({p:?})");
    }
}

#[test]
fn check_module_version() {
    let cases = [
        ("rsc.io/quote", "0.1.0", false),
        ("rsc io/quote", "v1.0.0", false),
        ("github.com/go-yaml/yaml", "v0.8.0", true),
        ("github.com/go-yaml/yaml", "v1.0.0", true),
        ("github.com/go-yaml/yaml", "v2.0.0", false),
        ("github.com/go-yaml/yaml", "v2.1.5", false),
        ("github.com/go-yaml/yaml", "v3.0.0", false),
        ("github.com/go-yaml/yaml/v2", "v1.0.0", false),
        ("github.com/go-yaml/yaml/v2", "v2.0.0", true),
        ("github.com/go-yaml/yaml/v2", "v2.1.5", true),
        ("github.com/go-yaml/yaml/v2", "v3.0.0", false),
        ("gopkg.in/yaml.v0", "v0.8.0", true),
        ("gopkg.in/yaml.v0", "v1.0.0", false),
        ("gopkg.in/yaml.v1", "v0.8.0", false),
        ("gopkg.in/yaml.v1", "v1.0.0", true),
        ("gopkg.in/yaml.v1", "v2.0.0", false),
        ("gopkg.in/yaml.v2", "v1.0.0", false),
        ("gopkg.in/yaml.v2", "v2.0.0", true),
        ("rsc.io/quote", "v17.0.0", false),
        ("rsc.io/quote", "v17.0.0+incompatible", true),
        ("rsc.io/quote", "v1.2", false),
        ("rsc.io/quote", "v1.2.3+meta", false),
    ];
    // module.Check itself takes any valid semantic version.
    assert!(check("rsc.io/quote", "v1.2").is_ok() && check("rsc.io/quote", "v1.2.3+meta").is_ok());
    for (p, v, ok) in cases {
        let got = check_canonical(p, v);
        assert_eq!(got.is_ok(), ok, "check_canonical({p}, {v}) = {got:?}");
    }
}

#[test]
fn split_versions() {
    let cases = [
        ("x.y/z", Some(("x.y/z", ""))),
        ("x.y/z/v2", Some(("x.y/z", "/v2"))),
        ("x.y/z/v1", None),
        ("x.y/z/v2.0", None),
        ("x.y/z/v02", None),
        ("x.y/v2x", Some(("x.y/v2x", ""))),
        ("gopkg.in/yaml.v2", Some(("gopkg.in/yaml", ".v2"))),
        ("gopkg.in/yaml.v0", Some(("gopkg.in/yaml", ".v0"))),
        ("gopkg.in/yaml.v2-unstable", Some(("gopkg.in/yaml", ".v2-unstable"))),
        ("gopkg.in/yaml", None),
        ("gopkg.in/yaml.v02", None),
    ];
    for (p, want) in cases {
        assert_eq!(split_path_version(p), want, "{p}");
    }
}

#[test]
fn escaping() {
    let ok = [
        ("ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789", "ascii.com/abcdefghijklmnopqrstuvwxyz.-/~_0123456789"),
        ("github.com/GoogleCloudPlatform/omega", "github.com/!google!cloud!platform/omega"),
        ("github.com/Azure/x", "github.com/!azure/x"),
    ];
    for (p, e) in ok {
        assert_eq!(escape_path(p).unwrap(), e);
        assert_eq!(unescape_path(e).unwrap(), p);
    }
    for bad in [
        "github.com/GoogleCloudPlatform/omega",
        "github.com/!google!cloud!platform!/omega",
        "github.com/!0google!cloud!platform/omega",
        "github.com/!_google!cloud!platform/omega",
        "github.com/!!google!cloud!platform/omega",
        "",
        "github.com/!google!",
    ] {
        assert!(unescape_path(bad).is_err(), "unescape_path({bad:?}) should fail");
    }
    assert_eq!(escape_version("v1.0.0-RC1").unwrap(), "v1.0.0-!r!c1");
    assert_eq!(unescape_version("v1.0.0-!r!c1").unwrap(), "v1.0.0-RC1");
    assert_eq!(unescape_version("!master").unwrap(), "Master");
    assert!(unescape_version("v1!").is_err());
    assert!(unescape_version("V1").is_err());
    assert!(escape_version("a!b").is_err());
    assert!(unescape_version("..").is_err());
    assert!(unescape_version("a/b").is_err());
}

#[test]
fn canonical_versions() {
    assert_eq!(canonical_version("v2.0.0+incompatible"), "v2.0.0+incompatible");
    assert_eq!(canonical_version("v2.0+incompatible"), "");
    assert_eq!(canonical_version("v1.2.3+meta"), "v1.2.3");
    assert!(is_canonical_version("v1.2.3-pre"));
    assert!(!is_canonical_version("v1.2"));
    assert!(!is_canonical_version("master"));
}
