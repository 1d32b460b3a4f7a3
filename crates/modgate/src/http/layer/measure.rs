//! Request metrics: every answer counted by endpoint kind (module traffic) or route (proxied
//! requests), method, status and cache result, with the time to its head and the body length
//! it declares. The hot path counts its answers with the same function (`module_answer`).

use crate::http::respond::X_MODGATE_CACHE;
use crate::obs::metrics::{method_label, Metrics, RequestLabels};
use crate::revproxy::forward::Routed;
use crate::revproxy::Route;
use axum::response::Response;
use http::{header, Method, Request};
use std::sync::Arc;
use std::time::Instant;

/// The endpoint kind of a module-traffic path, for the `kind` label: one of a fixed set.
pub fn kind_of(method: &Method, path: &str) -> &'static str {
    if let Some(rest) = path.strip_prefix("/-/") {
        return if rest.starts_with("publish") || method == Method::PUT { "publish" } else { "admin" };
    }
    if path.starts_with("/sumdb/") {
        return "sumdb";
    }
    match path {
        "/healthz" | "/readyz" => return "health",
        "/metrics" => return "metrics",
        _ => {}
    }
    if path.ends_with("/@v/list") {
        "list"
    } else if path.ends_with("/@latest") {
        "latest"
    } else if path.ends_with(".info") {
        "info"
    } else if path.ends_with(".mod") {
        "mod"
    } else if path.ends_with(".zip") {
        "zip"
    } else {
        "other"
    }
}

/// The cache result an answer carries (`hit`, `miss`, `stale`), or `none`.
fn cache_of(resp: &Response) -> &'static str {
    match resp.headers().get(&X_MODGATE_CACHE).map(|v| v.as_bytes()) {
        Some(b"hit") => "hit",
        Some(b"miss") => "miss",
        Some(b"stale") => "stale",
        _ => "none",
    }
}

/// The body length an answer declares; none for `HEAD`, which sends no body.
fn declared_len(resp: &Response, method: &'static str) -> Option<u64> {
    if method == "HEAD" {
        return None;
    }
    resp.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Counts one module-traffic answer.
pub fn module_answer(metrics: &Metrics, kind: &'static str, method: &'static str, start: Instant, resp: &Response) {
    let labels = RequestLabels { kind, method, status: resp.status().as_u16(), cache: cache_of(resp) };
    metrics.http.answered(labels, start.elapsed(), declared_len(resp, method));
}

/// Counts module-traffic answers.
#[derive(Clone)]
pub struct Measure {
    pub metrics: Arc<Metrics>,
}

pub struct Seen {
    metrics: Arc<Metrics>,
    start: Instant,
    kind: &'static str,
    method: &'static str,
}

impl super::Around for Measure {
    type Seen = Seen;

    fn before<B>(&self, req: &mut Request<B>) -> Seen {
        let method = method_label(req.method());
        let kind = kind_of(req.method(), req.uri().path());
        Seen { metrics: Arc::clone(&self.metrics), start: Instant::now(), kind, method }
    }

    fn after(s: Seen, resp: &mut Response) {
        module_answer(&s.metrics, s.kind, s.method, s.start, resp);
    }
}

/// Counts proxied answers, by route (each route holds its own series).
#[derive(Clone)]
pub struct MeasureProxy;

pub struct ProxySeen {
    start: Instant,
    route: Option<Arc<Route>>,
    method: &'static str,
}

impl super::Around for MeasureProxy {
    type Seen = ProxySeen;

    fn before<B>(&self, req: &mut Request<B>) -> ProxySeen {
        let route = req.extensions().get::<Routed>().map(|r| Arc::clone(&r.route));
        ProxySeen { start: Instant::now(), route, method: method_label(req.method()) }
    }

    fn after(s: ProxySeen, resp: &mut Response) {
        let Some(route) = s.route else { return };
        let bytes = declared_len(resp, s.method);
        route.metrics.proxied(s.method, resp.status().as_u16(), s.start.elapsed(), bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::kind_of;
    use http::Method;

    #[test]
    fn kinds() {
        let get = Method::GET;
        assert_eq!(kind_of(&get, "/example.com/m/@v/list"), "list");
        assert_eq!(kind_of(&get, "/example.com/m/@v/v1.0.0.info"), "info");
        assert_eq!(kind_of(&get, "/example.com/m/@v/v1.0.0.mod"), "mod");
        assert_eq!(kind_of(&get, "/example.com/m/@v/v1.0.0.zip"), "zip");
        assert_eq!(kind_of(&get, "/example.com/m/@latest"), "latest");
        assert_eq!(kind_of(&get, "/sumdb/sum.example/lookup/x@v1"), "sumdb");
        assert_eq!(kind_of(&Method::PUT, "/-/publish/example.com/m/@v/v1.0.0"), "publish");
        assert_eq!(kind_of(&get, "/-/admin/status"), "admin");
        assert_eq!(kind_of(&get, "/readyz"), "health");
        assert_eq!(kind_of(&get, "/metrics"), "metrics");
        assert_eq!(kind_of(&get, "/favicon.ico"), "other");
    }
}
