//! What a proxied request names, decided once for the route match, the access rules and the
//! path sent on: the host (lowercase, no port), and the path in two forms — the one matched
//! (percent-decoded, except the bytes that would change its segments) and the one forwarded
//! (the client's own bytes, with runs of slashes merged).
//!
//! A path that could mean different things to modgate and to a backend is refused: dot segments
//! (also encoded, also inside an encoded slash), NUL, backslashes, malformed escapes; and
//! encoded slashes unless the route allows them.

pub use crate::request::{host_matches, under};
use std::borrow::Cow;

/// A request's path, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPath {
    /// Matched against route and policy prefixes: each segment percent-decoded, except `%2F`,
    /// `%5C` and `%25`, which stay encoded (upper case).
    pub matched: String,
    /// Sent to the backend (after the route's prefix rewrite).
    pub raw: String,
    /// Whether the path holds an encoded slash or backslash.
    pub encoded_slash: bool,
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decodes `seg` fully (`None` for a malformed escape); borrowed when it has no escape.
fn decode_all(seg: &str) -> Option<Cow<'_, [u8]>> {
    let b = seg.as_bytes();
    if !b.contains(&b'%') {
        return Some(Cow::Borrowed(b));
    }
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let (h, l) = (hex(*b.get(i + 1)?)?, hex(*b.get(i + 2)?)?);
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(Cow::Owned(out))
}

/// The matched form of a segment: decoded, but `/`, `\` and `%` kept encoded.
fn matched_segment(seg: &str) -> Cow<'_, str> {
    if !seg.contains('%') {
        return Cow::Borrowed(seg);
    }
    let mut out = String::with_capacity(seg.len());
    let mut rest = seg;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let code = &rest[at + 1..at + 3];
        let byte = u8::from_str_radix(code, 16).unwrap_or(b'%');
        match byte {
            b'/' | b'\\' | b'%' => out.push_str(&format!("%{}", code.to_ascii_uppercase())),
            // Other bytes decode; a multi-byte character decodes byte by byte into valid text
            // only as a whole, so non-ASCII stays encoded (upper case) for a stable comparison.
            b if b.is_ascii() => out.push(b as char),
            _ => out.push_str(&format!("%{}", code.to_ascii_uppercase())),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Checks and normalizes a request path (without its query).
/// Whether `check_path` gives `raw` back as both its forms: a path from `/` with no escape,
/// backslash, NUL, run of slashes or dot segment (most paths). One pass over the bytes.
pub fn is_plain(raw: &str) -> bool {
    let b = raw.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    let dots = |seg: &[u8]| seg == b"." || seg == b"..";
    let mut start = 1;
    for (i, &c) in b.iter().enumerate().skip(1) {
        match c {
            b'%' | b'\\' | 0 => return false,
            b'/' if i == start || dots(&b[start..i]) => return false,
            b'/' => start = i + 1,
            _ => {}
        }
    }
    !dots(&b[start..])
}

impl ProxyPath {
    /// The checked form of a path `is_plain` says yes to: the path itself, twice.
    pub fn plain(raw: &str) -> Self {
        ProxyPath { matched: raw.to_string(), raw: raw.to_string(), encoded_slash: false }
    }
}

pub fn check_path(raw: &str) -> Result<ProxyPath, String> {
    if !raw.starts_with('/') {
        return Err("the path must start with '/'".into());
    }
    let mut matched = String::with_capacity(raw.len());
    let mut forwarded = String::with_capacity(raw.len());
    let mut encoded_slash = false;
    let ends_with_slash = raw.len() > 1 && raw.ends_with('/');
    for seg in raw.split('/').filter(|s| !s.is_empty()) {
        let decoded = decode_all(seg).ok_or("the path has a malformed percent-escape")?;
        if seg.contains('\\') || decoded.contains(&0) {
            return Err("the path holds a NUL or a backslash".into());
        }
        if decoded.split(|&b| b == b'/' || b == b'\\').any(|p| p == b"." || p == b"..") {
            return Err("the path has a dot segment".into());
        }
        if decoded.contains(&b'/') || decoded.contains(&b'\\') {
            encoded_slash = true;
        }
        matched.push('/');
        matched.push_str(&matched_segment(seg));
        forwarded.push('/');
        forwarded.push_str(seg);
    }
    if matched.is_empty() || ends_with_slash {
        matched.push('/');
        forwarded.push('/');
    }
    Ok(ProxyPath { matched, raw: forwarded, encoded_slash })
}

/// The path sent on for a route: its prefix stripped (whole segments) and `add` put in front.
/// `raw` itself when there is nothing to change.
pub fn rewrite(raw: String, prefix: &str, strip: bool, add: &str) -> String {
    let mut at = 0;
    if strip && prefix != "/" {
        // The matched form has one segment per raw segment, so strip as many.
        let n = prefix.split('/').filter(|s| !s.is_empty()).count();
        for _ in 0..n {
            at = raw[at + 1..].find('/').map(|i| at + 1 + i).unwrap_or(raw.len());
        }
    }
    let rest = &raw[at..];
    match (add, rest) {
        ("", "") => "/".to_string(),
        ("", _) if at == 0 => raw,
        ("", r) => r.to_string(),
        (a, "") => a.to_string(),
        (a, r) => format!("{a}{r}"),
    }
}

/// The host a request is for: `:authority` (HTTP/2) or its one `Host` header, lowercase,
/// without port or trailing dot. `Err` for more than one `Host`, or one that disagrees with
/// an authority.
pub fn host_of<B>(req: &http::Request<B>) -> Result<Option<String>, String> {
    let mut hosts = req.headers().get_all(http::header::HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err("more than one Host header".into());
    }
    let header = header.map(|h| h.to_str().map_err(|_| "the Host header is not text".to_string())).transpose()?;
    let authority = req.uri().authority().map(|a| a.as_str());
    let raw = match (authority, header) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => return Err("Host disagrees with the authority".into()),
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) => return Ok(None),
    };
    let lower = |host: &str| host.trim_end_matches('.').to_ascii_lowercase();
    if let Some(host) = plain_host(raw) {
        return Ok(Some(lower(host)));
    }
    let a: http::uri::Authority = raw.parse().map_err(|_| format!("{raw:?} is not a host"))?;
    if raw.contains('@') {
        return Err("the host carries credentials".into());
    }
    Ok(Some(lower(a.host())))
}

