//! A latency run as text: the table printed at the end of a run.

use super::stats::Dist;
use super::LatencyReport;
use std::fmt::Write as _;

pub(super) fn opt(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.1}"))
}

pub(super) fn ms(d: Option<&Dist>, pick: fn(&Dist) -> f64) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.1}", pick(d)))
}

/// The table printed at the end of a run.
pub(crate) fn render(r: &LatencyReport) -> String {
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
    if let Some(n) = r.merged_segments {
        let _ = writeln!(
            out,
            "merged from {n} segments of one schedule: histograms added, budgets judged on all their samples"
        );
    }
    if let Some(segment) = &r.segment {
        let _ = writeln!(
            out,
            "segment {segment} of a split run: this worker's share only"
        );
    }
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
    if let Some(line) = generator_line(&r.generator) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(lag) = lag_warning(r) {
        let _ = writeln!(out, "warning: {lag}");
    }
    if r.generator.bottleneck {
        let _ = writeln!(out, "warning: {}", BOTTLENECK);
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
        } else if r.generator.bottleneck && !r.passed {
            " (by the load generator, not the target: see the warning above)"
        } else {
            ""
        }
    );
    out
}

/// What the report says when the generator sent requests late, if it did.
pub(super) fn lag_warning(r: &LatencyReport) -> Option<String> {
    let lag = r.generator_lag.as_ref().filter(|l| l.late > 0)?;
    Some(format!(
        "the load generator fell behind its schedule: {} requests sent over 2 ms late (p99 {:.1} ms, max {:.1} ms); their waits are counted in the latencies",
        lag.late, lag.p99_ms, lag.max_ms
    ))
}

/// What the report says when the generator set the pace.
pub(super) const BOTTLENECK: &str = "the load generator, not the target, was the bottleneck: it kept its CPU busy and still sent requests late, so these latencies are the generator's. Lower the rate, give the generator more cores, or split the load across machines";

/// `generator: 41.2 µs of CPU per request, 48% of 1 core`, where the OS gives the CPU time.
pub(super) fn generator_line(g: &super::Generator) -> Option<String> {
    let per = g.cpu_us_per_request?;
    let busy = g.busy_share?;
    Some(format!(
        "generator: {per:.1} µs of CPU per request, {:.0}% of {}{}",
        busy * 100.0,
        kit_formats::plural(g.cores, "core", "cores"),
        if g.shares_process_with_target {
            " (this process also serves the embedded target)"
        } else {
            ""
        }
    ))
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
