//! The one result model: what a check returns (`Verdict`), what a run records per check
//! (`Outcome`), and what every report reads (`RunResult`). Reports and the exit code decide on
//! these types only, never on message text.

use crate::target::{Exchange, RequestRecord, TransportError};
use serde::Serialize;
use std::collections::BTreeMap;

/// Which promise a check belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// What any OpenAI-compatible server should pass.
    OpenaiCore,
    /// What the Open Responses specification adds to the Responses API.
    OpenResponses,
    /// The facade's own promises (ids, probes, exactness).
    Facade,
}

impl Profile {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenaiCore => "openai-core",
            Self::OpenResponses => "open-responses",
            Self::Facade => "facade",
        }
    }
}

/// A passing check, with optional measurements.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Pass {
    /// A short remark shown beside the verdict.
    pub note: Option<String>,
    /// Measurements such as time to first token.
    pub metrics: Vec<Metric>,
}

/// One measurement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Metric {
    /// Name, e.g. `ttft_ms`.
    pub name: String,
    /// Value.
    pub value: f64,
}

/// What went wrong: expected vs seen, and the request that showed it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    /// What the check wanted (or needed, for a precondition).
    pub expected: String,
    /// What the target did.
    pub seen: String,
    /// The request that showed it.
    pub request: Option<RequestRecord>,
    /// What to fix, when it is not obvious.
    pub hint: Option<String>,
    /// What the answer showed that other checks may fail on too (grouping only).
    #[serde(skip)]
    pub symptom: Option<Symptom>,
}

/// Why a check did not pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// The target is wrong about the check's own subject.
    Fail(Box<Failure>),
    /// The check could not reach its assertion: what it needed first was not there.
    Precondition(Box<Failure>),
    /// No usable answer at all (connection refused or reset, timeout).
    Transport(Box<Failure>),
    /// The check cannot apply to this target; the reason says why.
    Skip(String),
}

/// A check's result.
pub type Verdict = Result<Pass, Problem>;

fn failure(expected: impl Into<String>, seen: impl Into<String>) -> Box<Failure> {
    Box::new(Failure {
        expected: expected.into(),
        seen: seen.into(),
        request: None,
        hint: None,
        symptom: None,
    })
}

/// A failure of the check's subject: expected vs seen.
pub fn fail(expected: impl Into<String>, seen: impl Into<String>) -> Problem {
    Problem::Fail(failure(expected, seen))
}

/// A precondition that did not hold: what the check needed, and what it got instead.
pub fn precondition(needed: impl Into<String>, seen: impl Into<String>) -> Problem {
    Problem::Precondition(failure(needed, seen))
}

/// No usable answer (the check is errored): expected vs what came instead.
pub fn errored(expected: impl Into<String>, seen: impl Into<String>) -> Problem {
    Problem::Transport(failure(expected, seen))
}

/// A skip with its reason.
pub fn skip(reason: impl Into<String>) -> Problem {
    Problem::Skip(reason.into())
}

impl Problem {
    fn failure_mut(&mut self) -> Option<&mut Failure> {
        match self {
            Self::Fail(f) | Self::Precondition(f) | Self::Transport(f) => Some(f),
            Self::Skip(_) => None,
        }
    }

    /// Attaches the request that showed the problem (the first one attached wins).
    pub fn at(mut self, request: &RequestRecord) -> Self {
        if let Some(f) = self.failure_mut() {
            if f.request.is_none() {
                f.request = Some(request.clone());
            }
        }
        self
    }

    /// Records what the answer showed, so failures with one root cause are grouped.
    pub fn symptom(mut self, symptom: impl Into<Option<Symptom>>) -> Self {
        if let (Some(f), Some(symptom)) = (self.failure_mut(), symptom.into()) {
            f.symptom.get_or_insert(symptom);
        }
        self
    }

    /// Adds a hint about the fix.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        if let Some(f) = self.failure_mut() {
            f.hint = Some(hint.into());
        }
        self
    }

    /// The same problem as a precondition of another check: a failure of a shared step
    /// (the baseline request, a batch that has too few vectors) is not that check's subject.
    pub fn into_precondition(self) -> Self {
        match self {
            Self::Fail(f) => Self::Precondition(f),
            other => other,
        }
    }
}

