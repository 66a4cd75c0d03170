//! `conformance eval`: JSONL eval suites asked of a target, graded, and gated on accuracy.
//!
//! Suites are read and checked first (`case`); cases are then asked concurrently (`runner`),
//! each result is streamed to `results.jsonl` as it finishes and only counted in memory, and
//! the summary (`summary`) carries accuracies with Wilson intervals and the gates' verdicts.

pub(crate) mod answer;
pub(crate) mod builtin;
pub(crate) mod case;
pub mod compare;
pub(crate) mod embedding;
pub(crate) mod grader;
pub(crate) mod html;
pub(crate) mod junit;
pub(crate) mod markdown;
pub(crate) mod plan;
pub(crate) mod promptfoo;
pub(crate) mod runner;
pub(crate) mod samples;
pub(crate) mod send;
pub(crate) mod shard;
pub(crate) mod stats;
pub(crate) mod stored;
pub(crate) mod summary;
mod text;

pub use crate::segment::Segment as Shard;
pub use builtin::{load as builtin, LABEL as BUILTIN_LABEL};
pub use case::{Api, Format, Reading, Sampling, Suite};
pub use plan::{apply as apply_gates, load as load_gates, GatePlan};
pub use runner::{CaseOutcome, CaseResult};
pub use samples::SamplesGrader;
pub use shard::{merge, MergeOptions};
pub use summary::Summary;

use crate::error::HarnessError;
use crate::target::{Target, TargetConfig};

use futures::StreamExt;
use std::io::Write;
use std::path::{Path, PathBuf};
use summary::EvalTally;

/// What an eval run needs.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The target.
    pub target: TargetConfig,
    /// How the target is named in reports.
    pub target_label: String,
    /// The run's id (`run_id::new`): the name of its report directory.
    pub run_id: String,
    /// Suite files or glob patterns (`cases/evals/*.jsonl`).
    pub cases: Vec<String>,
    /// Ask every case through this API.
    pub api: Option<Api>,
    /// The suites' format [default: told from each file's first line].
    pub format: Option<Format>,
    /// How OpenAI evals samples are graded.
    pub samples_grader: SamplesGrader,
    /// The model of cases that name none [default: discovered].
    pub model: Option<String>,
    /// Sampling settings of cases that set none.
    pub sampling: case::Sampling,
    /// Only cases with one of these tags.
    pub only_tags: Vec<String>,
    /// Cases asked at once.
    pub concurrency: usize,
    /// Most requests per second.
    pub max_rps: Option<f64>,
    /// Retries of a 429 or 5xx.
    pub max_retries: u32,
    /// The overall accuracy gate.
    pub min_accuracy: Option<f64>,
    /// The errored-case gate.
    pub max_error_rate: Option<f64>,
    /// Where each case's result is streamed (`results.jsonl`), if anywhere.
    pub results: Option<PathBuf>,
    /// Grade the answers stored by an earlier run instead of asking the target.
    pub regrade: Option<PathBuf>,
    /// Compare with an earlier run, case by case.
    pub baseline: Option<PathBuf>,
    /// Fail when accuracy dropped significantly against the baseline.
    pub fail_on_regression: bool,
    /// Where `judge` graders ask [default: the target], and the judge model [default: the
    /// model asked].
    pub judge: Option<TargetConfig>,
    /// The judge model.
    pub judge_model: Option<String>,
    /// Where `similar` graders' embeddings are asked [default: the target].
    pub embedding: Option<TargetConfig>,
    /// The embedding model [default: the one the embeddings target lists].
    pub embedding_model: Option<String>,
    /// This shard of a split eval: the cases whose `suite/id` hash falls to it.
    pub shard: Shard,
    /// An interrupted run's directory (or `results.jsonl`): its answered cases are kept, not
    /// asked again.
    pub resume: Option<PathBuf>,
}

impl EvalConfig {
    /// How this run reads its suites.
    pub fn reading(&self) -> Reading {
        Reading {
            api: self.api,
            format: self.format,
            samples_grader: self.samples_grader,
            providers_as_targets: false,
        }
    }

