//! Command-line definitions and their translation into library calls. Flag rules live in
//! clap attributes; this module only wires them.

mod progress;

use clap::builder::TypedValueParser as _;
use clap::{Args, Parser, Subcommand};
use harness::checks::{CheckOptions, Profile};
use harness::report::{self, Format};
use harness::run::{self, RunConfig};
use harness::target::TargetConfig;
use harness::HarnessError;
use progress::Progress;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The conformance kit: checks that an OpenAI-compatible API is compatible, check by check.
#[derive(Debug, Parser)]
#[command(name = "conformance", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the checks against a target (default: the embedded reference server).
    #[command(
        after_help = "Examples:\n  conformance run\n  OPENAI_API_KEY=... conformance run --target https://api.example.com/v1 --profile openai-core --json > verdicts.json"
    )]
    Run(Box<RunArgs>),
    /// Ask JSONL eval suites of a target, grade the answers, and gate on accuracy.
    #[command(
        after_help = "Examples:\n  conformance eval --min-accuracy 0.7\n  conformance eval --target https://api.example.com/v1 --model gpt-4o-mini --cases 'evals/*.jsonl' --baseline latest --fail-on-regression"
    )]
    Eval(Box<EvalArgs>),
    /// Load a target, measure latency (TTFT, ITL, percentiles) and gate on SLO budgets.
    #[command(
        after_help = "Examples:\n  conformance latency --duration 10s\n  conformance latency --target https://api.example.com/v1 --slo slo.toml --rate 20 --duration 2m --baseline latest --fail-on-regression"
    )]
    Latency(Box<LatencyArgs>),
    /// Validate OpenAPI documents, or find breaking changes between two of them.
    #[command(
        subcommand,
        after_help = "Examples:\n  conformance openapi validate openapi.yaml --examples\n  conformance openapi diff --base old.yaml --cand new.yaml --format md"
    )]
    Openapi(OpenapiCommand),
    /// Compare a run's report.json with a server's expected verdicts, or render the table.
    #[command(
        subcommand,
        after_help = "Example:\n  conformance compat check --expect cases/compat/llmsim.toml --report reports/latest/report.json"
    )]
    Compat(CompatCommand),
    /// Compare two recordings of shapes (`run --snapshots DIR`).
    #[command(
        subcommand,
        after_help = "Example:\n  conformance snapshot diff cases/snapshots/reference-server shapes/"
    )]
    Snapshot(SnapshotCommand),
    /// Print a completion script for a shell.
    #[command(
        after_help = "Examples:\n  conformance completions bash > ~/.local/share/bash-completion/completions/conformance\n  conformance completions zsh > \"${fpath[1]}/_conformance\"\n  conformance completions fish > ~/.config/fish/completions/conformance.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the check catalogue.
    #[command(after_help = "Example:\n  conformance list --profile openai-core")]
    List {
        /// Only checks of this profile and narrower ones.
        #[arg(long, value_enum, default_value = "facade")]
        profile: ProfileArg,
    },
}

#[derive(Debug, Subcommand)]
enum OpenapiCommand {
    /// Check the structure of an OpenAPI 3.0 or 3.1 document (file or URL, YAML or JSON).
    Validate {
        /// The document.
        file: String,
        /// Also check every example against its schema (parameters, headers, bodies, and each
        /// event of a text/event-stream example against x-sse-data-schema).
        #[arg(long)]
        examples: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
    },
    /// List the changes from --base to --cand; exit 1 when any is breaking.
    Diff {
        /// The old document (file or URL).
        #[arg(long)]
        base: String,
        /// The new document (file or URL).
        #[arg(long)]
        cand: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
    },
}

#[derive(Debug, Subcommand)]
enum SnapshotCommand {
    /// List the shape differences between two recordings (say, a vendor and the reference
    /// server, or last month's and today's); exit 1 when they differ.
    Diff {
        /// The first recording.
        a: PathBuf,
        /// The second recording.
        b: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: DiffFormat,
    },
}

