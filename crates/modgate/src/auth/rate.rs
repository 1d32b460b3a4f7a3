//! Per-principal request rates (`limits.key_rate`, `limits.key_burst`): a token bucket for each
//! key or client certificate.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

pub struct RateLimiter {
    /// Tokens per second (0: no limit) and the bucket size; a reload may change them.
    limits: RwLock<(f64, f64)>,
    /// (tokens, last refill) per principal name.
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self { limits: RwLock::new((rate, burst.max(1.0))), buckets: Mutex::new(HashMap::new()) }
    }

    /// New limits from a reload; buckets keep their tokens, up to the new size.
    pub fn set(&self, rate: f64, burst: f64) {
        *self.limits.write().unwrap_or_else(|p| p.into_inner()) = (rate, burst.max(1.0));
    }

    fn limits(&self) -> (f64, f64) {
        *self.limits.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_on(&self) -> bool {
        self.limits().0 > 0.0
    }

    /// Takes a token from `name`'s bucket; false when it is empty.
    pub fn take(&self, name: &str) -> bool {
        let (rate, burst) = self.limits();
        if rate <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.retain(|_, (_, t)| now.duration_since(*t).as_secs_f64() * rate < burst);
        }
        let (tokens, last) = buckets.entry(name.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_has_its_own_bucket() {
        let r = RateLimiter::new(0.001, 3.0);
        let granted = (0..5).filter(|_| r.take("a")).count();
        assert_eq!(granted, 3, "the burst, then nothing (the refill is far slower than the test)");
        assert!(r.take("other"), "another key has its own bucket");
        assert!(RateLimiter::new(0.0, 0.0).take("a"), "no rate, no limit");
    }
}
