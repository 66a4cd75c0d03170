//! `conformance latency`: its flags, and their translation into a `LatencyConfig`.

use super::options::{
    baseline, positive_rate, positive_seconds, share, start_at, tick, Limiter, OutputArgs,
    TargetArgs,
};
use super::progress::Progress;
use clap::Args;
use harness::{latency, HarnessError};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub(super) struct LatencyArgs {
    #[command(subcommand)]
    action: Option<LatencyAction>,
    #[command(flatten)]
    to: TargetArgs,
    #[command(flatten)]
    out: OutputArgs,
    /// The SLO file: scenarios and budgets [default: responses p95 <= 1200ms and embeddings
    /// p95 <= 800ms, each with error_rate <= 1%].
    #[arg(long, value_name = "FILE")]
    slo: Option<PathBuf>,
    /// Run only these scenarios of the SLO file (repeatable, or comma-separated).
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<String>,
    /// Closed loop: requests in flight at all times.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000), conflicts_with = "rate")]
    concurrency: Option<u32>,
    /// Open loop: requests per second, each timed from when it was due.
    #[arg(long, value_parser = positive_rate)]
    rate: Option<f64>,
    /// With --rate or --sweep: Poisson arrivals (exponential gaps) instead of equal gaps.
    #[arg(long)]
    poisson: bool,
    /// With --rate: most requests in flight before the generator waits (and says so).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_in_flight: u32,
    /// With --rate or --sweep: keep due times to this grid (requests due in the same tick go
    /// out together and are timed from its instant); 0 keeps each request's own microsecond,
    /// at more CPU per request in the generator.
    #[arg(long, default_value = "1ms", value_parser = tick)]
    tick: Duration,
    /// How long to measure, after the warm-up (e.g. 30s, 2m).
    #[arg(long, value_parser = kit_formats::duration)]
    duration: Option<Duration>,
    /// How many requests to measure, after the warm-up.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Sent and measured first but not counted (connections, caches).
    #[arg(long, default_value = "1s", value_parser = kit_formats::duration)]
    warmup: Duration,
    /// Before the warm-up, raise the load linearly from nothing to its full rate or
    /// concurrency over this long (not counted).
    #[arg(long, default_value = "0s", value_parser = kit_formats::duration)]
    ramp: Duration,
    /// Run the load this many times: the verdict is on all runs together, and the report
    /// gives the spread of every percentile and says which verdicts lie within it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// Step the open-loop rate (`50,100,200`, `FROM:TO:STEP`) or search it (`search:FROM:TO`),
    /// each step lasting --duration; reports the highest rate that met every budget and the
    /// throughput/latency curve. Fails when no rate met them.
    #[arg(long, value_name = "RATES", value_parser = harness::latency::SweepPlan::parse,
          conflicts_with_all = ["rate", "concurrency", "repeat"])]
    sweep: Option<harness::latency::SweepPlan>,
    /// Stop as soon as a budget can no longer hold, whatever the rest of the run does (a
    /// bound already exceeded by more requests than the percentile allows, an error rate
    /// past its budget even if every request left succeeded).
    #[arg(long)]
    abort_on_breach: bool,
    /// Seed of the Poisson arrivals.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Send only this worker's share of a load split across N machines or processes (I/N):
    /// in an open loop every N-th request of the one schedule, in a closed loop its share of
    /// the workers and of --requests. Each worker's report is its own share.
    #[arg(long, value_name = "I/N", value_parser = latency::Segment::parse,
          conflicts_with_all = ["sweep", "repeat"])]
    segment: Option<latency::Segment>,
    /// Begin the measured phase at this wall-clock instant (RFC 3339, or Unix seconds), with
    /// the ramp and warm-up before it: the workers of a split run share one schedule.
    #[arg(long, value_name = "TIME", value_parser = start_at)]
    start_at: Option<std::time::SystemTime>,
    /// Per-request timeout in seconds, streams included.
    #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
    timeout: f64,
    /// Write every request (due time, latency, TTFT, gaps, tokens, error) as a JSON line here.
    #[arg(long, value_name = "FILE.jsonl")]
    samples: Option<PathBuf>,
    #[command(flatten)]
    against: Against,
    /// Chat model of the default scenarios.
    #[arg(long, default_value = "ref-chat-1")]
    chat_model: String,
    /// Embedding model of the default scenarios.
    #[arg(long, default_value = "ref-embed-1")]
    embedding_model: String,
    #[command(flatten)]
    reports: Reports,
}