#[derive(Debug, Subcommand)]
enum CompatCommand {
    /// Exit 1 when the report differs from the expectation (a new failure, a new pass, a
    /// changed reason, a check added or gone).
    Check {
        /// The expectation, e.g. cases/compat/llmsim.toml.
        #[arg(long)]
        expect: String,
        /// The run's report.json.
        #[arg(long)]
        report: String,
        /// Rewrite the expectation from the report instead (reasons that still hold are kept;
        /// new ones are "TODO" until a person writes why each is a true deviation).
        #[arg(long)]
        update: bool,
    },
    /// Print docs/compatibility.md from expectations, one column per file.
    Render {
        /// Expectation files, in column order.
        #[arg(long, required = true)]
        expect: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DiffFormat {
    Text,
    Json,
    Md,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ProfileArg {
    /// What any OpenAI-compatible server should pass.
    OpenaiCore,
    /// openai-core plus what the Open Responses specification adds to /v1/responses.
    OpenResponses,
    /// openai-core, open-responses and the facade's own promises.
    Facade,
    /// Only the isolation checks (isolation.*): what one key stores, a key of another
    /// project cannot reach (needs --second-api-key).
    Isolation,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::OpenaiCore => Profile::OpenaiCore,
            ProfileArg::OpenResponses => Profile::OpenResponses,
            // The isolation checks are facade checks; the profile selects them alone.
            ProfileArg::Facade | ProfileArg::Isolation => Profile::Facade,
        }
    }
}

/// Where the target is and how to authenticate, shared by `run` and `eval`.
#[derive(Debug, Args)]
struct TargetArgs {
    /// The target's API root, as an SDK's base_url (e.g. https://api.example.com/v1); a bare
    /// origin whose API is under /v1 is found. Without it, the reference server is started
    /// in-process on a loopback port.
    #[arg(long, env = "OPENAI_BASE_URL", hide_env_values = true)]
    target: Option<String>,
    /// API key for the target.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Read the API key from this file (its first line), so it is not in the process list;
    /// wins over --api-key and OPENAI_API_KEY.
    #[arg(long, value_name = "PATH")]
    api_key_file: Option<PathBuf>,
    /// Header that carries the key (gateways); Authorization sends "Bearer <key>".
    #[arg(long, default_value = "Authorization")]
    auth_header: String,
    /// Accept invalid TLS certificates.
    #[arg(long)]
    insecure: bool,
    /// Trust the CAs of this PEM bundle too (an internal CA), beside the web roots and the
    /// system's store; also for --judge-target.
    #[arg(long, value_name = "FILE")]
    cacert: Option<std::path::PathBuf>,
}

impl TargetArgs {
    /// The key: from --api-key-file, else --api-key or OPENAI_API_KEY. A file that cannot be
    /// read, or holds no key, is a usage error (exit 2).
    fn key(&self) -> Result<Option<String>, HarnessError> {
        let Some(path) = &self.api_key_file else {
            return Ok(self.api_key.clone());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| HarnessError::Usage(format!("--api-key-file {}: {e}", path.display())))?;
        let key = text.lines().next().unwrap_or("").trim();
        if key.is_empty() {
            return Err(HarnessError::Usage(format!(
                "--api-key-file {}: the file holds no key (its first line is empty)",
                path.display()
            )));
        }
        Ok(Some(key.to_owned()))
    }

    /// The target config for `url` with `key`, these credentials' header, and `timeout`.
    fn config(&self, url: String, key: Option<String>, timeout: f64) -> TargetConfig {
        TargetConfig {
            auth_header: self.auth_header.clone(),
            insecure: self.insecure,
            cacert: self.cacert.clone(),
            ..TargetConfig::new(url, key, Duration::from_secs_f64(timeout))
        }
    }
}

/// What goes to stdout and how progress shows, shared by `run`, `eval` and `latency`.
#[derive(Debug, Args)]
struct OutputArgs {
    /// What stdout gets: the text summary, or the report as one JSON document (for scripts;
    /// the lines naming report files go to stderr then).
    #[arg(long, value_enum, default_value = "text")]
    format: OutputFormat,
    /// Short for --format json.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Without a terminal (a CI log), print a progress line this often.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = harness::latency::slo::duration)]
    progress_every: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

impl OutputArgs {
    fn json(&self) -> bool {
        self.json || self.format == OutputFormat::Json
    }

