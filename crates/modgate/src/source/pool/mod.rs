//! A pool of upstream module proxies (`[[pool]]`, `pool:NAME` in a list): one member chosen
//! per request by the pool's balance; a member that fails requests in a row is ejected for a
//! backing-off time (passive outlier detection) and, with `[pool.health]`, one that fails
//! active checks is out until it passes again; a returning member ramps up (slow start).
//!
//! Module requests are idempotent, so one that fails before any answer came back (5xx,
//! transport error, timeout) is tried on another member, within the pool's `retries` and a
//! retry budget shared by all requests (a tenth of requests plus a small burst), so a sick pool
//! cannot multiply its own load. A 404/410 or a policy refusal is an answer, never retried.

mod resume;

use super::goproxy::GoProxy;
use super::{Body, FetchError, Source};
use crate::config::PoolSettings;
use crate::lb::Members;
use crate::net::HttpClient;
use crate::request::ModuleRequest;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// Whether a request asks for a zip (the one body worth resuming).
fn is_zip(req: &ModuleRequest) -> bool {
    req.endpoint == crate::request::Endpoint::Zip
}

pub struct Pool {
    members: Arc<Members>,
    sources: Vec<GoProxy>,
    http: Arc<HttpClient>,
    /// The pool itself, for bodies that report a member breaking off after `fetch` returned.
    me: Weak<Pool>,
}

impl Pool {
    /// The pool, with its active checks running (when configured) for as long as it lives.
    pub fn start(settings: PoolSettings, http: &Arc<HttpClient>) -> Arc<Self> {
        let sources = settings.members.iter().map(|m| GoProxy::new(&m.url, Arc::clone(http))).collect();
        let members = Arc::new(Members::new(settings));
        let checker = Arc::clone(http);
        members.start_checks(Arc::new(move |url: String| {
            let http = Arc::clone(&checker);
            Box::pin(async move { http.get(&url).await.is_ok_and(|a| a.response.status().as_u16() < 500) })
        }));
        let http = Arc::clone(http);
        Arc::new_cyclic(|me| Self { members, sources, http, me: me.clone() })
    }

    pub fn name(&self) -> &str {
        self.members.name()
    }

    /// Each member's URL and whether it takes requests now.
    pub fn health(&self) -> Vec<(String, bool)> {
        self.members.health()
    }
}

#[async_trait::async_trait]
impl Source for Pool {
    async fn fetch(&self, req: &ModuleRequest) -> Result<Body, FetchError> {
        let m = &self.members;
        m.begin();
        let mut tried = Vec::new();
        loop {
            let Some(i) = m.pick(&tried) else {
                return Err(FetchError::Failed(format!("pool {}: no member left to try", m.name())));
            };
            let in_flight = m.enter(i);
            let start = Instant::now();
            let fetch = self.sources[i].fetch(req);
            let answer = match m.settings.timeout {
                Some(limit) => tokio::time::timeout(limit, fetch).await.unwrap_or_else(|_| {
                    Err(FetchError::Timeout(format!("pool {}: no answer within {limit:?}", m.name())))
                }),
                None => fetch.await,
            };
            drop(in_flight);
            match answer {
                Err(e @ (FetchError::Failed(_) | FetchError::Timeout(_))) => {
                    m.failed(i);
                    tried.push(i);
                    if !m.may_retry(&tried) {
                        return Err(e);
                    }
                    tracing::debug!(pool = %m.name(), error = %e.reason(), "pool member failed; trying another");
                }
                Ok(body) if is_zip(req) && m.len() > 1 => return Ok(self.resumable(i, start, body, req)),
                other => {
                    m.succeeded(i, start.elapsed());
                    return other;
                }
            }
        }
    }
}

impl Pool {
    /// Member `i`'s zip body, finished by the other members if it breaks off; whether the
    /// member succeeded is known when its body has ended.
    fn resumable(&self, i: usize, start: Instant, body: Body, req: &ModuleRequest) -> Body {
        let m = &self.members;
        let Some(len) = body.len_hint() else {
            m.succeeded(i, start.elapsed());
            return body;
        };
        m.states[i].observe(start.elapsed());
        let others = (0..m.len()).filter(|&j| j != i).map(|j| format!("{}/{}", m.url(j), req.rel())).collect();
        // A member that breaks off mid-body has failed too.
        let me = self.me.clone();
        let report = move |whole: bool| match me.upgrade() {
            Some(pool) if whole => pool.members.whole(i),
            Some(pool) => pool.members.failed(i),
            None => {}
        };
        resume::resuming(body, len, others, Arc::clone(&self.http), report)
    }
}
