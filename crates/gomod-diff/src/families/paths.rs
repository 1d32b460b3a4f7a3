//! `golang.org/x/mod/module`: module, import and file path checks, major-version suffixes,
//! escaping, `Check`, and `MatchPrefixPatterns` (GOPRIVATE globs with `path.Match`).

use super::{b, ok_err, val_err, Case, Family};
use crate::gen::{mutate_pick, pick, random_string, shortlex, shortlex_count, TRICKY};
use crate::oracle::Request;
use gomod::{glob, path};
use rand::rngs::SmallRng;
use rand::Rng;

const ALPHABET: &[char] = &['a', 'A', '.', '/', 'v', '2', '-', '~', '!', 'é'];
const MAX_LEN: u32 = 6;

const SAMPLES: &[&str] = &[
    "github.com/user/repo",
    "github.com/user/repo/v2",
    "github.com/Azure/azure-sdk-for-go",
    "gopkg.in/yaml.v3",
    "gopkg.in/check.v1",
    "gopkg.in/foo.v2-unstable",
    "gopkg.in/foo.v0",
    "example.com/m/v10",
    "example.com/m/v1",
    "example.com/m/v0",
    "example.com/m/v2.0",
    "x.y/z~1",
    "x.y/com1.txt",
    "x.y/a b",
    "x.y/.hidden",
    "golang.org/x/text",
    "rsc.io/quote/v3",
    "a.b/Ⅰ",
    "x.y/aा",
    "example.com/é/v2",
    "v1.2.3-pre",
    "master",
];

fn path_input(rng: &mut SmallRng, i: u64) -> String {
    if i < shortlex_count(ALPHABET, MAX_LEN) {
        if let Some(s) = shortlex(ALPHABET, MAX_LEN, i) {
            return s;
        }
    }
    let mut s = mutate_pick(rng, SAMPLES, ALPHABET);
    if rng.random_bool(0.1) {
        s.push('/');
        s.push(*pick(rng, TRICKY));
    }
    s
}

fn paths_case(rng: &mut SmallRng, i: u64) -> Case {
    let p = path_input(rng, i);
    let (prefix, major, ok) = match path::split_path_version(&p) {
        Some((pre, maj)) => (pre.to_string(), maj.to_string(), true),
        None => (p.clone(), String::new(), false),
    };
    let ours = [
        ok_err(path::check_path(&p)).to_string(),
        ok_err(path::check_import_path(&p)).to_string(),
        ok_err(path::check_file_path(&p)).to_string(),
        prefix,
        major,
        b(ok).to_string(),
        val_err(path::escape_path(&p)),
        val_err(path::unescape_path(&p)),
        val_err(path::escape_version(&p)),
        val_err(path::unescape_version(&p)),
    ]
    .join("\n");
    Case { req: Request::new("path", &[p.as_bytes()]), ours: ours.into_bytes() }
}

const MAJORS: &[&str] = &["", "/v2", "/v3", ".v1", ".v2", ".v0", ".v2-unstable", "/v1", "é", "xv2", "/", ".", "v2"];

fn version(rng: &mut SmallRng) -> String {
    let i = rng.random_range(0..2_000_000);
    super::semver::version(rng, i)
}

fn major_case(rng: &mut SmallRng, _i: u64) -> Case {
    let v = version(rng);
    let pm = if rng.random_bool(0.7) {
        pick(rng, MAJORS).to_string()
    } else {
        mutate_pick(rng, MAJORS, &['v', '/', '.', '1', '2', 'é', '-'])
    };
    let r = path::check_path_major(&v, &pm);
    let ours = format!("{} {}", ok_err(r.clone()), b(path::match_path_major(&v, &pm)));
    Case { req: Request::new("pathmajor", &[v.as_bytes(), pm.as_bytes()]), ours: ours.into_bytes() }
}

fn check_case(rng: &mut SmallRng, i: u64) -> Case {
    let p = if rng.random_bool(0.5) { pick(rng, SAMPLES).to_string() } else { path_input(rng, i) };
    let v = version(rng);
    let ours = format!("{} {}", ok_err(path::check(&p, &v)), path::canonical_version(&v));
    Case { req: Request::new("check", &[p.as_bytes(), v.as_bytes()]), ours: ours.into_bytes() }
}

const GLOB_ALPHABET: &[char] = &['a', 'b', '*', '?', '[', ']', '^', '-', '\\', '/', ','];
const GLOB_MAX: u32 = 5;
const TARGETS: &[&str] = &["a", "ab", "a/b", "b/a", "a/b/c", "ab/", "a-b", "[a", "a*b", "é/a", "", "/", "a//b", "ba"];

fn glob_case(rng: &mut SmallRng, i: u64) -> Case {
    let globs = match shortlex(GLOB_ALPHABET, GLOB_MAX, i) {
        Some(g) if i < shortlex_count(GLOB_ALPHABET, GLOB_MAX) => g,
        _ => random_string(rng, GLOB_ALPHABET, 8),
    };
    let target = if rng.random_bool(0.7) {
        pick(rng, TARGETS).to_string()
    } else {
        random_string(rng, &['a', 'b', '/', '-', '[', '*', 'é'], 6)
    };
    let ours = b(glob::match_prefix_patterns(&globs, &target));
    Case { req: Request::new("glob", &[globs.as_bytes(), target.as_bytes()]), ours: ours.as_bytes().to_vec() }
}

pub const PATHS: Family = Family {
    name: "module-path",
    what: "CheckPath, CheckImportPath, CheckFilePath, SplitPathVersion, Escape/UnescapePath, Escape/UnescapeVersion",
    case: paths_case,
    cost: 1,
    at_least: 0,
    known: None,
};
pub const MAJOR: Family = Family {
    name: "path-major",
    what: "CheckPathMajor, MatchPathMajor",
    case: major_case,
    cost: 1,
    at_least: 0,
    known: None,
};
pub const CHECK: Family = Family {
    name: "module-check",
    what: "Check, CanonicalVersion",
    case: check_case,
    cost: 1,
    at_least: 0,
    known: None,
};
pub const GLOB: Family = Family {
    name: "glob",
    what: "MatchPrefixPatterns (path.Match)",
    case: glob_case,
    cost: 1,
    at_least: 0,
    known: None,
};
