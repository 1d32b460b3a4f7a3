//! The reverse proxy: `[[proxy]]` routes put HTTP services behind modgate's front door, with
//! the same request ids, access log, limits and access rules as module traffic.
//!
//! `target` decides what a request names (host, checked path) once; the route table here picks
//! the route (longest prefix, a named host before any host); `forward` sends the request to one
//! of the route's backends (`lb::Members`: balancing, ejection, checks, retries of idempotent
//! requests within a budget), streaming both bodies and passing upgrades through; `headers`
//! writes the forwarded message's headers, `outgoing` the request's whole head; `client` is
//! the route's connection pool and TLS.

pub mod client;
pub mod forward;
pub mod h1pool;
pub mod headers;
pub mod idle;
pub mod outgoing;
pub mod target;

use crate::config::ProxyRoute;
use crate::lb::Members;
use crate::obs::metrics::{HttpMetrics, RouteMetrics};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use target::{host_matches, under, ProxyPath};

/// One route, with its backends and their client.
pub struct Route {
    pub settings: ProxyRoute,
    pub members: Arc<Members>,
    /// The route's metrics (its name as their label).
    pub metrics: RouteMetrics,
    client: client::BackendClient,
    /// Plain-HTTP connections driven inline, and each member's `host:port` when it is plain.
    h1: Arc<h1pool::H1Pool>,
    plain: Vec<Option<String>>,
    /// The relay's kept connections to the members (all plain HTTP, or none are kept).
    pub idle: idle::Idle,
}

impl Route {
    /// Member `i`'s `host:port` when the relay can take its requests: every member of the
    /// route is plain HTTP/1 (`None` for a route with a TLS member).
    pub fn relay_authority(&self, i: usize) -> Option<&str> {
        if self.plain.iter().any(Option::is_none) {
            return None;
        }
        self.plain.get(i)?.as_deref()
    }

    /// Whether the relay may take the route's requests.
    pub fn relayable(&self) -> bool {
        !self.plain.is_empty() && self.plain.iter().all(Option::is_some)
    }
}

/// The routes in force, in match order.
#[derive(Default)]
pub struct ReverseProxy {
    routes: Vec<Arc<Route>>,
}

impl ReverseProxy {
    /// The routes of a configuration, their active checks started; `Err` names the route and
    /// the file at fault.
    pub fn build(routes: &[ProxyRoute], metrics: &HttpMetrics) -> Result<Self, String> {
        let mut out = Vec::new();
        for r in routes {
            let connect = r.timeout.min(std::time::Duration::from_secs(10));
            let client = client::build(&r.tls, connect).map_err(|e| format!("proxy {:?}: tls: {e}", r.name))?;
            let members = Arc::new(Members::new(r.backends.clone()));
            let probe_client = client.clone();
            members.start_checks(Arc::new(move |url: String| {
                let c = probe_client.clone();
                Box::pin(async move { forward::probe(&c, &url).await })
            }));
            let plain: Vec<_> = r.backends.members.iter().map(|m| plain_authority(&m.url)).collect();
            let idle = idle::Idle::new(plain.len());
            out.push(Arc::new(Route {
                metrics: metrics.route(Arc::new(r.name.clone())),
                settings: r.clone(),
                members,
                client,
                h1: Default::default(),
                plain,
                idle,
            }));
        }
        // Longest prefix first; on a tie, an exact host, then a wildcard, then any host.
        out.sort_by_key(|r| {
            let host_rank = match r.settings.host.as_deref() {
                Some(h) if h.starts_with("*.") => 1,
                Some(_) => 0,
                None => 2,
            };
            (std::cmp::Reverse(r.settings.path.len()), host_rank)
        });
        Ok(Self { routes: out })
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    /// The route for a host and a checked path.
    pub fn find(&self, host: Option<&str>, path: &ProxyPath) -> Option<&Arc<Route>> {
        self.find_raw(host, &path.matched)
    }

    /// The route for a host and a path in matched form (or, for a path that failed its
    /// checks, as it came).
    pub fn find_raw(&self, host: Option<&str>, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| host_matches(r.settings.host.as_deref(), host) && under(path, &r.settings.path))
    }
}

/// `host:port` of a plain-HTTP URL (port 80 when none is written).
fn plain_authority(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let host = uri.host()?;
    Some(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
}

/// Whether a path is one modgate always answers itself, whatever the routes say.
pub fn is_own_path(path: &str) -> bool {
    path.starts_with("/-/") || matches!(path, "/-" | "/healthz" | "/readyz" | "/metrics")
}

/// The routes in force, swapped whole on a reload: a request keeps the table (and the routes
/// and backends) it started with.
#[derive(Default)]
pub struct Table {
    any: AtomicBool,
    current: arc_swap::ArcSwap<ReverseProxy>,
}

impl Table {
    pub fn new(proxy: ReverseProxy) -> Self {
        let t = Self::default();
        t.swap(proxy);
        t
    }

    /// The routes, or `None` when there are none (one relaxed load: the module traffic's cost).
    /// A guard, not a count on the table shared by every thread: hold it for a request's
    /// routing, and `Arc::clone` what must live longer.
    pub fn get(&self) -> Option<arc_swap::Guard<Arc<ReverseProxy>>> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        Some(self.current.load())
    }

    pub fn swap(&self, proxy: ReverseProxy) {
        let any = !proxy.is_empty();
        self.current.store(Arc::new(proxy));
        self.any.store(any, Ordering::Relaxed);
    }
}
