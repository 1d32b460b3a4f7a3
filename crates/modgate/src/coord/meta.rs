//! Mutable state shared through Redis, written through to the local disk: a replica reads what
//! any replica wrote while Redis is up, and what it wrote itself while Redis is down.
//!
//! Keys: `answer:<key>` (the time it was written, 8 bytes of milliseconds, then the answer;
//! kept `ANSWER_KEEP`, as stale answers are served when every source fails), `missing:<key>`
//! (`<status> <reason>`, for its TTL), `published:<module>` (a list, in publish order),
//! `state:<name>` (the operators' state, such as the quarantine; never expires).

use super::Redis;
use crate::store::{MetaStore, NotFound};
use bytes::Bytes;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long Redis keeps a mutable answer nobody rewrote.
const ANSWER_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

pub struct SharedMeta {
    redis: Arc<Redis>,
    local: Arc<dyn MetaStore>,
    /// Versions published while Redis was down, added to its index when it returns.
    pending: Mutex<Vec<(String, String)>>,
}

/// Adds a version to a module's list unless it is there (the caller serializes per module;
/// the script keeps two replicas from adding it twice).
const ADD_ONCE: &str = r"
if redis.call('LPOS', KEYS[1], ARGV[1]) == false then
  redis.call('RPUSH', KEYS[1], ARGV[1])
end
return 1";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl SharedMeta {
    pub fn new(redis: Arc<Redis>, local: Arc<dyn MetaStore>) -> Self {
        Self { redis, local, pending: Mutex::new(Vec::new()) }
    }

    async fn add_to_index(&self, module: &str, version: &str) -> bool {
        let script = redis::Script::new(ADD_ONCE);
        let key = self.redis.key("published", module);
        self.redis.script::<i64>(&script, &[&key], &[version.to_string()]).await.is_some()
    }

    /// Adds what was published during an outage, once Redis answers again.
    async fn catch_up(&self) {
        if !self.redis.is_up() {
            return;
        }
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for (i, (m, v)) in pending.iter().enumerate() {
            if !self.add_to_index(m, v).await {
                let mut left = self.pending.lock().unwrap_or_else(|p| p.into_inner());
                left.extend(pending[i..].iter().cloned());
                return;
            }
        }
    }
}

#[async_trait::async_trait]
impl MetaStore for SharedMeta {
    async fn answer(&self, key: &str) -> io::Result<Option<(Bytes, Duration)>> {
        let got: Option<Option<Vec<u8>>> = self.redis.run(redis::cmd("GET").arg(self.redis.key("answer", key))).await;
        if let Some(Some(v)) = got {
            if v.len() >= 8 {
                let mut at = [0u8; 8];
                at.copy_from_slice(&v[..8]);
                let age = Duration::from_millis(now_ms().saturating_sub(u64::from_be_bytes(at)));
                return Ok(Some((Bytes::copy_from_slice(&v[8..]), age)));
            }
        }
        self.local.answer(key).await
    }

    async fn put_answer(&self, key: &str, data: &[u8]) -> io::Result<()> {
        let mut v = Vec::with_capacity(8 + data.len());
        v.extend_from_slice(&now_ms().to_be_bytes());
        v.extend_from_slice(data);
        let mut set = redis::cmd("SET");
        set.arg(self.redis.key("answer", key)).arg(v).arg("PX").arg(ANSWER_KEEP.as_millis() as u64);
        let _: Option<()> = self.redis.run(&set).await;
        self.local.put_answer(key, data).await
    }

    async fn not_found(&self, key: &str) -> Option<NotFound> {
        let got: Option<Option<String>> = self.redis.run(redis::cmd("GET").arg(self.redis.key("missing", key))).await;
        match got {
            Some(Some(v)) => {
                let (status, reason) = v.split_once(' ').unwrap_or((v.as_str(), ""));
                let status = status.parse().unwrap_or(404);
                Some(NotFound { status, reason: reason.to_string() })
            }
            Some(None) => None,
            None => self.local.not_found(key).await,
        }
    }

    async fn remember_not_found(&self, key: &str, answer: NotFound, ttl: Duration) {
        let mut set = redis::cmd("SET");
        let value = format!("{} {}", answer.status, answer.reason);
        set.arg(self.redis.key("missing", key)).arg(value).arg("PX").arg(ttl.as_millis().max(1) as u64);
        let _: Option<()> = self.redis.run(&set).await;
        self.local.remember_not_found(key, answer, ttl).await
    }

    async fn forget_not_found(&self, key: &str) {
        let _: Option<i64> = self.redis.run(redis::cmd("DEL").arg(self.redis.key("missing", key))).await;
        self.local.forget_not_found(key).await
    }

    async fn published(&self, escaped_module: &str) -> io::Result<Vec<String>> {
        self.catch_up().await;
        let key = self.redis.key("published", escaped_module);
        let shared: Option<Vec<String>> = self.redis.run(redis::cmd("LRANGE").arg(key).arg(0).arg(-1)).await;
        let local = self.local.published(escaped_module).await?;
        let Some(mut all) = shared else { return Ok(local) };
        // What this replica published while Redis was down comes after the shared list.
        for v in local {
            if !all.contains(&v) {
                all.push(v);
            }
        }
        Ok(all)
    }

    async fn add_published(&self, escaped_module: &str, version: &str) -> io::Result<()> {
        self.local.add_published(escaped_module, version).await?;
        self.catch_up().await;
        if !self.add_to_index(escaped_module, version).await {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.push((escaped_module.to_string(), version.to_string()));
        }
        Ok(())
    }

    async fn purge(&self, escaped_module: &str) -> io::Result<u64> {
        let mut shared = 0;
        for kind in ["answer", "missing"] {
            let keys = self.module_keys(kind, escaped_module).await;
            if !keys.is_empty() {
                let gone: Option<u64> = self.redis.run(redis::cmd("DEL").arg(&keys)).await;
                if kind == "answer" {
                    shared += gone.unwrap_or(0);
                }
            }
        }
        Ok(self.local.purge(escaped_module).await?.max(shared))
    }

    async fn state(&self, name: &str) -> io::Result<Option<Bytes>> {
        let got: Option<Option<Vec<u8>>> = self.redis.run(redis::cmd("GET").arg(self.redis.key("state", name))).await;
        match got {
            Some(Some(v)) => Ok(Some(Bytes::from(v))),
            _ => self.local.state(name).await,
        }
    }

    async fn put_state(&self, name: &str, data: &[u8]) -> io::Result<()> {
        let stored: Option<()> = self.redis.run(redis::cmd("SET").arg(self.redis.key("state", name)).arg(data)).await;
        self.local.put_state(name, data).await?;
        stored.ok_or_else(|| io::Error::other("coordination is down: the change was kept on this replica only"))
    }
}

impl SharedMeta {
    /// The Redis keys of `kind` holding one module's answers (`@latest`, and `@v/...` one level
    /// down, not a nested module's).
    async fn module_keys(&self, kind: &str, escaped_module: &str) -> Vec<String> {
        let base = self.redis.key(kind, escaped_module);
        let mut keys = vec![format!("{base}/@latest")];
        let pattern = format!("{}/@v/*", glob_escape(&base));
        let mut cursor = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000);
            let Some((next, found)): Option<(u64, Vec<String>)> = self.redis.run(&scan).await else { break };
            keys.extend(found.into_iter().filter(|k| !k[base.len() + 4..].contains('/')));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        keys
    }
}

/// `text` matched literally by a Redis glob.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
