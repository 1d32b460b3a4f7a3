//! The headers of a forwarded message: hop-by-hop ones removed (RFC 9110 §7.6.1, and whatever
//! `Connection` names), an upgrade carried on, the forwarding headers written as the route
//! says, `Via` appended, modgate's own credentials kept from the backend, and the route's
//! rewrite rules applied last.

use crate::config::{ForwardedHeaders, ForwardedMode, ForwardingHeader, HeaderRules};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use smallvec::SmallVec;
use std::net::{IpAddr, SocketAddr};

/// (`Trailer` is end-to-end in RFC 9110: it declares the trailer fields that follow.)
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "transfer-encoding",
    "upgrade",
];

/// What a header is to a hop, told from its name alone (in any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Plain,
    /// Never passes a hop (`Connection` aside, which also names more of them).
    HopByHop,
    Connection,
    Te,
    Host,
    Date,
    Expect,
    ApiKey,
    Authorization,
    /// One of `X-Forwarded-For/-Proto/-Host` and `Forwarded`.
    Forwarding,
    RequestId,
    /// `Content-Length`.
    Length,
    /// `Transfer-Encoding`: hop-by-hop too.
    Coding,
}

/// The kind of the header `name`: its length first, so that most names are told `Plain` by
/// one comparison at most.
pub(crate) fn kind(name: &[u8]) -> Kind {
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    match name.len() {
        2 if is("te") => Kind::Te,
        4 if is("host") => Kind::Host,
        4 if is("date") => Kind::Date,
        6 if is("expect") => Kind::Expect,
        7 if is("upgrade") => Kind::HopByHop,
        9 if is("x-api-key") => Kind::ApiKey,
        9 if is("forwarded") => Kind::Forwarding,
        10 if is("connection") => Kind::Connection,
        10 if is("keep-alive") => Kind::HopByHop,
        12 if is("x-request-id") => Kind::RequestId,
        13 if is("authorization") => Kind::Authorization,
        15 if is("x-forwarded-for") => Kind::Forwarding,
        16 if is("x-forwarded-host") => Kind::Forwarding,
        16 if is("proxy-connection") => Kind::HopByHop,
        17 if is("x-forwarded-proto") => Kind::Forwarding,
        14 if is("content-length") => Kind::Length,
        17 if is("transfer-encoding") => Kind::Coding,
        18 if is("proxy-authenticate") => Kind::HopByHop,
        19 if is("proxy-authorization") => Kind::HopByHop,
        _ => Kind::Plain,
    }
}

/// What the forwarding headers say about this hop.
pub struct Hop<'a> {
    pub peer: Option<SocketAddr>,
    /// `https` when the client came over TLS.
    pub proto: &'static str,
    /// The host the client asked for (with its port), as it sent it (text).
    pub host: Option<&'a HeaderValue>,
    pub version: http::Version,
}

pub(crate) fn via_value(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_10 => "1.0 modgate",
        http::Version::HTTP_2 => "2 modgate",
        _ => "1.1 modgate",
    }
}

/// The elements of a comma-separated header value (`Connection`, `TE`, …), trimmed, empty ones
/// skipped.
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|t| !t.is_empty())
}

/// Whether a comma-separated header value holds `token`, in any case.
pub(crate) fn has_token(value: &[u8], token: &str) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

fn is_hop_by_hop(n: &HeaderName) -> bool {
    matches!(kind(n.as_str().as_bytes()), Kind::HopByHop | Kind::Connection | Kind::Coding | Kind::Te)
}