/// An earlier run to compare with, and whether a regression fails.
#[derive(Debug, Args)]
struct Against {
    /// An earlier run's latency.json, its report directory, or `latest` (the newest latency
    /// run in --report-dir): report the change of every percentile.
    #[arg(long, value_name = "DIR|FILE")]
    baseline: Option<PathBuf>,
    /// Exit 1 when a percentile (p50, p95, p99 of latency, TTFT, ITL, TPOT) grew against
    /// --baseline by more than --regression-threshold, beyond the noise: where either run was
    /// repeated (--repeat), only when this run's lowest repeat is above the baseline's highest.
    #[arg(long, requires = "baseline")]
    fail_on_regression: bool,
    /// With --fail-on-regression: the growth that counts, as `10%` or `0.1`.
    #[arg(long, default_value = "10%", value_name = "SHARE", value_parser = share)]
    regression_threshold: f64,
}

impl Against {
    /// The baseline's file (`latest` resolved in `report_dir`), and the growth that fails.
    fn resolve(
        &self,
        report_dir: &std::path::Path,
    ) -> Result<(Option<PathBuf>, Option<f64>), HarnessError> {
        Ok((
            baseline(&self.baseline, report_dir, "latency.json")?,
            self.fail_on_regression.then_some(self.regression_threshold),
        ))
    }
}

/// Which reports a latency run or merge writes, and where.
#[derive(Debug, Args)]
struct Reports {
    /// Report formats written to <report-dir>/<run-id>/.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "json,junit,md,html"
    )]
    report: Vec<harness::ReportFormat>,
    /// Where reports go.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Write no report files.
    #[arg(long)]
    no_reports: bool,
}

impl Reports {
    /// Prints the summary, writes the reports (unless told not to), and gives the exit code:
    /// 1 when a budget did not hold.
    fn conclude(
        &self,
        out: &OutputArgs,
        report: &latency::LatencyReport,
    ) -> Result<ExitCode, HarnessError> {
        out.summary(report);
        if !self.no_reports {
            for path in harness::write_reports(report, &self.report_dir, &self.report)? {
                out.say(&format!("wrote {}\n", path.display()));
            }
        }
        Ok(if report.passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }
}

/// What `conformance latency` does besides loading a target.
#[derive(Debug, clap::Subcommand)]
enum LatencyAction {
    /// Join the report directories of a split run's segments (`--segment I/N`, one directory
    /// per worker) into one run: histograms added, budgets judged on all the samples, the
    /// same reports as a single run.
    #[command(
        after_help = "Example:\n  conformance latency merge results/worker-1 results/worker-2 results/worker-3"
    )]
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
struct MergeArgs {
    /// Each worker's report directory (its newest latency run is taken) or run directory.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
    #[command(flatten)]
    against: Against,
    #[command(flatten)]
    reports: Reports,
}

/// `conformance latency merge`.
fn merge_command(args: MergeArgs) -> Result<ExitCode, HarnessError> {
    let (baseline, fail_on_regression) = args.against.resolve(&args.reports.report_dir)?;
    let report = latency::merge(
        &args.dirs,
        baseline.as_deref(),
        fail_on_regression,
        &harness::new_run_id(),
    )?;
    args.reports.conclude(&args.out, &report)
}

