//! JUnit XML: one testsuite per area, one testcase per check.

use crate::run::{RunResult, Status};
use quick_xml::escape::escape;
use std::fmt::Write;

/// The report as JUnit XML.
pub fn render(result: &RunResult) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (passed, failed, skipped) = result.counts();
    let _ = writeln!(
        out,
        "<testsuites name=\"conformance\" tests=\"{}\" failures=\"{failed}\" skipped=\"{skipped}\" time=\"{:.3}\">",
        passed + failed + skipped,
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
        let fails = cases
            .iter()
            .filter(|r| matches!(r.status, Status::Failed(_)))
            .count();
        let skips = cases
            .iter()
            .filter(|r| matches!(r.status, Status::Skipped { .. }))
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" skipped=\"{skips}\">",
            escape(area),
            cases.len()
        );
        for r in cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(area),
                escape(&r.id),
                r.duration_ms / 1000.0
            );
            match &r.status {
                Status::Passed => out.push_str("/>\n"),
                Status::Skipped { reason } => {
                    let _ = writeln!(
                        out,
                        ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                        escape(reason)
                    );
                }
                Status::Failed(f) => {
                    let mut body = format!("expected: {}\nseen: {}", f.expected, f.seen);
                    if let Some(req) = &f.request {
                        let _ = write!(body, "\nrequest: {req}");
                    }
                    if let Some(hint) = &f.hint {
                        let _ = write!(body, "\nhint: {hint}");
                    }
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        escape(format!("expected {}", f.expected)),
                        escape(&body)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
