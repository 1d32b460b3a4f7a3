//! Admin endpoints under `/-/admin/` (the access layer has already required the admin group):
//! `status` — what this server is and runs with, secrets redacted.

use crate::app::App;
use crate::errors::ServeError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderValue};

pub fn handle(app: &App, path: &str) -> Response {
    if app.auth.is_none() {
        return ServeError::Forbidden("admin endpoints need [auth] with an admin group".into()).into_response();
    }
    match path.strip_prefix(crate::request::ADMIN_PREFIX) {
        Some("status") => status(app),
        _ => ServeError::not_found("not a module request: want /{module}/@v/... or /{module}/@latest").into_response(),
    }
}

/// `GET /-/admin/status`.
fn status(app: &App) -> Response {
    let body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "upstream": app.summary.upstream,
        "routes": app.summary.routes,
        "auth": true,
        "pools": app.pools.iter().map(|p| serde_json::json!({
            "name": p.name(),
            "members": members(p.health()),
        })).collect::<Vec<_>>(),
        "proxies": app.revproxy.get().map(|t| t.routes().iter().map(|r| serde_json::json!({
            "name": r.settings.name,
            "host": r.settings.host,
            "path": r.settings.path,
            "members": members(r.members.health()),
        })).collect::<Vec<_>>()).unwrap_or_default(),
        // Tasks alive in the runtime: fills, prefetch, connections (a leak shows here first).
        "tasks": tokio::runtime::Handle::try_current().map(|h| h.metrics().num_alive_tasks()).ok(),
    });
    json(&body)
}

/// Each member's URL (credentials removed) and health.
fn members(health: Vec<(String, bool)>) -> Vec<serde_json::Value> {
    health.into_iter().map(|(url, up)| serde_json::json!({ "url": crate::net::redact(&url), "healthy": up })).collect()
}

fn json(body: &serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(format!("{body}\n")));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
