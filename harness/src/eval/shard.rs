//! A split eval (`--shard I/N`): the manifest each shard leaves beside its `results.jsonl`
//! (`eval.shard.json`: which shard, which suites by hash, target, model, version), and
//! `eval merge`, which checks that the shards answered every case exactly once and gives the
//! summary, gates and statistics of one run.

use super::case::{Api, Format, Reading, Suite};
use super::runner::CaseResult;
use super::samples::SamplesGrader;
use super::summary::{Context, EvalTally, Summary};
use super::{junit, stored};
use crate::error::HarnessError;
use crate::segment::Segment;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The manifest's name, beside `results.jsonl`.
pub(crate) const MANIFEST: &str = "eval.shard.json";
/// Its version; a merge refuses any other.
const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SuiteSpec {
    name: String,
    file: String,
    sha256: String,
    cases: usize,
}

/// What a shard ran, and what must be the same in every shard of one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    format: u32,
    /// `I/N`.
    shard: String,
    /// The harness version (its graders).
    harness_version: String,
    target: String,
    model: String,
    api: Option<Api>,
    /// How the suites were read (absent in manifests of older versions: told by content, and
    /// samples graded by `Match`).
    #[serde(default)]
    suite_format: Option<Format>,
    #[serde(default)]
    samples_grader: SamplesGrader,
    only_tags: Vec<String>,
    suites: Vec<SuiteSpec>,
    started_at: String,
    duration_ms: u64,
    notes: Vec<String>,
    /// Cases this shard answered.
    cases: u64,
}

impl Manifest {
    /// The manifest of a finished run of `suites`.
    pub(crate) fn of_run(
        shard: Segment,
        config: &super::EvalConfig,
        suites: &[Suite],
        summary: &Summary,
    ) -> Self {
        Self {
            format: FORMAT,
            shard: shard.to_string(),
            harness_version: env!("CARGO_PKG_VERSION").to_owned(),
            target: summary.target.clone(),
            model: summary.model.clone(),
            api: config.api,
            suite_format: config.format,
            samples_grader: config.samples_grader,
            only_tags: config.only_tags.clone(),
            suites: suites
                .iter()
                .map(|s| SuiteSpec {
                    name: s.name.clone(),
                    file: s.file.clone(),
                    sha256: s.digest(),
                    cases: s.len,
                })
                .collect(),
            started_at: summary.started_at.clone(),
            duration_ms: summary.duration_ms,
            notes: summary.notes.clone(),
            cases: summary.overall.counts.cases as u64,
        }
    }

    /// Writes it into `dir`.
    pub(crate) fn write(&self, dir: &Path) -> Result<(), HarnessError> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        std::fs::write(&path, text).map_err(|source| HarnessError::Io {
            context: format!("cannot write {}", path.display()),
            source,
        })
    }

    /// Which part differs from `other`, if any.
    fn differs(&self, other: &Manifest) -> Option<&'static str> {
        if self.suites != other.suites {
            Some("suites (names, files or contents)")
        } else if self.target != other.target {
            Some("targets")
        } else if self.model != other.model {
            Some("models")
        } else if self.api != other.api || self.only_tags != other.only_tags {
            Some("case selections (--api, --only-tags)")
        } else if self.harness_version != other.harness_version {
            Some("harness versions (their graders)")
        } else {
            None
        }
    }
}

/// What `eval merge` is told besides the shards.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// The merged run's id.
    pub run_id: String,
    /// The suites, when not where the shards read them (the same files, by hash).
    pub cases: Vec<String>,
    /// The overall accuracy gate.
    pub min_accuracy: Option<f64>,
    /// The errored-case gate.
    pub max_error_rate: Option<f64>,
    /// Compare with an earlier run, case by case.
    pub baseline: Option<PathBuf>,
    /// Fail when accuracy dropped significantly against the baseline.
    pub fail_on_regression: bool,
    /// Where the merged `results.jsonl` goes, if anywhere.
    pub results: Option<PathBuf>,
}

