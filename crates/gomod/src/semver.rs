//! Go's dialect of semantic versioning (`golang.org/x/mod/semver`): a leading `v`, shorthands
//! `v1` and `v1.2`, and build metadata that canonicalisation drops.

use std::cmp::Ordering;

/// The parts of a valid version. Shorthand forms have `short` set to the text canonicalisation adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub major: &'a str,
    pub minor: &'a str,
    pub patch: &'a str,
    pub short: &'static str,
    /// Including the leading `-`, or empty.
    pub prerelease: &'a str,
    /// Including the leading `+`, or empty.
    pub build: &'a str,
}

fn is_num(b: u8) -> bool {
    b.is_ascii_digit()
}

fn is_ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn parse_int(v: &str) -> Option<(&str, &str)> {
    let n = v.bytes().take_while(|&b| is_num(b)).count();
    if n == 0 || (v.as_bytes()[0] == b'0' && n != 1) {
        return None;
    }
    Some((&v[..n], &v[n..]))
}

fn is_bad_num(v: &str) -> bool {
    let n = v.bytes().take_while(|&b| is_num(b)).count();
    n == v.len() && n > 1 && v.as_bytes()[0] == b'0'
}

fn parse_prerelease(v: &str) -> Option<(&str, &str)> {
    // v starts with '-'
    let b = v.as_bytes();
    let (mut i, mut start) = (1, 1);
    while i < b.len() && b[i] != b'+' {
        if !is_ident_char(b[i]) && b[i] != b'.' {
            return None;
        }
        if b[i] == b'.' {
            if start == i || is_bad_num(&v[start..i]) {
                return None;
            }
            start = i + 1;
        }
        i += 1;
    }
    if start == i || is_bad_num(&v[start..i]) {
        return None;
    }
    Some((&v[..i], &v[i..]))
}

fn parse_build(v: &str) -> Option<(&str, &str)> {
    let b = v.as_bytes();
    let (mut i, mut start) = (1, 1);
    while i < b.len() {
        if !is_ident_char(b[i]) && b[i] != b'.' {
            return None;
        }
        if b[i] == b'.' {
            if start == i {
                return None;
            }
            start = i + 1;
        }
        i += 1;
    }
    if start == i {
        return None;
    }
    Some((&v[..i], &v[i..]))
}

/// Parses a Go semantic version; `None` when it is not valid.
pub fn parse(v: &str) -> Option<Parsed<'_>> {
    let rest = v.strip_prefix('v')?;
    let (major, rest) = parse_int(rest)?;
    let mut p = Parsed { major, minor: "0", patch: "0", short: "", prerelease: "", build: "" };
    if rest.is_empty() {
        p.short = ".0.0";
        return Some(p);
    }
    let rest = rest.strip_prefix('.')?;
    let (minor, rest) = parse_int(rest)?;
    p.minor = minor;
    if rest.is_empty() {
        p.short = ".0";
        return Some(p);
    }
    let rest = rest.strip_prefix('.')?;
    let (patch, mut rest) = parse_int(rest)?;
    p.patch = patch;
    if rest.starts_with('-') {
        let (pre, r) = parse_prerelease(rest)?;
        p.prerelease = pre;
        rest = r;
    }
    if rest.starts_with('+') {
        let (build, r) = parse_build(rest)?;
        p.build = build;
        rest = r;
    }
    if !rest.is_empty() {
        return None;
    }
    Some(p)
}

/// Reports whether `v` is a valid semantic version (shorthands included).
pub fn is_valid(v: &str) -> bool {
    parse(v).is_some()
}

/// The canonical form: shorthands expanded, build metadata dropped; empty if invalid.
pub fn canonical(v: &str) -> String {
    match parse(v) {
        None => String::new(),
        Some(p) if !p.build.is_empty() => v[..v.len() - p.build.len()].to_string(),
        Some(p) => format!("{v}{}", p.short),
    }
}

/// `vMAJOR`, or empty if invalid.
pub fn major(v: &str) -> String {
    parse(v).map(|p| format!("v{}", p.major)).unwrap_or_default()
}

/// `vMAJOR.MINOR`, or empty if invalid.
pub fn major_minor(v: &str) -> String {
    parse(v).map(|p| format!("v{}.{}", p.major, p.minor)).unwrap_or_default()
}

/// The pre-release suffix including `-`, or empty.
pub fn prerelease(v: &str) -> &str {
    parse(v).map(|p| p.prerelease).unwrap_or("")
}

/// The build suffix including `+`, or empty.
pub fn build(v: &str) -> &str {
    parse(v).map(|p| p.build).unwrap_or("")
}

fn compare_int(x: &str, y: &str) -> Ordering {
    if x == y {
        return Ordering::Equal;
    }
    x.len().cmp(&y.len()).then_with(|| x.cmp(y))
}

fn next_ident(x: &str) -> (&str, &str) {
    let i = x.find('.').unwrap_or(x.len());
    (&x[..i], &x[i..])
}

