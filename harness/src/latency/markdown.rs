//! A latency run as Markdown: a CI step summary.

use super::text::{ms, opt};
use super::LatencyReport;
use crate::report::md;
use std::fmt::Write as _;

/// A Markdown summary for a CI step.
pub(crate) fn render(r: &LatencyReport) -> String {
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
        } else if r.generator.bottleneck {
            "budget breached by the load generator, not the target"
        } else {
            "budget breached"
        },
        md::prose(&r.target, 300),
        r.measured_seconds,
        r.timing,
        md::prose(&r.slo, 300)
    );
    if let Some(line) = super::text::generator_line(&r.generator) {
        let _ = writeln!(out, "{line}\n");
    }
    if let Some(lag) = super::text::lag_warning(r) {
        let _ = writeln!(out, "> **Warning:** {lag}.\n");
    }
    if r.generator.bottleneck {
        let _ = writeln!(out, "> **Warning:** {}.\n", super::text::BOTTLENECK);
    }
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