    /// Every case asked of `target`, eight at a time, three retries, no gate, no reports.
    pub fn new(target: TargetConfig) -> Self {
        Self {
            target_label: target.base_url.clone(),
            target,
            run_id: crate::run_id::new(),
            cases: Vec::new(),
            api: None,
            format: None,
            samples_grader: SamplesGrader::default(),
            model: None,
            sampling: case::Sampling::default(),
            only_tags: Vec::new(),
            concurrency: 8,
            max_rps: None,
            max_retries: 3,
            min_accuracy: None,
            max_error_rate: None,
            results: None,
            regrade: None,
            baseline: None,
            fail_on_regression: false,
            judge: None,
            judge_model: None,
            embedding: None,
            embedding_model: None,
            shard: Shard::WHOLE,
            resume: None,
        }
    }
}

/// A results file to stream case results into (its directory made).
pub(crate) fn results_writer(
    path: &Path,
) -> Result<std::io::BufWriter<std::fs::File>, HarnessError> {
    let io = |source| HarnessError::Io {
        context: format!("cannot write {}", path.display()),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    Ok(std::io::BufWriter::new(
        std::fs::File::create(path).map_err(io)?,
    ))
}

/// One result as a line of `results.jsonl`.
pub(crate) fn write_result(out: &mut impl Write, result: &CaseResult) -> Result<(), HarnessError> {
    let line = serde_json::to_string(result).unwrap_or_default();
    writeln!(out, "{line}").map_err(|source| HarnessError::Io {
        context: "cannot write results.jsonl".into(),
        source,
    })
}

/// Flushes a results file.
pub(crate) fn flush_results(out: &mut impl Write) -> Result<(), HarnessError> {
    out.flush().map_err(|source| HarnessError::Io {
        context: "cannot write results.jsonl".into(),
        source,
    })
}

/// The answered cases of an interrupted run at `path` (its run directory, its results.jsonl,
/// or the report directory it ran in: its newest run with results), by `suite/id`: every
/// whole line of its results (the last may have been cut off by the interruption).
fn resumed(path: &Path) -> Result<std::collections::HashMap<String, CaseResult>, HarnessError> {
    let file = if path.is_dir() && !path.join("results.jsonl").is_file() {
        crate::report::latest::newest(path, "results.jsonl")
            .ok_or_else(|| {
                HarnessError::Usage(format!(
                    "--resume {}: no run with a results.jsonl in it",
                    path.display()
                ))
            })?
            .join("results.jsonl")
    } else {
        stored::results_file(path)
    };
    let text = std::fs::read_to_string(&file).map_err(|e| {
        HarnessError::Usage(format!("--resume: cannot read {}: {e}", file.display()))
    })?;
    let mut kept = std::collections::HashMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<CaseResult>(line) {
            Ok(result) => {
                kept.insert(stored::key(&result.suite, &result.id), result);
            }
            // Only the last line can be a write the interruption cut short.
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(HarnessError::Usage(format!(
                    "--resume: {}:{}:{}: not a stored case result: {e}",
                    file.display(),
                    i + 1,
                    e.column()
                )))
            }
        }
    }
    Ok(kept)
}

/// Reads and checks every suite the patterns name, as `reading` says; all errors at once,
/// located.
pub fn load(patterns: &[String], reading: &Reading) -> Result<Vec<Suite>, HarnessError> {
    let files = expand(patterns)?;
    let mut suites = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        let promptfoo = match reading.format {
            Some(format) => format == Format::Promptfoo,
            None => promptfoo::looks_like(&file),
        };
        let loaded = if promptfoo {
            promptfoo::load(&file, reading)
        } else {
            case::load(&file, reading)
        };
        match loaded {
            Ok(suite) => suites.push(suite),
            Err(e) => errors.extend(e),
        }
    }
    let mut names = std::collections::HashMap::new();
    for suite in &suites {
        if let Some(other) = names.insert(suite.name.clone(), suite.file.clone()) {
            errors.push(case::SuiteError {
                file: suite.file.clone(),
                line: 1,
                column: 1,
                message: format!("suite name {:?} is also used by {other}", suite.name),
            });
        }
    }
    if errors.is_empty() {
        Ok(suites)
    } else {
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Err(HarnessError::Usage(format!(
            "{}\n{} error(s) in the eval suites; nothing was sent",
            shown.join("\n"),
            errors.len()
        )))
    }
}

