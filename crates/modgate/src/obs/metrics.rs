//! Prometheus metrics: one registry per server (no global one, so several servers in one
//! process keep their own counts), handed out as cheap handles (`Arc`s inside) to the parts
//! that count. A part built without a registry (tests, embedding) counts into handles that no
//! scrape reads. What can be read off the server's state at scrape time (pool health, fills in
//! flight, the memory cache, the process) is not counted at all: `/metrics` reads it then
//! (`http::handler::metrics`).

use super::sharded;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// Latency buckets in seconds: half a millisecond to a minute.
const LATENCY: [f64; 16] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Size buckets in bytes: 1 KiB to 1 GiB, by fours.
const SIZES: [f64; 11] = [
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
];

fn latency() -> Histogram {
    Histogram::new(LATENCY)
}

fn sizes() -> Histogram {
    Histogram::new(SIZES)
}

type Latencies<L> = Family<L, Histogram, fn() -> Histogram>;

fn sharded_latency() -> sharded::Histogram {
    sharded::Histogram::new(&LATENCY)
}

/// Per-request latencies, updated on every core at once (`obs::sharded`).
type ShardedLatencies<L> = Family<L, sharded::Histogram, fn() -> sharded::Histogram>;

/// A request's method as a label: the common ones by name, everything else `other` (a client
/// cannot grow the label set).
pub fn method_label(m: &http::Method) -> &'static str {
    match *m {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::PUT => "PUT",
        http::Method::POST => "POST",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        http::Method::PATCH => "PATCH",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub kind: &'static str,
    pub method: &'static str,
    pub status: u16,
    pub cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: Arc<String>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteRequestLabels {
    pub route: Arc<String>,
    pub method: &'static str,
    pub status: u16,
}

/// Requests answered: module traffic by endpoint kind, proxied requests by route.
#[derive(Clone)]
pub struct HttpMetrics {
    pub requests: Family<RequestLabels, sharded::Counter>,
    pub duration: ShardedLatencies<KindLabels>,
    pub bytes: Family<KindLabels, sharded::Counter>,
    pub proxy_requests: Family<RouteRequestLabels, sharded::Counter>,
    pub proxy_duration: ShardedLatencies<RouteLabels>,
    pub proxy_bytes: Family<RouteLabels, sharded::Counter>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(sharded_latency),
            bytes: Family::default(),
            proxy_requests: Family::default(),
            proxy_duration: Family::new_with_constructor(sharded_latency),
            proxy_bytes: Family::default(),
        }
    }
}

impl HttpMetrics {
    /// One module-traffic answer: its kind, method, status, cache result, the time to its head
    /// and the body length it declares.
    pub fn answered(&self, labels: RequestLabels, took: Duration, bytes: Option<u64>) {
        let kind = KindLabels { kind: labels.kind };
        self.requests.get_or_create(&labels).inc();
        self.duration.get_or_create(&kind).observe(took.as_secs_f64());
        if let Some(n) = bytes {
            self.bytes.get_or_create(&kind).inc_by(n);
        }
    }

    /// A reverse-proxy route's series, looked up once when the route is built (they show from
    /// then on, at zero until it answers).
    pub fn route(&self, label: Arc<String>) -> RouteMetrics {
        let by_route = RouteLabels { route: Arc::clone(&label) };
        let get_ok = RouteRequestLabels { route: Arc::clone(&label), method: "GET", status: 200 };
        RouteMetrics {
            get_ok: self.proxy_requests.get_or_create(&get_ok).clone(),
            duration: self.proxy_duration.get_or_create(&by_route).clone(),
            bytes: self.proxy_bytes.get_or_create(&by_route).clone(),
            requests: self.proxy_requests.clone(),
            label,
        }
    }
}

/// A route's handles on its series: the answer most requests get (`GET`, 200), its latencies
/// and bytes are counted without a lookup in the families.
#[derive(Clone)]
pub struct RouteMetrics {
    /// The route's name as a label (shared, not copied per request).
    pub label: Arc<String>,
    get_ok: sharded::Counter,
    duration: sharded::Histogram,
    bytes: sharded::Counter,
    requests: Family<RouteRequestLabels, sharded::Counter>,
}

