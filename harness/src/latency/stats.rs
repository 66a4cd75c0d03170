//! What a load run measured, per scenario, in HDR histograms (microseconds, 3 significant
//! digits: memory is fixed however long the run), and the verdict of each budget.

use super::probe::{Sample, TokenCount};
use super::shape::{shape, Shape, Timeline};
use super::slo::{Budget, Measure, Scenario, Series, Stat};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Distinct error messages kept per scenario (the rest are counted as "other").
const ERROR_KINDS: usize = 20;

fn histogram() -> Histogram<u64> {
    // 1 µs to 1 hour at 3 significant digits: a fixed ~200 KB whatever is recorded.
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!("3 digits is valid")))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 3_600_000_000)
}

/// One scenario's tallies.
#[derive(Debug, Clone)]
pub struct ScenarioTally {
    latency: Histogram<u64>,
    ttft: Histogram<u64>,
    itl: Histogram<u64>,
    tpot: Histogram<u64>,
    /// Requests measured (warm-up excluded).
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Of which succeeded within every per-request time budget.
    pub good: u64,
    /// Requests sent during the warm-up (measured, not counted).
    pub warmup: u64,
    /// Failures by message.
    pub error_kinds: BTreeMap<String, u64>,
    /// Streams whose token count came from usage, and from counting deltas.
    pub counted: (u64, u64),
    /// Per-request budgets, for goodput.
    per_request: Vec<(Series, f64)>,
    /// Requests by when they were sent (warm-up included), for the plot over time.
    pub timeline: Timeline,
}

impl ScenarioTally {
    /// An empty tally for `scenario`.
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            latency: histogram(),
            ttft: histogram(),
            itl: histogram(),
            tpot: histogram(),
            requests: 0,
            errors: 0,
            good: 0,
            warmup: 0,
            error_kinds: BTreeMap::new(),
            counted: (0, 0),
            per_request: scenario
                .budgets
                .iter()
                .filter_map(Budget::per_request)
                .collect(),
            timeline: Timeline::default(),
        }
    }

    /// Records one request; a warm-up request is only counted as such.
    pub fn record(&mut self, sample: &Sample, warmup: bool) {
        let ok = sample.error.is_none().then_some(sample.latency);
        self.timeline.record(sample.sent_at, ok, warmup);
        if warmup {
            self.warmup += 1;
            return;
        }
        self.requests += 1;
        if let Some(error) = &sample.error {
            self.errors += 1;
            let kinds = self.error_kinds.len();
            let key = if kinds < ERROR_KINDS || self.error_kinds.contains_key(error) {
                error.clone()
            } else {
                "other errors".to_owned()
            };
            *self.error_kinds.entry(key).or_default() += 1;
            return;
        }
        let _ = self.latency.record(micros(sample.latency));
        if let Some(t) = sample.ttft {
            let _ = self.ttft.record(micros(t));
        }
        for gap in &sample.itl {
            let _ = self.itl.record(micros(*gap));
        }
        if let Some(t) = sample.tpot() {
            let _ = self.tpot.record(micros(t));
        }
        match sample.tokens {
            Some((_, TokenCount::Usage)) => self.counted.0 += 1,
            Some((_, TokenCount::Deltas)) => self.counted.1 += 1,
            None => {}
        }
        let within = self.per_request.iter().all(|(series, limit)| {
            let value = match series {
                Series::Latency => Some(sample.latency),
                Series::Ttft => sample.ttft,
                Series::Itl => sample.itl.iter().max().copied(),
                Series::Tpot => sample.tpot(),
            };
            value.is_some_and(|v| v.as_secs_f64() <= *limit)
        });
        if within {
            self.good += 1;
        }
    }

    /// Adds another tally of the same scenario.
    pub fn merge(&mut self, other: &ScenarioTally) {
        let _ = self.latency.add(&other.latency);
        let _ = self.ttft.add(&other.ttft);
        let _ = self.itl.add(&other.itl);
        let _ = self.tpot.add(&other.tpot);
        self.requests += other.requests;
        self.errors += other.errors;
        self.good += other.good;
        self.warmup += other.warmup;
        for (k, v) in &other.error_kinds {
            *self.error_kinds.entry(k.clone()).or_default() += v;
        }
        self.counted.0 += other.counted.0;
        self.counted.1 += other.counted.1;
        self.timeline.merge(&other.timeline);
    }

    /// The histogram of `series` (µs), to write it for a merge.
    pub(crate) fn histogram(&self, series: Series) -> &Histogram<u64> {
        self.series(series)
    }

    /// Adds a histogram of `series` read back from a merge input; it must have the bounds
    /// every tally has (1 µs to 1 h, 3 digits), or nothing is added and `false` returned.
    pub(crate) fn add_histogram(&mut self, series: Series, h: &Histogram<u64>) -> bool {
        let mine = match series {
            Series::Latency => &mut self.latency,
            Series::Ttft => &mut self.ttft,
            Series::Itl => &mut self.itl,
            Series::Tpot => &mut self.tpot,
        };
        let same = h.low() == mine.low() && h.high() == mine.high() && h.sigfig() == mine.sigfig();
        same && mine.add(h).is_ok()
    }

    fn series(&self, series: Series) -> &Histogram<u64> {
        match series {
            Series::Latency => &self.latency,
            Series::Ttft => &self.ttft,
            Series::Itl => &self.itl,
            Series::Tpot => &self.tpot,
        }
    }

    /// A statistic of a series in seconds; `None` with no samples.
    pub fn stat(&self, series: Series, stat: Stat) -> Option<f64> {
        let h = self.series(series);
        if h.is_empty() {
            return None;
        }
        let us = match stat {
            Stat::Percentile(p) => h.value_at_quantile(p / 100.0) as f64,
            Stat::Max => h.max() as f64,
            Stat::Min => h.min() as f64,
            Stat::Mean => h.mean(),
        };
        Some(us / 1e6)
    }

    /// The histogram and percentile curve of a series, for plots.
    pub fn shape(&self, series: Series) -> Option<Shape> {
        shape(self.series(series))
    }

    /// The distribution of a series, for reports.
    pub fn dist(&self, series: Series) -> Option<Dist> {
        let h = self.series(series);
        if h.is_empty() {
            return None;
        }
        let ms = |us: f64| us / 1000.0;
        let q = |p: f64| ms(h.value_at_quantile(p) as f64);
        Some(Dist {
            count: h.len(),
            min_ms: ms(h.min() as f64),
            mean_ms: ms(h.mean()),
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            p999_ms: q(0.999),
            max_ms: ms(h.max() as f64),
        })
    }
}

