//! A latency run as text (the terminal table), Markdown (a CI step summary) and JUnit (one
//! testcase per budget).

use super::stats::Dist;
use super::LatencyReport;
use crate::report::md;
use quick_xml::escape::escape;
use std::fmt::Write as _;

fn opt(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.1}"))
}

fn ms(d: Option<&Dist>, pick: fn(&Dist) -> f64) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.1}", pick(d)))
}

/// The table printed at the end of a run.
pub fn to_text(r: &LatencyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "latency against {} ({:.1} s measured after {:.1} s warm-up; {})\nSLO: {}",
        r.target,
        r.measured_seconds,
        r.warmup_seconds,
        r.timing,
        crate::text::clean(&r.slo, 300)
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
        if let Some(limited) = s.rate_limited() {
            let _ = writeln!(out, "  {}: {limited}", s.name);
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
                .map(|c| {
                    format!(
                        "{} {:+.1} ms ({:+.1}%){}",
                        c.measure,
                        c.delta_ms,
                        c.delta_pct,
                        change_mark(c)
                    )
                })
                .collect();
            let _ = writeln!(out, "  {}: {}", s.name, line.join(", "));
        }
        for name in &b.new {
            let _ = writeln!(out, "  {name}: not in the baseline");
        }
        if let Some(t) = b.threshold_pct {
            let _ = match b.regressions.len() {
                0 => writeln!(out, "  no percentile regressed past {t:.0}% (--fail-on-regression)"),
                n => writeln!(
                    out,
                    "  {n} percentile(s) regressed past {t:.0}%, beyond the noise (--fail-on-regression)"
                ),
            };
        }
    }
    if let Some(c) = &r.sweep {
        let _ = writeln!(out, "sweep ({}):", c.mode);
        for p in &c.points {
            let _ = writeln!(
                out,
                "  {:>9.1}/s  ok {:>9.1}/s  errors {:>6.2}%{}  p50 {:>8} ms  p95 {:>8} ms  p99 {:>8} ms  {}",
                p.rate_per_s,
                p.throughput_per_s,
                p.error_rate * 100.0,
                p.limiter(false).map_or(String::new(), |l| format!(" ({l})")),
                opt(p.p50_ms),
                opt(p.p95_ms),
                opt(p.p99_ms),
                if p.passed { "met".to_owned() } else { p.breaches.join("; ") }
            );
        }
        for line in c.points.iter().filter_map(|p| p.limiter(true)) {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(
            out,
            "  highest rate that met every budget: {}",
            c.best_rate_per_s.map_or("none".to_owned(), |r| format!(
                "{r:.1}/s (its run is reported above)"
            ))
        );
    }
    if let Some(sp) = &r.repeats {
        let _ = writeln!(
            out,
            "spread over {} runs (min / mean / max, stdev):",
            sp.runs
        );
        for s in &sp.scenarios {
            for m in &s.measures {
                let _ = writeln!(
                    out,
                    "  {}: {} {:.1} / {:.1} / {:.1} ms (sd {:.1})",
                    s.name, m.measure, m.min_ms, m.mean_ms, m.max_ms, m.stdev_ms
                );
            }
            for b in s.budgets.iter().filter(|b| b.within_spread) {
                let _ = writeln!(
                    out,
                    "  {}: {}: the runs fall on both sides of the bound ({} of {} met it): within the noise",
                    s.name,
                    b.budget,
                    b.passed.iter().filter(|p| **p).count(),
                    b.passed.len()
                );
            }
        }
    }
    if let Some(a) = &r.aborted {
        let _ = writeln!(
            out,
            "aborted at {:.1} s: {} could no longer hold (--abort-on-breach)",
            a.at_s, a.budget
        );
    }
    let _ = writeln!(out, "budgets:");
    for s in &r.scenarios {
        for v in &s.budgets {
            let mark = if v.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(out, "  {mark} {}: {}", s.name, v.line());
        }
    }
    let breaches = r.breaches().len();
    let verdict = match (&r.sweep, &r.aborted) {
        (Some(c), _) => match c.best_rate_per_s {
            Some(rate) => format!("every budget met up to {rate:.1}/s"),
            None => "no rate met every budget".to_owned(),
        },
        (None, Some(a)) => format!("aborted: {} breached", a.budget),
        (None, None) if breaches == 0 => "every budget met".to_owned(),
        (None, None) => {
            let regressed = r.baseline.as_ref().map_or(0, |b| b.regressions.len());
            match (breaches - regressed, regressed) {
                (0, n) => format!("{n} percentile(s) regressed against the baseline"),
                (b, 0) => format!("{b} budget(s) breached"),
                (b, n) => format!("{b} budget(s) breached, {n} percentile(s) regressed"),
            }
        }
    };
    let limited = r.scenarios.iter().any(|s| s.rate_limited().is_some())
        || r.sweep
            .iter()
            .flat_map(|c| &c.points)
            .any(|p| p.limiter(false).is_some());
    let _ = writeln!(
        out,
        "verdict: {verdict}{}",
        if limited {
            " (mostly 429s: the target's rate limiter was measured)"
        } else {
            ""
        }
    );
    out
}