/// The files named by `patterns`: plain paths as given, globs (`*`, `?`, `[`, `**`) matched
/// below their literal directory. A pattern that names nothing is an error.
fn expand(patterns: &[String]) -> Result<Vec<PathBuf>, HarnessError> {
    let mut files = Vec::new();
    for pattern in patterns {
        if !pattern.contains(['*', '?', '[']) {
            files.push(PathBuf::from(pattern));
            continue;
        }
        let glob = globset::Glob::new(pattern)
            .map_err(|e| HarnessError::Usage(format!("--cases {pattern:?}: {e}")))?
            .compile_matcher();
        let base: PathBuf = Path::new(pattern)
            .components()
            .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
            .collect();
        let mut found = Vec::new();
        walk(
            if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &base
            },
            &mut |p| {
                let shown = p.strip_prefix("./").unwrap_or(p);
                if glob.is_match(shown) {
                    found.push(shown.to_path_buf());
                }
            },
            8,
        );
        if found.is_empty() {
            return Err(HarnessError::Usage(format!(
                "--cases {pattern:?} names no file"
            )));
        }
        found.sort();
        files.extend(found);
    }
    files.dedup();
    Ok(files)
}

fn walk(dir: &Path, found: &mut dyn FnMut(&Path), depth: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => walk(&path, found, depth - 1),
            Ok(t) if t.is_file() => found(&path),
            _ => {}
        }
    }
}

