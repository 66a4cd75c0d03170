//! Small SVG charts for the HTML report: lines and bars on linear or log axes, with ticks,
//! labels and dashed reference lines. Written here because the charting crates draw to files
//! or canvases through backends; an inline `<svg>` of a few paths needs none of that.

use crate::report::html::esc;
use std::fmt::Write as _;

const W: f64 = 640.0;
const H: f64 = 280.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 44.0;

/// An axis: its label, its scale, and optionally its own tick labels.
pub struct Axis {
    /// Shown along it.
    pub label: String,
    /// Logarithmic (values must be above 0).
    pub log: bool,
    /// Ticks at these values with these labels, instead of computed ones.
    pub ticks: Option<Vec<(f64, String)>>,
}

impl Axis {
    /// A linear axis.
    pub fn linear(label: &str) -> Self {
        Self {
            label: label.to_owned(),
            log: false,
            ticks: None,
        }
    }

    /// A logarithmic axis.
    pub fn log(label: &str) -> Self {
        Self {
            log: true,
            ..Self::linear(label)
        }
    }
}

/// One series of a line chart.
pub struct Line {
    /// In the legend.
    pub name: String,
    /// `(x, y)`; a `None` y breaks the line (a gap with no data).
    pub points: Vec<(f64, Option<f64>)>,
    /// A CSS colour.
    pub color: &'static str,
    /// Mark each point with a dot coloured by this verdict (sweeps).
    pub verdicts: Option<Vec<bool>>,
}

/// A dashed horizontal line across the plot (a budget).
pub struct Rule {
    /// The y value.
    pub y: f64,
    /// Its label.
    pub label: String,
}

struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    from: f64,
    to: f64,
}

impl Scale {
    fn new(values: impl Iterator<Item = f64>, log: bool, from: f64, to: f64) -> Self {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if !lo.is_finite() {
            (lo, hi) = (if log { 1.0 } else { 0.0 }, 1.0);
        }
        if log {
            lo = 10f64.powf(lo.log10().floor());
            hi = 10f64.powf(hi.log10().ceil()).max(lo * 10.0);
        } else {
            lo = lo.min(0.0);
            if hi <= lo {
                hi = lo + 1.0;
            }
            hi = nice_top(hi);
        }
        Self {
            lo,
            hi,
            log,
            from,
            to,
        }
    }

    fn at(&self, v: f64) -> f64 {
        let f = if self.log {
            (v.max(self.lo).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        self.from + f.clamp(0.0, 1.0) * (self.to - self.from)
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        if self.log {
            let mut out = Vec::new();
            let mut v = self.lo;
            while v <= self.hi * 1.0001 {
                out.push((v, number(v)));
                v *= 10.0;
            }
            return out;
        }
        let step = nice_step((self.hi - self.lo) / 5.0);
        let mut out = Vec::new();
        let mut v = (self.lo / step).ceil() * step;
        while v <= self.hi + step * 1e-9 {
            out.push((v, number(v)));
            v += step;
        }
        out
    }
}

fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    p * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

fn nice_top(hi: f64) -> f64 {
    let step = nice_step(hi / 5.0);
    (hi / step).ceil() * step
}

/// A tick label: short, without a trailing `.0`.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = if v.abs() >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn frame(out: &mut String, title: &str, x: &Axis, y: &Axis, sx: &Scale, sy: &Scale) {
    let _ = write!(
        out,
        "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\"><title>{t}</title>\
<text x=\"{LEFT}\" y=\"16\" class=\"title\">{t}</text>\
<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{}\" height=\"{}\" class=\"area\"/>",
        W - LEFT - RIGHT,
        H - TOP - BOTTOM,
        t = esc(title)
    );
    let xt = x.ticks.clone().unwrap_or_else(|| sx.ticks());
    for (v, label) in xt {
        let px = sx.at(v);
        let _ = write!(
            out,
            "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{:.1}\" class=\"grid\"/><text x=\"{px:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"middle\">{}</text>",
            H - BOTTOM,
            H - BOTTOM + 14.0,
            esc(&label)
        );
    }
    let yt = y.ticks.clone().unwrap_or_else(|| sy.ticks());
    for (v, label) in yt {
        let py = sy.at(v);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" class=\"grid\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            esc(&label)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" class=\"label\" text-anchor=\"middle\">{}</text>\
<text x=\"14\" y=\"{:.1}\" class=\"label\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">{}</text>",
        (LEFT + W - RIGHT) / 2.0,
        H - 8.0,
        esc(&x.label),
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0,
        esc(&y.label)
    );
}

fn rules(out: &mut String, rules: &[Rule], sy: &Scale) {
    for r in rules {
        let py = sy.at(r.y);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" class=\"rule\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"rule-label\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            W - RIGHT - 4.0,
            py - 4.0,
            esc(&r.label)
        );
    }
}

