//! One relayed request: routed and checked like any proxied request (request id, access rules,
//! the route's path checks and header rewriting), sent to a member chosen by the route's
//! balance (another one when it fails before answering and the request may be sent again),
//! and the answer written back (`answer`). Then the access-log line and the request's metrics,
//! as the proxy stack writes them.

use super::answer::{pass, write_error, Answered};
use super::backend::{ask, request_head};
use super::request::{parse, wants_close};
use super::{Client, Next};
use crate::errors::ServeError;
use crate::http::layer::access_log;
use crate::http::layer::proxy_authz::ProxyAuthorize;
use crate::http::layer::request_id::{new_request_id, RequestId};
use crate::http::layer::Gate;
use crate::obs::metrics::method_label;
use crate::revproxy::forward::{accepted_path, idempotent, Routed};
use crate::revproxy::outgoing::{outgoing, Direct, Outgoing};
use crate::revproxy::target::ProxyPath;
use crate::revproxy::Route;
use crate::server::front::{Decision, Front};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http::{HeaderValue, Method, Request};
use std::sync::Arc;
use std::time::Instant;

/// The request whose head ends at `end` of the client's buffer, relayed when it is the relay's.
pub(super) async fn one(front: &Front, c: &mut Client, end: usize, max_headers: usize) -> Next {
    // The head leaves the buffer, and the request's values are slices of it.
    let head = c.buf.split_to(end).freeze();
    let relayed = parse(&head, max_headers, std::mem::take(&mut c.headers)).and_then(|req| match front.decide(&req) {
        Decision::Proxy(r) if r.route.relayable() => Some((req, r)),
        _ => None,
    });
    let Some((req, routed)) = relayed else {
        // Not the relay's: the general path reads the connection from this head on.
        let mut whole = BytesMut::with_capacity(head.len() + c.buf.len());
        whole.extend_from_slice(&head);
        whole.extend_from_slice(&c.buf);
        c.buf = whole;
        return Next::Handover;
    };
    relay(front, c, req, routed).await
}

async fn relay(front: &Front, c: &mut Client, mut req: Request<()>, routed: Routed) -> Next {
    let start = Instant::now();
    let close = wants_close(req.headers());
    let id = new_request_id(req.headers());
    let method = req.method().clone();
    c.head_request = method == Method::HEAD;
    // No line at all unless `warn` is on for the access log (5xx lines are at `warn`).
    let uri = access_log::on(500).then(|| req.uri().clone());
    // The access rules read what the proxy stack's layers leave in the extensions.
    let refused = front.app.auth.as_ref().and_then(|auth| {
        req.extensions_mut().insert(RequestId(id.clone()));
        req.extensions_mut().insert(routed.clone());
        ProxyAuthorize { auth: Some(Arc::clone(auth)) }.check(&mut req)
    });
    // The route is borrowed from here on: its `Arc` is not counted again for each request.
    let Routed { route, path, .. } = routed;
    let answered = match refused {
        Some(refused) => write_error(c, refused, &id, close).await,
        None => forward(front, c, req, (&route, path), start, &id, close).await,
    };
    let m = method_label(&method);
    let declared = if method == Method::HEAD { None } else { answered.length };
    // Up to the answer's head, as the proxy stack measures it.
    let took = answered.head.map_or_else(|| start.elapsed(), |at| at.saturating_duration_since(start));
    route.metrics.proxied(m, answered.status, took, declared);
    if let Some(uri) = uri.filter(|_| access_log::on(answered.status)) {
        let length = answered.length.map_or_else(|| "-".to_string(), |n| n.to_string());
        access_log::log_answer(answered.status, &length, "-", Some(&id), &method, uri.path(), start);
    }
    answered.next
}

