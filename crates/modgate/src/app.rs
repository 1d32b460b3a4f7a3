//! Wiring: an [`App`] built from a [`Config`] — the stores, the sources and the route table,
//! the module service on top of them, and the access rules. The server takes a built App; the
//! HTTP layer serves it. Nothing here runs on its own.

use crate::auth::Auth;
use crate::config::{Config, RouteSource, Storage};
use crate::coord::{Leases, Redis, SharedMeta};
use crate::net::{redact_text, HttpClient};
use crate::obs::metrics::GitMetrics;
use crate::proxy::{ChecksumHook, Hooks, ModuleService, NoChecksums, Parts, Routes, Settings};
use crate::rt::FillRuntime;
use crate::source::direct::{Direct, DirectSettings};
use crate::source::list::Chain;
use crate::source::pool::Pool;
use crate::source::SharedSource;
use crate::store::cached::CachedObjects;
use crate::store::local::LocalObjects;
use crate::store::local_meta::LocalMeta;
use crate::store::s3::S3Objects;
use crate::store::{MetaStore, ObjectStore};
use crate::sumdb::{ChecksumDbs, OwnLog, Pinning, SumdbChecks};
use anyhow::Context as _;
use arc_swap::ArcSwap;
use gomod::proxylist::{Entry, ProxySpec};
use std::sync::Arc;

mod reload;
pub use reload::{Live, ReloadReport};

/// What the admin status shows of the configuration (credentials removed).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The default upstream list, as written.
    pub upstream: String,
    /// `patterns -> source` for each route.
    pub routes: Vec<String>,
    /// Where committed objects live: `local <dir>` or `s3://bucket/prefix (endpoint)`.
    pub storage: String,
    /// Each route's patterns and source, in order (what the catalog says serves a module).
    pub rules: Vec<(String, String)>,
}

impl Summary {
    /// What serves `module`: the first route whose patterns match it, else the upstream list.
    pub fn source_of(&self, module: &str) -> &str {
        self.rules
            .iter()
            .find(|(patterns, _)| gomod::glob::match_prefix_patterns(patterns, module))
            .map_or(self.upstream.as_str(), |(_, source)| source.as_str())
    }
}

pub struct App {
    pub modules: Arc<ModuleService>,
    /// The checksum databases proxied (and used to verify fills); `None` when there are none.
    pub sumdb: Option<Arc<ChecksumDbs>>,
    /// Keys, policy and audit; `None` when `[auth]` is not configured (everyone may read).
    pub auth: Option<Arc<Auth>>,
    pub summary: ArcSwap<Summary>,
    /// The upstream pools the routes use (their members' health is shown in the admin status).
    pub pools: ArcSwap<Vec<Arc<Pool>>>,
    /// `[[proxy]]` routes: HTTP services behind the same front door.
    pub revproxy: crate::revproxy::Table,
    /// Every counting handle, and the registry `/metrics` encodes.
    pub metrics: Arc<crate::obs::metrics::Metrics>,
    /// `[metrics]`: whether `/metrics` answers, and to whom.
    pub metrics_config: Arc<ArcSwap<crate::config::MetricsConfig>>,
    /// The connection limits in force (read for each new connection).
    pub limits: ArcSwap<crate::config::Limits>,
    /// What a reload needs: the configuration in force and the parts it rebuilds with.
    pub live: reload::Live,
    /// The Redis replicas coordinate through, when `[coordination]` names one.
    pub redis: Option<Arc<Redis>>,
    /// The catalog, activity, ledger and jobs the admin API shows.
    pub admin: Arc<crate::admin::Admin>,
    /// Request targets parsed, counted in debug builds (tests show each request is parsed once).
    #[cfg(debug_assertions)]
    parses: std::sync::atomic::AtomicU64,
}

