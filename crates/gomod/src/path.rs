//! Module paths, import paths and file paths: validity rules, major-version suffixes, and the
//! `!`-escaping used in proxy URLs and cache paths (`golang.org/x/mod/module`).

use crate::semver;
use thiserror::Error;

/// Why a path, element or version was refused. The message reads as a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} {subject:?}: {reason}")]
pub struct PathError {
    pub what: &'static str,
    pub subject: String,
    pub reason: String,
}

fn err(what: &'static str, subject: &str, reason: impl Into<String>) -> PathError {
    PathError { what, subject: subject.to_string(), reason: reason.into() }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Module,
    Import,
    File,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Module => "malformed module path",
            Kind::Import => "malformed import path",
            Kind::File => "malformed file path",
        }
    }
}

fn mod_path_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn import_path_ok(c: char) -> bool {
    mod_path_ok(c) || c == '+'
}

fn file_name_ok(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c)
    } else {
        // Go's unicode.IsLetter on Go's Unicode tables, not Rust's wider is_alphabetic.
        crate::uni::is_letter(c)
    }
}

const BAD_WINDOWS_NAMES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

fn check_elem(elem: &str, kind: Kind) -> Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if elem.starts_with('.') && kind == Kind::Module {
        return Err("leading dot in path element".into());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".into());
    }
    for c in elem.chars() {
        let ok = match kind {
            Kind::Module => mod_path_ok(c),
            Kind::Import => import_path_ok(c),
            Kind::File => file_name_ok(c),
        };
        if !ok {
            return Err(format!("invalid char {c:?}"));
        }
    }
    let short = elem.split('.').next().unwrap_or(elem);
    if BAD_WINDOWS_NAMES.iter().any(|b| b.eq_ignore_ascii_case(short)) {
        return Err(format!("{short:?} disallowed as path element component on Windows"));
    }
    if kind != Kind::File {
        if let Some(t) = short.rfind('~') {
            let suffix = &short[t + 1..];
            if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
                return Err("trailing tilde and digits in path element".into());
            }
        }
    }
    Ok(())
}

fn check_kind(path: &str, kind: Kind) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty string".into());
    }
    if path.starts_with('-') && kind != Kind::File {
        return Err("leading dash".into());
    }
    if path.contains("//") {
        return Err("double slash".into());
    }
    if path.ends_with('/') {
        return Err("trailing slash".into());
    }
    for elem in path.split('/') {
        check_elem(elem, kind)?;
    }
    Ok(())
}

/// Checks a module path (`module.CheckPath`): the import-path rules, a dotted lowercase host as
/// the first element, no leading dots, and a well-formed major-version suffix.
pub fn check_path(path: &str) -> Result<(), PathError> {
    let e = |r: String| err(Kind::Module.noun(), path, r);
    check_kind(path, Kind::Module).map_err(e)?;
    let first = path.split('/').next().unwrap_or("");
    if first.is_empty() {
        return Err(e("leading slash".into()));
    }
    if !first.contains('.') {
        return Err(e("missing dot in first path element".into()));
    }
    if first.starts_with('-') {
        return Err(e("leading dash in first path element".into()));
    }
    if let Some(c) = first.chars().find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')) {
        return Err(e(format!("invalid char {c:?} in first path element")));
    }
    if split_path_version(path).is_none() {
        return Err(e("invalid version".into()));
    }
    Ok(())
}

/// Checks an import path (`module.CheckImportPath`).
pub fn check_import_path(path: &str) -> Result<(), PathError> {
    check_kind(path, Kind::Import).map_err(|r| err(Kind::Import.noun(), path, r))
}

/// Checks a file path inside a module (`module.CheckFilePath`).
pub fn check_file_path(path: &str) -> Result<(), PathError> {
    check_kind(path, Kind::File).map_err(|r| err(Kind::File.noun(), path, r))
}

/// Splits a module path into prefix and major-version suffix (`/vN` or gopkg.in's `.vN`).
/// `None` when the suffix is malformed (`/v1`, `/v0`, `/v2.0`, gopkg.in without `.vN`).
pub fn split_path_version(path: &str) -> Option<(&str, &str)> {
    if path.starts_with("gopkg.in/") {
        return split_gopkg_in(path);
    }
    let b = path.as_bytes();
    let mut i = b.len();
    let mut dot = false;
    while i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
        if b[i - 1] == b'.' {
            dot = true;
        }
        i -= 1;
    }
    if i <= 1 || i == b.len() || b[i - 1] != b'v' || b[i - 2] != b'/' {
        return Some((path, ""));
    }
    let (prefix, major) = (&path[..i - 2], &path[i - 2..]);
    if dot || major.len() <= 2 || major.as_bytes()[2] == b'0' || major == "/v1" {
        return None;
    }
    Some((prefix, major))
}

