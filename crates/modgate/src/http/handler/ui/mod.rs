//! The web console's files, embedded in the binary: `/-/ui/` is the page, `app.js` and
//! `style.css` what it loads. No CDN, no external fonts; a strict Content-Security-Policy (the
//! page runs only its own script and talks only to this server). The page asks the admin API
//! for everything it shows, with the API key the operator logs in with (kept in the tab's
//! session storage, sent as `X-API-Key`).

use crate::errors::ServeError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    data: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset { name: "index.html", content_type: "text/html; charset=utf-8", data: include_str!("index.html") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", data: include_str!("app.js") },
    Asset { name: "style.css", content_type: "text/css; charset=utf-8", data: include_str!("style.css") },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", data: include_str!("favicon.svg") },
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Each asset's strong validator (a hash of its bytes), computed once.
fn etags() -> &'static Vec<String> {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| ASSETS.iter().map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.data))[..20])).collect())
}

pub fn handle(path: &str, file: &str, headers: &HeaderMap) -> Response {
    if !path.ends_with('/') && file.is_empty() {
        // The page's links are relative to `/-/ui/`.
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
        r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/-/ui/"));
        return r;
    }
    let name = if file.is_empty() { "index.html" } else { file };
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return ServeError::not_found(format!("/-/ui/{}: no such file", crate::errors::one_line(file))).into_response();
    };
    let (asset, etag) = (&ASSETS[i], &etags()[i]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if fresh {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        Response::new(Body::from(asset.data))
    };
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    r
}
