//! A self-contained HTML page (no scripts, no external assets): the summary, shared causes,
//! and every check with its details folded in a `<details>` element.

use crate::result::{Failure, Outcome, RunResult};
use crate::text::plural;
use crate::text::{clean, clean_block};
use std::fmt::Write;

/// `text` escaped for HTML text and attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
.passed{color:#186a1c}.failed,.precondition_failed,.errored{color:#a11}.skipped{color:#777}\
pre{background:#f5f5f5;padding:.6em;white-space:pre-wrap;word-break:break-all}\
dt{font-weight:600}code{background:#f2f2f2}";

fn details(out: &mut String, f: &Failure) {
    let _ = write!(
        out,
        "<dl><dt>expected</dt><dd><code>{}</code></dd><dt>seen</dt><dd><code>{}</code></dd>",
        esc(&clean(&f.expected, 500)),
        esc(&clean(&f.seen, 500))
    );
    if let Some(hint) = &f.hint {
        let _ = write!(out, "<dt>hint</dt><dd>{}</dd>", esc(&clean(hint, 500)));
    }
    if let Some(req) = &f.request {
        let _ = write!(
            out,
            "<dt>request</dt><dd><pre>{}</pre></dd>",
            esc(&clean_block(&req.to_string(), 2400))
        );
    }
    out.push_str("</dl>");
}

fn class(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed(_) => "failed",
        Outcome::PreconditionFailed(_) => "precondition_failed",
        Outcome::Errored(_) => "errored",
        Outcome::Skipped { .. } => "skipped",
    }
}

/// The report as one HTML page.
pub fn render(result: &RunResult) -> String {
    let mut out = String::new();
    let verdict = if result.failed() { "FAILED" } else { "PASSED" };
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Conformance run {}: {verdict}</title><style>{STYLE}</style></head><body>\n",
        esc(&result.run_id)
    );
    let _ = writeln!(
        out,
        "<h1>Conformance run: <span class=\"{}\">{verdict}</span></h1>",
        if result.failed() { "failed" } else { "passed" }
    );
    let _ = writeln!(
        out,
        "<ul><li>target: <code>{}</code></li><li>run <code>{}</code>, started {}, {:.2}s</li>\
         <li>models: chat <code>{}</code>, embedding <code>{}</code>; seed {}</li><li>checks: {}</li></ul>",
        esc(&result.target),
        esc(&result.run_id),
        esc(&result.started_at),
        result.duration_ms / 1000.0,
        esc(result.chat_model.as_deref().unwrap_or("-")),
        esc(result.embedding_model.as_deref().unwrap_or("-")),
        result.seed,
        esc(&result.counts().summary())
    );
    for note in &result.notes {
        let _ = writeln!(
            out,
            "<p class=\"note\">note: {}</p>",
            esc(&clean(note, 600))
        );
    }
    for line in result.retries.lines() {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(&clean(&line, 600)));
    }
    out.push_str("<table><tr><th>profile</th><th>score</th><th>outcomes</th></tr>\n");
    for p in &result.profiles {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            p.profile.name(),
            p.percent(),
            esc(&p.counts.summary())
        );
    }
    out.push_str("</table>\n");
    if let Some(summary) = crate::root_cause::summary(&result.checks, &result.causes) {
        let _ = writeln!(out, "<h2>Causes</h2>\n<p>{}.</p>", esc(&summary));
        for (i, cause) in result.causes.iter().enumerate() {
            let root = match &cause.root {
                Some(root) => format!("<code>{}</code>: ", esc(root)),
                None => String::new(),
            };
            let _ = write!(
                out,
                "<section id=\"cause-{n}\"><h3>Cause {n}: {root}{}</h3><p>",
                plural(cause.checks.len(), "check", "checks"),
                n = i + 1
            );
            let ids: Vec<String> = cause
                .checks
                .iter()
                .map(|c| format!("<a href=\"#{0}\"><code>{0}</code></a>", esc(c)))
                .collect();
            out.push_str(&ids.join(", "));
            out.push_str("</p>");
            details(&mut out, &cause.failure);
            out.push_str("</section>\n");
        }
    }
    out.push_str("<h2>Checks</h2>\n<table><tr><th>check</th><th>profile</th><th>result</th><th>detail</th></tr>\n");
    for r in &result.checks {
        let profile = r.profile_label();
        let _ = write!(
            out,
            "<tr id=\"{}\"><td><code>{}</code><br>{}</td><td>{profile}</td><td class=\"{}\">{}</td><td>",
            esc(&r.id),
            esc(&r.id),
            esc(&r.description),
            class(&r.outcome),
            r.outcome.word()
        );
        match (&r.outcome, result.cause_of(&r.id)) {
            (Outcome::Skipped { reason }, _) => out.push_str(&esc(&clean(reason, 300))),
            (_, Some((i, _))) => {
                let _ = write!(out, "<a href=\"#cause-{n}\">cause {n}</a>", n = i + 1);
            }
            (o, None) => match o.failure() {
                Some(f) => {
                    let _ = write!(
                        out,
                        "<details><summary>{}</summary>",
                        esc(&clean(&f.seen, 160))
                    );
                    details(&mut out, f);
                    out.push_str("</details>");
                }
                None => out.push_str(&esc(&clean(r.note.as_deref().unwrap_or(""), 300))),
            },
        }
        out.push_str("</td></tr>\n");
    }
    out.push_str("</table>\n</body></html>\n");
    out
}
