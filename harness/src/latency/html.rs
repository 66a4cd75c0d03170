//! The latency report as one self-contained HTML page (no scripts, no external assets): the
//! verdict, the budgets, and per scenario the latency histogram, its percentile curve and
//! latency over time as inline SVG; for a sweep the throughput/latency curve, for a repeat
//! the spread of every percentile.

use super::slo::{Budget, Measure, Op, Series, Stat};
use super::stats::Dist;
use super::svg::{self, Axis, Line, Rule};
use super::{LatencyReport, ScenarioReport};
use crate::report::html::{esc, STYLE};
use std::fmt::Write as _;

const PLOT_STYLE: &str = ".plot{display:block;margin:.6em 0;max-width:100%;height:auto}\
.plot .title{font-weight:600;font-size:13px}.plot .tick,.plot .legend{font-size:11px;fill:#444}\
.plot .label{font-size:12px;fill:#222}.plot .area{fill:#fff;stroke:#999}.plot .grid{stroke:#eee}\
.plot .line{fill:none;stroke-width:1.6}.plot .bar{fill:#4a78b5}.plot .rule{stroke:#c62;stroke-dasharray:5 4}\
.plot .rule-label{font-size:11px;fill:#c62}.plot .shade{fill:#f1f1f1}\
.plot .point.passed{fill:#186a1c}.plot .point.failed{fill:#a11}.plots{display:flex;flex-wrap:wrap;gap:0 1em}\
td.num{text-align:right;font-variant-numeric:tabular-nums}";

/// The time budgets on `series` that cap it from above, as rules at their limit (ms).
fn rules(s: &ScenarioReport, series: Series) -> Vec<Rule> {
    s.budgets
        .iter()
        .filter_map(|v| Budget::parse(&v.budget).ok())
        .filter(|b| matches!(b.op, Op::Le | Op::Lt))
        .filter_map(|b| match b.measure {
            Measure::Time(on, Stat::Percentile(_) | Stat::Max) if on == series => Some(Rule {
                y: b.limit * 1000.0,
                label: b.text.clone(),
            }),
            _ => None,
        })
        .collect()
}

fn dist_row(out: &mut String, name: &str, d: Option<&Dist>) {
    let Some(d) = d else { return };
    let _ = write!(out, "<tr><td>{name}</td><td class=\"num\">{}</td>", d.count);
    for v in [
        d.min_ms, d.p50_ms, d.p90_ms, d.p95_ms, d.p99_ms, d.p999_ms, d.max_ms, d.mean_ms,
    ] {
        let _ = write!(out, "<td class=\"num\">{v:.2}</td>");
    }
    out.push_str("</tr>\n");
}

/// The x positions of a percentile curve: "nines", so 90, 99 and 99.9 are equally apart.
fn nines(p: f64) -> f64 {
    if p >= 100.0 {
        4.5
    } else {
        -(1.0 - p / 100.0).log10()
    }
}

