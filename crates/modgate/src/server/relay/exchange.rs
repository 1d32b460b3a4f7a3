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
use crate::revproxy::forward::{accepted_path, idempotent, outgoing, Routed};
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
    let relayed = parse(&head, max_headers).and_then(|req| match front.decide(&req) {
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
    let route = Arc::clone(&routed.route);
    // The access rules read what the proxy stack's layers leave in the extensions.
    let refused = front.app.auth.as_ref().and_then(|auth| {
        req.extensions_mut().insert(RequestId(id.clone()));
        req.extensions_mut().insert(routed.clone());
        ProxyAuthorize { auth: Some(Arc::clone(auth)) }.check(&mut req)
    });
    let answered = match refused {
        Some(refused) => write_error(c, refused, &id, close).await,
        None => forward(front, c, req, routed, &id, close).await,
    };
    let m = method_label(&method);
    let declared = if method == Method::HEAD { None } else { answered.length };
    route.metrics.proxied(m, answered.status, start.elapsed(), declared);
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
    routed: Routed,
    id: &HeaderValue,
    close: bool,
) -> Answered {
    let (mut parts, ()) = req.into_parts();
    let route = &routed.route;
    let path = match accepted_path(routed.path, route) {
        Ok(p) => p,
        Err(e) => return write_error(c, e.into_response(), id, close).await,
    };
    let own_auth = front.app.auth.is_some();
    let out = outgoing(route, path, &mut parts, own_auth, Some(front.conn), Some(id));
    // A relayed request has no body: an idempotent one may be sent again.
    let replay = idempotent(&out.method);
    let m = &route.members;
    m.begin();
    let mut tried = Vec::new();
    loop {
        let Some(i) = m.pick(&tried) else {
            let why = format!("proxy {}: no backend left to try", route.settings.name);
            return write_error(c, ServeError::BadGateway(why).into_response(), id, close).await;
        };
        let Some(authority) = route.relay_authority(i) else {
            return write_error(c, refused("not relayable"), id, close).await;
        };
        let flight = m.enter(i);
        let asked = Instant::now();
        request_head(&out, authority, &mut c.scratch);
        let result = ask(route, i, authority, &c.scratch, replay, &mut c.deadline).await;
        let retryable = match &result {
            Ok((_, a)) => matches!(a.status.as_u16(), 502..=504),
            Err(_) => true,
        };
        if m.settle(i, retryable, replay, &mut tried, asked.elapsed()) {
            continue;
        }
        let (b, answer) = match result {
            Ok(r) => r,
            Err(e) => return write_error(c, e.into_response(), id, close).await,
        };
        let (answered, whole) = pass(c, b, answer, route, i, &parts.method, id, close).await;
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

fn refused(why: &str) -> Response {
    ServeError::BadRequest(format!("the request was {why}")).into_response()
}
