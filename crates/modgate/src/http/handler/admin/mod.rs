//! The admin API under `/-/admin/` (JSON; the access layer has already required the admin
//! group). `docs/openapi.json` documents every route in [`ROUTES`]; a test keeps the two
//! equal. Every call is audited: one `admin` event with who, what and the status.
//!
//! `views` answers the questions (status, catalog, module, stats, upstreams, audit, jobs,
//! quarantine, keys); `actions` does things (reload, purge, quarantine, verify, warm, keys).

mod actions;
mod views;

use crate::app::App;
use crate::auth::Principal;
use crate::errors::ServeError;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;

/// Every route: method and path after `/-/admin/` (`{id}`: one path segment).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "status"),
    ("POST", "reload"),
    ("GET", "catalog"),
    ("GET", "module"),
    ("GET", "stats"),
    ("GET", "upstreams"),
    ("GET", "audit"),
    ("POST", "purge"),
    ("GET", "quarantine"),
    ("POST", "quarantine"),
    ("DELETE", "quarantine"),
    ("POST", "verify"),
    ("POST", "warm"),
    ("GET", "jobs"),
    ("GET", "jobs/{id}"),
    ("GET", "gc"),
    ("POST", "gc"),
    ("GET", "keys"),
    ("POST", "keys"),
    ("DELETE", "keys/{id}"),
];

/// Largest request body (an uploaded go.sum of a large project is a few MiB).
const MAX_BODY: usize = 16 << 20;

/// One admin call, as the handlers see it.
pub(super) struct Call {
    pub app: Arc<App>,
    pub who: String,
    pub uri: http::Uri,
    pub body: Bytes,
}

pub async fn handle<B>(app: &Arc<App>, req: Request<B>) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let Some(auth) = app.auth.clone() else {
        return ServeError::Forbidden("admin endpoints need [auth] with an admin group".into()).into_response();
    };
    let who = req.extensions().get::<Principal>().map(|p| p.name.clone()).unwrap_or_else(|| "anonymous".into());
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let path = uri.path().strip_prefix(crate::request::ADMIN_PREFIX).unwrap_or("").to_string();
    let body = match read_body(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let call = Call { app: Arc::clone(app), who: who.clone(), uri, body };
    let resp = route(&call, &method, &path).await;
    let detail = resp.extensions().get::<Detail>().map(|d| d.0.clone());
    auth.security_event(
        "admin",
        &serde_json::json!({ "who": who, "method": method.as_str(), "call": path, "status": resp.status().as_u16(), "detail": detail }),
    );
    resp
}

/// The request body, refused past `MAX_BODY`.
async fn read_body<B>(body: B) -> Result<Bytes, ServeError>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let mut stream = std::pin::pin!(body.into_data_stream());
    let mut out = Vec::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let chunk = chunk.map_err(|e| ServeError::BadRequest(format!("admin: the request body broke off: {e}")))?;
        if out.len() + chunk.len() > MAX_BODY {
            return Err(ServeError::TooLarge(format!("admin: the request body is over {MAX_BODY} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

async fn route(c: &Call, method: &Method, path: &str) -> Response {
    let (head, id) = match path.split_once('/') {
        Some((h, id)) if !id.is_empty() && !id.contains('/') => (h, Some(id)),
        _ => (path, None),
    };
    match (method.as_str(), head, id) {
        ("GET", "status", None) => views::status(c),
        ("POST", "reload", None) => actions::reload(c).await,
        ("GET", "catalog", None) => views::catalog(c).await,
        ("GET", "module", None) => views::module(c).await,
        ("GET", "stats", None) => views::stats(c),
        ("GET", "upstreams", None) => views::upstreams(c),
        ("GET", "audit", None) => views::audit(c),
        ("POST", "purge", None) => actions::purge(c).await,
        ("GET", "quarantine", None) => views::quarantine(c),
        ("POST", "quarantine", None) => actions::quarantine(c).await,
        ("DELETE", "quarantine", None) => actions::release(c).await,
        ("POST", "verify", None) => actions::verify(c).await,
        ("POST", "warm", None) => actions::warm(c),
        ("GET", "jobs", None) => views::jobs(c, None),
        ("GET", "jobs", Some(id)) => views::jobs(c, Some(id)),
        ("GET", "gc", None) => views::gc(c),
        ("POST", "gc", None) => actions::gc(c).await,
        ("GET", "keys", None) => views::keys(c),
        ("POST", "keys", None) => actions::add_key(c).await,
        ("DELETE", "keys", Some(id)) => actions::revoke_key(c, id).await,
        _ => {
            let allowed: Vec<&str> = ROUTES
                .iter()
                .filter(|(_, p)| p.split('/').next() == Some(head) && p.contains('{') == id.is_some())
                .map(|(m, _)| *m)
                .collect();
            if allowed.is_empty() {
                ServeError::not_found(format!("/-/admin/{path}: no such admin call")).into_response()
            } else {
                let mut r = error(StatusCode::METHOD_NOT_ALLOWED, &format!("{method} is not allowed here"));
                if let Ok(v) = http::HeaderValue::from_str(&allowed.join(", ")) {
                    r.headers_mut().insert(http::header::ALLOW, v);
                }
                r
            }
        }
    }
}

/// What an action did, for its audit line (carried in the response's extensions).
#[derive(Clone)]
pub(super) struct Detail(pub String);

/// A JSON answer with `status`.
pub(super) fn json_status(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let text = serde_json::to_string_pretty(body).unwrap_or_else(|_| "{}".into());
    crate::http::respond::uncached(status, "application/json", format!("{text}\n"))
}

pub(super) fn json(body: &impl serde::Serialize) -> Response {
    json_status(StatusCode::OK, body)
}

/// A JSON error: `{"error": "..."}`.
pub(super) fn error(status: StatusCode, message: &str) -> Response {
    json_status(status, &serde_json::json!({ "error": message }))
}

/// A failure of the service as a JSON error with its usual status.
pub(super) fn failed(e: ServeError) -> Response {
    error(e.status(), &e.to_string())
}

/// A request the call cannot take: answered 400 with the reason.
pub(super) struct Bad(pub String);

impl Bad {
    pub fn response(self) -> Response {
        error(StatusCode::BAD_REQUEST, &self.0)
    }
}

/// The query string as `T`.
pub(super) fn query<T: serde::de::DeserializeOwned>(c: &Call) -> Result<T, Bad> {
    axum::extract::Query::<T>::try_from_uri(&c.uri).map(|q| q.0).map_err(|e| Bad(format!("bad query: {e}")))
}

/// The body as JSON `T`.
pub(super) fn body<T: serde::de::DeserializeOwned>(c: &Call) -> Result<T, Bad> {
    serde_json::from_slice(&c.body).map_err(|e| Bad(format!("bad JSON body: {e}")))
}
