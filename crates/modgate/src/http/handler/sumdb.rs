//! `/sumdb/<db>/...`: the checksum databases modgate proxies (`supported`, `lookup`, `tile`,
//! `latest`) and its own log, answered by [`crate::sumdb::ChecksumDbs`]; 404 on everything
//! when none is configured, so the go command asks the database the way it would without
//! modgate. A lookup in the own log of a version not logged yet records the version first
//! (filling it if need be), as the public database does.

use crate::app::App;
use crate::errors::ServeError;
use crate::http::respond::X_MODGATE_CACHE;
use crate::proxy::CacheStatus;
use crate::request::SumdbPath;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue, Method};

pub async fn handle(app: &App, db: &str, path: &SumdbPath, method: &Method) -> Response {
    let Some(dbs) = &app.sumdb else {
        return ServeError::not_found(format!("checksum database {db} is not proxied here")).into_response();
    };
    if let (Some(own), SumdbPath::Lookup { module, version, .. }) = (&dbs.own, path) {
        if own.name == db && own.record(module, version).is_none() {
            let recorded = || own.record(module, version).is_some();
            if let Err(e) = app.modules.record_version(module, version, &recorded).await {
                return e.into_response();
            }
        }
    }
    let reply = match dbs.serve(db, path).await {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let len = reply.data.len();
    let mut resp = Response::new(if method == Method::HEAD { Body::empty() } else { Body::from(reply.data) });
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let cache_control = if reply.immutable {
        "public, max-age=31536000, immutable"
    } else if reply.cache == CacheStatus::Stale {
        "public, max-age=0"
    } else {
        "public, max-age=60"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    h.insert(X_MODGATE_CACHE, HeaderValue::from_static(reply.cache.as_str()));
    resp
}
