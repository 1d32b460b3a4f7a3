//! The last touch on every response: `Content-Length` from the body's exact size when it has
//! none, and for `HEAD` no body at all (over HTTP/2 a body on a `HEAD` answer is a protocol
//! error that resets the stream).

use axum::body::Body;
use axum::response::Response;
use http::{header, HeaderValue, Method, Request};
use http_body::Body as _;

/// Sets `Content-Length` when the body's size is known and empties the body of a `HEAD`
/// answer (the length stays: it is the length a `GET` would have).
pub fn finish(resp: &mut Response, head: bool) {
    if !resp.headers().contains_key(header::CONTENT_LENGTH) {
        if let Some(n) = resp.body().size_hint().exact() {
            resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(n));
        }
    }
    if head {
        *resp.body_mut() = Body::empty();
    }
}

/// Finishes every response of the stack.
#[derive(Debug, Clone, Copy, Default)]
pub struct Finish;

impl super::Around for Finish {
    /// Whether the request is a `HEAD`.
    type Seen = bool;

    fn before<B>(&self, req: &mut Request<B>) -> bool {
        req.method() == Method::HEAD
    }

    fn after(head: bool, resp: &mut Response) {
        finish(resp, head);
    }
}