fn scenario(out: &mut String, r: &LatencyReport, s: &ScenarioReport) {
    let _ = writeln!(
        out,
        "<section class=\"scenario\"><h2>{} <small><code>POST {}</code>{}</small></h2>",
        esc(&s.name),
        esc(&s.endpoint),
        if s.stream { " (stream)" } else { "" }
    );
    let _ = writeln!(
        out,
        "<p>{} requests, {} failed ({:.2}%), {:.1} ok/s, goodput {:.1}/s, {} more in the warm-up.</p>",
        s.requests,
        s.errors,
        s.error_rate * 100.0,
        s.throughput_per_s,
        s.goodput_per_s,
        s.warmup_requests
    );
    out.push_str("<table><tr><th>ms</th><th>count</th><th>min</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>mean</th></tr>\n");
    dist_row(out, "latency", s.latency.as_ref());
    dist_row(out, "TTFT", s.ttft.as_ref());
    dist_row(out, "ITL", s.itl.as_ref());
    dist_row(out, "TPOT", s.tpot.as_ref());
    out.push_str("</table>\n");
    if !s.errors_by_kind.is_empty() {
        out.push_str("<ul class=\"errors\">");
        for (kind, n) in &s.errors_by_kind {
            let _ = write!(out, "<li>{n} × {}</li>", esc(kind));
        }
        out.push_str("</ul>\n");
    }
    if let Some(limited) = s.rate_limited() {
        let _ = writeln!(
            out,
            "<p class=\"errors\"><strong>{}</strong></p>",
            esc(&limited)
        );
    }
    out.push_str("<div class=\"plots\">");
    for (name, series, shape) in [
        ("latency", Series::Latency, &s.plots.latency),
        ("TTFT", Series::Ttft, &s.plots.ttft),
    ] {
        let Some(shape) = shape else { continue };
        let budgets = rules(s, series);
        out.push_str(&svg::bars(
            &format!("{name}: histogram"),
            &Axis::log(&format!("{name} (ms, log scale)")),
            &Axis::linear("requests"),
            &shape.bins,
            &budgets,
        ));
        let ticks = [
            (0.0, "0%"),
            (1.0, "90%"),
            (2.0, "99%"),
            (3.0, "99.9%"),
            (4.0, "99.99%"),
        ]
        .iter()
        .map(|(x, l)| (*x, (*l).to_owned()))
        .chain([(4.5, "max".to_owned())])
        .collect();
        let x = Axis {
            ticks: Some(ticks),
            ..Axis::linear("percentile")
        };
        out.push_str(&svg::lines(
            &format!("{name}: percentiles"),
            &x,
            &Axis::log(&format!("{name} (ms)")),
            &[Line {
                name: name.to_owned(),
                points: shape
                    .percentiles
                    .iter()
                    .map(|p| (nines(p[0]), Some(p[1])))
                    .collect(),
                color: "#4a78b5",
                verdicts: None,
            }],
            &budgets,
            None,
        ));
    }
    let t = &s.plots.timeline;
    if !t.is_empty() {
        let at = |p: &super::shape::TimePoint| p.t_s + p.width_s / 2.0;
        let series = |name: &str, color, pick: fn(&super::shape::TimePoint) -> Option<f64>| Line {
            name: name.to_owned(),
            // A bucket without answers has no latency: the line joins its neighbours (the
            // plot of requests below shows the gap).
            points: t
                .iter()
                .filter(|p| pick(p).is_some())
                .map(|p| (at(p), pick(p)))
                .collect(),
            color,
            verdicts: None,
        };
        let warm = Some(r.warmup_seconds);
        out.push_str(&svg::lines(
            "latency over time (by when each request was sent)",
            &Axis::linear("seconds from the start"),
            &Axis::log("latency (ms, log scale)"),
            &[
                series("p50", "#4a78b5", |p| p.p50_ms),
                series("p95", "#d08a2b", |p| p.p95_ms),
                series("max", "#a11", |p| p.max_ms),
            ],
            &rules(s, Series::Latency),
            warm,
        ));
        out.push_str(&svg::lines(
            "requests over time",
            &Axis::linear("seconds from the start"),
            &Axis::linear("per second"),
            &[
                series("ok/s", "#186a1c", |p| {
                    Some((p.requests - p.errors) as f64 / p.width_s)
                }),
                series("errors/s", "#a11", |p| Some(p.errors as f64 / p.width_s)),
            ],
            &[],
            warm,
        ));
    }
    out.push_str("</div></section>\n");
}

fn sweep(out: &mut String, c: &super::sweep::Curve) {
    let _ = writeln!(
        out,
        "<section class=\"sweep\"><h2>Sweep ({})</h2><p>{}</p>",
        c.mode,
        match c.best_rate_per_s {
            Some(r) => format!("The highest rate that met every budget: <b>{r:.1}/s</b>."),
            None => "<b class=\"failed\">No rate met every budget.</b>".to_owned(),
        }
    );
    // The curve is drawn in rate order; a search tries rates out of order.
    let mut points: Vec<&super::sweep::Point> = c.points.iter().collect();
    points.sort_by(|a, b| a.rate_per_s.total_cmp(&b.rate_per_s));
    let verdicts: Vec<bool> = points.iter().map(|p| p.passed).collect();
    let line =
        |name: &str, color, pick: fn(&super::sweep::Point) -> Option<f64>, marks: bool| Line {
            name: name.to_owned(),
            points: points.iter().map(|p| (p.rate_per_s, pick(p))).collect(),
            color,
            verdicts: marks.then(|| verdicts.clone()),
        };
    out.push_str("<div class=\"plots\">");
    out.push_str(&svg::lines(
        "latency against offered rate",
        &Axis::linear("offered rate (requests/s)"),
        &Axis::linear("latency (ms)"),
        &[
            line("p50", "#4a78b5", |p| p.p50_ms, false),
            line("p95", "#d08a2b", |p| p.p95_ms, true),
            line("p99", "#a11", |p| p.p99_ms, false),
        ],
        &[],
        None,
    ));
    out.push_str(&svg::lines(
        "throughput against offered rate",
        &Axis::linear("offered rate (requests/s)"),
        &Axis::linear("requests/s"),
        &[
            line("offered", "#999", |p| Some(p.rate_per_s), false),
            line("ok/s", "#186a1c", |p| Some(p.throughput_per_s), true),
        ],
        &[],
        None,
    ));
    out.push_str("</div>\n<table><tr><th>rate/s</th><th>ok/s</th><th>errors</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>verdict</th></tr>\n");
    let ms = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
    for p in &c.points {
        let _ = writeln!(
            out,
            "<tr class=\"step\"><td class=\"num\">{:.1}</td><td class=\"num\">{:.1}</td><td class=\"num\">{:.2}%{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
            p.rate_per_s,
            p.throughput_per_s,
            p.error_rate * 100.0,
            p.limiter(false).map_or(String::new(), |l| format!(" ({})", esc(&l))),
            ms(p.p50_ms),
            ms(p.p95_ms),
            ms(p.p99_ms),
            if p.passed { "passed" } else { "failed" },
            if p.passed {
                "met".to_owned()
            } else {
                esc(&p.breaches.join("; "))
            }
        );
    }
    out.push_str("</table>\n");
    for line in c.points.iter().filter_map(|p| p.limiter(true)) {
        let _ = writeln!(out, "<p class=\"failed\">{}</p>", esc(&line));
    }
    out.push_str("</section>\n");
}

