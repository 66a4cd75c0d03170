//! `--repeat N`: the same load N times. The verdict is on all the runs together; this is the
//! spread of each percentile and budget across them, so that a verdict the noise could turn
//! is said to be.

use super::load::LoadOutcome;
use super::slo::{Scenario, Series, Stat};
use super::stats::judge;
use serde::Serialize;

/// The spread of one statistic over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct MeasureSpread {
    /// `latency.p95`, `ttft.p50`, …
    pub measure: String,
    /// Each run's value, in ms.
    pub values_ms: Vec<f64>,
    /// The smallest.
    pub min_ms: f64,
    /// The largest.
    pub max_ms: f64,
    /// Their mean.
    pub mean_ms: f64,
    /// Their standard deviation (sample, n - 1).
    pub stdev_ms: f64,
}

/// One budget over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetSpread {
    /// As written.
    pub budget: String,
    /// Each run's measured value (the budget's unit), `None` where nothing was measured.
    pub values: Vec<Option<f64>>,
    /// Each run's verdict.
    pub passed: Vec<bool>,
    /// The bound lies between the smallest and largest run: the verdict is within the noise.
    pub within_spread: bool,
}

/// One scenario over the runs.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioSpread {
    /// Its name.
    pub name: String,
    /// Its percentiles.
    pub measures: Vec<MeasureSpread>,
    /// Its budgets.
    pub budgets: Vec<BudgetSpread>,
}

/// All of it.
#[derive(Debug, Clone, Serialize)]
pub struct Spread {
    /// Runs made.
    pub runs: usize,
    /// Per scenario.
    pub scenarios: Vec<ScenarioSpread>,
}

/// The spread of `outcomes` (runs of `scenarios`, in order).
pub fn spread(scenarios: &[Scenario], outcomes: &[LoadOutcome]) -> Spread {
    let scenarios = scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let tallies: Vec<_> = outcomes.iter().map(|o| &o.tallies[i]).collect();
            let mut measures = Vec::new();
            for series in [Series::Latency, Series::Ttft, Series::Itl, Series::Tpot] {
                for p in [50.0, 95.0, 99.0] {
                    let values: Vec<f64> = tallies
                        .iter()
                        .filter_map(|t| t.stat(series, Stat::Percentile(p)))
                        .map(|v| v * 1000.0)
                        .collect();
                    // Only what every run measured: a spread over some of them would mislead.
                    if values.len() == tallies.len() {
                        measures.push(measure(format!("{}.p{p}", series.name()), values));
                    }
                }
            }
            let budgets = s
                .budgets
                .iter()
                .map(|b| {
                    let verdicts: Vec<_> = outcomes
                        .iter()
                        .map(|o| judge(b, &o.tallies[i], o.seconds))
                        .collect();
                    let values: Vec<Option<f64>> = verdicts.iter().map(|v| v.measured).collect();
                    let known: Vec<f64> = values.iter().flatten().copied().collect();
                    let lo = known.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = known.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    BudgetSpread {
                        budget: b.text.clone(),
                        passed: verdicts.iter().map(|v| v.passed).collect(),
                        within_spread: !known.is_empty() && lo <= b.limit && b.limit <= hi,
                        values,
                    }
                })
                .collect();
            ScenarioSpread {
                name: s.name.clone(),
                measures,
                budgets,
            }
        })
        .collect();
    Spread {
        runs: outcomes.len(),
        scenarios,
    }
}

fn measure(name: String, values_ms: Vec<f64>) -> MeasureSpread {
    let n = values_ms.len() as f64;
    let mean = values_ms.iter().sum::<f64>() / n;
    let var = if values_ms.len() > 1 {
        values_ms.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    MeasureSpread {
        measure: name,
        min_ms: values_ms.iter().copied().fold(f64::INFINITY, f64::min),
        max_ms: values_ms.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        mean_ms: mean,
        stdev_ms: var.sqrt(),
        values_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::probe::Sample;
    use crate::latency::slo::Budget;
    use crate::latency::stats::ScenarioTally;
    use std::time::Duration;

    fn scenario() -> Scenario {
        Scenario {
            name: "s".into(),
            endpoint: "/v1/embeddings".into(),
            bodies: vec![],
            stream: false,
            idempotency_key: false,
            weight: 1,
            budgets: ["p50 <= 15ms", "p50 <= 100ms"]
                .iter()
                .filter_map(|b| Budget::parse(b).ok())
                .collect(),
        }
    }

    fn run(s: &Scenario, ms: u64) -> LoadOutcome {
        let mut t = ScenarioTally::new(s);
        for _ in 0..100 {
            t.record(
                &Sample {
                    latency: Duration::from_millis(ms),
                    ..Sample::default()
                },
                false,
            );
        }
        LoadOutcome {
            tallies: vec![t],
            seconds: 1.0,
            drained_seconds: 1.0,
            lag: None,
            cpu: None,
            wall: Duration::from_secs(1),
            sent: 0,
            aborted: None,
        }
    }

    #[test]
    fn the_spread_names_a_verdict_the_noise_could_turn() {
        let s = scenario();
        let runs = [run(&s, 10), run(&s, 20), run(&s, 12)];
        let spread = spread(std::slice::from_ref(&s), &runs);
        let sc = &spread.scenarios[0];
        let p50 = &sc.measures[0];
        assert_eq!(p50.measure, "latency.p50");
        // HDR histograms keep three digits.
        let near = |a: f64, b: f64| (a - b).abs() <= b * 0.001;
        assert!(near(p50.min_ms, 10.0) && near(p50.max_ms, 20.0), "{p50:?}");
        assert!(near(p50.mean_ms, 14.0));
        assert!(near(p50.stdev_ms, 5.2915), "{}", p50.stdev_ms);
        // 15 ms lies between 10 and 20: the verdict is within the spread.
        assert!(sc.budgets[0].within_spread);
        assert_eq!(sc.budgets[0].passed, vec![true, false, true]);
        assert!(!sc.budgets[1].within_spread);
        assert_eq!(spread.runs, 3);
    }
}
