//! Request ids: the caller's `X-Request-Id` when it is sane, else 16 random hex digits; carried
//! in the request's extensions and returned on the response.

use crate::http::respond::X_REQUEST_ID;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, Request};

/// The request's id, in its extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The id of a request that went through this layer ("-" for one that did not).
    pub fn of<B>(req: &Request<B>) -> &str {
        req.extensions().get::<RequestId>().and_then(|r| r.0.to_str().ok()).unwrap_or("-")
    }
}

/// The caller's `X-Request-Id` when it is sane, else 16 random hex digits.
pub fn new_request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(&X_REQUEST_ID) {
        let b = v.as_bytes();
        if !b.is_empty()
            && b.len() <= 64
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.')
        {
            return v.clone();
        }
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = rand::random::<u64>();
    let mut out = [0u8; 16];
    for c in out.iter_mut().rev() {
        *c = HEX[(n & 15) as usize];
        n >>= 4;
    }
    HeaderValue::from_bytes(&out).unwrap_or_else(|_| HeaderValue::from_static("0000000000000000"))
}

/// Gives every request its id, and every response the id of its request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identify;

impl super::Around for Identify {
    type Seen = HeaderValue;

    fn before<B>(&self, req: &mut Request<B>) -> HeaderValue {
        let id = new_request_id(req.headers());
        req.extensions_mut().insert(RequestId(id.clone()));
        id
    }

    fn after(id: HeaderValue, resp: &mut Response) {
        resp.headers_mut().insert(X_REQUEST_ID, id);
    }
}