pub(super) async fn latency_command(mut args: LatencyArgs) -> Result<ExitCode, HarnessError> {
    use harness::latency;
    if let Some(LatencyAction::Merge(merge)) = args.action.take() {
        return merge_command(merge);
    }
    // The SLO file and the flags are checked before anything is started or sent.
    let (scenarios, slo) = scenarios(&args)?;
    let (model, span) = load_plan(&args)?;
    let to = args.to.resolve(Limiter::Off).await?;
    let against = args.against.resolve(&args.reports.report_dir)?;
    let config = latency::LatencyConfig {
        target: args.to.config(to.url.clone(), to.key.clone(), args.timeout),
        target_label: to.label.clone(),
        slo,
        scenarios,
        model,
        span,
        samples: args.samples.clone(),
        baseline: against.0,
        fail_on_regression: against.1,
        repeat: args.repeat,
        sweep: args.sweep.clone(),
        abort_on_breach: args.abort_on_breach,
        shares_process_with_target: to.ours,
    };
    let run_id = harness::new_run_id();
    let status = Progress::status(args.out.progress_every);
    // The rate shown is over the last second: the counted requests since the last tick.
    let last = std::sync::Mutex::new((0.0f64, 0u64));
    let on_load = |p: latency::Progress| match p {
        latency::Progress::Tick(elapsed, n, errors, p95) => {
            let rate = last.lock().ok().map_or(0.0, |mut last| {
                let (t0, n0) = *last;
                *last = (elapsed, n);
                if elapsed > t0 && n >= n0 {
                    (n - n0) as f64 / (elapsed - t0)
                } else {
                    0.0
                }
            });
            let line = format!(
                "{elapsed:>6.1} s  {n} requests  {rate:.0}/s  {errors} errors  p95 {}",
                p95.map_or("-".to_owned(), |p| format!("{p:.1} ms"))
            );
            status.show(0, 0, &line, || line.clone());
        }
        latency::Progress::Step(step) => {
            if let Ok(mut last) = last.lock() {
                *last = (0.0, 0);
            }
            status.println(&step);
        }
    };
    let report = latency::run(&config, &run_id, &on_load).await?;
    status.finish();
    args.reports.conclude(&args.out, &report)
}

/// The scenarios: the SLO file's (only those --scenario names, if any), or the built-in
/// defaults; and how the report names where they came from.
fn scenarios(args: &LatencyArgs) -> Result<(Vec<latency::Scenario>, String), HarnessError> {
    let mut scenarios = match &args.slo {
        Some(path) => latency::load_scenarios(path).map_err(HarnessError::Usage)?,
        None => latency::default_scenarios(&args.chat_model, &args.embedding_model),
    };
    if let Some(unknown) = args
        .scenario
        .iter()
        .find(|n| !scenarios.iter().any(|s| &s.name == *n))
    {
        let known: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
        return Err(HarnessError::Usage(format!(
            "--scenario {unknown:?} is not in the SLO file (it has {})",
            known.join(", ")
        )));
    }
    if !args.scenario.is_empty() {
        scenarios.retain(|s| args.scenario.contains(&s.name));
    }
    let source = match &args.slo {
        Some(path) => path.display().to_string(),
        None => {
            let each: Vec<String> = scenarios
                .iter()
                .map(|s| {
                    let budgets: Vec<&str> = s.budgets.iter().map(|b| b.text.as_str()).collect();
                    format!("{} {}", s.name, budgets.join(", "))
                })
                .collect();
            format!(
                "the built-in defaults: {} (--slo FILE for yours)",
                each.join("; ")
            )
        }
    };
    Ok((scenarios, source))
}

