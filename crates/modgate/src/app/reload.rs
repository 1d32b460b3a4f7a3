//! Reloading the whole configuration while serving (SIGHUP, `POST /-/admin/reload`). Everything
//! a reload can change is built first — pools, the route table with its sources, the proxy
//! routes — and only when all of it builds is it swapped in, each part whole: a request or a
//! fill keeps the parts it started with. A configuration that does not load or build changes
//! nothing. Settings that only a restart can change are compared with the ones the process
//! started with and reported, never silently ignored.
//!
//! Which modules are private to the checksum database follows the routes. While the routes
//! are swapped, the union of the old and new private patterns is in force, so no module is
//! named to the database by a request that saw the other table.

use super::{direct_for, gc_settings, never_looked_up, routes, settings, summary, App};
use crate::config::{Config, ConfigSource};
use crate::net::HttpClient;
use crate::obs::metrics::GitMetrics;
use crate::source::direct::Direct;
use crate::source::pool::Pool;
use crate::sumdb::SumdbChecks;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, OnceLock};

/// What a reload works from: the configuration the process started with, the parts a reload
/// reuses, and where the configuration is read again.
#[derive(Default)]
pub struct Live {
    built: Mutex<Option<Built>>,
    source: OnceLock<ConfigSource>,
    last: Mutex<Option<ReloadReport>>,
}

struct Built {
    /// As loaded at start: what the settings a restart needs are compared with.
    started: Config,
    /// As last applied: what the direct-mode source was built from.
    applied: Config,
    http: Arc<HttpClient>,
    direct: Option<Arc<Direct>>,
    checks: Option<Arc<SumdbChecks>>,
    git: GitMetrics,
}

impl Live {
    pub(super) fn new(
        cfg: Config,
        http: Arc<HttpClient>,
        direct: Option<Arc<Direct>>,
        checks: Option<Arc<SumdbChecks>>,
        git: GitMetrics,
    ) -> Self {
        let built = Built { started: cfg.clone(), applied: cfg, http, direct, checks, git };
        Self { built: Mutex::new(Some(built)), ..Self::default() }
    }
}

/// How the last reload went, for the log, `/-/admin/status` and `POST /-/admin/reload`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReloadReport {
    /// `SIGHUP` or `admin`.
    pub trigger: &'static str,
    pub at: String,
    /// Whether the new configuration is in force.
    pub applied: bool,
    /// Why it was refused (the configuration in force stays).
    pub error: Option<String>,
    /// Settings that differ from the ones in force and take a restart to change.
    pub restart_needed: Vec<&'static str>,
}

fn differs<T: Debug>(a: &T, b: &T) -> bool {
    format!("{a:?}") != format!("{b:?}")
}

/// The settings a running process cannot change, where `new` differs from `started`.
fn restart_needed(started: &Config, new: &Config) -> Vec<&'static str> {
    let auth = |c: &Config| c.auth.clone().map(|a| crate::config::AuthSettings { key_rate: 0.0, key_burst: 0.0, ..a });
    let checks: [(&'static str, bool); 16] = [
        ("listen", started.listen != new.listen),
        ("data_dir", started.data_dir != new.data_dir),
        ("storage", started.storage != new.storage),
        ("coordination", started.coordination != new.coordination),
        ("tls", differs(&started.tls, &new.tls)),
        ("auth", differs(&auth(started), &auth(new))),
        ("checksum_db", differs(&started.checksum_db, &new.checksum_db)),
        ("log_format", started.log_format != new.log_format),
        ("cache.memory_mb", started.memory_cache_bytes != new.memory_cache_bytes),
        ("egress", differs(&started.egress, &new.egress)),
        ("limits.max_connections", started.limits.max_connections != new.limits.max_connections),
        ("upstream_timeout", started.upstream_timeout != new.upstream_timeout),
        ("upstream_idle_timeout", started.upstream_idle_timeout != new.upstream_idle_timeout),
        ("shutdown_timeout", started.shutdown_timeout != new.shutdown_timeout),
        ("metrics.listen", started.metrics.listen != new.metrics.listen),
        ("tracing", started.tracing != new.tracing),
    ];
    checks.into_iter().filter(|(_, d)| *d).map(|(name, _)| name).collect()
}

/// Whether two configurations build the same direct-mode source.
fn same_direct(a: &Config, b: &Config) -> bool {
    let key = |c: &Config| {
        format!(
            "{:?}{:?}{:?}{:?}{:?}{:?}",
            c.direct_repos, c.git_credentials, c.direct_insecure, c.git_timeout, c.list_ttl, c.mirror_idle
        )
    };
    key(a) == key(b)
}

fn union(a: &str, b: &str) -> String {
    [a, b].into_iter().filter(|p| !p.trim().is_empty()).collect::<Vec<_>>().join(",")
}

