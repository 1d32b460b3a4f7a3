//! How far each zip fill has come, published to every request waiting for that zip; the map of
//! running fills is the single flight for zips.

use crate::errors::ServeError;
use crate::store::ReadAt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

#[derive(Clone, Default)]
pub struct Progress {
    /// Positioned reads of the staged bytes, once the source answered.
    pub reader: Option<Arc<dyn ReadAt>>,
    /// The length the source announced, if it did.
    pub total: Option<u64>,
    /// Bytes written to the staged object and readable through `reader`.
    pub written: u64,
    /// The whole body has arrived; what remains is verifying and committing it.
    pub downloaded: bool,
    pub state: FillState,
}

#[derive(Debug, Clone, Default)]
pub enum FillState {
    #[default]
    Running,
    Committed,
    Failed(ServeError),
}

impl FillState {
    pub fn is_running(&self) -> bool {
        matches!(self, FillState::Running)
    }
}

/// Joining a zip fill: one was running, or this caller must drive a new one.
pub enum Joined {
    Running(watch::Receiver<Progress>),
    Started { tx: watch::Sender<Progress>, rx: watch::Receiver<Progress> },
}

#[derive(Default)]
pub struct ZipFills {
    map: Mutex<HashMap<String, watch::Receiver<Progress>>>,
}

/// A fill whose task still holds its sender and has not announced an end.
fn is_live(rx: &watch::Receiver<Progress>) -> bool {
    rx.has_changed().is_ok() && rx.borrow().state.is_running()
}

impl ZipFills {
    /// The progress of a fill that is running now, if any.
    pub fn running(&self, key: &str) -> Option<watch::Receiver<Progress>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|rx| is_live(rx)).cloned()
    }

    /// Fills registered now (running, or just ending).
    pub fn count(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Joins the running fill of `key`, or registers a new one for the caller to drive. A fill
    /// whose task died without a final state, or that has just ended, is replaced.
    pub fn join_or_start(&self, key: &str) -> Joined {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rx) = map.get(key).filter(|rx| is_live(rx)) {
            return Joined::Running(rx.clone());
        }
        let (tx, rx) = watch::channel(Progress::default());
        map.insert(key.to_string(), rx.clone());
        Joined::Started { tx, rx }
    }

    /// Removes the entry of a fill that is ending, if it is still `own` (a newer fill may have
    /// replaced it).
    pub fn end(&self, key: &str, own: &watch::Receiver<Progress>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.get(key).is_some_and(|rx| rx.same_channel(own)) {
            map.remove(key);
        }
    }
}
