//! The request path as tower layers, outermost first, one concern per file:
//!
//! 1. `request_id` — the caller's sane `X-Request-Id` or a new one, on the request (for the
//!    layers below and the audit log) and on the response;
//! 2. `measure` — the answer counted for `/metrics` (kind, method, status, cache, time, bytes);
//! 3. `access_log` — one line per request, after the response;
//! 4. `finish` — `Content-Length` from the body's size, and no body for `HEAD`;
//! 5. `target` — origin-form targets and allowed methods only;
//! 6. `parse` — the target classified and parsed once (`request::Target`), into extensions;
//! 7. `authz` — with `[auth]`: who is asking, within their rate, allowed on the canonical
//!    module path the handler will serve;
//!
//! then `http::dispatch` hands the parsed target to its handler. The hot path
//! (`http::hot`) answers warm objects in front of all of this, with the same decisions.
//!
//! A concern is one of two shapes, and this file holds the tower machinery for both: an
//! [`Around`] looks at each request on its way in and at its response on the way out; a
//! [`Gate`] may answer a request itself before the next service sees it.

pub mod access_log;
pub mod authz;
pub mod finish;
pub mod measure;
pub mod parse;
pub mod proxy_authz;
pub mod request_id;
pub mod target;

use axum::response::Response;
use http::Request;
use pin_project_lite::pin_project;
use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A concern that sees each request going in and its response coming out.
pub trait Around {
    /// What `before` keeps for `after`.
    type Seen;
    fn before<B>(&self, req: &mut Request<B>) -> Self::Seen;
    fn after(seen: Self::Seen, resp: &mut Response);
}

/// A concern that may answer a request itself (a refusal) instead of passing it on; it may
/// also add to the request what the services after it need.
pub trait Gate {
    /// The answer the gate gives itself, or `None` to pass the request on.
    fn check<B>(&self, req: &mut Request<B>) -> Option<Response>;
}

/// The layer of an [`Around`] concern.
#[derive(Debug, Clone)]
pub struct AroundLayer<C>(pub C);

/// The layer of a [`Gate`] concern.
#[derive(Debug, Clone)]
pub struct GateLayer<C>(pub C);

/// A service with an [`Around`] concern in front of it.
#[derive(Debug, Clone)]
pub struct AroundService<C, S> {
    concern: C,
    inner: S,
}

/// A service with a [`Gate`] concern in front of it.
#[derive(Debug, Clone)]
pub struct GateService<C, S> {
    concern: C,
    inner: S,
}

impl<C: Clone, S> tower_layer::Layer<S> for AroundLayer<C> {
    type Service = AroundService<C, S>;
    fn layer(&self, inner: S) -> Self::Service {
        AroundService { concern: self.0.clone(), inner }
    }
}

impl<C: Clone, S> tower_layer::Layer<S> for GateLayer<C> {
    type Service = GateService<C, S>;
    fn layer(&self, inner: S) -> Self::Service {
        GateService { concern: self.0.clone(), inner }
    }
}

impl<C, S, B> tower_service::Service<Request<B>> for AroundService<C, S>
where
    C: Around,
    S: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AroundFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let seen = self.concern.before(&mut req);
        AroundFuture { inner: self.inner.call(req), seen: Some(seen) }
    }
}

pin_project! {
    pub struct AroundFuture<F, C: Around> {
        #[pin]
        inner: F,
        seen: Option<C::Seen>,
    }
}

impl<F, C> Future for AroundFuture<F, C>
where
    F: Future<Output = Result<Response, Infallible>>,
    C: Around,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut resp) = std::task::ready!(this.inner.poll(cx));
        if let Some(seen) = this.seen.take() {
            C::after(seen, &mut resp);
        }
        Poll::Ready(Ok(resp))
    }
}

impl<C, S, B> tower_service::Service<Request<B>> for GateService<C, S>
where
    C: Gate,
    S: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures::future::Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        match self.concern.check(&mut req) {
            None => futures::future::Either::Right(self.inner.call(req)),
            Some(resp) => futures::future::Either::Left(ready(Ok(resp))),
        }
    }
}
