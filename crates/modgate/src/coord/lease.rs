//! One filler per object across replicas. Before filling, a replica takes the object's lease in
//! Redis (`SET NX PX`), numbered by a fencing token (`INCR`); it renews the lease while the fill
//! runs and drops it at the end. A replica that finds the lease taken waits for the commit
//! instead of fetching (polling the store, backing off), and takes over when the lease goes
//! without a commit: its holder failed, or died and the lease ran out. With Redis down, every
//! replica leads its own fills (its local single flight still joins its own requests).

use super::Redis;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// Longest pause between two looks at a fill another replica runs.
const MAX_POLL: Duration = Duration::from_millis(500);

/// Renews a lease held with this token.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0";

/// Drops a lease held with this token.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0";

pub struct Leases {
    redis: Arc<Redis>,
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
    /// The fencing token: higher for each later holder of this object's lease.
    pub token: i64,
    renew: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        let (redis, key, token) = (Arc::clone(&self.redis), self.key.clone(), self.token);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _: Option<i64> = redis.script(&redis::Script::new(RELEASE), &[&key], &[token.to_string()]).await;
            });
        }
    }
}

impl Leases {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self { redis }
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
        loop {
            let Some(token) = self.redis.run::<i64>(redis::cmd("INCR").arg(self.redis.key("fence", object))).await
            else {
                return Turn::Lead(None);
            };
            let mut set = redis::cmd("SET");
            set.arg(&key).arg(token).arg("NX").arg("PX").arg(ms);
            match self.redis.run::<Option<String>>(&set).await {
                None => return Turn::Lead(None),
                Some(Some(_)) => {
                    let lease = self.hold(key, token);
                    // A fill that ended just before the lease was taken has done the work.
                    if committed().await {
                        return Turn::Done;
                    }
                    return Turn::Lead(Some(lease));
                }
                Some(None) => {}
            }
            tracing::debug!(object, "another replica fills it: waiting for its commit");
            loop {
                if committed().await {
                    return Turn::Done;
                }
                tokio::time::sleep(wait).await;
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

    fn hold(&self, key: String, token: i64) -> Lease {
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
        Lease { redis: Arc::clone(&self.redis), key, token, renew }
    }
}
