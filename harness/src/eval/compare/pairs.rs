//! Every pair of targets, tested on the same cases: an exact McNemar test on the cases one
//! passed and the other did not. Paired, because the cases are the same: it sees a difference
//! of a few cases that two overlapping accuracy intervals would hide, and calls noise what is.

use super::super::stored::mcnemar_exact;
use super::matrix::Outcomes;
use serde::Serialize;

/// Below this p-value a difference is called significant.
const ALPHA: f64 = 0.05;

/// Two targets on the cases both graded.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    /// The first target.
    pub a: String,
    /// The second target.
    pub b: String,
    /// Cases graded by both.
    pub compared: usize,
    /// Passed by both.
    pub both_passed: usize,
    /// Passed by neither.
    pub neither: usize,
    /// Passed by `a` only.
    pub only_a: usize,
    /// Passed by `b` only.
    pub only_b: usize,
    /// Exact two-sided McNemar p-value (1 when they never differ).
    pub p_value: f64,
    /// p < 0.05.
    pub significant: bool,
    /// The better target, when the difference is significant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub better: Option<String>,
}

impl Pair {
    /// When `baseline` is one of the two: the other, and whether it is significantly worse.
    pub fn against(&self, baseline: &str) -> Option<(&str, bool)> {
        let worse = |other: &str| self.significant && self.better.as_deref() != Some(other);
        if self.a == baseline {
            Some((&self.b, worse(&self.b)))
        } else if self.b == baseline {
            Some((&self.a, worse(&self.a)))
        } else {
            None
        }
    }
}

/// Every pair of `names` (in their order), on `outcomes` (per case, per target: none when not
/// asked, `Some(None)` when ungraded).
pub(super) fn all(names: &[&str], outcomes: &Outcomes) -> Vec<Pair> {
    let mut pairs = Vec::new();
    for i in 0..names.len() {
        for j in i + 1..names.len() {
            pairs.push(pair(names, i, j, outcomes));
        }
    }
    pairs
}

fn pair(names: &[&str], i: usize, j: usize, outcomes: &Outcomes) -> Pair {
    let (mut both, mut neither, mut only_a, mut only_b) = (0, 0, 0, 0);
    for per_target in outcomes.values() {
        let graded = |k: usize| per_target.get(k).copied().flatten().flatten();
        match (graded(i), graded(j)) {
            (Some(true), Some(true)) => both += 1,
            (Some(false), Some(false)) => neither += 1,
            (Some(true), Some(false)) => only_a += 1,
            (Some(false), Some(true)) => only_b += 1,
            _ => {}
        }
    }
    let p_value = mcnemar_exact(only_a, only_b);
    let significant = only_a != only_b && p_value < ALPHA;
    Pair {
        a: names[i].to_owned(),
        b: names[j].to_owned(),
        compared: both + neither + only_a + only_b,
        both_passed: both,
        neither,
        only_a,
        only_b,
        p_value,
        significant,
        better: significant.then(|| {
            if only_a > only_b {
                names[i].to_owned()
            } else {
                names[j].to_owned()
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes(rows: &[[Option<Option<bool>>; 3]]) -> Outcomes {
        rows.iter()
            .enumerate()
            .map(|(i, r)| (format!("s/{i}"), r.to_vec()))
            .collect()
    }

    #[test]
    fn pairs_count_on_cases_graded_by_both_and_name_the_better() {
        let p = Some(Some(true));
        let f = Some(Some(false));
        let u = Some(None);
        // a passes all 8; b fails six of them; c is ungraded on two and not asked on one.
        let mut rows = vec![[p, f, p]; 6];
        rows.push([p, p, u]);
        rows.push([p, p, None]);
        rows.push([f, f, u]);
        let pairs = all(&["a", "b", "c"], &outcomes(&rows));
        let ab = &pairs[0];
        assert_eq!(
            (
                ab.compared,
                ab.both_passed,
                ab.neither,
                ab.only_a,
                ab.only_b
            ),
            (9, 2, 1, 6, 0)
        );
        // 6 against 0: 2 / 64.
        assert!((ab.p_value - 0.03125).abs() < 1e-12 && ab.significant);
        assert_eq!(ab.better.as_deref(), Some("a"));
        assert_eq!(ab.against("a"), Some(("b", true)));
        assert_eq!(ab.against("b"), Some(("a", false)));
        assert_eq!(ab.against("c"), None);
        let ac = &pairs[1];
        assert_eq!((ac.compared, ac.only_a, ac.only_b), (6, 0, 0));
        assert!(!ac.significant && ac.better.is_none() && ac.p_value == 1.0);
        let bc = &pairs[2];
        assert_eq!((bc.only_a, bc.only_b), (0, 6));
        assert_eq!(bc.better.as_deref(), Some("c"));
    }
}