/// The run directory `dir` names: itself when it holds a manifest, else its newest run that
/// does.
fn run_dir(dir: &Path) -> Result<PathBuf, HarnessError> {
    if dir.join(MANIFEST).is_file() {
        return Ok(dir.to_owned());
    }
    crate::report::latest::newest(dir, MANIFEST).ok_or_else(|| {
        HarnessError::Usage(format!(
            "{}: no {MANIFEST} here or in a run under it: a shard writes it when it finishes (an interrupted one can go on with --resume)",
            dir.display()
        ))
    })
}

/// Joins the shards in `dirs` into the summary of one run.
pub fn merge(dirs: &[PathBuf], options: &MergeOptions) -> Result<Summary, HarnessError> {
    let mut shards: Vec<(PathBuf, Manifest, Segment)> = Vec::new();
    for dir in dirs {
        let dir = run_dir(dir)?;
        let path = dir.join(MANIFEST);
        let text = std::fs::read(&path).map_err(|source| HarnessError::Io {
            context: format!("cannot read {}", path.display()),
            source,
        })?;
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| {
            HarnessError::Usage(format!(
                "{}: not an eval shard manifest: {e}",
                path.display()
            ))
        })?;
        if manifest.format != FORMAT {
            return Err(HarnessError::Usage(format!(
                "{}: format {}, this build reads format {FORMAT}",
                path.display(),
                manifest.format
            )));
        }
        let shard = Segment::parse(&manifest.shard)
            .map_err(|e| HarnessError::Usage(format!("{}: {e}", path.display())))?;
        shards.push((dir, manifest, shard));
    }
    let Some((first_dir, first, first_shard)) = shards.first() else {
        return Err(HarnessError::Usage(
            "eval merge: no run directories given".into(),
        ));
    };
    for (dir, manifest, _) in &shards {
        if let Some(what) = first.differs(manifest) {
            return Err(HarnessError::Usage(format!(
                "{} and {} are not shards of one run: their {what} differ",
                first_dir.display(),
                dir.display()
            )));
        }
    }
    let parts: Vec<(Segment, &Path)> = shards.iter().map(|(d, _, s)| (*s, d.as_path())).collect();
    crate::segment::check_complete(&parts, "shard", "eval").map_err(HarnessError::Usage)?;
    let count = first_shard.count();
    let suites = suites_of(first, &options.cases)?;
    // Every case the shards should have answered between them, by key.
    let mut expected: HashSet<String> = HashSet::new();
    for suite in &suites {
        for case in suite.cases() {
            let case = case.map_err(|e| HarnessError::Usage(e.to_string()))?;
            let selected =
                first.only_tags.is_empty() || case.tags.iter().any(|t| first.only_tags.contains(t));
            if selected {
                expected.insert(stored::key(&case.suite, &case.id));
            }
        }
    }
    let baseline = match &options.baseline {
        Some(path) => Some((
            stored::results_file(path).display().to_string(),
            stored::outcomes(path)?,
        )),
        None => None,
    };
    let mut sink = match &options.results {
        Some(path) => Some(super::results_writer(path)?),
        None => None,
    };
    let mut tally = EvalTally::new(&suites, baseline.is_some());
    let mut answered: HashMap<String, PathBuf> = HashMap::new();
    let mut problem: Option<HarnessError> = None;
    for (dir, _, shard) in &shards {
        stored::read(&dir.join("results.jsonl"), |result: CaseResult| {
            if problem.is_some() {
                return;
            }
            let key = stored::key(&result.suite, &result.id);
            if !expected.contains(&key) {
                problem = Some(HarnessError::Usage(format!(
                    "{}: case {key} is in none of the suites (or not selected)",
                    dir.display()
                )));
            } else if !shard.owns_key(&key) {
                problem = Some(HarnessError::Usage(format!(
                    "{}: case {key} is not shard {shard}'s",
                    dir.display()
                )));
            } else if let Some(other) = answered.insert(key.clone(), dir.clone()) {
                problem = Some(HarnessError::Usage(format!(
                    "case {key} is answered twice: in {} and {}",
                    other.display(),
                    dir.display()
                )));
            } else {
                tally.add(&result);
                tally.keep_testcase(&result.suite, &junit::testcase(&result));
                if let Some(out) = sink.as_mut() {
                    if let Err(e) = super::write_result(out, &result) {
                        problem = Some(e);
                    }
                }
            }
        })?;
        if let Some(e) = problem.take() {
            return Err(e);
        }
    }
    if let Some(mut out) = sink {
        super::flush_results(&mut out)?;
    }
    let mut unanswered: Vec<&String> = expected
        .iter()
        .filter(|k| !answered.contains_key(*k))
        .collect();
    if !unanswered.is_empty() {
        unanswered.sort();
        let shown: Vec<&str> = unanswered.iter().take(5).map(|k| k.as_str()).collect();
        return Err(HarnessError::Usage(format!(
            "{} case(s) were answered by no shard (e.g. {}): was a shard interrupted? finish it with --resume",
            unanswered.len(),
            shown.join(", ")
        )));
    }
    let comparison =
        baseline.map(|(file, before)| stored::compare(&file, &before, tally.outcomes()));
    let mut notes = vec![format!(
        "merged from {count} shards: every case answered exactly once"
    )];
    for (_, manifest, _) in &shards {
        for note in &manifest.notes {
            if !notes.contains(note) {
                notes.push(note.clone());
            }
        }
    }
    let duration = shards
        .iter()
        .map(|(_, m, _)| m.duration_ms)
        .max()
        .unwrap_or(0);
    let started_at = shards
        .iter()
        .map(|(_, m, _)| m.started_at.clone())
        .min()
        .unwrap_or_default();
    Ok(tally.finish(Context {
        run_id: options.run_id.clone(),
        target: first.target.clone(),
        model: first.model.clone(),
        started_at,
        duration: Duration::from_millis(duration),
        notes,
        min_accuracy: options.min_accuracy,
        max_error_rate: options.max_error_rate,
        suites: &suites,
        comparison,
        fail_on_regression: options.fail_on_regression,
    }))
}

