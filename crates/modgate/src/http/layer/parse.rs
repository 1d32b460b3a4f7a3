//! Parses the request target once (`request::Target::classify`) and carries the outcome in
//! the request's extensions: the access decision and the handler both read it, so they can
//! never disagree about what a path names. A malformed target is answered by whoever reads it
//! first — after authentication when `[auth]` is on, as before it.

use crate::app::App;
use crate::errors::ServeError;
use crate::request::Target;
use axum::response::Response;
use http::Request;
use std::sync::Arc;

/// The parsed target, in the request's extensions.
#[derive(Debug, Clone)]
pub struct Parsed(pub Result<Target, ServeError>);

/// Parses each request's target into its extensions.
#[derive(Clone)]
pub struct Parse {
    pub app: Arc<App>,
}

impl super::Gate for Parse {
    fn check<B>(&self, req: &mut Request<B>) -> Option<Response> {
        self.app.count_parse();
        let parsed = Target::classify(req.uri().path(), req.uri().query());
        req.extensions_mut().insert(Parsed(parsed));
        None
    }
}
