//! Turning the module service's replies into responses: validators, ranges, cache headers,
//! and bodies that stream.

pub mod object;
pub mod range;
pub mod stream;

use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, StatusCode};

/// Our own response headers, named once (a name given as a string is parsed on every insert).
pub const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");
pub const X_MODGATE_CACHE: header::HeaderName = header::HeaderName::from_static("x-modgate-cache");

/// A short `text/plain` answer that no cache keeps.
pub fn text(status: StatusCode, body: &str) -> Response {
    uncached(status, "text/plain; charset=utf-8", body.to_string())
}

/// An answer of `content_type` that no cache keeps (status, health, metrics, admin).
pub fn uncached(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
