//! The terminal summary: verdicts grouped by area, failures with expected/seen/request.

use crate::run::{RunResult, Status};
use std::fmt::Write;

/// The one-line form of a result, for progress output.
pub fn line(r: &crate::run::CheckResult) -> String {
    let tag = match &r.status {
        Status::Passed => "PASS",
        Status::Failed(_) => "FAIL",
        Status::Skipped { .. } => "SKIP",
    };
    let extra = match &r.status {
        Status::Skipped { reason } => format!("  ({reason})"),
        _ => r
            .note
            .as_ref()
            .map(|n| format!("  ({n})"))
            .unwrap_or_default(),
    };
    format!("{tag}  {:<42} {}{extra}", r.id, r.description)
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
    let mut area = "";
    for r in &result.checks {
        if r.area != area {
            area = &r.area;
            let _ = writeln!(out, "\n{area}");
        }
        let _ = writeln!(out, "  {}", line(r));
        if let Status::Failed(f) = &r.status {
            let _ = writeln!(out, "        expected: {}", f.expected);
            let _ = writeln!(out, "        seen:     {}", f.seen);
            if let Some(req) = &f.request {
                let _ = writeln!(
                    out,
                    "        request:  {}",
                    req.to_string().replace('\n', "\n                  ")
                );
            }
            if let Some(hint) = &f.hint {
                let _ = writeln!(out, "        hint:     {hint}");
            }
        }
    }
    let _ = writeln!(out);
    for p in &result.profiles {
        let _ = writeln!(
            out,
            "profile {:<12} {:>5.1}%  ({} passed, {} failed, {} skipped)",
            p.profile.name(),
            p.score * 100.0,
            p.passed,
            p.failed,
            p.skipped
        );
    }
    let (passed, failed, skipped) = result.counts();
    let _ = writeln!(
        out,
        "summary: {passed} passed, {failed} failed, {skipped} skipped in {:.2}s",
        result.duration_ms / 1000.0
    );
    out
}
