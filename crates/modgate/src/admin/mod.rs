//! What operators see and do beyond serving modules: the catalog of what is cached, the
//! activity (who was served what, and when), the ledger of committed hashes and re-verifies,
//! and the background jobs they start (warming the cache from a go.sum, re-verifying it).
//! `http/handler/admin/` is its HTTP face; the quarantine lives with the module service
//! (`proxy/quarantine.rs`), since serving must obey it.

pub mod activity;
pub mod catalog;
pub mod jobs;
pub mod ledger;
mod work;

pub use activity::{Activity, Answer};
pub use catalog::Catalog;
pub use jobs::{JobView, Jobs};
pub use ledger::Ledger;

use crate::proxy::ModuleService;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the activity is saved and the shared quarantine read again.
const TICK: Duration = Duration::from_secs(5);

pub struct Admin {
    pub activity: Activity,
    pub ledger: Arc<Ledger>,
    pub jobs: Jobs,
    pub catalog: Catalog,
}

impl Admin {
    /// Everything in memory (tests, embedding).
    pub fn in_memory() -> Self {
        Self {
            activity: Activity::in_memory(),
            ledger: Arc::new(Ledger::in_memory()),
            jobs: Jobs::default(),
            catalog: Catalog::default(),
        }
    }

    /// Kept under `dir` (`<data_dir>/admin`).
    pub fn open(dir: &std::path::Path) -> Self {
        Self {
            activity: Activity::open(dir),
            ledger: Arc::new(Ledger::open(dir)),
            jobs: Jobs::default(),
            catalog: Catalog::default(),
        }
    }

    /// Reads the quarantine, then every few seconds saves the activity and reads the quarantine
    /// again (other replicas may have changed it), for as long as the admin state lives.
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
    loop {
        every.tick().await;
        let (Some(me), Some(modules)) = (me.upgrade(), modules.upgrade()) else { return };
        if let Err(e) = me.activity.save() {
            tracing::warn!(error = %e, "could not save the activity");
        }
        if let Err(e) = modules.load_quarantine().await {
            tracing::warn!(error = %e, "could not read the quarantine again; the one in force stays");
        }
    }
}