/// How a change is marked: a regression, or a growth the noise may explain.
pub(crate) fn change_mark(c: &super::baseline::PercentileChange) -> &'static str {
    if c.regressed {
        " REGRESSED"
    } else if c.within_noise {
        " (within the noise)"
    } else {
        ""
    }
}

/// A Markdown summary for a CI step.
pub fn to_markdown(r: &LatencyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## Latency: {}\n\n{} · {:.1} s measured · {} · SLO: {}\n",
        if r.passed {
            "every budget met"
        } else if r
            .baseline
            .as_ref()
            .is_some_and(|b| !b.regressions.is_empty())
            && r.breaches().iter().all(|b| b.starts_with("regressed: "))
        {
            "regressed against the baseline"
        } else {
            "budget breached"
        },
        md::prose(&r.target, 300),
        r.measured_seconds,
        r.timing,
        md::prose(&r.slo, 300)
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
            md::cell(&s.name, 120),
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
    for s in &r.scenarios {
        if let Some(limited) = s.rate_limited() {
            let _ = writeln!(out, "\n**{}:** {}", md::prose(&s.name, 120), limited);
        }
    }
    if let Some(b) = r.baseline.as_ref().filter(|b| !b.regressions.is_empty()) {
        let _ = writeln!(
            out,
            "\n**Regressed against baseline {}** (past {:.0}%, beyond the noise):\n",
            md::code(&b.run_id, 80),
            b.threshold_pct.unwrap_or_default()
        );
        for line in &b.regressions {
            let _ = writeln!(out, "- {}", md::prose(line, 300));
        }
    }
    if let Some(a) = &r.aborted {
        let _ = writeln!(
            out,
            "\n**Aborted at {:.1} s:** `{}` could no longer hold.",
            a.at_s, a.budget
        );
    }
    if let Some(c) = &r.sweep {
        let _ = writeln!(
            out,
            "\n**Sweep ({}):** highest rate that met every budget: {}\n\n| rate/s | ok/s | errors | p50 ms | p95 ms | p99 ms | |\n|---:|---:|---:|---:|---:|---:|---|",
            c.mode,
            c.best_rate_per_s.map_or("none".to_owned(), |r| format!("{r:.1}/s"))
        );
        for p in &c.points {
            let _ = writeln!(
                out,
                "| {:.1} | {:.1} | {:.2}%{} | {} | {} | {} | {} |",
                p.rate_per_s,
                p.throughput_per_s,
                p.error_rate * 100.0,
                p.limiter(false)
                    .map_or(String::new(), |l| format!(" ({l})")),
                opt(p.p50_ms),
                opt(p.p95_ms),
                opt(p.p99_ms),
                if p.passed { "✅" } else { "❌" }
            );
        }
    }
    if let Some(sp) = &r.repeats {
        let _ = writeln!(
            out,
            "\n**Spread over {} runs**\n\n| scenario | measure | min ms | mean ms | max ms | sd ms |\n|---|---|---:|---:|---:|---:|",
            sp.runs
        );
        for s in &sp.scenarios {
            for m in &s.measures {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    md::cell(&s.name, 120),
                    m.measure,
                    m.min_ms,
                    m.mean_ms,
                    m.max_ms,
                    m.stdev_ms
                );
            }
        }
    }
    let _ = writeln!(out, "\n| | budget | measured |\n|---|---|---|");
    for s in &r.scenarios {
        for v in &s.budgets {
            let noisy = r
                .repeats
                .as_ref()
                .and_then(|sp| sp.scenarios.iter().find(|x| x.name == s.name))
                .and_then(|x| x.budgets.iter().find(|b| b.budget == v.budget))
                .is_some_and(|b| b.within_spread);
            let _ = writeln!(
                out,
                "| {} | {}: {} | {}{} |",
                if v.passed { "✅" } else { "❌" },
                md::cell(&s.name, 120),
                md::code_cell(&v.budget, 200),
                md::cell(v.line().split_once(": ").map_or("", |(_, rest)| rest), 300),
                if noisy {
                    " (within the spread of the runs)"
                } else {
                    ""
                }
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
