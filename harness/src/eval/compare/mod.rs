//! `eval --compare`: the same suites asked of several targets at once, each with the run's own
//! concurrency and rate limits, then set side by side: accuracy with its interval, errored
//! cases, latency and tokens per target; an exact McNemar test for every pair of targets on
//! the cases both graded; and the per-case matrix of their answers, disagreements first.

mod html;
mod matrix;
mod pairs;
mod render;
pub(crate) mod targets;

pub use matrix::{Cell, Row};
pub use pairs::Pair;
pub use targets::{load as load_targets, Contender};

use super::runner::CaseResult;
use super::summary::{Gate, Score, Summary};
use super::{EvalConfig, Suite};
use crate::error::HarnessError;
use serde::Serialize;
use std::path::PathBuf;

/// What a comparison needs beside the targets.
#[derive(Debug, Clone)]
pub struct CompareConfig {
    /// Everything but the target, for each target's run (its gates apply to each).
    pub base: EvalConfig,
    /// The targets, in the order reports show them.
    pub targets: Vec<Contender>,
    /// Fail when another target is significantly worse than this one (McNemar p < 0.05).
    pub fail_if_worse: Option<String>,
    /// The run's report directory: each target's `results.jsonl` goes to `<dir>/<name>/`.
    pub run_dir: Option<PathBuf>,
}

/// One target's part of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Standing {
    /// Its name.
    pub name: String,
    /// Where it was asked.
    pub target: String,
    /// The model of cases that name none.
    pub model: String,
    /// Every case together: counts, accuracy and its interval.
    pub overall: Score,
    /// Milliseconds to each answered turn: median and 95th percentile (none: no answer).
    pub latency_p50_ms: Option<u64>,
    /// See `latency_p50_ms`.
    pub latency_p95_ms: Option<u64>,
    /// Input tokens the target reported, over every answer that reported usage.
    pub input_tokens: u64,
    /// Output tokens the target reported.
    pub output_tokens: u64,
    /// Answers that reported their token usage.
    pub answers_with_usage: u64,
    /// Answers in all.
    pub answers: u64,
    /// Whether its own gates passed.
    pub passed: bool,
}

/// The end of a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// `"eval-compare"`.
    pub kind: &'static str,
    /// The run's id: the name of its report directory.
    pub run_id: String,
    /// Harness version.
    pub harness_version: &'static str,
    /// RFC 3339 start.
    pub started_at: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// What the reader should know (each target's notes are in its own report).
    pub notes: Vec<String>,
    /// Each target, in the file's order.
    pub targets: Vec<Standing>,
    /// Every pair of targets, tested on the cases both graded.
    pub pairs: Vec<Pair>,
    /// The target `--fail-if-worse` names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The gates: each target's own, and no target significantly worse than the baseline.
    pub gates: Vec<Gate>,
    /// Whether every gate passed.
    pub passed: bool,
    /// Cases asked of every target.
    pub cases: usize,
    /// Cases whose outcomes differ between targets.
    pub disagreements: usize,
    /// The per-case matrix, disagreements first (at most `matrix::ROWS` rows).
    pub matrix: Vec<Row>,
    /// Each target's own eval (for its reports).
    #[serde(skip)]
    pub runs: Vec<Summary>,
}

