//! Select checks, run them against the target, collect a `RunResult` (plain data that the
//! reports read).

use crate::checks::{self, Check, CheckOptions, Ctx, Failure, Metric, Problem, Profile};
use crate::error::HarnessError;
use crate::schemas::Schemas;
use crate::target::{Req, Target, TargetConfig, TransportError};
use futures::StreamExt;
use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;
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

/// The verdict of one check.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Status {
    /// Passed.
    Passed,
    /// Failed, with details.
    Failed(Box<Failure>),
    /// Not applicable to this target.
    Skipped {
        /// Why.
        reason: String,
    },
}

/// One check's result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckResult {
    /// Stable id.
    pub id: String,
    /// Area (the id's first part).
    pub area: String,
    /// Profile.
    pub profile: Profile,
    /// One-line description.
    pub description: String,
    /// The verdict.
    #[serde(flatten)]
    pub status: Status,
    /// A remark.
    pub note: Option<String>,
    /// Measurements.
    pub metrics: Vec<Metric>,
    /// Wall time of the check in milliseconds.
    pub duration_ms: f64,
}

/// A profile's score.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProfileScore {
    /// Profile name.
    pub profile: Profile,
    /// Checks passed.
    pub passed: usize,
    /// Checks failed.
    pub failed: usize,
    /// Checks skipped.
    pub skipped: usize,
    /// passed / (passed + failed), 0..1; 1 when nothing ran.
    pub score: f64,
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunResult {
    /// Unique id, also the report directory name.
    pub run_id: String,
    /// Harness version.
    pub harness_version: String,
    /// The target URL.
    pub target: String,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// Wall time in milliseconds.
    pub duration_ms: f64,
    /// Models used.
    pub chat_model: Option<String>,
    /// Models used.
    pub embedding_model: Option<String>,
    /// The seed of the property tests.
    pub seed: u64,
    /// Per-check results, in catalogue order.
    pub checks: Vec<CheckResult>,
    /// Scores per profile.
    pub profiles: Vec<ProfileScore>,
}

impl RunResult {
    /// Counts of (passed, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in &self.checks {
            match r.status {
                Status::Passed => c.0 += 1,
                Status::Failed(_) => c.1 += 1,
                Status::Skipped { .. } => c.2 += 1,
            }
        }
        c
    }

    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.counts().1 > 0
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

/// The checks `config` selects, in catalogue order.
pub fn select(config: &RunConfig) -> Result<Vec<Check>, HarnessError> {
    let only = globs(&config.only, "--only")?;
    let skip = globs(&config.skip, "--skip")?;
    let selected: Vec<Check> = checks::catalogue()
        .into_iter()
        .filter(|c| c.profile <= config.profile)
        .filter(|c| config.only.is_empty() || only.is_match(c.id))
        .filter(|c| !skip.is_match(c.id))
        .collect();
    if selected.is_empty() {
        return Err(HarnessError::Usage(
            "--only/--skip/--profile select no check; `conformance list` shows the ids".into(),
        ));
    }
    Ok(selected)
}

/// Lists the target's models and picks a chat and an embedding model.
async fn discover(target: &Target) -> Result<(Option<String>, Option<String>), HarnessError> {
    let ex = match target.send(Req::get("/v1/models")).await {
        Ok(ex) => ex,
        Err(e @ (TransportError::Unreachable { .. } | TransportError::Timeout { .. })) => {
            return Err(HarnessError::Unreachable(e.to_string()))
        }
        Err(_) => return Ok((None, None)),
    };
    let ids: Vec<String> = ex
        .json()
        .ok()
        .and_then(|v| v["data"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
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
    Ok((chat, embedding))
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
    let (found_chat, found_embedding) = discover(&target).await?;
    let chat_model = config.chat_model.clone().or(found_chat);
    let embedding_model = config.embedding_model.clone().or(found_embedding);
    let seed = config.options.seed;
    let ctx = Ctx::new(
        target,
        schemas,
        chat_model.clone(),
        embedding_model.clone(),
        config.options.clone(),
    );
    let ctx = &ctx;
    // Disruptive checks run alone, after everything else has finished.
    let (last, first): (Vec<&Check>, Vec<&Check>) = selected.iter().partition(|c| c.last);
    let mut results: Vec<CheckResult> = futures::stream::iter(first)
        .map(|c| run_check(c, ctx, progress))
        .buffered(config.concurrency.max(1))
        .collect()
        .await;
    for check in last {
        results.push(run_check(check, ctx, progress).await);
    }
    let order: std::collections::HashMap<&str, usize> = selected
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i))
        .collect();
    results.sort_by_key(|r| order.get(r.id.as_str()).copied().unwrap_or(usize::MAX));
    let profiles = [Profile::OpenaiCore, Profile::Facade]
        .into_iter()
        .filter(|p| *p <= config.profile)
        .map(|profile| score(profile, &results))
        .collect();
    Ok(RunResult {
        run_id: format!(
            "{}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        ),
        harness_version: env!("CARGO_PKG_VERSION").to_owned(),
        target: config.target_label.clone(),
        started_at,
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        chat_model,
        embedding_model,
        seed,
        checks: results,
        profiles,
    })
}

/// Runs one check and reports its result to `progress`.
async fn run_check(check: &Check, ctx: &Ctx, progress: &dyn Fn(&CheckResult)) -> CheckResult {
    let t = Instant::now();
    let verdict = (check.run)(ctx).await;
    let (status, note, metrics) = match verdict {
        Ok(p) => (Status::Passed, p.note, p.metrics),
        Err(Problem::Fail(f)) => (Status::Failed(f), None, Vec::new()),
        Err(Problem::Skip(reason)) => (Status::Skipped { reason }, None, Vec::new()),
    };
    let result = CheckResult {
        id: check.id.to_owned(),
        area: check.area().to_owned(),
        profile: check.profile,
        description: check.description.to_owned(),
        status,
        note,
        metrics,
        duration_ms: t.elapsed().as_secs_f64() * 1000.0,
    };
    progress(&result);
    result
}

/// A profile's score counts its own checks and those of narrower profiles.
fn score(profile: Profile, results: &[CheckResult]) -> ProfileScore {
    let mut s = ProfileScore {
        profile,
        passed: 0,
        failed: 0,
        skipped: 0,
        score: 1.0,
    };
    for r in results.iter().filter(|r| r.profile <= profile) {
        match r.status {
            Status::Passed => s.passed += 1,
            Status::Failed(_) => s.failed += 1,
            Status::Skipped { .. } => s.skipped += 1,
        }
    }
    if s.passed + s.failed > 0 {
        s.score = s.passed as f64 / (s.passed + s.failed) as f64;
    }
    s
}
