//! Markdown for humans and CI step summaries: shared causes first, then each other failure,
//! then every check in a table.

use crate::result::{Failure, Outcome, RunResult};
use crate::text::clean_block;
use crate::text::plural;
use std::fmt::Write;

use super::md::prose;

fn cell(text: &str) -> String {
    super::md::cell(text, 160)
}

fn code(text: &str) -> String {
    super::md::code(text, 500)
}

fn details(out: &mut String, f: &Failure) {
    let _ = writeln!(out, "- expected: {}", code(&f.expected));
    let _ = writeln!(out, "- seen: {}", code(&f.seen));
    if let Some(hint) = &f.hint {
        let _ = writeln!(out, "- hint: {}", prose(hint, 500));
    }
    if let Some(req) = &f.request {
        let text = clean_block(&req.to_string(), 2400).replace("```", "'''");
        let _ = writeln!(out, "\n```http\n{text}\n```");
    }
    out.push('\n');
}

/// The report as Markdown.
pub fn render(result: &RunResult) -> String {
    let mut out = String::new();
    let counts = result.counts();
    let verdict = if result.failed() { "FAILED" } else { "PASSED" };
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
    for note in &result.notes {
        let _ = writeln!(out, "- note: {}", prose(note, 600));
    }
    for line in result.retries.lines() {
        let _ = writeln!(out, "- {}", prose(&line, 600));
    }
    let _ = writeln!(out, "- checks: {}\n", counts.summary());
    let _ = writeln!(
        out,
        "| profile | score | passed | failed | precondition failed | errored | skipped |\n|---|---|---|---|---|---|---|"
    );
    for p in &result.profiles {
        let c = &p.counts;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            p.profile.name(),
            p.percent(),
            c.passed,
            c.failed,
            c.precondition_failed,
            c.errored,
            c.skipped
        );
    }
    if let Some(summary) = crate::root_cause::summary(&result.checks, &result.causes) {
        let _ = writeln!(out, "\n## Causes\n\n{summary}.\n");
        for (i, cause) in result.causes.iter().enumerate() {
            let ids: Vec<String> = cause.checks.iter().map(|c| format!("`{c}`")).collect();
            let root = match &cause.root {
                Some(root) => format!("{}: ", code(root)),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "### Cause {}: {root}{}\n\n{}\n",
                i + 1,
                plural(cause.checks.len(), "check", "checks"),
                ids.join(", ")
            );
            details(&mut out, &cause.failure);
        }
    }
    let single: Vec<_> = result
        .checks
        .iter()
        .filter(|r| r.outcome.failure().is_some() && result.cause_of(&r.id).is_none())
        .collect();
    if !single.is_empty() {
        let _ = writeln!(out, "\n## Failures\n");
        for r in single {
            if let Some(f) = r.outcome.failure() {
                let _ = writeln!(
                    out,
                    "### `{}` ({})\n\n{}\n",
                    r.id,
                    r.outcome.word(),
                    r.description
                );
                details(&mut out, f);
            }
        }
    }
    let _ = writeln!(
        out,
        "\n## All checks\n\n| check | profile | result | detail |\n|---|---|---|---|"
    );
    for r in &result.checks {
        let (tag, detail) = match &r.outcome {
            Outcome::Passed => ("pass".to_owned(), r.note.clone().unwrap_or_default()),
            Outcome::Skipped { reason } => ("skip".to_owned(), reason.clone()),
            other => {
                let seen = other.failure().map(|f| f.seen.clone()).unwrap_or_default();
                let detail = match result.cause_of(&r.id) {
                    Some((i, _)) => format!("cause {}: {seen}", i + 1),
                    None => seen,
                };
                (format!("**{}**", other.word()), detail)
            }
        };
        let profile = r.profile_label();
        let _ = writeln!(
            out,
            "| `{}` | {profile} | {tag} | {} |",
            r.id,
            cell(&detail)
        );
    }
    out
}
