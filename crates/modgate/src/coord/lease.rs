//! One filler per object across replicas. Before filling, a replica takes the object's lease in
//! Redis (`SET NX PX`), numbered by a fencing token (`INCR`); it renews the lease while the fill
//! runs and drops it at the end, announcing it on the `<prefix>:done` channel. A replica that
//! finds the lease taken waits for the commit instead of fetching — woken by the announcement,
//! and looking in the store with a backoff in case it is missed — and takes over when the lease
//! goes without a commit: its holder failed, or died and the lease ran out. With Redis down,
//! every replica leads its own fills (its local single flight still joins its own requests).

use super::Redis;
use futures::StreamExt;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// A wait on another replica's fill, registered for wake-ups while it lasts.
struct Waiting<'a> {
    map: &'a Mutex<HashMap<String, Arc<Notify>>>,
    object: String,
    notify: Arc<Notify>,
}

impl<'a> Waiting<'a> {
    fn new(map: &'a Mutex<HashMap<String, Arc<Notify>>>, object: &str) -> Self {
        let notify = Arc::clone(map.lock().unwrap_or_else(|p| p.into_inner()).entry(object.to_string()).or_default());
        Self { map, object: object.to_string(), notify }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.object);
    }
}

/// Longest pause between two looks at a fill another replica runs.
const MAX_POLL: Duration = Duration::from_millis(500);

/// Takes a free lease in one round trip: the next fencing token, or 0 when another holds it.
const ACQUIRE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[1])
return token";

/// Renews a lease held with this token.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Drops a lease held with this token, and says so on the channel.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0";

pub struct Leases {
    redis: Arc<Redis>,
    /// Objects this replica waits for another one to fill, and what wakes each wait.
    waiting: Arc<Mutex<HashMap<String, Arc<Notify>>>>,
    listening: AtomicBool,
}

/// What a replica does about a missing object.
pub enum Turn {
    /// Fill it: this replica holds the lease (`None`: Redis is down, fill alone).
    Lead(Option<Lease>),
    /// Another replica committed it meanwhile.
    Done,
}

/// A held lease, renewed until dropped; dropping it releases it.
pub struct Lease {
    redis: Arc<Redis>,
    key: String,
    object: String,
    /// The fencing token: higher for each later holder of this object's lease.
    pub token: i64,
    renew: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        let (redis, key, token) = (Arc::clone(&self.redis), self.key.clone(), self.token);
        let args = [token.to_string(), redis.key("done", "channel"), std::mem::take(&mut self.object)];
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _: Option<i64> = redis.script(&redis::Script::new(RELEASE), &[&key], &args).await;
            });
        }
    }
}

impl Leases {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self { redis, waiting: Arc::default(), listening: AtomicBool::new(false) }
    }

    /// Listens for released leases (once per process), waking whoever waits on that object;
    /// reconnects after Redis comes back.
    fn listen(&self) {
        if self.listening.swap(true, Ordering::Relaxed) {
            return;
        }
        let (redis, waiting) = (Arc::clone(&self.redis), Arc::clone(&self.waiting));
        tokio::spawn(async move {
            let channel = redis.key("done", "channel");
            loop {
                if let Some(mut sub) = redis.subscriber().await {
                    if sub.subscribe(&channel).await.is_ok() {
                        let mut messages = sub.on_message();
                        while let Some(msg) = messages.next().await {
                            let Ok(object) = msg.get_payload::<String>() else { continue };
                            let woken = waiting.lock().unwrap_or_else(|p| p.into_inner()).get(&object).cloned();
                            if let Some(n) = woken {
                                n.notify_one();
                            }
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }

    /// Waits for this replica's turn to fill `object`: it leads, or another replica committed
    /// it (`committed` looks in the shared store).
    pub async fn turn<F, Fut>(&self, object: &str, committed: F) -> Turn
    where
        F: Fn() -> Fut,
        Fut: Future<Output = bool>,
    {
        let key = self.redis.key("lease", object);
        let ms = self.redis.lease.as_millis() as u64;
        let mut wait = Duration::from_millis(20);
        let fence = self.redis.key("fence", object);
        let acquire = redis::Script::new(ACQUIRE);
        loop {
            match self.redis.script::<i64>(&acquire, &[&key, &fence], &[ms.to_string()]).await {
                None => return Turn::Lead(None),
                Some(token) if token > 0 => {
                    let lease = self.hold(key, object, token);
                    // A fill that ended just before the lease was taken has done the work.
                    if committed().await {
                        return Turn::Done;
                    }
                    return Turn::Lead(Some(lease));
                }
                Some(_) => {}
            }
            tracing::debug!(object, "another replica fills it: waiting for its commit");
            self.listen();
            let _waiting = Waiting::new(&self.waiting, object);
            let woken = Arc::clone(&_waiting.notify);
            let since = std::time::Instant::now();
            loop {
                if committed().await {
                    tracing::debug!(
                        object,
                        waited_ms = since.elapsed().as_millis() as u64,
                        "another replica filled it"
                    );
                    return Turn::Done;
                }
                tokio::select! {
                    _ = woken.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 3 / 2).min(MAX_POLL);
                match self.redis.run::<bool>(redis::cmd("EXISTS").arg(&key)).await {
                    None => return Turn::Lead(None),
                    Some(true) => continue,
                    // Gone without a commit (failed, or its holder died): try to take it.
                    Some(false) => break,
                }
            }
            if committed().await {
                return Turn::Done;
            }
        }
    }

    fn hold(&self, key: String, object: &str, token: i64) -> Lease {
        let (redis, k) = (Arc::clone(&self.redis), key.clone());
        let every = self.redis.lease / 3;
        let ms = self.redis.lease.as_millis() as u64;
        let renew = tokio::spawn(async move {
            let script = redis::Script::new(RENEW);
            loop {
                tokio::time::sleep(every).await;
                let held: Option<i64> = redis.script(&script, &[&k], &[token.to_string(), ms.to_string()]).await;
                if held == Some(0) {
                    tracing::warn!(lease = %k, token, "a fill's lease was lost: another replica may fill the same object (its commit is create-only)");
                    return;
                }
            }
        });
        Lease { redis: Arc::clone(&self.redis), key, object: object.to_string(), token, renew }
    }
}
