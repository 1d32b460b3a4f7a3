//! What operators see and do beyond serving modules: the catalog of what is cached, the
//! activity (who was served what, and when), the ledger of committed hashes and re-verifies,
//! and the background jobs they start (warming the cache from a go.sum, re-verifying it).
//! `http/handler/admin/` is its HTTP face; the quarantine lives with the module service
//! (`proxy/quarantine.rs`), since serving must obey it.

pub mod activity;
pub mod catalog;
pub mod gc;
pub mod jobs;
pub mod ledger;
mod work;

pub use activity::{Activity, Answer};
pub use catalog::Catalog;
pub use gc::{GcReport, GcSettings};
pub use jobs::{JobView, Jobs};
pub use ledger::Ledger;

use crate::proxy::ModuleService;
use arc_swap::ArcSwap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often the shared quarantine is read again (and garbage collection considered).
const TICK: Duration = Duration::from_secs(5);
/// The activity is saved every this many ticks.
const SAVE_EVERY: u32 = 6;
/// Garbage collection runs this often, and sooner when the store's own count is over the
/// limit, but not more often than `GC_GAP`.
const GC_EVERY: Duration = Duration::from_secs(300);
const GC_GAP: Duration = Duration::from_secs(30);

pub struct Admin {
    pub activity: Activity,
    pub ledger: Arc<Ledger>,
    pub jobs: Jobs,
    pub catalog: Catalog,
    /// `[cache] max_size` and the private patterns (a reload replaces them).
    pub gc_settings: ArcSwap<GcSettings>,
    pub gc_counters: gc::GcCounters,
    /// The last collection that was carried out.
    pub gc_last: Mutex<Option<GcReport>>,
    /// Replicas sharing one bucket: the Redis through which one of them takes each round of
    /// garbage collection (set once at build).
    pub gc_shared: std::sync::OnceLock<Arc<crate::coord::Redis>>,
}

impl Admin {
    /// Everything in memory (tests, embedding).
    pub fn in_memory() -> Self {
        Self::with(Activity::in_memory(), Ledger::in_memory())
    }

    /// Kept under `dir` (`<data_dir>/admin`).
    pub fn open(dir: &std::path::Path) -> Self {
        Self::with(Activity::open(dir), Ledger::open(dir))
    }

    fn with(activity: Activity, ledger: Ledger) -> Self {
        Self {
            activity,
            ledger: Arc::new(ledger),
            jobs: Jobs::default(),
            catalog: Catalog::default(),
            gc_settings: ArcSwap::from_pointee(GcSettings::default()),
            gc_counters: Default::default(),
            gc_last: Mutex::new(None),
            gc_shared: std::sync::OnceLock::new(),
        }
    }

    /// Whether this replica takes this round of collection: always when it has the store to
    /// itself; among replicas sharing a bucket, the one that sets the round's key in Redis (each
    /// alone while Redis is down: deleting twice is harmless).
    async fn gc_round(&self) -> bool {
        let Some(redis) = self.gc_shared.get() else { return true };
        let mut set = redis::cmd("SET");
        set.arg(redis.key("gc", "round")).arg(1).arg("NX").arg("PX").arg(GC_GAP.as_millis() as u64);
        match redis.run::<Option<String>>(&set).await {
            Some(taken) => taken.is_some(),
            None => true,
        }
    }

    /// Whether a collection is due: a limit is set, the last run is `GC_GAP` old, and either
    /// the store's own count is over the limit or `GC_EVERY` has passed.
    fn gc_due(&self, modules: &ModuleService, last: Option<Instant>) -> bool {
        let Some(limit) = self.gc_settings.load().max_bytes else { return false };
        let since = last.map(|t| t.elapsed());
        if since.is_some_and(|s| s < GC_GAP) {
            return false;
        }
        let over = modules.objects().usage().is_some_and(|u| u.counted && u.bytes > limit);
        over || since.is_none_or(|s| s >= GC_EVERY)
    }

    /// Reads the quarantine, then every few seconds reads it again (other replicas may have
    /// changed it), saves the activity now and then, and collects garbage when due, for as long
    /// as the admin state lives.
    pub async fn start(self: &Arc<Self>, modules: &Arc<ModuleService>) {
        if let Err(e) = modules.load_quarantine().await {
            tracing::error!(error = %e, "could not read the quarantine; none is in force until it can be read");
        }
        let (me, modules) = (Arc::downgrade(self), Arc::downgrade(modules));
        tokio::spawn(tick(me, modules));
    }
}

async fn tick(me: Weak<Admin>, modules: Weak<ModuleService>) {
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    // The first collection waits `GC_GAP` after start (the store's count settles meanwhile).
    let mut last_gc = Some(Instant::now());
    for n in 1u32.. {
        every.tick().await;
        let (Some(me), Some(modules)) = (me.upgrade(), modules.upgrade()) else { return };
        if n % SAVE_EVERY == 0 {
            if let Err(e) = me.activity.save() {
                tracing::warn!(error = %e, "could not save the activity");
            }
        }
        if let Err(e) = modules.load_quarantine().await {
            tracing::warn!(error = %e, "could not read the quarantine again; the one in force stays");
        }
        if me.gc_due(&modules, last_gc) {
            last_gc = Some(Instant::now());
            if !me.gc_round().await {
                continue;
            }
            if let Err(e) = me.collect(&modules, false).await {
                tracing::warn!(error = %e, "garbage collection could not list the store");
            }
        }
    }
}
