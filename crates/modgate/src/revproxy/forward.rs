//! Forwarding one request: the member chosen by the route's balance, the message rewritten
//! (`headers`), both bodies streamed, an upgrade spliced through, and an idempotent request
//! without a body tried on another member when the first fails before answering (a transport
//! error, a timeout, 502/503/504), within the route's retries and the retry budget.

use super::client::{BackendClient, OutBody};
use super::headers;
use super::outgoing::{outgoing, ConnInfo, Outgoing};
use super::target::ProxyPath;
use super::Route;
use crate::errors::ServeError;
use crate::lb::InFlight;
use crate::obs::trace;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use http_body::{Body as _, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The request's id as the layers gave it, in its extensions: passed on to the backend.
#[derive(Debug, Clone)]
pub struct RequestIdHeader(pub HeaderValue);

/// What the front decided for a proxied request, in its extensions.
#[derive(Clone)]
pub struct Routed {
    pub route: Arc<Route>,
    pub path: Result<ProxyPath, String>,
    pub host: Option<String>,
}

/// Whether a request may be sent again: an idempotent method, no body, no upgrade.
fn replayable(method: &Method, body: &Incoming, upgrade: bool) -> bool {
    idempotent(method) && body.is_end_stream() && !upgrade
}

/// Whether a method may be sent again after a failure (RFC 9110 §9.2.2).
pub(crate) fn idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

/// The route's form of the request's path, unless the route refuses it (a path its checks
/// refused, or an encoded slash the route does not take).
pub(crate) fn accepted_path(path: Result<ProxyPath, String>, route: &Route) -> Result<ProxyPath, ServeError> {
    let path = path.map_err(ServeError::BadRequest)?;
    if path.encoded_slash && !route.settings.encoded_slashes {
        return Err(ServeError::BadRequest("encoded slashes are not accepted on this route".into()));
    }
    Ok(path)
}

fn empty() -> OutBody {
    http_body_util::Empty::new().map_err(|never| match never {}).boxed()
}

/// Forwards a routed request and answers with the backend's response (or why there is none).
pub async fn forward(routed: Routed, req: Request<Incoming>, own_auth: bool) -> Response {
    let route = routed.route;
    let path = match accepted_path(routed.path, &route) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let (mut parts, body) = req.into_parts();
    let conn = parts.extensions.get::<ConnInfo>().copied();
    let id = parts.extensions.remove::<RequestIdHeader>();
    let mut out = outgoing(&route.settings, path, &mut parts, own_auth, conn, id.as_ref().map(|i| &i.0));
    let client_upgrade = out.upgrade.as_ref().and_then(|_| parts.extensions.remove::<hyper::upgrade::OnUpgrade>());
    let replay = replayable(&out.method, &body, out.upgrade.is_some());
    let mut body = Some(body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>).boxed());
    let m = &route.members;
    m.begin();
    let mut tried = Vec::new();
    loop {
        let Some(i) = m.pick(&tried) else {
            return ServeError::BadGateway(format!("proxy {}: no backend left to try", route.settings.name))
                .into_response();
        };
        let send = if replay { empty() } else { body.take().unwrap_or_else(empty) };
        // The headers are cloned only when another attempt may need them.
        let last = !replay || tried.len() >= m.settings.retries as usize || m.len() == 1;
        let attempt = attempt(&route, i, &mut out, send, last);
        let mut guard = Guard { flight: m.enter(i), done: false };
        let start = Instant::now();
        let result = attempt.await;
        let retryable = match &result {
            Ok(resp) => matches!(resp.status().as_u16(), 502..=504),
            Err(_) => true,
        };
        // A failure is reported here (the guard says nothing more of it).
        guard.done = retryable;
        if m.settle(i, retryable, replay, &mut tried, start.elapsed()) {
            continue;
        }
        return match result {
            Ok(resp) => respond(resp, guard, &route, client_upgrade, parts.version),
            Err(e) => e.into_response(),
        };
    }
}

