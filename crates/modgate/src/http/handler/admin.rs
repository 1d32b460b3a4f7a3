//! Admin endpoints under `/-/admin/` (the access layer has already required the admin group):
//! `status` — what this server is and runs with, secrets redacted.

use crate::app::App;
use crate::errors::ServeError;
use axum::response::{IntoResponse, Response};
use http::Method;
use std::sync::Arc;

pub async fn handle(app: &Arc<App>, path: &str, method: &Method) -> Response {
    if app.auth.is_none() {
        return ServeError::Forbidden("admin endpoints need [auth] with an admin group".into()).into_response();
    }
    match path.strip_prefix(crate::request::ADMIN_PREFIX) {
        Some("reload") if method == Method::POST => reload(app).await,
        Some("reload") => ServeError::MethodNotAllowed { allow: "POST" }.into_response(),
        Some("status") => status(app),
        _ => ServeError::not_found("not a module request: want /{module}/@v/... or /{module}/@latest").into_response(),
    }
}

/// `GET /-/admin/status`.
fn status(app: &App) -> Response {
    let summary = app.summary.load();
    let body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "upstream": summary.upstream,
        "routes": summary.routes,
        "auth": true,
        "pools": app.pools.load().iter().map(|p| serde_json::json!({
            "name": p.name(),
            "members": members(p.health()),
        })).collect::<Vec<_>>(),
        "proxies": app.revproxy.get().map(|t| t.routes().iter().map(|r| serde_json::json!({
            "name": r.settings.name,
            "host": r.settings.host,
            "path": r.settings.path,
            "members": members(r.members.health()),
        })).collect::<Vec<_>>()).unwrap_or_default(),
        "storage": {
            "where": summary.storage,
            "local_cache": app.modules.objects().usage().map(|u| serde_json::json!({ "objects": u.objects, "bytes": u.bytes })),
        },
        "coordination": app.redis.as_ref().map(|r| serde_json::json!({
            "redis": r.name,
            "up": r.is_up(),
            "outages": r.outages.load(std::sync::atomic::Ordering::Relaxed),
        })),
        "reload": app.last_reload(),
        // Tasks alive in the runtime: fills, prefetch, connections (a leak shows here first).
        "tasks": tokio::runtime::Handle::try_current().map(|h| h.metrics().num_alive_tasks()).ok(),
    });
    json(&body)
}

/// `POST /-/admin/reload`: reads the configuration again and applies it; 200 with the report
/// when it is in force, 400 with the report (and the reason) when it was refused.
async fn reload(app: &Arc<App>) -> Response {
    let report = app.reload_in_background("admin").await;
    let mut r = json(&serde_json::json!(report));
    if !report.applied {
        *r.status_mut() = http::StatusCode::BAD_REQUEST;
    }
    r
}

/// Each member's URL (credentials removed) and health.
fn members(health: Vec<(String, bool)>) -> Vec<serde_json::Value> {
    health.into_iter().map(|(url, up)| serde_json::json!({ "url": crate::net::redact(&url), "healthy": up })).collect()
}

fn json(body: &serde_json::Value) -> Response {
    crate::http::respond::uncached(http::StatusCode::OK, "application/json", format!("{body}\n"))
}
