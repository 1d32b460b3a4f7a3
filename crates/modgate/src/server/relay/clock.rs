//! A connection's one timer, cheap to move later. Every relayed request waits twice under a
//! limit (for the next head, for the backend's answer), and a fresh tokio timer for each wait
//! costs two trips through the runtime's timer wheel and its lock — and, often enough, a
//! write to the runtime's wake-up descriptor and an empty turn of its poll loop. Here a later
//! deadline is only noted; the timer under it stays set for the earlier one, and when it goes
//! off before the noted deadline it is set again for that deadline. A timer a connection
//! keeps busy is so set once per limit's length (30 s, say), not twice per request.

use std::pin::Pin;
use tokio::time::{Instant, Sleep};

pub struct Deadline {
    timer: Pin<Box<Sleep>>,
    at: Instant,
}

impl Deadline {
    pub fn new(at: Instant) -> Self {
        Self { timer: Box::pin(tokio::time::sleep_until(at)), at }
    }

    /// From now on, `expired` waits for `at`, earlier or later than before.
    pub fn set(&mut self, at: Instant) {
        self.at = at;
        if at < self.timer.deadline() {
            self.timer.as_mut().reset(at);
        }
    }

    /// Resolves once the deadline has passed.
    pub async fn expired(&mut self) {
        loop {
            self.timer.as_mut().await;
            if Instant::now() >= self.at {
                return;
            }
            let at = self.at;
            self.timer.as_mut().reset(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_is_kept_and_an_earlier_one_is_taken_at_once() {
        let start = Instant::now();
        let mut d = Deadline::new(start + Duration::from_secs(30));
        d.set(start + Duration::from_secs(50));
        d.expired().await;
        assert_eq!(Instant::now() - start, Duration::from_secs(50), "the timer set for 30 s was moved on to 50 s");

        let now = Instant::now();
        d.set(now + Duration::from_secs(60));
        d.set(now + Duration::from_secs(5));
        d.expired().await;
        assert_eq!(Instant::now() - now, Duration::from_secs(5), "an earlier deadline resets the timer");
    }

    #[tokio::test(start_paused = true)]
    async fn a_passed_deadline_is_expired_at_once() {
        let mut d = Deadline::new(Instant::now() + Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(2)).await;
        let before = Instant::now();
        d.expired().await;
        assert_eq!(Instant::now(), before);
    }
}
