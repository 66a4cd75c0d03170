//! `conformance run`: its flags, and their translation into a `RunConfig`.

use super::options::{positive_seconds, Limiter, OutputArgs, Resolved, TargetArgs};
use super::progress::Progress;
use clap::builder::TypedValueParser as _;
use clap::Args;
use harness::HarnessError;
use harness::ReportFormat as Format;
use harness::RunConfig;
use harness::TargetConfig;
use harness::{CheckOptions, Profile};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(super) enum ProfileArg {
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

#[derive(Debug, Args)]
pub(super) struct RunArgs {
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
    #[arg(long, default_value_t = CheckOptions::default().budget, value_parser = clap::value_parser!(u32).range(1..=10_000))]
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
    #[arg(long, default_value = "30s", value_parser = kit_formats::duration)]
    max_retry_wait: Duration,
    /// All waits of the run together; past it, a rate-limited check is errored (e.g. 5m).
    #[arg(long, default_value = "300s", value_parser = kit_formats::duration)]
    retry_budget: Duration,
    /// Allow checks that send bursts to the target (rate-limit probing).
    #[arg(long)]
    aggressive: bool,
    /// Most requests the burst check may send.
    #[arg(long, default_value_t = CheckOptions::default().burst_max, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
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
    #[arg(long, default_value_t = TargetConfig::DEFAULT_MAX_RESPONSE_BYTES, value_parser = clap::value_parser!(u64).range(1024..=(1u64 << 34)).map(|v| v as usize))]
    max_response_bytes: usize,
    /// Most events read from one stream.
    #[arg(long, default_value_t = TargetConfig::DEFAULT_MAX_EVENTS, value_parser = clap::value_parser!(u64).range(1..=10_000_000).map(|v| v as usize))]
    max_events: usize,
    /// Exit 1 when any check is skipped (CI that must see every check run).
    #[arg(long)]
    fail_on_skip: bool,
    /// Body size sent by the oversized-body check.
    #[arg(long, default_value_t = CheckOptions::default().oversized_bytes)]
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

pub(super) async fn run_command(args: RunArgs) -> Result<ExitCode, HarnessError> {
    // A document that cannot be read is a usage error, found before any request is sent.
    let openapi = match &args.openapi {
        Some(source) => Some(std::sync::Arc::new((
            source.clone(),
            harness::openapi::load(source).await?,
        ))),
        None => None,
    };
    rules(&args, args.to.key()?.as_deref())?;
    // Keep the embedded server alive for the whole run.
    let to = args.to.resolve(Limiter::On).await?;
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
                target: to.label.clone(),
            }))
        }
        None => None,
    };
    let seed = args
        .seed
        .unwrap_or_else(|| u64::from(uuid::Uuid::new_v4().as_u128() as u32));
    let mut config = config(&args, &to, seed);
    config.options.openapi = openapi;
    config.options.snapshots = snapshots;
    let total = config.selected()?.len() as u64;
    let progress = Progress::counted(args.out.progress_every);
    let done = std::sync::atomic::AtomicU64::new(0);
    let not_passed = std::sync::atomic::AtomicU64::new(0);
    let on_check = |r: &harness::CheckResult| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if !matches!(
            r.outcome,
            harness::Outcome::Passed | harness::Outcome::Skipped { .. }
        ) {
            not_passed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        progress.show(n, total, &r.id, || {
            let bad = not_passed.load(std::sync::atomic::Ordering::Relaxed);
            format!("[{n}/{total}] checks done, {bad} not passed so far")
        });
    };
    let result = harness::run(config, &on_check).await?;
    progress.finish();
    drop(to);
    args.out.summary(&result);
    if !args.no_reports {
        for path in harness::write_reports(&result, &args.report_dir, &args.report)? {
            args.out.say(&format!("report: {}\n", path.display()));
        }
    }
    let skipped = result.counts().skipped;
    if args.fail_on_skip && skipped > 0 {
        eprintln!(
            "conformance: {} skipped and --fail-on-skip is set",
            kit_formats::plural(skipped, "check was", "checks were")
        );
    }
    Ok(if result.failed() || (args.fail_on_skip && skipped > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The flag combinations `run` refuses, checked before anything starts; `key` is --api-key's.
fn rules(args: &RunArgs, key: Option<&str>) -> Result<(), HarnessError> {
    if matches!(args.profile, ProfileArg::Isolation) && !args.only.is_empty() {
        return Err(HarnessError::Usage(
            "--profile isolation selects isolation.* itself; use --profile facade with --only"
                .into(),
        ));
    }
    let second = args.second_api_key.as_deref().filter(|k| !k.is_empty());
    if second.is_some() && second == key {
        return Err(HarnessError::Usage(
            "--second-api-key is --api-key: the isolation checks need a key of another project"
                .into(),
        ));
    }
    Ok(())
}

/// The run `args` ask for against `to`, with every default `run` applies: the embedded server
/// is held to strict auth, may be burst, and lends its second project's key; `--profile
/// isolation` is the facade's isolation checks alone. (The OpenAPI document and the snapshot
/// options, which need I/O, are set by the caller.)
fn config(args: &RunArgs, to: &Resolved, seed: u64) -> RunConfig {
    let embedded = to.ours;
    RunConfig {
        target: TargetConfig {
            max_response_bytes: args.max_response_bytes,
            max_events: args.max_events,
            ..args.to.config(to.url.clone(), to.key.clone(), args.timeout)
        },
        target_label: to.label.clone(),
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
            expect_strict_auth: args.expect_strict_auth || embedded,
            expect_auth: args.expect_auth,
            seed,
            budget: args.budget,
            oversized_bytes: args.oversized_bytes,
            // Bursting our own embedded server is safe; any other target must opt in.
            aggressive: args.aggressive || embedded,
            burst_max: args.burst_max,
            heavy_batch: CheckOptions::default().heavy_batch,
            openapi: None,
            snapshots: None,
            retry: harness::RetryPolicy {
                enabled: !args.no_retry,
                max_retries: args.max_retries,
                max_wait: args.max_retry_wait,
                budget: args.retry_budget,
            },
            // The embedded server has a key in a project of its own for them.
            second_api_key: if embedded {
                Some(harness::embedded::SECOND_KEY.to_owned())
            } else {
                args.second_api_key.clone().filter(|k| !k.is_empty())
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: RunArgs,
    }

    fn parse(flags: &[&str]) -> RunArgs {
        let argv = std::iter::once("run").chain(flags.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli.args,
            Err(e) => panic!("{e}"),
        }
    }

    fn target(embedded: bool) -> Resolved {
        Resolved {
            _server: None,
            ours: embedded,
            url: "http://h/v1".into(),
            label: "h".into(),
            key: Some("k".into()),
        }
    }

    #[test]
    fn a_target_of_ours_is_held_to_strict_auth_and_may_be_burst_another_must_opt_in() {
        let ours = config(&parse(&[]), &target(true), 1);
        assert!(ours.options.expect_strict_auth && ours.options.aggressive);
        assert_eq!(
            ours.options.second_api_key.as_deref(),
            Some(harness::embedded::SECOND_KEY)
        );
        let theirs = config(&parse(&["--second-api-key", "k2"]), &target(false), 1);
        assert!(!theirs.options.expect_strict_auth && !theirs.options.aggressive);
        assert_eq!(theirs.options.second_api_key.as_deref(), Some("k2"));
        let opted = config(
            &parse(&["--aggressive", "--expect-strict-auth"]),
            &target(false),
            1,
        );
        assert!(opted.options.expect_strict_auth && opted.options.aggressive);
    }

    #[test]
    fn the_isolation_profile_is_the_isolation_checks_alone() {
        let c = config(&parse(&["--profile", "isolation"]), &target(false), 1);
        assert_eq!(c.only, ["isolation.*"]);
        assert_eq!(c.profile, Profile::Facade);
        let e = rules(
            &parse(&["--profile", "isolation", "--only", "models.*"]),
            None,
        );
        assert!(e.is_err_and(|e| e.to_string().contains("--profile isolation selects")));
    }

    #[test]
    fn a_second_key_must_be_another_key() {
        let args = parse(&["--api-key", "k", "--second-api-key", "k"]);
        assert!(rules(&args, Some("k")).is_err_and(|e| e.to_string().contains("is --api-key")));
        assert!(rules(&parse(&["--second-api-key", "k2"]), Some("k")).is_ok());
        assert!(rules(&parse(&["--second-api-key", ""]), None).is_ok());
    }
}
