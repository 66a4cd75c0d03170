//! The shape of a run, for plots: latency over time (a bounded timeline that coarsens as the
//! run goes on), and the histogram and percentile curve of a finished distribution.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

/// Most buckets a timeline keeps: past it, neighbours merge and the width doubles.
const POINTS: usize = 120;
/// The first bucket width: 50 ms, so that a 5 s run still has a hundred points.
const FIRST_WIDTH_S: f64 = 0.05;

#[derive(Debug, Clone)]
struct Bucket {
    requests: u64,
    errors: u64,
    warmup: bool,
    /// Latencies of the successful requests (µs, 2 digits: a few KB each).
    latency: Histogram<u32>,
}

impl Bucket {
    fn new() -> Self {
        Self {
            requests: 0,
            errors: 0,
            warmup: false,
            latency: Histogram::new(2).unwrap_or_else(|_| unreachable!("2 digits is valid")),
        }
    }

    fn add(&mut self, other: &Bucket) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.warmup |= other.warmup;
        let _ = self.latency.add(&other.latency);
    }
}

/// A timeline bucket as a merge input holds it: requests, errors, whether any was warm-up, and
/// the successes' latencies.
pub(crate) type BucketParts<H> = (u64, u64, bool, H);

/// Requests by when they were sent: at most `POINTS` buckets, whatever the duration.
#[derive(Debug, Clone)]
pub struct Timeline {
    width: f64,
    buckets: Vec<Bucket>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            width: FIRST_WIDTH_S,
            buckets: Vec::new(),
        }
    }
}

/// One bucket of the timeline, as reported.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TimePoint {
    /// The bucket's start, in seconds from the start of the run (warm-up included).
    pub t_s: f64,
    /// Its width, in seconds.
    pub width_s: f64,
    /// Requests sent in it (warm-up ones included).
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Whether any of them was warm-up.
    pub warmup: bool,
    /// Median latency of its successes, in ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile, in ms.
    pub p95_ms: Option<f64>,
    /// Largest, in ms.
    pub max_ms: Option<f64>,
}

impl Timeline {
    /// Records a request sent `at` after the start of the run.
    pub fn record(&mut self, at: Duration, latency: Option<Duration>, warmup: bool) {
        let at = at.as_secs_f64();
        let mut i = (at / self.width) as usize;
        while i >= POINTS {
            self.coarsen();
            i = (at / self.width) as usize;
        }
        if self.buckets.len() <= i {
            self.buckets.resize_with(i + 1, Bucket::new);
        }
        let b = &mut self.buckets[i];
        b.requests += 1;
        b.warmup |= warmup;
        match latency {
            Some(l) => {
                let us = u64::try_from(l.as_micros()).unwrap_or(u64::MAX).max(1);
                let _ = b.latency.record(us);
            }
            None => b.errors += 1,
        }
    }

    fn coarsen(&mut self) {
        self.width *= 2.0;
        let old = std::mem::take(&mut self.buckets);
        for pair in old.chunks(2) {
            let mut b = pair[0].clone();
            if let Some(next) = pair.get(1) {
                b.add(next);
            }
            self.buckets.push(b);
        }
    }

    /// The width of its buckets (s), and each bucket's requests, errors, whether any was
    /// warm-up, and its successes' latencies (µs, 2 digits): what a merge input holds.
    pub(crate) fn parts(&self) -> (f64, Vec<BucketParts<&Histogram<u32>>>) {
        let buckets = self
            .buckets
            .iter()
            .map(|b| (b.requests, b.errors, b.warmup, &b.latency))
            .collect();
        (self.width, buckets)
    }

    /// A timeline from the parts another process wrote; `None` when they could not have come
    /// from a timeline (a width that is not the first one doubled, too many buckets).
    pub(crate) fn from_parts(
        width: f64,
        buckets: Vec<BucketParts<Histogram<u32>>>,
    ) -> Option<Self> {
        let doublings = (width / FIRST_WIDTH_S).log2();
        let whole = doublings.round();
        if !(0.0..=64.0).contains(&whole)
            || (doublings - whole).abs() > 1e-9
            || buckets.len() > POINTS
        {
            return None;
        }
        let buckets = buckets
            .into_iter()
            .map(|(requests, errors, warmup, latency)| Bucket {
                requests,
                errors,
                warmup,
                latency,
            })
            .collect();
        Some(Self {
            width: FIRST_WIDTH_S * 2f64.powi(whole as i32),
            buckets,
        })
    }

    /// Adds another run's timeline (the same offsets from each run's start).
    pub fn merge(&mut self, other: &Timeline) {
        let mut other = other.clone();
        while other.width < self.width {
            other.coarsen();
        }
        while self.width < other.width {
            self.coarsen();
        }
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize_with(other.buckets.len(), Bucket::new);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            mine.add(theirs);
        }
    }

    /// The buckets, as reported (empty ones included, so that a stall shows as a gap), wide
    /// enough that a bucket holds ten requests on average, as long as ten buckets remain:
    /// a slow run is not drawn as scattered single requests.
    pub fn points(&self) -> Vec<TimePoint> {
        let total: u64 = self.buckets.iter().map(|b| b.requests).sum();
        let mut t = self.clone();
        while t.buckets.len().div_ceil(2) >= 10 && total < 10 * t.buckets.len() as u64 {
            t.coarsen();
        }
        t.report()
    }

    fn report(&self) -> Vec<TimePoint> {
        let ms = |us: u64| us as f64 / 1000.0;
        self.buckets
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let h = &b.latency;
                let some = !h.is_empty();
                TimePoint {
                    t_s: i as f64 * self.width,
                    width_s: self.width,
                    requests: b.requests,
                    errors: b.errors,
                    warmup: b.warmup,
                    p50_ms: some.then(|| ms(h.value_at_quantile(0.5))),
                    p95_ms: some.then(|| ms(h.value_at_quantile(0.95))),
                    max_ms: some.then(|| ms(h.max())),
                }
            })
            .collect()
    }
}

