//! The results of an earlier run (`results.jsonl`): re-grading their stored answers with the
//! current graders (`--regrade`), and comparing a run with them case by case (`--baseline`),
//! with an exact McNemar test on the cases that changed.

use super::case::Case;
use super::runner::{outcome, CaseOutcome, CaseResult};
use crate::error::HarnessError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The results file `path` names: the file itself, or `results.jsonl` in a report directory or
/// beside an `eval.json`.
pub fn results_file(path: &Path) -> PathBuf {
    if path.is_dir() {
        return path.join("results.jsonl");
    }
    if path.file_name().is_some_and(|n| n == "eval.json") {
        return path.with_file_name("results.jsonl");
    }
    path.to_path_buf()
}

/// Calls `each` with every stored line, parsed as `T`; a line that is not one is a usage error
/// naming `file:line`.
pub fn read<T: for<'de> Deserialize<'de>>(
    path: &Path,
    mut each: impl FnMut(T),
) -> Result<(), HarnessError> {
    let file = results_file(path);
    let shown = file.display().to_string();
    let reader = std::fs::File::open(&file)
        .map(std::io::BufReader::new)
        .map_err(|e| HarnessError::Usage(format!("cannot read stored results {shown}: {e}")))?;
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| HarnessError::Usage(format!("{shown}:{}: {e}", i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| {
            HarnessError::Usage(format!(
                "{shown}:{}:{}: not a stored case result: {e}",
                i + 1,
                e.column()
            ))
        })?;
        each(value);
    }
    Ok(())
}

/// The key of a case across runs.
pub fn key(suite: &str, id: &str) -> String {
    format!("{suite}/{id}")
}

/// Grades the stored answers of `stored` again with `case`'s grader and ideals; answers that
/// never arrived stay errored.
pub fn regrade(case: &Case, mut stored: CaseResult) -> CaseResult {
    for attempt in &mut stored.attempts {
        for (i, turn) in attempt.turns.iter_mut().enumerate() {
            if let Some(answer) = &turn.answer {
                let ideal = case.turns.get(i).and_then(|t| t.ideal.as_ref());
                let consulted = super::grader::Consulted {
                    judged: &turn.judged,
                    similar: &turn.similarity,
                };
                turn.verdict = case
                    .grader
                    .as_ref()
                    .map(|g| g.grade(answer, ideal, &consulted));
            }
        }
        attempt.passed = !attempt.errored
            && attempt.turns.len() == case.turns.len()
            && attempt
                .turns
                .iter()
                .all(|t| t.verdict.as_ref().is_some_and(|v| v.passed));
    }
    let (passes, result) = outcome(&stored.attempts, case.min_passes, case.grader.is_some());
    stored.passes = passes;
    stored.outcome = result;
    stored.min_passes = case.min_passes;
    stored.weight = case.weight;
    stored.tags = case.tags.clone();
    stored.origin = case.origin.clone();
    stored.ideals = case.turns.iter().map(|t| t.ideal.clone()).collect();
    stored
}

/// The fields of a stored line a comparison needs.
#[derive(Deserialize)]
struct Verdictline {
    suite: String,
    id: String,
    outcome: CaseOutcome,
}

/// Whether each stored case passed (none: ungraded), by key.
pub fn outcomes(path: &Path) -> Result<HashMap<String, Option<bool>>, HarnessError> {
    let mut out = HashMap::new();
    read(path, |line: Verdictline| {
        out.insert(key(&line.suite, &line.id), line.outcome.passed());
    })?;
    Ok(out)
}

/// Cases listed in a comparison.
const LISTED: usize = 20;

/// This run beside a baseline, case by case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseComparison {
    /// The baseline's results file.
    pub baseline: String,
    /// Failed (or errored) before, passed now.
    pub fixed: usize,
    /// Passed before, not now.
    pub broke: usize,
    /// Passed in both.
    pub same_passed: usize,
    /// Not passed in both.
    pub same_failed: usize,
    /// Cases only in this run.
    pub new_cases: usize,
    /// Cases only in the baseline.
    pub gone_cases: usize,
    /// Cases in both, ungraded in one of them: not compared.
    #[serde(default)]
    pub ungraded: usize,
    /// Exact two-sided McNemar p-value of the change (1 when nothing changed).
    pub p_value: f64,
    /// More broke than were fixed, at p < 0.05.
    pub regression: bool,
    /// The first fixed cases.
    pub fixed_cases: Vec<String>,
    /// The first broken cases.
    pub broke_cases: Vec<String>,
}