async fn forward(
    front: &Front,
    c: &mut Client,
    req: Request<()>,
    (route, path): (&Route, Result<ProxyPath, String>),
    start: Instant,
    id: &HeaderValue,
    close: bool,
) -> Answered {
    let (mut parts, ()) = req.into_parts();
    let path = match accepted_path(path, route) {
        Ok(p) => p,
        Err(e) => return write_error(c, e.into_response(), id, close).await,
    };
    let own_auth = front.app.auth.is_some();
    // Most requests' heads are written straight from the client's headers; the rest through
    // a header map of their own.
    let out = match Direct::allowed(&route.settings, &parts) {
        true => Sent::Direct(Direct::new(&route.settings, path, &parts, own_auth, Some(front.conn))),
        false => Sent::Map(Box::new(outgoing(&route.settings, path, &mut parts, own_auth, Some(front.conn), Some(id)))),
    };
    // A relayed request has no body: an idempotent one may be sent again.
    let replay = idempotent(&parts.method);
    let m = &route.members;
    m.begin();
    let mut tried = Vec::new();
    // The clock is read once for the first try (the request's arrival, a moment ago), and
    // again for each retry.
    let mut asked = start;
    loop {
        if !tried.is_empty() {
            asked = Instant::now();
        }
        let Some(i) = m.pick_at(&tried, asked) else {
            let why = format!("proxy {}: no backend left to try", route.settings.name);
            return write_error(c, ServeError::BadGateway(why).into_response(), id, close).await;
        };
        let Some(authority) = route.relay_authority(i) else {
            return write_error(c, refused("not relayable"), id, close).await;
        };
        let flight = m.enter_here(i);
        match &out {
            Sent::Direct(d) => d.write_head(&parts, Some(id), authority, &mut c.scratch),
            Sent::Map(o) => request_head(o, authority, &mut c.scratch),
        }
        let result = ask(route, i, authority, &c.scratch, replay, asked, &mut c.deadline, &mut c.fields).await;
        let (retryable, took) = match &result {
            Ok((b, a)) => (matches!(a.status.as_u16(), 502..=504), b.answered.saturating_duration_since(asked)),
            Err(_) => (true, asked.elapsed()),
        };
        if m.settle(i, retryable, replay, &mut tried, took) {
            continue;
        }
        let (b, answer) = match result {
            Ok(r) => r,
            Err(e) => return write_error(c, e.into_response(), id, close).await,
        };
        let (answered, whole) = pass(c, b, answer, route, i, &parts.method, id, close).await;
        // The map's room serves the connection's next request (its values, slices of this
        // request's head, go now).
        c.headers = std::mem::take(&mut parts.headers);
        c.headers.clear();
        // A 5xx passed on counts against the member (once: a retryable one already did).
        if !retryable {
            match whole && answered.status < 500 {
                true => m.whole(i),
                false => m.failed(i),
            }
        }
        drop(flight);
        return answered;
    }
}

/// The request's head for the backend, before the member is known. One lives in a request's
/// future while it is relayed, and that future is moved whole at each `.await` that starts it:
/// the rare header map goes in a box of its own.
enum Sent {
    Direct(Direct),
    Map(Box<Outgoing>),
}

fn refused(why: &str) -> Response {
    ServeError::BadRequest(format!("the request was {why}")).into_response()
}

/// A head as a backend reads it: the request line, and each header name's values in order
/// (the order of different names means nothing). `None` when it does not parse.
type ReadHead = Option<(String, super::ByName)>;

fn read_head(head: &[u8]) -> ReadHead {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut slots);
    match req.parse(head) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        _ => return None,
    }
    Some((format!("{} {}", req.method?, req.path?), super::by_name(req.headers)))
}

