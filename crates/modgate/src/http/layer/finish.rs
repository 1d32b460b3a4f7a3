//! The last touch on every response: `Content-Length` from the body's exact size when it has
//! none, and for `HEAD` no body at all (over HTTP/2 a body on a `HEAD` answer is a protocol
//! error that resets the stream).

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderValue, Method, Request};
use http_body::Body as _;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Sets `Content-Length` when the body's size is known and empties the body of a `HEAD`
/// answer (the length stays: it is the length a `GET` would have).
pub fn finish(resp: &mut Response, head: bool) {
    if !resp.headers().contains_key(header::CONTENT_LENGTH) {
        if let Some(n) = resp.body().size_hint().exact() {
            resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    if head {
        *resp.body_mut() = Body::empty();
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct FinishLayer;

impl<S> tower_layer::Layer<S> for FinishLayer {
    type Service = Finish<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Finish { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Finish<S> {
    inner: S,
}

impl<S, B> tower_service::Service<Request<B>> for Finish<S>
where
    S: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FinishFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let head = req.method() == Method::HEAD;
        FinishFuture { inner: self.inner.call(req), head }
    }
}

pin_project! {
    pub struct FinishFuture<F> {
        #[pin]
        inner: F,
        head: bool,
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for FinishFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut resp) = ready!(this.inner.poll(cx));
        finish(&mut resp, *this.head);
        Poll::Ready(Ok(resp))
    }
}
