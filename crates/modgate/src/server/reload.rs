//! Signals: SIGTERM/SIGINT stop the server gracefully; SIGHUP — and any change to a watched
//! file (polled, so it works on every filesystem and for files replaced by rename) — reloads
//! what can be reloaded: TLS certificates, API keys and the policy; SIGHUP also reloads the
//! `[[proxy]]` routes and their backends, swapped whole (a request in flight finishes on the
//! routes it started with; a configuration that does not load leaves the routes in force).

use super::tls::Tls;
use super::ConfigSource;
use crate::app::App;
use crate::auth::Auth;
use std::sync::Arc;
use std::time::Duration;

#[cfg(unix)]
pub type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
pub type Hangup = Option<()>;

/// The SIGHUP handler, installed now so no signal sent after start-up is missed.
pub fn hangup() -> Hangup {
    #[cfg(unix)]
    return tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    #[cfg(not(unix))]
    return None;
}

/// Loads the configuration again and swaps in its proxy routes.
fn reload_routes(app: &App, source: &ConfigSource) {
    let built = source().and_then(|cfg| crate::revproxy::ReverseProxy::build(&cfg.proxies));
    match built {
        Ok(routes) => {
            let n = routes.routes().len();
            app.revproxy.swap(routes);
            tracing::info!(reason = "SIGHUP", routes = n, "proxy routes reloaded");
        }
        Err(e) => {
            tracing::error!(reason = "SIGHUP", error = %e, "configuration refused; the proxy routes in force stay")
        }
    }
}

pub async fn reloader(
    tls: Option<Arc<Tls>>,
    auth: Option<Arc<Auth>>,
    routes: Option<(Arc<App>, ConfigSource)>,
    hup: Hangup,
) {
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
                if let Some((app, source)) = &routes { reload_routes(app, source) }
            }
            _ = tick.tick() => {
                if let Some(t) = &tls { t.reload_if_changed() }
                if let Some(a) = &auth { a.reload_if_changed() }
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn terminated() {
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
