//! The one outbound HTTP client: upstream proxies, `?go-get=1` discovery and `mod` sources all
//! go through it, so they share a connection pool, the timeouts, the redirect rules and the
//! egress proxy.
//!
//! Egress proxy: `[egress] proxy` in the config, else the usual `HTTPS_PROXY`/`HTTP_PROXY`/
//! `ALL_PROXY`/`NO_PROXY` variables. `https://` destinations are tunnelled with CONNECT; `http://`
//! ones are sent to the proxy in absolute form. Loopback destinations never go through a proxy,
//! as with the go command.

use crate::upstream::{redact, FetchError};
use bytes::Bytes;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;

/// Where outbound traffic goes: straight out, or through a forward proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Egress {
    /// `http://[user:pass@]host:port` of a forward proxy; `None` reads the environment.
    pub proxy: Option<String>,
    /// Hosts and domains (NO_PROXY syntax) reached without the proxy.
    pub no_proxy: String,
}

impl Egress {
    fn matcher(&self) -> Matcher {
        match &self.proxy {
            Some(p) => Matcher::builder().all(p.clone()).no(self.no_proxy.clone()).build(),
            None => Matcher::from_env(),
        }
    }

    /// Environment for child processes (git) so they use the same proxy; empty when the proxy
    /// comes from the environment, which they inherit anyway.
    pub fn child_env(&self) -> Vec<(String, String)> {
        match &self.proxy {
            None => Vec::new(),
            Some(p) => vec![
                ("http_proxy".into(), p.clone()),
                ("https_proxy".into(), p.clone()),
                ("HTTPS_PROXY".into(), p.clone()),
                ("no_proxy".into(), self.no_proxy.clone()),
                ("NO_PROXY".into(), self.no_proxy.clone()),
            ],
        }
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// A TCP connection, straight or to a proxy; a plain-HTTP connection to a proxy says so, so
/// that requests on it are sent in absolute form.
pub struct EgressStream {
    inner: TokioIo<TcpStream>,
    via_proxy: bool,
}

impl Connection for EgressStream {
    fn connected(&self) -> Connected {
        let c = self.inner.connected();
        if self.via_proxy {
            c.proxy(true)
        } else {
            c
        }
    }
}

impl hyper::rt::Read for EgressStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for EgressStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Connects straight, to an HTTP proxy, or through a CONNECT tunnel, per destination.
#[derive(Clone)]
pub struct EgressConnector {
    http: HttpConnector,
    matcher: Arc<Matcher>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tower_service::Service<hyper::Uri> for EgressConnector {
    type Response = EgressStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<EgressStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, dst: hyper::Uri) -> Self::Future {
        let mut http = self.http.clone();
        let intercept = if dst.host().is_some_and(is_loopback) { None } else { self.matcher.intercept(&dst) };
        Box::pin(async move {
            let Some(proxy) = intercept else {
                let inner = tower_service::Service::call(&mut http, dst).await?;
                return Ok(EgressStream { inner, via_proxy: false });
            };
            if dst.scheme_str() == Some("https") {
                let mut tunnel = hyper_util::client::legacy::connect::proxy::Tunnel::new(proxy.uri().clone(), http);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let inner = tower_service::Service::call(&mut tunnel, dst)
                    .await
                    .map_err(|e| -> BoxError { format!("egress proxy tunnel: {e}").into() })?;
                Ok(EgressStream { inner, via_proxy: false })
            } else {
                let inner = tower_service::Service::call(&mut http, proxy.uri().clone()).await?;
                Ok(EgressStream { inner, via_proxy: true })
            }
        })
    }
}

type Inner = Client<hyper_rustls::HttpsConnector<EgressConnector>, http_body_util::Full<Bytes>>;

pub struct HttpClient {
    client: Inner,
    matcher: Arc<Matcher>,
    /// Limit for a server to start answering (connect + response headers).
    pub timeout: Duration,
    /// Limit between two chunks of a body.
    pub idle: Duration,
}

/// The answer to a GET after redirects: the final URL (credentials removed) and the response.
pub struct Answer {
    pub url: String,
    pub response: hyper::Response<hyper::body::Incoming>,
}

pub const MAX_REDIRECTS: usize = 10;

impl HttpClient {
    /// `spawner` decides where connection tasks run (see `fillrt`).
    pub fn new(egress: &Egress, timeout: Duration, idle: Duration, spawner: crate::fillrt::Spawner) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let matcher = Arc::new(egress.matcher());
        let connector = EgressConnector { http, matcher: Arc::clone(&matcher) };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            // A machine without a system trust store still gets the public web's roots.
            .unwrap_or_else(|_| hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        let client =
            Client::builder(spawner).pool_idle_timeout(Duration::from_secs(90)).pool_max_idle_per_host(64).build(https);
        Self { client, matcher, timeout, idle }
    }

    /// GET, with redirects followed the way the go command follows them: at most 10, never from
    /// https to http, and credentials in the URL sent only to the host they were written for.
    /// Every status other than a redirect is returned to the caller.
    pub async fn get(&self, url: &str) -> Result<Answer, FetchError> {
        let mut url = url.to_string();
        let first_authority = authority_of(&url).to_string();
        for _ in 0..=MAX_REDIRECTS {
            let origin = redact(&url);
            let uri: hyper::Uri = url.parse().map_err(|e| FetchError::Failed(format!("{origin}: bad URL: {e}")))?;
            let mut req = hyper::Request::get(strip_userinfo(&uri))
                .header("user-agent", concat!("modgate/", env!("CARGO_PKG_VERSION")));
            if let Some(auth) = basic_auth(&uri) {
                if authority_of(&url) == first_authority {
                    req = req.header("authorization", auth);
                }
            }
            if uri.scheme_str() == Some("http") && !uri.host().is_some_and(is_loopback) {
                if let Some(auth) = self.matcher.intercept(&uri).and_then(|i| i.basic_auth().cloned()) {
                    req = req.header("proxy-authorization", auth);
                }
            }
            let req = req
                .body(http_body_util::Full::new(Bytes::new()))
                .map_err(|e| FetchError::Failed(format!("{origin}: {e}")))?;
            let resp = match tokio::time::timeout(self.timeout, self.client.request(req)).await {
                Err(_) => return Err(FetchError::Timeout(format!("{origin}: no answer within {:?}", self.timeout))),
                Ok(Err(e)) => return Err(FetchError::Failed(format!("{origin}: {}", error_chain(&e)))),
                Ok(Ok(r)) => r,
            };
            let status = resp.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(Answer { url: origin, response: resp });
            }
            let loc = resp.headers().get(hyper::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
            let Some(loc) = loc else {
                return Err(FetchError::Failed(format!("{origin}: {status} without a Location")));
            };
            let next = resolve_location(&url, &loc);
            if url.starts_with("https://") && !next.starts_with("https://") {
                return Err(FetchError::Failed(format!(
                    "{origin}: refusing a redirect from https to {}",
                    redact(&next)
                )));
            }
            if !next.starts_with("https://") && !next.starts_with("http://") {
                return Err(FetchError::Failed(format!("{origin}: refusing a redirect to {}", redact(&next))));
            }
            url = next;
        }
        Err(FetchError::Failed(format!("{}: more than {MAX_REDIRECTS} redirects", redact(&url))))
    }
}

impl HttpClient {
    /// PUT `body` with extra headers (no redirects followed); the status and the answer's body
    /// (at most 64 KiB).
    pub async fn put(&self, url: &str, body: Bytes, headers: &[(&str, String)]) -> Result<(u16, Bytes), FetchError> {
        let origin = redact(url);
        let uri: hyper::Uri = url.parse().map_err(|e| FetchError::Failed(format!("{origin}: bad URL: {e}")))?;
        let mut req = hyper::Request::put(strip_userinfo(&uri))
            .header("user-agent", concat!("modgate/", env!("CARGO_PKG_VERSION")))
            .header("content-type", "application/zip");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req =
            req.body(http_body_util::Full::new(body)).map_err(|e| FetchError::Failed(format!("{origin}: {e}")))?;
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| FetchError::Timeout(format!("{origin}: no answer within {:?}", self.timeout)))?
            .map_err(|e| FetchError::Failed(format!("{origin}: {}", error_chain(&e))))?;
        let status = resp.status().as_u16();
        let body = crate::upstream::Body::Http { body: resp.into_body(), idle: self.idle, origin };
        Ok((status, body.collect(64 * 1024).await.unwrap_or_default()))
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

pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
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

    #[test]
    fn loopback_is_never_proxied() {
        for h in ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "[::1]", "::1"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["corp.example", "10.0.0.1", "localhost.example"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn child_env_follows_the_config() {
        assert!(Egress::default().child_env().is_empty());
        let e = Egress { proxy: Some("http://proxy.corp.example:3128".into()), no_proxy: "corp.example".into() };
        let env = e.child_env();
        assert!(env.contains(&("https_proxy".into(), "http://proxy.corp.example:3128".into())));
        assert!(env.contains(&("no_proxy".into(), "corp.example".into())));
    }
}
