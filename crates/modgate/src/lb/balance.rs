//! Choosing a pool member: round robin, smooth weighted round robin (nginx's), least
//! connections per unit of weight, and power of two random choices over a latency EWMA. Each
//! member's health state decides who may be chosen; when nobody may, the least bad member is
//! still tried rather than failing outright. A member back from ejection ramps up its weight
//! over the slow-start time.

use crate::config::Balance;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A moment that may be unset, read and written without a lock: every request reads whether
/// its member is out, and a lock there would be a write to a line every core shares.
#[derive(Debug)]
pub struct AtomicInstant(AtomicU64);

impl Default for AtomicInstant {
    /// Unset. The clock's starting point is fixed no later than now: the moments the new
    /// value will hold come after it.
    fn default() -> Self {
        epoch();
        Self(AtomicU64::new(0))
    }
}

/// The moment an `AtomicInstant` counts from (nanoseconds after it, plus one; 0 is unset).
fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl AtomicInstant {
    pub fn get(&self) -> Option<Instant> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(epoch() + Duration::from_nanos(n - 1)),
        }
    }

    pub fn set(&self, at: Option<Instant>) {
        let n = at.map_or(0, |t| t.saturating_duration_since(epoch()).as_nanos().min(u64::MAX as u128 - 1) as u64 + 1);
        self.0.store(n, Ordering::Relaxed);
    }
}

/// What the balancer and the health checks know about one member. Each member's state has
/// its cache lines to itself: requests on every core update the counts of the one they go to.
#[derive(Debug)]
#[repr(align(128))]
pub struct MemberState {
    pub weight: u32,
    pub max_in_flight: Option<u32>,
    pub in_flight: AtomicU32,
    /// Latency EWMA in microseconds (0 until the first answer).
    pub ewma_us: AtomicU64,
    pub fails_in_row: AtomicU32,
    /// Ejections in a row (for the back-off), reset by a success.
    pub ejections: AtomicU32,
    /// Out until this time (passive ejection), and since when it is back (slow start).
    pub out_until: AtomicInstant,
    pub back_since: AtomicInstant,
    /// Active checks: whether the member passes, and the passes/failures in a row.
    pub check_ok: std::sync::atomic::AtomicBool,
    pub checks_in_row: AtomicU32,
}

impl MemberState {
    pub fn new(weight: u32, max_in_flight: Option<u32>) -> Self {
        Self {
            weight: weight.max(1),
            max_in_flight,
            in_flight: AtomicU32::new(0),
            ewma_us: AtomicU64::new(0),
            fails_in_row: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            out_until: AtomicInstant::default(),
            back_since: AtomicInstant::default(),
            check_ok: std::sync::atomic::AtomicBool::new(true),
            checks_in_row: AtomicU32::new(0),
        }
    }

    /// Whether requests may go to the member now.
    pub fn available(&self, now: Instant) -> bool {
        let ejected = self.out_until.get().is_some_and(|t| now < t);
        let full = self.max_in_flight.is_some_and(|max| self.in_flight.load(Ordering::Relaxed) >= max);
        !ejected && !full && self.check_ok.load(Ordering::Relaxed)
    }

    /// The weight to use now: ramping up from a tenth to the full weight over `slow_start`
    /// after a return.
    pub fn effective_weight(&self, now: Instant, slow_start: Duration) -> f64 {
        let full = self.weight as f64;
        let since = self.back_since.get();
        match since {
            Some(t) if !slow_start.is_zero() && now.duration_since(t) < slow_start => {
                let share = now.duration_since(t).as_secs_f64() / slow_start.as_secs_f64();
                (full * share).max(full / 10.0).max(0.1)
            }
            _ => full,
        }
    }

    /// Folds one latency into the EWMA (weight 0.3 for the new sample).
    pub fn observe(&self, took: Duration) {
        let sample = took.as_micros().min(u64::MAX as u128) as u64;
        let old = self.ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 { sample } else { (old * 7 + sample * 3) / 10 }.max(1);
        if new != old {
            self.ewma_us.store(new, Ordering::Relaxed);
        }
    }
}

/// Member indexes (on the stack for the usual handful of members).
type Indexes = SmallVec<[usize; 16]>;

pub struct Balancer {
    pub kind: Balance,
    pub slow_start: Duration,
    next: AtomicUsize,
    /// Smooth weighted round robin's running weights.
    current: Mutex<Vec<f64>>,
}

