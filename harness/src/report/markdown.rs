//! Markdown for humans and CI step summaries.

use crate::run::{RunResult, Status};
use std::fmt::Write;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown.
pub fn render(result: &RunResult) -> String {
    let mut out = String::new();
    let (passed, failed, skipped) = result.counts();
    let verdict = if failed == 0 { "PASSED" } else { "FAILED" };
    let _ = writeln!(out, "# Conformance run: {verdict}\n");
    let _ = writeln!(out, "- target: `{}`", result.target);
    let _ = writeln!(
        out,
        "- run: `{}`, started {}, {:.2}s",
        result.run_id,
        result.started_at,
        result.duration_ms / 1000.0
    );
    let _ = writeln!(
        out,
        "- models: chat `{}`, embedding `{}`; seed {}",
        result.chat_model.as_deref().unwrap_or("-"),
        result.embedding_model.as_deref().unwrap_or("-"),
        result.seed
    );
    let _ = writeln!(
        out,
        "- checks: {passed} passed, {failed} failed, {skipped} skipped\n"
    );
    let _ = writeln!(
        out,
        "| profile | score | passed | failed | skipped |\n|---|---|---|---|---|"
    );
    for p in &result.profiles {
        let _ = writeln!(
            out,
            "| {} | {:.1}% | {} | {} | {} |",
            p.profile.name(),
            p.score * 100.0,
            p.passed,
            p.failed,
            p.skipped
        );
    }
    let failures: Vec<_> = result
        .checks
        .iter()
        .filter(|r| matches!(r.status, Status::Failed(_)))
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(out, "\n## Failures\n");
        for r in failures {
            if let Status::Failed(f) = &r.status {
                let _ = writeln!(out, "### `{}`\n\n{}\n", r.id, r.description);
                let _ = writeln!(out, "- expected: {}\n- seen: {}", f.expected, f.seen);
                if let Some(hint) = &f.hint {
                    let _ = writeln!(out, "- hint: {hint}");
                }
                if let Some(req) = &f.request {
                    let _ = writeln!(out, "\n```http\n{req}\n```\n");
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\n## All checks\n\n| check | profile | result | detail |\n|---|---|---|---|"
    );
    for r in &result.checks {
        let (tag, detail) = match &r.status {
            Status::Passed => ("pass", r.note.clone().unwrap_or_default()),
            Status::Failed(f) => ("**FAIL**", f.seen.clone()),
            Status::Skipped { reason } => ("skip", reason.clone()),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {tag} | {} |",
            r.id,
            r.profile.name(),
            cell(&crate::target::excerpt(&detail, 160))
        );
    }
    out
}
