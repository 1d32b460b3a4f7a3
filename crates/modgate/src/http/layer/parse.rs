//! Parses the request target once (`request::Target::classify`) and carries the outcome in
//! the request's extensions: the access decision and the handler both read it, so they can
//! never disagree about what a path names. A malformed target is answered by whoever reads it
//! first — after authentication when `[auth]` is on, as before it.

use crate::app::App;
use crate::errors::ServeError;
use crate::request::Target;
use axum::response::Response;
use http::Request;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The parsed target, in the request's extensions.
#[derive(Debug, Clone)]
pub struct Parsed(pub Result<Target, ServeError>);

#[derive(Clone)]
pub struct ParseLayer {
    pub app: Arc<App>,
}

impl<S> tower_layer::Layer<S> for ParseLayer {
    type Service = Parse<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Parse { inner, app: Arc::clone(&self.app) }
    }
}

#[derive(Clone)]
pub struct Parse<S> {
    inner: S,
    app: Arc<App>,
}

impl<S, B> tower_service::Service<Request<B>> for Parse<S>
where
    S: tower_service::Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        self.app.count_parse();
        let parsed = Target::classify(req.uri().path(), req.uri().query());
        req.extensions_mut().insert(Parsed(parsed));
        self.inner.call(req)
    }
}
