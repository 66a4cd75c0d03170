//! An eval as text: the console's closing lines.

use super::stats::Interval;
use super::summary::Summary;
use crate::text::clean;

pub(crate) fn percent(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |x| format!("{:.1}%", x * 100.0))
}

pub(crate) fn interval(i: Option<Interval>) -> String {
    i.map_or_else(
        || "–".into(),
        |i| format!("[{:.1}%, {:.1}%]", i.low * 100.0, i.high * 100.0),
    )
}

/// Failing cases named on the terminal.
const TERMINAL_FAILURES: usize = 10;

/// `a, b, c` and how many more of `total` there are, each written by `show`; `None` if none.
pub(crate) fn case_list(
    cases: &[String],
    total: usize,
    show: impl Fn(&str) -> String,
) -> Option<String> {
    if cases.is_empty() {
        return None;
    }
    let mut line = cases.iter().map(|c| show(c)).collect::<Vec<_>>().join(", ");
    if total > cases.len() {
        line.push_str(&format!(" and {} more", total - cases.len()));
    }
    Some(line)
}

/// Target text (answers, errors) and names as a Markdown cell: never raw HTML or a break.
pub(crate) fn cell(text: &str) -> String {
    crate::report::md::cell(text, 120)
}

/// ", N ungraded (in no accuracy)" when there are any: most runs grade every case.
pub(crate) fn ungraded(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(", {n} ungraded (in no accuracy)")
    }
}

/// The console's closing lines.
pub(crate) fn render(summary: &Summary) -> String {
    let mut out = String::new();
    for note in &summary.notes {
        out.push_str(&format!("note: {}\n", crate::text::clean(note, 500)));
    }
    for s in &summary.suites {
        out.push_str(&format!(
            "{:<24} {:>7} {:<18} {} passed, {} failed, {} errored{}\n",
            s.name,
            percent(s.accuracy),
            interval(s.interval),
            s.counts.passed,
            s.counts.failed,
            s.counts.errored,
            ungraded(s.counts.ungraded)
        ));
    }
    out.push_str(&format!(
        "overall: {} {} over {} cases ({} passed, {} failed, {} errored{}, {} retries) in {:.1}s\n{}",
        percent(summary.overall.accuracy),
        interval(summary.overall.interval),
        summary.overall.counts.cases,
        summary.overall.counts.passed,
        summary.overall.counts.failed,
        summary.overall.counts.errored,
        ungraded(summary.overall.counts.ungraded),
        summary.overall.counts.retries,
        summary.duration_ms as f64 / 1000.0,
        if summary.overall.counts.repeated > 0 {
            format!(
                "repeated cases: {} — pass@k {}, pass^k {} (k = each case's repeat)\n",
                summary.overall.counts.repeated,
                summary.overall.counts.pass_at_k,
                summary.overall.counts.pass_all_k
            )
        } else {
            String::new()
        }
    ));
    let failing = summary.overall.counts.failed + summary.overall.counts.errored;
    if !summary.failures.is_empty() {
        // Named here, not only in the files: a CI log shows which cases to look at.
        let shown = summary.failures.len().min(TERMINAL_FAILURES);
        out.push_str(&format!("failing cases (first {shown} of {failing}):\n"));
        for f in &summary.failures[..shown] {
            let expected = f.expected.as_ref().map_or_else(String::new, |v| {
                format!("expected {}, ", clean(&v.to_string(), 60))
            });
            out.push_str(&format!(
                "  {} ({}) {}: {expected}got {}\n",
                clean(&f.case, 80),
                f.origin,
                f.outcome.name(),
                clean(&format!("{:?}", f.got), 80),
            ));
        }
        if failing > shown {
            out.push_str(&format!(
                "  and {} more (eval.md and eval.json list them)\n",
                failing - shown
            ));
        }
    }
    if let Some(c) = &summary.baseline {
        out.push_str(&format!(
            "against {}: {} fixed, {} broke, {} same; McNemar p = {:.4}{}\n",
            c.baseline,
            c.fixed,
            c.broke,
            c.same_passed + c.same_failed,
            c.p_value,
            if c.regression {
                " (a significant regression)"
            } else {
                ""
            }
        ));
        for (what, cases, n) in [
            ("broke", &c.broke_cases, c.broke),
            ("fixed", &c.fixed_cases, c.fixed),
        ] {
            if let Some(line) = case_list(cases, n, |t| clean(t, 80)) {
                out.push_str(&format!("  {what}: {line}\n"));
            }
        }
    }
    for g in &summary.gates {
        out.push_str(&format!(
            "gate {}: {:.3} {} {:.3}: {}{}\n",
            g.name,
            g.value,
            if g.name == "error rate" {
                "<="
            } else if g.name.starts_with("no significant") {
                "vs"
            } else {
                ">="
            },
            g.threshold,
            if g.passed { "pass" } else { "FAIL" },
            if g.within_noise {
                " (within noise: the threshold is inside the 95% interval)"
            } else {
                ""
            }
        ));
    }
    out
}
