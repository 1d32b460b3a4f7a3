//! GOPRIVATE / GONOPROXY / GONOSUMDB pattern matching (spec §8): a comma-separated list of
//! `path.Match` globs, each matched against as many leading path elements as it has.

/// Reports whether any glob in the comma-separated `globs` matches a prefix of `target`.
pub fn match_prefix_patterns(globs: &str, target: &str) -> bool {
    globs.split(',').any(|g| match_prefix_pattern(g, target))
}

/// Reports whether one glob matches a prefix of `target`. Malformed globs never match.
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

/// Go's `path.Match`: `*` any run of non-`/`, `?` one non-`/` character, `[...]` classes with
/// ranges and `^` negation, `\` escapes.
pub fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    validate(pattern)?;
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    Ok(match_from(&p, &n))
}

fn validate(p: &str) -> Result<(), BadPattern> {
    let c: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\\' => {
                if i + 1 >= c.len() {
                    return Err(BadPattern);
                }
                i += 2;
            }
            '[' => {
                i = class_end(&c, i).ok_or(BadPattern)?;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Index just past the `]` closing the class that starts at `start`, if well-formed.
fn class_end(c: &[char], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if c.get(i) == Some(&'^') {
        i += 1;
    }
    let mut nrange = 0;
    loop {
        let ch = *c.get(i)?;
        if ch == ']' {
            return if nrange > 0 { Some(i + 1) } else { None };
        }
        nrange += 1;
        let lo = if ch == '\\' {
            i += 1;
            *c.get(i)?
        } else {
            ch
        };
        if lo == '-' && ch != '\\' {
            return None;
        }
        i += 1;
        if c.get(i) == Some(&'-') {
            i += 1;
            let mut hi = *c.get(i)?;
            if hi == '\\' {
                i += 1;
                hi = *c.get(i)?;
            } else if hi == ']' || hi == '-' {
                return None;
            }
            let _ = hi;
            i += 1;
        }
    }
}

fn class_matches(c: &[char], start: usize, ch: char) -> bool {
    let mut i = start + 1;
    let negate = c.get(i) == Some(&'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < c.len() {
        if c[i] == ']' {
            break;
        }
        let mut lo = c[i];
        if lo == '\\' {
            i += 1;
            lo = c[i];
        }
        i += 1;
        let mut hi = lo;
        if i < c.len() && c[i] == '-' {
            i += 1;
            hi = c[i];
            if hi == '\\' {
                i += 1;
                hi = c[i];
            }
            i += 1;
        }
        if lo <= ch && ch <= hi {
            matched = true;
        }
    }
    matched != negate
}

fn match_from(p: &[char], n: &[char]) -> bool {
    if p.is_empty() {
        return n.is_empty();
    }
    match p[0] {
        '*' => {
            // Try every split that does not cross a '/'.
            let mut k = 0;
            loop {
                if match_from(&p[1..], &n[k..]) {
                    return true;
                }
                if k >= n.len() || n[k] == '/' {
                    return false;
                }
                k += 1;
            }
        }
        '?' => !n.is_empty() && n[0] != '/' && match_from(&p[1..], &n[1..]),
        '[' => {
            let end = match class_end(p, 0) {
                Some(e) => e,
                None => return false,
            };
            !n.is_empty() && n[0] != '/' && class_matches(p, 0, n[0]) && match_from(&p[end..], &n[1..])
        }
        '\\' => p.len() > 1 && !n.is_empty() && n[0] == p[1] && match_from(&p[2..], &n[1..]),
        c => !n.is_empty() && n[0] == c && match_from(&p[1..], &n[1..]),
    }
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
