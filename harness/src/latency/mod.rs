//! `conformance latency`: loads a target with SLO scenarios, measures latency the way load
//! tools do (HDR histograms, coordinated omission corrected in the open loop, TTFT and ITL on
//! content deltas), and judges every budget.

pub mod baseline;
pub mod load;
pub mod probe;
pub mod report;
pub mod slo;
pub mod stats;

use crate::error::HarnessError;
use crate::target::TargetConfig;
use serde::Serialize;
use slo::{Scenario, Series};
use stats::{Dist, Tally, Verdict};

/// Everything a latency run needs.
pub struct LatencyConfig {
    /// The target (its base URL is the API root, e.g. `http://host/v1`).
    pub target: TargetConfig,
    /// Shown in reports.
    pub target_label: String,
    /// What to send and the budgets.
    pub scenarios: Vec<Scenario>,
    /// How.
    pub model: load::Model,
    /// How long.
    pub span: load::Span,
    /// Where to write every request as a JSON line, if anywhere.
    pub samples: Option<std::path::PathBuf>,
    /// An earlier run's `latency.json`, to report the change of every percentile.
    pub baseline: Option<std::path::PathBuf>,
}

/// One scenario's results.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    /// Its name.
    pub name: String,
    /// The path loaded.
    pub endpoint: String,
    /// Streamed or not.
    pub stream: bool,
    /// Requests counted.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
    /// Sent during the warm-up, not counted.
    pub warmup_requests: u64,
    /// errors / requests.
    pub error_rate: f64,
    /// Successful requests per second.
    pub throughput_per_s: f64,
    /// Requests per second within every per-request time budget.
    pub goodput_per_s: f64,
    /// End to end.
    pub latency: Option<Dist>,
    /// Time to the first content delta.
    pub ttft: Option<Dist>,
    /// Between content deltas.
    pub itl: Option<Dist>,
    /// Per output token after the first.
    pub tpot: Option<Dist>,
    /// Where TPOT's token counts came from: `usage`, `deltas` or `mixed`.
    pub output_tokens_from: Option<&'static str>,
    /// Failures by message.
    pub errors_by_kind: std::collections::BTreeMap<String, u64>,
    /// The budgets' verdicts.
    pub budgets: Vec<Verdict>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// `latency`.
    pub kind: &'static str,
    /// The run's id (its report directory).
    pub run_id: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// The target.
    pub target: String,
    /// The load model and its settings.
    pub load: serde_json::Value,
    /// Seconds counted (after the warm-up).
    pub measured_seconds: f64,
    /// The warm-up, in seconds.
    pub warmup_seconds: f64,
    /// How times were measured with respect to coordinated omission.
    pub timing: &'static str,
    /// Per scenario.
    pub scenarios: Vec<ScenarioReport>,
    /// The generator's own delays (open loop).
    pub generator_lag: Option<load::Lag>,
    /// The change of every percentile against `--baseline`.
    pub baseline: Option<baseline::Comparison>,
    /// Whether every budget held.
    pub passed: bool,
}

impl LatencyReport {
    /// The budgets that did not hold, as `scenario: line`.
    pub fn breaches(&self) -> Vec<String> {
        self.scenarios
            .iter()
            .flat_map(|s| {
                s.budgets
                    .iter()
                    .filter(|v| !v.passed)
                    .map(move |v| format!("{}: {}", s.name, v.line()))
            })
            .collect()
    }
}

