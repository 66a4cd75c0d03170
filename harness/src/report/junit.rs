//! JUnit XML: one testsuite per area, one testcase per check. A failed precondition is a
//! `<failure type="precondition">`, a transport error an `<error>`.

use crate::result::{Counts, Failure, Outcome, RunResult};
use crate::text::clean_block;
use quick_xml::escape::escape;
use std::fmt::Write;

fn body(f: &Failure) -> String {
    let mut body = format!("expected: {}\nseen: {}", f.expected, f.seen);
    if let Some(req) = &f.request {
        let _ = write!(body, "\nrequest: {req}");
    }
    if let Some(hint) = &f.hint {
        let _ = write!(body, "\nhint: {hint}");
    }
    clean_block(&body, 8000)
}

fn suite_attrs(c: &Counts) -> String {
    format!(
        "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"",
        c.total(),
        c.failed + c.precondition_failed,
        c.errored,
        c.skipped
    )
}

/// The report as JUnit XML.
pub fn render(result: &RunResult) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"conformance\" {} time=\"{:.3}\">",
        suite_attrs(&result.counts()),
        result.duration_ms / 1000.0
    );
    let mut areas: Vec<&str> = Vec::new();
    for r in &result.checks {
        if !areas.contains(&r.area.as_str()) {
            areas.push(&r.area);
        }
    }
    for area in areas {
        let cases: Vec<_> = result.checks.iter().filter(|r| r.area == area).collect();
        let mut counts = Counts::default();
        cases.iter().for_each(|r| counts.add(&r.outcome));
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" {}>",
            escape(area),
            suite_attrs(&counts)
        );
        for r in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(area),
                escape(&r.id),
                r.duration_ms / 1000.0
            );
            let (element, kind, f) = match &r.outcome {
                Outcome::Passed => {
                    out.push_str("/>\n");
                    continue;
                }
                Outcome::Skipped { reason } => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(clean_block(reason, 2000))
                    );
                    continue;
                }
                Outcome::Failed(f) => ("failure", "assertion", f),
                Outcome::PreconditionFailed(f) => ("failure", "precondition", f),
                Outcome::Errored(f) => ("error", "transport", f),
            };
            let message = match kind {
                "precondition" => format!("could not run: needed {}", f.expected),
                _ => format!("expected {}", f.expected),
            };
            let _ = writeln!(
                out,
                ">\n      <{element} type=\"{kind}\" message=\"{}\">{}</{element}>\n    </testcase>",
                escape(clean_block(&message, 500)),
                escape(body(f))
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