    /// Prints `text` to stdout, unless stdout is the JSON document.
    fn say(&self, text: &str) {
        if self.json() {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }

    /// Prints the summary: `text`, or `json` as one document.
    fn summary(&self, text: &str, json: impl FnOnce() -> String) {
        if self.json() {
            println!("{}", json());
        } else {
            print!("{text}");
        }
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    to: TargetArgs,
    #[command(flatten)]
    out: OutputArgs,
    /// Chat model to use [default: discovered from /v1/models].
    #[arg(long)]
    chat_model: Option<String>,
    /// Embedding model to use [default: discovered from /v1/models].
    #[arg(long)]
    embedding_model: Option<String>,
    /// Per-request timeout in seconds, streams included.
    #[arg(long, default_value_t = 30.0, value_parser = positive_seconds)]
    timeout: f64,
    /// The widest profile to run.
    #[arg(long, value_enum, default_value = "facade")]
    profile: ProfileArg,
    /// Run only checks whose id matches (glob, repeatable), e.g. 'embeddings.*'.
    #[arg(long)]
    only: Vec<String>,
    /// Leave out checks whose id matches (glob, repeatable).
    #[arg(long)]
    skip: Vec<String>,
    /// Seed of the property tests [default: random, printed in the report].
    #[arg(long)]
    seed: Option<u64>,
    /// Generated cases per property test.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    budget: u32,
    /// Checks run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    concurrency: u32,
    /// A key of another project (or organisation) than --api-key: the isolation checks
    /// store with the first key and reach for it with this one.
    #[arg(long, env = "CONFORMANCE_SECOND_API_KEY", hide_env_values = true)]
    second_api_key: Option<String>,
    /// Require 401 for an unknown key (for targets with strict auth); implies --expect-auth.
    #[arg(long)]
    expect_strict_auth: bool,
    /// Require 401 for a request without credentials, while accepting any key (a permissive
    /// target that still wants one): a target that stopped asking then fails.
    #[arg(long)]
    expect_auth: bool,
    /// Judge every answer as it came: no waiting out 429s, no second ask after a 5xx.
    #[arg(long)]
    no_retry: bool,
    /// Most retries of one request the target rate-limits (429), waiting what it asks.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(0..=100))]
    max_retries: u32,
    /// Longest wait before one retry, whatever the target asks (e.g. 30s).
    #[arg(long, default_value = "30s", value_parser = harness::latency::slo::duration)]
    max_retry_wait: Duration,
    /// All waits of the run together; past it, a rate-limited check is errored (e.g. 5m).
    #[arg(long, default_value = "300s", value_parser = harness::latency::slo::duration)]
    retry_budget: Duration,
    /// Allow checks that send bursts to the target (rate-limit probing).
    #[arg(long)]
    aggressive: bool,
    /// Most requests the burst check may send.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    burst_max: u32,
    /// Check answers against this OpenAPI document (file or URL, e.g. OpenAI's official one)
    /// instead of the target's /openapi.json.
    #[arg(long, value_name = "FILE|URL")]
    openapi: Option<String>,
    /// Compare the shape of every answer of the run with its recording in DIR (`snapshots.*`).
    #[arg(long, value_name = "DIR")]
    snapshots: Option<PathBuf>,
    /// With --snapshots: write new and changed shapes as DIR/*.snap.new for review instead of
    /// failing.
    #[arg(long, requires = "snapshots")]
    update_snapshots: bool,
    /// With --snapshots: first promote DIR/*.snap.new to the recording.
    #[arg(long, requires = "snapshots")]
    accept: bool,
    /// With --snapshots: a shape never recorded fails its check.
    #[arg(long, requires = "snapshots")]
    strict_snapshots: bool,
    /// Most bytes read from one answer (a body or a whole stream); past it the check fails.
    #[arg(long, default_value_t = harness::target::DEFAULT_MAX_RESPONSE_BYTES, value_parser = clap::value_parser!(u64).range(1024..=(1u64 << 34)).map(|v| v as usize))]
    max_response_bytes: usize,
    /// Most events read from one stream.
    #[arg(long, default_value_t = harness::target::DEFAULT_MAX_EVENTS, value_parser = clap::value_parser!(u64).range(1..=10_000_000).map(|v| v as usize))]
    max_events: usize,
    /// Exit 1 when any check is skipped (CI that must see every check run).
    #[arg(long)]
    fail_on_skip: bool,
    /// Body size sent by the oversized-body check.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    oversized_bytes: usize,
    /// Report formats written to <report-dir>/<run-id>/.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "json,junit,md,html"
    )]
    report: Vec<Format>,
    /// Where reports go.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Write no report files.
    #[arg(long, conflicts_with = "report")]
    no_reports: bool,
}

#[derive(Debug, Args)]
struct EvalArgs {
    #[command(flatten)]
    to: TargetArgs,
    #[command(flatten)]
    out: OutputArgs,
    /// Suite files or glob patterns (repeatable) [default: cases/evals/*.jsonl when the
    /// current directory has cases/evals/, else the suites built into the binary].
    #[arg(long)]
    cases: Vec<String>,
    /// Ask every case through this API, whatever the suites say.
    #[arg(long, value_enum)]
    api: Option<harness::eval::case::Api>,
    /// Model of cases that name none [default: discovered from /v1/models].
    #[arg(long)]
    model: Option<String>,
    /// Exit 1 when the overall weighted accuracy is below this.
    #[arg(long, value_parser = share)]
    min_accuracy: Option<f64>,
    /// A TOML plan of gates (overall, error rate, per suite); flags win over it.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Exit 1 when more than this share of cases errored (no answer to grade).
    #[arg(long, value_parser = share)]
    max_error_rate: Option<f64>,
    /// Only cases with one of these tags (repeatable, or comma-separated).
    #[arg(long, value_delimiter = ',')]
    only_tags: Vec<String>,
    /// Cases asked at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// Most requests per second (retries included).
    #[arg(long, value_parser = positive_rate)]
    max_rps: Option<f64>,
    /// Retries of a 429 or 5xx answer, with backoff (Retry-After honoured).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=20))]
    max_retries: u32,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
    timeout: f64,
    /// Grade the answers stored by an earlier run (its report directory, its results.jsonl,
    /// or `latest`) with the current suites and graders; nothing is asked.
    #[arg(long, value_name = "DIR|FILE", conflicts_with_all = ["target", "max_rps"])]
    regrade: Option<PathBuf>,
    /// Compare with an earlier run (its report directory, its results.jsonl, or `latest`: the
    /// newest eval run in --report-dir): fixed, broke, same, and an exact McNemar p-value.
    #[arg(long, value_name = "DIR|FILE")]
    baseline: Option<PathBuf>,
    /// Exit 1 when accuracy dropped significantly against --baseline (more broke than were
    /// fixed, McNemar p < 0.05).
    #[arg(long, requires = "baseline")]
    fail_on_regression: bool,
    /// Where `judge` graders ask (an OpenAI-compatible API root) [default: the target].
    #[arg(long, value_name = "URL")]
    judge_target: Option<String>,
    /// The judge's API key [default: --api-key].
    #[arg(long, env = "JUDGE_API_KEY", hide_env_values = true)]
    judge_api_key: Option<String>,
    /// The judge model [default: the model asked].
    #[arg(long)]
    judge_model: Option<String>,
    /// Where reports go (eval.json, eval.md, results.jsonl in <report-dir>/<run-id>/).
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Write no report files.
    #[arg(long)]
    no_reports: bool,
}

#[derive(Debug, Args)]
struct LatencyArgs {
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
    /// How long to measure, after the warm-up (e.g. 30s, 2m).
    #[arg(long, value_parser = harness::latency::slo::duration)]
    duration: Option<Duration>,
    /// How many requests to measure, after the warm-up.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    requests: Option<u64>,
    /// Sent and measured first but not counted (connections, caches).
    #[arg(long, default_value = "1s", value_parser = harness::latency::slo::duration)]
    warmup: Duration,
    /// Before the warm-up, raise the load linearly from nothing to its full rate or
    /// concurrency over this long (not counted).
    #[arg(long, default_value = "0s", value_parser = harness::latency::slo::duration)]
    ramp: Duration,
    /// Run the load this many times: the verdict is on all runs together, and the report
    /// gives the spread of every percentile and says which verdicts lie within it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    repeat: u32,
    /// Step the open-loop rate (`50,100,200`, `FROM:TO:STEP`) or search it (`search:FROM:TO`),
    /// each step lasting --duration; reports the highest rate that met every budget and the
    /// throughput/latency curve. Fails when no rate met them.
    #[arg(long, value_name = "RATES", value_parser = harness::latency::sweep::Plan::parse,
          conflicts_with_all = ["rate", "concurrency", "repeat"])]
    sweep: Option<harness::latency::sweep::Plan>,
    /// Stop as soon as a budget can no longer hold, whatever the rest of the run does (a
    /// bound already exceeded by more requests than the percentile allows, an error rate
    /// past its budget even if every request left succeeded).
    #[arg(long)]
    abort_on_breach: bool,
    /// Seed of the Poisson arrivals.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Per-request timeout in seconds, streams included.
    #[arg(long, default_value_t = 60.0, value_parser = positive_seconds)]
    timeout: f64,
    /// Write every request (due time, latency, TTFT, gaps, tokens, error) as a JSON line here.
    #[arg(long, value_name = "FILE.jsonl")]
    samples: Option<PathBuf>,
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
    /// Chat model of the default scenarios.
    #[arg(long, default_value = "ref-chat-1")]
    chat_model: String,
    /// Embedding model of the default scenarios.
    #[arg(long, default_value = "ref-embed-1")]
    embedding_model: String,
    /// Report formats written to <report-dir>/<run-id>/.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "json,junit,md,html"
    )]
    report: Vec<LatencyFormat>,
    /// Where reports go.
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Write no report files.
    #[arg(long)]
    no_reports: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LatencyFormat {
    Json,
    Junit,
    Md,
    Html,
}

