//! Counting results as they stream in, and the summary a run ends with: accuracy per suite,
//! per tag and overall (weighted), each with its Wilson interval, and the gates' verdicts.

use super::case::Suite;
use super::runner::{CaseOutcome, CaseResult};
use super::stats::{wilson, Interval};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Failures kept for the human reports (the rest are in `results.jsonl`).
const KEPT_FAILURES: usize = 20;

/// Counts of one group of cases.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseCounts {
    /// Cases.
    pub cases: usize,
    /// Passed cases.
    pub passed: usize,
    /// Failed cases (answered wrong).
    pub failed: usize,
    /// Errored cases (no answer to grade).
    pub errored: usize,
    /// Ungraded cases (answered, with no grader and no ideal): in no accuracy.
    pub ungraded: usize,
    /// Sum of the weights of graded cases (passed, failed, errored).
    pub weight: f64,
    /// Sum of the weights of passed cases.
    pub passed_weight: f64,
    /// Retries of 429s and 5xx.
    pub retries: u64,
    /// Cases asked more than once (`repeat` > 1).
    pub repeated: usize,
    /// Repeated cases where at least one ask passed (pass@k, k = the case's `repeat`).
    pub pass_at_k: usize,
    /// Repeated cases where every ask passed (pass^k).
    pub pass_all_k: usize,
}

impl CaseCounts {
    fn add(&mut self, r: &CaseResult) {
        self.cases += 1;
        if r.outcome != CaseOutcome::Ungraded {
            self.weight += r.weight;
        }
        self.retries += u64::from(r.retries);
        if r.repeat > 1 {
            self.repeated += 1;
            self.pass_at_k += usize::from(r.passes > 0);
            self.pass_all_k += usize::from(r.passes == r.repeat);
        }
        match r.outcome {
            CaseOutcome::Passed => {
                self.passed += 1;
                self.passed_weight += r.weight;
            }
            CaseOutcome::Failed => self.failed += 1,
            CaseOutcome::Errored => self.errored += 1,
            CaseOutcome::Ungraded => self.ungraded += 1,
        }
    }

    /// Graded cases: those an accuracy is over.
    pub fn graded(&self) -> usize {
        self.cases - self.ungraded
    }

    /// Weighted accuracy of the graded cases; errored cases count as not passed. None when no
    /// case was graded.
    pub fn accuracy(&self) -> Option<f64> {
        (self.weight > 0.0).then(|| self.passed_weight / self.weight)
    }

    /// Share of errored cases.
    pub fn error_rate(&self) -> Option<f64> {
        (self.cases > 0).then(|| self.errored as f64 / self.cases as f64)
    }
}

/// A group's counts with its accuracy and interval.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    /// The group (suite or tag name; "overall").
    pub name: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: CaseCounts,
    /// Weighted accuracy.
    pub accuracy: Option<f64>,
    /// Wilson 95% interval of the accuracy (over the number of graded cases).
    pub interval: Option<Interval>,
    /// The group's own gate, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_accuracy: Option<f64>,
}

impl Score {
    fn of(name: &str, counts: CaseCounts, min_accuracy: Option<f64>) -> Self {
        let accuracy = counts.accuracy();
        let interval = accuracy.and_then(|a| wilson(a, counts.graded()));
        Self {
            name: name.to_owned(),
            counts,
            accuracy,
            interval,
            min_accuracy,
        }
    }
}

/// A gate and how the run fared.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    /// What is gated (`overall accuracy`, `suite math accuracy`, `error rate`).
    pub name: String,
    /// The threshold.
    pub threshold: f64,
    /// The measured value.
    pub value: f64,
    /// Whether the run passes it.
    pub passed: bool,
    /// The threshold lies inside the value's 95% interval: the verdict is within noise.
    pub within_noise: bool,
}

/// A failed or errored case, for the human reports.
#[derive(Debug, Clone, Serialize)]
pub struct CaseFailure {
    /// `suite/id`.
    pub case: String,
    /// `file:line`.
    pub origin: String,
    /// Failed or errored.
    pub outcome: CaseOutcome,
    /// The ideal of the first failing turn.
    pub expected: Option<Value>,
    /// What came back (answer text, or the error).
    pub got: String,
    /// The grader's reason.
    pub reason: String,
}

