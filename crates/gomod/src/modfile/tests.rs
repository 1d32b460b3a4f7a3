//! go.mod reading against Go's answers (each case checked with golang.org/x/mod v0.43.0).

use super::*;

#[test]
fn reads_requires() {
    let gm = b"// leading comment\nmodule example.com/m\n\ngo 1.21\n\nrequire example.com/a v1.0.0\nrequire (\n\texample.com/b v1.2.0 // indirect\n\t\"example.com/c\" v0.0.0-20240101000000-abcdefabcdef\n\n)\nreplace (\n\texample.com/a => ../a\n)\nexclude example.com/d v1.0.0\nrequire(\n\texample.com/E v2.0.0+incompatible\n)\n";
    assert_eq!(
        requires(gm),
        vec![
            ("example.com/a".into(), "v1.0.0".into()),
            ("example.com/b".into(), "v1.2.0".into()),
            ("example.com/c".into(), "v0.0.0-20240101000000-abcdefabcdef".into()),
            ("example.com/E".into(), "v2.0.0+incompatible".into()),
        ]
    );
    let f = parse_lax(gm).unwrap();
    assert!(!f.require[0].indirect && f.require[1].indirect);
    assert_eq!(
        requires(b"module \"rsc.io/quote\"\n\nrequire \"rsc.io/sampler\" v1.3.0\n"),
        vec![("rsc.io/sampler".into(), "v1.3.0".into())]
    );
    assert!(requires(b"module x\n").is_empty());
    assert!(requires(b"\xff\xfe garbage ((( ))) require").is_empty());
}

#[test]
fn the_issue_cases() {
    // `require ()` is an empty block, not a requirement of "go" at "1.21".
    let f = parse_lax(b"module m\nrequire ()\ngo 1.21\n").unwrap();
    assert!(f.require.is_empty());
    assert_eq!(f.go.as_deref(), Some("1.21"));
    // Versions are canonical.
    let f = parse_lax(b"module m\nrequire example.com/x v1.3\n").unwrap();
    assert_eq!(f.require[0].version, "v1.3.0");
    // A backquoted module path: ModulePath unquotes it; ParseLax refuses it.
    assert_eq!(module_path(b"module `rsc.io/quote`\n").as_deref(), Some("rsc.io/quote"));
    assert!(parse_lax(b"module `rsc.io/quote`\n").is_err());
    // The go line decides the 1.24 zip rules only when the whole file parses.
    for (gm, want) in [
        (&b"module m\ngo 1.24\n"[..], true),
        (b"module m\ngo 1.25rc1\n", true),
        (b"module m\ngo 1.23.4 // comment\n", false),
        (b"module m\ngo v1.24.x\n", true),
        (b"module m\ngo 2\n", false),
        (b"module m\ngo 01.24\n", false),
        (b"\xef\xbb\xbfmodule m\ngo 1.24\n", false),
        (b"module m\ngo 1.24\nrequire (\n", false),
        (b"module m\ngo 1.24\n/* c */\n", false),
    ] {
        let got = parse_lax(gm).map(|f| f.go_1_24()).unwrap_or(false);
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(gm));
    }
}

#[test]
fn module_path_scan() {
    assert_eq!(module_path(b"// c\nmodule \"rsc.io/quote\"\n").as_deref(), Some("rsc.io/quote"));
    assert_eq!(module_path(b"module example.com/m // comment\ngo 1.21\n").as_deref(), Some("example.com/m"));
    assert_eq!(module_path(b"module example.com/m extra\n").as_deref(), Some("example.com/m extra"));
    assert_eq!(module_path(b"modulex y\nmodule\nmodule z\n").as_deref(), Some("z"));
    assert_eq!(module_path(b"module \"a\n"), None);
    assert_eq!(module_path(b"go 1.21\n"), None);
}

#[test]
fn comments_land_where_go_puts_them() {
    let f = parse_lax(b"// Deprecated: use example.com/n\n// more\nmodule example.com/m\n").unwrap();
    assert_eq!(f.module.unwrap().deprecated, "use example.com/n\nmore");
    let f = parse_lax(b"// intro\n//\n// Deprecated:   gone\n//\n// after\nmodule m\n").unwrap();
    assert_eq!(f.module.unwrap().deprecated, "gone");
    let f = parse_lax(b"// Deprecated: no\n\nmodule m\n").unwrap();
    assert_eq!(f.module.unwrap().deprecated, "", "a blank line detaches the comment");
    let f = parse_lax(b"module m\nretract v1.0.0 // broken\nretract (\n\t// why\n\tv0.9.0\n\tv0.8.0\n)\n").unwrap();
    let r: Vec<(&str, &str)> = f.retract.iter().map(|r| (r.low.as_str(), r.rationale.as_str())).collect();
    assert_eq!(r, [("v1.0.0", "broken"), ("v0.9.0", "why"), ("v0.8.0", "")]);
    let f =
        parse_lax(b"module m\nrequire (\n\ta.b/c v1.0.0 // indirect; why\n\ta.b/d v1.0.0 //indirect x\n)\n").unwrap();
    assert!(f.require[0].indirect && !f.require[1].indirect);
}

#[test]
fn lax_keeps_what_it_should() {
    // Unknown and main-module-only directives are skipped; malformed kept ones fail.
    assert!(parse_lax(b"module m\nfrobnicate x y\nreplace a => b\ntoolchain nonsense\n").is_ok());
    assert!(parse_lax(b"module m\nrequire a.b/c\n").is_err());
    assert!(parse_lax(b"module m\nrequire a.b/c/v2 v1.0.0\n").is_err());
    assert!(parse_lax(b"module m\nmodule n\n").is_err());
    assert!(parse_lax(b"module m\nretract [v1, v2\n").is_ok(), "a bad retraction is skipped");
    assert!(parse_lax(b"module m\nignore 'x'\n").is_err());
    assert!(parse_lax(b"module m\ngo 1.21\ngo 1.22\n").is_err());
}