impl App {
    /// Where `reload_from_source` reads the configuration again (set once, at start).
    pub fn set_config_source(&self, source: ConfigSource) {
        let _ = self.live.source.set(source);
    }

    /// The last reload's report, if there was one.
    pub fn last_reload(&self) -> Option<ReloadReport> {
        self.live.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the configuration again and applies it (reading may run the go command for its
    /// defaults: call from a blocking context).
    pub fn reload_from_source(&self, trigger: &'static str) -> ReloadReport {
        let loaded = match self.live.source.get() {
            Some(source) => source(),
            None => Err("this server was not started from a configuration it can read again".to_string()),
        };
        let report = match loaded {
            Ok(cfg) => self.reload(cfg, trigger),
            Err(e) => refused(trigger, e, Vec::new()),
        };
        if report.applied {
            tracing::info!(trigger, restart_needed = ?report.restart_needed, "configuration reloaded");
        } else {
            let error = report.error.as_deref().unwrap_or("");
            tracing::error!(trigger, error, "configuration refused; the one in force stays");
        }
        if !report.restart_needed.is_empty() {
            tracing::warn!(settings = ?report.restart_needed, "these settings changed and take effect only after a restart");
        }
        // The level changes last, so the lines above are written at the level they were asked at.
        if report.applied {
            self.apply_log_level();
        }
        *self.live.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(report.clone());
        report
    }

    /// `reload_from_source`, off the runtime's workers.
    pub async fn reload_in_background(self: &Arc<Self>, trigger: &'static str) -> ReloadReport {
        let app = Arc::clone(self);
        match tokio::task::spawn_blocking(move || app.reload_from_source(trigger)).await {
            Ok(report) => report,
            Err(e) => refused(trigger, format!("the reload task failed: {e}"), Vec::new()),
        }
    }

    /// Applies `cfg`: builds what it needs, then swaps each part in.
    pub fn reload(&self, cfg: Config, trigger: &'static str) -> ReloadReport {
        let mut guard = self.live.built.lock().unwrap_or_else(|p| p.into_inner());
        let Some(built) = guard.as_mut() else {
            return refused(trigger, "this server was not built from a configuration".into(), Vec::new());
        };
        let restart = restart_needed(&built.started, &cfg);
        let proxies = match crate::revproxy::ReverseProxy::build(&cfg.proxies, &self.metrics.http) {
            Ok(p) => p,
            Err(e) => return refused(trigger, e, restart),
        };
        let direct = match same_direct(&built.applied, &cfg) {
            true => built.direct.clone(),
            false => direct_for(&cfg, &built.http, &built.git),
        };
        let pools: Vec<_> = cfg.pools.iter().map(|p| Pool::start(p.clone(), &built.http)).collect();
        let table = routes(&cfg, &built.http, &pools, direct.as_ref());
        let (old_private, old_unverified) = never_looked_up(&built.applied);
        let (private, unverified) = never_looked_up(&cfg);
        self.set_privacy(built, union(&old_private, &private), union(&old_unverified, &unverified));
        self.modules.reconfigure(table, settings(&cfg));
        self.pools.store(Arc::new(pools));
        self.summary.store(Arc::new(summary(&cfg)));
        self.revproxy.swap(proxies);
        // Where metrics answer is a listener: that changes with a restart only.
        let listen = built.started.metrics.listen;
        self.metrics_config.store(Arc::new(crate::config::MetricsConfig { listen, ..cfg.metrics }));
        self.limits.store(Arc::new(cfg.limits.clone()));
        if let Some(a) = &self.auth {
            a.set_rates(cfg.limits.key_rate, cfg.limits.key_burst);
        }
        self.admin.gc_settings.store(Arc::new(gc_settings(&cfg)));
        self.set_privacy(built, private, unverified);
        built.direct = direct;
        built.applied = cfg;
        ReloadReport { trigger, at: crate::time::now_rfc3339(), applied: true, error: None, restart_needed: restart }
    }

    /// Puts the log level of the configuration in force into effect.
    pub fn apply_log_level(&self) {
        let built = self.live.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = built.as_ref() {
            if let Err(e) = crate::obs::log::set_level(&b.applied.log_level) {
                tracing::error!(error = %e, "the log level could not be changed");
            }
        }
    }

    fn set_privacy(&self, built: &Built, private: String, unverified: String) {
        if let Some(dbs) = &self.sumdb {
            dbs.set_private(private);
        }
        if let Some(c) = &built.checks {
            c.set_unverified(unverified);
        }
    }
}

fn refused(trigger: &'static str, error: String, restart_needed: Vec<&'static str>) -> ReloadReport {
    ReloadReport { trigger, at: crate::time::now_rfc3339(), applied: false, error: Some(error), restart_needed }
}