/// Removes the hop-by-hop headers; returns the `Upgrade` value when the message asks for one
/// (and is allowed to).
pub fn strip_hop_by_hop(h: &mut HeaderMap, keep_upgrade: bool) -> Option<HeaderValue> {
    // Most messages carry none (or only `Connection: keep-alive`): one pass over the names
    // decides whether there is anything to do.
    if !h.keys().any(is_hop_by_hop) {
        return None;
    }
    let named: Vec<HeaderName> = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter(|v| v.to_str().is_ok())
        .flat_map(|v| tokens(v.as_bytes()))
        .filter_map(|t| HeaderName::from_bytes(&t.to_ascii_lowercase()).ok())
        .collect();
    let wants_upgrade = named.iter().any(|n| n == "upgrade");
    let upgrade = h.get(http::header::UPGRADE).cloned().filter(|_| keep_upgrade && wants_upgrade);
    for n in named {
        // `Connection: close` and the like name no header worth keeping either.
        h.remove(n);
    }
    for n in HOP_BY_HOP {
        h.remove(n);
    }
    // `TE: trailers` is end-to-end news a gRPC backend needs; other codings are this hop's.
    let te_trailers = h.get_all(http::header::TE).iter().all(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    if !te_trailers {
        h.remove(http::header::TE);
    }
    if let Some(u) = &upgrade {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(http::header::UPGRADE, u.clone());
    }
    upgrade
}

/// The last `keep` comma-separated elements of every `name` header, in order.
fn trusted_chain(h: &HeaderMap, name: &str, keep: Option<u32>) -> Vec<String> {
    let all: Vec<String> = h
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    let keep = keep.map_or(all.len(), |k| (k as usize).min(all.len()));
    all[all.len() - keep..].to_vec()
}

/// The peer's address as `X-Forwarded-For` writes it (in `buf`), and whether it is IPv6
/// (which `Forwarded` quotes in brackets). IPv4, the common case, is written by hand: the
/// formatting machinery costs more than the rest of the header.
fn node(addr: Option<SocketAddr>, buf: &mut [u8; 64]) -> (&str, bool) {
    use std::io::Write;
    let n = match addr.map(|a| a.ip()) {
        None => return ("unknown", false),
        Some(IpAddr::V4(v4)) => {
            let mut n = 0;
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                let digits = [octet / 100, octet / 10 % 10, octet % 10];
                let skip = if octet >= 100 {
                    0
                } else if octet >= 10 {
                    1
                } else {
                    2
                };
                for d in &digits[skip..] {
                    buf[n] = b'0' + d;
                    n += 1;
                }
            }
            n
        }
        Some(ip) => {
            let mut w = &mut buf[..];
            // An address is at most 45 characters: the write cannot fail.
            let _ = write!(w, "{ip}");
            64 - w.len()
        }
    };
    (std::str::from_utf8(&buf[..n]).unwrap_or("unknown"), addr.is_some_and(|a| a.is_ipv6()))
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The scheme's header value, without a copy (`Hop::proto` is one of the two).
fn proto_value(proto: &'static str) -> HeaderValue {
    match proto {
        "https" => HeaderValue::from_static("https"),
        _ => HeaderValue::from_static("http"),
    }
}

/// The earlier hops' elements (`chain`) and this hop's, as one list.
fn chained(chain: &[String], last: &[u8]) -> SmallVec<[u8; 128]> {
    let mut all = SmallVec::new();
    for e in chain {
        all.extend_from_slice(e.as_bytes());
        all.extend_from_slice(b", ");
    }
    all.extend_from_slice(last);
    all
}

/// Whether the bytes hold a control character other than tab: what no header value (nor chunk
/// extension) may hold, and what `HeaderValue::from_bytes` refuses. Every byte is looked at,
/// which lets the loop run on whole vectors.
pub(crate) fn has_control(value: &[u8]) -> bool {
    value.iter().fold(false, |bad, &b| bad | ((b < 0x20 && b != b'\t') | (b == 0x7f)))
}

/// The four forwarding headers one hop sends on.
static FORWARDING: [HeaderName; 4] = [X_FORWARDED_FOR, X_FORWARDED_PROTO, X_FORWARDED_HOST, FORWARDED];

/// What this hop's forwarding headers say, worked out from the request's headers (which keep
/// theirs until they are replaced): those of the route's set, `None` for the others.
pub(crate) struct Forwarding {
    /// The request carries at least one of the four: they are replaced (or dropped), not added to.
    pub incoming: bool,
    pub xff: Option<SmallVec<[u8; 128]>>,
    pub proto: Option<HeaderValue>,
    pub host: Option<HeaderValue>,
    pub forwarded: Option<SmallVec<[u8; 128]>>,
}

/// This hop's `X-Forwarded-For/-Proto/-Host` and `Forwarded`, as the route's mode says, for
/// those in `which`.
pub(crate) fn forwarding(h: &HeaderMap, mode: ForwardedMode, which: ForwardedHeaders, hop: &Hop<'_>) -> Forwarding {
    use ForwardingHeader as F;
    let mut buf = [0u8; 64];
    let (ip, v6) = node(hop.peer, &mut buf);
    let trusted = match mode {
        ForwardedMode::Replace => Some(0),
        ForwardedMode::Append { trusted_hops } => trusted_hops,
    };
    // Most requests carry none of the four: one pass over the names (no hashing) says so,
    // and then nothing needs looking up.
    let incoming = h.keys().any(|k| kind(k.as_str().as_bytes()) == Kind::Forwarding);
    let keep_incoming = incoming && trusted != Some(0);
    let chain = |name: &str| match keep_incoming {
        false => Vec::new(),
        true => trusted_chain(h, name, trusted),
    };
    // An incoming value that is text passes as it is.
    let text = |n: &HeaderName| h.get(n).filter(|v| keep_incoming && v.to_str().is_ok()).cloned();
    let hop_host = hop.host.and_then(|h| h.to_str().ok());
    let forwarded = which.has(F::Forwarded).then(|| {
        // This hop's element, on the stack.
        let mut mine = SmallVec::<[u8; 128]>::new();
        mine.extend_from_slice(if v6 { b"for=\"[" } else { b"for=" });
        mine.extend_from_slice(ip.as_bytes());
        mine.extend_from_slice(if v6 { b"]\";proto=" } else { b";proto=" });
        mine.extend_from_slice(hop.proto.as_bytes());
        let host_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']');
        if let Some(host) = hop_host.filter(|h| h.bytes().all(host_byte)) {
            // A port's colon (or an IPv6 literal) is not a token character: RFC 7239 quotes it.
            let quote = host.bytes().any(|b| b == b':' || b == b'[');
            mine.extend_from_slice(if quote { b";host=\"" } else { b";host=" });
            mine.extend_from_slice(host.as_bytes());
            if quote {
                mine.push(b'"');
            }
        }
        chained(&chain("forwarded"), &mine)
    });
    Forwarding {
        incoming,
        xff: which.has(F::XForwardedFor).then(|| chained(&chain("x-forwarded-for"), ip.as_bytes())),
        proto: which
            .has(F::XForwardedProto)
            .then(|| text(&X_FORWARDED_PROTO).unwrap_or_else(|| proto_value(hop.proto))),
        host: which
            .has(F::XForwardedHost)
            .then(|| text(&X_FORWARDED_HOST).or_else(|| hop_host.and(hop.host.cloned())))
            .flatten(),
        forwarded,
    }
}

