//! The listener: our own accept loop over hyper-util (HTTP/1.1 and h2c), connection limits,
//! and graceful shutdown — stop accepting, let in-flight requests finish up to a deadline.

use crate::config::Config;
use crate::service::Service;
use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// A server started in this process (tests and embedding); `stop` shuts it down gracefully.
pub struct Running {
    pub addr: SocketAddr,
    pub service: Arc<Service>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Binds the listener and builds the service.
pub async fn bind(cfg: &Config) -> anyhow::Result<(TcpListener, Arc<Service>)> {
    let service = Arc::new(Service::new(cfg)?);
    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    Ok((listener, service))
}

/// Starts a server on a background task.
pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    let (listener, service) = bind(&cfg).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let svc = service.clone();
    let timeout = cfg.shutdown_timeout;
    let limits = cfg.limits.clone();
    let tls = match &cfg.tls {
        Some(t) => Some(crate::tls::Tls::new(t.clone()).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let task = tokio::spawn(async move {
        serve(
            listener,
            svc,
            async move {
                let _ = rx.await;
            },
            timeout,
            tls,
            limits,
        )
        .await
    });
    Ok(Running { addr, service, stop: Some(tx), task })
}

/// hyper's HTTP/1 header-count limit when none is set (its `DEFAULT_MAX_HEADERS`).
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Longest a client may take over the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves until `shutdown` completes, then drains connections for up to `drain`. With `tls`,
/// every connection is a TLS one, configured by whatever is in force when it arrives.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    tls: Option<Arc<crate::tls::Tls>>,
    limits: crate::config::Limits,
) {
    let router = crate::http::router(Arc::clone(&service));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    // hyper's own limit is 100 headers; naming it explicitly makes hyper size its header
    // buffers per request at run time (`smallvec![..; n]`), a measurable cost on warm hits.
    if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        builder.http1().max_headers(limits.max_headers);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_concurrent_streams(256)
        // Idle HTTP/2 connections are pinged, and closed when the peer stops answering.
        .keep_alive_interval(Some(limits.header_read_timeout))
        .keep_alive_timeout(Duration::from_secs(20));
    // Connections served at once; the rest wait in the listen backlog.
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::error!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let Some(tls) = &tls else {
                    let svc = Front { router: router.clone(), service: Arc::clone(&service), cert: None };
                    let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        drop(permit);
                    });
                    continue;
                };
                let acceptor = tls.acceptor();
                let (router, service, builder) = (router.clone(), Arc::clone(&service), builder.clone());
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    // A verified client certificate travels with every request of the connection.
                    let cert = crate::tls::peer_subject(stream.get_ref().1).map(crate::tls::ClientCert);
                    let svc = Front { router, service, cert };
                    let conn = builder.serve_connection(TokioIo::new(stream), svc).into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tracing::info!(drain_secs = drain.as_secs(), "shutting down: no longer accepting; draining in-flight requests");
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(drain) => tracing::warn!("drain deadline reached; closing remaining connections"),
    }
}

/// Every connection's request handler: warm small objects take the HTTP layer's hot path
/// (`http::fast_hit`), everything else the router with its full checks.
#[derive(Clone)]
struct Front {
    router: axum::Router,
    service: Arc<Service>,
    /// The connection's verified client certificate, carried into every request.
    cert: Option<crate::tls::ClientCert>,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Front {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures::future::Either<
        std::future::Ready<Result<Self::Response, Self::Error>>,
        axum::routing::future::RouteFuture<std::convert::Infallible>,
    >;

    fn call(&self, mut req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        if let Some(c) = &self.cert {
            req.extensions_mut().insert(c.clone());
        }
        if let Some(resp) = crate::http::fast_hit(&self.service, &req) {
            return futures::future::Either::Left(std::future::ready(Ok(resp)));
        }
        // The router is always ready (axum documents `poll_ready` as a no-op), and cloning it
        // is a reference count.
        let mut router = self.router.clone();
        futures::future::Either::Right(tower_service::Service::call(&mut router, req))
    }
}

/// The plain-HTTP listener beside TLS when it only redirects: 308 to the same path over HTTPS,
/// except the health checks, which load balancers probe over plain HTTP.
async fn redirect_plain(listener: TcpListener, https_port: u16, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => return,
        };
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| async move {
            Ok::<_, std::convert::Infallible>(redirect_response(&req, https_port))
        });
        tokio::spawn(async move {
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(TokioTimer::new()).header_read_timeout(Duration::from_secs(10)).keep_alive(false);
            let _ = b.serve_connection(TokioIo::new(stream), svc).await;
        });
    }
}

