//! The request path as tower layers, outermost first, one concern per file:
//!
//! 1. `request_id` — the caller's sane `X-Request-Id` or a new one, on the request (for the
//!    layers below and the audit log) and on the response;
//! 2. `access_log` — one line per request, after the response;
//! 3. `finish` — `Content-Length` from the body's size, and no body for `HEAD`;
//! 4. `target` — origin-form targets and allowed methods only;
//! 5. `parse` — the target classified and parsed once (`request::Target`), into extensions;
//! 6. `authz` — with `[auth]`: who is asking, within their rate, allowed on the canonical
//!    module path the handler will serve;
//!
//! then `http::dispatch` hands the parsed target to its handler. The hot path
//! (`http::hot`) answers warm objects in front of all of this, with the same decisions.

pub mod access_log;
pub mod authz;
pub mod finish;
pub mod parse;
pub mod request_id;
pub mod target;

use axum::response::Response;
use std::convert::Infallible;
use std::future::{ready, Ready};

/// The future of a layer that answers some requests itself and passes the rest on.
pub type Either<F> = futures::future::Either<Ready<Result<Response, Infallible>>, F>;

/// An answer given by the layer itself.
pub fn answer<F>(resp: Response) -> Either<F> {
    futures::future::Either::Left(ready(Ok(resp)))
}

/// The request passed on to the next service.
pub fn pass<F>(fut: F) -> Either<F> {
    futures::future::Either::Right(fut)
}