/// Writes this hop's `X-Forwarded-For/-Proto/-Host` and `Forwarded` (those of `which`); the
/// client's own go in any case.
pub fn forwarded(h: &mut HeaderMap, mode: ForwardedMode, which: ForwardedHeaders, hop: &Hop<'_>) {
    let f = forwarding(h, mode, which, hop);
    if f.incoming {
        for n in &FORWARDING {
            h.remove(n);
        }
    }
    if let Some(v) = f.xff.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
        h.insert(X_FORWARDED_FOR, v);
    }
    if let Some(v) = f.proto {
        h.insert(X_FORWARDED_PROTO, v);
    }
    if let Some(v) = f.host {
        h.insert(X_FORWARDED_HOST, v);
    }
    if let Some(v) = f.forwarded.and_then(|v| HeaderValue::from_bytes(&v).ok()) {
        h.insert(FORWARDED, v);
    }
}

/// Appends this hop to `Via`.
pub fn via(h: &mut HeaderMap, version: http::Version) {
    h.append(http::header::VIA, HeaderValue::from_static(via_value(version)));
}

/// The route's rewrite rules: remove, then set, then add.
pub fn rewrite(h: &mut HeaderMap, rules: &HeaderRules) {
    for n in &rules.remove {
        h.remove(n.as_str());
    }
    for (n, v) in &rules.set {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n.as_bytes()), HeaderValue::from_str(v)) {
            h.insert(n, v);
        }
    }
    for (n, v) in &rules.add {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n.as_bytes()), HeaderValue::from_str(v)) {
            h.append(n, v);
        }
    }
}

