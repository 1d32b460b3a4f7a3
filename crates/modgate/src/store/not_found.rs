//! Not-found answers until they expire: the short memory that keeps a herd asking for a
//! module that does not exist from reaching the upstream each time.

use super::NotFound;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Not-found answers remembered at most; past this, expired ones are dropped first.
const MAX_NOT_FOUND: usize = 100_000;

#[derive(Default)]
pub struct NotFoundMemory {
    map: Mutex<HashMap<String, (Instant, NotFound)>>,
}

impl NotFoundMemory {
    pub fn get(&self, key: &str) -> Option<NotFound> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some((until, n)) if *until > Instant::now() => Some(n.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn remember(&self, key: &str, answer: NotFound, ttl: Duration) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if map.len() > MAX_NOT_FOUND {
            map.retain(|_, (until, _)| *until > now);
        }
        map.insert(key.to_string(), (now + ttl, answer));
    }

    pub fn forget(&self, key: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Forgets every not-found answer of a module; returns how many.
    pub fn forget_module(&self, escaped_module: &str) -> u64 {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let before = map.len();
        map.retain(|k, _| !super::answer_of(k, escaped_module));
        (before - map.len()) as u64
    }
}
