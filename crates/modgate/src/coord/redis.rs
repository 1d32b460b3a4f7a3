//! The Redis connection: one multiplexed connection that reconnects by itself, commands that
//! give up after `timeout`, and the up/down state every caller reads before asking.

use crate::config::Coordination;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::FromRedisValue;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often a probe asks a Redis marked down whether it is back.
const PROBE_EVERY: Duration = Duration::from_millis(500);

pub struct Redis {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    /// How long a fill's lease lasts unless renewed.
    pub lease: Duration,
    /// The URL without its password, for logs.
    pub name: String,
    up: AtomicBool,
    probing: AtomicBool,
    /// Times Redis was found down, and found back (for `/metrics` and the status page).
    pub outages: AtomicU64,
}

impl Redis {
    /// A connection made on first use: a Redis that is down at start delays nothing.
    pub fn connect(c: &Coordination) -> Result<Arc<Self>, redis::RedisError> {
        let client = redis::Client::open(c.redis.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(c.timeout))
            .set_response_timeout(Some(c.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Arc::new(Self {
            client,
            conn,
            prefix: c.prefix.clone(),
            timeout: c.timeout,
            lease: c.lease,
            name: crate::net::redact(&c.redis),
            up: AtomicBool::new(true),
            probing: AtomicBool::new(false),
            outages: AtomicU64::new(0),
        }))
    }

    /// The Redis key for `key` of kind `kind` (`<prefix>:<kind>:<key>`).
    pub fn key(&self, kind: &str, key: &str) -> String {
        format!("{}:{kind}:{key}", self.prefix)
    }

    /// A connection of its own for subscribing (commands cannot share it).
    pub async fn subscriber(&self) -> Option<redis::aio::PubSub> {
        tokio::time::timeout(self.timeout, self.client.get_async_pubsub()).await.ok()?.ok()
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Runs `cmd`; `None` when Redis is down or does not answer in time (it is then marked down).
    pub async fn run<T: FromRedisValue>(self: &Arc<Self>, cmd: &redis::Cmd) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        let mut conn = self.conn.clone();
        self.bounded(cmd.query_async::<T>(&mut conn)).await
    }

    /// A command's answer within the limit; a failure or no answer in time marks Redis down.
    async fn bounded<T>(
        self: &Arc<Self>,
        command: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.timeout, command).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => self.down(&e.to_string()),
            Err(_) => self.down("no answer in time"),
        }
    }

    /// Runs a Lua script, like [`Redis::run`].
    pub async fn script<T: FromRedisValue>(
        self: &Arc<Self>,
        script: &redis::Script,
        keys: &[&str],
        args: &[String],
    ) -> Option<T> {
        if !self.is_up() {
            return None;
        }
        let mut inv = script.prepare_invoke();
        for k in keys {
            inv.key(*k);
        }
        for a in args {
            inv.arg(a);
        }
        let mut conn = self.conn.clone();
        self.bounded(inv.invoke_async::<T>(&mut conn)).await
    }

    /// Marks Redis down (once) and starts probing for its return.
    fn down<T>(self: &Arc<Self>, why: &str) -> Option<T> {
        if self.up.swap(false, Ordering::Relaxed) {
            self.outages.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(redis = %self.name, error = %why, "redis is unreachable: each replica carries on alone until it returns");
        }
        if !self.probing.swap(true, Ordering::Relaxed) {
            let me = Arc::clone(self);
            tokio::spawn(async move { me.probe().await });
        }
        None
    }

    async fn probe(self: Arc<Self>) {
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            let mut conn = self.conn.clone();
            let ping = redis::cmd("PING");
            if let Ok(Ok(_)) = tokio::time::timeout(self.timeout, ping.query_async::<String>(&mut conn)).await {
                self.probing.store(false, Ordering::Relaxed);
                self.up.store(true, Ordering::Relaxed);
                tracing::info!(redis = %self.name, "redis is back: replicas coordinate again");
                return;
            }
        }
    }
}