impl Balancer {
    pub fn new(kind: Balance, slow_start: Duration, members: usize) -> Self {
        Self { kind, slow_start, next: AtomicUsize::new(0), current: Mutex::new(vec![0.0; members]) }
    }

    /// A member to try, never one of `exclude`; `None` only when every member is excluded.
    pub fn pick(&self, members: &[MemberState], exclude: &[usize], now: Instant) -> Option<usize> {
        // On the stack for the usual handful of members: a pick is on every request's path.
        let open: Indexes = (0..members.len()).filter(|i| !exclude.contains(i)).collect();
        if open.is_empty() {
            return None;
        }
        let ready: Indexes = open.iter().copied().filter(|&i| members[i].available(now)).collect();
        if ready.is_empty() {
            return Some(least_bad(members, &open));
        }
        Some(match self.kind {
            // A group of one has no turns to take (a write every core would share). A larger
            // group takes its turn even when one member is ready: the order of the turns is
            // what spreads the requests after a failure.
            Balance::RoundRobin if members.len() == 1 => ready[0],
            Balance::RoundRobin => ready[self.next.fetch_add(1, Ordering::Relaxed) % ready.len()],
            Balance::Weighted => self.smooth(members, &ready, now),
            Balance::LeastConn => self.least_conn(members, &ready, now),
            Balance::P2c => self.p2c(members, &ready, now),
        })
    }

