//! The checks every request gets before anything else looks at it: an origin-form target (a
//! proxy's absolute form is refused), and a method the server answers — GET and HEAD, PUT for
//! publishing, and any method under `/-/admin/` (its router answers 405 with the ones it takes).

use crate::errors::ServeError;
use crate::request::{ADMIN_PREFIX, PUBLISH_PREFIX};
use axum::response::{IntoResponse, Response};
use http::{Method, Request};

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
        || (method == Method::PUT && req.uri().path().starts_with(PUBLISH_PREFIX))
        || req.uri().path().starts_with(ADMIN_PREFIX);
    (!allowed).then_some(ServeError::MethodNotAllowed { allow: "GET, HEAD" })
}

/// Refuses what is not an origin-form request with an allowed method.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetCheck;

impl super::Gate for TargetCheck {
    fn check<B>(&self, req: &mut Request<B>) -> Option<Response> {
        refusal(req).map(IntoResponse::into_response)
    }
}
