//! Concurrent misses for one key share one fill. The fill runs as its own task, so a client
//! that disconnects does not cancel the work others are waiting for.

use crate::errors::ServeError;
use futures::future::{BoxFuture, FutureExt, Shared};
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use tracing::Instrument;

type Flight<T> = Shared<BoxFuture<'static, Result<T, ServeError>>>;

pub struct Flights<T: Clone + Send + Sync + 'static> {
    inflight: Mutex<HashMap<String, Flight<T>>>,
    /// Counts the requests that joined a fill already running.
    joins: Counter,
}

impl<T: Clone + Send + Sync + 'static> Default for Flights<T> {
    fn default() -> Self {
        Self::counting(Counter::default())
    }
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    /// Flights whose joins are counted in `joins`.
    pub fn counting(joins: Counter) -> Self {
        Self { inflight: Mutex::new(HashMap::new()), joins }
    }

    /// Runs `fill` for `key` unless a fill for it is already running, and waits for the result.
    pub async fn run<F>(self: &Arc<Self>, key: &str, fill: F) -> Result<T, ServeError>
    where
        F: Future<Output = Result<T, ServeError>> + Send + 'static,
    {
        let flight = {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = map.get(key) {
                self.joins.inc();
                crate::obs::trace::joined(key);
                f.clone()
            } else {
                let this = Arc::clone(self);
                let k = key.to_string();
                let span = crate::obs::trace::fill_span(key);
                let handle = tokio::spawn(
                    async move {
                        let out = fill.await;
                        crate::obs::trace::outcome(&tracing::Span::current(), &out);
                        this.inflight.lock().unwrap_or_else(|p| p.into_inner()).remove(&k);
                        out
                    }
                    .instrument(span),
                );
                let f: Flight<T> = async move {
                    match handle.await {
                        Ok(r) => r,
                        Err(e) => Err(ServeError::BadGateway(format!("fill task failed: {e}"))),
                    }
                }
                .boxed()
                .shared();
                map.insert(key.to_string(), f.clone());
                f
            }
        };
        flight.await
    }

    /// Number of fills in progress.
    pub fn len(&self) -> usize {
        self.inflight.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn one_fill_for_many_waiters() {
        let flights: Arc<Flights<u32>> = Arc::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = tokio::sync::watch::channel(false);
        // join_all polls every call once before any can finish: all 50 meet the same flight.
        let calls = (0..50).map(|_| {
            let runs = runs.clone();
            let mut rx = rx.clone();
            flights.run("k", async move {
                runs.fetch_add(1, Ordering::SeqCst);
                let _ = rx.wait_for(|v| *v).await;
                Ok(7)
            })
        });
        let all = futures::future::join_all(calls);
        let release = async {
            tokio::task::yield_now().await;
            tx.send(true).unwrap();
        };
        let (results, ()) = tokio::join!(all, release);
        assert!(results.into_iter().all(|r| r.unwrap() == 7));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(flights.is_empty());
    }
}