/// A line chart; `shade` greys the plot from its left edge to that x (the warm-up).
pub fn lines(
    title: &str,
    x: &Axis,
    y: &Axis,
    series: &[Line],
    budget: &[Rule],
    shade: Option<f64>,
) -> String {
    let xs = series.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let ys = series
        .iter()
        .flat_map(|l| l.points.iter().filter_map(|p| p.1))
        .chain(budget.iter().map(|r| r.y));
    let sx = Scale::new(xs, x.log, LEFT, W - RIGHT);
    let sy = Scale::new(ys, y.log, H - BOTTOM, TOP);
    let mut out = String::new();
    frame(&mut out, title, x, y, &sx, &sy);
    if let Some(to) = shade.filter(|to| *to > sx.lo) {
        let _ = write!(
            out,
            "<rect class=\"shade\" x=\"{LEFT}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"><title>warm-up, not counted</title></rect>",
            sx.at(to) - LEFT,
            H - TOP - BOTTOM
        );
    }
    rules(&mut out, budget, &sy);
    for (i, l) in series.iter().enumerate() {
        let mut d = String::new();
        let mut pen_up = true;
        for (px, py) in &l.points {
            match py {
                Some(py) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1}",
                        if pen_up { "M" } else { "L" },
                        sx.at(*px),
                        sy.at(*py)
                    );
                    pen_up = false;
                }
                None => pen_up = true,
            }
        }
        let _ = write!(
            out,
            "<path class=\"line\" d=\"{d}\" stroke=\"{}\"/>",
            l.color
        );
        if let Some(verdicts) = &l.verdicts {
            for ((px, py), ok) in l.points.iter().zip(verdicts) {
                if let Some(py) = py {
                    let _ = write!(
                        out,
                        "<circle class=\"point {}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"/>",
                        if *ok { "passed" } else { "failed" },
                        sx.at(*px),
                        sy.at(*py)
                    );
                }
            }
        }
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"3\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"legend\">{}</text>",
            LEFT + 8.0 + 110.0 * i as f64,
            TOP + 8.0,
            l.color,
            LEFT + 22.0 + 110.0 * i as f64,
            TOP + 13.0,
            esc(&l.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// A histogram: `[from, to, count]` bins on `x`.
pub fn bars(title: &str, x: &Axis, y: &Axis, bins: &[[f64; 3]], budget: &[Rule]) -> String {
    let xs = bins
        .iter()
        .flat_map(|b| [b[0], b[1]])
        .chain(budget.iter().map(|r| r.y));
    let sx = Scale::new(xs, x.log, LEFT, W - RIGHT);
    let sy = Scale::new(bins.iter().map(|b| b[2]), false, H - BOTTOM, TOP);
    let mut out = String::new();
    frame(&mut out, title, x, y, &sx, &sy);
    for b in bins.iter().filter(|b| b[2] > 0.0) {
        let (x0, x1) = (sx.at(b[0]), sx.at(b[1]));
        let top = sy.at(b[2]);
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{x0:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}–{} ms: {}</title></rect>",
            (x1 - x0 - 1.0).max(1.0),
            (H - BOTTOM - top).max(0.5),
            number(b[0]),
            number(b[1]),
            b[2]
        );
    }
    // Budgets on a histogram are vertical: a time on the x axis.
    for r in budget {
        let px = sx.at(r.y);
        // The label goes on whichever side of the line has room.
        let (lx, anchor) = if px > (LEFT + W - RIGHT) / 2.0 {
            (px - 4.0, "end")
        } else {
            (px + 4.0, "start")
        };
        let _ = write!(
            out,
            "<line x1=\"{px:.1}\" y1=\"{TOP}\" x2=\"{px:.1}\" y2=\"{:.1}\" class=\"rule\"/><text x=\"{lx:.1}\" y=\"{:.1}\" class=\"rule-label\" text-anchor=\"{anchor}\">{}</text>",
            H - BOTTOM,
            TOP + 12.0,
            esc(&r.label)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_ends_and_ticks_are_round() {
        let s = Scale::new([3.0, 870.0].into_iter(), false, 0.0, 100.0);
        assert_eq!((s.lo, s.hi), (0.0, 1000.0));
        assert_eq!(s.at(500.0), 50.0);
        let labels: Vec<String> = s.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels, vec!["0", "200", "400", "600", "800", "1000"]);
        let l = Scale::new([0.3, 40.0].into_iter(), true, 0.0, 300.0);
        assert_eq!((l.lo, l.hi), (0.1, 100.0));
        assert!((l.at(1.0) - 100.0).abs() < 1e-9);
        assert_eq!(number(12_500.0), "12.5k");
        assert_eq!(number(0.25), "0.25");
    }

    #[test]
    fn a_gap_breaks_the_line_and_text_is_escaped() {
        let svg = lines(
            "a <b>",
            &Axis::linear("x"),
            &Axis::linear("y"),
            &[Line {
                name: "p95".into(),
                points: vec![
                    (0.0, Some(1.0)),
                    (1.0, None),
                    (2.0, Some(2.0)),
                    (3.0, Some(3.0)),
                ],
                color: "#000",
                verdicts: None,
            }],
            &[Rule {
                y: 2.5,
                label: "p95 <= 2.5ms".into(),
            }],
            Some(0.5),
        );
        assert!(svg.contains("a &lt;b&gt;"));
        let d = svg
            .split("d=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("");
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert!(svg.contains("p95 &lt;= 2.5ms"));
    }
}
