//! One self-contained HTML page for a comparison (no scripts, no external assets): each
//! target's accuracy with its interval, latency and tokens; the pairwise tests; the gates; and
//! the per-case matrix of answers side by side, the cases whose outcomes differ first.

use super::super::html::{bar, STYLE};
use super::super::runner::CaseOutcome;
use super::{render, Comparison, Row};
use crate::report::html::esc;
use std::fmt::Write as _;

/// The matrix's own colours: one per outcome.
const MATRIX_STYLE: &str = ".matrix td{vertical-align:top;font-size:13px}\
.matrix td.passed{background:#e3f4e4}.matrix td.failed{background:#fbe3e3}\
.matrix td.errored{background:#fdf0d5}.matrix td.ungraded{background:#eef0f4}\
.matrix tr.split td{background:#fafafa;font-weight:600}\
.matrix .outcome{font-weight:600;display:block}.matrix small{color:#555;display:block}";

fn outcome_class(o: CaseOutcome) -> &'static str {
    o.name()
}

/// The page.
pub(super) fn render(c: &Comparison) -> String {
    let verdict = if c.passed { "passed" } else { "failed" };
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Eval comparison {verdict}</title><style>{STYLE}{MATRIX_STYLE}</style>\
<h1 class=\"{}\">Eval comparison {verdict}</h1><p>{} targets · {} cases · {} · {:.1} s</p>",
        if c.passed { "pass" } else { "fail" },
        c.targets.len(),
        c.cases,
        esc(&c.started_at),
        c.duration_ms as f64 / 1000.0
    );
    for note in &c.notes {
        let _ = write!(out, "<p class=\"note\">{}</p>", esc(note));
    }
    out.push_str("<table class=\"targets\"><tr><th>target</th><th>accuracy</th><th></th><th>95% interval</th><th>passed</th><th>failed</th><th>errored</th><th>ungraded</th><th>p50 / p95</th><th>tokens in / out</th></tr>");
    for s in &c.targets {
        let o = &s.overall.counts;
        let interval = s.overall.interval.map_or_else(
            || "–".into(),
            |i| format!("{:.1}% – {:.1}%", i.low * 100.0, i.high * 100.0),
        );
        let _ = write!(
            out,
            "<tr class=\"target\"><td>{}<br><small>{} · model <code>{}</code></small></td><td>{}</td><td>{}</td><td>{interval}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            esc(&s.target),
            esc(&s.model),
            s.overall
                .accuracy
                .map_or_else(|| "–".into(), |a| format!("{:.1}%", a * 100.0)),
            bar(&s.overall),
            o.passed,
            o.failed,
            o.errored,
            o.ungraded,
            match (s.latency_p50_ms, s.latency_p95_ms) {
                (Some(a), Some(b)) => format!("{a} / {b} ms"),
                _ => "–".into(),
            },
            if s.answers_with_usage == 0 {
                "–".into()
            } else {
                format!("{} / {}", s.input_tokens, s.output_tokens)
            }
        );
    }
    out.push_str("</table><h2>Pairs</h2><table class=\"pairs\"><tr><th>pair</th><th>only first passed</th><th>only second passed</th><th>cases</th><th>exact McNemar p</th><th>verdict</th></tr>");
    for p in &c.pairs {
        let _ = write!(
            out,
            "<tr class=\"pair\"><td>{} vs {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            esc(&p.a),
            esc(&p.b),
            p.only_a,
            p.only_b,
            p.compared,
            render::p_value(p.p_value),
            if p.significant { "pass" } else { "" },
            esc(&render::verdict(p))
        );
    }
    out.push_str("</table>");
    if !c.gates.is_empty() {
        out.push_str("<h2>Gates</h2><table><tr><th>gate</th><th>value</th><th>threshold</th><th>verdict</th></tr>");
        for g in &c.gates {
            let word = if g.passed { "pass" } else { "fail" };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td class=\"{word}\">{word}</td></tr>",
                esc(&g.name),
                g.value,
                g.threshold
            );
        }
        out.push_str("</table>");
    }
    let _ = write!(
        out,
        "<h2>Cases</h2><p>{} of {} cases ended differently between targets; they come first.{}</p><table class=\"matrix\"><tr><th>case</th><th>expected</th>",
        c.disagreements,
        c.cases,
        if c.matrix.len() < c.cases {
            format!(
                " The first {} rows are shown; every answer is in each target's results.jsonl.",
                c.matrix.len()
            )
        } else {
            String::new()
        }
    );
    for t in &c.targets {
        let _ = write!(out, "<th>{}</th>", esc(&t.name));
    }
    out.push_str("</tr>");
    let mut agreeing_started = false;
    for row in &c.matrix {
        if !row.disagree && !agreeing_started {
            agreeing_started = true;
            let _ = write!(
                out,
                "<tr class=\"split\"><td colspan=\"{}\">Cases every target ended alike</td></tr>",
                c.targets.len() + 2
            );
        }
        matrix_row(&mut out, row);
    }
    out.push_str("</table></html>\n");
    out
}

fn matrix_row(out: &mut String, row: &Row) {
    let _ = write!(
        out,
        "<tr class=\"case{}\"><td>{}<br><small>{}</small></td><td><code>{}</code></td>",
        if row.disagree { " disagree" } else { "" },
        esc(&row.case),
        esc(&row.origin),
        esc(&row.expected)
    );
    for cell in &row.cells {
        match cell {
            Some(cell) => {
                let _ = write!(
                    out,
                    "<td class=\"{}\"><span class=\"outcome\">{}</span><code>{}</code>{}</td>",
                    outcome_class(cell.outcome),
                    cell.outcome.name(),
                    esc(&cell.answer),
                    if cell.reason.is_empty() {
                        String::new()
                    } else {
                        format!("<small>{}</small>", esc(&cell.reason))
                    }
                );
            }
            None => out.push_str("<td><em>not asked</em></td>"),
        }
    }
    out.push_str("</tr>");
}
