//! `[[proxy]]`: reverse-proxy routes. A request whose host and path prefix match a route is
//! forwarded to the route's backends (one URL or a `[[pool]]`) instead of being served as module
//! traffic; the longest matching prefix wins, a route naming the host before one that does not.

use super::file::{BackendTlsEntry, HeaderRulesEntry, ProxyEntry};
use super::loader::{duration, fail, Loader};
use super::{Balance, ConfigError, PoolMember, PoolSettings};
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// How the forwarding headers (`X-Forwarded-*`, `Forwarded`) are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedMode {
    /// Whatever the client sent is dropped; modgate's own view is written.
    Replace,
    /// The client's chain is kept (its last `trusted_hops` entries, when set) and modgate's
    /// hop appended.
    Append { trusted_hops: Option<u32> },
}

/// One of the forwarding headers a hop writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardingHeader {
    XForwardedFor,
    XForwardedProto,
    XForwardedHost,
    Forwarded,
}

impl ForwardingHeader {
    /// Each of them, with its name.
    pub const EACH: [(ForwardingHeader, &'static str); 4] = [
        (ForwardingHeader::XForwardedFor, "x-forwarded-for"),
        (ForwardingHeader::XForwardedProto, "x-forwarded-proto"),
        (ForwardingHeader::XForwardedHost, "x-forwarded-host"),
        (ForwardingHeader::Forwarded, "forwarded"),
    ];
}

/// Which forwarding headers a route writes (`forwarded_headers`; all four by default). The
/// client's own are dropped whether or not they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedHeaders(u8);

impl ForwardedHeaders {
    pub const ALL: ForwardedHeaders = ForwardedHeaders(0b1111);
    pub const NONE: ForwardedHeaders = ForwardedHeaders(0);

    pub fn with(self, h: ForwardingHeader) -> ForwardedHeaders {
        ForwardedHeaders(self.0 | 1 << h as u8)
    }

    pub fn has(self, h: ForwardingHeader) -> bool {
        self.0 & (1 << h as u8) != 0
    }

    /// The set the names give (in any case); an error names the one that is not among the four.
    pub fn parse(names: &[String]) -> Result<ForwardedHeaders, String> {
        names.iter().try_fold(ForwardedHeaders::NONE, |set, name| {
            match ForwardingHeader::EACH.iter().find(|(_, n)| name.eq_ignore_ascii_case(n)) {
                Some(&(h, _)) => Ok(set.with(h)),
                None => {
                    let names: Vec<String> = ForwardingHeader::EACH.iter().map(|(_, n)| format!("{n:?}")).collect();
                    Err(format!("{name:?} is not one of {}", names.join(", ")))
                }
            }
        })
    }
}

/// Header rewrites, applied in order: remove, set (replace), add (append).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderRules {
    pub remove: Vec<String>,
    pub set: Vec<(String, String)>,
    pub add: Vec<(String, String)>,
}

impl HeaderRules {
    /// Whether there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty() && self.add.is_empty()
    }
}

/// TLS to the backends: the CA bundle that verifies them (else the system's roots), an
/// optional client certificate, and the name to verify (else the URL's host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendTls {
    pub ca_file: Option<PathBuf>,
    pub client_cert: Option<(PathBuf, PathBuf)>,
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyRoute {
    pub name: String,
    /// Lowercase host without port; `*.example.com` matches its subdomains.
    pub host: Option<String>,
    /// Path prefix matched segment by segment: `/app` matches `/app` and `/app/...`.
    pub path: String,
    /// The backends: a pool of one for a URL, else the named `[[pool]]`'s settings.
    pub backends: PoolSettings,
    pub strip_prefix: bool,
    /// Put in front of the (stripped) path; empty or `/x` without a trailing slash.
    pub add_prefix: String,
    /// Send the client's `Host` on (else the backend's own).
    pub preserve_host: bool,
    pub forwarded: ForwardedMode,
    /// The forwarding headers written.
    pub forwarded_headers: ForwardedHeaders,
    /// `Via` added both ways.
    pub via: bool,
    /// Longest a backend may take to start answering (connect and response head), and longest
    /// it may go quiet in the middle of an answer's body.
    pub timeout: Duration,
    /// Whether `%2F` and `%5C` may appear in paths (off: 400, as they can reach past a prefix
    /// rule on backends that decode them).
    pub encoded_slashes: bool,
    pub request_headers: HeaderRules,
    pub response_headers: HeaderRules,
    pub tls: BackendTls,
}