/// A distribution's shape: its histogram on log-spaced bins and its percentile curve.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Shape {
    /// `[from_ms, to_ms, count]`, log-spaced from the smallest value to the largest.
    pub bins: Vec<[f64; 3]>,
    /// `[percentile, ms]`, spaced evenly in "nines" (50, 90, 99, 99.9 … are equally apart).
    pub percentiles: Vec<[f64; 2]>,
}

/// Bins of the histogram.
const BINS: usize = 40;

/// The shape of `h` (µs); `None` when it is empty.
pub fn shape(h: &Histogram<u64>) -> Option<Shape> {
    if h.is_empty() {
        return None;
    }
    let (lo, hi) = (h.min().max(1) as f64, h.max().max(1) as f64);
    let span = (hi / lo).ln();
    let edges: Vec<f64> = (0..=BINS)
        .map(|i| {
            if span > 0.0 {
                lo * (span * i as f64 / BINS as f64).exp()
            } else {
                lo + i as f64
            }
        })
        .collect();
    let mut counts = vec![0u64; BINS];
    for v in h.iter_recorded() {
        let x = h.median_equivalent(v.value_iterated_to()) as f64;
        let i = edges[1..].iter().position(|e| x < *e).unwrap_or(BINS - 1);
        counts[i] += v.count_at_value();
    }
    let bins = counts
        .iter()
        .enumerate()
        .map(|(i, c)| [edges[i] / 1000.0, edges[i + 1] / 1000.0, *c as f64])
        .collect();
    // From 0 to 4 nines in steps of a tenth of a nine, then the maximum.
    let mut percentiles: Vec<[f64; 2]> = (0..=40)
        .map(|k| {
            let q = 1.0 - 10f64.powf(-(k as f64) / 10.0);
            [q * 100.0, h.value_at_quantile(q) as f64 / 1000.0]
        })
        .collect();
    percentiles.push([100.0, h.max() as f64 / 1000.0]);
    Some(Shape { bins, percentiles })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_stays_bounded_and_keeps_every_request() {
        let mut t = Timeline::default();
        for i in 0..36_000u64 {
            // One request every 100 ms for an hour.
            let at = Duration::from_millis(i * 100);
            let failed = i % 10 == 0;
            t.record(at, (!failed).then(|| Duration::from_millis(20)), i < 10);
        }
        let points = t.points();
        assert!(points.len() <= POINTS, "{} points", points.len());
        assert_eq!(points.iter().map(|p| p.requests).sum::<u64>(), 36_000);
        assert_eq!(points.iter().map(|p| p.errors).sum::<u64>(), 3_600);
        assert!(points[0].warmup && !points[1].warmup);
        let p50 = points[3].p50_ms.unwrap_or(0.0);
        assert!((p50 - 20.0).abs() < 0.2, "{p50}");
    }

    #[test]
    fn a_stall_shows_as_empty_buckets_and_merging_aligns_widths() {
        let mut a = Timeline::default();
        for i in 0..20 {
            let ms = if i < 10 { i * 5 } else { 2000 + i * 5 };
            a.record(
                Duration::from_millis(ms),
                Some(Duration::from_millis(1)),
                false,
            );
        }
        // 20 requests over 2 s: the 50 ms buckets merge into 200 ms ones (11 of them).
        let points = a.points();
        assert_eq!(points.len(), 11);
        assert!(points[5].p50_ms.is_none() && points[5].requests == 0);
        assert_eq!(points[0].requests, 10);
        let mut b = Timeline::default();
        b.record(
            Duration::from_secs(30),
            Some(Duration::from_millis(5)),
            false,
        );
        a.merge(&b);
        let points = a.points();
        assert!(points.len() <= POINTS);
        assert_eq!(points.iter().map(|p| p.requests).sum::<u64>(), 21);
    }

    #[test]
    fn the_shape_counts_every_sample_and_its_percentiles_rise() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
            .unwrap_or_else(|_| unreachable!());
        for ms in 1..=1000u64 {
            let _ = h.record(ms * 1000);
        }
        let s = shape(&h).unwrap_or_else(|| unreachable!());
        assert_eq!(s.bins.iter().map(|b| b[2]).sum::<f64>(), 1000.0);
        assert!(s.bins.windows(2).all(|w| w[0][1] <= w[1][0] + 1e-9));
        assert!(s.percentiles.windows(2).all(|w| w[0][1] <= w[1][1]));
        let p90 = s.percentiles[10];
        assert!((p90[0] - 90.0).abs() < 1e-9 && (p90[1] - 900.0).abs() < 1.0);
        let max = s.percentiles.last().map_or(0.0, |p| p[1]);
        assert!((max - 1000.0).abs() < 1.0, "{max}");
        assert!(shape(&Histogram::<u64>::new(3).unwrap_or_else(|_| unreachable!())).is_none());
    }
}
