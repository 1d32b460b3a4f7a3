//! Load balancing over a group of members, whatever they serve: module proxies in a
//! `[[pool]]` (`source::pool`) or HTTP backends behind a `[[proxy]]` route (`revproxy`).
//!
//! `Members` holds each member's health and load, picks one per attempt (`balance`), ejects a
//! member that fails requests in a row for a backing-off time (passive outlier detection),
//! runs active checks when configured, ramps a returning member up (slow start), and keeps the
//! retry budget shared by every request through the group (a tenth of a retry per request
//! plus a small burst), so a sick group cannot multiply its own load.

mod balance;

pub use balance::{Balancer, MemberState};

use crate::config::PoolSettings;
use futures::future::BoxFuture;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Retries allowed: a tenth of a retry per request, up to this many saved.
const BUDGET_CAP: f64 = 10.0;
const BUDGET_PER_REQUEST: f64 = 0.1;
/// Ejections in a row double the time out, up to this factor.
const MAX_BACKOFF: u32 = 8;

/// One request counted in a member's `in_flight` until dropped, however the request ends
/// (an answer, an error, its task going away, or — for a body — the body's end).
pub struct InFlight {
    members: Arc<Members>,
    i: usize,
}

impl InFlight {
    pub fn members(&self) -> &Members {
        &self.members
    }

    /// Which member the request went to.
    pub fn member(&self) -> usize {
        self.i
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.members.states[self.i].in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Asks one member (by its URL) whether it is healthy.
pub type Probe = Arc<dyn Fn(String) -> BoxFuture<'static, bool> + Send + Sync>;

pub struct Members {
    pub settings: PoolSettings,
    pub states: Vec<MemberState>,
    balancer: Balancer,
    budget: Mutex<f64>,
}

impl Members {
    pub fn new(settings: PoolSettings) -> Self {
        let states = settings.members.iter().map(|m| MemberState::new(m.weight, m.max_in_flight)).collect();
        let balancer = Balancer::new(settings.balance, settings.slow_start, settings.members.len());
        Self { settings, states, balancer, budget: Mutex::new(BUDGET_CAP) }
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }

    pub fn url(&self, i: usize) -> &str {
        &self.settings.members[i].url
    }

    /// Each member's URL and whether it takes requests now.
    pub fn health(&self) -> Vec<(String, bool)> {
        let now = Instant::now();
        self.settings.members.iter().zip(&self.states).map(|(m, s)| (m.url.clone(), s.available(now))).collect()
    }

    /// A new request through the group: it adds its share to the retry budget.
    pub fn begin(&self) {
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        *b = (*b + BUDGET_PER_REQUEST).min(BUDGET_CAP);
    }

    /// The member to try next, never one of `tried`.
    pub fn pick(&self, tried: &[usize]) -> Option<usize> {
        self.balancer.pick(&self.states, tried, Instant::now())
    }

    /// Whether a request that failed on the members in `tried` may go to another one: within
    /// the group's `retries`, a member left, and a retry in the budget.
    pub fn may_retry(&self, tried: &[usize]) -> bool {
        if tried.len() > self.settings.retries as usize || tried.len() >= self.len() {
            return false;
        }
        let mut b = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        if *b >= 1.0 {
            *b -= 1.0;
            true
        } else {
            false
        }
    }

    /// After a try on member `i` that took `took`: a failure (`failed`) counts against the
    /// member and joins `tried`; `true` when the request may go to another member (`replay`: it
    /// can be sent again). An answer records the member's latency.
    pub fn settle(&self, i: usize, failed: bool, replay: bool, tried: &mut Vec<usize>, took: Duration) -> bool {
        if !failed {
            self.states[i].observe(took);
            return false;
        }
        self.failed(i);
        tried.push(i);
        let again = replay && self.may_retry(tried);
        if again {
            tracing::debug!(pool = %self.settings.name, member = %crate::net::redact(self.url(i)), "member failed; trying another");
        }
        again
    }

    /// A request to member `i` starts; it counts until the guard is dropped.
    pub fn enter(self: &Arc<Self>, i: usize) -> InFlight {
        self.states[i].in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight { members: Arc::clone(self), i }
    }

    /// An answer came back from member `i` after `took`, and (as far as is known) whole.
    pub fn succeeded(&self, i: usize, took: Duration) {
        self.states[i].observe(took);
        self.whole(i);
    }

    /// An answer ended whole: the failures in a row start again.
    pub fn whole(&self, i: usize) {
        let s = &self.states[i];
        s.fails_in_row.store(0, Ordering::Relaxed);
        s.ejections.store(0, Ordering::Relaxed);
    }

    /// Member `i` failed a request (5xx, transport error, timeout, a body broken off).
    pub fn failed(&self, i: usize) {
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
        tracing::warn!(pool = %self.settings.name, member = %crate::net::redact(self.url(i)), out_for = ?out, "pool member ejected after failures in a row");
    }

    /// Starts the active checks (when the group has `[pool.health]`), for as long as the
    /// group lives.
    pub fn start_checks(self: &Arc<Self>, probe: Probe) {
        if self.settings.health.is_none() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(check_forever(Arc::downgrade(self), probe));
        }
    }

    /// Folds one round of check results into the members' states.
    fn checked(&self, results: &[bool], healthy: u32, unhealthy: u32) {
        for (i, &ok) in results.iter().enumerate() {
            let s = &self.states[i];
            if ok == s.check_ok.load(Ordering::Relaxed) {
                s.checks_in_row.store(0, Ordering::Relaxed);
                continue;
            }
            let n = s.checks_in_row.fetch_add(1, Ordering::Relaxed) + 1;
            if n < if ok { healthy } else { unhealthy } {
                continue;
            }
            s.check_ok.store(ok, Ordering::Relaxed);
            s.checks_in_row.store(0, Ordering::Relaxed);
            if ok {
                *s.back_since.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                *s.out_until.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
            let member = crate::net::redact(self.url(i));
            tracing::warn!(pool = %self.settings.name, %member, healthy = ok, "pool member health changed");
        }
    }
}

/// Active checks for as long as the group lives: each member every interval.
async fn check_forever(members: Weak<Members>, probe: Probe) {
    loop {
        let Some(m) = members.upgrade() else { return };
        let Some(h) = m.settings.health.clone() else { return };
        let checks = m.settings.members.iter().map(|member| {
            let probe = Arc::clone(&probe);
            let url = format!("{}{}", member.url, h.path);
            async move { tokio::time::timeout(h.timeout, probe(url)).await.unwrap_or(false) }
        });
        let results = futures::future::join_all(checks).await;
        m.checked(&results, h.healthy, h.unhealthy);
        drop(m);
        tokio::time::sleep(h.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_leaves_in_flight_however_it_ends() {
        let settings = crate::config::PoolSettings {
            name: "t".into(),
            balance: crate::config::Balance::RoundRobin,
            members: vec![crate::config::PoolMember { url: "http://a".into(), weight: 1, max_in_flight: Some(1) }],
            health: None,
            eject_after: 3,
            eject_for: Duration::from_secs(1),
            slow_start: Duration::ZERO,
            retries: 0,
            timeout: None,
        };
        let m = Arc::new(Members::new(settings));
        let guard = m.enter(0);
        assert_eq!(m.states[0].in_flight.load(Ordering::Relaxed), 1);
        assert!(!m.states[0].available(Instant::now()), "at its limit");
        // A request whose task goes away drops its guard like one that ends.
        drop(guard);
        assert_eq!(m.states[0].in_flight.load(Ordering::Relaxed), 0);
        assert!(m.states[0].available(Instant::now()));
    }
}
