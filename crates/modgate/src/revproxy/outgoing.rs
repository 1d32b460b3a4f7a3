//! The request's head as a backend is sent it: the path rewritten by the route's prefix rule,
//! the hop-by-hop headers and modgate's own credentials left behind, the forwarding headers,
//! `Via` and `X-Request-Id` written, and the route's rewrite rules applied — into a header map
//! (`outgoing`), or, for the relay's common case, straight into the bytes of the head
//! (`Direct`), which must give the same head (a test and the relay fuzz target compare them).

use super::headers::{self, Hop, Kind};
use super::target::{rewrite, ProxyPath};
use crate::config::ProxyRoute;
use crate::http::respond::X_REQUEST_ID;
use http::{HeaderValue, Method};
use smallvec::SmallVec;
use std::net::SocketAddr;

/// The connection a request came over, in its extensions.
#[derive(Debug, Clone, Copy)]
pub struct ConnInfo {
    pub peer: Option<SocketAddr>,
    pub tls: bool,
}

/// The request's head as sent on: path rewritten, headers for the backend.
pub(crate) struct Outgoing {
    pub method: Method,
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub upgrade: Option<HeaderValue>,
}

/// The path and query sent to the backend: the route's prefix rewrite of the path, the
/// query as it came.
fn target_of(s: &ProxyRoute, path: ProxyPath, uri: &http::Uri) -> String {
    let mut path_and_query = rewrite(path.raw, &s.path, s.strip_prefix, &s.add_prefix);
    if let Some(q) = uri.query() {
        path_and_query.reserve(q.len() + 1);
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    path_and_query
}

/// The host the client asked for, as it sent it (text): the header's own value, not a copy.
fn client_host(uri: &http::Uri, h: &http::HeaderMap) -> Option<HeaderValue> {
    match uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => h.get(http::header::HOST).filter(|h| h.to_str().is_ok()).cloned(),
    }
}

/// The request's head as sent on. `conn` and `id` are the connection and the request id the
/// forwarding headers and `X-Request-Id` tell the backend.
pub(crate) fn outgoing(
    s: &ProxyRoute,
    path: ProxyPath,
    parts: &mut http::request::Parts,
    own_auth: bool,
    conn: Option<ConnInfo>,
    id: Option<&HeaderValue>,
) -> Outgoing {
    let path_and_query = target_of(s, path, &parts.uri);
    let client_host = client_host(&parts.uri, &parts.headers);
    let mut h = std::mem::take(&mut parts.headers);
    let upgrade = headers::strip_hop_by_hop(&mut h, parts.version == http::Version::HTTP_11);
    h.remove(http::header::EXPECT);
    if own_auth {
        let key_header = h.contains_key(X_API_KEY);
        headers::strip_own_credentials(&mut h, !key_header);
    }
    let hop = hop(conn, client_host.as_ref(), parts.version);
    headers::forwarded(&mut h, s.forwarded, s.forwarded_headers, &hop);
    if s.via {
        headers::via(&mut h, parts.version);
    }
    h.remove(http::header::HOST);
    if s.preserve_host {
        if let Some(v) = client_host {
            h.insert(http::header::HOST, v);
        }
    }
    if let Some(id) = id {
        h.insert(X_REQUEST_ID, id.clone());
    }
    headers::rewrite(&mut h, &s.request_headers);
    Outgoing { method: parts.method.clone(), path_and_query, headers: h, upgrade }
}

const X_API_KEY: http::HeaderName = http::HeaderName::from_static("x-api-key");

fn hop(conn: Option<ConnInfo>, host: Option<&HeaderValue>, version: http::Version) -> Hop<'_> {
    Hop {
        peer: conn.and_then(|c| c.peer),
        proto: if conn.is_some_and(|c| c.tls) { "https" } else { "http" },
        host,
        version,
    }
}

/// An HTTP/1.1 request without a body or an upgrade, whose head `write_head` writes straight
/// from the client's headers: what `outgoing` and the relay's `request_head` send, without a
/// header map of its own. Not when only the map gives the same head: the route rewrites
/// request headers, or `Connection` names a header the forwarding headers or the access keys
/// are read from (or an upgrade).
///
/// It holds what the head is written from, not the forwarding headers' values: those are
/// worked out as the head is written (once, unless a member fails), so that what a request
/// keeps while it is relayed stays small — its future is moved whole at each `.await` that
/// starts it.
pub(crate) struct Direct {
    path_and_query: String,
    /// The host the client asked for.
    client_host: Option<HeaderValue>,
    /// The route sends the client's `Host` on.
    preserve_host: bool,
    /// modgate reads the access keys: they stay behind.
    own_auth: bool,
    key_header: bool,
    forwarded: crate::config::ForwardedMode,
    forwarded_headers: crate::config::ForwardedHeaders,
    via: bool,
    conn: Option<ConnInfo>,
}