/// The load: closed (8 in flight unless --concurrency) or open (--rate, or each step of a
/// sweep), for --duration or --requests (10 s when neither is given).
fn load_plan(args: &LatencyArgs) -> Result<(latency::Model, latency::Span), HarnessError> {
    if args.poisson && args.rate.is_none() && args.sweep.is_none() {
        return Err(HarnessError::Usage(
            "--poisson needs an open loop: --rate or --sweep".into(),
        ));
    }
    let open = |rate| latency::Model::Open {
        rate,
        poisson: args.poisson,
        max_in_flight: args.max_in_flight as usize,
        tick: args.tick,
    };
    let model = match (args.rate, &args.sweep) {
        (Some(rate), _) => open(rate),
        // The sweep sets each step's rate.
        (None, Some(_)) => open(1.0),
        (None, None) => latency::Model::Closed {
            concurrency: args.concurrency.unwrap_or(8) as usize,
        },
    };
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    let span = latency::Span {
        duration,
        requests: args.requests,
        warmup: args.warmup,
        ramp: args.ramp,
        seed: args.seed,
        segment: args.segment.unwrap_or(latency::Segment::WHOLE),
        start_at: args.start_at,
    };
    let segment = span.segment;
    if !segment.is_whole() {
        if let latency::Model::Closed { concurrency } = model {
            if concurrency < segment.count() as usize {
                return Err(HarnessError::Usage(format!(
                    "--segment {segment}: a closed loop of {concurrency} cannot be split {} ways (--concurrency at least {})",
                    segment.count(),
                    segment.count()
                )));
            }
            if args
                .requests
                .is_some_and(|r| r < u64::from(segment.count()))
            {
                return Err(HarnessError::Usage(format!(
                    "--segment {segment}: fewer --requests than segments"
                )));
            }
        }
    }
    Ok((model, span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LatencyArgs,
    }

    fn parse(flags: &[&str]) -> LatencyArgs {
        let argv = std::iter::once("latency").chain(flags.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli.args,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_default_load_is_a_closed_loop_of_eight_for_ten_seconds() {
        let (model, span) = load_plan(&parse(&[])).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(model, latency::Model::Closed { concurrency: 8 }));
        assert_eq!(span.duration, Some(Duration::from_secs(10)));
        assert_eq!(span.warmup, Duration::from_secs(1));
        let (_, span) = load_plan(&parse(&["--requests", "50"])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((span.duration, span.requests), (None, Some(50)));
    }

    #[test]
    fn an_open_loop_comes_from_a_rate_or_a_sweep_and_poisson_needs_one() {
        let (model, _) =
            load_plan(&parse(&["--rate", "20", "--poisson"])).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(model, latency::Model::Open { rate, poisson: true, .. } if rate == 20.0));
        let (model, _) = load_plan(&parse(&["--sweep", "10,20"])).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(model, latency::Model::Open { .. }));
        let e = load_plan(&parse(&["--poisson"]))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("--poisson needs an open loop: --rate or --sweep")
        );
    }

    #[test]
    fn the_tick_is_a_millisecond_unless_given_and_none_is_zero() {
        let (model, _) = load_plan(&parse(&["--rate", "20"])).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(model, latency::Model::Open { tick, .. } if tick == Duration::from_millis(1))
        );
        let (model, _) = load_plan(&parse(&["--rate", "20", "--tick", "250us"]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            matches!(model, latency::Model::Open { tick, .. } if tick == Duration::from_micros(250))
        );
        assert_eq!(tick("0"), Ok(Duration::ZERO));
        assert_eq!(tick("0s"), Ok(Duration::ZERO));
        assert_eq!(
            tick("2s"),
            Err("\"2s\" is too coarse a tick: at most 1s (0 for none)".to_owned())
        );
        assert!(tick("5").is_err_and(|e| e.contains("no unit")));
    }

    #[test]
    fn the_built_in_scenarios_are_named_and_a_scenario_filter_must_name_one() {
        let (all, source) = scenarios(&parse(&[])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(all.len(), 2);
        assert!(source.starts_with("the built-in defaults: responses p95 <= 1200ms"));
        let (one, _) =
            scenarios(&parse(&["--scenario", "embeddings"])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(one.len(), 1);
        let e = scenarios(&parse(&["--scenario", "nope"]))
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("(it has responses, embeddings)")));
    }

    #[test]
    fn the_regression_gate_needs_a_baseline_and_reads_a_share() {
        assert!(Cli::try_parse_from(["latency", "--fail-on-regression"]).is_err());
        let args = parse(&[
            "--baseline",
            "x",
            "--fail-on-regression",
            "--regression-threshold",
            "25%",
        ]);
        assert!((args.against.regression_threshold - 0.25).abs() < 1e-12);
    }
}
