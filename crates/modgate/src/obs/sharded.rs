//! Counters and histograms for the per-request series, updated without a lock and without a
//! cache line that every core writes. prometheus-client's own take a shared atomic (a counter)
//! or a mutex (a histogram) on every update; on a busy proxy every core then passes those
//! lines back and forth on every request. Here each thread adds to a shard of its own (its
//! cache lines to itself), and a scrape sums the shards.
//!
//! They encode exactly as prometheus-client's `Counter` and `Histogram` do: a scrape cannot
//! tell them apart.

use crossbeam_utils::CachePadded;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// How many shards a series has: twice the cores (threads beyond them share), at most 64.
fn shards() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).saturating_mul(2).clamp(2, 64))
}

/// The calling thread's shard: threads take the next one as they first count.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    MINE.with(|m| *m) % shards()
}

/// A counter (`Counter<u64>`), sharded.
#[derive(Debug, Clone)]
pub struct Counter(Arc<[CachePadded<AtomicU64>]>);

impl Default for Counter {
    fn default() -> Self {
        Self((0..shards()).map(|_| CachePadded::new(AtomicU64::new(0))).collect())
    }
}

impl Counter {
    pub fn inc(&self) {
        self.inc_by(1);
    }

    pub fn inc_by(&self, n: u64) {
        self.0[shard()].fetch_add(n, Ordering::Relaxed);
    }

    /// The total over the shards.
    pub fn get(&self) -> u64 {
        self.0.iter().map(|s| s.load(Ordering::Relaxed)).fold(0, u64::wrapping_add)
    }
}

impl TypedMetric for Counter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Counter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// One thread's part of a histogram: the count, the sum (an `f64`'s bits) and each bucket's
/// own count (the last bucket is `+Inf`).
#[derive(Debug)]
struct Part {
    count: AtomicU64,
    sum: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

/// A histogram with fixed bucket bounds, sharded.
#[derive(Debug, Clone)]
pub struct Histogram {
    /// The upper bounds, in order, `+Inf` last.
    bounds: Arc<[f64]>,
    parts: Arc<[CachePadded<Part>]>,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Self {
        let bounds: Arc<[f64]> = bounds.iter().copied().chain(std::iter::once(f64::INFINITY)).collect();
        let parts = (0..shards())
            .map(|_| {
                CachePadded::new(Part {
                    count: AtomicU64::new(0),
                    sum: AtomicU64::new(0f64.to_bits()),
                    buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
                })
            })
            .collect();
        Self { bounds, parts }
    }

    pub fn observe(&self, v: f64) {
        let part = &self.parts[shard()];
        part.count.fetch_add(1, Ordering::Relaxed);
        // The shard is the thread's own: the update almost never has to try again.
        let _ =
            part.sum.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some((f64::from_bits(s) + v).to_bits()));
        // NaN goes to +Inf, as prometheus-client puts it.
        let i = self.bounds.iter().position(|&b| b >= v).unwrap_or(self.bounds.len() - 1);
        part.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    /// The sum, the count and each bucket's own count (not cumulative) over the shards.
    pub fn get(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = self.bounds.iter().map(|&b| (b, 0)).collect();
        let (mut sum, mut count) = (0.0, 0u64);
        for p in self.parts.iter() {
            sum += f64::from_bits(p.sum.load(Ordering::Relaxed));
            count = count.wrapping_add(p.count.load(Ordering::Relaxed));
            for (b, n) in buckets.iter_mut().zip(p.buckets.iter()) {
                b.1 += n.load(Ordering::Relaxed);
            }
        }
        (sum, count, buckets)
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.get();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    /// The text a registry holding `metric` under `name` gives.
    fn text(name: &str, metric: impl EncodeMetric + Send + Sync + std::fmt::Debug + 'static) -> String {
        let mut r = Registry::default();
        r.register(name, "help", metric);
        let mut out = String::new();
        encode(&mut out, &r).unwrap();
        out
    }

    #[test]
    fn they_encode_as_prometheus_client_s_own_with_counts_from_every_thread() {
        const BOUNDS: &[f64] = &[0.001, 0.01, 0.1, 1.0];
        let (ours, theirs) =
            (Histogram::new(BOUNDS), prometheus_client::metrics::histogram::Histogram::new(BOUNDS.iter().copied()));
        let (our_count, their_count) =
            (Counter::default(), prometheus_client::metrics::counter::Counter::<u64>::default());
        let values = [0.0005, 0.001, 0.05, 0.5, 3.0, f64::NAN, 0.02, 0.02];
        std::thread::scope(|s| {
            for chunk in values.chunks(2) {
                let (ours, our_count) = (ours.clone(), our_count.clone());
                s.spawn(move || {
                    for &v in chunk {
                        ours.observe(v);
                        our_count.inc_by(2);
                    }
                });
            }
        });
        for &v in &values {
            theirs.observe(v);
            their_count.inc_by(2);
        }
        assert_eq!(our_count.get(), 16);
        // NaN makes the sums NaN on both sides: compare the rest, and the sums without it.
        let strip = |t: String| t.lines().filter(|l| !l.contains("_sum")).collect::<Vec<_>>().join("\n");
        assert_eq!(strip(text("h", ours.clone())), strip(text("h", theirs)));
        assert_eq!(text("c", our_count), text("c", their_count));
        let plain = Histogram::new(BOUNDS);
        let theirs = prometheus_client::metrics::histogram::Histogram::new(BOUNDS.iter().copied());
        for v in [0.25, 0.5, 2.0] {
            plain.observe(v);
            theirs.observe(v);
        }
        assert_eq!(text("h", plain), text("h", theirs));
    }
}
