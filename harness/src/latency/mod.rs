//! `conformance latency`: loads a target with SLO scenarios, measures latency the way load
//! tools do (HDR histograms, coordinated omission corrected in the open loop, TTFT and ITL on
//! content deltas), and judges every budget.

pub(crate) mod baseline;
pub(crate) mod html;
pub(crate) mod junit;
pub(crate) mod load;
pub(crate) mod markdown;
pub(crate) mod probe;
pub(crate) mod repeat;
pub(crate) mod shape;
pub(crate) mod shard;
pub(crate) mod slo;
pub(crate) mod stats;
mod svg;
pub(crate) mod sweep;
pub(crate) mod text;

pub use crate::segment::Segment;
pub use load::{Model, Progress, Span};
pub use slo::{
    defaults as default_scenarios, load as load_scenarios, parse as parse_scenarios, Scenario,
};
pub use sweep::SweepPlan;

use crate::error::HarnessError;
use crate::target::TargetConfig;
use serde::Serialize;
use slo::Series;
use stats::{BudgetVerdict, Dist, ScenarioTally};

/// Everything a latency run needs.
pub struct LatencyConfig {
    /// The target (its base URL is the API root, e.g. `http://host/v1`).
    pub target: TargetConfig,
    /// Shown in reports.
    pub target_label: String,
    /// Where the scenarios came from, for the report (`cases/latency/slo.toml`, or the
    /// built-in defaults).
    pub slo: String,
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
    /// With a baseline: fail when a percentile grew by more than this share (0.1 = 10%)
    /// beyond the noise of the repeats.
    pub fail_on_regression: Option<f64>,
    /// Runs of the same load; the verdict is on all of them, with the spread of each.
    pub repeat: u32,
    /// Step or search the arrival rate instead of one load.
    pub sweep: Option<sweep::SweepPlan>,
    /// Stop as soon as a budget can no longer hold.
    pub abort_on_breach: bool,
    /// The target is served by this same process (the embedded reference server): the
    /// generator's CPU time then includes the target's, and no bottleneck is named.
    pub shares_process_with_target: bool,
}

impl LatencyConfig {
    /// `scenarios` against `target` as `conformance latency` loads by default: a closed loop
    /// of 8 for 10 s after a 1 s warm-up, once.
    pub fn new(target: TargetConfig, scenarios: Vec<Scenario>) -> Self {
        Self {
            target_label: target.base_url.clone(),
            target,
            slo: "given scenarios".into(),
            scenarios,
            model: load::Model::Closed { concurrency: 8 },
            span: load::Span {
                duration: Some(std::time::Duration::from_secs(10)),
                requests: None,
                warmup: std::time::Duration::from_secs(1),
                ramp: std::time::Duration::ZERO,
                seed: 1,
                segment: Segment::WHOLE,
                start_at: None,
            },
            samples: None,
            baseline: None,
            fail_on_regression: None,
            repeat: 1,
            sweep: None,
            abort_on_breach: false,
            shares_process_with_target: false,
        }
    }
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
    /// Whether each request carried an `Idempotency-Key` of its own.
    pub idempotency_key: bool,
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
    pub budgets: Vec<BudgetVerdict>,
    /// What the plots of the HTML page are drawn from.
    pub plots: Plots,
}

/// A scenario's plots, as data.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plots {
    /// The end-to-end latency's histogram and percentile curve.
    pub latency: Option<shape::Shape>,
    /// The time to first token's.
    pub ttft: Option<shape::Shape>,
    /// Requests and latency by when they were sent, warm-up included.
    pub timeline: Vec<shape::TimePoint>,
}

