//! Running an [`App`]: the listener and its connections (`listen`, `front`), TLS (`tls`), the
//! plain-HTTP redirect (`plain`), signals and reloads (`reload`).

pub mod framing;
pub mod front;
pub mod listen;
pub mod plain;
pub mod relay;
pub mod reload;
mod stall;
mod strict;
pub mod tls;

use crate::app::App;
use crate::config::{Config, ConfigError};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tls::Tls;
use tokio::net::TcpListener;

/// Checks what the configuration names but does not hold — TLS certificates and keys, the API
/// keys file and the policy — as a start would load them. Errors point at the section's line.
pub fn check(cfg: &Config) -> Result<(), ConfigError> {
    if let Some(t) = &cfg.tls {
        tls::check(t).map_err(|(key, e)| cfg.error("tls", key, e))?;
    }
    if let Some(a) = &cfg.auth {
        crate::auth::check_files(a).map_err(|(key, e)| cfg.error("auth", key, e))?;
    }
    for r in &cfg.proxies {
        crate::revproxy::client::build(&r.tls, r.timeout)
            .map_err(|e| ConfigError(format!("config: proxy {:?}: tls: {e}", r.name)))?;
    }
    Ok(())
}

pub use crate::config::ConfigSource;

fn tls_for(cfg: &Config, app: &App) -> anyhow::Result<Option<Arc<Tls>>> {
    match &cfg.tls {
        Some(t) => Ok(Some(Tls::new(t.clone(), app.metrics.edge.cert_expiry.clone()).map_err(anyhow::Error::msg)?)),
        None => Ok(None),
    }
}

/// A server started in this process (tests and embedding); `stop` shuts it down gracefully.
pub struct Running {
    pub addr: SocketAddr,
    /// The metrics listener's address, with `[metrics] listen`.
    pub metrics_addr: Option<SocketAddr>,
    pub app: Arc<App>,
    /// Turns true to stop every listener (dropping it does too).
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Builds the application and binds its listener.
async fn bind(cfg: &Config) -> anyhow::Result<(Arc<App>, TcpListener, SocketAddr)> {
    let app = Arc::new(App::build(cfg)?);
    app.admin.start(&app.modules).await;
    let listener = TcpListener::bind(cfg.listen).await.with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    Ok((app, listener, addr))
}

/// Builds the application and starts serving it on a background task.
pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    start_with(cfg, None).await
}

/// `start`, with where `POST /-/admin/reload` reads the configuration again.
pub async fn start_with(cfg: Config, source: Option<ConfigSource>) -> anyhow::Result<Running> {
    let (app, listener, addr) = bind(&cfg).await?;
    if let Some(s) = source {
        app.set_config_source(s);
    }
    let tls = tls_for(&cfg, &app)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = stopped_by(stop_rx);
    let metrics_addr = serve_metrics_listener(&cfg, &app, stopped()).await?;
    let serving = listen::serve(listener, Arc::clone(&app), stopped(), cfg.shutdown_timeout, tls, cfg.limits);
    let (modules, admin) = (Arc::clone(&app.modules), Arc::clone(&app.admin));
    let task = tokio::spawn(async move {
        serving.await;
        modules.settle().await;
        save_activity(&admin);
    });
    Ok(Running { addr, metrics_addr, app, stop: stop_tx, task })
}

/// Runs the server until SIGTERM or SIGINT: what `modgate serve` does.
pub async fn run(cfg: Config, source: Option<ConfigSource>) -> anyhow::Result<()> {
    let (app, listener, addr) = bind(&cfg).await?;
    announce(&cfg, &app, addr);
    let tls = tls_for(&cfg, &app)?;
    // One shutdown signal for every listener.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = stopped_by(stop_rx);
    tokio::spawn(async move {
        reload::terminated().await;
        let _ = stop_tx.send(true);
    });
    serve_metrics_listener(&cfg, &app, stopped()).await?;
    if let Some(t) = cfg.tls.as_ref().filter(|t| t.plain_listen.is_some()) {
        let plain_addr = t.plain_listen.unwrap_or(addr);
        let plain = TcpListener::bind(plain_addr).await.with_context(|| format!("binding {plain_addr}"))?;
        tracing::info!(addr = %plain.local_addr()?, redirect = t.redirect_plain, "plain HTTP listener");
        if t.redirect_plain {
            tokio::spawn(plain::redirect_plain(plain, addr.port(), stopped()));
        } else {
            let serving =
                listen::serve(plain, Arc::clone(&app), stopped(), cfg.shutdown_timeout, None, cfg.limits.clone());
            tokio::spawn(serving);
        }
    }
    // The SIGHUP handler is in place before the first connection is accepted.
    let reloadable = source.map(|s| {
        app.set_config_source(s);
        Arc::clone(&app)
    });
    tokio::spawn(reload::reloader(tls.clone(), app.auth.clone(), reloadable, reload::hangup()));
    let (modules, admin) = (Arc::clone(&app.modules), Arc::clone(&app.admin));
    listen::serve(listener, app, stopped(), cfg.shutdown_timeout, tls, cfg.limits.clone()).await;
    // Objects already answered from memory reach the store before the process ends.
    modules.settle().await;
    save_activity(&admin);
    Ok(())
}