impl From<TransportError> for Problem {
    fn from(e: TransportError) -> Self {
        match e {
            // A body over the harness's cap is the target's fault, not the network's.
            TransportError::TooLarge { .. } => fail("an answer within the size cap", e.to_string()),
            _ => {
                Problem::Transport(failure("a response", e.to_string())).symptom(Symptom::Transport)
            }
        }
    }
}

/// The verdict of one check, as recorded.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Outcome {
    /// Passed.
    Passed,
    /// The target is wrong, with details.
    Failed(Box<Failure>),
    /// The check could not run its assertion because something it needs was missing.
    PreconditionFailed(Box<Failure>),
    /// The target gave no usable answer (transport error).
    Errored(Box<Failure>),
    /// Not applicable to this target.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// The verdict a check returned, as recorded.
    pub fn of(verdict: Verdict) -> (Self, Option<String>, Vec<Metric>) {
        match verdict {
            Ok(p) => (Self::Passed, p.note, p.metrics),
            Err(Problem::Fail(f)) => (Self::Failed(f), None, Vec::new()),
            Err(Problem::Precondition(f)) => (Self::PreconditionFailed(f), None, Vec::new()),
            Err(Problem::Transport(f)) => (Self::Errored(f), None, Vec::new()),
            Err(Problem::Skip(reason)) => (Self::Skipped { reason }, None, Vec::new()),
        }
    }

    /// The details of a non-passing, non-skipped outcome.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Self::Failed(f) | Self::PreconditionFailed(f) | Self::Errored(f) => Some(f),
            Self::Passed | Self::Skipped { .. } => None,
        }
    }

    /// A short upper-case tag for consoles.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Passed => "PASS",
            Self::Failed(_) => "FAIL",
            Self::PreconditionFailed(_) => "PREC",
            Self::Errored(_) => "ERR ",
            Self::Skipped { .. } => "SKIP",
        }
    }

    /// What the outcome is called in prose.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed(_) => "failed",
            Self::PreconditionFailed(_) => "precondition failed",
            Self::Errored(_) => "errored",
            Self::Skipped { .. } => "skipped",
        }
    }
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
    /// Whether it counts towards the compatibility score (checks about the target's own
    /// self-description do not).
    pub scored: bool,
    /// One-line description.
    pub description: String,
    /// The verdict.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// A remark.
    pub note: Option<String>,
    /// Measurements.
    pub metrics: Vec<Metric>,
    /// Wall time of the check in milliseconds.
    pub duration_ms: f64,
}

impl CheckResult {
    /// Whether this check's failure fails the run: a scored one does, and so does a shape
    /// snapshot (not scored, but a drift the user asked to be told of by `--snapshots`). A
    /// self-description judged by the target's own document is reported, never decisive.
    pub fn decides_verdict(&self) -> bool {
        self.scored || self.area == "snapshots"
    }

    /// The profile as reports show it, marked when the check is not scored.
    pub fn profile_label(&self) -> String {
        if self.scored {
            self.profile.name().to_owned()
        } else {
            format!("{} (not scored)", self.profile.name())
        }
    }
}

/// How many checks ended each way.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    /// Passed.
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Could not run their assertion.
    pub precondition_failed: usize,
    /// Got no usable answer.
    pub errored: usize,
    /// Not applicable.
    pub skipped: usize,
}

impl Counts {
    /// Adds one outcome.
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Passed => self.passed += 1,
            Outcome::Failed(_) => self.failed += 1,
            Outcome::PreconditionFailed(_) => self.precondition_failed += 1,
            Outcome::Errored(_) => self.errored += 1,
            Outcome::Skipped { .. } => self.skipped += 1,
        }
    }

    /// Checks that ran to a verdict other than skipped.
    pub fn ran(&self) -> usize {
        self.passed + self.failed + self.precondition_failed + self.errored
    }

    /// Checks that did not pass (skips aside).
    pub fn not_passed(&self) -> usize {
        self.failed + self.precondition_failed + self.errored
    }

    /// All checks counted.
    pub fn total(&self) -> usize {
        self.ran() + self.skipped
    }

    /// "3 passed, 1 failed, 2 skipped": zero counts of the rarer outcomes left out.
    pub fn summary(&self) -> String {
        let mut parts = vec![
            format!("{} passed", self.passed),
            format!("{} failed", self.failed),
        ];
        if self.precondition_failed > 0 {
            parts.push(format!("{} precondition failed", self.precondition_failed));
        }
        if self.errored > 0 {
            parts.push(format!("{} errored", self.errored));
        }
        parts.push(format!("{} skipped", self.skipped));
        parts.join(", ")
    }
}

