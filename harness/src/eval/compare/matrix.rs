//! What a comparison keeps of each result as it streams in: per case and target the outcome
//! and a short excerpt of the answer (the matrix), and per target the answered turns' times and
//! token usage. Answers are cut short here, so memory grows with the number of cases, not with
//! the answers' length; every answer in full is in each target's `results.jsonl`.

use super::super::runner::{CaseOutcome, CaseResult};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Rows the matrix keeps in the reports, disagreements first.
pub(super) const ROWS: usize = 1_000;

/// Characters of an answer (or error) kept per cell.
const EXCERPT: usize = 400;

/// One target's result for one case.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// How the case ended for this target.
    pub outcome: CaseOutcome,
    /// The start of the answer of its first ask (the last turn's), or why none came.
    pub answer: String,
    /// Why it failed, when it did (the grader's reason or the error).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// One case across the targets.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `suite/id`.
    pub case: String,
    /// `file:line`.
    pub origin: String,
    /// The ideal of its last turn, short (empty when it has none).
    pub expected: String,
    /// Whether the targets' outcomes differ.
    pub disagree: bool,
    /// Each target's cell, in the targets' order (none: not asked of it).
    pub cells: Vec<Option<Cell>>,
}

/// One target's times and tokens.
#[derive(Debug, Default)]
pub(super) struct Timing {
    elapsed_ms: Vec<u64>,
    pub(super) input_tokens: u64,
    pub(super) output_tokens: u64,
    pub(super) with_usage: u64,
}

impl Timing {
    /// Answered turns.
    pub(super) fn answers(&self) -> u64 {
        self.elapsed_ms.len() as u64
    }

    /// The nearest-rank percentile `q` of the answered turns' times.
    pub(super) fn percentile(&self, q: f64) -> Option<u64> {
        let mut sorted = self.elapsed_ms.clone();
        sorted.sort_unstable();
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted.get(rank.max(1) - 1).copied()
    }
}

/// Per case and target outcomes (none: ungraded), for the pairwise tests.
pub(super) type Outcomes = BTreeMap<String, Vec<Option<Option<bool>>>>;

/// What `finish` hands back: the kept rows, the disagreements, the cases, the outcomes and
/// each target's timing.
type Finished = (Vec<Row>, usize, usize, Outcomes, Vec<Timing>);

/// Results as they stream in from every target.
pub(super) struct Collector {
    targets: usize,
    inner: Mutex<(BTreeMap<String, Row>, Vec<Timing>)>,
}

impl Collector {
    pub(super) fn new(targets: usize) -> Self {
        Self {
            targets,
            inner: Mutex::new((
                BTreeMap::new(),
                (0..targets).map(|_| Timing::default()).collect(),
            )),
        }
    }

    /// Keeps target `i`'s result.
    pub(super) fn add(&self, i: usize, r: &CaseResult) {
        let cell = cell(r);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (rows, timings) = &mut *inner;
        let key = super::super::stored::key(&r.suite, &r.id);
        let row = rows.entry(key.clone()).or_insert_with(|| Row {
            case: key,
            origin: r.origin.clone(),
            expected: match r.ideals.last().cloned().flatten() {
                Some(Value::String(s)) => crate::text::clean(&s, EXCERPT),
                Some(other) => crate::text::clean(&other.to_string(), EXCERPT),
                None => String::new(),
            },
            disagree: false,
            cells: vec![None; self.targets],
        });
        if let Some(slot) = row.cells.get_mut(i) {
            *slot = Some(cell);
        }
        if let Some(timing) = timings.get_mut(i) {
            for turn in r.attempts.iter().flat_map(|a| &a.turns) {
                if turn.answer.is_none() {
                    continue;
                }
                timing.elapsed_ms.push(turn.elapsed_ms);
                if let Some((input, output)) = turn.raw.as_ref().and_then(usage) {
                    timing.input_tokens += input;
                    timing.output_tokens += output;
                    timing.with_usage += 1;
                }
            }
        }
    }

