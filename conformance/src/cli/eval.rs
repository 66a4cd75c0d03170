//! `conformance eval`: its flags, and their translation into an `EvalConfig`.

use super::options::{
    baseline, positive_rate, positive_seconds, share, Limiter, OutputArgs, TargetArgs,
};
use super::progress::Progress;
use clap::Args;
use harness::HarnessError;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub(super) struct EvalArgs {
    #[command(subcommand)]
    action: Option<EvalAction>,
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
    api: Option<harness::eval::Api>,
    /// How the --cases files are written: kit (ours), openai-evals (samples: {"input",
    /// "ideal"} per line) or promptfoo (a promptfooconfig.yaml) [default: told from each
    /// file's content].
    #[arg(long, value_enum, value_name = "FORMAT")]
    cases_format: Option<harness::eval::Format>,
    /// How OpenAI evals samples are graded, after the evals classes: match (Match: the answer
    /// starts with an ideal), includes (Includes), fuzzy (FuzzyMatch), json (JsonMatch).
    #[arg(long, value_enum, default_value = "match")]
    grader: harness::eval::SamplesGrader,
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
    /// Where `similar` graders ask for embeddings (an OpenAI-compatible API root) [default:
    /// the target].
    #[arg(long, value_name = "URL")]
    embedding_target: Option<String>,
    /// The embeddings API key [default: --api-key].
    #[arg(long, env = "EMBEDDING_API_KEY", hide_env_values = true)]
    embedding_api_key: Option<String>,
    /// The embedding model of `similar` graders [default: the embedding model the embeddings
    /// target lists].
    #[arg(long)]
    embedding_model: Option<String>,
    /// Ask only this shard of the cases (I/N): those whose `suite/id` falls to it, a split
    /// that editing a suite does not reshuffle. `conformance eval merge` joins the N shards.
    #[arg(long, value_name = "I/N", value_parser = harness::eval::Shard::parse, conflicts_with = "regrade")]
    shard: Option<harness::eval::Shard>,
    /// Go on with an interrupted run (its report directory or results.jsonl): the cases it
    /// answered are kept as they were, only the rest are asked.
    #[arg(long, value_name = "DIR|FILE", conflicts_with = "regrade")]
    resume: Option<PathBuf>,
    /// Ask every case of several targets at once (a TOML file of [[target]] tables: name,
    /// url, api_key_env, model, api; or a promptfoo config, whose providers are the targets)
    /// and compare them: accuracy, errors, latency and tokens per target, an exact McNemar
    /// test per pair, and the per-case matrix in compare.html.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["target", "regrade", "baseline", "resume", "shard"])]
    compare: Option<PathBuf>,
    /// With --compare: exit 1 when another target is significantly worse than this one
    /// (McNemar p < 0.05 on the cases both graded).
    #[arg(long, value_name = "NAME", requires = "compare")]
    fail_if_worse: Option<String>,
    /// Where reports go (eval.json, eval.md, results.jsonl in <report-dir>/<run-id>/).
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Write no report files.
    #[arg(long)]
    no_reports: bool,
}

/// What `conformance eval` does besides asking a target.
#[derive(Debug, clap::Subcommand)]
enum EvalAction {
    /// Join the report directories of a split eval's shards (`--shard I/N`) into one run:
    /// every case answered exactly once, the same reports, gates and statistics as one run.
    #[command(
        after_help = "Example:\n  conformance eval merge results/shard-1 results/shard-2 results/shard-3 --min-accuracy 0.9"
    )]
    Merge(EvalMergeArgs),
}

