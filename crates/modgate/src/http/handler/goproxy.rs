//! The GOPROXY protocol: `/{module}/@v/list`, `/{module}/@v/{version}.info|.mod|.zip` and
//! `/{module}/@latest`, answered by the module service (or from the cache alone with
//! `Disable-Module-Fetch: true`).

use crate::admin::Answer;
use crate::app::App;
use crate::auth::Principal;
use crate::http::respond::object::{object_response, ObjectData};
use crate::http::respond::stream::filling_response;
use crate::http::respond::X_MODGATE_CACHE;
use crate::proxy::{CacheStatus, Reply};
use crate::request::ModuleRequest;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method};

pub async fn handle(
    app: &App,
    req: &ModuleRequest,
    method: &Method,
    headers: &HeaderMap,
    who: Option<&Principal>,
) -> Response {
    let resp = answer(app, req, method, headers).await;
    let version = req.version.as_deref().filter(|_| req.is_immutable());
    count(app, &req.module, version, who, &resp);
    resp
}

/// Counts a successful answer in the activity the admin API shows: the module, the version
/// (of an immutable object), the client, the bytes, and whether the cache had it.
pub fn count(app: &App, module: &str, version: Option<&str>, who: Option<&Principal>, resp: &Response) {
    let status = resp.status();
    if !(status.is_success() || status == http::StatusCode::NOT_MODIFIED) {
        return;
    }
    let h = resp.headers();
    let bytes = h.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
    let hit = match h.get(X_MODGATE_CACHE).map(|v| v.as_bytes()) {
        Some(b"hit") | Some(b"stale") => Some(true),
        Some(b"miss") => Some(false),
        _ => None,
    };
    let who = who.map(|p| p.name.as_str());
    app.admin.activity.record(&Answer { module, version, who, bytes, hit });
}

async fn answer(app: &App, req: &ModuleRequest, method: &Method, headers: &HeaderMap) -> Response {
    let head = method == Method::HEAD;
    let cache_only = headers
        .get("disable-module-fetch")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let may_stream = !head && !headers.contains_key(header::RANGE);
    let answer =
        if cache_only { app.modules.serve_cached(req).await } else { app.modules.serve(req, may_stream).await };
    let reply = match answer {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let ct = req.endpoint.content_type();
    match reply {
        Reply::Object { obj, cache } => object_response(ObjectData::Stored(obj), ct, cache, headers, head),
        Reply::Memory { obj, cache } => object_response(ObjectData::Memory(obj), ct, cache, headers, head),
        Reply::Stream { reader, progress, total } => filling_response(reader, progress, total, ct),
        Reply::Mutable { data, cache } => mutable_response(app, data, cache, ct, head),
    }
}

/// A list, `@latest` or query answer: cacheable for the list TTL, not at all when stale.
fn mutable_response(app: &App, data: Bytes, cache: CacheStatus, ct: &'static str, head: bool) -> Response {
    let len = data.len();
    let mut resp = Response::new(if head { Body::empty() } else { Body::from(data) });
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let max_age = if cache == CacheStatus::Stale { 0 } else { app.modules.list_ttl().as_secs() };
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(X_MODGATE_CACHE, HeaderValue::from_static(cache.as_str()));
    if cache == CacheStatus::Stale {
        h.insert(header::WARNING, HeaderValue::from_static("110 modgate \"Response is Stale\""));
    }
    resp
}
