//! Where outbound traffic goes: straight out, or through the forward proxy of `[egress]`, else
//! of the usual `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY`/`NO_PROXY` variables. `https://`
//! destinations are tunnelled with CONNECT; `http://` ones are sent to the proxy in absolute
//! form. Loopback destinations never go through a proxy, as with the go command.

use crate::config::Egress;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// The proxy rules of the settings, or of the environment when they name no proxy.
pub fn matcher(egress: &Egress) -> Matcher {
    match &egress.proxy {
        Some(p) => Matcher::builder().all(p.clone()).no(egress.no_proxy.clone()).build(),
        None => Matcher::from_env(),
    }
}

/// Environment for child processes (git) so they use the same proxy; empty when the proxy
/// comes from the environment, which they inherit anyway.
pub fn child_env(egress: &Egress) -> Vec<(String, String)> {
    match &egress.proxy {
        None => Vec::new(),
        Some(p) => vec![
            ("http_proxy".into(), p.clone()),
            ("https_proxy".into(), p.clone()),
            ("HTTPS_PROXY".into(), p.clone()),
            ("no_proxy".into(), egress.no_proxy.clone()),
            ("NO_PROXY".into(), egress.no_proxy.clone()),
        ],
    }
}

pub fn is_loopback(host: &str) -> bool {
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
    pub(super) http: HttpConnector,
    pub(super) matcher: Arc<Matcher>,
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(child_env(&Egress::default()).is_empty());
        let e = Egress { proxy: Some("http://proxy.corp.example:3128".into()), no_proxy: "corp.example".into() };
        let env = child_env(&e);
        assert!(env.contains(&("https_proxy".into(), "http://proxy.corp.example:3128".into())));
        assert!(env.contains(&("no_proxy".into(), "corp.example".into())));
    }
}
