//! A pool of upstream module proxies (`[[pool]]`, `pool:NAME` in a list): one member chosen
//! per request by the pool's balance; a member that fails requests in a row is ejected for a
//! backing-off time (passive outlier detection) and, with `[pool.health]`, one that fails
//! active checks is out until it passes again; a returning member ramps up (slow start).
//!
//! Module requests are idempotent, so one that fails before any answer came back (5xx,
//! transport error, timeout) is tried on another member, within the pool's `retries` and a
//! retry budget shared by all requests (a tenth of requests plus a small burst), so a sick pool
//! cannot multiply its own load. A 404/410 or a policy refusal is an answer, never retried.

mod balance;
mod resume;

use super::goproxy::GoProxy;
use super::{Body, FetchError, Source};
use crate::config::PoolSettings;
use crate::net::HttpClient;
use crate::request::ModuleRequest;
use balance::{Balancer, MemberState};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Retries allowed: a tenth of a retry per request, up to this many saved.
const BUDGET_CAP: f64 = 10.0;
const BUDGET_PER_REQUEST: f64 = 0.1;
/// Ejections in a row double the time out, up to this factor.
const MAX_BACKOFF: u32 = 8;

struct Member {
    url: String,
    source: GoProxy,
}

/// One request counted in a member's `in_flight` until dropped, however the request ends
/// (an answer, an error, or its task going away).
struct InFlight<'a>(&'a MemberState);

