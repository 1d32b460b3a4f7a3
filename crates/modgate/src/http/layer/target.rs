//! The checks every request gets before anything else looks at it: an origin-form target (a
//! proxy's absolute form is refused), and a method the server answers — GET and HEAD, and PUT
//! for publishing.

use super::{answer, pass, Either};
use crate::errors::ServeError;
use crate::request::PUBLISH_PREFIX;
use axum::response::{IntoResponse, Response};
use http::{Method, Request};
use std::convert::Infallible;
use std::task::{Context, Poll};

/// HTTP/2 always carries the scheme and authority (pseudo-headers); only an HTTP/1 request
/// line can be in absolute form.
pub fn is_absolute_form<B>(req: &Request<B>) -> bool {
    req.version() < http::Version::HTTP_2 && (req.uri().scheme().is_some() || req.uri().authority().is_some())
}

/// Why a request is refused before it is parsed, if it is.
fn refusal<B>(req: &Request<B>) -> Option<ServeError> {
    if is_absolute_form(req) {
        return Some(ServeError::BadRequest(
            "absolute-form request targets are not accepted; send an origin-form path".into(),
        ));
    }
    let method = req.method();
    let allowed = method == Method::GET
        || method == Method::HEAD
        || (method == Method::PUT && req.uri().path().starts_with(PUBLISH_PREFIX));
    (!allowed).then_some(ServeError::MethodNotAllowed { allow: "GET, HEAD" })
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TargetLayer;

impl<S> tower_layer::Layer<S> for TargetLayer {
    type Service = TargetCheck<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TargetCheck { inner }
    }
}

#[derive(Debug, Clone)]
pub struct TargetCheck<S> {
    inner: S,
}

impl<S, B> tower_service::Service<Request<B>> for TargetCheck<S>
where
    S: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        match refusal(&req) {
            Some(e) => answer(e.into_response()),
            None => pass(self.inner.call(req)),
        }
    }
}
