//! Every connection's request handler: a request a `[[proxy]]` route takes goes to the proxy
//! stack; warm small objects take the hot path (`http::fast_hit`); everything else the layered
//! stack with its full checks.

use crate::app::App;
use crate::auth::ClientCert;
use crate::errors::ServeError;
use crate::http::{ProxyStack, Stack};
use crate::obs::trace;
use crate::revproxy::forward::Routed;
use crate::revproxy::outgoing::ConnInfo;
use crate::revproxy::target::{check_path, host_of, is_plain, ProxyPath};
use axum::response::{IntoResponse, Response};
use futures::future::Either;
use hyper::body::Incoming;
use hyper::Request;
use pin_project_lite::pin_project;
use std::future::{Future, Ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tracing::Span;

#[derive(Clone)]
pub struct Front {
    pub app: Arc<App>,
    pub stack: Stack,
    pub proxy: ProxyStack,
    /// The connection's verified client certificate, carried into every request.
    pub cert: Option<ClientCert>,
    /// The connection's peer and whether it came over TLS (for the forwarding headers).
    pub conn: ConnInfo,
    /// Whether this is the metrics listener (`[metrics] listen`): only `/metrics` and the
    /// health endpoints answer there.
    pub metrics_only: bool,
}

type StackFuture = <Stack as tower_service::Service<Request<Incoming>>>::Future;
type ProxyFuture = <ProxyStack as tower_service::Service<Request<Incoming>>>::Future;
type Ready_ = Ready<Result<Response, std::convert::Infallible>>;

impl Front {
    pub fn new(app: Arc<App>, peer: Option<SocketAddr>, tls: bool) -> Self {
        let stack = crate::http::stack(Arc::clone(&app));
        let proxy = crate::http::proxy_stack(&app);
        Self { app, stack, proxy, cert: None, conn: ConnInfo { peer, tls }, metrics_only: false }
    }

    /// Where a request goes: to the proxy stack (with what it needs) when a route takes it, to
    /// modgate's own stacks when none does, or straight back refused.
    pub(super) fn routed<B>(&self, mut req: Request<B>) -> Way<B> {
        match self.decide(&req) {
            Decision::Proxy(routed) => {
                req.extensions_mut().insert(self.conn);
                req.extensions_mut().insert(routed);
                Way::Proxy(req)
            }
            Decision::Modules => Way::Modules(req),
            Decision::Refused(resp) => Way::Refused(resp),
        }
    }

    /// The decision `routed` carries out (the relay takes it as it is).
    pub(super) fn decide<B>(&self, req: &Request<B>) -> Decision {
        let path = req.uri().path();
        if path == super::framing::REFUSED_PATH {
            let why = req.headers().get("x-modgate-refused").and_then(|v| v.to_str().ok()).unwrap_or("malformed");
            return Decision::Refused(ServeError::BadRequest(format!("request refused: {why}")).into_response());
        }
        if self.metrics_only {
            if !matches!(path, "/metrics" | "/healthz" | "/readyz") {
                let why = "only /metrics, /healthz and /readyz answer here";
                return Decision::Refused(ServeError::not_found(why).into_response());
            }
            return Decision::Modules;
        }
        if path == "/metrics" && self.app.metrics_config.load().listen.is_some() {
            let why = "metrics are served on the metrics listener";
            return Decision::Refused(ServeError::not_found(why).into_response());
        }
        if crate::revproxy::is_own_path(path) {
            return Decision::Modules;
        }
        let Some(table) = self.app.revproxy.get() else { return Decision::Modules };
        let host = match host_of(req) {
            Ok(h) => h,
            Err(why) => return Decision::Refused(ServeError::BadRequest(why).into_response()),
        };
        // A path with nothing to decode, merge or refuse is its own checked form: module traffic
        // finds no route, and a proxied request its route, without a check that allocates.
        if is_plain(path) {
            return match table.find_raw(host.as_deref(), path) {
                Some(route) => Decision::Proxy(Routed { route: route.clone(), path: Ok(ProxyPath::plain(path)), host }),
                None => Decision::Modules,
            };
        }
        let checked = check_path(path);
        let route = match &checked {
            Ok(p) => table.find(host.as_deref(), p),
            Err(_) => table.find_raw(host.as_deref(), path),
        };
        match route.cloned() {
            Some(route) => Decision::Proxy(Routed { route, path: checked, host }),
            None => Decision::Modules,
        }
    }
}

pub(super) enum Decision {
    Proxy(Routed),
    Modules,
    Refused(Response),
}

pub(super) enum Way<B = Incoming> {
    Proxy(Request<B>),
    Modules(Request<B>),
    Refused(Response),
}

impl hyper::service::Service<Request<Incoming>> for Front {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = Traced<Either<Either<Ready_, StackFuture>, ProxyFuture>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        if let Some(c) = &self.cert {
            req.extensions_mut().insert(c.clone());
        }
        let way = self.routed(req);
        // The span's name: the method and the route, or the endpoint kind.
        let named = match &way {
            _ if !trace::on() => None,
            Way::Refused(_) => None,
            Way::Proxy(r) => {
                let route = r.extensions().get::<Routed>().map(|r| r.route.metrics.label.as_str()).unwrap_or("-");
                Some((r, format!("{} proxy {route}", r.method())))
            }
            Way::Modules(r) => Some((
                r,
                format!("{} {}", r.method(), crate::http::layer::measure::kind_of(r.method(), r.uri().path())),
            )),
        };
        let span = named.map(|(r, name)| trace::request_span(&name, r.method(), r.uri().path(), r.headers()));
        let fut = match &span {
            Some(s) => s.in_scope(|| self.answer(way)),
            None => self.answer(way),
        };
        Traced::new(fut, span)
    }
}

impl Front {
    fn answer(&self, way: Way) -> Either<Either<Ready_, StackFuture>, ProxyFuture> {
        let req = match way {
            Way::Proxy(routed) => {
                let mut proxy = self.proxy.clone();
                return Either::Right(tower_service::Service::call(&mut proxy, routed));
            }
            Way::Refused(refused) => return Either::Left(Either::Left(std::future::ready(Ok(refused)))),
            Way::Modules(req) => req,
        };
        if let Some(resp) = crate::http::fast_hit(&self.app, &req) {
            return Either::Left(Either::Left(std::future::ready(Ok(resp))));
        }
        // Every layer is always ready (none holds back requests), and cloning the stack is a
        // few reference counts.
        let mut stack = self.stack.clone();
        Either::Left(Either::Right(tower_service::Service::call(&mut stack, req)))
    }
}

pin_project! {
    /// A request's future inside its span, which learns the answer when it is ready.
    pub struct Traced<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
    }
}

impl<F> Traced<F> {
    pub fn new(inner: F, span: Option<Span>) -> Self {
        Self { inner, span }
    }
}

impl<F, E> Future for Traced<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(span) = this.span.as_ref() else { return this.inner.poll(cx) };
        let out = {
            let _in = span.enter();
            std::task::ready!(this.inner.poll(cx))
        };
        if let Ok(resp) = &out {
            record_response(span, resp);
        }
        *this.span = None;
        Poll::Ready(out)
    }
}

fn record_response(span: &Span, resp: &Response) {
    trace::answered(span, resp.status().as_u16());
    let h = resp.headers();
    if let Some(v) = h.get(&crate::http::respond::X_MODGATE_CACHE).and_then(|v| v.to_str().ok()) {
        span.record("modgate.cache", v);
    }
    if let Some(v) = h.get(&crate::http::respond::X_REQUEST_ID).and_then(|v| v.to_str().ok()) {
        span.record("modgate.request_id", v);
    }
}