/// What the load generator itself cost, and whether it was the bottleneck.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Generator {
    /// CPU time (user and system) of the process over the load, in ms; `None` where the OS
    /// does not say.
    pub cpu_ms: Option<f64>,
    /// That time per request sent (warm-up included), in µs.
    pub cpu_us_per_request: Option<f64>,
    /// The share of the cores it may run on that the process kept busy (1.0: all of them).
    pub busy_share: Option<f64>,
    /// The cores it may run on.
    pub cores: usize,
    /// The target was served by this same process (the embedded reference server), so the
    /// CPU time is the target's too and no bottleneck is named.
    pub shares_process_with_target: bool,
    /// The generator, not the target, set the pace: it sent more than 1% of the requests late
    /// while keeping 90% or more of its cores busy. The latencies are then the generator's.
    pub bottleneck: bool,
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
    /// Where the scenarios and budgets came from.
    pub slo: String,
    /// The load model and its settings.
    pub load: serde_json::Value,
    /// Seconds counted (after the warm-up).
    pub measured_seconds: f64,
    /// The warm-up, in seconds.
    pub warmup_seconds: f64,
    /// How times were measured with respect to coordinated omission.
    pub timing: String,
    /// Per scenario.
    pub scenarios: Vec<ScenarioReport>,
    /// The generator's own delays (open loop).
    pub generator_lag: Option<load::Lag>,
    /// What the generator itself cost, and whether it, not the target, set the pace.
    pub generator: Generator,
    /// The change of every percentile against `--baseline`.
    pub baseline: Option<baseline::PercentileComparison>,
    /// Why the run stopped early (`--abort-on-breach`).
    pub aborted: Option<load::Abort>,
    /// With `--repeat`: the spread of every percentile and budget over the runs.
    pub repeats: Option<repeat::Spread>,
    /// With `--sweep`: the rates tried and the highest that met every budget.
    pub sweep: Option<sweep::Curve>,
    /// Whether every budget held (for a sweep: whether some rate met them all).
    pub passed: bool,
    /// This worker's share of a split run (`I/N`), if it was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// How many segments `latency merge` joined into this report, if it is a merge.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_segments: Option<usize>,
    /// What `latency merge` reads of this run (a single load run only).
    #[serde(skip)]
    pub(crate) shard: Option<shard::Shard>,
}

impl ScenarioReport {
    /// When most of the errors were 429s, what to say of them: the run measured the target's
    /// rate limiter, not its service (their count, of all requests).
    pub fn rate_limited(&self) -> Option<String> {
        let limited = self.errors_by_kind.get("HTTP 429").copied().unwrap_or(0);
        (limited > 0 && limited * 2 > self.errors).then(|| {
            format!(
                "the target rate-limited {limited} of {} requests (HTTP 429): this measured its limiter, not its service; see its Retry-After, or raise its limit (the reference server: REFSERVER_RATE_LIMIT=off)",
                self.requests
            )
        })
    }
}

impl LatencyReport {
    /// The budgets that did not hold, as `scenario: line`.
    pub fn breaches(&self) -> Vec<String> {
        if let Some(a) = &self.aborted {
            return vec![format!(
                "{} (could no longer hold: aborted at {:.1} s)",
                a.budget, a.at_s
            )];
        }
        self.scenarios
            .iter()
            .flat_map(|s| {
                s.budgets
                    .iter()
                    .filter(|v| !v.passed)
                    .map(move |v| format!("{}: {}", s.name, v.line()))
            })
            .chain(
                self.baseline
                    .iter()
                    .flat_map(|b| b.regressions.iter().map(|r| format!("regressed: {r}"))),
            )
            .collect()
    }
}

/// What every load run of one invocation shares.
struct Bench<'a> {
    config: &'a LatencyConfig,
    requests: Vec<probe::Prepared>,
    weights: Vec<u32>,
    samples: Option<load::Samples>,
    progress: &'a (dyn Fn(load::Progress) + Sync),
}

impl Bench<'_> {
    /// One load run under `model`; `step` numbers it in the samples file.
    async fn once(&self, model: load::Model, step: u32) -> Result<load::LoadOutcome, HarnessError> {
        let scenarios = &self.config.scenarios;
        let doom = |tallies: &[ScenarioTally], remaining: u64| {
            scenarios.iter().zip(tallies).find_map(|(s, t)| {
                s.budgets
                    .iter()
                    .find(|b| stats::doomed(b, t, remaining))
                    .map(|b| format!("{}: {}", s.name, b.text))
            })
        };
        let outcome = load::run(
            load::Mix::new(self.requests.clone(), &self.weights),
            scenarios.iter().map(ScenarioTally::new).collect(),
            model,
            self.config.span,
            self.samples.as_ref().map(|s| s.step(step)),
            self.progress,
            self.config.abort_on_breach.then_some(&doom as &load::Doom),
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
                self.config.target.base_url
            )));
        }
        Ok(outcome)
    }
}

