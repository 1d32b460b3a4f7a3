//! The access log: one line per request (target `access`), at `info`, or `warn` for 5xx, with
//! the request id, method, path, status, bytes, duration and cache result. Formatting happens
//! only when someone will read the line.

use super::request_id::RequestId;
use crate::http::respond::X_MODGATE_CACHE;
use axum::response::Response;
use http::{header, HeaderValue, Method, Request, Uri};
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

/// Writes the access-log line of a response, when its level is on.
pub fn log_line(resp: &Response, id: Option<&HeaderValue>, method: &Method, uri: &Uri, start: Instant) {
    let status = resp.status().as_u16();
    let level_on = if status >= 500 {
        tracing::enabled!(target: "access", tracing::Level::WARN)
    } else {
        tracing::enabled!(target: "access", tracing::Level::INFO)
    };
    if !level_on {
        return;
    }
    let bytes = resp.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("-");
    let cache = resp.headers().get(&X_MODGATE_CACHE).and_then(|v| v.to_str().ok()).unwrap_or("-");
    let dur_ms = start.elapsed().as_secs_f64() * 1000.0;
    let path = crate::errors::one_line(uri.path());
    let id = id.and_then(|v| v.to_str().ok()).unwrap_or("-");
    if status >= 500 {
        tracing::warn!(target: "access", request_id = %id, method = %method, path = %path, status, bytes = %bytes, duration_ms = dur_ms, cache, "request");
    } else {
        tracing::info!(target: "access", request_id = %id, method = %method, path = %path, status, bytes = %bytes, duration_ms = dur_ms, cache, "request");
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct AccessLogLayer;

impl<S> tower_layer::Layer<S> for AccessLogLayer {
    type Service = AccessLog<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AccessLog { inner }
    }
}

#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S, B> tower_service::Service<Request<B>> for AccessLog<S>
where
    S: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = LogFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Cheap handles (shared bytes); they are formatted only if the line is written.
        let seen = Seen {
            start: Instant::now(),
            id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
            method: req.method().clone(),
            uri: req.uri().clone(),
        };
        LogFuture { inner: self.inner.call(req), seen }
    }
}

struct Seen {
    start: Instant,
    id: Option<HeaderValue>,
    method: Method,
    uri: Uri,
}

pin_project! {
    pub struct LogFuture<F> {
        #[pin]
        inner: F,
        seen: Seen,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for LogFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(resp) = ready!(this.inner.poll(cx));
        let s = &this.seen;
        log_line(&resp, s.id.as_ref(), &s.method, &s.uri, s.start);
        Poll::Ready(Ok(resp))
    }
}