/// Asks every selected case, streams the results and returns the summary.
pub async fn run(
    config: &EvalConfig,
    suites: Vec<Suite>,
    progress: &(dyn Fn(&runner::CaseResult, u64) + Sync),
) -> Result<Summary, HarnessError> {
    let started = std::time::Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let selected = |c: &case::Case| {
        config.only_tags.is_empty() || c.tags.iter().any(|t| config.only_tags.contains(t))
    };
    // Suites were checked whole when loaded; their cases are read again one at a time here,
    // so memory does not grow with the suite. A read error means a file changed meanwhile.
    let changed: std::sync::Mutex<Option<case::SuiteError>> = std::sync::Mutex::new(None);
    let cases = || {
        suites
            .iter()
            .flat_map(|s| s.cases())
            .filter_map(|read| match read {
                Ok(case) => Some(case),
                Err(e) => {
                    let mut slot = changed.lock().unwrap_or_else(|p| p.into_inner());
                    slot.get_or_insert(e);
                    None
                }
            })
            .filter(|c| selected(c))
            .filter(|c| config.shard.owns_key(&stored::key(&c.suite, &c.id)))
    };
    let total = if config.only_tags.is_empty() && config.shard.is_whole() {
        suites.iter().map(|s| s.len).sum::<usize>()
    } else {
        cases().count()
    };
    if total == 0 && config.shard.is_whole() {
        return Err(HarnessError::Usage(format!(
            "--only-tags {:?} selects no case",
            config.only_tags
        )));
    }
    let unnamed_model = suites.iter().any(|s| s.without_model > 0);
    // A baseline that cannot be read is a usage error found before anything is asked.
    let baseline = match &config.baseline {
        Some(path) => Some((
            stored::results_file(path).display().to_string(),
            stored::outcomes(path)?,
        )),
        None => None,
    };
    // The target is asked first (the preflight: models, credentials, root), before any file
    // is written: a refused run leaves no empty results behind.
    // `Err` holds the stored answers to re-grade instead.
    let asking = match &config.regrade {
        Some(old) => Err(old),
        None => {
            let target = Target::new(&config.target)?;
            let (target, discovery, notes) = crate::target::discovery::discover(target).await?;
            let model = match config.model.clone().or(discovery.chat) {
                Some(m) => m,
                None if !unnamed_model => String::new(),
                None => {
                    return Err(HarnessError::Usage(format!(
                        "no model to ask: pass --model (model discovery: {})",
                        discovery
                            .problem
                            .unwrap_or_else(|| "no chat model listed".into())
                    )))
                }
            };
            let judge = match &config.judge {
                Some(judge) => Some((
                    Target::new(judge)?,
                    config.judge_model.clone().unwrap_or_else(|| model.clone()),
                )),
                None => config.judge_model.clone().map(|m| (target.clone(), m)),
            };
            let embedder = if suites.iter().any(|s| s.embedding > 0) {
                let needs_model = suites.iter().any(|s| s.embedding_default > 0);
                Some(embedder(config, &target, discovery.embedding, needs_model).await?)
            } else {
                None
            };
            Ok((target, model, judge, embedder, notes))
        }
    };
    let mut kept = match &config.resume {
        Some(path) => resumed(path)?,
        None => std::collections::HashMap::new(),
    };
    let mut sink = match &config.results {
        Some(path) => Some(results_writer(path)?),
        None => None,
    };
    let mut tally = EvalTally::new(&suites, baseline.is_some());
    let total = total as u64;
    let mut record = |result: runner::CaseResult| -> Result<(), HarnessError> {
        progress(&result, total);
        tally.add(&result);
        tally.keep_testcase(&result.suite, &junit::testcase(&result));
        if let Some(out) = sink.as_mut() {
            write_result(out, &result)?;
        }
        Ok(())
    };
    let (model, mut notes) = match asking {
        Err(old) => {
            let all: Vec<case::Case> = cases().collect();
            let notes = regrade(old, &all, &mut record)?;
            (String::new(), notes)
        }
        Ok((target, model, judge, embedder, notes)) => {
            let asker = runner::Asker {
                target,
                model: model.clone(),
                max_retries: config.max_retries,
                pacer: config.max_rps.map(send::Pacer::new),
                judge,
                embedder,
                sampling: config.sampling,
            };
            let asker = &asker;
            // Cases an interrupted run answered are kept as they were, not asked again.
            let mut to_ask = Vec::new();
            let mut resumed_count = 0usize;
            for case in cases() {
                match kept.remove(&stored::key(&case.suite, &case.id)) {
                    Some(result) => {
                        resumed_count += 1;
                        record(result)?;
                    }
                    None => to_ask.push(case),
                }
            }
            let mut results = futures::stream::iter(to_ask)
                .map(|c| async move { asker.ask(&c).await })
                .buffer_unordered(config.concurrency.max(1));
            while let Some(result) = results.next().await {
                record(result)?;
            }
            let mut notes = notes;
            if let Some(embedder) = &asker.embedder {
                notes.push(embedder.note());
            }
            if let Some(path) = &config.resume {
                notes.push(format!(
                    "resumed {}: {resumed_count} case(s) kept from it, not asked again",
                    path.display()
                ));
            }
            (model, notes)
        }
    };
    if let Some(e) = changed.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(HarnessError::Usage(format!(
            "{e} (the suite changed while it was run)"
        )));
    }
    if let Some(mut out) = sink {
        flush_results(&mut out)?;
    }
    let comparison =
        baseline.map(|(file, before)| stored::compare(&file, &before, tally.outcomes()));
    if let Some(old) = &config.regrade {
        notes.push(format!(
            "answers re-graded from {}, nothing was asked",
            stored::results_file(old).display()
        ));
    }
    let summary = tally.finish(summary::Context {
        run_id: config.run_id.clone(),
        target: if config.regrade.is_some() {
            "stored answers".to_owned()
        } else {
            config.target_label.clone()
        },
        comparison,
        fail_on_regression: config.fail_on_regression,
        model,
        started_at,
        duration: started.elapsed(),
        notes,
        min_accuracy: config.min_accuracy,
        max_error_rate: config.max_error_rate,
        suites: &suites,
    });
    // What `eval merge` checks a shard by, beside its results.
    if let Some(dir) = config.results.as_deref().and_then(Path::parent) {
        shard::Manifest::of_run(config.shard, config, &suites, &summary).write(dir)?;
    }
    Ok(summary)
}