/// Compares this run's outcomes with the baseline's.
pub fn compare(
    baseline: &str,
    before: &HashMap<String, Option<bool>>,
    now: &[(String, Option<bool>)],
) -> CaseComparison {
    let mut c = CaseComparison {
        baseline: baseline.to_owned(),
        fixed: 0,
        broke: 0,
        same_passed: 0,
        same_failed: 0,
        new_cases: 0,
        gone_cases: 0,
        ungraded: 0,
        p_value: 1.0,
        regression: false,
        fixed_cases: Vec::new(),
        broke_cases: Vec::new(),
    };
    let mut sorted: Vec<&(String, Option<bool>)> = now.iter().collect();
    sorted.sort();
    for (key, passed) in sorted {
        let Some(was) = before.get(key) else {
            c.new_cases += 1;
            continue;
        };
        let (Some(was), Some(passed)) = (was, passed) else {
            c.ungraded += 1;
            continue;
        };
        match (was, passed) {
            (true, true) => c.same_passed += 1,
            (false, false) => c.same_failed += 1,
            (false, true) => {
                c.fixed += 1;
                if c.fixed_cases.len() < LISTED {
                    c.fixed_cases.push(key.clone());
                }
            }
            (true, false) => {
                c.broke += 1;
                if c.broke_cases.len() < LISTED {
                    c.broke_cases.push(key.clone());
                }
            }
        }
    }
    let keys: std::collections::HashSet<&String> = now.iter().map(|(k, _)| k).collect();
    c.gone_cases = before.keys().filter(|k| !keys.contains(k)).count();
    c.p_value = mcnemar_exact(c.broke, c.fixed);
    c.regression = c.broke > c.fixed && c.p_value < 0.05;
    c
}

/// The exact (binomial) two-sided McNemar p-value for `b` and `c` discordant pairs: the chance,
/// if the change were noise (each discordant case equally likely either way), of a split at
/// least this uneven.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // Sum of C(n, i) / 2^n for i <= k, in log space so large n neither overflows nor underflows.
    let ln_half_n = n as f64 * 0.5f64.ln();
    let mut ln_choose = 0.0f64; // ln C(n, 0)
    let mut tail = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_the_binomial_test() {
        // 0 vs 6 discordant: 2 * (1/64) = 0.03125.
        assert!((mcnemar_exact(6, 0) - 0.03125).abs() < 1e-12);
        // 1 vs 9: 2 * (1 + 10) / 1024 = 0.021484375.
        assert!((mcnemar_exact(9, 1) - 0.021_484_375).abs() < 1e-12);
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        assert!(mcnemar_exact(5000, 4000) < 1e-10);
    }

    #[test]
    fn comparison_counts_fixed_broke_and_flags_a_significant_drop() {
        let before: HashMap<String, Option<bool>> =
            (0..20).map(|i| (format!("s/{i}"), Some(i < 15))).collect();
        // Cases 0..10 now fail (10 broke), 15 is fixed, s/new is new, s/19 is gone.
        let now: Vec<(String, Option<bool>)> = (0..19)
            .map(|i| (format!("s/{i}"), Some(i >= 10 && i != 16)))
            .chain([("s/new".to_owned(), Some(true))])
            .collect();
        let c = compare("old", &before, &now);
        assert_eq!((c.broke, c.fixed, c.new_cases, c.gone_cases), (10, 3, 1, 1));
        // 10 against 3 is p = 0.092: a drop, but within noise.
        assert!((c.p_value - 0.092_285_156_25).abs() < 1e-9, "{c:?}");
        assert!(!c.regression);
        let worse: Vec<(String, Option<bool>)> =
            before.keys().map(|k| (k.clone(), Some(false))).collect();
        let w = compare("old", &before, &worse);
        assert_eq!((w.broke, w.fixed), (15, 0));
        assert!(w.regression && w.p_value < 0.001, "{w:?}");
        let calm = compare(
            "old",
            &before,
            &before
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            (calm.broke, calm.fixed, calm.p_value, calm.regression),
            (0, 0, 1.0, false)
        );
        // A case ungraded on either side is neither fixed nor broken: it is not compared.
        let unjudged: Vec<(String, Option<bool>)> =
            before.keys().map(|k| (k.clone(), None)).collect();
        let u = compare("old", &before, &unjudged);
        assert_eq!((u.broke, u.fixed, u.ungraded, u.same_passed), (0, 0, 20, 0));
    }
}