/// Removes the credentials a client gave modgate itself: `X-API-Key` always, `Authorization`
/// when modgate's access rules read it.
pub fn strip_own_credentials(h: &mut HeaderMap, authorization_was_ours: bool) {
    h.remove("x-api-key");
    if authorization_was_ours {
        h.remove(http::header::AUTHORIZATION);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(HeaderName::from_bytes(n.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn kinds_are_told_by_name_in_any_case() {
        let named = [
            ("te", Kind::Te),
            ("Host", Kind::Host),
            ("DATE", Kind::Date),
            ("expect", Kind::Expect),
            ("x-api-key", Kind::ApiKey),
            ("Authorization", Kind::Authorization),
            ("x-request-id", Kind::RequestId),
            ("Connection", Kind::Connection),
        ];
        for (name, k) in named {
            assert_eq!(kind(name.as_bytes()), k, "{name}");
        }
        for n in FORWARDING.iter().map(HeaderName::as_str) {
            assert_eq!(kind(n.to_ascii_uppercase().as_bytes()), Kind::Forwarding, "{n}");
        }
        for n in HOP_BY_HOP {
            let k = kind(n.to_ascii_uppercase().as_bytes());
            assert!(matches!(k, Kind::HopByHop | Kind::Connection | Kind::Coding), "{n}");
        }
        assert_eq!(kind(b"Content-Length"), Kind::Length);
        for n in ["x-secret", "accept", "hosts", "dat", "x-forwarded-fo", "vary", "content-lengths", "t"] {
            assert_eq!(kind(n.as_bytes()), Kind::Plain, "{n}");
        }
    }

    #[test]
    fn hop_by_hop_headers_go_and_upgrades_stay() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Secret, Upgrade"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("upgrade", "websocket"),
            ("te", "gzip"),
            ("x-kept", "yes"),
        ]);
        let up = strip_hop_by_hop(&mut h, true);
        assert_eq!(up.unwrap(), "websocket");
        assert!(h.get("x-secret").is_none() && h.get("keep-alive").is_none() && h.get("te").is_none());
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["x-kept"], "yes");
        let mut h = map(&[("upgrade", "websocket"), ("te", "trailers")]);
        assert!(strip_hop_by_hop(&mut h, true).is_none(), "no Connection: upgrade, no upgrade");
        assert!(h.get("upgrade").is_none());
        assert_eq!(h["te"], "trailers");
    }

    #[test]
    fn forwarding_headers_replace_or_append_trusted_hops() {
        let peer: SocketAddr = "10.0.0.9:5000".parse().unwrap();
        let (app, ported_app) = (HeaderValue::from_static("app.corp"), HeaderValue::from_static("app.corp:8443"));
        let hop = Hop { peer: Some(peer), proto: "https", host: Some(&app), version: http::Version::HTTP_11 };
        let incoming =
            [("x-forwarded-for", "6.6.6.6, 1.1.1.1"), ("x-forwarded-for", "2.2.2.2"), ("forwarded", "for=6.6.6.6")];
        let mut h = map(&incoming);
        forwarded(&mut h, ForwardedMode::Replace, ForwardedHeaders::ALL, &hop);
        assert_eq!(h["x-forwarded-for"], "10.0.0.9");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "app.corp");
        assert_eq!(h["forwarded"], "for=10.0.0.9;proto=https;host=app.corp");
        let mut h = map(&incoming);
        forwarded(&mut h, ForwardedMode::Append { trusted_hops: Some(2) }, ForwardedHeaders::ALL, &hop);
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 10.0.0.9");
        let mut h = map(&incoming);
        forwarded(&mut h, ForwardedMode::Append { trusted_hops: None }, ForwardedHeaders::ALL, &hop);
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 1.1.1.1, 2.2.2.2, 10.0.0.9");
        assert_eq!(h["forwarded"], "for=6.6.6.6, for=10.0.0.9;proto=https;host=app.corp");
        let ported = Hop { host: Some(&ported_app), ..hop };
        let mut h = HeaderMap::new();
        forwarded(&mut h, ForwardedMode::Replace, ForwardedHeaders::ALL, &ported);
        assert_eq!(h["forwarded"], "for=10.0.0.9;proto=https;host=\"app.corp:8443\"");
        let v6 = Hop { peer: Some("[::1]:1".parse().unwrap()), ..hop };
        let mut h = HeaderMap::new();
        forwarded(&mut h, ForwardedMode::Replace, ForwardedHeaders::ALL, &v6);
        assert!(h["forwarded"].to_str().unwrap().starts_with("for=\"[::1]\""));
    }

    #[test]
    fn a_route_writes_the_forwarding_headers_it_names_and_drops_the_clients_others() {
        use ForwardingHeader as F;
        let app = HeaderValue::from_static("app.corp");
        let hop = Hop {
            peer: Some("10.0.0.9:5000".parse().unwrap()),
            proto: "http",
            host: Some(&app),
            version: http::Version::HTTP_11,
        };
        let incoming = [
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "outer.corp"),
            ("forwarded", "for=1.1.1.1"),
        ];
        let two = ForwardedHeaders::NONE.with(F::XForwardedFor).with(F::XForwardedProto);
        for mode in [ForwardedMode::Replace, ForwardedMode::Append { trusted_hops: None }] {
            let mut h = map(&incoming);
            forwarded(&mut h, mode, two, &hop);
            let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
            assert_eq!(names, ["x-forwarded-for", "x-forwarded-proto"], "{mode:?}");
            let appended = mode != ForwardedMode::Replace;
            assert_eq!(h["x-forwarded-for"], if appended { "1.1.1.1, 10.0.0.9" } else { "10.0.0.9" });
            assert_eq!(h["x-forwarded-proto"], if appended { "https" } else { "http" });
            let mut h = map(&incoming);
            forwarded(&mut h, mode, ForwardedHeaders::NONE, &hop);
            assert!(h.is_empty(), "{mode:?}: {h:?}");
        }
        let parsed = ForwardedHeaders::parse(&["X-Forwarded-For".into(), "x-forwarded-proto".into()]);
        assert_eq!(parsed, Ok(two));
        assert!(ForwardedHeaders::parse(&["x-real-ip".into()]).unwrap_err().contains("\"x-real-ip\" is not one of"));
    }

    #[test]
    fn addresses_are_written_as_the_standard_library_writes_them() {
        let mut buf = [0u8; 64];
        for ip in ["0.0.0.0", "1.2.3.4", "10.0.0.9", "127.0.0.1", "255.255.255.255", "100.20.3.99", "::1", "fe80::1:2"]
        {
            let addr = SocketAddr::new(ip.parse().unwrap(), 1);
            assert_eq!(node(Some(addr), &mut buf).0, ip);
        }
        assert_eq!(node(None, &mut buf), ("unknown", false));
    }

    #[test]
    fn rules_remove_set_then_add() {
        let mut h = map(&[("x-a", "1"), ("x-b", "1"), ("cookie", "c")]);
        let rules = HeaderRules {
            remove: vec!["cookie".into()],
            set: vec![("x-a".into(), "2".into())],
            add: vec![("x-b".into(), "3".into())],
        };
        rewrite(&mut h, &rules);
        assert!(h.get("cookie").is_none());
        assert_eq!(h["x-a"], "2");
        assert_eq!(h.get_all("x-b").iter().count(), 2);
    }
}