impl RouteMetrics {
    /// One proxied answer.
    pub fn proxied(&self, method: &'static str, status: u16, took: Duration, bytes: Option<u64>) {
        if method == "GET" && status == 200 {
            self.get_ok.inc();
        } else {
            let labels = RouteRequestLabels { route: Arc::clone(&self.label), method, status };
            self.requests.get_or_create(&labels).inc();
        }
        self.duration.observe(took.as_secs_f64());
        if let Some(n) = bytes {
            self.bytes.inc_by(n);
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FillLabels {
    pub kind: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// Fills: each run, how long it took and how large it was; the requests that joined one
/// already running; fills refused by verification, by reason.
#[derive(Clone)]
pub struct FillMetrics {
    pub fills: Family<FillLabels, Counter>,
    pub duration: Latencies<KindLabels>,
    pub size: Family<KindLabels, Histogram, fn() -> Histogram>,
    pub joined: Counter,
    pub verify_failures: Family<ReasonLabels, Counter>,
}

impl Default for FillMetrics {
    fn default() -> Self {
        Self {
            fills: Family::default(),
            duration: Family::new_with_constructor(latency),
            size: Family::new_with_constructor(sizes),
            joined: Counter::default(),
            verify_failures: Family::default(),
        }
    }
}

impl FillMetrics {
    /// One fill ended: its object kind, its outcome (`ok`, `not_found`, `failed`), and (when it
    /// committed) its size.
    pub fn ended(&self, kind: &'static str, outcome: &'static str, took: Duration, size: Option<u64>) {
        self.fills.get_or_create(&FillLabels { kind, outcome }).inc();
        self.duration.get_or_create(&KindLabels { kind }).observe(took.as_secs_f64());
        if let Some(n) = size {
            self.size.get_or_create(&KindLabels { kind }).observe(n as f64);
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub upstream: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamName {
    pub upstream: String,
}

/// Requests to upstream module proxies (each pool member on its own): by outcome (`ok`,
/// `not_found`, `refused`, `timeout`, `failed`), and their latency to the answer's head.
#[derive(Clone)]
pub struct UpstreamMetrics {
    pub requests: Family<UpstreamLabels, Counter>,
    pub latency: Latencies<UpstreamName>,
}

impl Default for UpstreamMetrics {
    fn default() -> Self {
        Self { requests: Family::default(), latency: Family::new_with_constructor(latency) }
    }
}

impl UpstreamMetrics {
    pub fn observed(&self, upstream: &str, outcome: &'static str, took: Duration) {
        let upstream = upstream.to_string();
        self.latency.get_or_create(&UpstreamName { upstream: upstream.clone() }).observe(took.as_secs_f64());
        self.requests.get_or_create(&UpstreamLabels { upstream, outcome }).inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub decision: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

/// When the certificates in force stop being valid, by file.
pub type CertExpiry = Family<CertLabels, Gauge>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CertLabels {
    pub certificate: String,
}

/// Who was let in: access decisions by outcome and reason (never by key or principal), requests
/// refused by the rate limit; connections and TLS handshakes.
#[derive(Clone, Default)]
pub struct EdgeMetrics {
    pub decisions: Family<DecisionLabels, Counter>,
    pub rate_limited: Counter,
    pub connections_open: Gauge,
    pub connections: Counter,
    pub tls_handshakes: Family<ResultLabels, Counter>,
    /// Set by the TLS termination when it loads certificates.
    pub cert_expiry: CertExpiry,
}

impl EdgeMetrics {
    pub fn decided(&self, allowed: bool, reason: &'static str) {
        let decision = if allowed { "allowed" } else { "denied" };
        self.decisions.get_or_create(&DecisionLabels { decision, reason }).inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GitLabels {
    pub command: String,
    pub result: &'static str,
}

/// git commands run for direct mode, by subcommand and result (`ok`, `failed`, `timeout`).
#[derive(Clone, Debug, Default)]
pub struct GitMetrics {
    pub commands: Family<GitLabels, Counter>,
}

impl GitMetrics {
    pub fn ran(&self, command: &str, result: &'static str) {
        // Only the subcommand, never its arguments: a bounded label set.
        let command = if command.chars().all(|c| c.is_ascii_lowercase() || c == '-') { command } else { "other" };
        self.commands.get_or_create(&GitLabels { command: command.to_string(), result }).inc();
    }
}

/// Every counting handle of one server, and the registry a scrape encodes.
pub struct Metrics {
    registry: Registry,
    pub http: HttpMetrics,
    pub fills: FillMetrics,
    pub upstreams: UpstreamMetrics,
    pub edge: EdgeMetrics,
    pub git: GitMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("modgate");
        let http = HttpMetrics::default();
        r.register(
            "requests",
            "Module-traffic requests answered, by endpoint kind, method, status and cache result",
            http.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from a request's arrival to its response head, by endpoint kind",
            http.duration.clone(),
        );
        r.register(
            "response_bytes",
            "Response body bytes declared (Content-Length), by endpoint kind",
            http.bytes.clone(),
        );
        r.register(
            "proxy_requests",
            "Reverse-proxied requests answered, by route, method and status",
            http.proxy_requests.clone(),
        );
        r.register(
            "proxy_request_duration_seconds",
            "Time from a proxied request's arrival to its response head, by route",
            http.proxy_duration.clone(),
        );
        r.register(
            "proxy_response_bytes",
            "Proxied response body bytes declared (Content-Length), by route",
            http.proxy_bytes.clone(),
        );
        let fills = FillMetrics::default();
        r.register("fills", "Fills from a source that ended, by object kind and outcome", fills.fills.clone());
        r.register("fill_duration_seconds", "How long fills took, by object kind", fills.duration.clone());
        r.register("fill_size_bytes", "Size of committed fills, by object kind", fills.size.clone());
        r.register("fill_joins", "Requests that joined a fill already running for their object", fills.joined.clone());
        r.register(
            "verification_failures",
            "Fills refused because they did not verify, by reason",
            fills.verify_failures.clone(),
        );
        let upstreams = UpstreamMetrics::default();
        r.register(
            "upstream_requests",
            "Requests to upstream module proxies, by upstream (pool members each) and outcome",
            upstreams.requests.clone(),
        );
        r.register(
            "upstream_latency_seconds",
            "Time to an upstream's answer head, by upstream",
            upstreams.latency.clone(),
        );
        let edge = EdgeMetrics::default();
        r.register("auth_decisions", "Access decisions, by outcome and reason", edge.decisions.clone());
        r.register("rate_limited", "Requests refused by the rate limit", edge.rate_limited.clone());
        r.register("connections_open", "Client connections open now", edge.connections_open.clone());
        r.register("connections", "Client connections accepted", edge.connections.clone());
        r.register("tls_handshakes", "TLS handshakes with clients, by result", edge.tls_handshakes.clone());
        r.register(
            "tls_certificate_not_after_seconds",
            "When each served certificate stops being valid (Unix time)",
            edge.cert_expiry.clone(),
        );
        let git = GitMetrics::default();
        r.register("git_commands", "git commands run for direct mode, by subcommand and result", git.commands.clone());
        Self { registry: r, http, fills, upstreams, edge, git }
    }

    /// The registry in the Prometheus text format, followed by `extra` (scrape-time readings).
    pub fn encode(&self, extra: Option<&Registry>) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        if let Some(extra) = extra {
            let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, extra);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_in_the_text_format() {
        let m = Metrics::new();
        let labels = RequestLabels { kind: "zip", method: "GET", status: 200, cache: "hit" };
        m.http.answered(labels.clone(), Duration::from_millis(3), Some(512));
        m.http.answered(labels, Duration::from_millis(3), Some(512));
        m.fills.ended("zip", "ok", Duration::from_millis(40), Some(2048));
        let text = m.encode(None);
        assert!(
            text.contains(r#"modgate_requests_total{kind="zip",method="GET",status="200",cache="hit"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"modgate_response_bytes_total{kind="zip"} 1024"#), "{text}");
        assert!(text.contains(r#"modgate_fills_total{kind="zip",outcome="ok"} 1"#), "{text}");
        assert!(text.contains(r#"modgate_fill_size_bytes_bucket{kind="zip",le="4096"} 1"#), "{text}");
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&http::Method::from_bytes(b"BREW").unwrap_or(http::Method::GET)), "other");
        assert_eq!(method_label(&http::Method::HEAD), "HEAD");
    }
}