impl<'a> InFlight<'a> {
    fn enter(state: &'a MemberState) -> Self {
        state.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether a request asks for a zip (the one body worth resuming).
fn is_zip(req: &ModuleRequest) -> bool {
    req.endpoint == crate::request::Endpoint::Zip
}

pub struct Pool {
    settings: PoolSettings,
    members: Vec<Member>,
    states: Vec<MemberState>,
    balancer: Balancer,
    budget: Mutex<f64>,
    http: Arc<HttpClient>,
    /// The pool itself, for bodies that report a member breaking off after `fetch` returned.
    me: Weak<Pool>,
}

impl Pool {
    /// The pool, with its active checks running (when configured) for as long as it lives.
    pub fn start(settings: PoolSettings, http: &Arc<HttpClient>) -> Arc<Self> {
        let members = settings
            .members
            .iter()
            .map(|m| Member { url: m.url.clone(), source: GoProxy::new(&m.url, Arc::clone(http)) })
            .collect();
        let states = settings.members.iter().map(|m| MemberState::new(m.weight, m.max_in_flight)).collect();
        let balancer = Balancer::new(settings.balance, settings.slow_start, settings.members.len());
        let budget = Mutex::new(BUDGET_CAP);
        let http_ = Arc::clone(http);
        let pool =
            Arc::new_cyclic(|me| Self { settings, members, states, balancer, budget, http: http_, me: me.clone() });
        if pool.settings.health.is_some() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(check_forever(Arc::downgrade(&pool), Arc::clone(http)));
            }
        }
        pool
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// Each member's URL and whether it takes requests now.
    pub fn health(&self) -> Vec<(String, bool)> {
        let now = Instant::now();
        self.members.iter().zip(&self.states).map(|(m, s)| (m.url.clone(), s.available(now))).collect()
    }

    fn take_retry(&self) -> bool {
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        if *b >= 1.0 {
            *b -= 1.0;
            true
        } else {
            false
        }
    }

    fn succeeded(&self, i: usize, took: Duration) {
        self.states[i].observe(took);
        self.whole(i);
    }

    /// An answer ended whole: the failures in a row start again.
    fn whole(&self, i: usize) {
        let s = &self.states[i];
        s.fails_in_row.store(0, Ordering::Relaxed);
        s.ejections.store(0, Ordering::Relaxed);
    }

    fn failed(&self, i: usize) {
        let s = &self.states[i];
        let fails = s.fails_in_row.fetch_add(1, Ordering::Relaxed) + 1;
        if fails < self.settings.eject_after {
            return;
        }
        s.fails_in_row.store(0, Ordering::Relaxed);
        let n = s.ejections.fetch_add(1, Ordering::Relaxed).min(MAX_BACKOFF.ilog2());
        let out = self.settings.eject_for * 2u32.pow(n);
        let now = Instant::now();
        *s.out_until.lock().unwrap_or_else(|p| p.into_inner()) = Some(now + out);
        *s.back_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(now + out);
        tracing::warn!(pool = %self.settings.name, member = %crate::net::redact(&self.members[i].url), out_for = ?out, "pool member ejected after failures in a row");
    }
}

#[async_trait::async_trait]
impl Source for Pool {
    async fn fetch(&self, req: &ModuleRequest) -> Result<Body, FetchError> {
        {
            let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
            *b = (*b + BUDGET_PER_REQUEST).min(BUDGET_CAP);
        }
        let mut tried = Vec::new();
        loop {
            let Some(i) = self.balancer.pick(&self.states, &tried, Instant::now()) else {
                return Err(FetchError::Failed(format!("pool {}: no member left to try", self.settings.name)));
            };
            let in_flight = InFlight::enter(&self.states[i]);
            let start = Instant::now();
            let fetch = self.members[i].source.fetch(req);
            let answer = match self.settings.timeout {
                Some(limit) => tokio::time::timeout(limit, fetch).await.unwrap_or_else(|_| {
                    Err(FetchError::Timeout(format!("pool {}: no answer within {limit:?}", self.settings.name)))
                }),
                None => fetch.await,
            };
            drop(in_flight);
            match answer {
                Err(e @ (FetchError::Failed(_) | FetchError::Timeout(_))) => {
                    self.failed(i);
                    tried.push(i);
                    let again = tried.len() <= self.settings.retries as usize && tried.len() < self.members.len();
                    if !again || !self.take_retry() {
                        return Err(e);
                    }
                    tracing::debug!(pool = %self.settings.name, error = %e.reason(), "pool member failed; trying another");
                }
                Ok(body) if is_zip(req) && self.members.len() > 1 => {
                    let Some(len) = body.len_hint() else {
                        self.succeeded(i, start.elapsed());
                        return Ok(body);
                    };
                    // Whether the member succeeded is known when its body has ended.
                    self.states[i].observe(start.elapsed());
                    let others = (0..self.members.len())
                        .filter(|&j| j != i)
                        .map(|j| format!("{}/{}", self.members[j].url, req.rel()))
                        .collect();
                    // A member that breaks off mid-body has failed too.
                    let me = self.me.clone();
                    let report = move |whole: bool| match me.upgrade() {
                        Some(pool) if whole => pool.whole(i),
                        Some(pool) => pool.failed(i),
                        None => {}
                    };
                    return Ok(resume::resuming(body, len, others, Arc::clone(&self.http), report));
                }
                other => {
                    self.succeeded(i, start.elapsed());
                    return other;
                }
            }
        }
    }
}

/// Active checks for as long as the pool lives: each member every interval.
async fn check_forever(pool: Weak<Pool>, http: Arc<HttpClient>) {
    loop {
        let Some(p) = pool.upgrade() else { return };
        let Some(h) = p.settings.health.clone() else { return };
        let checks = p.members.iter().map(|m| {
            let url = format!("{}{}", m.url, h.path);
            let http = Arc::clone(&http);
            async move {
                match tokio::time::timeout(h.timeout, http.get(&url)).await {
                    Ok(Ok(a)) => a.response.status().as_u16() < 500,
                    _ => false,
                }
            }
        });
        let results = futures::future::join_all(checks).await;
        for (i, ok) in results.into_iter().enumerate() {
            let s = &p.states[i];
            let was = s.check_ok.load(Ordering::Relaxed);
            if ok == was {
                s.checks_in_row.store(0, Ordering::Relaxed);
                continue;
            }
            let n = s.checks_in_row.fetch_add(1, Ordering::Relaxed) + 1;
            if n >= if ok { h.healthy } else { h.unhealthy } {
                s.check_ok.store(ok, Ordering::Relaxed);
                s.checks_in_row.store(0, Ordering::Relaxed);
                if ok {
                    *s.back_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                    *s.out_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                let member = crate::net::redact(&p.members[i].url);
                tracing::warn!(pool = %p.settings.name, %member, healthy = ok, "pool member health changed");
            }
        }
        let interval = h.interval;
        drop(p);
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_leaves_in_flight_however_it_ends() {
        let s = MemberState::new(1, Some(1));
        let guard = InFlight::enter(&s);
        assert_eq!(s.in_flight.load(Ordering::Relaxed), 1);
        assert!(!s.available(Instant::now()), "at its limit");
        // A request whose task goes away drops its guard like one that ends.
        drop(guard);
        assert_eq!(s.in_flight.load(Ordering::Relaxed), 0);
        assert!(s.available(Instant::now()));
    }
}