    fn smooth(&self, members: &[MemberState], ready: &[usize], now: Instant) -> usize {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut total = 0.0;
        let mut best = ready[0];
        for &i in ready {
            let w = members[i].effective_weight(now, self.slow_start);
            current[i] += w;
            total += w;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        best
    }

    fn least_conn(&self, members: &[MemberState], ready: &[usize], now: Instant) -> usize {
        let load = |i: usize| {
            members[i].in_flight.load(Ordering::Relaxed) as f64 / members[i].effective_weight(now, self.slow_start)
        };
        // Each load read once: requests start and end meanwhile, and a second reading could
        // leave no member at the least load of the first.
        let loads: SmallVec<[(usize, f64); 16]> = ready.iter().map(|&i| (i, load(i))).collect();
        let least = loads.iter().map(|&(_, l)| l).fold(f64::INFINITY, f64::min);
        // Ties go round the tied members.
        let tied: Indexes = loads.iter().filter(|&&(_, l)| l <= least).map(|&(i, _)| i).collect();
        match tied.len() {
            0 => ready[0],
            n => tied[self.next.fetch_add(1, Ordering::Relaxed) % n],
        }
    }

    fn p2c(&self, members: &[MemberState], ready: &[usize], now: Instant) -> usize {
        if ready.len() == 1 {
            return ready[0];
        }
        let a = rand::random_range(0..ready.len());
        let mut b = rand::random_range(0..ready.len() - 1);
        if b >= a {
            b += 1;
        }
        let cost = |i: usize| {
            let m = &members[i];
            // Unmeasured members look fast, so they get measured.
            let ewma = m.ewma_us.load(Ordering::Relaxed).max(1) as f64;
            ewma * (m.in_flight.load(Ordering::Relaxed) as f64 + 1.0) / m.effective_weight(now, self.slow_start)
        };
        let (a, b) = (ready[a], ready[b]);
        if cost(b) < cost(a) {
            b
        } else {
            a
        }
    }
}

/// With nobody available: the member whose ejection ends first, else the one failing least.
fn least_bad(members: &[MemberState], open: &[usize]) -> usize {
    let key = |i: usize| {
        let until = members[i].out_until.get();
        (until, members[i].fails_in_row.load(Ordering::Relaxed))
    };
    open.iter().copied().min_by_key(|&i| key(i)).unwrap_or(open[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(weights: &[u32]) -> Vec<MemberState> {
        weights.iter().map(|&w| MemberState::new(w, None)).collect()
    }

    fn counts(b: &Balancer, m: &[MemberState], n: usize) -> Vec<usize> {
        let mut c = vec![0; m.len()];
        let now = Instant::now();
        for _ in 0..n {
            c[b.pick(m, &[], now).unwrap()] += 1;
        }
        c
    }

    #[test]
    fn weighted_split_is_within_five_percent_of_the_weights() {
        let m = members(&[5, 3, 2]);
        let b = Balancer::new(Balance::Weighted, Duration::ZERO, 3);
        let c = counts(&b, &m, 10_000);
        for (i, want) in [5000.0, 3000.0, 2000.0].iter().enumerate() {
            let got = c[i] as f64;
            assert!((got - want).abs() <= want * 0.05, "member {i}: {got} of 10,000, weight says {want}");
        }
        // Smooth: the heavy member never takes more than two picks in a row with 5/3/2.
        let b = Balancer::new(Balance::Weighted, Duration::ZERO, 3);
        let seq: Vec<usize> = (0..10).map(|_| b.pick(&m, &[], Instant::now()).unwrap()).collect();
        assert!(seq.windows(3).all(|w| !(w[0] == 0 && w[1] == 0 && w[2] == 0)), "{seq:?}");
    }

    #[test]
    fn round_robin_is_even_and_skips_the_ejected() {
        let m = members(&[1, 1, 1]);
        let b = Balancer::new(Balance::RoundRobin, Duration::ZERO, 3);
        assert_eq!(counts(&b, &m, 300), [100, 100, 100]);
        m[1].out_until.set(Some(Instant::now() + Duration::from_secs(60)));
        let c = counts(&b, &m, 300);
        assert_eq!(c[1], 0, "ejected: {c:?}");
        assert_eq!(c[0] + c[2], 300);
    }

    #[test]
    fn least_conn_sends_a_busy_member_fewer_requests() {
        let m = members(&[1, 1]);
        let b = Balancer::new(Balance::LeastConn, Duration::ZERO, 2);
        // The slow member holds requests longer: simulate by keeping 4 in flight there.
        m[0].in_flight.store(4, Ordering::Relaxed);
        let mut c = [0; 2];
        for _ in 0..100 {
            let i = b.pick(&m, &[], Instant::now()).unwrap();
            c[i] += 1;
            m[i].in_flight.fetch_add(1, Ordering::Relaxed);
            // Requests to the fast member end at once.
            if i == 1 {
                m[1].in_flight.fetch_sub(1, Ordering::Relaxed);
            }
        }
        assert!(c[0] <= 1, "the busy member got {} of 100", c[0]);
    }

    #[test]
    fn p2c_avoids_a_member_ten_times_slower() {
        let m = members(&[1, 1, 1]);
        m[0].observe(Duration::from_millis(100));
        m[1].observe(Duration::from_millis(10));
        m[2].observe(Duration::from_millis(10));
        let b = Balancer::new(Balance::P2c, Duration::ZERO, 3);
        let c = counts(&b, &m, 3000);
        // The slow one wins only when drawn against itself, which p2c never does.
        assert_eq!(c[0], 0, "{c:?}");
        assert!(c[1] > 1200 && c[2] > 1200, "{c:?}");
    }

    #[test]
    fn with_nobody_available_the_least_bad_is_still_tried() {
        let m = members(&[1, 1]);
        let now = Instant::now();
        m[0].out_until.set(Some(now + Duration::from_secs(60)));
        m[1].out_until.set(Some(now + Duration::from_secs(5)));
        let b = Balancer::new(Balance::RoundRobin, Duration::ZERO, 2);
        assert_eq!(b.pick(&m, &[], now), Some(1), "its ejection ends first");
        assert_eq!(b.pick(&m, &[1], now), Some(0));
        assert_eq!(b.pick(&m, &[0, 1], now), None);
    }

    #[test]
    fn a_member_at_its_limit_is_skipped() {
        let m = vec![MemberState::new(1, Some(2)), MemberState::new(1, None)];
        let b = Balancer::new(Balance::RoundRobin, Duration::ZERO, 2);
        m[0].in_flight.store(2, Ordering::Relaxed);
        assert_eq!(counts(&b, &m, 10), [0, 10]);
        m[0].in_flight.store(1, Ordering::Relaxed);
        assert_eq!(counts(&b, &m, 10), [5, 5]);
    }

    #[test]
    fn an_atomic_instant_gives_back_what_it_was_set_to() {
        let a = AtomicInstant::default();
        assert_eq!(a.get(), None);
        let t = Instant::now() + Duration::from_nanos(1_234_567);
        a.set(Some(t));
        assert_eq!(a.get(), Some(t));
        a.set(None);
        assert_eq!(a.get(), None);
    }

    #[test]
    fn a_returning_member_ramps_up() {
        let m = MemberState::new(10, None);
        let now = Instant::now();
        m.back_since.set(Some(now));
        let slow = Duration::from_secs(10);
        assert!((m.effective_weight(now, slow) - 1.0).abs() < 1e-9, "a tenth at first");
        assert!((m.effective_weight(now + Duration::from_secs(5), slow) - 5.0).abs() < 1e-6);
        assert_eq!(m.effective_weight(now + Duration::from_secs(11), slow), 10.0);
    }
}
