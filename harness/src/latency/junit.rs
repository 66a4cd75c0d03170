//! A latency run as JUnit XML: one testcase per budget.

use super::LatencyReport;
use quick_xml::escape::escape;
use std::fmt::Write as _;

/// JUnit XML: one testcase per budget, failed with its measured value and margin.
pub(crate) fn render(r: &LatencyReport) -> String {
    let cases: Vec<(String, String, Option<String>)> = r
        .scenarios
        .iter()
        .flat_map(|s| {
            s.budgets.iter().map(move |v| {
                (
                    s.name.clone(),
                    v.budget.clone(),
                    (!v.passed).then(|| {
                        if r.generator.bottleneck {
                            format!("{} ({})", v.line(), super::text::BOTTLENECK)
                        } else {
                            v.line()
                        }
                    }),
                )
            })
        })
        .collect();
    let mut cases = cases;
    if let Some(a) = &r.aborted {
        cases.push((
            "run".to_owned(),
            "abort-on-breach".to_owned(),
            Some(format!(
                "aborted at {:.1} s: {} could no longer hold",
                a.at_s, a.budget
            )),
        ));
    }
    if let Some(c) = &r.sweep {
        cases.push((
            "sweep".to_owned(),
            "some rate meets every budget".to_owned(),
            c.best_rate_per_s
                .is_none()
                .then(|| "no rate met every budget".to_owned()),
        ));
    }
    let failures = cases.iter().filter(|c| c.2.is_some()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"conformance latency\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        cases.len(),
        r.measured_seconds
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"latency\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        cases.len(),
        r.measured_seconds
    );
    for (scenario, budget, failure) in &cases {
        let _ = write!(
            out,
            "    <testcase classname=\"latency.{}\" name=\"{}\"",
            escape(scenario.as_str()),
            escape(budget.as_str())
        );
        match failure {
            None => out.push_str("/>\n"),
            Some(line) => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\"/>\n    </testcase>",
                    escape(line.as_str())
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