/// Percentiles of one series, in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Dist {
    /// Samples.
    pub count: u64,
    /// Smallest.
    pub min_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// A budget's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetVerdict {
    /// The budget as written.
    pub budget: String,
    /// What was measured (seconds, a fraction, or per second); `None` with no samples.
    pub measured: Option<f64>,
    /// The bound, in the same unit.
    pub limit: f64,
    /// Whether it held. A budget with nothing measured never holds.
    pub passed: bool,
    /// How far inside (positive) or outside (negative) the bound, in the same unit.
    pub margin: Option<f64>,
    /// `s`, `ratio` or `per_s`.
    pub unit: &'static str,
}

impl BudgetVerdict {
    /// A readable line: `p95 <= 1200ms: 830.2 ms (margin 369.8 ms)`.
    pub fn line(&self) -> String {
        let show = |v: f64| match self.unit {
            "s" => format!("{:.1} ms", v * 1000.0),
            "ratio" => format!("{:.2}%", v * 100.0),
            _ => format!("{v:.1}/s"),
        };
        match (self.measured, self.margin) {
            (Some(m), Some(margin)) => format!(
                "{}: {} (margin {}{})",
                self.budget,
                show(m),
                if margin < 0.0 { "-" } else { "" },
                show(margin.abs())
            ),
            _ => format!("{}: nothing measured", self.budget),
        }
    }
}

/// Judges `budget` against `tally` measured over `seconds`.
pub fn judge(budget: &Budget, tally: &ScenarioTally, seconds: f64) -> BudgetVerdict {
    let per_s = |n: u64| (seconds > 0.0).then(|| n as f64 / seconds);
    let (measured, unit) = match budget.measure {
        Measure::Time(series, stat) => (tally.stat(series, stat), "s"),
        Measure::ErrorRate => (
            (tally.requests > 0).then(|| tally.errors as f64 / tally.requests as f64),
            "ratio",
        ),
        Measure::Throughput => (
            per_s(tally.requests - tally.errors).filter(|_| tally.requests > 0),
            "per_s",
        ),
        Measure::Goodput => (per_s(tally.good).filter(|_| tally.requests > 0), "per_s"),
    };
    let margin = measured.map(|m| match budget.op {
        super::slo::Op::Le | super::slo::Op::Lt => budget.limit - m,
        super::slo::Op::Ge | super::slo::Op::Gt => m - budget.limit,
    });
    BudgetVerdict {
        budget: budget.text.clone(),
        measured,
        limit: budget.limit,
        passed: measured.is_some_and(|m| budget.op.holds(m, budget.limit)),
        margin,
        unit,
    }
}

