//! `--sweep`: the open loop at rising arrival rates (given steps, or a search that doubles
//! until a budget breaks and then bisects), the throughput/latency curve, and the highest
//! rate that met every budget.

use super::load::{LoadOutcome, Model, Progress};
use super::slo::{Series, Stat};
use super::stats::{judge, ScenarioTally};
use super::Bench;
use crate::error::HarnessError;
use serde::Serialize;

/// Which rates to try.
#[derive(Debug, Clone, PartialEq)]
pub enum SweepPlan {
    /// These rates, in order (`50,100,200` or `50:400:50`).
    Steps(Vec<f64>),
    /// Search between two rates (`search:10:1000`): double from the low one until a budget
    /// breaks or the high one is reached, then bisect to within 5%.
    Search {
        /// The first rate tried.
        from: f64,
        /// The highest rate tried.
        to: f64,
    },
}

/// Most load runs a search makes.
const SEARCH_STEPS: usize = 12;
/// Most steps a list may have.
const MAX_STEPS: usize = 100;

impl SweepPlan {
    /// Parses `--sweep`.
    pub fn parse(text: &str) -> Result<SweepPlan, String> {
        let rate = |t: &str| -> Result<f64, String> {
            match t.trim().trim_end_matches("/s").parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 && r <= 1e7 => Ok(r),
                _ => Err(format!(
                    "{t:?} is not a rate (requests per second, above 0)"
                )),
            }
        };
        let usage = "expected rates as `50,100,200`, a range `FROM:TO:STEP`, or `search:FROM:TO`";
        if let Some(rest) = text.strip_prefix("search:") {
            let (from, to) = rest.split_once(':').ok_or(usage)?;
            let (from, to) = (rate(from)?, rate(to)?);
            if to <= from {
                return Err(format!(
                    "search:{from}:{to}: the end must be above the start"
                ));
            }
            return Ok(SweepPlan::Search { from, to });
        }
        let parts: Vec<&str> = text.split(':').collect();
        let steps = match parts.as_slice() {
            [from, to, step] => {
                let (from, to, step) = (rate(from)?, rate(to)?, rate(step)?);
                if to < from {
                    return Err(format!("{text}: the end must not be below the start"));
                }
                let n = ((to - from) / step + 1e-9).floor() as usize + 1;
                if n > MAX_STEPS {
                    return Err(format!("{text}: {n} steps, at most {MAX_STEPS}"));
                }
                (0..n).map(|i| from + step * i as f64).collect()
            }
            [list] => list.split(',').map(rate).collect::<Result<Vec<_>, _>>()?,
            _ => return Err(usage.to_owned()),
        };
        if steps.len() > MAX_STEPS {
            return Err(format!("{} steps, at most {MAX_STEPS}", steps.len()));
        }
        if steps.windows(2).any(|w| w[1] <= w[0]) {
            return Err(format!("{text}: the rates must rise"));
        }
        Ok(SweepPlan::Steps(steps))
    }
}

/// One rate tried.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// Requests per second sent.
    pub rate_per_s: f64,
    /// Successful requests per second (all scenarios), from the first counted request sent
    /// to the last answer: below the offered rate once the server saturates.
    pub throughput_per_s: f64,
    /// Requests counted at this rate (all scenarios).
    pub requests: u64,
    /// Failed over all (all scenarios).
    pub error_rate: f64,
    /// End-to-end latency of all scenarios together, in ms.
    pub p50_ms: Option<f64>,
    /// 95th percentile, in ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile, in ms.
    pub p99_ms: Option<f64>,
    /// Whether every budget held at this rate.
    pub passed: bool,
    /// The budgets that did not, as `scenario: line`.
    pub breaches: Vec<String>,
    /// Requests the target refused with HTTP 429 at this rate (its limiter, not its service).
    pub rate_limited: u64,
}

impl Point {
    /// When most errors at this rate were 429s: says so (the limiter was measured).
    pub fn limiter(&self, requests_note: bool) -> Option<String> {
        let errors = (self.error_rate * self.requests as f64).round() as u64;
        (self.rate_limited > 0 && self.rate_limited * 2 > errors).then(|| {
            if requests_note {
                format!(
                    "at {:.1}/s the target rate-limited {} of {} requests (HTTP 429): this step measured its limiter",
                    self.rate_per_s, self.rate_limited, self.requests
                )
            } else {
                format!("{} × 429", self.rate_limited)
            }
        })
    }
}

/// The sweep's result.
#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    /// `steps` or `search`.
    pub mode: &'static str,
    /// In the order tried.
    pub points: Vec<Point>,
    /// The highest rate that met every budget; `None` if none did.
    pub best_rate_per_s: Option<f64>,
    /// The load settings of the steps.
    #[serde(skip)]
    model: Model,
}

impl Curve {
    /// The load model of the run whose scenarios are reported: the best rate's (or the first
    /// rate's, if none passed).
    pub(crate) fn model_of_report(&self) -> Model {
        let rate = self
            .best_rate_per_s
            .or_else(|| self.points.first().map(|p| p.rate_per_s))
            .unwrap_or(1.0);
        match self.model {
            open @ Model::Open { .. } => open.at_rate(rate),
            closed => closed,
        }
    }
}

