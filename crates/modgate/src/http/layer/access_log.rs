//! The access log: one line per request (target `access`), at `info`, or `warn` for 5xx, with
//! the request id, method, path, status, bytes, duration and cache result (and, with
//! `[tracing]`, the trace id). Formatting happens only when someone will read the line.

use super::request_id::RequestId;
use crate::http::respond::X_MODGATE_CACHE;
use axum::response::Response;
use http::{header, HeaderValue, Method, Request, Uri};
use std::time::Instant;

/// Writes the access-log line of a response, when its level is on.
pub fn log_line(resp: &Response, id: Option<&HeaderValue>, method: &Method, uri: &Uri, start: Instant) {
    let status = resp.status().as_u16();
    if !on(status) {
        return;
    }
    let h = resp.headers();
    let bytes = h.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("-");
    let cache = h.get(&X_MODGATE_CACHE).and_then(|v| v.to_str().ok()).unwrap_or("-");
    log_answer(status, bytes, cache, id, method, uri.path(), start);
}

/// Whether an answer with this status gets a line: 5xx at `warn`, the rest at `info`.
pub fn on(status: u16) -> bool {
    if status >= 500 {
        tracing::enabled!(target: "access", tracing::Level::WARN)
    } else {
        tracing::enabled!(target: "access", tracing::Level::INFO)
    }
}

/// The access-log line of an answer given by its parts (the reverse proxy's relay writes its
/// answers without building a `Response`).
pub fn log_answer(
    status: u16,
    bytes: &str,
    cache: &str,
    id: Option<&HeaderValue>,
    method: &Method,
    path: &str,
    start: Instant,
) {
    if !on(status) {
        return;
    }
    let dur_ms = start.elapsed().as_secs_f64() * 1000.0;
    let path = crate::errors::one_line(path);
    let id = id.and_then(|v| v.to_str().ok()).unwrap_or("-");
    let trace_id = crate::obs::trace::current_trace_id();
    if status >= 500 {
        tracing::warn!(target: "access", request_id = %id, method = %method, path = %path, status, bytes = %bytes, duration_ms = dur_ms, cache, trace_id = trace_id.as_deref().map(tracing::field::display), "request");
    } else {
        tracing::info!(target: "access", request_id = %id, method = %method, path = %path, status, bytes = %bytes, duration_ms = dur_ms, cache, trace_id = trace_id.as_deref().map(tracing::field::display), "request");
    }
}

/// One access-log line per request, written when its response is ready.
#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLog;

/// What the line needs of the request: cheap handles (shared bytes), formatted only if the
/// line is written.
pub struct Seen {
    start: Instant,
    id: Option<HeaderValue>,
    method: Method,
    uri: Uri,
}

impl super::Around for AccessLog {
    type Seen = Seen;

    fn before<B>(&self, req: &mut Request<B>) -> Seen {
        Seen {
            start: Instant::now(),
            id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
            method: req.method().clone(),
            uri: req.uri().clone(),
        }
    }

    fn after(s: Seen, resp: &mut Response) {
        log_line(resp, s.id.as_ref(), &s.method, &s.uri, s.start);
    }
}