/// The host part of the common authority, a name or IPv4 address of letters, digits, dots and
/// dashes with at most a port of up to five digits — which the URI parser (what every other
/// form goes through) takes as it is — found without building one.
fn plain_host(raw: &str) -> Option<&str> {
    let (host, port) = match raw.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (raw, None),
    };
    let name = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    let port_ok = port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    (!host.is_empty() && host.bytes().all(name) && port_ok).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_are_their_own_checked_form() {
        // Every path of up to 6 characters over an alphabet with all the corners.
        let alphabet = ['/', 'a', '.', '%', '\\', '2', 'F'];
        let mut paths = vec![String::new()];
        let (mut plain, mut all) = (0, 0);
        for _ in 0..6 {
            let mut next = Vec::new();
            for p in &paths {
                for c in alphabet {
                    let q = format!("{p}{c}");
                    all += 1;
                    if is_plain(&q) {
                        plain += 1;
                        assert_eq!(check_path(&q), Ok(ProxyPath::plain(&q)), "{q}");
                    } else if let Ok(checked) = check_path(&q) {
                        assert!(checked.matched != q || checked.raw != q || q.contains(['%', '\\']), "{q} is plain");
                    }
                    next.push(q);
                }
            }
            paths = next;
        }
        assert!(plain > 1000 && all > 100_000, "{plain} plain of {all}");
    }

    #[test]
    fn paths_are_checked_and_normalized() {
        let p = check_path("//app//x/%61b%2fc/").unwrap();
        assert_eq!(p.matched, "/app/x/ab%2Fc/");
        assert_eq!(p.raw, "/app/x/%61b%2fc/");
        assert!(p.encoded_slash);
        assert_eq!(check_path("/").unwrap().matched, "/");
        assert_eq!(check_path("/%41dmin").unwrap().matched, "/Admin");
        assert_eq!(check_path("/%c3%a9").unwrap().matched, "/%C3%A9");
        for bad in ["/a/../b", "/a/%2e%2E/b", "/a/.", "/a%2f..%2fb", "/a%00", "/a\\b", "/a%5c..", "/%zz", "/a%4", "x"] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert!(!check_path("/a/b").unwrap().encoded_slash);
    }

    #[test]
    fn prefixes_match_whole_segments_and_rewrite() {
        assert!(under("/app", "/app") && under("/app/x", "/app") && !under("/apple", "/app"));
        assert!(under("/anything", "/"));
        assert_eq!(rewrite("/app/x/y".into(), "/app", true, ""), "/x/y");
        assert_eq!(rewrite("/app".into(), "/app", true, ""), "/");
        assert_eq!(rewrite("/app/".into(), "/app", true, "/v1"), "/v1/");
        assert_eq!(rewrite("/app".into(), "/app", true, "/v1"), "/v1");
        assert_eq!(rewrite("/%61pp/x".into(), "/app", true, ""), "/x");
        assert_eq!(rewrite("/app/x".into(), "/app", false, "/v1"), "/v1/app/x");
    }

    #[test]
    fn hosts_match_exactly_or_by_domain() {
        assert!(host_matches(Some("a.corp"), Some("a.corp")));
        assert!(!host_matches(Some("a.corp"), Some("b.corp")));
        assert!(host_matches(Some("*.corp"), Some("a.corp")));
        assert!(!host_matches(Some("*.corp"), Some("corp")));
        assert!(!host_matches(Some("*.corp"), Some("xcorp")));
        assert!(host_matches(None, None));
        let req = http::Request::get("/").header("host", "App.Corp.:8080").body(()).unwrap();
        assert_eq!(host_of(&req).unwrap().as_deref(), Some("app.corp"));
        let two = http::Request::get("/").header("host", "a").header("host", "b").body(()).unwrap();
        assert!(host_of(&two).is_err());
    }

    #[test]
    fn the_plain_host_shortcut_agrees_with_the_uri_parser() {
        let by_parser = |raw: &str| raw.parse::<http::uri::Authority>().ok().map(|a| a.host().to_string());
        for raw in ["a", "App.Corp.:8080", "10.0.0.1:80", "a-b.c", "x:65535", "x:99999", "a.b:0", "-a."] {
            assert_eq!(plain_host(raw).map(str::to_string), by_parser(raw), "{raw}");
        }
        // Everything else takes the parser's way.
        for raw in ["[::1]:8080", "user@a", "a:b", "a:123456", "a:", ":80", "a_b", "a%41", "a:1:2", ""] {
            assert_eq!(plain_host(raw), None, "{raw}");
        }
    }
}
