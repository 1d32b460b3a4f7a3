//! Pseudo-versions (`vX.Y.Z-[pre.]0.yyyymmddhhmmss-abcdef123456`): recognition, parts, generation.

use crate::semver;

/// The parts of a pseudo-version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudoParts<'a> {
    /// `vX.0.0`, `vX.Y.Z-0` or `vX.Y.Z-pre.0`: the text before the timestamp.
    pub base: &'a str,
    /// `yyyymmddhhmmss`, UTC.
    pub timestamp: &'a str,
    /// The revision identifier (a 12-hex-digit commit hash prefix for git).
    pub rev: &'a str,
    /// Build suffix including `+` (`+incompatible`), or empty.
    pub build: &'a str,
}

/// Reports whether `v` is a pseudo-version (spec §3.2).
pub fn is_pseudo_version(v: &str) -> bool {
    parse(v).is_some()
}

/// Splits a pseudo-version into its parts; `None` if `v` is not one.
pub fn parse(v: &str) -> Option<PseudoParts<'_>> {
    if v.matches('-').count() < 2 {
        return None;
    }
    let p = semver::parse(v)?;
    if p.prerelease.is_empty() || !p.short.is_empty() {
        return None;
    }
    let without_build = &v[..v.len() - p.build.len()];
    let dash = without_build.rfind('-')?;
    let rev = &without_build[dash + 1..];
    if rev.is_empty() || !rev.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let head = &without_build[..dash];
    if head.len() < 14 {
        return None;
    }
    let timestamp = &head[head.len() - 14..];
    if !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let before = &head[..head.len() - 14];
    // `before` is everything up to the timestamp: "vX.0.0-" or "...-0." / "....0."
    let pre = &p.prerelease[1..];
    let pre_before_ts = &pre[..pre.len().checked_sub(without_build.len() - before.len())?];
    let base = if pre_before_ts.is_empty() {
        if p.minor != "0" || p.patch != "0" {
            return None;
        }
        before.strip_suffix('-')?
    } else {
        if !(pre_before_ts == "0." || pre_before_ts.ends_with(".0.")) {
            return None;
        }
        before.strip_suffix('.')?
    };
    Some(PseudoParts { base, timestamp, rev, build: p.build })
}

/// The version a pseudo-version was derived from (`v1.2.3` for `v1.2.4-0.…`, `v1.2.3-pre` for
/// `v1.2.3-pre.0.…`), or empty when it has no base (`vX.0.0-…`). `None` if not a pseudo-version,
/// or when it cannot have had a base (`vX.Y.0-0.…`, or no base but build metadata), as
/// `module.PseudoVersionBase` errs.
pub fn base_version(v: &str) -> Option<String> {
    let parts = parse(v)?;
    let pre = semver::prerelease(parts.base);
    if pre.is_empty() {
        return parts.build.is_empty().then(String::new);
    }
    if pre == "-0" {
        let core = &parts.base[..parts.base.len() - 2];
        let dot = core.rfind('.')?;
        let patch = decrement_decimal(&core[dot + 1..])?;
        return Some(format!("{}{}{}", &core[..=dot], patch, parts.build));
    }
    Some(format!("{}{}", parts.base.strip_suffix(".0")?, parts.build))
}

/// The revision of a pseudo-version (`module.PseudoVersionRev`).
pub fn rev(v: &str) -> Option<&str> {
    parse(v).map(|p| p.rev)
}

