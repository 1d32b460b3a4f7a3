//! The stack of reverse-proxied requests: the same request ids, access log and access rules
//! as module traffic (path rules instead of module rules), around `revproxy::forward`. The
//! backend's response passes untouched by the module traffic's finishing layer: its length,
//! its `HEAD` answers and its trailers are the backend's.

use super::layer::access_log::AccessLog;
use super::layer::measure::MeasureProxy;
use super::layer::proxy_authz::ProxyAuthorize;
use super::layer::request_id::Identify;
use super::layer::{AroundLayer, AroundService, GateLayer, GateService};
use crate::app::App;
use crate::errors::ServeError;
use crate::revproxy::forward::{forward, Routed};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use http::Request;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower_layer::Layer;

/// Forwards a routed request to its route's backends.
#[derive(Clone)]
pub struct Forward {
    own_auth: bool,
}

impl tower_service::Service<Request<Incoming>> for Forward {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        let own_auth = self.own_auth;
        if let Some(id) = req.extensions().get::<super::layer::request_id::RequestId>().map(|r| r.0.clone()) {
            req.extensions_mut().insert(crate::revproxy::forward::RequestIdHeader(id));
        }
        let Some(routed) = req.extensions_mut().remove::<Routed>() else {
            let refused = ServeError::BadRequest("the request was not routed".into()).into_response();
            return Box::pin(std::future::ready(Ok(refused)));
        };
        Box::pin(async move { Ok(forward(routed, req, own_auth).await) })
    }
}

/// Every reverse-proxied request, in the order the layers see it.
pub type ProxyStack = AroundService<
    Identify,
    AroundService<MeasureProxy, AroundService<AccessLog, GateService<ProxyAuthorize, Forward>>>,
>;

pub fn proxy_stack(app: &App) -> ProxyStack {
    let inner = Forward { own_auth: app.auth.is_some() };
    let inner = GateLayer(ProxyAuthorize { auth: app.auth.clone() }).layer(inner);
    let inner = AroundLayer(AccessLog).layer(inner);
    let inner = AroundLayer(MeasureProxy).layer(inner);
    AroundLayer(Identify).layer(inner)
}