/// A profile's score.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProfileScore {
    /// Profile name.
    pub profile: Profile,
    /// Outcomes of the scored checks of this profile and narrower ones.
    #[serde(flatten)]
    pub counts: Counts,
    /// passed / ran, 0..1; `None` when nothing ran (nothing was shown compatible).
    pub score: Option<f64>,
}

impl ProfileScore {
    /// The score as a percentage, or "n/a" when nothing ran.
    pub fn percent(&self) -> String {
        match self.score {
            Some(s) => format!("{:.1}%", s * 100.0),
            None => "n/a".into(),
        }
    }
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
    /// Where the API's paths were requested (the base URL, or its `/v1` when found there).
    pub api_root: String,
    /// What the run found about the target before any check (API root, discovery).
    pub notes: Vec<String>,
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
    /// Root causes shared by two or more checks, most checks first.
    pub causes: Vec<Cause>,
    /// The 429s waited out and the requests that were flaky (a 5xx, then a success).
    pub retries: RetrySummary,
}

impl RunResult {
    /// Outcome counts over every check.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for r in &self.checks {
            c.add(&r.outcome);
        }
        c
    }

    /// Whether the run failed: a check that decides the verdict did not pass (skips aside).
    pub fn failed(&self) -> bool {
        self.checks
            .iter()
            .any(|r| r.decides_verdict() && r.outcome.failure().is_some())
    }

    /// The cause that explains `id`, if it shares one with other checks.
    pub fn cause_of(&self, id: &str) -> Option<(usize, &Cause)> {
        self.causes
            .iter()
            .enumerate()
            .find(|(_, c)| c.checks.iter().any(|c| c == id))
    }
}

/// A profile's score counts its own scored checks and those of narrower profiles.
pub fn score(profile: Profile, results: &[CheckResult]) -> ProfileScore {
    let mut counts = Counts::default();
    for r in results.iter().filter(|r| r.profile <= profile && r.scored) {
        counts.add(&r.outcome);
    }
    let score = (counts.ran() > 0).then(|| counts.passed as f64 / counts.ran() as f64);
    ProfileScore {
        profile,
        counts,
        score,
    }
}

/// What an answer showed that many checks can fail on, read from the answer itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Symptom {
    /// The route answered this error status (with the error envelope's `code`, else `type`).
    Status {
        /// The HTTP status.
        status: u16,
        /// The error's code or type, when the body is an error envelope.
        error: Option<String>,
    },
    /// A stream was asked for and the answer was not `text/event-stream`.
    NotSse,
    /// No usable answer (refused, reset, timed out).
    Transport,
}

impl Symptom {
    /// The error status `ex` answered, as a symptom other checks may share: a server error, a
    /// route not served, credentials refused, a limit; a client error only with its error
    /// code (two 400s for two different mistakes are two findings, not one cause).
    pub fn status(ex: &Exchange) -> Option<Self> {
        let body = ex.json().ok();
        let field = |key: &str| {
            body.as_ref()
                .and_then(|b| b["error"][key].as_str().map(str::to_owned))
        };
        let error = match ex.status {
            401 | 403 | 404 | 405 | 408 | 429 | 501 | 500..=599 => {
                field("code").or_else(|| field("type"))
            }
            400..=499 => Some(field("code")?),
            _ => return None,
        };
        Some(Self::Status {
            status: ex.status,
            error,
        })
    }
}

/// Several checks that did not pass for one cause.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Cause {
    /// The root cause in a line (`POST /v1/embeddings answers HTTP 404`), when it was read from
    /// the answers; absent when the checks share an identical failure only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The first failure it explains.
    pub failure: Failure,
    /// The checks it explains, in catalogue order.
    pub checks: Vec<String>,
}

/// A request that failed with a 5xx and succeeded when asked again.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FlakyRequest {
    /// The check that sent it.
    pub check: String,
    /// `METHOD url`.
    pub request: String,
    /// The first status (5xx).
    pub first: u16,
    /// The status of the repeat.
    pub then: u16,
}