/// Runs the load and judges the budgets; `progress` gets (elapsed s, requests, errors, p95 ms).
pub async fn run(
    config: &LatencyConfig,
    run_id: &str,
    progress: &(dyn Fn(f64, u64, u64, Option<f64>) + Sync),
) -> Result<LatencyReport, HarnessError> {
    let connections = match config.model {
        load::Model::Closed { concurrency } => concurrency,
        load::Model::Open { max_in_flight, .. } => max_in_flight.min(1024),
    };
    let client = probe::client(&config.target, connections).map_err(HarnessError::Usage)?;
    let mut requests = Vec::new();
    for s in &config.scenarios {
        requests.push(
            probe::Prepared::new(&client, &config.target, &s.endpoint, &s.bodies, s.stream)
                .map_err(HarnessError::Usage)?,
        );
    }
    let weights: Vec<u32> = config.scenarios.iter().map(|s| s.weight).collect();
    let tallies = config.scenarios.iter().map(Tally::new).collect();
    let baseline = match &config.baseline {
        Some(path) => Some(baseline::read(path)?),
        None => None,
    };
    let samples = match &config.samples {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(|source| HarnessError::Io {
                context: format!("cannot create {}", path.display()),
                source,
            })?;
            let names = config.scenarios.iter().map(|s| s.name.clone()).collect();
            Some((
                Box::new(std::io::BufWriter::new(file)) as Box<dyn std::io::Write + Send>,
                names,
            ))
        }
        None => None,
    };
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let outcome = load::run(
        load::Mix::new(requests, &weights),
        tallies,
        config.model,
        config.span,
        samples,
        progress,
    )
    .await;
    let all_unreachable = outcome.tallies.iter().all(|t| {
        t.requests + t.warmup > 0
            && t.errors == t.requests
            && t.error_kinds.keys().all(|k| k == "could not connect")
    });
    if all_unreachable {
        return Err(HarnessError::Unreachable(format!(
            "{}: no connection could be made",
            config.target.base_url
        )));
    }
    let scenarios: Vec<ScenarioReport> = config
        .scenarios
        .iter()
        .zip(&outcome.tallies)
        .map(|(s, t)| scenario_report(s, t, outcome.seconds))
        .collect();
    let load = match config.model {
        load::Model::Closed { concurrency } => {
            serde_json::json!({"model": "closed", "concurrency": concurrency})
        }
        load::Model::Open {
            rate,
            poisson,
            max_in_flight,
        } => serde_json::json!({
            "model": "open", "rate_per_s": rate,
            "arrivals": if poisson { "poisson" } else { "constant" },
            "max_in_flight": max_in_flight,
        }),
    };
    let timing = match config.model {
        load::Model::Closed { .. } => {
            "closed loop: from each request's actual start (a stalled server also slows the load)"
        }
        load::Model::Open { .. } => {
            "open loop: from each request's intended start (coordinated omission corrected)"
        }
    };
    let passed = scenarios.iter().all(|s| s.budgets.iter().all(|b| b.passed));
    let baseline = baseline.map(|old| baseline::compare(&old, &scenarios));
    Ok(LatencyReport {
        kind: "latency",
        run_id: run_id.to_owned(),
        started_at,
        target: config.target_label.clone(),
        load,
        measured_seconds: outcome.seconds,
        warmup_seconds: config.span.warmup.as_secs_f64(),
        timing,
        scenarios,
        generator_lag: outcome.lag,
        baseline,
        passed,
    })
}

fn scenario_report(s: &Scenario, t: &Tally, seconds: f64) -> ScenarioReport {
    let per_s = |n: u64| {
        if seconds > 0.0 {
            n as f64 / seconds
        } else {
            0.0
        }
    };
    let output_tokens_from = match t.counted {
        (0, 0) => None,
        (_, 0) => Some("usage"),
        (0, _) => Some("deltas"),
        _ => Some("mixed"),
    };
    ScenarioReport {
        name: s.name.clone(),
        endpoint: s.endpoint.clone(),
        stream: s.stream,
        requests: t.requests,
        errors: t.errors,
        warmup_requests: t.warmup,
        error_rate: if t.requests > 0 {
            t.errors as f64 / t.requests as f64
        } else {
            0.0
        },
        throughput_per_s: per_s(t.requests - t.errors),
        goodput_per_s: per_s(t.good),
        latency: t.dist(Series::Latency),
        ttft: t.dist(Series::Ttft),
        itl: t.dist(Series::Itl),
        tpot: t.dist(Series::Tpot),
        output_tokens_from,
        errors_by_kind: t.error_kinds.clone(),
        budgets: s
            .budgets
            .iter()
            .map(|b| stats::judge(b, t, seconds))
            .collect(),
    }
}