/// Runs the sweep: the curve, and the run whose scenarios are reported (the best rate's, or
/// the first if none met the budgets).
pub(super) async fn run(
    bench: &Bench<'_>,
    plan: &SweepPlan,
) -> Result<(LoadOutcome, Curve), HarnessError> {
    let load = bench.config.model;
    let mut points: Vec<Point> = Vec::new();
    let mut best: Option<(f64, LoadOutcome)> = None;
    let mut first: Option<LoadOutcome> = None;
    let mut step = 0u32;
    let mut attempt = |rate: f64| {
        step += 1;
        let this = step;
        async move {
            (bench.progress)(Progress::Step(format!("sweep step {this}: {rate:.1}/s")));
            let model = load.at_rate(rate);
            let outcome = bench.once(model, this).await?;
            Ok::<_, HarnessError>((point(bench, rate, &outcome), outcome))
        }
    };
    let mut keep = |p: Point, o: LoadOutcome, points: &mut Vec<Point>| {
        let passed = p.passed;
        let rate = p.rate_per_s;
        points.push(p);
        if passed && best.as_ref().is_none_or(|(r, _)| rate > *r) {
            best = Some((rate, o));
        } else if first.is_none() {
            first = Some(o);
        }
        passed
    };
    let mode = match plan {
        SweepPlan::Steps(rates) => {
            for &rate in rates {
                let (p, o) = attempt(rate).await?;
                keep(p, o, &mut points);
            }
            "steps"
        }
        SweepPlan::Search { from, to } => {
            let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
            let mut rate = *from;
            for _ in 0..SEARCH_STEPS {
                let (p, o) = attempt(rate).await?;
                if keep(p, o, &mut points) {
                    good = Some(rate);
                } else {
                    bad = Some(rate);
                }
                rate = match (good, bad) {
                    (None, _) => break,
                    (Some(g), None) if g >= *to => break,
                    (Some(g), None) => (g * 2.0).min(*to),
                    (Some(g), Some(b)) if b / g <= 1.05 => break,
                    (Some(g), Some(b)) => (g + b) / 2.0,
                };
            }
            "search"
        }
    };
    let best_rate = best.as_ref().map(|(r, _)| *r);
    let outcome = match (best, first) {
        (Some((_, o)), _) | (None, Some(o)) => o,
        (None, None) => {
            return Err(HarnessError::Usage("--sweep: no rate to try".into()));
        }
    };
    Ok((
        outcome,
        Curve {
            mode,
            points,
            best_rate_per_s: best_rate,
            model: bench.config.model,
        },
    ))
}

fn point(bench: &Bench<'_>, rate: f64, o: &LoadOutcome) -> Point {
    let mut all: Option<ScenarioTally> = None;
    for t in &o.tallies {
        match &mut all {
            Some(a) => a.merge(t),
            None => all = Some(t.clone()),
        }
    }
    let (requests, errors) = o
        .tallies
        .iter()
        .fold((0, 0), |(r, e), t| (r + t.requests, e + t.errors));
    let ms = |p: f64| {
        all.as_ref()
            .and_then(|t| t.stat(Series::Latency, Stat::Percentile(p)))
            .map(|s| s * 1000.0)
    };
    let mut breaches: Vec<String> = bench
        .config
        .scenarios
        .iter()
        .zip(&o.tallies)
        .flat_map(|(s, t)| {
            s.budgets
                .iter()
                .map(|b| judge(b, t, o.seconds))
                .filter(|v| !v.passed)
                .map(|v| format!("{}: {}", s.name, v.line()))
                .collect::<Vec<_>>()
        })
        .collect();
    if let Some(a) = &o.aborted {
        breaches.insert(0, format!("{} (aborted at {:.1} s)", a.budget, a.at_s));
    }
    Point {
        rate_per_s: rate,
        throughput_per_s: if o.drained_seconds > 0.0 {
            (requests - errors) as f64 / o.drained_seconds
        } else {
            0.0
        },
        error_rate: if requests > 0 {
            errors as f64 / requests as f64
        } else {
            0.0
        },
        p50_ms: ms(50.0),
        p95_ms: ms(95.0),
        p99_ms: ms(99.0),
        passed: breaches.is_empty(),
        breaches,
        requests,
        rate_limited: o
            .tallies
            .iter()
            .map(|t| t.error_kinds.get("HTTP 429").copied().unwrap_or(0))
            .sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_and_bad_ones_say_why() {
        assert_eq!(
            SweepPlan::parse("50:200:50"),
            Ok(SweepPlan::Steps(vec![50.0, 100.0, 150.0, 200.0]))
        );
        assert_eq!(
            SweepPlan::parse("10,20/s,40"),
            Ok(SweepPlan::Steps(vec![10.0, 20.0, 40.0]))
        );
        assert_eq!(
            SweepPlan::parse("search:10:1000"),
            Ok(SweepPlan::Search {
                from: 10.0,
                to: 1000.0
            })
        );
        for (bad, says) in [
            ("search:100:10", "above the start"),
            ("20,10", "must rise"),
            ("1:1000:1", "at most 100"),
            ("x", "not a rate"),
            ("0,5", "not a rate"),
            ("1:2", "expected rates"),
        ] {
            let e = SweepPlan::parse(bad).err().unwrap_or_default();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
