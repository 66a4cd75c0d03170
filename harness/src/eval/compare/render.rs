//! A comparison as text (the console's closing lines), Markdown (a CI step summary) and JUnit
//! (one testcase per gate).

use super::super::text::{cell, interval, percent};
use super::{Comparison, Pair, Standing};
use crate::text::clean;
use quick_xml::escape::escape;
use std::fmt::Write as _;

/// Disagreeing cases named on the terminal and in Markdown.
const LISTED: usize = 10;

fn latency(s: &Standing) -> String {
    match (s.latency_p50_ms, s.latency_p95_ms) {
        (Some(p50), Some(p95)) => format!("{p50}/{p95} ms"),
        _ => "–".into(),
    }
}

fn tokens(s: &Standing) -> String {
    if s.answers_with_usage == 0 {
        "– (no usage reported)".into()
    } else {
        format!(
            "{} in / {} out{}",
            s.input_tokens,
            s.output_tokens,
            if s.answers_with_usage < s.answers {
                format!(" ({} of {} answers)", s.answers_with_usage, s.answers)
            } else {
                String::new()
            }
        )
    }
}

/// A p-value as people read it: four decimals, or the power of ten when it is smaller.
pub(super) fn p_value(p: f64) -> String {
    if p > 0.0 && p < 0.0001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// "a better than b (6 vs 0 cases, p = 0.0312)" or "a vs b: no significant difference (…)".
pub(super) fn verdict(p: &Pair) -> String {
    let counts = format!(
        "{} vs {} of {} cases, p = {}",
        p.only_a,
        p.only_b,
        p.compared,
        p_value(p.p_value)
    );
    match &p.better {
        Some(better) => {
            let worse = if better == &p.a { &p.b } else { &p.a };
            format!("{better} better than {worse} ({counts})")
        }
        None if p.compared == 0 => format!("{} vs {}: no case graded by both", p.a, p.b),
        None => format!("{} vs {}: no significant difference ({counts})", p.a, p.b),
    }
}

/// The console's closing lines.
pub(super) fn text(c: &Comparison) -> String {
    let mut out = String::new();
    for note in &c.notes {
        let _ = writeln!(out, "note: {}", clean(note, 500));
    }
    for s in &c.targets {
        let o = &s.overall.counts;
        let _ = writeln!(
            out,
            "{:<16} {:>7} {:<18} {} passed, {} failed, {} errored{} · p50/p95 {} · tokens {}",
            clean(&s.name, 16),
            percent(s.overall.accuracy),
            interval(s.overall.interval),
            o.passed,
            o.failed,
            o.errored,
            super::super::text::ungraded(o.ungraded),
            latency(s),
            tokens(s)
        );
    }
    for p in &c.pairs {
        let _ = writeln!(out, "  {}", verdict(p));
    }
    let _ = writeln!(
        out,
        "{} cases, {} with outcomes that differ between targets",
        c.cases, c.disagreements
    );
    for row in c.matrix.iter().filter(|r| r.disagree).take(LISTED) {
        let outcomes: Vec<String> = c
            .targets
            .iter()
            .zip(&row.cells)
            .map(|(t, cell)| {
                format!(
                    "{} {}",
                    t.name,
                    cell.as_ref().map_or("not asked", |c| c.outcome.name())
                )
            })
            .collect();
        let _ = writeln!(out, "  {}: {}", clean(&row.case, 80), outcomes.join(", "));
    }
    for g in c.gates.iter().filter(|g| !g.passed) {
        let _ = writeln!(
            out,
            "gate failed: {} ({:.4} against {:.4})",
            g.name, g.value, g.threshold
        );
    }
    let _ = writeln!(
        out,
        "comparison {} in {:.1}s",
        if c.passed { "passed" } else { "FAILED" },
        c.duration_ms as f64 / 1000.0
    );
    out
}

/// The Markdown report.
pub(super) fn markdown(c: &Comparison) -> String {
    let mut md = format!(
        "# Eval comparison: {}\n\n{} targets · {} cases · {} · {:.1}s\n\n",
        if c.passed { "passed" } else { "FAILED" },
        c.targets.len(),
        c.cases,
        c.started_at,
        c.duration_ms as f64 / 1000.0
    );
    for note in &c.notes {
        let _ = writeln!(md, "> {}\n", crate::report::md::prose(note, 500));
    }
    md.push_str("| Target | Accuracy | 95% interval | Passed | Failed | Errored | Ungraded | p50/p95 | Tokens |\n|---|---:|---|---:|---:|---:|---:|---:|---|\n");
    for s in &c.targets {
        let o = &s.overall.counts;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&s.name),
            percent(s.overall.accuracy),
            interval(s.overall.interval),
            o.passed,
            o.failed,
            o.errored,
            o.ungraded,
            latency(s),
            tokens(s)
        );
    }
    md.push_str("\n| Pair | Only first passed | Only second passed | Cases | McNemar p | Verdict |\n|---|---:|---:|---:|---:|---|\n");
    for p in &c.pairs {
        let _ = writeln!(
            md,
            "| {} vs {} | {} | {} | {} | {} | {} |",
            cell(&p.a),
            cell(&p.b),
            p.only_a,
            p.only_b,
            p.compared,
            p_value(p.p_value),
            match &p.better {
                Some(b) => format!("**{}** better", cell(b)),
                None => "no significant difference".into(),
            }
        );
    }
    if !c.gates.is_empty() {
        md.push_str("\n| Gate | Value | Threshold | Verdict |\n|---|---:|---:|---|\n");
        for g in &c.gates {
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.4} | {} |",
                cell(&g.name),
                g.value,
                g.threshold,
                if g.passed { "pass" } else { "**fail**" }
            );
        }
    }
    let _ = writeln!(
        md,
        "\n## Cases that differ ({} of {})\n",
        c.disagreements, c.cases
    );
    let shown: Vec<_> = c
        .matrix
        .iter()
        .filter(|r| r.disagree)
        .take(LISTED)
        .collect();
    if shown.is_empty() {
        md.push_str("Every case ended the same for every target.\n");
    } else {
        let _ = writeln!(
            md,
            "| Case | {} |\n|---|{}",
            c.targets
                .iter()
                .map(|t| cell(&t.name))
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(c.targets.len())
        );
        for row in &shown {
            let cells: Vec<String> = row
                .cells
                .iter()
                .map(|cell_| match cell_ {
                    Some(x) => format!("{}: {}", x.outcome.name(), cell(&x.answer)),
                    None => "not asked".into(),
                })
                .collect();
            let _ = writeln!(md, "| {} | {} |", cell(&row.case), cells.join(" | "));
        }
        if c.disagreements > shown.len() {
            let _ = writeln!(
                md,
                "\n{} more in compare.html and compare.json.",
                c.disagreements - shown.len()
            );
        }
    }
    md
}

/// JUnit: one testsuite, one testcase per gate.
pub(super) fn junit(c: &Comparison) -> String {
    let failed = c.gates.iter().filter(|g| !g.passed).count();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"conformance eval --compare\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{:.3}\">\n  <testsuite name=\"compare\" tests=\"{}\" failures=\"{failed}\" errors=\"0\">\n",
        c.gates.len(),
        c.duration_ms as f64 / 1000.0,
        c.gates.len()
    );
    for g in &c.gates {
        let _ = write!(
            out,
            "    <testcase classname=\"compare\" name=\"{}\"",
            escape(g.name.as_str())
        );
        if g.passed {
            out.push_str("/>\n");
        } else {
            let _ = write!(
                out,
                ">\n      <failure message=\"{:.4} against {:.4}\"/>\n    </testcase>\n",
                g.value, g.threshold
            );
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
