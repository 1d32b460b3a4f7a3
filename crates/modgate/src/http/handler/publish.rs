//! `PUT /-/publish/{module}/@v/{version}`: the body is the module zip; `X-Module-Time` (RFC 3339
//! or HTTP date) sets the `.info` time, else now. Publishing needs `[auth]`: the access layer
//! has already checked the caller's `write` permission.

use crate::app::App;
use crate::errors::ServeError;
use crate::http::respond::text;
use crate::request::ModuleRequest;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;

pub async fn handle<B>(app: &App, target: &ModuleRequest, req: Request<B>) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    if app.auth.is_none() {
        return ServeError::Forbidden("publishing needs [auth] with write rules".into()).into_response();
    }
    let max = app.modules.publish_max_bytes();
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return ServeError::TooLarge(format!("publish: the zip is larger than {max} bytes")).into_response();
    }
    let time = req.headers().get("x-module-time").and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = Box::pin(req.into_body().into_data_stream());
    match app.modules.publish(target, body, time).await {
        Ok(h1) => {
            let mut r = text(StatusCode::CREATED, &format!("published {} {h1}\n", target.display()));
            if let Ok(v) = HeaderValue::from_str(&h1) {
                r.headers_mut().insert("x-module-h1", v);
            }
            r
        }
        Err(e) => e.into_response(),
    }
}