/// Where the `similar` graders' embeddings are asked: `--embedding-target` or the target,
/// with `--embedding-model` or the embedding model that target lists (`listed`, for the
/// target). No model, when some `similar` grader names none (`needs_model`), is a usage error
/// found before any case is asked.
async fn embedder(
    config: &EvalConfig,
    target: &Target,
    listed: Option<String>,
    needs_model: bool,
) -> Result<embedding::Embedder, HarnessError> {
    let (target, listed) = match &config.embedding {
        Some(other) => {
            let other = Target::new(other)?;
            match &config.embedding_model {
                Some(_) => (other, None),
                None => {
                    let url = other.url("");
                    let (other, found, _) = crate::target::discovery::discover(other)
                        .await
                        .map_err(|e| {
                            HarnessError::Usage(format!(
                                "--embedding-target {url}: {e} (or name the model: --embedding-model)"
                            ))
                        })?;
                    (other, found.embedding)
                }
            }
        }
        None => (target.clone(), listed),
    };
    let model = config.embedding_model.clone().or(listed);
    let model = match (model, needs_model) {
        (Some(model), _) => Ok(model),
        // Every grader names its own model: the run's is never asked.
        (None, false) => Ok(String::new()),
        (None, true) => Err(HarnessError::Usage(format!(
            "`similar` graders need embeddings, and {} lists no embedding model: pass --embedding-model (or --embedding-target)",
            target.url("/v1/models")
        ))),
    }?;
    Ok(embedding::Embedder::new(target, model))
}

/// Re-grades the stored results at `old` for the selected cases; returns notes on what did
/// not match.
fn regrade(
    old: &Path,
    cases: &[case::Case],
    record: &mut dyn FnMut(runner::CaseResult) -> Result<(), HarnessError>,
) -> Result<Vec<String>, HarnessError> {
    let by_key: std::collections::HashMap<String, &case::Case> = cases
        .iter()
        .map(|c| (stored::key(&c.suite, &c.id), c))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut unknown = 0usize;
    let mut failed: Result<(), HarnessError> = Ok(());
    stored::read(old, |result: runner::CaseResult| {
        if failed.is_err() {
            return;
        }
        let key = stored::key(&result.suite, &result.id);
        match by_key.get(&key) {
            Some(case) if seen.insert(key) => failed = record(stored::regrade(case, result)),
            _ => unknown += 1,
        }
    })?;
    failed?;
    let mut notes = Vec::new();
    if unknown > 0 {
        notes.push(format!(
            "{unknown} stored result(s) match no selected case and were left out"
        ));
    }
    let missing = cases.len() - seen.len();
    if missing > 0 {
        notes.push(format!(
            "{missing} selected case(s) have no stored answer and were not graded"
        ));
    }
    if seen.is_empty() {
        return Err(HarnessError::Usage(format!(
            "{} holds no answer for the selected cases",
            stored::results_file(old).display()
        )));
    }
    Ok(notes)
}

impl crate::report::Report for summary::Summary {
    fn run_id(&self) -> &str {
        &self.run_id
    }

    fn passed(&self) -> bool {
        self.passed
    }

    fn file(&self, format: crate::report::Format) -> (&'static str, String) {
        match format {
            crate::report::Format::Json => (
                "eval.json",
                serde_json::to_string_pretty(self).unwrap_or_default(),
            ),
            crate::report::Format::Junit => ("eval.junit.xml", junit::render(self)),
            crate::report::Format::Md => ("eval.md", markdown::render(self)),
            crate::report::Format::Html => ("eval.html", html::render(self)),
        }
    }

    fn text(&self) -> String {
        text::render(self)
    }
}
