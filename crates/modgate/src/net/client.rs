//! The one outbound HTTP client: upstream proxies, `?go-get=1` discovery and `mod` sources all
//! go through it, so they share a connection pool, the timeouts, the redirect rules and the
//! egress proxy.

use super::egress::{is_loopback, matcher, EgressConnector};
use super::{error_chain, redact, NetError};
use crate::config::Egress;
use crate::obs::trace;
use bytes::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

type Inner = Client<hyper_rustls::HttpsConnector<EgressConnector>, http_body_util::Full<Bytes>>;

pub struct HttpClient {
    client: Inner,
    matcher: Arc<Matcher>,
    /// Limit for a server to start answering (connect + response headers).
    pub timeout: Duration,
    /// Limit between two chunks of a body.
    pub idle: Duration,
    /// Where requests to module proxies are counted (by the sources that make them).
    pub upstreams: crate::obs::metrics::UpstreamMetrics,
}

/// The answer to a GET after redirects: the final URL (credentials removed) and the response.
pub struct Answer {
    pub url: String,
    pub response: hyper::Response<hyper::body::Incoming>,
}

pub const MAX_REDIRECTS: usize = 10;

const USER_AGENT: &str = concat!("modgate/", env!("CARGO_PKG_VERSION"));

/// How every outbound connection is made: through the egress proxy when its rules say so, TLS
/// verified against the system's roots (else the public web's), HTTP/1.1 or h2 by ALPN.
pub fn connector(matcher: Arc<Matcher>, connect_timeout: Duration) -> hyper_rustls::HttpsConnector<EgressConnector> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        // A machine without a system trust store still gets the public web's roots.
        .unwrap_or_else(|_| hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(EgressConnector { http, matcher })
}

impl HttpClient {
    /// `spawner` decides where connection tasks run (see `rt::fill`).
    pub fn new(egress: &Egress, timeout: Duration, idle: Duration, spawner: crate::rt::Spawner) -> Self {
        let matcher = Arc::new(matcher(egress));
        let https = connector(Arc::clone(&matcher), timeout);
        let client =
            Client::builder(spawner).pool_idle_timeout(Duration::from_secs(90)).pool_max_idle_per_host(64).build(https);
        Self { client, matcher, timeout, idle, upstreams: Default::default() }
    }

    /// The client, counting module-proxy requests into `upstreams`.
    pub fn with_metrics(mut self, upstreams: crate::obs::metrics::UpstreamMetrics) -> Self {
        self.upstreams = upstreams;
        self
    }

    /// GET, with redirects followed the way the go command follows them: at most 10, never from
    /// https to http, and credentials in the URL sent only to the host they were written for.
    /// Every status other than a redirect is returned to the caller.
    pub async fn get(&self, url: &str) -> Result<Answer, NetError> {
        self.get_from(url, None).await
    }

    /// [`HttpClient::get`] of the bytes from offset `from` on (`Range: bytes=<from>-`), when
    /// given, and only if the object still matches a validator (`If-Range`), when given.
    pub async fn get_from(&self, url: &str, from: Option<(u64, Option<&str>)>) -> Result<Answer, NetError> {
        let mut url = url.to_string();
        let first_authority = authority_of(&url).to_string();
        for _ in 0..=MAX_REDIRECTS {
            let origin = redact(&url);
            let resp = self.get_once(&url, &origin, authority_of(&url) == first_authority, from).await?;
            let status = resp.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(Answer { url: origin, response: resp });
            }
            let loc = resp.headers().get(hyper::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
            let Some(loc) = loc else {
                return Err(NetError::Failed(format!("{origin}: {status} without a Location")));
            };
            let next = resolve_location(&url, &loc);
            if url.starts_with("https://") && !next.starts_with("https://") {
                return Err(NetError::Failed(format!("{origin}: refusing a redirect from https to {}", redact(&next))));
            }
            if !next.starts_with("https://") && !next.starts_with("http://") {
                return Err(NetError::Failed(format!("{origin}: refusing a redirect to {}", redact(&next))));
            }
            url = next;
        }
        Err(NetError::Failed(format!("{}: more than {MAX_REDIRECTS} redirects", redact(&url))))
    }