/// The commit time of a pseudo-version as `yyyymmddhhmmss` (`module.PseudoVersionTime`):
/// `None` unless it is a pseudo-version whose timestamp is a real UTC time.
pub fn time(v: &str) -> Option<String> {
    let ts = parse(v)?.timestamp;
    let n = |r: std::ops::Range<usize>| ts[r].parse::<u32>().ok();
    let (year, month, day) = (n(0..4)?, n(4..6)?, n(6..8)?);
    let (hour, min, sec) = (n(8..10)?, n(10..12)?, n(12..14)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (day >= 1 && day <= days && hour < 24 && min < 60 && sec < 60).then(|| ts.to_string())
}

/// The pseudo-version standing for "no version" (`module.IsZeroPseudoVersion`):
/// `vN.0.0-00010101000000-000000000000`.
pub fn is_zero_pseudo_version(v: &str) -> bool {
    let major = semver::major(v);
    let major = if major.is_empty() { "v0".to_string() } else { major };
    v == format!("{major}.0.0-00010101000000-000000000000")
}

/// Builds a pseudo-version (`module.PseudoVersion`): `major` is the path's major (`v0` if empty),
/// `older` the most recent tagged ancestor (or empty), `timestamp` `yyyymmddhhmmss` in UTC.
pub fn pseudo_version(major: &str, older: &str, timestamp: &str, rev: &str) -> String {
    let major = if major.is_empty() { "v0" } else { major };
    let segment = format!("{timestamp}-{rev}");
    let build = semver::build(older);
    let older = semver::canonical(older);
    if older.is_empty() {
        return format!("{major}.0.0-{segment}");
    }
    if !semver::prerelease(&older).is_empty() {
        return format!("{older}.0.{segment}{build}");
    }
    let i = older.rfind('.').map(|i| i + 1).unwrap_or(0);
    format!("{}{}-0.{segment}{build}", &older[..i], increment_decimal(&older[i..]))
}

fn increment_decimal(d: &str) -> String {
    let mut digits: Vec<u8> = d.bytes().collect();
    let mut i = digits.len();
    loop {
        if i == 0 {
            digits.insert(0, b'1');
            break;
        }
        i -= 1;
        if digits[i] == b'9' {
            digits[i] = b'0';
        } else {
            digits[i] += 1;
            break;
        }
    }
    String::from_utf8(digits).unwrap_or_default()
}

fn decrement_decimal(d: &str) -> Option<String> {
    if d.is_empty() || d == "0" {
        return None;
    }
    let mut digits: Vec<u8> = d.bytes().collect();
    let mut i = digits.len();
    loop {
        i -= 1;
        if digits[i] == b'0' {
            digits[i] = b'9';
        } else {
            digits[i] -= 1;
            break;
        }
    }
    if digits.len() > 1 && digits[0] == b'0' {
        digits.remove(0);
    }
    String::from_utf8(digits).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_vectors() {
        let t = "20060102150405";
        let cases = [
            ("", "", "v0.0.0-20060102150405-hash"),
            ("", "v0.0.0", "v0.0.1-0.20060102150405-hash"),
            ("", "v1.2.3", "v1.2.4-0.20060102150405-hash"),
            ("", "v1.2.99999999999999999", "v1.2.100000000000000000-0.20060102150405-hash"),
            ("", "v1.2.3-pre", "v1.2.3-pre.0.20060102150405-hash"),
            ("", "v1.3.0-pre", "v1.3.0-pre.0.20060102150405-hash"),
            ("", "v0.0.0--", "v0.0.0--.0.20060102150405-hash"),
            ("v2", "", "v2.0.0-20060102150405-hash"),
            ("v2", "v2.0.0+incompatible", "v2.0.1-0.20060102150405-hash+incompatible"),
            ("v2", "v2.3.0-pre+incompatible", "v2.3.0-pre.0.20060102150405-hash+incompatible"),
            ("", "v1.0.0+meta", "v1.0.1-0.20060102150405-hash+meta"),
        ];
        for (major, older, want) in cases {
            let got = pseudo_version(major, older, t, "hash");
            assert_eq!(got, want, "pseudo_version({major:?}, {older:?})");
            assert!(is_pseudo_version(&got), "{got} should be recognised");
            assert_eq!(parse(&got).map(|p| p.timestamp), Some(t));
            assert_eq!(parse(&got).map(|p| p.rev), Some("hash"));
            let base = base_version(&got).unwrap();
            if older.is_empty() {
                assert_eq!(base, "");
            } else if older != "v1.0.0+meta" {
                assert_eq!(base, older, "base_version({got})");
            }
        }
    }

    #[test]
    fn recognition() {
        for v in [
            "v0.0.0-20191109021931-daa7c04131f5",
            "v1.0.0-20191109021931-daa7c04131f5",
            "v1.2.4-0.20191109021931-daa7c04131f5",
            "v1.2.3-pre.0.20060102150405-abcdefabcdef",
            "v2.0.1-0.20200722182040-012345abcdef+incompatible",
        ] {
            assert!(is_pseudo_version(v), "{v}");
        }
        for v in [
            "v1.2.3",
            "v1.2.3-pre",
            "v0.0.0-2019110902193-daa7c04131f5",
            "v1.1.0-20191109021931-daa7c04131f5",
            "v0.0.0-20191109021931-",
            "v1.2.3-1.20191109021931-daa7c04131f5",
            "master",
        ] {
            assert!(!is_pseudo_version(v), "{v}");
        }
    }
}
