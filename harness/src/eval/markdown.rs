//! An eval as Markdown: the report for a CI step summary.

use super::summary::Summary;
use super::text::{case_list, cell, interval, percent};
use serde_json::Value;

/// The Markdown report (a CI step summary).
pub(crate) fn render(summary: &Summary) -> String {
    let mut md = format!(
        "# Eval: {}\n\nTarget: {} · model {} · {} · {:.1}s\n\n",
        if summary.passed { "passed" } else { "FAILED" },
        crate::report::md::prose(&summary.target, 300),
        crate::report::md::code(&summary.model, 200),
        summary.started_at,
        summary.duration_ms as f64 / 1000.0
    );
    for note in &summary.notes {
        md.push_str(&format!("> {}\n\n", crate::report::md::prose(note, 500)));
    }
    // The ungraded column only when some case was asked with nothing to judge it by.
    let ungraded = summary.overall.counts.ungraded > 0;
    md.push_str(if ungraded {
        "| Suite | Accuracy | 95% interval | Passed | Failed | Errored | Ungraded | Gate |\n|---|---:|---|---:|---:|---:|---:|---|\n"
    } else {
        "| Suite | Accuracy | 95% interval | Passed | Failed | Errored | Gate |\n|---|---:|---|---:|---:|---:|---|\n"
    });
    for s in summary
        .suites
        .iter()
        .chain(std::iter::once(&summary.overall))
    {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {}{} | {} |\n",
            cell(&s.name),
            percent(s.accuracy),
            interval(s.interval),
            s.counts.passed,
            s.counts.failed,
            s.counts.errored,
            if ungraded {
                format!(" | {}", s.counts.ungraded)
            } else {
                String::new()
            },
            s.min_accuracy
                .map_or_else(|| "–".into(), |g| format!(">= {:.1}%", g * 100.0))
        ));
    }
    if !summary.tags.is_empty() {
        md.push_str("\n| Tag | Accuracy | 95% interval | Cases |\n|---|---:|---|---:|\n");
        for t in &summary.tags {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                cell(&t.name),
                percent(t.accuracy),
                interval(t.interval),
                t.counts.cases
            ));
        }
    }
    if !summary.gates.is_empty() {
        md.push_str("\n| Gate | Value | Threshold | Verdict |\n|---|---:|---:|---|\n");
        for g in &summary.gates {
            md.push_str(&format!(
                "| {} | {:.3} | {:.3} | {}{} |\n",
                cell(&g.name),
                g.value,
                g.threshold,
                if g.passed { "pass" } else { "**fail**" },
                if g.within_noise {
                    " (within noise)"
                } else {
                    ""
                }
            ));
        }
    }
    if let Some(c) = &summary.baseline {
        md.push_str(&format!(
            "\n## Against the baseline\n\n{}: {} fixed, {} broke, {} same; McNemar p = {:.4}{}\n",
            crate::report::md::code(&c.baseline, 300),
            c.fixed,
            c.broke,
            c.same_passed + c.same_failed,
            c.p_value,
            if c.regression {
                " (a significant regression)"
            } else {
                ""
            }
        ));
        for (what, cases, n) in [
            ("Broke", &c.broke_cases, c.broke),
            ("Fixed", &c.fixed_cases, c.fixed),
        ] {
            if let Some(line) = case_list(cases, n, |t| crate::report::md::code(t, 120)) {
                md.push_str(&format!("\n- {what}: {line}\n"));
            }
        }
    }
    if !summary.failures.is_empty() {
        md.push_str(
            "\n## Failures\n\n| Case | Outcome | Expected | Got | Why |\n|---|---|---|---|---|\n",
        );
        for f in &summary.failures {
            md.push_str(&format!(
                "| {} ({}) | {} | {} | {} | {} |\n",
                cell(&f.case),
                cell(&f.origin),
                f.outcome.name(),
                cell(
                    &f.expected
                        .as_ref()
                        .map(Value::to_string)
                        .unwrap_or_default()
                ),
                cell(&f.got),
                cell(&f.reason)
            ));
        }
    }
    md
}
