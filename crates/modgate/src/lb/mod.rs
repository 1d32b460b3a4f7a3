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

use crate::config::{Balance, PoolSettings};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Retries allowed: a tenth of a retry per request, up to ten saved (counted in tenths).
const BUDGET_CAP: u32 = 100;
const RETRY_COST: u32 = 10;
/// Ejections in a row double the time out, up to this factor.
const MAX_BACKOFF: u32 = 8;

/// One request counted in a member's `in_flight` until dropped, however the request ends
/// (an answer, an error, its task going away, or — for a body — the body's end). It holds
/// the group (`Arc`, for a body that outlives the request's code) or borrows it (`&`, for a
/// request answered within one function: no count on the group's `Arc` to share).
pub struct InFlight<M: std::ops::Deref<Target = Members> = Arc<Members>> {
    members: M,
    i: usize,
    counted: bool,
}

impl<M: std::ops::Deref<Target = Members>> InFlight<M> {
    pub fn members(&self) -> &Members {
        &self.members
    }

    /// Which member the request went to.
    pub fn member(&self) -> usize {
        self.i
    }
}

impl<M: std::ops::Deref<Target = Members>> Drop for InFlight<M> {
    fn drop(&mut self) {
        if self.counted {
            self.members.states[self.i].in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Asks one member (by its URL) whether it is healthy.
pub type Probe = Arc<dyn Fn(String) -> BoxFuture<'static, bool> + Send + Sync>;

pub struct Members {
    pub settings: PoolSettings,
    pub states: Vec<MemberState>,
    balancer: Balancer,
    /// Tenths of a retry saved. Read before it is written: a full budget (the usual case)
    /// costs a request no write to a line every core shares.
    budget: AtomicU32,
    /// Whether anything reads the members' `in_flight` (least connections, p2c, a member's
    /// `max_in_flight`). When nothing does, requests do not count it: two writes fewer, on a
    /// line every core shares.
    counts_in_flight: bool,
}

impl Members {
    pub fn new(settings: PoolSettings) -> Self {
        let states = settings.members.iter().map(|m| MemberState::new(m.weight, m.max_in_flight)).collect();
        let balancer = Balancer::new(settings.balance, settings.slow_start, settings.members.len());
        let counts_in_flight = matches!(settings.balance, Balance::LeastConn | Balance::P2c)
            || settings.members.iter().any(|m| m.max_in_flight.is_some());
        Self { settings, states, balancer, budget: AtomicU32::new(BUDGET_CAP), counts_in_flight }
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
        if self.budget.load(Ordering::Relaxed) < BUDGET_CAP {
            let _ = self.budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some((b + 1).min(BUDGET_CAP)));
        }
    }

    /// The member to try next, never one of `tried`.
    pub fn pick(&self, tried: &[usize]) -> Option<usize> {
        self.pick_at(tried, Instant::now())
    }

    /// `pick`, with the caller's reading of the clock.
    pub fn pick_at(&self, tried: &[usize], now: Instant) -> Option<usize> {
        self.balancer.pick(&self.states, tried, now)
    }

    /// Whether a request that failed on the members in `tried` may go to another one: within
    /// the group's `retries`, a member left, and a retry in the budget.
    pub fn may_retry(&self, tried: &[usize]) -> bool {
        if tried.len() > self.settings.retries as usize || tried.len() >= self.len() {
            return false;
        }
        self.budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(RETRY_COST)).is_ok()
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
        let counted = self.count_in(i);
        InFlight { members: Arc::clone(self), i, counted }
    }

    /// `enter`, borrowing the group.
    pub fn enter_here(&self, i: usize) -> InFlight<&Self> {
        let counted = self.count_in(i);
        InFlight { members: self, i, counted }
    }

    /// Counts a request in member `i`'s `in_flight` when something reads it.
    fn count_in(&self, i: usize) -> bool {
        if self.counts_in_flight {
            self.states[i].in_flight.fetch_add(1, Ordering::Relaxed);
        }
        self.counts_in_flight
    }

    /// An answer came back from member `i` after `took`, and (as far as is known) whole.
    pub fn succeeded(&self, i: usize, took: Duration) {
        self.states[i].observe(took);
        self.whole(i);
    }

    /// An answer ended whole: the failures in a row start again.
    pub fn whole(&self, i: usize) {
        let s = &self.states[i];
        // Read first: most answers find both at 0, and a store would still take the line
        // from the other cores.
        if s.fails_in_row.load(Ordering::Relaxed) != 0 {
            s.fails_in_row.store(0, Ordering::Relaxed);
        }
        if s.ejections.load(Ordering::Relaxed) != 0 {
            s.ejections.store(0, Ordering::Relaxed);
        }
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
        s.out_until.set(Some(now + out));
        s.back_since.set(Some(now + out));
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
                s.back_since.set(Some(Instant::now()));
                s.out_until.set(None);
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