fn redirect_response(req: &hyper::Request<hyper::body::Incoming>, https_port: u16) -> hyper::Response<String> {
    let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut resp = hyper::Response::new(String::new());
    if path == "/healthz" {
        *resp.body_mut() = "ok\n".into();
        return resp;
    }
    // The host the client used, without its port, when it is a well-formed authority.
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .filter(|a| !a.as_str().contains('@'))
        .map(|a| a.host().to_string());
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        *resp.status_mut() = hyper::StatusCode::BAD_REQUEST;
        *resp.body_mut() = "use https\n".into();
        return resp;
    };
    if !path.starts_with('/') {
        *resp.status_mut() = hyper::StatusCode::BAD_REQUEST;
        *resp.body_mut() = "use https\n".into();
        return resp;
    }
    let port = if https_port == 443 { String::new() } else { format!(":{https_port}") };
    *resp.status_mut() = hyper::StatusCode::PERMANENT_REDIRECT;
    if let Ok(v) = hyper::header::HeaderValue::from_str(&format!("https://{host}{port}{path}")) {
        resp.headers_mut().insert(hyper::header::LOCATION, v);
    }
    *resp.body_mut() = "use https\n".into();
    resp
}

/// Reloads what can be reloaded: on SIGHUP, and when a watched file changes (polled, so it
/// works on every filesystem and for files replaced by rename).
#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

async fn reloader(tls: Option<Arc<crate::tls::Tls>>, auth: Option<Arc<crate::auth::Auth>>, hup: Hangup) {
    #[cfg(unix)]
    let mut hup = hup;
    #[cfg(not(unix))]
    let _ = hup;
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hup_recv = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup_recv = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = hup_recv => {
                if let Some(t) = &tls { t.reload("SIGHUP") }
                if let Some(a) = &auth { a.reload("SIGHUP") }
            }
            _ = tick.tick() => {
                if let Some(t) = &tls { t.reload_if_changed() }
                if let Some(a) = &auth { a.reload_if_changed() }
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the server until a signal: what `modgate serve` does.
pub async fn run(cfg: Config) -> anyhow::Result<()> {
    let (listener, service) = bind(&cfg).await?;
    let addr = listener.local_addr()?;
    let upstream = crate::upstream::redact(&cfg.upstream_raw);
    if cfg.upstream.iter().any(|s| s.entry == gomod::proxylist::Entry::Direct) {
        tracing::info!(
            "direct mode: modules not found upstream are fetched from their git repositories (mappings, hosting patterns, go-get discovery)"
        );
    }
    if !service.has_sources() {
        tracing::warn!(upstream = %upstream, "no upstream proxy is configured: only cached modules will be served");
    }
    tracing::info!(addr = %addr, data_dir = %cfg.data_dir.display(), upstream = %upstream, tls = cfg.tls.is_some(), auth = cfg.auth.is_some(), version = env!("CARGO_PKG_VERSION"), "listening");
    let tls = match &cfg.tls {
        Some(t) => Some(crate::tls::Tls::new(t.clone()).map_err(anyhow::Error::msg)?),
        None => None,
    };
    // One shutdown signal for every listener.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    tokio::spawn(async move {
        signal().await;
        let _ = stop_tx.send(true);
    });
    if let Some(t) = cfg.tls.as_ref().filter(|t| t.plain_listen.is_some()) {
        let plain_addr = t.plain_listen.unwrap_or(addr);
        let plain = TcpListener::bind(plain_addr).await.with_context(|| format!("binding {plain_addr}"))?;
        let https_port = addr.port();
        tracing::info!(addr = %plain.local_addr()?, redirect = t.redirect_plain, "plain HTTP listener");
        if t.redirect_plain {
            tokio::spawn(redirect_plain(plain, https_port, stopped()));
        } else {
            let (svc, drain, limits) = (Arc::clone(&service), cfg.shutdown_timeout, cfg.limits.clone());
            let stop = stopped();
            tokio::spawn(async move { serve(plain, svc, stop, drain, None, limits).await });
        }
    }
    if tls.is_some() || service.auth.is_some() {
        // The SIGHUP handler is in place before the first connection is accepted.
        #[cfg(unix)]
        let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        #[cfg(not(unix))]
        let hup = None;
        tokio::spawn(reloader(tls.clone(), service.auth.clone(), hup));
    }
    serve(listener, service, stopped(), cfg.shutdown_timeout, tls, cfg.limits.clone()).await;
    Ok(())
}