/// Asks every case of `suites` of every target at once; `progress` hears each result with the
/// name of its target and the number of cases per target.
pub async fn run(
    config: &CompareConfig,
    suites: Vec<Suite>,
    progress: &(dyn Fn(&str, &CaseResult, u64) + Sync),
) -> Result<Comparison, HarnessError> {
    let started = std::time::Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if let Some(name) = &config.fail_if_worse {
        if !config.targets.iter().any(|t| &t.name == name) {
            let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
            return Err(HarnessError::Usage(format!(
                "--fail-if-worse {name:?} names no target (the targets: {})",
                names.join(", ")
            )));
        }
    }
    // One embedded server for the target that asks for it, stopped when the run ends.
    let embedded = match config.targets.iter().any(|t| t.url.is_none()) {
        true => Some(crate::embedded::start_with(false).await?),
        false => None,
    };
    let configs: Vec<EvalConfig> = config
        .targets
        .iter()
        .map(|t| {
            let mut c = config.base.clone();
            let (url, key) = match (&t.url, &embedded) {
                (Some(url), _) => (url.clone(), t.key.clone()),
                (None, Some(e)) => (
                    format!("{}/v1", e.url),
                    Some(crate::embedded::KEY.to_owned()),
                ),
                (None, None) => (String::new(), None),
            };
            c.target.base_url = url;
            c.target.api_key = key;
            c.target_label = match &t.url {
                Some(url) => url.clone(),
                None => "embedded reference server".to_owned(),
            };
            c.model = t.model.clone().or_else(|| config.base.model.clone());
            c.sampling = t.sampling;
            c.results = config
                .run_dir
                .as_ref()
                .map(|d| d.join(&t.name).join("results.jsonl"));
            c
        })
        .collect();
    let collector = matrix::Collector::new(config.targets.len());
    let runs = configs.iter().enumerate().map(|(i, c)| {
        let target = &config.targets[i];
        let suites: Vec<Suite> = suites
            .iter()
            .map(|s| s.clone().asked_through(target.api))
            .collect();
        let name = target.name.as_str();
        let collector = &collector;
        async move {
            let on_case = |r: &CaseResult, total: u64| {
                collector.add(i, r);
                progress(name, r, total);
            };
            super::run(c, suites, &on_case)
                .await
                .map_err(|e| named(name, e))
        }
    });
    let summaries = futures::future::try_join_all(runs).await?;
    drop(embedded);
    let (rows, disagreements, cases, outcomes, timings) = collector.finish();
    let standings: Vec<Standing> = summaries
        .iter()
        .zip(&config.targets)
        .zip(timings)
        .map(|((s, t), timing)| Standing {
            name: t.name.clone(),
            target: s.target.clone(),
            model: s.model.clone(),
            overall: s.overall.clone(),
            latency_p50_ms: timing.percentile(0.50),
            latency_p95_ms: timing.percentile(0.95),
            input_tokens: timing.input_tokens,
            output_tokens: timing.output_tokens,
            answers_with_usage: timing.with_usage,
            answers: timing.answers(),
            passed: s.passed,
        })
        .collect();
    let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
    let pairs = pairs::all(&names, &outcomes);
    let mut gates = Vec::new();
    for (s, t) in summaries.iter().zip(&config.targets) {
        for g in &s.gates {
            gates.push(Gate {
                name: format!("{}: {}", t.name, g.name),
                ..g.clone()
            });
        }
    }
    if let Some(baseline) = &config.fail_if_worse {
        for p in pairs.iter() {
            let Some((other, worse)) = p.against(baseline) else {
                continue;
            };
            gates.push(Gate {
                name: format!("{other} not significantly worse than {baseline} (McNemar p < 0.05)"),
                threshold: 0.05,
                value: p.p_value,
                passed: !worse,
                within_noise: false,
            });
        }
    }
    let mut notes = Vec::new();
    if config.base.judge.is_none() && suites.iter().any(|s| s.judging > 0) {
        notes.push(
            "`judge` graders asked each target itself: pass --judge-target for one judge for all"
                .into(),
        );
    }
    if config.base.embedding.is_none() && suites.iter().any(|s| s.embedding > 0) {
        notes.push("`similar` graders used each target's own embeddings: pass --embedding-target for one measure for all".into());
    }
    let passed = gates.iter().all(|g| g.passed) && summaries.iter().all(|s| s.passed);
    Ok(Comparison {
        kind: "eval-compare",
        run_id: config.base.run_id.clone(),
        harness_version: env!("CARGO_PKG_VERSION"),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        notes,
        targets: standings,
        pairs,
        baseline: config.fail_if_worse.clone(),
        gates,
        passed,
        cases,
        disagreements,
        matrix: rows,
        runs: summaries,
    })
}

/// Writes the comparison's reports into `<dir>/<run_id>/` (then `<dir>/latest` points there),
/// and each target's own eval reports into `<dir>/<run_id>/<name>/`, beside its results.
pub fn write(
    comparison: &Comparison,
    dir: &std::path::Path,
    formats: &[crate::report::Format],
) -> Result<Vec<PathBuf>, HarnessError> {
    let run_dir = dir.join(&comparison.run_id);
    let mut written = Vec::new();
    for (run, target) in comparison.runs.iter().zip(&comparison.targets) {
        written.extend(crate::report::write_into(
            run,
            &run_dir.join(&target.name),
            formats,
        )?);
    }
    written.extend(crate::report::write(comparison, dir, formats)?);
    Ok(written)
}

/// A target's error, naming the target.
fn named(name: &str, e: HarnessError) -> HarnessError {
    HarnessError::Target {
        name: name.to_owned(),
        source: Box::new(e),
    }
}

impl crate::report::Report for Comparison {
    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn passed(&self) -> bool {
        self.passed
    }

    fn file(&self, format: crate::report::Format) -> (&'static str, String) {
        match format {
            crate::report::Format::Json => (
                "compare.json",
                serde_json::to_string_pretty(self).unwrap_or_default(),
            ),
            crate::report::Format::Junit => ("compare.junit.xml", render::junit(self)),
            crate::report::Format::Md => ("compare.md", render::markdown(self)),
            crate::report::Format::Html => ("compare.html", html::render(self)),
        }
    }

    fn text(&self) -> String {
        render::text(self)
    }
}