#[derive(Debug, Args)]
struct EvalMergeArgs {
    /// Each shard's report directory (its newest eval run is taken) or run directory.
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    #[command(flatten)]
    out: OutputArgs,
    /// The suites, if not at the paths the shards read them from (checked by hash).
    #[arg(long)]
    cases: Vec<String>,
    /// Exit 1 when the overall accuracy is below this (0..1).
    #[arg(long, value_parser = share)]
    min_accuracy: Option<f64>,
    /// Exit 1 when the share of errored cases is above this (0..1).
    #[arg(long, value_parser = share)]
    max_error_rate: Option<f64>,
    /// Compare with an earlier run (its report directory, its results.jsonl, or `latest`).
    #[arg(long, value_name = "DIR|FILE")]
    baseline: Option<PathBuf>,
    /// Exit 1 when accuracy dropped significantly against --baseline (McNemar p < 0.05).
    #[arg(long, requires = "baseline")]
    fail_on_regression: bool,
    /// Where the merged reports go (with the shards' results.jsonl joined).
    #[arg(long, default_value = "reports")]
    report_dir: PathBuf,
    /// Write no report files.
    #[arg(long)]
    no_reports: bool,
}

/// `conformance eval merge`.
fn merge_command(args: EvalMergeArgs) -> Result<ExitCode, HarnessError> {
    let run_id = harness::new_run_id();
    let run_dir = args.report_dir.join(&run_id);
    let options = harness::eval::MergeOptions {
        run_id,
        cases: args.cases.clone(),
        min_accuracy: args.min_accuracy,
        max_error_rate: args.max_error_rate,
        baseline: baseline(&args.baseline, &args.report_dir, "results.jsonl")?,
        fail_on_regression: args.fail_on_regression,
        results: (!args.no_reports).then(|| run_dir.join("results.jsonl")),
    };
    let summary = harness::eval::merge(&args.dirs, &options)?;
    conclude(
        &args.out,
        &summary,
        (!args.no_reports).then_some(&args.report_dir),
    )
}

