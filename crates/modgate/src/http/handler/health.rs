//! `/healthz` (the process is alive) and `/readyz` (the cache storage can be written and read).

use crate::app::App;
use crate::http::respond::text;
use axum::response::Response;
use http::StatusCode;

pub fn healthz() -> Response {
    text(StatusCode::OK, "ok\n")
}

pub async fn readyz(app: &App) -> Response {
    match app.modules.objects().check_ready().await {
        Ok(()) => text(StatusCode::OK, "ready\n"),
        Err(e) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("storage not ready: {}\n", crate::errors::one_line(&e.to_string())),
        ),
    }
}
