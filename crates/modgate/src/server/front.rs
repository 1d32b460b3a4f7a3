//! Every connection's request handler: warm small objects take the hot path
//! (`http::fast_hit`), everything else the layered stack with its full checks.

use crate::app::App;
use crate::auth::ClientCert;
use crate::http::Stack;
use std::sync::Arc;

#[derive(Clone)]
pub struct Front {
    pub app: Arc<App>,
    pub stack: Stack,
    /// The connection's verified client certificate, carried into every request.
    pub cert: Option<ClientCert>,
}

type StackFuture = <Stack as tower_service::Service<hyper::Request<hyper::body::Incoming>>>::Future;

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Front {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::Either<std::future::Ready<Result<Self::Response, Self::Error>>, StackFuture>;

    fn call(&self, mut req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        if let Some(c) = &self.cert {
            req.extensions_mut().insert(c.clone());
        }
        if let Some(resp) = crate::http::fast_hit(&self.app, &req) {
            return futures::future::Either::Left(std::future::ready(Ok(resp)));
        }
        // Every layer is always ready (none holds back requests), and cloning the stack is a
        // few reference counts.
        let mut stack = self.stack.clone();
        futures::future::Either::Right(tower_service::Service::call(&mut stack, req))
    }
}