impl App {
    /// An application over a module service built elsewhere (tests, embedding).
    pub fn new(modules: Arc<ModuleService>, auth: Option<Arc<Auth>>, summary: Summary) -> Self {
        Self {
            modules,
            sumdb: None,
            auth,
            summary: ArcSwap::from_pointee(summary),
            pools: Default::default(),
            revproxy: Default::default(),
            metrics: Default::default(),
            metrics_config: Default::default(),
            limits: ArcSwap::from_pointee(crate::config::Limits::default()),
            live: Default::default(),
            redis: None,
            admin: Arc::new(crate::admin::Admin::in_memory()),
            #[cfg(debug_assertions)]
            parses: Default::default(),
        }
    }

    /// Everything the configuration asks for, on the local disk.
    pub fn build(cfg: &Config) -> anyhow::Result<Self> {
        let dir = &cfg.data_dir;
        let objects = objects(cfg)?;
        let meta = LocalMeta::open(dir).context("reading the published-versions index")?;
        let metrics = Arc::new(crate::obs::metrics::Metrics::new());
        let fill_rt = FillRuntime::start().context("starting the fill runtime")?;
        let http = HttpClient::new(&cfg.egress, cfg.upstream_timeout, cfg.upstream_idle_timeout, fill_rt.spawner());
        let http = Arc::new(http.with_metrics(metrics.upstreams.clone()));
        let pools: Vec<_> = cfg.pools.iter().map(|p| Pool::start(p.clone(), &http)).collect();
        Direct::clean_scratch(&cfg.data_dir.join("git"));
        let direct = direct_for(cfg, &http, &metrics.git);
        let routes = routes(cfg, &http, &pools, direct.as_ref());
        let (meta, leases, redis) = coordination(cfg, Arc::new(meta))?;
        let auth = match &cfg.auth {
            Some(a) => Some(Auth::new(a.clone(), metrics.edge.clone()).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let alarm = crate::sumdb::Alarm { auth: auth.clone() };
        let (sumdb, checksums, checks) = checksum_dbs(cfg, &http, &objects, &meta, alarm)?;
        let admin = Arc::new(crate::admin::Admin::open(&dir.join("admin")));
        admin.gc_settings.store(Arc::new(gc_settings(cfg)));
        // The ledger hears of every commit, after the checks that may refuse it.
        let checksums: Arc<dyn ChecksumHook> = Arc::new(Hooks(vec![checksums, admin.ledger.clone()]));
        let settings = settings(cfg);
        let fill_metrics = metrics.fills.clone();
        let fill_rt = Some(fill_rt);
        let parts = Parts { objects, meta, routes, checksums, fill_rt, settings, fill_metrics, leases };
        let mut app = Self::new(Arc::new(ModuleService::new(parts)), auth, summary(cfg));
        app.sumdb = sumdb;
        if let (Some(r), Storage::S3(_)) = (&redis, &cfg.storage) {
            let _ = admin.gc_shared.set(Arc::clone(r));
        }
        app.redis = redis;
        app.admin = admin;
        app.pools = ArcSwap::from_pointee(pools);
        app.live = Live::new(cfg.clone(), Arc::clone(&http), direct, checks, metrics.git.clone());
        app.metrics = metrics;
        app.metrics_config = Arc::new(ArcSwap::from_pointee(cfg.metrics));
        app.limits = ArcSwap::from_pointee(cfg.limits.clone());
        app.revproxy = crate::revproxy::Table::new(
            crate::revproxy::ReverseProxy::build(&cfg.proxies, &app.metrics.http).map_err(anyhow::Error::msg)?,
        );
        Ok(app)
    }

    /// Counts one parse of a request target (debug builds).
    pub fn count_parse(&self) {
        #[cfg(debug_assertions)]
        self.parses.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Request targets parsed so far (debug builds; always 0 in release builds).
    pub fn parses(&self) -> u64 {
        #[cfg(debug_assertions)]
        return self.parses.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(debug_assertions))]
        return 0;
    }
}

/// Where committed objects live: the local disk, or a bucket (with a local cache in front,
/// unless it is sized 0).
fn objects(cfg: &Config) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let dir = &cfg.data_dir;
    let s = match &cfg.storage {
        Storage::Local => {
            let local = LocalObjects::open(dir).with_context(|| format!("opening data dir {}", dir.display()))?;
            return Ok(Arc::new(local));
        }
        Storage::S3(s) => s,
    };
    let bucket = S3Objects::open(s, dir, &cfg.egress).with_context(|| format!("opening bucket {}", s.bucket))?;
    if s.local_cache_bytes == 0 {
        return Ok(Arc::new(bucket));
    }
    let cached = CachedObjects::new(Arc::new(bucket), &dir.join("bucket-cache"), s.local_cache_bytes)
        .context("opening the bucket's local cache")?;
    Ok(Arc::new(cached))
}

