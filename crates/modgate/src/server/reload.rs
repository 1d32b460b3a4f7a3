//! Signals: SIGTERM/SIGINT stop the server gracefully; SIGHUP — and any change to a watched
//! file (polled, so it works on every filesystem and for files replaced by rename) — reloads
//! what can be reloaded: TLS certificates, API keys and the policy; SIGHUP also reloads the
//! whole configuration (`App::reload_from_source`: upstreams, routes, pools, proxy routes,
//! limits, log level, prefetch, cache lifetimes; a configuration that does not load changes
//! nothing).

use super::tls::Tls;
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

pub async fn reloader(tls: Option<Arc<Tls>>, auth: Option<Arc<Auth>>, app: Option<Arc<App>>, hup: Hangup) {
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
                if let Some(app) = &app { App::reload_in_background(app, "SIGHUP").await; }
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