fn split_gopkg_in(path: &str) -> Option<(&str, &str)> {
    let b = path.as_bytes();
    let mut i = b.len();
    if path.ends_with("-unstable") {
        i -= "-unstable".len();
    }
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i <= 1 || b[i - 1] != b'v' || b[i - 2] != b'.' {
        return None;
    }
    let (prefix, major) = (&path[..i - 2], &path[i - 2..]);
    if major.len() <= 2 || (major.as_bytes()[2] == b'0' && major != ".v0") {
        return None;
    }
    Some((prefix, major))
}

/// Checks that version `v` fits the path's major-version suffix (`module.CheckPathMajor`).
/// A suffix that starts with neither `/` nor `.` is compared whole (and so never matches).
pub fn check_path_major(v: &str, path_major: &str) -> Result<(), String> {
    let mut pm = path_major;
    if pm.starts_with(".v") {
        pm = pm.strip_suffix("-unstable").unwrap_or(pm);
    }
    if v.starts_with("v0.0.0-") && pm == ".v1" {
        return Ok(());
    }
    let m = semver::major(v);
    let want = if pm.is_empty() {
        if m == "v0" || m == "v1" || semver::build(v) == "+incompatible" {
            return Ok(());
        }
        "v0 or v1"
    } else if let Some(rest) = pm.strip_prefix(['/', '.']) {
        if m == rest {
            return Ok(());
        }
        rest
    } else {
        pm
    };
    Err(format!("should be {want}, not {m}"))
}

/// Reports whether `v` fits the path's major-version suffix (`module.MatchPathMajor`).
pub fn match_path_major(v: &str, path_major: &str) -> bool {
    check_path_major(v, path_major).is_ok()
}

/// The canonical form of a module version: like [`semver::canonical`] but keeping `+incompatible`.
pub fn canonical_version(v: &str) -> String {
    let mut cv = semver::canonical(v);
    if semver::build(v) == "+incompatible" {
        cv.push_str("+incompatible");
    }
    cv
}

/// Reports whether `v` is a canonical module version.
pub fn is_canonical_version(v: &str) -> bool {
    !v.is_empty() && canonical_version(v) == v
}

/// Checks a module path and a version together (`module.Check`): a valid path, a valid
/// semantic version (not necessarily canonical) and a major version that fits the path.
pub fn check(path: &str, version: &str) -> Result<(), PathError> {
    check_path(path)?;
    let verr = |r: String| PathError { what: "invalid version", subject: format!("{path}@{version}"), reason: r };
    if !semver::is_valid(version) {
        return Err(verr("not a semantic version".into()));
    }
    let (_, major) = split_path_version(path).unwrap_or((path, ""));
    check_path_major(version, major).map_err(verr)
}

/// [`check`], and the version must be canonical: what names an immutable module version (the
/// zip rules and `.info`/`.mod`/`.zip` of a version, as against a query such as `v1.2`).
pub fn check_canonical(path: &str, version: &str) -> Result<(), PathError> {
    if !is_canonical_version(version) {
        return Err(PathError {
            what: "invalid version",
            subject: format!("{path}@{version}"),
            reason: format!("not canonical (should be {})", canonical_version(version)),
        });
    }
    check(path, version)
}

fn escape_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape_string(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut bang = false;
    for c in s.chars() {
        if !c.is_ascii() {
            return None;
        }
        if bang {
            bang = false;
            if c.is_ascii_lowercase() {
                out.push(c.to_ascii_uppercase());
                continue;
            }
            return None;
        }
        if c == '!' {
            bang = true;
            continue;
        }
        if c.is_ascii_uppercase() {
            return None;
        }
        out.push(c);
    }
    if bang {
        return None;
    }
    Some(out)
}

/// Escapes a module path for URLs and file systems: uppercase `X` becomes `!x`.
pub fn escape_path(path: &str) -> Result<String, PathError> {
    check_path(path)?;
    Ok(escape_string(path))
}

/// Escapes a version (which may be a query such as a branch name).
pub fn escape_version(v: &str) -> Result<String, PathError> {
    check_version_element(v)?;
    Ok(escape_string(v))
}

fn check_version_element(v: &str) -> Result<(), PathError> {
    if v.contains('!') || !v.is_ascii() {
        return Err(err("invalid version", v, "disallowed version string"));
    }
    check_elem(v, Kind::File).map_err(|r| err("invalid version", v, format!("disallowed version string: {r}")))
}

/// Reverses [`escape_path`], refusing raw uppercase, `!` before anything but `a-z`, and invalid paths.
pub fn unescape_path(escaped: &str) -> Result<String, PathError> {
    let path = unescape_string(escaped)
        .ok_or_else(|| err("invalid escaped module path", escaped, "bad `!` escape or raw uppercase"))?;
    check_path(&path)?;
    Ok(path)
}

/// Reverses [`escape_version`].
pub fn unescape_version(escaped: &str) -> Result<String, PathError> {
    let v = unescape_string(escaped)
        .ok_or_else(|| err("invalid escaped version", escaped, "bad `!` escape or raw uppercase"))?;
    check_version_element(&v)?;
    Ok(v)
}

#[cfg(test)]
mod tests;
