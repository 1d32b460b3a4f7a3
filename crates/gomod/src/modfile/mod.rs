//! go.mod files the way `golang.org/x/mod/modfile` reads them: [`parse_lax`] (`ParseLax`, the
//! parser the go command uses for dependencies' go.mod files and the zip rules use for the
//! root go.mod's `go` line) and [`module_path`] (`ModulePath`, the quick line scan).
//!
//! Only what modgate needs is kept from the parse: the module path and its deprecation, the
//! `go` version, requirements, retractions and `ignore` lines. Every other directive is
//! skipped, as in lax mode, but syntax errors and malformed kept directives fail the parse
//! exactly where Go's does.

mod quote;
mod read;

use crate::{gover, path};
pub use read::SyntaxError;
use read::{Comments, Line, Stmt};

/// What a lax parse keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModFile {
    pub module: Option<Module>,
    /// The `go` version, as written (or `X.Y` recovered from a lax form such as `1.21.x`).
    pub go: Option<String>,
    pub require: Vec<Require>,
    pub retract: Vec<Retract>,
    pub ignore: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    /// The text after `Deprecated:` in the module's comment, if any.
    pub deprecated: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Require {
    pub path: String,
    /// Canonical (`v1.3` is read as `v1.3.0`).
    pub version: String,
    /// Marked `// indirect`.
    pub indirect: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retract {
    pub low: String,
    pub high: String,
    pub rationale: String,
}

/// Why a go.mod was refused. The message reads as a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("go.mod:{line}: {msg}")]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

impl ModFile {
    /// Whether the zip rules of Go 1.24 apply (`vendor/modules.txt` left out, nested
    /// `vendor/` judged by what follows it): the `go` line's language version is at least 1.24.
    pub fn go_1_24(&self) -> bool {
        self.go_at_least("1.24")
    }

    /// Whether the `go` line's language version is at least `lang` (`"1.17"`); false without
    /// a `go` line.
    pub fn go_at_least(&self, lang: &str) -> bool {
        self.go
            .as_deref()
            .is_some_and(|g| gover::compare(&gover::lang(&format!("go{g}")), &format!("go{lang}")).is_ge())
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `modfile.ParseLax`.
pub fn parse_lax(data: &[u8]) -> Result<ModFile, ParseError> {
    let stmts = read::parse(data).map_err(|e| ParseError { line: e.line, msg: e.msg })?;
    let mut f = ModFile::default();
    for s in &stmts {
        match s {
            Stmt::Line(l) => {
                let verb = l.tokens[0].as_slice();
                add(&mut f, None, l, verb, &l.tokens[1..])?;
            }
            Stmt::Block(b) if b.tokens.len() == 1 => {
                let verb = b.tokens[0].as_slice();
                if matches!(
                    verb,
                    b"module" | b"godebug" | b"require" | b"exclude" | b"replace" | b"retract" | b"tool" | b"ignore"
                ) {
                    for l in &b.lines {
                        add(&mut f, Some(&b.comments), l, verb, &l.tokens)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(f)
}

/// One directive of a lax parse (`File.add` with `strict` false).
fn add(
    f: &mut ModFile,
    block: Option<&Comments>,
    line: &Line,
    verb: &[u8],
    args: &[Vec<u8>],
) -> Result<(), ParseError> {
    let err = |msg: String| ParseError { line: line.start.line, msg };
    match verb {
        b"go" => {
            if f.go.is_some() {
                return Err(err("repeated go statement".into()));
            }
            let [v] = args else { return Err(err("go directive expects exactly one argument".into())) };
            let v = text(v);
            let v = if is_go_version(&v) {
                v
            } else if let Some(fixed) = lax_go_version(&v) {
                fixed
            } else {
                return Err(err(format!("invalid go version '{v}': must match format 1.23.0")));
            };
            f.go = Some(v);
        }
        b"module" => {
            if f.module.is_some() {
                return Err(err("repeated module statement".into()));
            }
            // A malformed module line fails the whole parse, so the module is set only when whole.
            let [p] = args else { return Err(err("usage: module module/path".into())) };
            let path = parse_string(p).map_err(|e| err(format!("invalid quoted string: {e}")))?;
            f.module = Some(Module { path, deprecated: deprecation(&directive_comment(block, line)) });
        }
        b"require" => {
            let [p, v] = args else { return Err(err("usage: require module/path v1.2.3".into())) };
            let p = parse_string(p).map_err(|e| err(format!("invalid quoted string: {e}")))?;
            let v = parse_string(v).map_err(|e| err(format!("require {p}: invalid version: {e}")))?;
            let cv = path::canonical_version(&v);
            if cv.is_empty() {
                return Err(err(format!("require {p}: version {v:?} must be of the form v1.2.3")));
            }
            let Some((_, major)) = path::split_path_version(&p) else {
                return Err(err(format!("require {p}: invalid module path")));
            };
            if let Err(e) = path::check_path_major(&cv, major) {
                return Err(err(format!("require {p}: {e}")));
            }
            f.require.push(Require { path: p, version: cv, indirect: is_indirect(line) });
        }
        b"retract" => {
            // Lax: a retraction that does not parse is skipped, not an error.
            if let Some((low, high)) = version_interval(args) {
                f.retract.push(Retract { low, high, rationale: directive_comment(block, line) });
            }
        }
        b"ignore" => {
            let [p] = args else { return Err(err("ignore directive expects exactly one argument".into())) };
            let p = parse_string(p).map_err(|e| err(format!("invalid quoted string: {e}")))?;
            f.ignore.push(p);
        }
        _ => {}
    }
    Ok(())
}

/// A token as a string: unquoted when it starts with `"`; other quote characters refused.
fn parse_string(tok: &[u8]) -> Result<String, &'static str> {
    if tok.first() == Some(&b'"') {
        return quote::unquote(tok).map(|b| text(&b)).ok_or("invalid syntax");
    }
    if tok.iter().any(|b| matches!(b, b'"' | b'\'' | b'`')) {
        return Err("unquoted string cannot contain quote");
    }
    Ok(text(tok))
}

/// `retract v` or `retract [low, high]`, versions as written.
fn version_interval(args: &[Vec<u8>]) -> Option<(String, String)> {
    let first = args.first()?;
    if first == b"(" {
        return None;
    }
    if first != b"[" {
        let v = parse_string(first).ok()?;
        return Some((v.clone(), v));
    }
    let (low, comma, high, close) = (args.get(1)?, args.get(2)?, args.get(3)?, args.get(4)?);
    let low = parse_string(low).ok()?;
    if comma != b"," {
        return None;
    }
    let high = parse_string(high).ok()?;
    (close == b"]").then_some((low, high))
}

/// Digits with no superfluous leading zero, at the start of `s`: (digits, rest).
fn decimal(s: &str) -> Option<(&str, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || (s.starts_with('0') && n > 1) {
        return None;
    }
    Some(s.split_at(n))
}

/// `GoVersionRE`: `1.21`, `1.21.3`, `1.21rc1`, `1.21.3rc1`.
fn is_go_version(v: &str) -> bool {
    let Some((major, rest)) = decimal(v) else { return false };
    if major.starts_with('0') {
        return false;
    }
    let Some((_, mut rest)) = rest.strip_prefix('.').and_then(decimal) else { return false };
    if let Some(r) = rest.strip_prefix('.') {
        match decimal(r) {
            Some((_, r)) => rest = r,
            None => return false,
        }
    }
    if rest.is_empty() {
        return true;
    }
    let letters = rest.bytes().take_while(u8::is_ascii_lowercase).count();
    let digits = &rest[letters..];
    letters > 0 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `laxGoVersionRE`: `v1.21.x`-style versions read as their `1.21`.
fn lax_go_version(v: &str) -> Option<String> {
    let s = v.strip_prefix('v').unwrap_or(v);
    let (major, rest) = decimal(s)?;
    if major.starts_with('0') {
        return None;
    }
    let (minor, rest) = decimal(rest.strip_prefix('.')?)?;
    let next = rest.chars().next()?;
    (!next.is_ascii_digit()).then(|| format!("{major}.{minor}"))
}

/// The text of a directive's comments, or of its block's when it has none of its own
/// (`parseDirectiveComment`).
fn directive_comment(block: Option<&Comments>, line: &Line) -> String {
    let mut c = &line.comments;
    if let Some(b) = block {
        if c.before.is_empty() && c.suffix.is_empty() {
            c = b;
        }
    }
    let mut lines = Vec::new();
    for com in c.before.iter().chain(&c.suffix) {
        if let Some(t) = com.token.strip_prefix(b"//") {
            lines.push(text(crate::uni::trim_space(t)));
        }
    }
    lines.join("\n")
}

/// The paragraph starting `Deprecated:` in a comment (`deprecatedRE`), without the prefix.
fn deprecation(text: &str) -> String {
    const KEY: &str = "Deprecated:";
    let start =
        if text.starts_with(KEY) { Some(KEY.len()) } else { text.find("\n\nDeprecated:").map(|i| i + 2 + KEY.len()) };
    let Some(start) = start else { return String::new() };
    let body = text[start..].trim_start_matches(' ');
    let end = body.find("\n\n").unwrap_or(body.len());
    body[..end].to_string()
}

/// A `// indirect` (or `// indirect; …`) comment after the line.
fn is_indirect(line: &Line) -> bool {
    let Some(c) = line.comments.suffix.first() else { return false };
    let t = text(c.token.strip_prefix(b"//").unwrap_or(&c.token));
    let f: Vec<&str> = t.split(uni_space).filter(|s| !s.is_empty()).collect();
    (f.len() == 1 && f[0] == "indirect") || (f.len() > 1 && f[0] == "indirect;")
}

fn uni_space(c: char) -> bool {
    crate::uni::is_space(c)
}

/// `modfile.ModulePath`: the path of the first `module` line, found by a line scan without a
/// parse; `None` when there is none (or its quoted form is malformed).
pub fn module_path(data: &[u8]) -> Option<String> {
    for raw in data.split(|&b| b == b'\n') {
        let line = match raw.windows(2).position(|w| w == b"//") {
            Some(i) => &raw[..i],
            None => raw,
        };
        let line = crate::uni::trim_space(line);
        let Some(rest) = line.strip_prefix(b"module") else { continue };
        let trimmed = crate::uni::trim_space(rest);
        if trimmed.len() == rest.len() || trimmed.is_empty() {
            continue;
        }
        if trimmed[0] == b'"' || trimmed[0] == b'`' {
            return quote::unquote(trimmed).map(|p| text(&p)).filter(|p| !p.is_empty());
        }
        return Some(text(trimmed));
    }
    None
}

/// The `(module path, version)` pairs a go.mod requires, in file order; empty when the go.mod
/// does not parse (the go command would refuse it).
pub fn requires(data: &[u8]) -> Vec<(String, String)> {
    parse_lax(data).map(|f| f.require.into_iter().map(|r| (r.path, r.version)).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