/// What the run's retries came to, for the reports.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RetrySummary {
    /// 429s waited out, over the run.
    pub rate_limited: u32,
    /// 429s waited out, by check.
    pub by_check: BTreeMap<String, u32>,
    /// Time spent waiting, in milliseconds.
    pub waited_ms: f64,
    /// Whether the run's retry budget ran out (the checks that met it are errored).
    pub budget_exhausted: bool,
    /// Requests that failed with a 5xx and then succeeded.
    pub flaky: Vec<FlakyRequest>,
}

impl RetrySummary {
    /// What the reports say of the retries, a line each (nothing when there were none).
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.rate_limited > 0 {
            let by: Vec<String> = self
                .by_check
                .iter()
                .map(|(check, n)| format!("{check} {n}"))
                .collect();
            lines.push(format!(
                "rate-limited: {} waited out ({:.1} s in all; {})",
                crate::text::plural(self.rate_limited as usize, "429 was", "429s were"),
                self.waited_ms / 1000.0,
                by.join(", ")
            ));
        }
        if self.budget_exhausted {
            lines.push(
                "the retry budget ran out (--retry-budget): the checks still rate-limited then are errored"
                    .to_owned(),
            );
        }
        for f in &self.flaky {
            lines.push(format!(
                "flaky: {} answered HTTP {}, then {} when asked again ({})",
                f.request, f.first, f.then, f.check
            ));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, outcome: Outcome) -> CheckResult {
        CheckResult {
            id: id.into(),
            area: "a".into(),
            profile: Profile::OpenaiCore,
            scored: true,
            description: "d".into(),
            outcome,
            note: None,
            metrics: vec![],
            duration_ms: 0.0,
        }
    }

    fn failed(seen: &str) -> Outcome {
        Outcome::Failed(failure("x", seen))
    }

    #[test]
    fn a_profile_with_nothing_run_has_no_score() {
        let all = [result("a.b", Outcome::Skipped { reason: "r".into() })];
        let s = score(Profile::Facade, &all);
        assert_eq!(s.score, None);
        assert_eq!(s.percent(), "n/a");
    }

    #[test]
    fn preconditions_and_errors_count_against_the_score() {
        let all = [
            result("a.a", Outcome::Passed),
            result("a.b", Outcome::PreconditionFailed(failure("x", "y"))),
            result("a.c", Outcome::Errored(failure("x", "y"))),
            result("a.d", failed("y")),
        ];
        let s = score(Profile::OpenaiCore, &all);
        assert_eq!(s.score, Some(0.25));
        assert_eq!(s.counts.not_passed(), 3);
    }

    #[test]
    fn unscored_checks_stay_out_of_the_score() {
        let mut own = result("openapi.x", failed("y"));
        own.scored = false;
        let all = [result("a.a", Outcome::Passed), own];
        assert_eq!(score(Profile::OpenaiCore, &all).score, Some(1.0));
    }

    #[test]
    fn only_checks_that_decide_the_verdict_fail_the_run() {
        let run = |checks: Vec<CheckResult>| RunResult {
            run_id: "r".into(),
            harness_version: "0".into(),
            target: "t".into(),
            api_root: "t".into(),
            notes: vec![],
            started_at: "now".into(),
            duration_ms: 0.0,
            chat_model: None,
            embedding_model: None,
            seed: 0,
            checks,
            profiles: vec![],
            causes: vec![],
            retries: Default::default(),
        };
        let mut described = result("openapi.responses-match", failed("undocumented"));
        described.area = "openapi".into();
        described.scored = false;
        assert!(
            !run(vec![described.clone()]).failed(),
            "a self-description is reported only"
        );
        let mut judged = described.clone();
        judged.scored = true;
        assert!(
            run(vec![judged]).failed(),
            "judged by a given document (--openapi)"
        );
        let mut drift = result("snapshots.models", failed("drift"));
        drift.area = "snapshots".into();
        drift.scored = false;
        assert!(
            run(vec![drift]).failed(),
            "a snapshot drift the user asked about"
        );
        let skipped = result(
            "a.s",
            Outcome::Skipped {
                reason: "n/a".into(),
            },
        );
        assert!(!run(vec![described, skipped]).failed());
        assert!(run(vec![result("a.f", failed("x"))]).failed());
    }
}
