//! Select checks, run them against the target, collect a `RunResult` (plain data that the
//! reports read).

use crate::checks::{self, Check, CheckOptions, Ctx};
use crate::error::HarnessError;
use crate::preflight::Refusal;
pub use crate::result::{CheckResult, Outcome, RunResult};
use crate::result::{Profile, ProfileScore};
use crate::schemas::Schemas;
use crate::target::{Exchange, Req, Target, TargetConfig, TransportError};
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

/// The checks `config` selects, in catalogue order.
pub fn select(config: &RunConfig) -> Result<Vec<Check>, HarnessError> {
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

/// What model discovery found, and why it found nothing when it did not.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The chat model picked.
    pub chat: Option<String>,
    /// The embedding model picked.
    pub embedding: Option<String>,
    /// Why no model list was read (status, body), if it was not.
    pub problem: Option<String>,
    /// How many models the list had.
    pub listed: usize,
}

/// What a candidate root answered to `GET /models`.
enum Listed {
    /// The ids of the models listed.
    Models(Vec<String>),
    /// Why the answer is not a model list, and the answer when there was one.
    Not(String, Option<Box<Exchange>>),
}

/// Reads a model list: the ids, or why the answer is not one.
async fn list_models(target: &Target) -> Result<Listed, HarnessError> {
    let url = target.url("/v1/models");
    let ex = match target.send(Req::get("/v1/models")).await {
        Ok(ex) => ex,
        Err(e @ (TransportError::Unreachable { .. } | TransportError::Timeout { .. })) => {
            return Err(HarnessError::Unreachable(e.to_string()))
        }
        Err(e) => return Ok(Listed::Not(e.to_string(), None)),
    };
    if ex.status != 200 {
        let why = format!("GET {url} answered HTTP {}: {}", ex.status, ex.excerpt());
        return Ok(Listed::Not(why, Some(Box::new(ex))));
    }
    let list = ex.json().ok().and_then(|v| v["data"].as_array().cloned());
    match list {
        Some(models) => Ok(Listed::Models(
            models
                .iter()
                .filter_map(|m| m["id"].as_str().map(str::to_owned))
                .collect(),
        )),
        None => {
            let why = format!(
                "GET {url} answered HTTP 200 without a model list: {}",
                ex.excerpt()
            );
            Ok(Listed::Not(why, Some(Box::new(ex))))
        }
    }
}

/// When no root listed models: stops on an answer that means the target cannot be used
/// (refused credentials, nothing served there, not an API). A models list that is only
/// missing or broken is not such an answer: a `POST /chat/completions` with an empty body
/// (no generation; an API answers 400) tells a wrong root from an API without `/models`.
async fn refusal(target: &Target, answers: &[Exchange]) -> Result<(), HarnessError> {
    let had_key = target.has_key();
    let judged: Vec<_> = answers
        .iter()
        .filter_map(|ex| crate::preflight::judge(ex, &crate::preflight::asked(ex), had_key))
        .collect();
    if let Some(r) = judged
        .iter()
        .find(|r| matches!(r, Refusal::Credentials { .. }))
    {
        return Err(HarnessError::Refused(r.clone()));
    }
    // A root that 404s is wrong only if the API's own endpoint is not there either.
    let Some(first) = judged.first() else {
        return Ok(());
    };
    let probe = Req::post("/v1/chat/completions", &serde_json::json!({}));
    match target.send(probe).await {
        Ok(ex) => match crate::preflight::judge(&ex, &crate::preflight::asked(&ex), had_key) {
            Some(r @ Refusal::Credentials { .. }) => Err(HarnessError::Refused(r)),
            // What came first is told, unless the probe showed more (HTML behind a 404).
            Some(r @ Refusal::NotAnApi { .. }) if !matches!(first, Refusal::NotAnApi { .. }) => {
                Err(HarnessError::Refused(r))
            }
            Some(_) => Err(HarnessError::Refused(first.clone())),
            None => Ok(()),
        },
        Err(_) => Err(HarnessError::Refused(first.clone())),
    }
}

/// Finds where the API lives and picks a chat and an embedding model. The given URL is the
/// API root, as an SDK's `base_url`. A bare origin (`http://host:8000`) is first tried under
/// `/v1`, where nearly every server has it, then as given; any other URL is tried as given,
/// then under `/v1`.
pub(crate) async fn discover(
    target: Target,
) -> Result<(Target, Discovery, Vec<String>), HarnessError> {
    let mut notes = Vec::new();
    let bare_origin = url::Url::parse(target.api_root()).is_ok_and(|u| u.path() == "/");
    let mut candidates = vec![target.clone()];
    if !target.api_root().ends_with("/v1") {
        let under = target.clone().under_v1();
        if bare_origin {
            candidates.insert(0, under);
        } else {
            candidates.push(under);
        }
    }
    // When no candidate lists models, the first is still the likeliest root.
    let fallback = candidates[0].clone();
    let mut first_problem: Option<String> = None;
    let mut answers = Vec::new();
    let mut found = None;
    let count = candidates.len();
    for (i, candidate) in candidates.into_iter().enumerate() {
        // Only the last candidate's silence means the target is unreachable.
        let listed = match list_models(&candidate).await {
            Err(e) if i + 1 < count => Ok(Listed::Not(e.to_string(), None)),
            other => other,
        }?;
        match listed {
            Listed::Models(ids) => {
                found = Some((candidate, ids));
                break;
            }
            Listed::Not(why, answer) => {
                first_problem.get_or_insert(why);
                answers.extend(answer.map(|a| *a));
            }
        }
    }
    if found.is_none() {
        refusal(&fallback, &answers).await?;
    }
    if let Some((chosen, _)) = &found {
        if chosen.api_root() != target.api_root() {
            notes.push(format!(
                "the API answers under {}; the run uses it as the API root",
                chosen.api_root()
            ));
        }
    }
    let (target, listed) = match found {
        Some((chosen, ids)) => (chosen, Ok(ids)),
        None => (fallback, Err(first_problem.unwrap_or_default())),
    };
    let ids = match listed {
        Ok(ids) => ids,
        Err(why) => {
            let problem =
                format!("{why} (is --target the API root, the URL an SDK's base_url takes?)");
            notes.push(format!("model discovery failed: {problem}"));
            return Ok((
                target,
                Discovery {
                    problem: Some(problem),
                    ..Discovery::default()
                },
                notes,
            ));
        }
    };
    let embedding = ids.iter().find(|id| id.contains("embed")).cloned();
    let non_chat = [
        "embed",
        "whisper",
        "tts",
        "dall-e",
        "image",
        "moderation",
        "audio",
        "realtime",
        "transcribe",
        "search",
    ];
    let chat = ids
        .iter()
        .find(|id| !non_chat.iter().any(|n| id.contains(n)))
        .cloned();
    Ok((
        target,
        Discovery {
            chat,
            embedding,
            problem: None,
            listed: ids.len(),
        },
        notes,
    ))
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
        run_id: crate::report::new_run_id(),
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