/// Counts per group while results stream in.
#[derive(Debug)]
pub struct EvalTally {
    overall: CaseCounts,
    suites: BTreeMap<String, CaseCounts>,
    tags: BTreeMap<String, CaseCounts>,
    failures: Vec<CaseFailure>,
    /// Whether each case passed (none: ungraded), by `suite/id`, kept only for a baseline
    /// comparison.
    outcomes: Option<Vec<(String, Option<bool>)>>,
    /// Each suite's JUnit testcases, rendered as the results came.
    testcases: BTreeMap<String, String>,
}

/// What the summary records besides the counts.
pub struct Context<'a> {
    /// The run's id.
    pub run_id: String,
    /// The target's label.
    pub target: String,
    /// The default model.
    pub model: String,
    /// RFC 3339 start.
    pub started_at: String,
    /// Wall time.
    pub duration: Duration,
    /// Notes from discovery.
    pub notes: Vec<String>,
    /// The overall gate.
    pub min_accuracy: Option<f64>,
    /// The error gate.
    pub max_error_rate: Option<f64>,
    /// The suites (for their own gates).
    pub suites: &'a [Suite],
    /// The comparison with a baseline, if one was given.
    pub comparison: Option<super::stored::CaseComparison>,
    /// Whether a significant drop against the baseline fails the run.
    pub fail_on_regression: bool,
}

/// The end of an eval run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// `"eval"`.
    pub kind: &'static str,
    /// The run's id: the name of its report directory.
    pub run_id: String,
    /// Harness version.
    pub harness_version: &'static str,
    /// The target.
    pub target: String,
    /// The default model.
    pub model: String,
    /// RFC 3339 start.
    pub started_at: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// Notes from discovery.
    pub notes: Vec<String>,
    /// Every case together.
    pub overall: Score,
    /// Per suite.
    pub suites: Vec<Score>,
    /// Per tag.
    pub tags: Vec<Score>,
    /// The gates.
    pub gates: Vec<Gate>,
    /// Whether every gate passed.
    pub passed: bool,
    /// The first failures.
    pub failures: Vec<CaseFailure>,
    /// This run beside a baseline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<super::stored::CaseComparison>,
    /// Each suite's JUnit testcases (for `eval.junit.xml`).
    #[serde(skip)]
    pub(crate) testcases: BTreeMap<String, String>,
}

impl EvalTally {
    /// Empty counts for these suites; `compare`: keep each case's outcome for a baseline.
    pub fn new(suites: &[Suite], compare: bool) -> Self {
        Self {
            overall: CaseCounts::default(),
            suites: suites
                .iter()
                .map(|s| (s.name.clone(), CaseCounts::default()))
                .collect(),
            tags: BTreeMap::new(),
            failures: Vec::new(),
            outcomes: compare.then(Vec::new),
            testcases: BTreeMap::new(),
        }
    }

    /// Whether each case counted so far passed (none: ungraded), by `suite/id` (empty unless
    /// kept).
    pub fn outcomes(&self) -> &[(String, Option<bool>)] {
        self.outcomes.as_deref().unwrap_or_default()
    }

    /// Counts one result.
    pub fn add(&mut self, r: &CaseResult) {
        self.overall.add(r);
        self.suites.entry(r.suite.clone()).or_default().add(r);
        for tag in &r.tags {
            self.tags.entry(tag.clone()).or_default().add(r);
        }
        if let Some(outcomes) = self.outcomes.as_mut() {
            outcomes.push((super::stored::key(&r.suite, &r.id), r.outcome.passed()));
        }
        if matches!(r.outcome, CaseOutcome::Failed | CaseOutcome::Errored)
            && self.failures.len() < KEPT_FAILURES
        {
            self.failures.push(failure(r));
        }
    }

