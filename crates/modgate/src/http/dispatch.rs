//! The innermost service: hands each parsed target to its handler.

use super::handler::{admin, goproxy, health, metrics, publish, sumdb, ui};
use super::layer::parse::Parsed;
use crate::app::App;
use crate::errors::ServeError;
use crate::request::Target;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request};
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

#[derive(Clone)]
pub struct Dispatch {
    pub app: Arc<App>,
}

impl<B> tower_service::Service<Request<B>> for Dispatch
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let app = Arc::clone(&self.app);
        Box::pin(async move { Ok(route(app, req).await) })
    }
}

async fn route<B>(app: Arc<App>, mut req: Request<B>) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let target = match req.extensions_mut().remove::<Parsed>() {
        Some(Parsed(t)) => t,
        // Only when the stack was built without the parse layer.
        None => Target::classify(req.uri().path(), req.uri().query()),
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    match target {
        Target::Health => health::healthz(),
        Target::Ready => health::readyz(&app).await,
        Target::Admin => admin::handle(&app, req).await,
        Target::Ui(file) => ui::handle(req.uri().path(), &file, req.headers()),
        Target::Metrics => metrics::handle(&app),
        Target::Publish(r) if req.method() == Method::PUT => publish::handle(&app, &r, req).await,
        Target::Publish(_) => ServeError::MethodNotAllowed { allow: "PUT" }.into_response(),
        Target::Sumdb { db, path } => sumdb::handle(&app, &db, &path, req.method()).await,
        Target::Module(r) => {
            let who = req.extensions().get::<crate::auth::Principal>();
            goproxy::handle(&app, &r, req.method(), req.headers(), who).await
        }
    }
}