/// For the tests and the fuzz target: the head `Direct` writes for a request and the head
/// its header map gives, as a backend reads them, when `Direct` may write it (`None` when not).
pub(super) fn both_heads(
    s: &crate::config::ProxyRoute,
    parts: &http::request::Parts,
    own_auth: bool,
    conn: crate::revproxy::outgoing::ConnInfo,
) -> Option<(ReadHead, ReadHead, [Vec<u8>; 2])> {
    let path = crate::revproxy::target::check_path(parts.uri.path()).ok()?;
    if !Direct::allowed(s, parts) {
        return None;
    }
    let id = HeaderValue::from_static("req-1");
    let (mut by_map, mut by_direct) = (Vec::new(), Vec::new());
    let direct = Direct::new(s, path.clone(), parts, own_auth, Some(conn));
    direct.write_head(parts, Some(&id), "127.0.0.1:9", &mut by_direct);
    let mut map_parts = parts.clone();
    let out = outgoing(s, path, &mut map_parts, own_auth, Some(conn), Some(&id));
    request_head(&out, "127.0.0.1:9", &mut by_map);
    Some((read_head(&by_direct), read_head(&by_map), [by_direct, by_map]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ForwardedHeaders, ForwardedMode, ForwardingHeader, ProxyRoute};
    use crate::revproxy::outgoing::ConnInfo;

    /// Headers a request may carry, chosen among at random: the hop-by-hop ones and what
    /// `Connection` may name, the forwarding headers, credentials, and plain ones.
    const POOL: &[(&str, &[&[u8]])] = &[
        ("host", &[b"app.corp", b"app.corp:8443", b"[::1]:80"]),
        ("connection", &[b"keep-alive", b"close", b"Keep-Alive, X-Secret", b"te", b"TE, close", b"close, Close"]),
        ("connection", &[b"x-forwarded-for", b"upgrade", b"x-api-key", b"via", b"x-request-id", b"authorization"]),
        ("connection", &[b"host", b",, ,", b"caf\xc3\xa9, x-secret", b"Forwarded"]),
        ("x-secret", &[b"1"]),
        ("close", &[b"odd"]),
        ("keep-alive", &[b"timeout=5"]),
        ("proxy-connection", &[b"keep-alive"]),
        ("proxy-authorization", &[b"Basic eA=="]),
        ("te", &[b"trailers", b"gzip", b"Trailers"]),
        ("transfer-encoding", &[b"identity"]),
        ("upgrade", &[b"websocket"]),
        ("x-forwarded-for", &[b"1.1.1.1", b"2.2.2.2, 3.3.3.3", b"", b"caf\xc3\xa9"]),
        ("x-forwarded-proto", &[b"https", b"caf\xc3\xa9"]),
        ("x-forwarded-host", &[b"outer.corp"]),
        ("forwarded", &[b"for=1.1.1.1", b"for=\"[::1]\";proto=https"]),
        ("via", &[b"1.0 edge"]),
        ("x-request-id", &[b"client-id"]),
        ("authorization", &[b"Bearer t"]),
        ("x-api-key", &[b"k"]),
        ("expect", &[b"100-continue"]),
        ("accept", &[b"*/*"]),
        ("cookie", &[b"a=1", b"b=2"]),
        ("x-high", &[b"caf\xc3\xa9", b"a\tb"]),
    ];

    #[test]
    fn heads_written_directly_are_the_heads_the_header_map_gives() {
        let mut base = super::super::fuzz_route().clone();
        base.path = "/app".into();
        let mut next = super::super::pick_with(0x9e37_79b9_7f4a_7c15);
        let peers = [Some("10.0.0.9:5000".parse().unwrap()), Some("[fe80::1]:5000".parse().unwrap()), None];
        let (mut direct, mut map) = (0, 0);
        for case in 0..20_000 {
            let mut s = base.clone();
            s.forwarded = [
                ForwardedMode::Replace,
                ForwardedMode::Append { trusted_hops: None },
                ForwardedMode::Append { trusted_hops: Some(1) },
            ][next(3)];
            s.preserve_host = next(2) == 0;
            s.via = next(2) == 0;
            s.forwarded_headers = match next(3) {
                0 => ForwardedHeaders::ALL,
                1 => ForwardedHeaders::NONE,
                _ => ForwardingHeader::EACH
                    .iter()
                    .filter(|_| next(2) == 0)
                    .fold(ForwardedHeaders::NONE, |set, &(h, _)| set.with(h)),
            };
            s.strip_prefix = next(2) == 0;
            s.add_prefix = ["", "/v1"][next(2)].into();
            let own_auth = next(2) == 0;
            let conn = ConnInfo { peer: peers[next(3)], tls: next(2) == 0 };
            let mut req = Request::builder()
                .method(["GET", "HEAD", "DELETE"][next(3)])
                .uri(["/app/x?q=1", "/app", "/app/a%20b/"][next(3)]);
            let mut names = Vec::new();
            for _ in 0..next(9) {
                let (name, values) = POOL[next(POOL.len())];
                req = req.header(name, HeaderValue::from_bytes(values[next(values.len())]).unwrap());
                names.push(name);
            }
            let (parts, ()) = req.body(()).unwrap().into_parts();
            let Some((by_direct, by_map, [raw_direct, raw_map])) = both_heads(&s, &parts, own_auth, conn) else {
                map += 1;
                continue;
            };
            direct += 1;
            assert!(by_map.is_some(), "case {case}: the head parses");
            assert_eq!(
                by_direct,
                by_map,
                "case {case}: headers {names:?}, {:?}, preserve_host {}, own_auth {own_auth}, {conn:?}\n\
                 direct:\n{}\nmap:\n{}",
                s.forwarded,
                s.preserve_host,
                String::from_utf8_lossy(&raw_direct),
                String::from_utf8_lossy(&raw_map)
            );
        }
        assert!(direct > 10_000 && map > 1_000, "both ways were tried: {direct} direct, {map} by the map");
    }

    #[test]
    fn rewrite_rules_and_named_forwarding_headers_take_the_map() {
        let mut s: ProxyRoute = super::super::fuzz_route().clone();
        let parts = |connection: &str| {
            let req = Request::get("/app").header("connection", connection).body(()).unwrap();
            req.into_parts().0
        };
        assert!(Direct::allowed(&s, &parts("keep-alive, close")));
        for named in ["X-Forwarded-For", "forwarded", "x-api-key", "Upgrade", "x-forwarded-host"] {
            assert!(!Direct::allowed(&s, &parts(named)), "{named}");
        }
        s.request_headers.add.push(("x-a".into(), "1".into()));
        assert!(!Direct::allowed(&s, &parts("keep-alive")));
    }
}