/// The metadata store, the fill leases and the Redis behind them: with `[coordination]`, the
/// metadata is shared through Redis (written through to the local disk), and fills are taken in
/// turn with the other replicas when the objects live in a shared bucket.
#[allow(clippy::type_complexity)]
fn coordination(
    cfg: &Config,
    local: Arc<dyn MetaStore>,
) -> anyhow::Result<(Arc<dyn MetaStore>, Option<Arc<Leases>>, Option<Arc<Redis>>)> {
    let Some(c) = &cfg.coordination else { return Ok((local, None, None)) };
    let redis = Redis::connect(c).with_context(|| format!("connecting to {}", crate::net::redact(&c.redis)))?;
    let meta: Arc<dyn MetaStore> = Arc::new(SharedMeta::new(Arc::clone(&redis), local));
    let shared_store = matches!(cfg.storage, Storage::S3(_));
    let leases = shared_store.then(|| Arc::new(Leases::new(Arc::clone(&redis))));
    Ok((meta, leases, Some(redis)))
}

/// The checksum databases (when any is configured), the hook fills are verified with, and the
/// database checks inside it (whose patterns a reload updates).
type Checksums = (Option<Arc<ChecksumDbs>>, Arc<dyn ChecksumHook>, Option<Arc<SumdbChecks>>);

/// The module service's tunables from a configuration.
fn settings(cfg: &Config) -> Settings {
    Settings {
        list_ttl: cfg.list_ttl,
        negative_ttl: cfg.negative_ttl,
        memory_bytes: cfg.memory_cache_bytes,
        prefetch: cfg.prefetch,
        publish_max_bytes: cfg.publish_max_bytes,
    }
}

/// The checksum databases, and the hook that verifies fills against the configured one.
fn checksum_dbs(
    cfg: &Config,
    http: &Arc<HttpClient>,
    objects: &Arc<dyn ObjectStore>,
    meta: &Arc<dyn MetaStore>,
    alarm: crate::sumdb::Alarm,
) -> anyhow::Result<Checksums> {
    let c = &cfg.checksum_db;
    let own = match &c.own {
        Some(name) => Some(Arc::new(
            OwnLog::open(&cfg.data_dir.join("sumdb-own"), name)
                .map_err(|e| anyhow::anyhow!("the own checksum log: {e}"))?,
        )),
        None => None,
    };
    if c.all().next().is_none() && own.is_none() {
        return Ok((None, Arc::new(NoChecksums), None));
    }
    let (private, unverified) = never_looked_up(cfg);
    let mut dbs = ChecksumDbs::new(c, http, &cfg.upstream, Arc::clone(objects), Arc::clone(meta), private)
        .map_err(anyhow::Error::msg)?;
    dbs.own = own.clone();
    dbs.alarm = alarm.clone();
    let dbs = Arc::new(dbs);
    let mut hooks: Vec<Arc<dyn ChecksumHook>> = Vec::new();
    let mut sumdb_checks = None;
    if let (Some(db), true) = (&c.database, c.verify) {
        if let Some(checks) = SumdbChecks::new(Arc::clone(&dbs), &db.name, unverified) {
            let checks = Arc::new(checks);
            sumdb_checks = Some(Arc::clone(&checks));
            hooks.push(checks);
        }
    }
    if let Some(own) = own {
        hooks.push(Arc::new(Pinning(own, alarm)));
    }
    let hook: Arc<dyn ChecksumHook> = match hooks.len() {
        0 => Arc::new(NoChecksums),
        1 => hooks.remove(0),
        _ => Arc::new(Hooks(hooks)),
    };
    Ok((Some(dbs), hook, sumdb_checks))
}