async fn latency_command(args: LatencyArgs) -> Result<ExitCode, HarnessError> {
    use harness::latency::{self, load, slo};
    // The SLO file is read and checked before anything is started or sent.
    let mut scenarios = match &args.slo {
        Some(path) => slo::load(path).map_err(HarnessError::Usage)?,
        None => slo::defaults(&args.chat_model, &args.embedding_model),
    };
    if !args.scenario.is_empty() {
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
        scenarios.retain(|s| args.scenario.contains(&s.name));
    }
    let (_embedded, url, label, key) = match &args.to.target {
        Some(url) => (None, url.clone(), url.clone(), args.to.key()?),
        None => {
            // The stand-in is measured, not throttled: its rate limiter is off.
            let e = harness::embedded::start_with(false).await?;
            let url = format!("{}/v1", e.url);
            let label = format!("embedded reference server ({})", e.url);
            (Some(e), url, label, Some(harness::embedded::KEY.to_owned()))
        }
    };
    if args.poisson && args.rate.is_none() && args.sweep.is_none() {
        return Err(HarnessError::Usage(
            "--poisson needs an open loop: --rate or --sweep".into(),
        ));
    }
    let model = match (args.rate, &args.sweep) {
        (Some(rate), _) => load::Model::Open {
            rate,
            poisson: args.poisson,
            max_in_flight: args.max_in_flight as usize,
        },
        // The sweep sets each step's rate.
        (None, Some(_)) => load::Model::Open {
            rate: 1.0,
            poisson: args.poisson,
            max_in_flight: args.max_in_flight as usize,
        },
        (None, None) => load::Model::Closed {
            concurrency: args.concurrency.unwrap_or(8) as usize,
        },
    };
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(Duration::from_secs(10)),
        (d, _) => d,
    };
    let config_scenarios = &scenarios;
    let slo = match &args.slo {
        Some(path) => path.display().to_string(),
        None => {
            let each: Vec<String> = config_scenarios
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
    let config = latency::LatencyConfig {
        target: args.to.config(url, key, args.timeout),
        target_label: label,
        slo,
        scenarios,
        model,
        span: load::Span {
            duration,
            requests: args.requests,
            warmup: args.warmup,
            ramp: args.ramp,
            seed: args.seed,
        },
        samples: args.samples.clone(),
        baseline: baseline(&args.baseline, &args.report_dir, "latency.json")?,
        fail_on_regression: args.fail_on_regression.then_some(args.regression_threshold),
        repeat: args.repeat,
        sweep: args.sweep.clone(),
        abort_on_breach: args.abort_on_breach,
    };
    let run_id = harness::report::new_run_id();
    let status = Progress::status(args.out.progress_every);
    // The rate shown is over the last second: the counted requests since the last tick.
    let last = std::sync::Mutex::new((0.0f64, 0u64));
    let on_load = |p: load::Progress| match p {
        load::Progress::Tick(elapsed, n, errors, p95) => {
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
        load::Progress::Step(step) => {
            if let Ok(mut last) = last.lock() {
                *last = (0.0, 0);
            }
            status.println(&step);
        }
    };
    let report = latency::run(&config, &run_id, &on_load).await?;
    status.finish();
    args.out.summary(&latency::report::to_text(&report), || {
        serde_json::to_string_pretty(&report).unwrap_or_default()
    });
    if !args.no_reports {
        let dir = args.report_dir.join(&run_id);
        std::fs::create_dir_all(&dir).map_err(|source| HarnessError::Io {
            context: format!("cannot create {}", dir.display()),
            source,
        })?;
        for format in &args.report {
            let (name, text) = match format {
                LatencyFormat::Json => (
                    "latency.json",
                    serde_json::to_string_pretty(&report).unwrap_or_default(),
                ),
                LatencyFormat::Junit => ("latency.junit.xml", latency::report::to_junit(&report)),
                LatencyFormat::Md => ("latency.md", latency::report::to_markdown(&report)),
                LatencyFormat::Html => ("latency.html", latency::html::to_html(&report)),
            };
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| HarnessError::Io {
                context: format!("cannot write {}", path.display()),
                source,
            })?;
            args.out.say(&format!("wrote {}\n", path.display()));
        }
        report::latest::point(&args.report_dir, &run_id)?;
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Where `eval` looks for suites when no `--cases` is given.
const DEFAULT_SUITES_DIR: &str = "cases/evals";

/// `--baseline`: as given, or for `latest` the newest earlier run with `file`.
fn baseline(
    given: &Option<PathBuf>,
    report_dir: &std::path::Path,
    file: &str,
) -> Result<Option<PathBuf>, HarnessError> {
    given
        .as_deref()
        .map(|g| report::latest::resolve(g, report_dir, file))
        .transpose()
}

/// A share: `5%` or `0.05`. A bare number over 1 is refused rather than guessed at.
fn share(s: &str) -> Result<f64, String> {
    let (number, scale) = match s.trim().strip_suffix('%') {
        Some(pct) => (pct.trim(), 100.0),
        None => (s.trim(), 1.0),
    };
    match number.parse::<f64>().map(|v| v / scale) {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) if scale == 1.0 && v > 1.0 && v <= 100.0 => Err(format!(
            "{s:?} is not a share between 0 and 1: write {s}% for {s} percent, or {}",
            v / 100.0
        )),
        _ => Err(format!(
            "{s:?} is not a share: write a percentage (5%) or a number between 0 and 1 (0.05)"
        )),
    }
}

fn positive_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a positive rate")),
    }
}

fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

/// Parses the arguments, runs the command, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("conformance: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("conformance: {e}");
            e.exit_code()
        }
    }
}

async fn execute(cli: Cli) -> Result<ExitCode, HarnessError> {
    match cli.command {
        Command::List { profile } => {
            let profile: Profile = profile.into();
            for c in harness::checks::catalogue()
                .iter()
                .filter(|c| c.profile <= profile)
            {
                println!("{:<44} {:<12} {}", c.id, c.profile.name(), c.description);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory as _;
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "conformance",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run_command(*args).await,
        Command::Eval(args) => eval_command(*args).await,
        Command::Latency(args) => latency_command(*args).await,
        Command::Openapi(command) => openapi_command(command).await,
        Command::Compat(command) => compat_command(command),
        Command::Snapshot(SnapshotCommand::Diff { a, b, format }) => {
            let diffs = harness::snapshots::diff_dirs(&a, &b).map_err(HarnessError::Usage)?;
            match format {
                DiffFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "a": a, "b": b,
                        "differ": diffs.iter().any(|d| d.status != "same"),
                        "snapshots": diffs,
                    }))
                    .unwrap_or_default()
                ),
                DiffFormat::Text => print!("{}", harness::snapshots::render(&a, &b, &diffs, false)),
                DiffFormat::Md => print!("{}", harness::snapshots::render(&a, &b, &diffs, true)),
            }
            Ok(if diffs.iter().any(|d| d.status != "same") {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

async fn openapi_command(command: OpenapiCommand) -> Result<ExitCode, HarnessError> {
    match command {
        OpenapiCommand::Validate {
            file,
            examples,
            format,
        } => {
            let doc = harness::openapi::load(&file).await?;
            let mut findings = harness::openapi::validate(&doc);
            if examples {
                findings.extend(harness::openapi::validate::validate_examples(&doc));
            }
            match format {
                DiffFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&findings).unwrap_or_default()
                ),
                DiffFormat::Text | DiffFormat::Md => {
                    for f in &findings {
                        println!("{file}#{}: {}", f.pointer, f.message);
                    }
                    let paths = doc["paths"].as_object().map_or(0, |p| p.len());
                    println!(
                        "{file}: OpenAPI {} with {paths} paths, {} problems",
                        doc["openapi"].as_str().unwrap_or("?"),
                        findings.len()
                    );
                }
            }
            Ok(if findings.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        OpenapiCommand::Diff { base, cand, format } => {
            let (b, c) = (
                harness::openapi::load(&base).await?,
                harness::openapi::load(&cand).await?,
            );
            let diff = harness::openapi::diff(&b, &c);
            match format {
                DiffFormat::Text => print!("{}", diff.to_text()),
                DiffFormat::Json => println!("{}", diff.to_json()),
                DiffFormat::Md => print!("{}", diff.to_markdown()),
            }
            Ok(if diff.has_breaking() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn compat_name(path: &str) -> String {
    std::path::Path::new(path)
        .file_stem()
        .map_or_else(|| path.to_owned(), |s| s.to_string_lossy().into_owned())
}

fn compat_command(command: CompatCommand) -> Result<ExitCode, HarnessError> {
    use harness::compat;
    match command {
        CompatCommand::Check {
            expect,
            report,
            update: true,
        } => {
            let previous = std::fs::read_to_string(&expect)
                .ok()
                .and_then(|t| toml::from_str::<compat::Expectation>(&t).ok());
            let next = compat::from_report(
                previous.as_ref(),
                &compat_name(&expect),
                &compat::load_report(&report)?,
            );
            let text = toml::to_string_pretty(&next)
                .map_err(|e| HarnessError::Usage(format!("cannot write {expect}: {e}")))?;
            std::fs::write(&expect, text).map_err(|source| HarnessError::Io {
                context: format!("cannot write {expect}"),
                source,
            })?;
            println!("{expect}: rewritten from {report}; write a `why` for every TODO");
            Ok(ExitCode::SUCCESS)
        }
        CompatCommand::Check { expect, report, .. } => {
            let expectation = compat::load(&expect)?;
            let diffs = compat::compare(&expectation, &compat::load_report(&report)?);
            for d in &diffs {
                println!("{}: {}: {}", compat_name(&expect), d.id, d.what);
            }
            println!(
                "{}: {} against {expect}",
                compat_name(&expect),
                match diffs.len() {
                    0 => "every verdict as expected".to_owned(),
                    n => harness::result::plural(n, "difference", "differences"),
                }
            );
            Ok(if diffs.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        CompatCommand::Render { expect } => {
            let mut all = Vec::new();
            for path in &expect {
                all.push((compat_name(path), compat::load(path)?));
            }
            print!("{}", compat::render(&all));
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn eval_command(args: EvalArgs) -> Result<ExitCode, HarnessError> {
    use harness::eval;
    // Suites are read and checked before anything is started or sent.
    let (mut suites, source) = if !args.cases.is_empty() {
        (eval::load(&args.cases, args.api)?, None)
    } else if std::path::Path::new(DEFAULT_SUITES_DIR).is_dir() {
        let pattern = format!("{DEFAULT_SUITES_DIR}/*.jsonl");
        let suites = eval::load(std::slice::from_ref(&pattern), args.api)?;
        (
            suites,
            Some(format!("suites: {pattern} (no --cases given)")),
        )
    } else {
        let note = format!(
            "suites: {} (no --cases given, and no {DEFAULT_SUITES_DIR}/ here)",
            eval::builtin::LABEL
        );
        (eval::builtin::load(args.api)?, Some(note))
    };
    let plan = match &args.plan {
        Some(path) => {
            let plan = eval::plan::load(path)?;
            eval::plan::apply(&plan, &path.display().to_string(), &mut suites)?;
            plan
        }
        None => eval::plan::Plan::default(),
    };
    let main_key = args.to.key()?;
    let (_embedded, url, label, key) = match &args.to.target {
        Some(url) => (None, url.clone(), url.clone(), main_key.clone()),
        // Re-grading asks nothing, so no server is started.
        None if args.regrade.is_some() => (None, String::new(), String::new(), None),
        None => {
            let e = harness::embedded::start_with(false).await?;
            let label = format!("embedded reference server ({})", e.url);
            let url = format!("{}/v1", e.url);
            (Some(e), url, label, Some(harness::embedded::KEY.to_owned()))
        }
    };
    let run_id = harness::report::new_run_id();
    let run_dir = args.report_dir.join(&run_id);
    if !args.no_reports {
        std::fs::create_dir_all(&run_dir).map_err(|source| HarnessError::Io {
            context: format!("cannot create {}", run_dir.display()),
            source,
        })?;
    }
    let config = eval::EvalConfig {
        target: args.to.config(url, key, args.timeout),
        target_label: label,
        cases: args.cases.clone(),
        api: args.api,
        model: args.model.clone(),
        only_tags: args.only_tags.clone(),
        concurrency: args.concurrency as usize,
        max_rps: args.max_rps,
        max_retries: args.max_retries,
        min_accuracy: args.min_accuracy.or(plan.min_accuracy),
        max_error_rate: args.max_error_rate.or(plan.max_error_rate),
        results: (!args.no_reports).then(|| run_dir.join("results.jsonl")),
        regrade: baseline(&args.regrade, &args.report_dir, "results.jsonl")?,
        baseline: baseline(&args.baseline, &args.report_dir, "results.jsonl")?,
        fail_on_regression: args.fail_on_regression,
        judge: args.judge_target.as_ref().map(|url| {
            let key = args.judge_api_key.clone().or(main_key.clone());
            args.to.config(url.clone(), key, args.timeout)
        }),
        judge_model: args.judge_model.clone(),
    };
    let progress = Progress::counted(args.out.progress_every);
    let done = std::sync::atomic::AtomicU64::new(0);
    let on_case = |r: &eval::runner::CaseResult, total: u64| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress.show(n, total, &format!("{}/{}", r.suite, r.id), || {
            format!("[{n}/{total}] cases done")
        });
    };
    let mut summary = eval::run(&config, suites, &on_case).await?;
    progress.finish();
    summary.notes.extend(source);
    args.out.summary(&summary.to_text(), || {
        serde_json::to_string_pretty(&summary).unwrap_or_default()
    });
    if !args.no_reports {
        let write = |name: &str, text: String| {
            let path = run_dir.join(name);
            std::fs::write(&path, text).map_err(|source| HarnessError::Io {
                context: format!("cannot write {}", path.display()),
                source,
            })
        };
        write(
            "eval.json",
            serde_json::to_string_pretty(&summary).unwrap_or_default(),
        )?;
        write("eval.md", summary.to_markdown())?;
        write("eval.html", eval::html::render(&summary))?;
        eval::junit::write(
            &run_dir.join("results.jsonl"),
            &summary,
            &run_dir.join("eval.junit.xml"),
        )?;
        report::latest::point(&args.report_dir, &run_id)?;
        args.out.say(&format!("reports: {}\n", run_dir.display()));
    }
    Ok(if summary.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn run_command(args: RunArgs) -> Result<ExitCode, HarnessError> {
    // A document that cannot be read is a usage error, found before any request is sent.
    let openapi = match &args.openapi {
        Some(source) => Some(std::sync::Arc::new((
            source.clone(),
            harness::openapi::load(source).await?,
        ))),
        None => None,
    };
    if matches!(args.profile, ProfileArg::Isolation) && !args.only.is_empty() {
        return Err(HarnessError::Usage(
            "--profile isolation selects isolation.* itself; use --profile facade with --only"
                .into(),
        ));
    }
    let main_key = args.to.key()?;
    let second_api_key = args.second_api_key.clone().filter(|k| !k.is_empty());
    if second_api_key.is_some() && second_api_key == main_key {
        return Err(HarnessError::Usage(
            "--second-api-key is --api-key: the isolation checks need a key of another project"
                .into(),
        ));
    }
    // Keep the embedded server alive for the whole run.
    let (embedded, url, label, key) = match &args.to.target {
        Some(url) => {
            if main_key.is_none() {
                eprintln!("conformance: no --api-key (or OPENAI_API_KEY) given: requests to {url} carry no credentials");
            }
            (None, url.clone(), url.clone(), main_key.clone())
        }
        None => {
            let e = harness::embedded::start().await?;
            let url = e.url.clone();
            let key = Some(harness::embedded::KEY.to_owned());
            (
                Some(e),
                url.clone(),
                format!("embedded reference server ({url})"),
                key,
            )
        }
    };
    let seed = args
        .seed
        .unwrap_or_else(|| u64::from(uuid::Uuid::new_v4().as_u128() as u32));
    let snapshots = match &args.snapshots {
        Some(dir) => {
            if args.accept {
                let n = harness::snapshots::accept(dir).map_err(HarnessError::Usage)?;
                eprintln!("conformance: {n} shape(s) accepted into {}", dir.display());
            }
            Some(std::sync::Arc::new(harness::snapshots::SnapshotOptions {
                dir: dir.clone(),
                update: args.update_snapshots,
                strict: args.strict_snapshots,
                target: label.clone(),
            }))
        }
        None => None,
    };
    let config = RunConfig {
        target: TargetConfig {
            max_response_bytes: args.max_response_bytes,
            max_events: args.max_events,
            ..args.to.config(url, key, args.timeout)
        },
        target_label: label,
        profile: args.profile.into(),
        only: match args.profile {
            ProfileArg::Isolation => vec!["isolation.*".to_owned()],
            _ => args.only.clone(),
        },
        skip: args.skip.clone(),
        chat_model: args.chat_model.clone(),
        embedding_model: args.embedding_model.clone(),
        concurrency: args.concurrency as usize,
        options: CheckOptions {
            expect_strict_auth: args.expect_strict_auth || embedded.is_some(),
            expect_auth: args.expect_auth,
            seed,
            budget: args.budget,
            oversized_bytes: args.oversized_bytes,
            // Bursting our own embedded server is safe; any other target must opt in.
            aggressive: args.aggressive || embedded.is_some(),
            burst_max: args.burst_max,
            heavy_batch: 2048,
            openapi,
            snapshots,
            retry: harness::checks::retry::RetryPolicy {
                enabled: !args.no_retry,
                max_retries: args.max_retries,
                max_wait: args.max_retry_wait,
                budget: args.retry_budget,
            },
            // The embedded server has a key in a project of its own for them.
            second_api_key: match &embedded {
                Some(_) => Some(harness::embedded::SECOND_KEY.to_owned()),
                None => second_api_key,
            },
        },
    };
    let total = run::select(&config)?.len() as u64;
    let progress = Progress::counted(args.out.progress_every);
    let done = std::sync::atomic::AtomicU64::new(0);
    let not_passed = std::sync::atomic::AtomicU64::new(0);
    let on_check = |r: &run::CheckResult| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if !matches!(
            r.outcome,
            run::Outcome::Passed | run::Outcome::Skipped { .. }
        ) {
            not_passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        progress.show(n, total, &r.id, || {
            let bad = not_passed.load(std::sync::atomic::Ordering::Relaxed);
            format!("[{n}/{total}] checks done, {bad} not passed so far")
        });
    };
    let result = run::run(config, &on_check).await?;
    progress.finish();
    drop(embedded);
    args.out.summary(&report::console::render(&result), || {
        report::json::render(&result)
    });
    if !args.no_reports {
        for path in report::write(&result, &args.report_dir, &args.report)? {
            args.out.say(&format!("report: {}\n", path.display()));
        }
    }
    let skipped = result.counts().skipped;
    if args.fail_on_skip && skipped > 0 {
        eprintln!(
            "conformance: {} skipped and --fail-on-skip is set",
            harness::result::plural(skipped, "check was", "checks were")
        );
    }
    Ok(if result.failed() || (args.fail_on_skip && skipped > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
