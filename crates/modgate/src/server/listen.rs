//! The listener: our own accept loop over hyper-util (HTTP/1.1 and HTTP/2, over TLS or in the
//! clear), the connection cap, and graceful shutdown — stop accepting, let in-flight requests
//! finish up to a deadline.

use super::framing::guard;
use super::front::Front;
use super::stall::SendLimit;
use super::tls::Tls;
use crate::app::App;
use crate::config::Limits;
use crate::obs::metrics::{EdgeMetrics, ResultLabels};
use crate::revproxy::outgoing::ConnInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use prometheus_client::metrics::gauge::Gauge;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// hyper's HTTP/1 header-count limit when none is set (its `DEFAULT_MAX_HEADERS`).
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// Longest a client may take over the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection settings: header timeout and sizes, HTTP/2 streams and keep-alive.
fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
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
    builder
}

/// Serves until `shutdown` completes, then drains connections for up to `drain`. With `tls`,
/// every connection is a TLS one, configured by whatever is in force when it arrives.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    tls: Option<Arc<Tls>>,
    limits: Limits,
) {
    serve_front(listener, Front::new(app, None, tls.is_some()), shutdown, drain, tls, limits).await
}

/// The metrics listener (`[metrics] listen`): plain HTTP, `/metrics` and the health endpoints.
pub async fn serve_metrics(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>, drain: Duration) {
    let limits = app.limits.load_full().as_ref().clone();
    let front = Front { metrics_only: true, ..Front::new(app, None, false) };
    serve_front(listener, front, shutdown, drain, None, limits).await
}

async fn serve_front(
    listener: TcpListener,
    front: Front,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    tls: Option<Arc<Tls>>,
    limits: Limits,
) {
    // Rebuilt when a reload changes the limits; connections keep the ones they started with.
    let mut in_force = front.app.limits.load_full();
    let mut builder = connection_builder(&in_force);
    // Connections served at once; the rest wait in the listen backlog.
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let conns = Connections::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let open = Open::new(&front.app.metrics.edge);
        let now = front.app.limits.load();
        if !Arc::ptr_eq(&now, &in_force) {
            in_force = arc_swap::Guard::into_inner(now);
            builder = connection_builder(&in_force);
        }
        let held = (permit, open);
        let send_timeout = in_force.send_timeout;
        match &tls {
            None => conns.plain(stream, peer, &front, &builder, send_timeout, held),
            Some(tls) => {
                let stream = SendLimit::new(stream, send_timeout);
                let conn = TlsConnection { stream, peer, front: front.clone(), builder: builder.clone() };
                let watcher = conns.graceful.watcher();
                let acceptor = tls.acceptor();
                tokio::spawn(async move {
                    conn.serve(acceptor, watcher).await;
                    drop(held);
                });
            }
        }
    }
    drop(listener);
    conns.drain(drain).await;
}

/// The connections being served, and what a shutdown tells them.
struct Connections {
    graceful: GracefulShutdown,
    /// Turns true when the server shuts down: the relay's connections (plain HTTP/1 with
    /// proxy routes) close between requests.
    stop: tokio::sync::watch::Sender<bool>,
    relays: tokio_util::task::TaskTracker,
}

impl Connections {
    fn new() -> Self {
        let (stop, _) = tokio::sync::watch::channel(false);
        Self { graceful: GracefulShutdown::new(), stop, relays: tokio_util::task::TaskTracker::new() }
    }

    /// Serves a plain connection: through the relay first when requests may be forwarded.
    fn plain(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        front: &Front,
        builder: &auto::Builder<TokioExecutor>,
        send_timeout: Duration,
        held: impl Send + 'static,
    ) {
        let front = Front { conn: ConnInfo { peer: Some(peer), tls: false }, ..front.clone() };
        if relayed(&front) {
            let conn = super::relay::Conn {
                front,
                builder: builder.clone(),
                watcher: self.graceful.watcher(),
                stop: self.stop.subscribe(),
                main: tokio::runtime::Handle::current(),
                held,
            };
            let relays = self.relays.clone();
            super::relay::workers::run(stream, move |io| Box::pin(relays.track_future(super::relay::serve(io, conn))));
            return;
        }
        let io = guard(SendLimit::new(stream, send_timeout), &front.app);
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), front).into_owned();
        let conn = self.graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(held);
        });
    }

    /// Stops the connections between requests and waits up to `drain` for them to end.
    async fn drain(self, drain: Duration) {
        tracing::info!(drain_secs = drain.as_secs(), "shutting down: no longer accepting; draining in-flight requests");
        let _ = self.stop.send(true);
        self.relays.close();
        let drained = async {
            self.graceful.shutdown().await;
            self.relays.wait().await;
        };
        tokio::select! {
            _ = drained => tracing::info!("all connections closed"),
            _ = tokio::time::sleep(drain) => tracing::warn!("drain deadline reached; closing remaining connections"),
        }
    }
}

/// A client connection counted open from its accept until its end.
struct Open(Gauge);

impl Open {
    fn new(edge: &EdgeMetrics) -> Self {
        edge.connections.inc();
        edge.connections_open.inc();
        Self(edge.connections_open.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Whether a plain connection goes to the HTTP/1 relay first: there are proxy routes, this is
/// not the metrics listener, and requests are not traced (the relay makes no spans).
fn relayed(front: &Front) -> bool {
    !front.metrics_only && !crate::obs::trace::on() && front.app.revproxy.get().is_some()
}

/// An accepted connection that still has to complete its TLS handshake.
struct TlsConnection {
    stream: SendLimit<TcpStream>,
    peer: SocketAddr,
    front: Front,
    builder: auto::Builder<TokioExecutor>,
}

impl TlsConnection {
    async fn serve(self, acceptor: tokio_rustls::TlsAcceptor, watcher: hyper_util::server::graceful::Watcher) {
        let peer = self.peer;
        let shakes = &self.front.app.metrics.edge.tls_handshakes;
        let shaken = |result| shakes.get_or_create(&ResultLabels { result }).inc();
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(self.stream)).await {
            Ok(Ok(s)) => {
                shaken("ok");
                s
            }
            Ok(Err(e)) => {
                shaken("failed");
                return tracing::debug!(%peer, error = %e, "TLS handshake failed");
            }
            Err(_) => {
                shaken("timeout");
                return tracing::debug!(%peer, "TLS handshake timed out");
            }
        };
        // A verified client certificate travels with every request of the connection.
        let cert = super::tls::peer_subject(stream.get_ref().1).map(crate::auth::ClientCert);
        let front = Front { cert, conn: ConnInfo { peer: Some(peer), tls: true }, ..self.front };
        let io = guard(stream, &front.app);
        let conn = self.builder.serve_connection_with_upgrades(TokioIo::new(io), front).into_owned();
        if let Err(e) = watcher.watch(conn).await {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}
