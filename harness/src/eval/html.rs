//! One self-contained HTML page for an eval run (no scripts, no external assets): accuracy per
//! suite and per tag with their 95% intervals drawn as bars, the gates, and the failing cases
//! with a word diff of what was expected and what came back.

use super::stats::Interval;
use super::summary::{Score, Summary};
use crate::report::html::esc;
use crate::text::clean;
use serde_json::Value;
use std::fmt::Write;

pub(super) const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
td{max-width:36em;overflow-wrap:anywhere}\
.pass{color:#186a1c}.fail{color:#a11}\
.bar{position:relative;width:16em;height:1em;background:#eee}\
.bar .acc{position:absolute;top:0;bottom:0;left:0;background:#8bc48e}\
.bar .ci{position:absolute;top:.4em;height:.2em;background:#333}\
.bar .gate{position:absolute;top:-.2em;bottom:-.2em;width:2px;background:#a11}\
del{background:#fdd;text-decoration:line-through}ins{background:#dfd;text-decoration:none}\
code{background:#f5f5f5;white-space:pre-wrap;word-break:break-word}";

fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{:.1}%", x * 100.0))
}

pub(super) fn bar(score: &Score) -> String {
    let acc = score.accuracy.unwrap_or(0.0) * 100.0;
    let mut out = format!(
        "<div class=\"bar\" title=\"{}\"><div class=\"acc\" style=\"width:{acc:.2}%\"></div>",
        percent(score.accuracy)
    );
    if let Some(Interval { low, high }) = score.interval {
        let _ = write!(
            out,
            "<div class=\"ci\" style=\"left:{:.2}%;width:{:.2}%\"></div>",
            low * 100.0,
            (high - low) * 100.0
        );
    }
    if let Some(gate) = score.min_accuracy {
        let _ = write!(
            out,
            "<div class=\"gate\" style=\"left:{:.2}%\"></div>",
            gate * 100.0
        );
    }
    out.push_str("</div>");
    out
}

/// The scores' table; `ungraded`: with a column for cases asked with nothing to judge by.
fn rows(out: &mut String, kind: &str, scores: &[&Score], ungraded: bool) {
    let _ = write!(
        out,
        "<table><tr><th>{kind}</th><th>accuracy</th><th></th><th>95% interval</th><th>passed</th><th>failed</th><th>errored</th>{}</tr>",
        if ungraded { "<th>ungraded</th>" } else { "" }
    );
    for s in scores {
        let interval = s.interval.map_or_else(
            || "–".into(),
            |i| format!("{:.1}% – {:.1}%", i.low * 100.0, i.high * 100.0),
        );
        let _ = write!(
            out,
            "<tr class=\"score\"><td>{}</td><td>{}</td><td>{}</td><td>{interval}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            esc(&s.name),
            percent(s.accuracy),
            bar(s),
            s.counts.passed,
            s.counts.failed,
            s.counts.errored,
            if ungraded {
                format!("<td>{}</td>", s.counts.ungraded)
            } else {
                String::new()
            }
        );
    }
    out.push_str("</table>");
}

/// A word diff of `expected` against `got`: removed words struck, added words marked.
fn diff(expected: &str, got: &str) -> String {
    let mut out = String::new();
    for change in similar::TextDiff::from_words(expected, got).iter_all_changes() {
        let text = esc(change.value());
        match change.tag() {
            similar::ChangeTag::Equal => out.push_str(&text),
            similar::ChangeTag::Delete => {
                let _ = write!(out, "<del>{text}</del>");
            }
            similar::ChangeTag::Insert => {
                let _ = write!(out, "<ins>{text}</ins>");
            }
        }
    }
    out
}

/// The page.
pub fn render(summary: &Summary) -> String {
    let verdict = if summary.passed { "passed" } else { "failed" };
    let mut out = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Eval {verdict}</title><style>{STYLE}</style>\
<h1 class=\"{}\">Eval {verdict}</h1><p>{} · model <code>{}</code> · {} · {:.1} s · {} cases</p>",
        if summary.passed { "pass" } else { "fail" },
        esc(&summary.target),
        esc(&summary.model),
        esc(&summary.started_at),
        summary.duration_ms as f64 / 1000.0,
        summary.overall.counts.cases
    );
    for note in &summary.notes {
        out.push_str(&format!("<p class=\"note\">{}</p>", esc(note)));
    }
    let suites: Vec<&Score> = summary.suites.iter().chain([&summary.overall]).collect();
    let ungraded = summary.overall.counts.ungraded > 0;
    rows(&mut out, "suite", &suites, ungraded);
    if !summary.tags.is_empty() {
        rows(
            &mut out,
            "tag",
            &summary.tags.iter().collect::<Vec<_>>(),
            ungraded,
        );
    }
    if !summary.gates.is_empty() {
        out.push_str("<h2>Gates</h2><table><tr><th>gate</th><th>value</th><th>threshold</th><th>verdict</th></tr>");
        for g in &summary.gates {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{:.3}</td><td>{:.3}</td><td class=\"{}\">{}{}</td></tr>",
                esc(&g.name),
                g.value,
                g.threshold,
                if g.passed { "pass" } else { "fail" },
                if g.passed { "pass" } else { "fail" },
                if g.within_noise {
                    " (within noise)"
                } else {
                    ""
                }
            );
        }
        out.push_str("</table>");
    }
    if let Some(c) = &summary.baseline {
        let _ = write!(
            out,
            "<h2>Against the baseline</h2><p>{}: {} fixed, {} broke, {} same; exact McNemar p = {:.4}{}</p>",
            esc(&c.baseline),
            c.fixed,
            c.broke,
            c.same_passed + c.same_failed,
            c.p_value,
            if c.regression { " — a significant regression" } else { "" }
        );
        for (what, cases, n) in [
            ("Broke", &c.broke_cases, c.broke),
            ("Fixed", &c.fixed_cases, c.fixed),
        ] {
            if let Some(line) =
                super::text::case_list(cases, n, |t| format!("<code>{}</code>", esc(t)))
            {
                let _ = write!(out, "<p>{what}: {line}</p>");
            }
        }
    }
    if !summary.failures.is_empty() {
        out.push_str("<h2>Failing cases</h2><table><tr><th>case</th><th>outcome</th><th>expected → got</th><th>why</th></tr>");
        for f in &summary.failures {
            let expected = match &f.expected {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            let _ = write!(
                out,
                "<tr class=\"failure\"><td>{}<br><small>{}</small></td><td class=\"fail\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&f.case),
                esc(&f.origin),
                f.outcome.name(),
                // An errored case has no answer to compare: its error is in "why".
                if f.outcome == super::runner::CaseOutcome::Errored {
                    format!("{} → <em>no answer</em>", esc(&clean(&expected, 2000)))
                } else {
                    diff(&clean(&expected, 2000), &clean(&f.got, 2000))
                },
                esc(&clean(&f.reason, 500))
            );
        }
        out.push_str("</table>");
    }
    out.push_str("</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_marks_removed_and_added_words() {
        assert_eq!(
            diff("You said: hello", "You said: goodbye"),
            "You said: <del>hello</del><ins>goodbye</ins>"
        );
        assert_eq!(diff("<a>", "<a>"), "&lt;a&gt;");
    }
}
