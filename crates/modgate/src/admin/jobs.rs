//! Background jobs an operator starts (warming the cache, re-verifying it) and their progress:
//! how many items, how many done and failed, the first problems met. The last `KEEP` jobs are
//! remembered (in memory: a restart forgets them, never their effects).

use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Jobs remembered.
const KEEP: usize = 100;
/// Problems remembered per job.
const PROBLEMS: usize = 200;

pub struct Job {
    pub id: String,
    pub kind: &'static str,
    pub by: String,
    started: String,
    pub total: AtomicU64,
    pub done: AtomicU64,
    pub failed: AtomicU64,
    problems: Mutex<Vec<String>>,
    ended: Mutex<Option<String>>,
}

/// A job as `GET /-/admin/jobs/{id}` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: String,
    pub kind: &'static str,
    pub by: String,
    pub started: String,
    pub ended: Option<String>,
    /// `running` or `done`.
    pub state: &'static str,
    pub total: u64,
    pub done: u64,
    pub failed: u64,
    pub problems: Vec<String>,
}

impl Job {
    /// One item finished; `problem` when it failed.
    pub fn item(&self, problem: Option<String>) {
        if let Some(p) = problem {
            self.failed.fetch_add(1, Ordering::Relaxed);
            let mut list = self.problems.lock().unwrap_or_else(|p| p.into_inner());
            if list.len() < PROBLEMS {
                list.push(p);
            }
        }
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finish(&self) {
        *self.ended.lock().unwrap_or_else(|p| p.into_inner()) = Some(crate::time::now_rfc3339());
    }

    pub fn view(&self) -> JobView {
        let ended = self.ended.lock().unwrap_or_else(|p| p.into_inner()).clone();
        JobView {
            id: self.id.clone(),
            kind: self.kind,
            by: self.by.clone(),
            started: self.started.clone(),
            state: if ended.is_some() { "done" } else { "running" },
            ended,
            total: self.total.load(Ordering::Relaxed),
            done: self.done.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            problems: self.problems.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }
}

#[derive(Default)]
pub struct Jobs {
    /// By id; ids sort by start.
    jobs: Mutex<BTreeMap<String, Arc<Job>>>,
    next: AtomicU64,
}

impl Jobs {
    /// A new job of `total` items, started by `by`.
    pub fn start(&self, kind: &'static str, by: &str, total: u64) -> Arc<Job> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n:04}-{}", crate::time::compact(super::activity::now_secs()), kind);
        let job = Arc::new(Job {
            id: id.clone(),
            kind,
            by: by.to_string(),
            started: crate::time::now_rfc3339(),
            total: AtomicU64::new(total),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            problems: Mutex::new(Vec::new()),
            ended: Mutex::new(None),
        });
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.insert(id, Arc::clone(&job));
        while jobs.len() > KEEP {
            jobs.pop_first();
        }
        job
    }

    pub fn get(&self, id: &str) -> Option<JobView> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).get(id).map(|j| j.view())
    }

    /// The jobs remembered, newest first.
    pub fn list(&self) -> Vec<JobView> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner()).values().rev().map(|j| j.view()).collect()
    }
}
