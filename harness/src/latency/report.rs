//! A latency run as text (the terminal table), Markdown (a CI step summary) and JUnit (one
//! testcase per budget).

use super::stats::Dist;
use super::LatencyReport;
use quick_xml::escape::escape;
use std::fmt::Write as _;

fn ms(d: Option<&Dist>, pick: fn(&Dist) -> f64) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.1}", pick(d)))
}

/// The table printed at the end of a run.
pub fn to_text(r: &LatencyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "latency against {} ({:.1} s measured after {:.1} s warm-up; {})",
        r.target, r.measured_seconds, r.warmup_seconds, r.timing
    );
    let _ = writeln!(
        out,
        "{:<16} {:>8} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8}",
        "scenario",
        "requests",
        "errors",
        "ok/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "ttft p50",
        "ttft p95",
        "itl p50"
    );
    for s in &r.scenarios {
        let _ = writeln!(
            out,
            "{:<16} {:>8} {:>6.2}% {:>9.1} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8}",
            s.name,
            s.requests,
            s.error_rate * 100.0,
            s.throughput_per_s,
            ms(s.latency.as_ref(), |d| d.p50_ms),
            ms(s.latency.as_ref(), |d| d.p95_ms),
            ms(s.latency.as_ref(), |d| d.p99_ms),
            ms(s.latency.as_ref(), |d| d.max_ms),
            ms(s.ttft.as_ref(), |d| d.p50_ms),
            ms(s.ttft.as_ref(), |d| d.p95_ms),
            ms(s.itl.as_ref(), |d| d.p50_ms),
        );
    }
    for s in &r.scenarios {
        for (kind, n) in &s.errors_by_kind {
            let _ = writeln!(out, "  {}: {n} x {kind}", s.name);
        }
        if let Some(from) = s.output_tokens_from {
            let _ = writeln!(
                out,
                "  {}: TPOT from output tokens counted by {from}",
                s.name
            );
        }
    }
    if let Some(lag) = r.generator_lag.as_ref().filter(|l| l.late > 0) {
        let _ = writeln!(
            out,
            "warning: the load generator fell behind its schedule: {} requests sent over 2 ms late (p99 {:.1} ms, max {:.1} ms); their waits are counted in the latencies",
            lag.late, lag.p99_ms, lag.max_ms
        );
    }
    if let Some(b) = &r.baseline {
        let _ = writeln!(out, "against baseline {}:", b.run_id);
        for s in &b.scenarios {
            let line: Vec<String> = s
                .changes
                .iter()
                .map(|c| format!("{} {:+.1} ms ({:+.1}%)", c.measure, c.delta_ms, c.delta_pct))
                .collect();
            let _ = writeln!(out, "  {}: {}", s.name, line.join(", "));
        }
        for name in &b.new {
            let _ = writeln!(out, "  {name}: not in the baseline");
        }
    }
    let _ = writeln!(out, "budgets:");
    for s in &r.scenarios {
        for v in &s.budgets {
            let mark = if v.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  {mark} {}: {}", s.name, v.line());
        }
    }
    let breaches = r.breaches().len();
    let _ = writeln!(
        out,
        "verdict: {}",
        if breaches == 0 {
            "every budget met".to_owned()
        } else {
            format!("{breaches} budget(s) breached")
        }
    );
    out
}

/// A Markdown summary for a CI step.
pub fn to_markdown(r: &LatencyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Latency: {}\n\n{} · {:.1} s measured · {}\n",
        if r.passed {
            "every budget met"
        } else {
            "budget breached"
        },
        r.target,
        r.measured_seconds,
        r.timing
    );
    let _ = writeln!(
        out,
        "| scenario | requests | errors | ok/s | p50 ms | p95 ms | p99 ms | max ms | TTFT p95 ms | ITL p50 ms |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in &r.scenarios {
        let _ = writeln!(
            out,
            "| {} | {} | {:.2}% | {:.1} | {} | {} | {} | {} | {} | {} |",
            s.name,
            s.requests,
            s.error_rate * 100.0,
            s.throughput_per_s,
            ms(s.latency.as_ref(), |d| d.p50_ms),
            ms(s.latency.as_ref(), |d| d.p95_ms),
            ms(s.latency.as_ref(), |d| d.p99_ms),
            ms(s.latency.as_ref(), |d| d.max_ms),
            ms(s.ttft.as_ref(), |d| d.p95_ms),
            ms(s.itl.as_ref(), |d| d.p50_ms),
        );
    }
    let _ = writeln!(out, "\n| | budget | measured |\n|---|---|---|");
    for s in &r.scenarios {
        for v in &s.budgets {
            let _ = writeln!(
                out,
                "| {} | {}: `{}` | {} |",
                if v.passed { "✅" } else { "❌" },
                s.name,
                v.budget,
                v.line().split_once(": ").map_or("", |(_, rest)| rest)
            );
        }
    }
    out
}

/// JUnit XML: one testcase per budget, failed with its measured value and margin.
pub fn to_junit(r: &LatencyReport) -> String {
    let cases: Vec<(String, String, Option<String>)> = r
        .scenarios
        .iter()
        .flat_map(|s| {
            s.budgets.iter().map(move |v| {
                (
                    s.name.clone(),
                    v.budget.clone(),
                    (!v.passed).then(|| v.line()),
                )
            })
        })
        .collect();
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