    /// Keeps a case's JUnit testcase (rendered by the caller) for the summary.
    pub fn keep_testcase(&mut self, suite: &str, xml: &str) {
        match self.testcases.get_mut(suite) {
            Some(kept) => kept.push_str(xml),
            None => {
                self.testcases.insert(suite.to_owned(), xml.to_owned());
            }
        }
    }

    /// The summary, with the gates decided.
    pub fn finish(self, ctx: Context<'_>) -> Summary {
        let overall = Score::of("overall", self.overall, ctx.min_accuracy);
        let gate_of = |name: String, score: &Score, threshold: f64| {
            let value = score.accuracy.unwrap_or(0.0);
            Gate {
                name,
                threshold,
                value,
                passed: value >= threshold,
                within_noise: score.interval.is_some_and(|i| i.contains(threshold)),
            }
        };
        let suite_gates: BTreeMap<&str, f64> = ctx
            .suites
            .iter()
            .filter_map(|s| s.min_accuracy.map(|g| (s.name.as_str(), g)))
            .collect();
        let suites: Vec<Score> = self
            .suites
            .into_iter()
            .filter(|(_, c)| c.cases > 0)
            .map(|(name, c)| {
                let gate = suite_gates.get(name.as_str()).copied();
                Score::of(&name, c, gate)
            })
            .collect();
        let tags: Vec<Score> = self
            .tags
            .into_iter()
            .map(|(name, c)| Score::of(&name, c, None))
            .collect();
        let mut gates = Vec::new();
        if let Some(threshold) = ctx.min_accuracy {
            gates.push(gate_of("overall accuracy".into(), &overall, threshold));
        }
        for s in &suites {
            if let Some(threshold) = s.min_accuracy {
                gates.push(gate_of(format!("suite {} accuracy", s.name), s, threshold));
            }
        }
        if let Some(threshold) = ctx.max_error_rate {
            let value = overall.counts.error_rate().unwrap_or(0.0);
            gates.push(Gate {
                name: "error rate".into(),
                threshold,
                value,
                passed: value <= threshold,
                within_noise: false,
            });
        }
        if let (true, Some(c)) = (ctx.fail_on_regression, &ctx.comparison) {
            gates.push(Gate {
                name: "no significant regression (McNemar p < 0.05)".into(),
                threshold: 0.05,
                value: c.p_value,
                passed: !c.regression,
                within_noise: false,
            });
        }
        let passed = gates.iter().all(|g| g.passed);
        Summary {
            kind: "eval",
            run_id: ctx.run_id,
            harness_version: env!("CARGO_PKG_VERSION"),
            target: ctx.target,
            model: ctx.model,
            started_at: ctx.started_at,
            duration_ms: ctx.duration.as_millis() as u64,
            notes: ctx.notes,
            overall,
            suites,
            tags,
            gates,
            passed,
            failures: self.failures,
            baseline: ctx.comparison,
            testcases: self.testcases,
        }
    }
}

fn failure(r: &CaseResult) -> CaseFailure {
    let attempt = r.attempts.iter().find(|a| !a.passed);
    let turn = attempt.and_then(|a| {
        a.turns
            .iter()
            .enumerate()
            .find(|(_, t)| t.error.is_some() || t.verdict.as_ref().is_some_and(|v| !v.passed))
    });
    let (expected, got, reason) = match turn {
        Some((i, t)) => (
            r.ideals.get(i).cloned().flatten(),
            match (&t.answer, &t.error) {
                (Some(a), _) if a.tool_calls.is_empty() => a.text.clone(),
                (Some(a), _) => format!("{} {:?}", a.text, a.tool_calls),
                (None, Some(e)) => e.clone(),
                (None, None) => String::new(),
            },
            t.verdict
                .as_ref()
                .map(|v| v.reason.clone())
                .or_else(|| t.error.clone())
                .unwrap_or_default(),
        ),
        None => (
            None,
            String::new(),
            format!(
                "{} of {} asks passed, {} needed",
                r.passes, r.repeat, r.min_passes
            ),
        ),
    };
    CaseFailure {
        case: format!("{}/{}", r.suite, r.id),
        origin: r.origin.clone(),
        outcome: r.outcome,
        expected,
        got,
        reason,
    }
}