/// The modules never named to a checksum database (the configured patterns, and those whose
/// route only reaches their own repositories), and those whose route turned verification off.
fn never_looked_up(cfg: &Config) -> (String, String) {
    let mut private = vec![cfg.checksum_db.private.clone()];
    let mut unverified = Vec::new();
    for r in &cfg.routes {
        if let RouteSource::Chain { specs, .. } = &r.source {
            if specs.iter().all(|s| matches!(s.entry, Entry::Direct | Entry::Off)) {
                private.push(r.modules.clone());
            }
        }
        if !r.verify_checksums {
            unverified.push(r.modules.clone());
        }
    }
    let private = private.into_iter().filter(|p| !p.trim().is_empty()).collect::<Vec<_>>().join(",");
    (private, unverified.join(","))
}

/// What garbage collection needs of a configuration: the limit, and the modules never evicted
/// (those never looked up in a checksum database are private: they may exist nowhere else).
fn gc_settings(cfg: &Config) -> crate::admin::GcSettings {
    crate::admin::GcSettings { max_bytes: cfg.cache_max_bytes, private: never_looked_up(cfg).0 }
}

fn uses_direct(specs: &[ProxySpec]) -> bool {
    specs.iter().any(|s| s.entry == Entry::Direct)
}

/// The direct-mode source, when any list names `direct`.
fn direct_for(cfg: &Config, http: &Arc<HttpClient>, git_metrics: &GitMetrics) -> Option<Arc<Direct>> {
    let any_direct = uses_direct(&cfg.upstream)
        || cfg.routes.iter().any(|r| matches!(&r.source, RouteSource::Chain { specs, .. } if uses_direct(specs)));
    any_direct.then(|| {
        let settings = DirectSettings {
            root: cfg.data_dir.join("git"),
            mappings: cfg.direct_repos.clone(),
            credentials: cfg.git_credentials.clone(),
            insecure: cfg.direct_insecure.clone(),
            egress_env: crate::net::egress::child_env(&cfg.egress),
            timeout: cfg.git_timeout,
            fresh: cfg.list_ttl,
            mirror_idle: cfg.mirror_idle,
            git_metrics: git_metrics.clone(),
        };
        Arc::new(Direct::new(settings, Arc::clone(http)))
    })
}

/// The route table: each `[[route]]` with its own list, the default list for the rest, all
/// sharing one HTTP client and (when any list names `direct`) one direct-mode source.
fn routes(cfg: &Config, http: &Arc<HttpClient>, pools: &[Arc<Pool>], direct: Option<&Arc<Direct>>) -> Routes {
    let chain = |specs: &[ProxySpec]| -> SharedSource { Arc::new(Chain::build(specs, http, direct, pools)) };
    let mut routes = Routes::new(chain(&cfg.upstream));
    for r in &cfg.routes {
        let source = match &r.source {
            RouteSource::Deny => None,
            RouteSource::Chain { specs, .. } => Some(chain(specs)),
        };
        routes = routes.rule(&r.modules, source);
    }
    routes
}

fn summary(cfg: &Config) -> Summary {
    let rules: Vec<(String, String)> = cfg
        .routes
        .iter()
        .map(|r| {
            let src = match &r.source {
                RouteSource::Deny => "deny".to_string(),
                RouteSource::Chain { raw, .. } => redact_text(raw),
            };
            (r.modules.clone(), src)
        })
        .collect();
    let routes = rules.iter().map(|(m, src)| format!("{m} -> {src}")).collect();
    let storage = match &cfg.storage {
        Storage::Local => format!("local {}", cfg.data_dir.join("cache").display()),
        Storage::S3(s) => format!("s3://{}/{} ({})", s.bucket, s.prefix, s.endpoint.as_deref().unwrap_or("AWS")),
    };
    Summary { upstream: redact_text(&cfg.upstream_raw), routes, storage, rules }
}
