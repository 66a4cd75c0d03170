//! The terminal summary: shared causes first, then verdicts grouped by area, each failure
//! with expected/seen/request. Everything that came from the target is escaped and cut.

use crate::result::{CheckResult, Failure, Outcome, RunResult};
use crate::text::plural;
use crate::text::{clean, clean_block};
use std::fmt::Write;

/// The one-line form of a result, for progress output.
pub fn line(r: &CheckResult) -> String {
    let extra = match &r.outcome {
        Outcome::Skipped { reason } => format!("  ({})", clean(reason, 300)),
        _ => r
            .note
            .as_ref()
            .map(|n| format!("  ({})", clean(n, 300)))
            .unwrap_or_default(),
    };
    let unscored = if r.scored { "" } else { "  [not scored]" };
    format!(
        "{}  {:<42} {}{extra}{unscored}",
        r.outcome.tag(),
        r.id,
        r.description
    )
}

fn details(out: &mut String, f: &Failure, indent: &str) {
    let label = |name: &str| format!("{indent}{name:<10}");
    let _ = writeln!(out, "{}{}", label("expected:"), clean(&f.expected, 500));
    let _ = writeln!(out, "{}{}", label("seen:"), clean(&f.seen, 500));
    if let Some(req) = &f.request {
        let pad = format!("\n{indent}{:10}", "");
        let _ = writeln!(
            out,
            "{}{}",
            label("request:"),
            clean_block(&req.to_string(), 1200).replace('\n', &pad)
        );
    }
    if let Some(hint) = &f.hint {
        let _ = writeln!(out, "{}{}", label("hint:"), clean(hint, 500));
    }
}

/// The full report for a terminal or a CI log.
pub fn render(result: &RunResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "conformance run {} against {}",
        result.run_id, result.target
    );
    let _ = writeln!(
        out,
        "models: chat={} embedding={}  seed={}",
        result.chat_model.as_deref().unwrap_or("-"),
        result.embedding_model.as_deref().unwrap_or("-"),
        result.seed
    );
    for note in &result.notes {
        let _ = writeln!(out, "note: {}", clean(note, 600));
    }
    for line in result.retries.lines() {
        let _ = writeln!(out, "{}", clean(&line, 600));
    }
    if let Some(summary) = crate::root_cause::summary(&result.checks, &result.causes) {
        let _ = writeln!(out, "\n{summary}:");
        for (i, cause) in result.causes.iter().enumerate() {
            let root = match &cause.root {
                Some(root) => format!("{}; ", clean(root, 200)),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  [{}] {root}{}: {}",
                i + 1,
                plural(cause.checks.len(), "check", "checks"),
                cause.checks.join(", ")
            );
            details(&mut out, &cause.failure, "        ");
        }
    }
    let mut area = "";
    for r in &result.checks {
        if r.area != area {
            area = &r.area;
            let _ = writeln!(out, "\n{area}");
        }
        let _ = writeln!(out, "  {}", line(r));
        if let Some(f) = r.outcome.failure() {
            match result.cause_of(&r.id) {
                Some((i, _)) => {
                    let _ = writeln!(out, "        {}: see cause [{}]", r.outcome.word(), i + 1);
                }
                None => details(&mut out, f, "        "),
            }
        }
    }
    let _ = writeln!(out);
    for p in &result.profiles {
        let _ = writeln!(
            out,
            "profile {:<12} {:>6}  ({})",
            p.profile.name(),
            p.percent(),
            p.counts.summary()
        );
    }
    let _ = writeln!(
        out,
        "summary: {} in {:.2}s",
        result.counts().summary(),
        result.duration_ms / 1000.0
    );
    out
}