fn compare_prerelease(mut x: &str, mut y: &str) -> Ordering {
    if x == y {
        return Ordering::Equal;
    }
    if x.is_empty() {
        return Ordering::Greater;
    }
    if y.is_empty() {
        return Ordering::Less;
    }
    while !x.is_empty() && !y.is_empty() {
        let (dx, rx) = next_ident(&x[1..]);
        let (dy, ry) = next_ident(&y[1..]);
        x = rx;
        y = ry;
        if dx != dy {
            let ix = dx.bytes().all(is_num);
            let iy = dy.bytes().all(is_num);
            if ix != iy {
                return if ix { Ordering::Less } else { Ordering::Greater };
            }
            if ix && dx.len() != dy.len() {
                return dx.len().cmp(&dy.len());
            }
            return dx.cmp(dy);
        }
    }
    if x.is_empty() {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

/// Compares two versions; invalid versions sort below all valid ones and equal to each other.
pub fn compare(v: &str, w: &str) -> Ordering {
    match (parse(v), parse(w)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => compare_int(a.major, b.major)
            .then_with(|| compare_int(a.minor, b.minor))
            .then_with(|| compare_int(a.patch, b.patch))
            .then_with(|| compare_prerelease(a.prerelease, b.prerelease)),
    }
}

/// Sorts versions the way the go command does: by semver, ties broken by string order.
pub fn sort(list: &mut [String]) {
    list.sort_by(|a, b| compare(a, b).then_with(|| a.cmp(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_and_canonical() {
        let cases = [
            ("bad", ""),
            ("v1-alpha.beta.gamma", ""),
            ("v1-pre", ""),
            ("v1+meta", ""),
            ("v1-pre+meta", ""),
            ("v1.2-pre", ""),
            ("v1.2-pre+meta", ""),
            ("v1.0.0-alpha", "v1.0.0-alpha"),
            ("v1.0.0-alpha.1", "v1.0.0-alpha.1"),
            ("v1.0.0-alpha.beta", "v1.0.0-alpha.beta"),
            ("v1.0.0-beta", "v1.0.0-beta"),
            ("v1.0.0-beta.2", "v1.0.0-beta.2"),
            ("v1.0.0-beta.11", "v1.0.0-beta.11"),
            ("v1.0.0-rc.1", "v1.0.0-rc.1"),
            ("v1", "v1.0.0"),
            ("v1.0", "v1.0.0"),
            ("v1.0.0", "v1.0.0"),
            ("v1.2", "v1.2.0"),
            ("v1.2.0", "v1.2.0"),
            ("v1.2.3-456", "v1.2.3-456"),
            ("v1.2.3-456.789", "v1.2.3-456.789"),
            ("v1.2.3-456-789", "v1.2.3-456-789"),
            ("v1.2.3-456a", "v1.2.3-456a"),
            ("v1.2.3-pre", "v1.2.3-pre"),
            ("v1.2.3-pre+meta", "v1.2.3-pre"),
            ("v1.2.3-pre.1", "v1.2.3-pre.1"),
            ("v1.2.3-zzz", "v1.2.3-zzz"),
            ("v1.2.3", "v1.2.3"),
            ("v1.2.3+meta", "v1.2.3"),
            ("v1.2.3+meta-pre", "v1.2.3"),
            ("v1.2.3+meta-pre.sha.256a", "v1.2.3"),
            ("v1.2.3-01", ""),
            ("v01.2.3", ""),
            ("v1.2.3-", ""),
            ("v1.2.3+", ""),
            ("v1.2.3-a..b", ""),
            ("1.2.3", ""),
            ("v1.2.3.4", ""),
        ];
        for (v, want) in cases {
            assert_eq!(canonical(v), want, "canonical({v})");
            assert_eq!(is_valid(v), !want.is_empty(), "is_valid({v})");
        }
    }

    #[test]
    fn ordering() {
        let ordered = [
            "bad",
            "v1.0.0-alpha",
            "v1.0.0-alpha.1",
            "v1.0.0-alpha.beta",
            "v1.0.0-beta",
            "v1.0.0-beta.2",
            "v1.0.0-beta.11",
            "v1.0.0-rc.1",
            "v1.0.0",
            "v1.2.0",
            "v1.2.3-456",
            "v1.2.3-456.789",
            "v1.2.3-456-789",
            "v1.2.3-456a",
            "v1.2.3-pre",
            "v1.2.3-pre.1",
            "v1.2.3-zzz",
            "v1.2.3",
            "v1.10.0",
            "v2.0.0",
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(compare(a, b), i.cmp(&j), "compare({a}, {b})");
            }
        }
        assert_eq!(compare("v1.2.3+a", "v1.2.3+b"), Ordering::Equal);
        assert_eq!(compare("v1", "v1.0.0"), Ordering::Equal);
    }

    #[test]
    fn parts() {
        assert_eq!(major("v2.3.4"), "v2");
        assert_eq!(major_minor("v2.3.4"), "v2.3");
        assert_eq!(prerelease("v1.2.3-pre+meta"), "-pre");
        assert_eq!(build("v2.0.0+incompatible"), "+incompatible");
        let mut l: Vec<String> = ["v1.10.0", "v1.2.0", "v1.2.0-rc.1", "v0.9.0"].map(String::from).to_vec();
        sort(&mut l);
        assert_eq!(l, ["v0.9.0", "v1.2.0-rc.1", "v1.2.0", "v1.10.0"]);
    }
}
