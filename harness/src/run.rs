//! Select checks, run them against the target, collect a `RunResult` (plain data that the
//! reports read).

use crate::checks::{self, Check, CheckOptions, Ctx};
use crate::error::HarnessError;
pub use crate::result::{CheckResult, Outcome, RunResult};
use crate::result::{Profile, ProfileScore};
use crate::schemas::Schemas;
use crate::target::discovery::discover;
use crate::target::{Target, TargetConfig};
use futures::StreamExt;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::time::Instant;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// How to reach the target.
    pub target: TargetConfig,
    /// A label for the target in reports (the URL, or "embedded reference server").
    pub target_label: String,
    /// The widest profile to run (`Facade` runs `OpenaiCore` too).
    pub profile: Profile,
    /// Only checks whose id matches one of these globs (empty: all).
    pub only: Vec<String>,
    /// Leave out checks whose id matches one of these globs.
    pub skip: Vec<String>,
    /// Chat model; discovered from `/v1/models` when absent.
    pub chat_model: Option<String>,
    /// Embedding model; discovered from `/v1/models` when absent.
    pub embedding_model: Option<String>,
    /// Checks run at once.
    pub concurrency: usize,
    /// Options passed to the checks.
    pub options: CheckOptions,
}

impl RunConfig {
    /// Every check of the facade profile against `target`, four at a time, models discovered,
    /// with the default options.
    pub fn new(target: TargetConfig) -> Self {
        Self {
            target_label: target.base_url.clone(),
            target,
            profile: Profile::Facade,
            only: Vec::new(),
            skip: Vec::new(),
            chat_model: None,
            embedding_model: None,
            concurrency: 4,
            options: CheckOptions::default(),
        }
    }
}

fn globs(patterns: &[String], flag: &str) -> Result<GlobSet, HarnessError> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = Glob::new(p).map_err(|e| {
            HarnessError::Usage(format!("{flag} {p:?} is not a valid pattern: {e}"))
        })?;
        builder.add(glob);
    }
    builder
        .build()
        .map_err(|e| HarnessError::Usage(format!("{flag}: {e}")))
}

impl RunConfig {
    /// The checks this configuration selects, in catalogue order: what `run` will run.
    pub fn selected(&self) -> Result<Vec<Check>, HarnessError> {
        select(self)
    }
}

/// The checks `config` selects, in catalogue order.
pub(crate) fn select(config: &RunConfig) -> Result<Vec<Check>, HarnessError> {
    let only = globs(&config.only, "--only")?;
    let skip = globs(&config.skip, "--skip")?;
    let selected: Vec<Check> = checks::catalogue()
        .into_iter()
        .filter(|c| c.profile <= config.profile)
        .filter(|c| config.only.is_empty() || only.is_match(c.id))
        .filter(|c| !skip.is_match(c.id))
        // Shapes are compared only when a recording is named: without --snapshots the
        // checks are not part of the run (not skipped, so --fail-on-skip is not tripped).
        .filter(|c| c.area() != "snapshots" || config.options.snapshots.is_some())
        .collect();
    // Without another check, `snapshots.exchanges` would have nothing to judge.
    let others = selected
        .iter()
        .any(|c| !matches!(c.area(), "snapshots" | "properties"));
    let selected: Vec<Check> = selected
        .into_iter()
        .filter(|c| c.id != "snapshots.exchanges" || others)
        .collect();
    if selected.is_empty() {
        return Err(HarnessError::Usage(
            "--only/--skip/--profile select no check (snapshots.* need --snapshots DIR); `conformance list` shows the ids".into(),
        ));
    }
    Ok(selected)
}

/// Runs the selected checks and returns their results, or an error for usage mistakes and
/// an unreachable target.
pub async fn run(
    config: RunConfig,
    progress: &dyn Fn(&CheckResult),
) -> Result<RunResult, HarnessError> {
    let selected = select(&config)?;
    let target = Target::new(&config.target)?;
    let schemas = Schemas::load().map_err(HarnessError::Usage)?;
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let started = Instant::now();
    let (target, discovery, notes) = discover(target).await?;
    let chat_model = config.chat_model.clone().or(discovery.chat.clone());
    let embedding_model = config
        .embedding_model
        .clone()
        .or(discovery.embedding.clone());
    let api_root = target.api_root().to_owned();
    let seed = config.options.seed;
    let ctx = Ctx::new(
        target,
        schemas,
        chat_model.clone(),
        embedding_model.clone(),
        config.options.clone(),
    )
    .with_discovery(discovery);
    let ctx = &ctx;
    // Disruptive checks run alone, after everything else has finished.
    let (mut last, first): (Vec<&Check>, Vec<&Check>) = selected.iter().partition(|c| c.last);
    // The shapes of every exchange are judged once all the others have been sent.
    last.sort_by_key(|c| c.id == "snapshots.exchanges");
    let mut results: Vec<CheckResult> = futures::stream::iter(first)
        .map(|c| run_check(c, ctx, config.profile, progress))
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    for check in last {
        results.push(run_check(check, ctx, config.profile, progress).await);
    }
    let order: std::collections::HashMap<&str, usize> = selected
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    results.sort_by_key(|r| order.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
    let profiles = [Profile::OpenaiCore, Profile::OpenResponses, Profile::Facade]
        .into_iter()
        .filter(|p| *p <= config.profile)
        .map(|profile| crate::result::score(profile, &results))
        .collect::<Vec<ProfileScore>>();
    let causes = crate::root_cause::causes(&results);
    let retries = ctx.retries.summary();
    Ok(RunResult {
        run_id: crate::run_id::new(),
        harness_version: env!("CARGO_PKG_VERSION").to_owned(),
        target: config.target_label.clone(),
        api_root,
        notes,
        started_at,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        chat_model,
        embedding_model,
        seed,
        checks: results,
        profiles,
        causes,
        retries,
    })
}

/// Runs one check of a run whose widest profile is `profile`, and reports its result to
/// `progress`.
async fn run_check(
    check: &Check,
    ctx: &Ctx,
    profile: Profile,
    progress: &dyn Fn(&CheckResult),
) -> CheckResult {
    let t = Instant::now();
    let (outcome, mut note, metrics) =
        Outcome::of(checks::as_check(check.id, (check.run)(ctx)).await);
    // A pass that needed a repeat after a 5xx says so (the report lists those requests too).
    if let (Outcome::Passed, Some(flaky)) = (&outcome, ctx.retries.note_for(check.id)) {
        note = Some(match note {
            Some(n) => format!("{n}; {flaky}"),
            None => flaky,
        });
    }
    let (description, scored) = match check.adapt {
        Some(adapt) => adapt(&ctx.options, profile),
        None => (check.description.to_owned(), check.scored),
    };
    let result = CheckResult {
        id: check.id.to_owned(),
        area: check.area().to_owned(),
        profile: check.profile,
        scored,
        description,
        outcome,
        note,
        metrics,
        duration_ms: t.elapsed().as_secs_f64() * 1000.0,
    };
    progress(&result);
    result
}
