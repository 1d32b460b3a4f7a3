//! Lookup answers and tree notes: `<id>\n<record text>\n<signed tree note>`, where the record
//! text is a version's go.sum lines and the tree note is `go.sum database tree\n<N>\n<root>\n`.

use super::note::{b64_decode, b64_encode};
use super::tlog::Hash;
use super::SumdbError;

const TREE_PREFIX: &str = "go.sum database tree\n";

/// A tree of the log: its size and root hash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tree {
    pub n: i64,
    pub hash: Hash,
}

/// The text of a tree note.
pub fn format_tree(t: &Tree) -> String {
    format!("{TREE_PREFIX}{}\n{}\n", t.n, b64_encode(&t.hash))
}

/// Parses a tree note's text (extra lines after the hash are allowed).
pub fn parse_tree(text: &str) -> Result<Tree, SumdbError> {
    let bad = || SumdbError::MalformedTree;
    if !text.starts_with(TREE_PREFIX) || text.matches('\n').count() < 3 || text.len() > 1_000_000 {
        return Err(bad());
    }
    let mut lines = text.splitn(4, '\n').skip(1);
    let (n_line, hash_line) = (lines.next().ok_or_else(bad)?, lines.next().ok_or_else(bad)?);
    let n: i64 = n_line.parse().map_err(|_| bad())?;
    if n < 0 || n.to_string() != n_line {
        return Err(bad());
    }
    let hash: Hash = b64_decode(hash_line).and_then(|h| h.try_into().ok()).ok_or_else(bad)?;
    Ok(Tree { n, hash })
}

/// A record text: valid UTF-8, lines ending in `\n`, no blank line, no control character.
pub fn valid_record_text(text: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(text) else { return false };
    s.ends_with('\n') && !s.contains("\n\n") && !s.chars().any(|c| c < ' ' && c != '\n')
}

/// A lookup answer taken apart: the record id, its text, and the rest (the signed note).
pub fn parse_record(msg: &[u8]) -> Result<(i64, &[u8], &[u8]), SumdbError> {
    let bad = || SumdbError::MalformedRecord;
    let nl = msg.iter().position(|&b| b == b'\n').ok_or_else(bad)?;
    let id_text = std::str::from_utf8(&msg[..nl]).map_err(|_| bad())?;
    // Go's strconv.ParseInt: an optional sign, then decimal digits.
    let id: i64 = id_text.parse().map_err(|_| bad())?;
    let rest = &msg[nl + 1..];
    let end = rest.windows(2).position(|w| w == b"\n\n").ok_or_else(bad)?;
    let (text, note) = (&rest[..end + 1], &rest[end + 2..]);
    if !valid_record_text(text) {
        return Err(bad());
    }
    Ok((id, text, note))
}

/// A record as a lookup serves it (without the note).
pub fn format_record(id: i64, text: &[u8]) -> Result<Vec<u8>, SumdbError> {
    if !valid_record_text(text) {
        return Err(SumdbError::MalformedRecord);
    }
    let mut out = format!("{id}\n").into_bytes();
    out.extend_from_slice(text);
    out.push(b'\n');
    Ok(out)
}

/// The go.sum lines of a version: `<module> <version> h1:...` and
/// `<module> <version>/go.mod h1:...`.
pub fn gosum_lines(module: &str, version: &str, zip_h1: &str, mod_h1: &str) -> String {
    format!("{module} {version} {zip_h1}\n{module} {version}/go.mod {mod_h1}\n")
}

/// The hash a record text gives for `module version` (zip) or `module version/go.mod`.
pub fn hash_in_record<'a>(text: &'a [u8], module: &str, version_key: &str) -> Option<&'a str> {
    let s = std::str::from_utf8(text).ok()?;
    s.lines().find_map(|line| {
        let mut f = line.split(' ');
        match (f.next(), f.next(), f.next(), f.next()) {
            (Some(m), Some(v), Some(h), None) if m == module && v == version_key => Some(h),
            _ => None,
        }
    })
}