impl Direct {
    /// Whether the request's head may be written directly (see above).
    pub(crate) fn allowed(s: &ProxyRoute, parts: &http::request::Parts) -> bool {
        let named_ok = |t: &[u8]| {
            !(matches!(headers::kind(t), Kind::Forwarding | Kind::ApiKey) || t.eq_ignore_ascii_case(b"upgrade"))
        };
        s.request_headers.is_empty()
            && parts.version == http::Version::HTTP_11
            && parts
                .headers
                .get_all(http::header::CONNECTION)
                .iter()
                .all(|v| v.to_str().is_err() || headers::tokens(v.as_bytes()).all(named_ok))
    }

    /// What the head says whichever member it goes to; `allowed` must have said yes.
    pub(crate) fn new(
        s: &ProxyRoute,
        path: ProxyPath,
        parts: &http::request::Parts,
        own_auth: bool,
        conn: Option<ConnInfo>,
    ) -> Self {
        let h = &parts.headers;
        Direct {
            path_and_query: target_of(s, path, &parts.uri),
            client_host: client_host(&parts.uri, h),
            preserve_host: s.preserve_host,
            own_auth,
            key_header: h.contains_key(X_API_KEY),
            forwarded: s.forwarded,
            forwarded_headers: s.forwarded_headers,
            via: s.via,
            conn,
        }
    }

    /// The head for member `authority`, in `out`.
    pub(crate) fn write_head(
        &self,
        parts: &http::request::Parts,
        id: Option<&HeaderValue>,
        authority: &str,
        out: &mut Vec<u8>,
    ) {
        let (h, own_auth) = (&parts.headers, self.own_auth);
        let line = |out: &mut Vec<u8>, name: &[u8], value: &[u8]| {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        };
        let all: SmallVec<[(&[u8], &HeaderValue, Kind); 16]> =
            h.iter().map(|(n, v)| (n.as_str().as_bytes(), v, headers::kind(n.as_str().as_bytes()))).collect();
        // What `Connection` names is this hop's (text values only, as the map reads them).
        let mut named = SmallVec::<[&[u8]; 4]>::new();
        // `TE: trailers` passes; any other `TE` stays behind.
        let mut te_trailers = true;
        for &(_, value, k) in &all {
            match k {
                Kind::Connection if value.to_str().is_ok() => named.extend(headers::tokens(value.as_bytes())),
                Kind::Te => te_trailers &= value.as_bytes().eq_ignore_ascii_case(b"trailers"),
                _ => {}
            }
        }
        out.clear();
        out.reserve(256 + all.len() * 32);
        out.extend_from_slice(parts.method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.path_and_query.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        let host = self.client_host.as_ref().filter(|_| self.preserve_host);
        line(out, b"host", host.map_or(authority.as_bytes(), HeaderValue::as_bytes));
        for &(name, value, k) in &all {
            let skip = match k {
                Kind::HopByHop | Kind::Connection | Kind::Coding | Kind::Expect | Kind::Host | Kind::Forwarding => true,
                Kind::Te => !te_trailers,
                Kind::ApiKey => own_auth,
                Kind::Authorization => own_auth && !self.key_header,
                Kind::RequestId => id.is_some(),
                Kind::Plain | Kind::Date | Kind::Length => false,
            };
            if !skip && !named.iter().any(|t| t.eq_ignore_ascii_case(name)) {
                line(out, name, value.as_bytes());
            }
        }
        if self.via {
            line(out, b"via", headers::via_value(http::Version::HTTP_11).as_bytes());
        }
        let hop = hop(self.conn, self.client_host.as_ref(), parts.version);
        let f = headers::forwarding(h, self.forwarded, self.forwarded_headers, &hop);
        if let Some(v) = f.xff.filter(|v| !headers::has_control(v)) {
            line(out, b"x-forwarded-for", &v);
        }
        if let Some(v) = &f.proto {
            line(out, b"x-forwarded-proto", v.as_bytes());
        }
        if let Some(v) = &f.host {
            line(out, b"x-forwarded-host", v.as_bytes());
        }
        if let Some(v) = f.forwarded.filter(|v| !headers::has_control(v)) {
            line(out, b"forwarded", &v);
        }
        if let Some(id) = id {
            line(out, X_REQUEST_ID.as_str().as_bytes(), id.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
}