fn spread(out: &mut String, s: &super::repeat::Spread) {
    let _ = writeln!(
        out,
        "<section class=\"repeats\"><h2>Spread over {} runs</h2>\
<table><tr><th>scenario</th><th>measure</th><th>min ms</th><th>mean ms</th><th>max ms</th><th>stdev ms</th></tr>",
        s.runs
    );
    for sc in &s.scenarios {
        for m in &sc.measures {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td></tr>",
                esc(&sc.name),
                esc(&m.measure),
                m.min_ms,
                m.mean_ms,
                m.max_ms,
                m.stdev_ms
            );
        }
    }
    out.push_str("</table><table><tr><th>scenario</th><th>budget</th><th>runs met</th><th>within the spread</th></tr>");
    for sc in &s.scenarios {
        for b in &sc.budgets {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td class=\"num\">{} of {}</td><td>{}</td></tr>",
                esc(&sc.name),
                esc(&b.budget),
                b.passed.iter().filter(|p| **p).count(),
                b.passed.len(),
                if b.within_spread {
                    "yes: the runs fall on both sides, the verdict is within the noise"
                } else {
                    "no"
                }
            );
        }
    }
    out.push_str("</table></section>\n");
}

/// The report as one HTML page.
pub(crate) fn render(r: &LatencyReport) -> String {
    let verdict = if r.passed { "PASSED" } else { "FAILED" };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>Latency {}: {verdict}</title>\
<style>{STYLE}{PLOT_STYLE}</style></head><body>\n<h1>Latency: <span class=\"{}\">{verdict}</span></h1>\n",
        esc(&r.run_id),
        if r.passed { "passed" } else { "failed" }
    );
    let _ = writeln!(
        out,
        "<ul><li>target: <code>{}</code></li><li>run <code>{}</code>, started {}</li>\
<li>SLO: {}</li><li>load: <code>{}</code>; {:.1} s measured after {:.1} s of ramp and warm-up</li><li>{}</li></ul>",
        esc(&r.target),
        esc(&r.run_id),
        esc(&r.started_at),
        esc(&r.slo),
        esc(&r.load.to_string()),
        r.measured_seconds,
        r.warmup_seconds,
        esc(&r.timing)
    );
    if let Some(a) = &r.aborted {
        let _ = writeln!(
            out,
            "<p class=\"failed\">Aborted at {:.1} s: <code>{}</code> could no longer hold.</p>",
            a.at_s,
            esc(&a.budget)
        );
    }
    if let Some(lag) = super::text::lag_warning(r) {
        let _ = writeln!(out, "<p class=\"failed\">Warning: {}.</p>", esc(&lag));
    }
    if r.generator.bottleneck {
        let _ = writeln!(
            out,
            "<p class=\"failed\">Warning: {}.</p>",
            super::text::BOTTLENECK
        );
    }
    if let Some(line) = super::text::generator_line(&r.generator) {
        let _ = writeln!(out, "<p>{}</p>", esc(&line));
    }
    out.push_str(
        "<table><tr><th>scenario</th><th>budget</th><th>measured</th><th>verdict</th></tr>\n",
    );
    for s in &r.scenarios {
        for v in &s.budgets {
            let _ = writeln!(
                out,
                "<tr class=\"budget\"><td>{}</td><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td></tr>",
                esc(&s.name),
                esc(&v.budget),
                esc(v.line().split_once(": ").map_or("", |(_, rest)| rest)),
                if v.passed { "passed" } else { "failed" },
                if v.passed { "met" } else { "breached" }
            );
        }
    }
    out.push_str("</table>\n");
    if let Some(c) = &r.sweep {
        sweep(&mut out, c);
    }
    if let Some(s) = &r.repeats {
        spread(&mut out, s);
    }
    if let Some(b) = &r.baseline {
        let _ = write!(
            out,
            "<h2>Against baseline <code>{}</code></h2><table><tr><th>scenario</th><th>measure</th><th>before ms</th><th>after ms</th><th>change</th></tr>",
            esc(&b.run_id)
        );
        for s in &b.scenarios {
            for c in &s.changes {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:+.1}%{}</td></tr>",
                    esc(&s.name),
                    esc(&c.measure),
                    c.before_ms,
                    c.after_ms,
                    c.delta_pct,
                    super::text::change_mark(c)
                );
            }
        }
        out.push_str("</table>\n");
    }
    for s in &r.scenarios {
        scenario(&mut out, r, s);
    }
    out.push_str("</body></html>\n");
    out
}
