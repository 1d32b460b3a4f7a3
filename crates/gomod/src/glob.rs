//! GOPRIVATE / GONOPROXY / GONOSUMDB pattern matching (spec §8): a comma-separated list of
//! `path.Match` globs, each matched against as many leading path elements as it has.

/// Reports whether any glob in the comma-separated `globs` matches a prefix of `target`.
pub fn match_prefix_patterns(globs: &str, target: &str) -> bool {
    globs.split(',').any(|g| match_prefix_pattern(g, target))
}

/// Reports whether one glob matches a prefix of `target` (as many leading elements as the
/// glob has). A malformed glob matches nothing, unless Go's matcher succeeds before it reaches
/// the malformed part.
pub fn match_prefix_pattern(glob: &str, target: &str) -> bool {
    let glob = glob.strip_suffix('/').unwrap_or(glob);
    if glob.is_empty() {
        return false;
    }
    let mut n = glob.matches('/').count();
    let mut prefix = target;
    for (i, b) in target.bytes().enumerate() {
        if b == b'/' {
            if n == 0 {
                prefix = &target[..i];
                break;
            }
            n -= 1;
        }
    }
    if n > 0 {
        return false;
    }
    path_match(glob, prefix).unwrap_or(false)
}

/// A glob that `path.Match` would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

/// Go's `path.Match`, step for step: `*` any run of non-`/`, `?` one non-`/` character,
/// `[...]` classes with ranges and `^` negation (a class may match `/`), `\\` escapes. Like
/// Go, a malformed pattern is reported only when matching reaches the bad part or fails.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let (mut pattern, mut name) = (pattern.as_bytes(), name.as_bytes());
    'chunks: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing * matches the rest of the name unless it has a '/'.
            return Ok(!name.contains(&b'/'));
        }
        let (t, ok, err) = match_chunk(chunk, name);
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        err?;
        if star {
            // Any number of non-'/' characters may come first.
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                let (t, ok, err) = match_chunk(chunk, &name[i + 1..]);
                if ok {
                    // The last chunk must match the whole remaining name.
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'chunks;
                }
                err?;
                i += 1;
            }
        }
        // No match: still report a malformed rest of the pattern.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"").2?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// The leading stars, the chunk up to the next star outside a class, and the rest.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => return (star, &pattern[..i], &pattern[i..]),
            _ => {}
        }
        i += 1;
    }
    (star, pattern, &[])
}

/// Matches one chunk at the start of `s`: the rest of `s`, whether it matched, and a syntax
/// error found on the way (the whole chunk is always read, matched or not).
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> (&'a [u8], bool, Result<(), BadPattern>) {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        failed = failed || s.is_empty();
        match c {
            b'[' => {
                let mut r = None;
                if !failed {
                    let (ch, n) = decode(s);
                    r = Some(ch);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&b']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let lo = match get_esc(chunk) {
                        Ok((lo, rest)) => {
                            chunk = rest;
                            lo
                        }
                        Err(e) => return (&[], false, Err(e)),
                    };
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        match get_esc(&chunk[1..]) {
                            Ok((h, rest)) => {
                                hi = h;
                                chunk = rest;
                            }
                            Err(e) => return (&[], false, Err(e)),
                        }
                    }
                    matched = matched || r.is_some_and(|r| lo <= r && r <= hi);
                    nrange += 1;
                }
                failed = failed || matched == negated;
            }
            b'?' => {
                if !failed {
                    failed = s[0] == b'/';
                    s = &s[decode(s).1..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return (&[], false, Err(BadPattern));
                    }
                }
                if !failed {
                    failed = chunk[0] != s[0];
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        return (&[], false, Ok(()));
    }
    (s, true, Ok(()))
}

/// One possibly escaped character of a class; `]` or `-` unescaped, or nothing after it, is
/// a syntax error.
fn get_esc(chunk: &[u8]) -> Result<(char, &[u8]), BadPattern> {
    let mut chunk = chunk;
    match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(BadPattern),
        Some(b'\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        _ => {}
    }
    let (r, n) = decode(chunk);
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// The first character of `s` (`s` is a suffix of a `&str` cut at a byte that may be inside
/// a character only after an escaped byte; such bytes decode as U+FFFD, as in Go).
fn decode(s: &[u8]) -> (char, usize) {
    crate::uni::decode_rune(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_patterns() {
        let cases = [
            ("*.corp.example.com", "git.corp.example.com/a/b", true),
            ("*.corp.example.com", "corp.example.com/a", false),
            ("corp.example.com", "corp.example.com/x/y", true),
            ("corp.example.com", "corp.example.com.evil/x", false),
            ("github.com/org/*", "github.com/org/repo/sub", true),
            ("github.com/org/*", "github.com/org", false),
            ("github.com/org/", "github.com/org/repo", true),
            ("rsc.io/private,corp.example.com", "corp.example.com/z", true),
            ("", "anything.example/x", false),
            ("github.com/[ab]*", "github.com/alpha/x", true),
            ("github.com/[^ab]*", "github.com/alpha/x", false),
            ("github.com/[", "github.com/[", false),
            ("Corp.example.com", "corp.example.com/x", false),
            ("*", "example.com/anything", true),
            ("*/*", "example.com", false),
        ];
        for (g, t, want) in cases {
            assert_eq!(match_prefix_patterns(g, t), want, "{g} vs {t}");
        }
    }

    #[test]
    fn go_path_match() {
        let cases = [
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("a\\", "a", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
        ];
        for (p, s, want) in cases {
            assert_eq!(path_match(p, s), want, "path_match({p:?}, {s:?})");
        }
    }
}