/// An answer's body from either client.
pub enum Upstream {
    Pooled(Incoming),
    Driven(super::h1pool::Driven),
}

impl http_body::Body for Upstream {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Upstream::Pooled(b) => Pin::new(b).poll_frame(cx),
            Upstream::Driven(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Upstream::Pooled(b) => b.is_end_stream(),
            Upstream::Driven(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self {
            Upstream::Pooled(b) => b.size_hint(),
            Upstream::Driven(b) => b.size_hint(),
        }
    }
}

/// One try on member `i`, up to its response head: plain-HTTP backends over the inline pool,
/// TLS backends and upgrades over the route's client.
async fn attempt(
    route: &Route,
    i: usize,
    out: &mut Outgoing,
    body: OutBody,
    last: bool,
) -> Result<http::Response<Upstream>, ServeError> {
    let name = &route.settings.name;
    let base = route.members.url(i);
    let mut req = Request::builder().method(out.method.clone()).version(http::Version::HTTP_11);
    let inline = route.plain[i].as_deref().filter(|_| out.upgrade.is_none());
    req = match inline {
        Some(_) => req.uri(out.path_and_query.as_str()),
        None => req.uri(format!("{base}{}", out.path_and_query)),
    };
    if let Some(h) = req.headers_mut() {
        *h = if last { std::mem::take(&mut out.headers) } else { out.headers.clone() };
        if let (Some(authority), false) = (inline, h.contains_key(http::header::HOST)) {
            if let Ok(v) = HeaderValue::from_str(authority) {
                h.insert(http::header::HOST, v);
            }
        }
    }
    // The wait for an answer counts from the last request bytes sent: an upload as slow as
    // its client never times out while it moves.
    let last = Arc::new(std::sync::Mutex::new(Instant::now()));
    let body = if body.is_end_stream() { body } else { Noted { inner: body, last: Arc::clone(&last) }.boxed() };
    let mut req = req.body(body).map_err(|e| ServeError::BadRequest(format!("cannot forward: {e}")))?;
    let span = trace::client_span("proxy backend", out.method.as_str(), crate::net::Redacted(base));
    trace::inject(&span, req.headers_mut());
    let timeout = route.settings.timeout;
    let send = async {
        match inline {
            Some(authority) => {
                let connect = timeout.min(std::time::Duration::from_secs(10));
                let sent = route.h1.send(authority, req, connect).await;
                sent.map(|resp| resp.map(Upstream::Driven)).map_err(|e| e.to_string())
            }
            None => {
                let sent = route.client.request(req).await;
                sent.map(|resp| resp.map(Upstream::Pooled)).map_err(|e| crate::net::error_chain(&e))
            }
        }
    };
    let sent = until_quiet(send, timeout, &last).instrument(span.clone()).await.ok_or(());
    match sent {
        Err(_) => {
            trace::failed(&span, "timeout");
            Err(ServeError::Timeout(format!("proxy {name}: the backend did not answer in time")))
        }
        Ok(Err(e)) => {
            trace::failed(&span, &e);
            tracing::debug!(route = %name, error = %e, "backend request failed");
            Err(ServeError::BadGateway(format!("proxy {name}: the backend could not be reached")))
        }
        Ok(Ok(resp)) => {
            trace::answered(&span, resp.status().as_u16());
            Ok(resp)
        }
    }
}

/// `f`'s outcome, unless `limit` passes with nothing sent since `last` (`None`).
async fn until_quiet<F: std::future::Future>(
    f: F,
    limit: std::time::Duration,
    last: &std::sync::Mutex<Instant>,
) -> Option<F::Output> {
    tokio::pin!(f);
    loop {
        let quiet = last.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
        if quiet >= limit {
            return None;
        }
        tokio::select! {
            out = &mut f => return Some(out),
            _ = tokio::time::sleep(limit - quiet) => {}
        }
    }
}

pin_project! {
    /// A request body that notes when its bytes last went out.
    struct Noted {
        #[pin]
        inner: OutBody,
        last: Arc<std::sync::Mutex<Instant>>,
    }
}

impl http_body::Body for Noted {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            *this.last.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The client's response: the backend's, its headers rewritten and its body streamed (or, for
/// a switch of protocols, the two connections spliced).
fn respond(
    resp: http::Response<Upstream>,
    mut guard: Guard,
    route: &Route,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    version: http::Version,
) -> Response {
    let (mut parts, body) = resp.into_parts();
    let switching = parts.status == StatusCode::SWITCHING_PROTOCOLS;
    let upgrade = headers::strip_hop_by_hop(&mut parts.headers, switching);
    if route.settings.via {
        headers::via(&mut parts.headers, version);
    }
    headers::rewrite(&mut parts.headers, &route.settings.response_headers);
    if switching {
        let (Some(client), Some(_)) = (client_upgrade, upgrade) else {
            return ServeError::BadGateway("the backend switched protocols unasked".into()).into_response();
        };
        let mut answer = Response::new(axum::body::Body::empty());
        *answer.status_mut() = parts.status;
        *answer.headers_mut() = parts.headers.clone();
        let backend = hyper::upgrade::on(http::Response::from_parts(parts, body));
        tokio::spawn(splice(client, backend, guard));
        return answer;
    }
    if parts.status.is_server_error() {
        guard.report(false);
    }
    let idle = route.settings.timeout;
    let tracked = Tracked { inner: body, guard, quiet: tokio::time::sleep(idle), idle, waiting: None };
    Response::from_parts(parts, axum::body::Body::new(tracked))
}

/// Both upgraded connections, copied both ways until either side closes.
async fn splice(client: hyper::upgrade::OnUpgrade, backend: hyper::upgrade::OnUpgrade, _guard: Guard) {
    let (Ok(c), Ok(b)) = (client.await, backend.await) else { return };
    let mut c = hyper_util::rt::TokioIo::new(c);
    let mut b = hyper_util::rt::TokioIo::new(b);
    if let Err(e) = tokio::io::copy_bidirectional(&mut c, &mut b).await {
        tracing::debug!(error = %e, "upgraded connection ended");
    }
}

/// A request in a member's `in_flight` until its response body ends; a body that breaks off
/// counts as the member failing, one that ends whole as it succeeding.
struct Guard {
    flight: InFlight,
    /// The outcome was already reported.
    done: bool,
}

impl Guard {
    fn report(&mut self, whole: bool) {
        if self.done {
            return;
        }
        self.done = true;
        let (m, i) = (self.flight.members(), self.flight.member());
        if whole {
            m.whole(i)
        } else {
            m.failed(i)
        }
    }
}

pin_project! {
    /// The answer's body, its outcome reported to the member once; a backend that sends
    /// nothing for the route's `timeout` while the body is waited for has broken it off (as
    /// nginx's `proxy_read_timeout`: a client slow to read does not count).
    struct Tracked {
        #[pin]
        inner: Upstream,
        guard: Guard,
        #[pin]
        quiet: tokio::time::Sleep,
        idle: Duration,
        // Since when the body has been waited for (`None`: a frame was just passed on).
        waiting: Option<tokio::time::Instant>,
    }
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let mut this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(None) => {
                this.guard.report(true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.guard.report(false);
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                *this.waiting = None;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                let since = *this.waiting.get_or_insert_with(tokio::time::Instant::now);
                // The timer moves only when it fires before the limit (not once per frame).
                while this.quiet.as_mut().poll(cx).is_ready() {
                    let due = since + *this.idle;
                    if tokio::time::Instant::now() >= due {
                        this.guard.report(false);
                        return Poll::Ready(Some(Err("the backend sent nothing of the body in time".into())));
                    }
                    this.quiet.as_mut().reset(due);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// An active check of one backend: `GET url`, any answer below 500.
pub async fn probe(client: &BackendClient, url: &str) -> bool {
    let Ok(req) = Request::get(url).header("user-agent", "modgate-health").body(empty()) else { return false };
    client.request(req).await.is_ok_and(|r| r.status().as_u16() < 500)
}