/// The suites the shards ran: from `cases` when given, else where the shards read them (or
/// built in); either way they must be the same by hash.
fn suites_of(manifest: &Manifest, cases: &[String]) -> Result<Vec<Suite>, HarnessError> {
    let reading = Reading {
        api: manifest.api,
        format: manifest.suite_format,
        samples_grader: manifest.samples_grader,
        providers_as_targets: false,
    };
    let suites = if !cases.is_empty() {
        super::load(cases, &reading)?
    } else if manifest
        .suites
        .iter()
        .all(|s| s.file.starts_with("built-in:"))
    {
        super::builtin(manifest.api)?
    } else {
        let files: Vec<String> = manifest.suites.iter().map(|s| s.file.clone()).collect();
        super::load(&files, &reading).map_err(|e| {
            HarnessError::Usage(format!(
                "{e}\n(the suites the shards ran cannot be read here: run the merge in the same checkout, or name them with --cases)"
            ))
        })?
    };
    for spec in &manifest.suites {
        let same = suites
            .iter()
            .find(|s| s.name == spec.name)
            .is_some_and(|s| s.digest() == spec.sha256);
        if !same {
            return Err(HarnessError::Usage(format!(
                "suite {:?} ({}) is not the one the shards ran: its contents changed since",
                spec.name, spec.file
            )));
        }
    }
    if suites.len() != manifest.suites.len() {
        return Err(HarnessError::Usage(format!(
            "{} suites given, the shards ran {}",
            suites.len(),
            manifest.suites.len()
        )));
    }
    Ok(suites)
}