/// The last figures of what was served, saved on the way out.
fn save_activity(admin: &crate::admin::Admin) {
    if let Err(e) = admin.activity.save() {
        tracing::warn!(error = %e, "could not save the activity");
    }
}

/// A future per listener that completes when `rx` turns true.
fn stopped_by(
    rx: tokio::sync::watch::Receiver<bool>,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    move || {
        let mut rx = rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|s| *s).await;
        })
    }
}

/// Starts the metrics listener when `[metrics] listen` names one; its address.
async fn serve_metrics_listener(
    cfg: &Config,
    app: &Arc<App>,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<SocketAddr>> {
    let Some(at) = cfg.metrics.listen else { return Ok(None) };
    let listener = TcpListener::bind(at).await.with_context(|| format!("binding the metrics listener {at}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(addr = %addr, "metrics listener: /metrics, /healthz and /readyz");
    tokio::spawn(listen::serve_metrics(listener, Arc::clone(app), stopped, cfg.shutdown_timeout));
    Ok(Some(addr))
}

/// The start-up lines: where modgate listens, what it serves from and where that came from,
/// and which checksum database it verifies against.
fn announce(cfg: &Config, app: &App, addr: SocketAddr) {
    let upstream = crate::net::redact(&cfg.upstream_raw);
    let from = cfg.upstream_origin.as_str();
    if cfg.upstream.iter().any(|s| s.entry == gomod::proxylist::Entry::Direct) {
        tracing::info!(
            "direct mode: modules not found upstream are fetched from their git repositories (mappings, hosting patterns, go-get discovery)"
        );
    }
    if from == "default" {
        tracing::warn!(
            "no upstream is configured and no go command said which to use: only direct is configured; set `upstream` in the config file, --upstream or $GOPROXY (e.g. https://proxy.corp.example,direct)"
        );
    }
    if !app.modules.routes().can_answer() {
        tracing::warn!(upstream = %upstream, "no upstream proxy is configured: only cached modules will be served");
    }
    announce_sumdb(cfg);
    if let Some(own) = app.sumdb.as_ref().and_then(|d| d.own.as_ref()) {
        tracing::info!(key = %own.verifier.encode(), records = own.size(), "own checksum log: served at /sumdb/{}/; clients set GOSUMDB=\"<key> <this server>/sumdb/{}\"", own.name, own.name);
    }
    tracing::info!(addr = %addr, data_dir = %cfg.data_dir.display(), upstream = %upstream, upstream_from = %from, tls = cfg.tls.is_some(), auth = cfg.auth.is_some(), version = env!("CARGO_PKG_VERSION"), "listening");
}

fn announce_sumdb(cfg: &Config) {
    let c = &cfg.checksum_db;
    match &c.database {
        None => tracing::info!(from = %c.origin, "checksum database: off (fills are not verified against one)"),
        Some(db) if db.key.is_none() => tracing::warn!(
            database = %db.name, from = %c.origin,
            "checksum database: proxied, but its key is unknown, so fills are not verified; write [checksum_db] database = \"<name>+<hash>+<key>\""
        ),
        Some(db) => tracing::info!(
            database = %db.name, from = %c.origin, verify = c.verify, private = %c.private,
            "checksum database: proxied at /sumdb/{}/ and {}", db.name,
            if c.verify { "every fill is verified against it" } else { "fills are not verified (verify = false)" }
        ),
    }
}