/// Prints the summary, writes every report into `reports` (unless none), and gives the exit
/// code: 1 when a gate failed.
fn conclude(
    out: &OutputArgs,
    summary: &harness::eval::Summary,
    reports: Option<&PathBuf>,
) -> Result<ExitCode, HarnessError> {
    out.summary(summary);
    if let Some(dir) = reports {
        harness::write_reports(summary, dir, &ALL_FORMATS)?;
        out.say(&format!(
            "reports: {}\n",
            dir.join(&summary.run_id).display()
        ));
    }
    Ok(if summary.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `eval` writes every format (eval.json, eval.junit.xml, eval.md, eval.html).
const ALL_FORMATS: [harness::ReportFormat; 4] = [
    harness::ReportFormat::Json,
    harness::ReportFormat::Junit,
    harness::ReportFormat::Md,
    harness::ReportFormat::Html,
];

/// Where `eval` looks for suites when no `--cases` is given.
pub(super) const DEFAULT_SUITES_DIR: &str = "cases/evals";

pub(super) async fn eval_command(mut args: EvalArgs) -> Result<ExitCode, HarnessError> {
    use harness::eval;
    if let Some(EvalAction::Merge(merge)) = args.action.take() {
        return merge_command(merge);
    }
    // Suites are read and checked before anything is started or sent.
    let reading = eval::Reading {
        api: args.api,
        format: args.cases_format,
        samples_grader: args.grader,
        providers_as_targets: args.compare.is_some(),
    };
    let (mut suites, source) = if !args.cases.is_empty() {
        (eval::load(&args.cases, &reading)?, None)
    } else if std::path::Path::new(DEFAULT_SUITES_DIR).is_dir() {
        let pattern = format!("{DEFAULT_SUITES_DIR}/*.jsonl");
        let suites = eval::load(std::slice::from_ref(&pattern), &reading)?;
        (
            suites,
            Some(format!("suites: {pattern} (no --cases given)")),
        )
    } else {
        let note = format!(
            "suites: {} (no --cases given, and no {DEFAULT_SUITES_DIR}/ here)",
            eval::BUILTIN_LABEL
        );
        (eval::builtin(args.api)?, Some(note))
    };
    let plan = match &args.plan {
        Some(path) => {
            let plan = eval::load_gates(path)?;
            eval::apply_gates(&plan, &path.display().to_string(), &mut suites)?;
            plan
        }
        None => eval::GatePlan::default(),
    };
    // A comparison reads its targets before anything is started.
    let contenders = match &args.compare {
        Some(path) => Some(eval::compare::load_targets(path)?),
        None => None,
    };
    let main_key = args.to.key()?;
    // Re-grading asks nothing, and a comparison names its own targets: no server is started.
    let to = match (&args.to.target, &args.regrade, &contenders) {
        (None, Some(_), _) | (_, _, Some(_)) => None,
        _ => Some(args.to.resolve(Limiter::Off).await?),
    };
    let (url, label, key) = to
        .as_ref()
        .map_or((String::new(), String::new(), None), |t| {
            (t.url.clone(), t.label.clone(), t.key.clone())
        });
    let run_id = harness::new_run_id();
    let run_dir = args.report_dir.join(&run_id);
    let config = eval::EvalConfig {
        target: args.to.config(url, key, args.timeout),
        target_label: label,
        run_id: run_id.clone(),
        cases: args.cases.clone(),
        api: args.api,
        format: args.cases_format,
        samples_grader: args.grader,
        model: args.model.clone(),
        sampling: eval::Sampling::default(),
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
        embedding: args.embedding_target.as_ref().map(|url| {
            let key = args.embedding_api_key.clone().or(main_key.clone());
            args.to.config(url.clone(), key, args.timeout)
        }),
        embedding_model: args.embedding_model.clone(),
        shard: args.shard.unwrap_or(eval::Shard::WHOLE),
        resume: baseline(&args.resume, &args.report_dir, "results.jsonl")?,
    };
    if let Some(targets) = contenders {
        return compare_command(&args, config, targets, suites, source).await;
    }
    let progress = Progress::counted(args.out.progress_every);
    let done = std::sync::atomic::AtomicU64::new(0);
    let on_case = |r: &eval::CaseResult, total: u64| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress.show(n, total, &format!("{}/{}", r.suite, r.id), || {
            format!("[{n}/{total}] cases done")
        });
    };
    let mut summary = eval::run(&config, suites, &on_case).await?;
    progress.finish();
    summary.notes.extend(source);
    conclude(
        &args.out,
        &summary,
        (!args.no_reports).then_some(&args.report_dir),
    )
}

/// `conformance eval --compare`: every case of every target, then the comparison.
async fn compare_command(
    args: &EvalArgs,
    base: harness::eval::EvalConfig,
    targets: Vec<harness::eval::compare::Contender>,
    suites: Vec<harness::eval::Suite>,
    source: Option<String>,
) -> Result<ExitCode, HarnessError> {
    use harness::eval::compare;
    let count = targets.len() as u64;
    let config = compare::CompareConfig {
        run_dir: (!args.no_reports).then(|| args.report_dir.join(&base.run_id)),
        base,
        targets,
        fail_if_worse: args.fail_if_worse.clone(),
    };
    let progress = Progress::counted(args.out.progress_every);
    let done = std::sync::atomic::AtomicU64::new(0);
    let on_case = |name: &str, r: &harness::eval::CaseResult, per_target: u64| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let total = per_target * count;
        progress.show(n, total, &format!("{name}: {}/{}", r.suite, r.id), || {
            format!("[{n}/{total}] asks done over {count} targets")
        });
    };
    let mut comparison = compare::run(&config, suites, &on_case).await?;
    progress.finish();
    comparison.notes.extend(source);
    args.out.summary(&comparison);
    if !args.no_reports {
        compare::write(&comparison, &args.report_dir, &ALL_FORMATS)?;
        args.out.say(&format!(
            "reports: {}\n",
            args.report_dir.join(&comparison.run_id).display()
        ));
    }
    Ok(if comparison.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
