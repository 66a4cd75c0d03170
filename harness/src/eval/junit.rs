//! JUnit XML for an eval run: one testsuite per suite, one testcase per case; a wrong answer is
//! a `<failure>`, an answer that never arrived an `<error>`, an ungraded case `<skipped>`. Each case's testcase is rendered
//! as its result arrives (bounded: a 300-character message, an 8,000-character detail), so
//! nothing re-reads `results.jsonl`.

use super::runner::{CaseOutcome, CaseResult};
use super::summary::Summary;
use crate::text::clean_block;
use quick_xml::escape::escape;
use std::fmt::Write as _;

/// The JUnit document of `summary`.
pub fn render(summary: &Summary) -> String {
    let o = &summary.overall.counts;
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"conformance eval\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        o.cases,
        o.failed,
        o.errored,
        o.ungraded,
        summary.duration_ms as f64 / 1000.0
    );
    for suite in &summary.suites {
        let c = &suite.counts;
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            escape(&suite.name),
            c.cases,
            c.failed,
            c.errored,
            c.ungraded
        );
        if let Some(cases) = summary.testcases.get(&suite.name) {
            out.push_str(cases);
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// One case's `<testcase>`, as the summary keeps it.
pub(crate) fn testcase(r: &CaseResult) -> String {
    let seconds: u64 = r
        .attempts
        .iter()
        .flat_map(|a| a.turns.iter())
        .map(|t| t.elapsed_ms)
        .sum();
    let mut out = format!(
        "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
        escape(&r.suite),
        escape(&r.id),
        seconds as f64 / 1000.0
    );
    if r.outcome == CaseOutcome::Ungraded {
        // Asked and answered with nothing to judge by: JUnit's skipped, not a pass.
        out.push_str(">\n      <skipped message=\"ungraded: the case has no grader and no ideal; its answers are in results.jsonl\"/>\n    </testcase>\n");
        return out;
    }
    let turn = r
        .attempts
        .iter()
        .filter(|a| !a.passed)
        .flat_map(|a| a.turns.iter().enumerate())
        .find(|(_, t)| t.error.is_some() || t.verdict.as_ref().is_some_and(|v| !v.passed));
    let (message, detail) = match turn {
        Some((i, t)) => {
            let expected = r
                .ideals
                .get(i)
                .cloned()
                .flatten()
                .map_or_else(|| "(no ideal)".to_owned(), |v| v.to_string());
            let got = t
                .answer
                .as_ref()
                .map_or_else(|| t.error.clone().unwrap_or_default(), |a| a.text.clone());
            let why = t
                .verdict
                .as_ref()
                .map(|v| v.reason.clone())
                .or_else(|| t.error.clone())
                .unwrap_or_default();
            (
                why.clone(),
                format!(
                    "{}\nturn {}\nexpected: {expected}\ngot: {got}\nwhy: {why}",
                    r.origin,
                    i + 1
                ),
            )
        }
        None => (
            format!(
                "{} of {} asks passed, {} needed",
                r.passes, r.repeat, r.min_passes
            ),
            r.origin.clone(),
        ),
    };
    let tag = match r.outcome {
        CaseOutcome::Passed => {
            out.push_str("/>\n");
            return out;
        }
        CaseOutcome::Failed => "failure",
        CaseOutcome::Errored => "error",
        CaseOutcome::Ungraded => return out,
    };
    let _ = write!(
        out,
        ">\n      <{tag} message=\"{}\">{}</{tag}>\n    </testcase>\n",
        escape(crate::target::excerpt(&message, 300)),
        escape(clean_block(&detail, 8000))
    );
    out
}