    /// The matrix (disagreements first, then by case; at most `ROWS`), the number of
    /// disagreements and of cases, every outcome, and each target's timing.
    pub(super) fn finish(self) -> Finished {
        let (rows, timings) = self.inner.into_inner().unwrap_or_else(|p| p.into_inner());
        let cases = rows.len();
        let mut outcomes = Outcomes::new();
        let mut kept: Vec<Row> = Vec::new();
        let mut agreeing: Vec<Row> = Vec::new();
        let mut disagreements = 0;
        for (key, mut row) in rows {
            let seen: Vec<Option<CaseOutcome>> = row
                .cells
                .iter()
                .map(|c| c.as_ref().map(|c| c.outcome))
                .collect();
            row.disagree = seen.windows(2).any(|w| w[0] != w[1]);
            outcomes.insert(
                key,
                seen.iter().map(|o| o.map(CaseOutcome::passed)).collect(),
            );
            if row.disagree {
                disagreements += 1;
                if kept.len() < ROWS {
                    kept.push(row);
                }
            } else if agreeing.len() < ROWS {
                agreeing.push(row);
            }
        }
        let room = ROWS.saturating_sub(kept.len());
        kept.extend(agreeing.into_iter().take(room));
        (kept, disagreements, cases, outcomes, timings)
    }
}

/// The cell of a result: its outcome, and the excerpt of the first ask's last answer.
fn cell(r: &CaseResult) -> Cell {
    let turn = r.attempts.first().and_then(|a| a.turns.last());
    let answer = match turn {
        Some(t) => match (&t.answer, &t.error) {
            (Some(a), _) if a.tool_calls.is_empty() => a.text.clone(),
            (Some(a), _) => {
                let calls: Vec<String> = a
                    .tool_calls
                    .iter()
                    .map(|c| format!("{}({})", c.name, c.arguments))
                    .collect();
                format!("{} {}", a.text, calls.join(" ")).trim().to_owned()
            }
            (None, Some(e)) => e.clone(),
            (None, None) => String::new(),
        },
        None => String::new(),
    };
    let reason = match r.outcome {
        CaseOutcome::Passed | CaseOutcome::Ungraded => String::new(),
        CaseOutcome::Failed | CaseOutcome::Errored => r
            .attempts
            .iter()
            .flat_map(|a| &a.turns)
            .find_map(|t| {
                t.error.clone().or_else(|| {
                    t.verdict
                        .as_ref()
                        .filter(|v| !v.passed)
                        .map(|v| v.reason.clone())
                })
            })
            .unwrap_or_default(),
    };
    Cell {
        outcome: r.outcome,
        answer: crate::text::clean(&answer, EXCERPT),
        reason: crate::text::clean(&reason, EXCERPT),
    }
}

/// The input and output tokens an answer reports (chat's or Responses' names).
fn usage(raw: &Value) -> Option<(u64, u64)> {
    let usage = raw.get("usage")?;
    let read = |names: [&str; 2]| names.iter().find_map(|n| usage.get(*n)?.as_u64());
    Some((
        read(["prompt_tokens", "input_tokens"])?,
        read(["completion_tokens", "output_tokens"])?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_is_read_in_either_api_and_percentiles_by_nearest_rank() {
        assert_eq!(
            usage(&json!({"usage": {"prompt_tokens": 3, "completion_tokens": 4}})),
            Some((3, 4))
        );
        assert_eq!(
            usage(&json!({"usage": {"input_tokens": 5, "output_tokens": 6}})),
            Some((5, 6))
        );
        assert_eq!(usage(&json!({"usage": {"input_tokens": 5}})), None);
        assert_eq!(usage(&json!({})), None);
        let t = Timing {
            elapsed_ms: (1..=20).rev().collect(),
            ..Timing::default()
        };
        assert_eq!(
            (t.percentile(0.5), t.percentile(0.95)),
            (Some(10), Some(19))
        );
        assert_eq!(Timing::default().percentile(0.5), None);
    }
}