    /// One GET of `url`, its credentials sent only when `own_host` (the host they were written
    /// for), and the egress proxy's credentials for plain-HTTP requests sent through it.
    async fn get_once(
        &self,
        url: &str,
        origin: &str,
        own_host: bool,
        from: Option<(u64, Option<&str>)>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, NetError> {
        let uri: hyper::Uri = url.parse().map_err(|e| NetError::Failed(format!("{origin}: bad URL: {e}")))?;
        let mut req = hyper::Request::get(strip_userinfo(&uri)).header("user-agent", USER_AGENT);
        if let Some((from, validator)) = from {
            req = req.header("range", format!("bytes={from}-"));
            if let Some(v) = validator {
                req = req.header("if-range", v);
            }
        }
        if let Some(auth) = basic_auth(&uri).filter(|_| own_host) {
            req = req.header("authorization", auth);
        }
        if uri.scheme_str() == Some("http") && !uri.host().is_some_and(is_loopback) {
            if let Some(auth) = self.matcher.intercept(&uri).and_then(|i| i.basic_auth().cloned()) {
                req = req.header("proxy-authorization", auth);
            }
        }
        let mut req = req
            .body(http_body_util::Full::new(Bytes::new()))
            .map_err(|e| NetError::Failed(format!("{origin}: {e}")))?;
        let span = trace::client_span("GET upstream", "GET", origin);
        trace::inject(&span, req.headers_mut());
        let start = std::time::Instant::now();
        let sent = tokio::time::timeout(self.timeout, self.client.request(req)).instrument(span.clone()).await;
        match sent {
            Err(_) => {
                trace::failed(&span, "timeout");
                Err(NetError::Timeout(format!("{origin}: no answer within {:?}", self.timeout)))
            }
            Ok(Err(e)) => {
                let e = format!("{origin}: {}", error_chain(&e));
                trace::failed(&span, &e);
                Err(NetError::Failed(e))
            }
            Ok(Ok(r)) => {
                trace::answered(&span, r.status().as_u16());
                // Fields are evaluated only when debug is on.
                tracing::debug!(
                    url = %origin,
                    status = r.status().as_u16(),
                    version = ?r.version(),
                    ms = start.elapsed().as_secs_f64() * 1e3,
                    "upstream answered"
                );
                Ok(r)
            }
        }
    }

    /// PUT `body` with extra headers (no redirects followed); the status and the answer's body
    /// (at most 64 KiB).
    pub async fn put(&self, url: &str, body: Bytes, headers: &[(&str, String)]) -> Result<(u16, Bytes), NetError> {
        let mut all = vec![("content-type", "application/zip".to_string())];
        all.extend(headers.iter().cloned());
        self.call("PUT", url, body, &all, 64 * 1024).await
    }

    /// One request with `method`, `body` and extra headers (no redirects followed); the status
    /// and the answer's body (at most `limit` bytes).
    pub async fn call(
        &self,
        method: &str,
        url: &str,
        body: Bytes,
        headers: &[(&str, String)],
        limit: u64,
    ) -> Result<(u16, Bytes), NetError> {
        let origin = redact(url);
        let uri: hyper::Uri = url.parse().map_err(|e| NetError::Failed(format!("{origin}: bad URL: {e}")))?;
        let mut req =
            hyper::Request::builder().method(method).uri(strip_userinfo(&uri)).header("user-agent", USER_AGENT);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let mut req =
            req.body(http_body_util::Full::new(body)).map_err(|e| NetError::Failed(format!("{origin}: {e}")))?;
        let span =
            trace::client_span(if method == "PUT" { "PUT upstream" } else { "request upstream" }, method, &origin);
        trace::inject(&span, req.headers_mut());
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .instrument(span.clone())
            .await
            .map_err(|_| NetError::Timeout(format!("{origin}: no answer within {:?}", self.timeout)))?
            .map_err(|e| NetError::Failed(format!("{origin}: {}", error_chain(&e))))?;
        let status = resp.status().as_u16();
        trace::answered(&span, status);
        let body = super::body::collect(resp.into_body(), self.idle, origin, limit).await;
        Ok((status, body.unwrap_or_default()))
    }
}

fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let auth = rest.split('/').next().unwrap_or("");
    auth.rsplit_once('@').map(|(_, h)| h).unwrap_or(auth)
}

fn basic_auth(uri: &hyper::Uri) -> Option<String> {
    use base64::Engine as _;
    let (userinfo, _) = uri.authority()?.as_str().rsplit_once('@')?;
    let decoded = percent_encoding::percent_decode_str(userinfo).decode_utf8_lossy().into_owned();
    Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(decoded)))
}

fn strip_userinfo(uri: &hyper::Uri) -> hyper::Uri {
    let Some(auth) = uri.authority() else { return uri.clone() };
    let Some((_, host)) = auth.as_str().rsplit_once('@') else { return uri.clone() };
    let mut parts = uri.clone().into_parts();
    parts.authority = host.parse().ok();
    hyper::Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
}

/// Resolves a `Location` header against the URL it came from.
fn resolve_location(current: &str, loc: &str) -> String {
    if loc.contains("://") {
        return loc.to_string();
    }
    let (scheme, rest) = current.split_once("://").unwrap_or(("https", current));
    if let Some(net) = loc.strip_prefix("//") {
        return format!("{scheme}://{net}");
    }
    let authority = rest.split('/').next().unwrap_or("");
    if loc.starts_with('/') {
        return format!("{scheme}://{authority}{loc}");
    }
    let path = &rest[authority.len()..];
    let path = path.split('?').next().unwrap_or(path);
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{scheme}://{authority}{dir}{loc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let cur = "https://p.example/base/m/@v/v1.0.0.zip";
        assert_eq!(resolve_location(cur, "https://cdn.example/x"), "https://cdn.example/x");
        assert_eq!(resolve_location(cur, "//cdn.example/x"), "https://cdn.example/x");
        assert_eq!(resolve_location(cur, "/blob/1"), "https://p.example/blob/1");
        assert_eq!(resolve_location(cur, "v1.0.0.bin"), "https://p.example/base/m/@v/v1.0.0.bin");
        assert_eq!(resolve_location("https://h.example/a/b?go-get=1", "c"), "https://h.example/a/c");
        assert_eq!(authority_of("https://u:p@p.example:8443/x"), "p.example:8443");
        let uri: hyper::Uri = "https://u:p%40ss@p.example/x".parse().unwrap();
        assert_eq!(basic_auth(&uri).unwrap(), "Basic dTpwQHNz");
        assert_eq!(strip_userinfo(&uri).to_string(), "https://p.example/x");
    }
}