/// Whether `budget` can no longer hold whatever the at most `remaining` requests still to
/// come do (for `--abort-on-breach`). Only upper bounds on error rates and on one-per-request
/// times can be known lost early; a maximum can be on any series.
pub fn doomed(budget: &Budget, tally: &ScenarioTally, remaining: u64) -> bool {
    use super::slo::Op;
    if !matches!(budget.op, Op::Le | Op::Lt) {
        return false;
    }
    match budget.measure {
        Measure::ErrorRate => {
            let total = tally.requests + remaining;
            total > 0
                && !budget
                    .op
                    .holds(tally.errors as f64 / total as f64, budget.limit)
        }
        Measure::Time(series, stat) => {
            let h = tally.series(series);
            let limit_us = budget.limit * 1e6;
            // Values certainly over the bound: their whole bucket lies above it.
            let over: u64 = h
                .iter_recorded()
                .filter(|v| h.lowest_equivalent(v.value_iterated_to()) as f64 > limit_us)
                .map(|v| v.count_at_value())
                .sum();
            match stat {
                Stat::Max => over > 0,
                Stat::Percentile(p) if series != Series::Itl => {
                    let most = (h.len() + remaining) as f64;
                    over as f64 > (1.0 - p / 100.0) * most + 1.0
                }
                _ => false,
            }
        }
        Measure::Throughput | Measure::Goodput => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(budgets: &[&str]) -> Scenario {
        Scenario {
            name: "s".into(),
            endpoint: "/v1/responses".into(),
            bodies: vec![],
            stream: true,
            idempotency_key: false,
            weight: 1,
            budgets: budgets
                .iter()
                .filter_map(|b| Budget::parse(b).ok())
                .collect(),
        }
    }

    fn ok(ms: u64) -> Sample {
        Sample {
            latency: Duration::from_millis(ms),
            ..Sample::default()
        }
    }

    #[test]
    fn percentiles_of_synthetic_samples_are_exact_to_three_digits() {
        let s = scenario(&[]);
        let mut t = ScenarioTally::new(&s);
        for ms in 1..=1000 {
            t.record(&ok(ms), false);
        }
        let d = t.dist(Series::Latency).unwrap_or_else(|| panic!("samples"));
        assert_eq!(d.count, 1000);
        for (got, want) in [
            (d.p50_ms, 500.0),
            (d.p95_ms, 950.0),
            (d.p99_ms, 990.0),
            (d.max_ms, 1000.0),
        ] {
            assert!((got - want).abs() / want < 0.001, "{got} vs {want}");
        }
        assert!((d.mean_ms - 500.5).abs() < 0.5);
    }

    #[test]
    fn budgets_hold_or_breach_with_their_margin() {
        let s = scenario(&[
            "p95 <= 900ms",
            "p50 <= 600ms",
            "error_rate <= 1%",
            "throughput >= 50/s",
        ]);
        let mut t = ScenarioTally::new(&s);
        for ms in 1..=1000 {
            t.record(&ok(ms), false);
        }
        let mut failed = ok(5);
        failed.error = Some("HTTP 500".into());
        for _ in 0..20 {
            t.record(&failed, false);
        }
        let v: Vec<BudgetVerdict> = s.budgets.iter().map(|b| judge(b, &t, 10.0)).collect();
        assert!(!v[0].passed, "p95 of 1..1000 ms is 950 ms");
        assert!((v[0].margin.unwrap_or(0.0) + 0.05).abs() < 0.001);
        assert!(v[1].passed);
        assert!(!v[2].passed, "20 of 1020 failed: {:?}", v[2].measured);
        assert!((v[3].measured.unwrap_or(0.0) - 100.0).abs() < 1e-9);
        assert!(v[0].line().contains("margin -"), "{}", v[0].line());
        assert_eq!(t.error_kinds.get("HTTP 500"), Some(&20));
    }

    #[test]
    fn a_budget_with_nothing_measured_never_passes() {
        let s = scenario(&["ttft.p95 <= 1s", "error_rate <= 1%"]);
        let t = ScenarioTally::new(&s);
        for b in &s.budgets {
            let v = judge(b, &t, 1.0);
            assert!(!v.passed && v.measured.is_none(), "{}", v.line());
        }
    }

    #[test]
    fn warmup_is_counted_apart_and_goodput_uses_per_request_budgets() {
        let s = scenario(&["p99 <= 100ms"]);
        let mut t = ScenarioTally::new(&s);
        t.record(&ok(500), true);
        t.record(&ok(50), false);
        t.record(&ok(150), false);
        assert_eq!((t.warmup, t.requests, t.good), (1, 2, 1));
    }

    #[test]
    fn a_budget_is_doomed_only_when_no_future_can_save_it() {
        let s = scenario(&[
            "p95 <= 100ms",
            "error_rate <= 10%",
            "max <= 1s",
            "p50 >= 1ms",
        ]);
        let mut t = ScenarioTally::new(&s);
        for _ in 0..90 {
            t.record(&ok(10), false);
        }
        for _ in 0..10 {
            t.record(&ok(500), false);
        }
        let doomed = |t: &ScenarioTally, i: usize, remaining: u64| {
            super::doomed(&s.budgets[i], t, remaining)
        };
        // 10 of 100 over 100 ms: p95 is lost if at most 50 more come, not if 1000 may.
        assert!(doomed(&t, 0, 50));
        assert!(!doomed(&t, 0, 1000));
        assert!(!doomed(&t, 1, 0) && !doomed(&t, 2, 0) && !doomed(&t, 3, 0));
        let mut failed = ok(1);
        failed.error = Some("HTTP 500".into());
        for _ in 0..20 {
            t.record(&failed, false);
        }
        // 20 errors in 120: lost with 50 more to come (20/170 > 10%), not with 100 (20/220).
        assert!(doomed(&t, 1, 50));
        assert!(!doomed(&t, 1, 100));
        t.record(&ok(2000), false);
        assert!(doomed(&t, 2, u64::MAX / 2));
    }
}