/// Paths modgate always answers itself.
const RESERVED: [&str; 4] = ["/-", "/healthz", "/readyz", "/metrics"];

/// Headers a rewrite may not touch: hop-by-hop ones, and the framing of the message.
const UNTOUCHABLE: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
    "host",
];

fn path_prefix(raw: &str) -> Result<String, String> {
    if !raw.starts_with('/') {
        return Err(format!("{raw:?} does not start with '/'"));
    }
    let trimmed = raw.trim_end_matches('/');
    let segs: Vec<&str> = trimmed.split('/').skip(1).collect();
    if segs.iter().any(|s| s.is_empty() || *s == "." || *s == ".." || s.contains(['%', '\\', '?', '#'])) {
        return Err(format!("{raw:?}: write the prefix plainly, without empty, dot or encoded segments"));
    }
    let path = if trimmed.is_empty() { "/".to_string() } else { trimmed.to_string() };
    if RESERVED.iter().any(|r| path == *r || path.starts_with(&format!("{r}/"))) {
        return Err(format!("{raw:?} is modgate's own (/-/, /healthz, /readyz, /metrics)"));
    }
    Ok(path)
}

fn host_pattern(raw: &str) -> Result<String, String> {
    let h = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    let bare = h.strip_prefix("*.").unwrap_or(&h);
    let ok = !bare.is_empty()
        && bare
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') && !l.starts_with('-'));
    if !ok {
        return Err(format!("{raw:?} is not a host name (or *.domain)"));
    }
    Ok(h)
}

fn header_rules(key: &str, e: Option<&HeaderRulesEntry>) -> Result<HeaderRules, String> {
    let Some(e) = e else { return Ok(HeaderRules::default()) };
    let name = |n: &str| -> Result<String, String> {
        let lower = n.to_ascii_lowercase();
        http::HeaderName::from_bytes(lower.as_bytes()).map_err(|_| format!("{key}: {n:?} is not a header name"))?;
        if UNTOUCHABLE.contains(&lower.as_str()) {
            return Err(format!("{key}: {n:?} is managed by the proxy and cannot be rewritten"));
        }
        Ok(lower)
    };
    let pairs = |m: &std::collections::BTreeMap<String, String>| -> Result<Vec<(String, String)>, String> {
        m.iter()
            .map(|(n, v)| {
                http::HeaderValue::from_str(v)
                    .map_err(|_| format!("{key}: the value of {n:?} is not a header value"))?;
                Ok((name(n)?, v.clone()))
            })
            .collect()
    };
    Ok(HeaderRules {
        remove: e.remove.iter().map(|n| name(n)).collect::<Result<_, _>>()?,
        set: pairs(&e.set)?,
        add: pairs(&e.add)?,
    })
}

fn backend_tls(e: Option<&BackendTlsEntry>) -> Result<BackendTls, String> {
    let Some(e) = e else { return Ok(BackendTls::default()) };
    let client_cert = match (&e.cert_file, &e.key_file) {
        (Some(c), Some(k)) => Some((c.clone(), k.clone())),
        (None, None) => None,
        _ => return Err("proxy.tls: cert_file and key_file go together".into()),
    };
    Ok(BackendTls { ca_file: e.ca_file.clone(), client_cert, server_name: e.server_name.clone() })
}

