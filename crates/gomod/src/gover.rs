//! Go toolchain and language versions (`go/version`): `go1.21`, `go1.21.3`, `go1.22rc1`.
//! The zip rules compare a go.mod's language version with `go1.24`.

use std::cmp::Ordering;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Version<'a> {
    major: &'a str,
    minor: &'a str,
    patch: &'a str,
    kind: &'a str,
    pre: &'a str,
}

/// A decimal without a superfluous leading zero at the start of `x`, and the rest.
fn cut_int(x: &str) -> Option<(&str, &str)> {
    let n = x.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || (x.starts_with('0') && n != 1) {
        return None;
    }
    Some((&x[..n], &x[n..]))
}

fn cmp_int(x: &str, y: &str) -> Ordering {
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

/// `internal/gover.Parse` of a version without the `go` prefix; the zero value when invalid.
fn parse(x: &str) -> Version<'_> {
    parse_opt(x).unwrap_or_default()
}

fn parse_opt(x: &str) -> Option<Version<'_>> {
    let mut v = Version::default();
    let (major, x) = cut_int(x)?;
    v.major = major;
    if x.is_empty() {
        v.minor = "0";
        v.patch = "0";
        return Some(v);
    }
    let x = x.strip_prefix('.')?;
    let (minor, x) = cut_int(x)?;
    v.minor = minor;
    if x.is_empty() {
        if cmp_int(minor, "21") == Ordering::Less {
            v.patch = "0";
        }
        return Some(v);
    }
    if let Some(rest) = x.strip_prefix('.') {
        let (patch, rest) = cut_int(rest)?;
        if !rest.is_empty() {
            return None;
        }
        v.patch = patch;
        return Some(v);
    }
    let i = x.bytes().take_while(|b| !b.is_ascii_digit()).count();
    if i == 0 || !x.as_bytes()[..i].iter().all(u8::is_ascii_lowercase) {
        return None;
    }
    v.kind = &x[..i];
    let x = &x[i..];
    if x.is_empty() {
        return Some(v);
    }
    let (pre, rest) = cut_int(x)?;
    if !rest.is_empty() {
        return None;
    }
    v.pre = pre;
    Some(v)
}

/// The version without its `go` prefix and any `-custom` suffix; empty when there is no prefix.
fn strip_go(x: &str) -> &str {
    let v = x.split('-').next().unwrap_or("");
    v.strip_prefix("go").filter(|_| v.len() >= 2).unwrap_or("")
}

/// `go/version.Lang`: the language version of a Go version (`go1.21.3` → `go1.21`), or empty
/// when `x` is not a valid Go version.
pub fn lang(x: &str) -> String {
    let v = parse(strip_go(x));
    let l = if v.minor.is_empty() || (v.major == "1" && v.minor == "0") {
        v.major.to_string()
    } else {
        format!("{}.{}", v.major, v.minor)
    };
    if l.is_empty() {
        String::new()
    } else {
        format!("go{l}")
    }
}

/// `go/version.Compare`: invalid versions sort before every valid one and equal each other.
pub fn compare(x: &str, y: &str) -> Ordering {
    let (vx, vy) = (parse(strip_go(x)), parse(strip_go(y)));
    cmp_int(vx.major, vy.major)
        .then_with(|| cmp_int(vx.minor, vy.minor))
        .then_with(|| cmp_int(vx.patch, vy.patch))
        .then_with(|| vx.kind.cmp(vy.kind))
        .then_with(|| cmp_int(vx.pre, vy.pre))
}

/// `go/version.IsValid`.
pub fn is_valid(x: &str) -> bool {
    parse(strip_go(x)) != Version::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_versions() {
        for (v, want) in [
            ("go1.21.3", "go1.21"),
            ("go1.21", "go1.21"),
            ("go1.22rc1", "go1.22"),
            ("go1", "go1"),
            ("go1.0", "go1"),
            ("go1.0.1", "go1"),
            ("go2", "go2.0"),
            ("go01.24", ""),
            ("go1.24.x", ""),
            ("1.24", ""),
            ("go1.24-custom", "go1.24"),
            ("", ""),
        ] {
            assert_eq!(lang(v), want, "lang({v:?})");
        }
        assert_eq!(compare("go1.24", "go1.24rc1"), Ordering::Less, "1.24 < 1.24rc1 < 1.24.0");
        assert_eq!(compare("go1.24rc1", "go1.24.0"), Ordering::Less);
        assert_eq!(compare("go1.20", "go1.20.0"), Ordering::Equal);
        assert_eq!(compare("", "go1.24"), Ordering::Less);
        assert_eq!(compare("go1.25rc1", "go1.24"), Ordering::Greater);
        assert!(is_valid("go1.21.0") && !is_valid("go1.21.x"));
    }
}
