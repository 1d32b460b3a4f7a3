//! Request ids: the caller's `X-Request-Id` when it is sane, else 16 random hex digits; carried
//! in the request's extensions and returned on the response.

use crate::http::respond::X_REQUEST_ID;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Request};
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The request's id, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The id of a request that went through this layer ("-" for one that did not).
    pub fn of<B>(req: &Request<B>) -> &str {
        req.extensions().get::<RequestId>().and_then(|r| r.0.to_str().ok()).unwrap_or("-")
    }
}

/// The caller's `X-Request-Id` when it is sane, else 16 random hex digits.
pub fn new_request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(&X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty()
            && b.len() <= 64
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
        {
            return v.clone();
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = rand::random::<u64>();
    let mut out = [0u8; 16];
    for c in out.iter_mut().rev() {
        *c = HEX[(n & 15) as usize];
        n >>= 4;
    }
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("0000000000000000"))
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> tower_layer::Layer<S> for RequestIdLayer {
    type Service = WithRequestId<S>;
    fn layer(&self, inner: S) -> Self::Service {
        WithRequestId { inner }
    }
}

#[derive(Debug, Clone)]
pub struct WithRequestId<S> {
    inner: S,
}

impl<S, B> tower_service::Service<Request<B>> for WithRequestId<S>
where
    S: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = IdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let id = new_request_id(req.headers());
        req.extensions_mut().insert(RequestId(id.clone()));
        IdFuture { inner: self.inner.call(req), id: Some(id) }
    }
}

pin_project! {
    pub struct IdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for IdFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut resp) = ready!(this.inner.poll(cx));
        if let Some(id) = this.id.take() {
            resp.headers_mut().insert(X_REQUEST_ID, id);
        }
        Poll::Ready(Ok(resp))
    }
}