/// Runs the load (once, `repeat` times, or as a sweep) and judges the budgets.
pub async fn run(
    config: &LatencyConfig,
    run_id: &str,
    progress: &(dyn Fn(load::Progress) + Sync),
) -> Result<LatencyReport, HarnessError> {
    let connections = match config.model {
        load::Model::Closed { concurrency } => concurrency,
        load::Model::Open { max_in_flight, .. } => max_in_flight.min(1024),
    };
    let client = probe::client(&config.target, connections).map_err(HarnessError::Usage)?;
    let mut requests = Vec::new();
    for s in &config.scenarios {
        requests.push(
            probe::Prepared::new(
                &client,
                &config.target,
                &s.endpoint,
                &s.bodies,
                s.stream,
                s.idempotency_key,
            )
            .map_err(HarnessError::Usage)?,
        );
    }
    let baseline = match &config.baseline {
        Some(path) => Some(baseline::read(path)?),
        None => None,
    };
    // One request per scenario before any load: a refused key or a wrong root stops here.
    let target = crate::target::Target::new(&config.target)?;
    for s in &config.scenarios {
        if let Some(body) = s.bodies.first() {
            crate::preflight::ask(&target, crate::target::Req::post(&s.endpoint, body)).await?;
        }
    }
    if let Some(at) = config.span.start_at {
        let at = chrono::DateTime::<chrono::Utc>::from(at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        if config.span.begin().is_none() {
            return Err(HarnessError::Usage(format!(
                "--start-at {at} has passed: the ramp and warm-up before it ({:.1} s) would have begun already; give every worker a later instant",
                (config.span.ramp + config.span.warmup).as_secs_f64()
            )));
        }
        progress(load::Progress::Step(format!(
            "waiting to begin the measured phase at {at}"
        )));
    }
    let samples = match &config.samples {
        Some(path) => Some(load::Samples::create(
            path,
            config.scenarios.iter().map(|s| s.name.clone()).collect(),
        )?),
        None => None,
    };
    let bench = Bench {
        config,
        requests,
        weights: config.scenarios.iter().map(|s| s.weight).collect(),
        samples,
        progress,
    };
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (outcomes, curve) = match &config.sweep {
        Some(plan) => {
            let (best, curve) = sweep::run(&bench, plan).await?;
            (vec![best], Some(curve))
        }
        None => {
            let mut outcomes = Vec::new();
            for i in 0..config.repeat.max(1) {
                if config.repeat > 1 {
                    progress(load::Progress::Step(format!(
                        "run {} of {}",
                        i + 1,
                        config.repeat
                    )));
                }
                let outcome = bench.once(config.model, i).await?;
                let aborted = outcome.aborted.is_some();
                outcomes.push(outcome);
                if aborted {
                    break;
                }
            }
            (outcomes, None)
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shard = (curve.is_none() && outcomes.len() == 1)
        .then(|| shard::Shard::of_run(config, &outcomes[0], &started_at, cores));
    let mut report = assemble(
        config,
        &outcomes,
        Combine::Sequential { curve, cores },
        baseline,
        run_id,
        started_at,
    );
    report.shard = shard;
    Ok(report)
}

/// Joins the runs a split load left in `dirs` (each worker's report directory, or its run
/// directory), one per segment of `--segment I/N`: their histograms are added and every budget
/// judged on the sum, never on their percentiles. Refuses inputs that are not the N segments of
/// one run (another SLO, load or target; a segment missing or given twice; other bounds).
pub fn merge(
    dirs: &[std::path::PathBuf],
    baseline: Option<&std::path::Path>,
    fail_on_regression: Option<f64>,
    run_id: &str,
) -> Result<LatencyReport, HarnessError> {
    let mut inputs = shard::read_all(dirs)?;
    inputs.config.fail_on_regression = fail_on_regression;
    let baseline = baseline.map(baseline::read).transpose()?;
    let mut report = assemble(
        &inputs.config,
        &inputs.outcomes,
        Combine::Parallel {
            cores: inputs.cores,
        },
        baseline,
        run_id,
        inputs.started_at,
    );
    report.merged_segments = Some(inputs.outcomes.len());
    Ok(report)
}

/// How the loads of one report come together.
pub(crate) enum Combine {
    /// One after another on this machine (one run, repeats, or a sweep's steps).
    Sequential {
        curve: Option<sweep::Curve>,
        cores: usize,
    },
    /// At once, on several machines: the segments of a split run, on `cores` cores in all.
    Parallel { cores: usize },
}

/// The report of `outcomes` under `config`: the tallies added, the budgets judged on the sum.
pub(crate) fn assemble(
    config: &LatencyConfig,
    outcomes: &[load::LoadOutcome],
    combine: Combine,
    baseline: Option<serde_json::Value>,
    run_id: &str,
    started_at: String,
) -> LatencyReport {
    let mut merged = outcomes[0].tallies.clone();
    for o in &outcomes[1..] {
        for (all, t) in merged.iter_mut().zip(&o.tallies) {
            all.merge(t);
        }
    }
    let (curve, cores, parallel) = match combine {
        Combine::Sequential { curve, cores } => (curve, cores, false),
        Combine::Parallel { cores } => (None, cores, true),
    };
    // Segments measure the same window at once; runs one after another add up.
    let seconds: f64 = if parallel {
        outcomes.iter().map(|o| o.seconds).fold(0.0, f64::max)
    } else {
        outcomes.iter().map(|o| o.seconds).sum()
    };
    let scenarios: Vec<ScenarioReport> = config
        .scenarios
        .iter()
        .zip(&merged)
        .map(|(s, t)| scenario_report(s, t, seconds))
        .collect();
    let repeats =
        (!parallel && outcomes.len() > 1).then(|| repeat::spread(&config.scenarios, outcomes));
    let model = curve.as_ref().map_or(config.model, |c| c.model_of_report());
    let load = match model {
        load::Model::Closed { concurrency } => {
            serde_json::json!({"model": "closed", "concurrency": concurrency})
        }
        load::Model::Open {
            rate,
            poisson,
            max_in_flight,
            tick,
        } => serde_json::json!({
            "model": "open", "rate_per_s": rate,
            "arrivals": if poisson { "poisson" } else { "constant" },
            "max_in_flight": max_in_flight,
            "tick_ms": tick.as_secs_f64() * 1000.0,
        }),
    };
    let timing = match model {
        load::Model::Closed { .. } => {
            "closed loop: from each request's actual start (a stalled server also slows the load)"
                .to_owned()
        }
        load::Model::Open { tick, .. } if tick.is_zero() => {
            "open loop: from each request's intended start, to the microsecond (coordinated omission corrected)".to_owned()
        }
        load::Model::Open { tick, .. } => format!(
            "open loop: from each request's intended start, on a {} grid (coordinated omission corrected)",
            tick_text(tick)
        ),
    };
    let aborted = outcomes.iter().find_map(|o| o.aborted.clone());
    let lag = outcomes
        .iter()
        .filter_map(|o| o.lag.clone())
        .reduce(|a, b| load::Lag {
            late: a.late + b.late,
            max_ms: a.max_ms.max(b.max_ms),
            p99_ms: a.p99_ms.max(b.p99_ms),
        });
    let generator = generator(
        config.shares_process_with_target,
        cores,
        outcomes,
        lag.as_ref(),
        parallel,
    );
    let passed = match &curve {
        Some(c) => c.best_rate_per_s.is_some(),
        None => aborted.is_none() && scenarios.iter().all(|s| s.budgets.iter().all(|b| b.passed)),
    };
    let repeats_json = repeats
        .as_ref()
        .and_then(|r| serde_json::to_value(r).ok())
        .unwrap_or_default();
    let baseline = baseline
        .map(|old| baseline::compare(&old, &scenarios, &repeats_json, config.fail_on_regression));
    let passed = passed && baseline.as_ref().is_none_or(|b| b.regressions.is_empty());
    LatencyReport {
        kind: "latency",
        run_id: run_id.to_owned(),
        started_at,
        target: config.target_label.clone(),
        slo: config.slo.clone(),
        load,
        measured_seconds: seconds,
        warmup_seconds: (config.span.ramp + config.span.warmup).as_secs_f64(),
        timing,
        scenarios,
        generator_lag: lag,
        generator,
        baseline,
        aborted,
        repeats,
        sweep: curve,
        passed,
        segment: (!config.span.segment.is_whole()).then(|| config.span.segment.to_string()),
        merged_segments: None,
        shard: None,
    }
}

/// A tick as people write it: `250 µs`, `1 ms`, `2.5 ms`.
fn tick_text(tick: std::time::Duration) -> String {
    let us = tick.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{} ms", us / 1000.0)
    }
}

/// What the generator cost over every load of the run (on `cores` cores), and whether it
/// was the bottleneck.
fn generator(
    shares_process_with_target: bool,
    cores: usize,
    outcomes: &[load::LoadOutcome],
    lag: Option<&load::Lag>,
    parallel: bool,
) -> Generator {
    let cpu: Option<std::time::Duration> = outcomes.iter().map(|o| o.cpu).sum();
    let walls = outcomes.iter().map(|o| o.wall.as_secs_f64());
    let wall: f64 = if parallel {
        walls.fold(0.0, f64::max)
    } else {
        walls.sum()
    };
    let sent: u64 = outcomes.iter().map(|o| o.sent).sum();
    let busy_share = cpu
        .filter(|_| wall > 0.0)
        .map(|c| c.as_secs_f64() / (wall * cores as f64));
    let late_share = lag.map_or(0.0, |l| l.late as f64 / sent.max(1) as f64);
    let bottleneck =
        !shares_process_with_target && late_share > 0.01 && busy_share.is_some_and(|b| b >= 0.9);
    Generator {
        cpu_ms: cpu.map(|c| c.as_secs_f64() * 1000.0),
        cpu_us_per_request: cpu
            .filter(|_| sent > 0)
            .map(|c| c.as_secs_f64() * 1e6 / sent as f64),
        busy_share,
        cores,
        shares_process_with_target,
        bottleneck,
    }
}

pub(crate) fn scenario_report(s: &Scenario, t: &ScenarioTally, seconds: f64) -> ScenarioReport {
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
        idempotency_key: s.idempotency_key,
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
        plots: Plots {
            latency: t.shape(Series::Latency),
            ttft: t.shape(Series::Ttft),
            timeline: t.timeline.points(),
        },
    }
}

impl crate::report::Report for LatencyReport {
    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn passed(&self) -> bool {
        self.passed
    }

    fn file(&self, format: crate::report::Format) -> (&'static str, String) {
        match format {
            crate::report::Format::Json => (
                "latency.json",
                serde_json::to_string_pretty(self).unwrap_or_default(),
            ),
            crate::report::Format::Junit => ("latency.junit.xml", junit::render(self)),
            crate::report::Format::Md => ("latency.md", markdown::render(self)),
            crate::report::Format::Html => ("latency.html", html::render(self)),
        }
    }

    fn artifacts(&self) -> Vec<(&'static str, Vec<u8>)> {
        self.shard
            .as_ref()
            .map(shard::Shard::files)
            .unwrap_or_default()
    }

    fn text(&self) -> String {
        text::render(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn outcome(cpu_ms: u64, wall_ms: u64, sent: u64) -> load::LoadOutcome {
        load::LoadOutcome {
            tallies: Vec::new(),
            seconds: 1.0,
            drained_seconds: 1.0,
            lag: None,
            cpu: Some(Duration::from_millis(cpu_ms)),
            wall: Duration::from_millis(wall_ms),
            sent,
            aborted: None,
        }
    }

    fn late(n: u64) -> load::Lag {
        load::Lag {
            late: n,
            max_ms: 40.0,
            p99_ms: 30.0,
        }
    }

    #[test]
    fn a_busy_generator_that_falls_behind_is_named_the_bottleneck() {
        // 950 ms of CPU in 1 s on one core, 5% of the requests late.
        let g = generator(
            false,
            1,
            &[outcome(950, 1000, 10_000)],
            Some(&late(500)),
            false,
        );
        assert!(g.bottleneck);
        assert_eq!(g.cpu_us_per_request, Some(95.0));
        assert_eq!(g.busy_share, Some(0.95));
    }

    #[test]
    fn lateness_without_a_busy_cpu_is_not_the_generators() {
        // At the in-flight cap against a slow target: late, but the CPU is mostly idle.
        let g = generator(
            false,
            1,
            &[outcome(200, 1000, 10_000)],
            Some(&late(500)),
            false,
        );
        assert!(!g.bottleneck);
        // Busy on one of two cores is half busy.
        let g = generator(
            false,
            2,
            &[outcome(950, 1000, 10_000)],
            Some(&late(500)),
            false,
        );
        assert!(!g.bottleneck);
        assert_eq!(g.busy_share, Some(0.475));
    }

    #[test]
    fn a_busy_generator_on_time_is_not_a_bottleneck() {
        let g = generator(
            false,
            1,
            &[outcome(990, 1000, 10_000)],
            Some(&late(50)),
            false,
        );
        assert!(!g.bottleneck, "0.5% late is within the 1% allowed");
        let closed = generator(false, 1, &[outcome(990, 1000, 10_000)], None, false);
        assert!(!closed.bottleneck);
    }

    #[test]
    fn sharing_the_process_with_the_target_names_no_bottleneck() {
        let g = generator(
            true,
            1,
            &[outcome(990, 1000, 10_000)],
            Some(&late(5_000)),
            false,
        );
        assert!(!g.bottleneck);
        assert!(g.shares_process_with_target);
    }

    #[test]
    fn without_the_os_cpu_time_nothing_is_claimed() {
        let mut o = outcome(0, 1000, 10_000);
        o.cpu = None;
        let g = generator(false, 1, &[o], Some(&late(5_000)), false);
        assert!(!g.bottleneck);
        assert_eq!(
            (g.cpu_ms, g.cpu_us_per_request, g.busy_share),
            (None, None, None)
        );
        assert!(text::generator_line(&g).is_none());
    }
}