/// The backends `to` names: a URL (a pool of one) or `pool:NAME`.
fn backends(to: &str, pools: &[PoolSettings]) -> Result<PoolSettings, String> {
    if let Some(name) = to.strip_prefix("pool:") {
        return pools.iter().find(|p| p.name == name).cloned().ok_or_else(|| format!("pool:{name} names no [[pool]]"));
    }
    let url = to.trim_end_matches('/');
    let uri: http::Uri = url.parse().map_err(|_| format!("{to:?} is not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(format!("{to:?} is not an http(s) URL"));
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(format!("{to:?}: give the backend's origin only; a path goes in add_prefix"));
    }
    Ok(PoolSettings {
        name: url.to_string(),
        balance: Balance::RoundRobin,
        members: vec![PoolMember { url: url.to_string(), weight: 1, max_in_flight: None }],
        health: None,
        eject_after: 3,
        eject_for: Duration::from_secs(10),
        slow_start: Duration::ZERO,
        retries: 0,
        timeout: None,
    })
}

fn route(l: &Loader<'_>, e: &ProxyEntry, at: usize, pools: &[PoolSettings]) -> Result<ProxyRoute, ConfigError> {
    let err = |key: &str, why: String| fail(key, l.at(at), why);
    let host = e.host.as_deref().map(host_pattern).transpose().map_err(|w| err("proxy.host", w))?;
    let path = path_prefix(e.path.as_deref().unwrap_or("/")).map_err(|w| err("proxy.path", w))?;
    let add_prefix = match e.add_prefix.as_deref().unwrap_or("") {
        "" | "/" => String::new(),
        p => path_prefix(p).map_err(|w| err("proxy.add_prefix", w))?,
    };
    let forwarded = match (e.forwarded.as_deref().unwrap_or("replace"), e.trusted_hops) {
        ("replace", None) => ForwardedMode::Replace,
        ("replace", Some(_)) => return Err(err("proxy.trusted_hops", "only with forwarded = \"append\"".into())),
        ("append", hops) => ForwardedMode::Append { trusted_hops: hops },
        (other, _) => return Err(err("proxy.forwarded", format!("{other:?} is not \"replace\" or \"append\""))),
    };
    let forwarded_headers = match &e.forwarded_headers {
        None => ForwardedHeaders::ALL,
        Some(names) => ForwardedHeaders::parse(names).map_err(|w| err("proxy.forwarded_headers", w))?,
    };
    let timeout = duration("proxy.timeout", (e.timeout.as_deref().unwrap_or("60s"), l.at(at)))?;
    let name = e.name.clone().unwrap_or_else(|| format!("{}{}", host.as_deref().unwrap_or(""), path));
    Ok(ProxyRoute {
        name,
        host,
        path,
        backends: backends(&e.to, pools).map_err(|w| err("proxy.to", w))?,
        strip_prefix: e.strip_prefix,
        add_prefix,
        preserve_host: e.preserve_host,
        forwarded,
        forwarded_headers,
        via: e.via.unwrap_or(true),
        timeout,
        encoded_slashes: e.encoded_slashes,
        request_headers: header_rules("proxy.request_headers", e.request_headers.as_ref())
            .map_err(|w| err("proxy.request_headers", w))?,
        response_headers: header_rules("proxy.response_headers", e.response_headers.as_ref())
            .map_err(|w| err("proxy.response_headers", w))?,
        tls: backend_tls(e.tls.as_ref()).map_err(|w| err("proxy.tls", w))?,
    })
}

/// Every `[[proxy]]` route, checked: names and (host, path) pairs unique.
pub(super) fn load(
    l: &Loader<'_>,
    entries: &[Spanned<ProxyEntry>],
    pools: &[PoolSettings],
) -> Result<Vec<ProxyRoute>, ConfigError> {
    let mut out: Vec<ProxyRoute> = Vec::new();
    for entry in entries {
        let r = route(l, entry.get_ref(), entry.span().start, pools)?;
        if out.iter().any(|o| o.name == r.name) {
            return Err(fail("proxy.name", l.at(entry.span().start), format!("{:?} is used twice", r.name)));
        }
        if out.iter().any(|o| o.host == r.host && o.path == r.path) {
            return Err(fail("proxy.path", l.at(entry.span().start), "another route has this host and path"));
        }
        out.push(r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_plain_and_leave_modgate_its_own_paths() {
        assert_eq!(path_prefix("/app/").unwrap(), "/app");
        assert_eq!(path_prefix("/").unwrap(), "/");
        assert_eq!(path_prefix("/a/b").unwrap(), "/a/b");
        for bad in ["app", "/a//b", "/a/../b", "/a%2Fb", "/-/admin", "/healthz", "/metrics/x", "/a\\b"] {
            assert!(path_prefix(bad).is_err(), "{bad}");
        }
        assert_eq!(host_pattern("App.Example.COM.").unwrap(), "app.example.com");
        assert_eq!(host_pattern("*.corp").unwrap(), "*.corp");
        for bad in ["", "a..b", "-a.b", "a b", "*."] {
            assert!(host_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backends_are_an_origin_or_a_pool() {
        assert_eq!(backends("http://127.0.0.1:3000/", &[]).unwrap().members[0].url, "http://127.0.0.1:3000");
        assert!(backends("http://h/base", &[]).unwrap_err().contains("add_prefix"));
        assert!(backends("ftp://h", &[]).is_err());
        assert!(backends("pool:web", &[]).unwrap_err().contains("names no"));
    }
}
