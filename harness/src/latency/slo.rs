//! The SLO file: scenarios (what to send) and their budgets, written as readable thresholds
//! in the spirit of k6 (`"p95 <= 1200ms"`, `"ttft.p99 <= 200ms"`, `"error_rate <= 1%"`).
//! Every problem is reported as `file:line:column: what is wrong`.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A time the budgets measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Series {
    /// End to end: request start (intended, in open loop) to the last byte.
    Latency,
    /// To the first content delta of a stream.
    Ttft,
    /// Between content deltas of a stream.
    Itl,
    /// Time per output token after the first.
    Tpot,
}

impl Series {
    /// The name in thresholds and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Ttft => "ttft",
            Self::Itl => "itl",
            Self::Tpot => "tpot",
        }
    }
}

/// A statistic of a series.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    /// A percentile, 0 to 100.
    Percentile(f64),
    /// The largest.
    Max,
    /// The smallest.
    Min,
    /// The mean.
    Mean,
}

/// What a threshold bounds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// A statistic of a time series, in seconds.
    Time(Series, Stat),
    /// Failed requests over all requests, 0 to 1.
    ErrorRate,
    /// Successful requests per second.
    Throughput,
    /// Requests per second that met every per-request time budget of the scenario.
    Goodput,
}

/// `<=`, `<`, `>=` or `>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Op {
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `>`
    #[serde(rename = ">")]
    Gt,
}

impl Op {
    /// Whether `value` meets `limit`.
    pub fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Self::Le => value <= limit,
            Self::Lt => value < limit,
            Self::Ge => value >= limit,
            Self::Gt => value > limit,
        }
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Le => "<=",
            Self::Lt => "<",
            Self::Ge => ">=",
            Self::Gt => ">",
        }
    }
}

/// One budget: `measure op limit`, as written in the file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Budget {
    /// The text as written.
    pub text: String,
    /// What is bounded.
    pub measure: Measure,
    /// How.
    pub op: Op,
    /// The bound: seconds for times, a fraction for rates, per second for throughput.
    pub limit: f64,
}

impl Budget {
    /// Parses a threshold such as `p95 <= 1200ms`, `ttft.p99 < 0.2s`, `error_rate <= 1%`,
    /// `throughput >= 50/s`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (at, op, len) = ["<=", ">=", "<", ">"]
            .iter()
            .filter_map(|s| t.find(s).map(|i| (i, *s)))
            .min_by_key(|(i, s)| (*i, std::cmp::Reverse(s.len())))
            .map(|(i, s)| {
                let op = match s {
                    "<=" => Op::Le,
                    ">=" => Op::Ge,
                    "<" => Op::Lt,
                    _ => Op::Gt,
                };
                (i, op, s.len())
            })
            .ok_or_else(|| format!("{t:?} has no comparison (write e.g. \"p95 <= 1200ms\")"))?;
        let left = t[..at].trim();
        let right = t[at + len..].trim();
        let measure = measure(left)?;
        let limit = match measure {
            Measure::Time(..) => seconds(right)?,
            Measure::ErrorRate => fraction(right)?,
            Measure::Throughput | Measure::Goodput => per_second(right)?,
        };
        Ok(Self {
            text: t.to_owned(),
            measure,
            op,
            limit,
        })
    }

    /// A per-request time budget (`p95 <= 1200ms` gives "each request within 1200 ms" for
    /// goodput), for the bounds that cap a time from above.
    pub fn per_request(&self) -> Option<(Series, f64)> {
        match (self.measure, self.op) {
            (Measure::Time(series, Stat::Percentile(_) | Stat::Max), Op::Le | Op::Lt) => {
                Some((series, self.limit))
            }
            _ => None,
        }
    }
}

fn measure(text: &str) -> Result<Measure, String> {
    let t = text.to_ascii_lowercase();
    match t.as_str() {
        "error_rate" | "errors" => return Ok(Measure::ErrorRate),
        "throughput" | "rps" => return Ok(Measure::Throughput),
        "goodput" => return Ok(Measure::Goodput),
        _ => {}
    }
    let (series, stat) = match t.split_once('.') {
        Some((s, rest)) if ["latency", "ttft", "itl", "tpot"].contains(&s) => (s, rest),
        _ => ("latency", t.as_str()),
    };
    let series = match series {
        "ttft" => Series::Ttft,
        "itl" => Series::Itl,
        "tpot" => Series::Tpot,
        _ => Series::Latency,
    };
    let stat = match stat {
        "max" => Stat::Max,
        "min" => Stat::Min,
        "mean" | "avg" => Stat::Mean,
        "median" => Stat::Percentile(50.0),
        p => {
            let n = p
                .strip_prefix('p')
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|n| *n > 0.0 && *n <= 100.0)
                .ok_or_else(|| {
                    format!(
                        "unknown measure {text:?}: expected p50, p95, p99, p99.9, max, min, mean \
                         (optionally after latency., ttft., itl. or tpot.), error_rate, throughput or goodput"
                    )
                })?;
            Stat::Percentile(n)
        }
    };
    Ok(Measure::Time(series, stat))
}

/// `1200ms`, `1.2s`, `800us`, in seconds (the reference server's duration syntax).
pub fn seconds(text: &str) -> Result<f64, String> {
    kit_formats::duration(text).map(|d| d.as_secs_f64())
}

fn fraction(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("{t:?} is not a rate (write e.g. 1% or 0.01)"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{t:?} is not between 0% and 100%"));
    }
    Ok(v)
}

fn per_second(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let n = t.strip_suffix("/s").unwrap_or(t).trim();
    n.parse::<f64>()
        .ok()
        .filter(|v| *v >= 0.0 && v.is_finite())
        .ok_or_else(|| format!("{t:?} is not a rate per second (write e.g. 50/s)"))
}

/// A scenario: one kind of request and its budgets.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Its name in reports.
    pub name: String,
    /// The path (`/v1/responses`); always POST.
    pub endpoint: String,
    /// Bodies sent in turn.
    pub bodies: Vec<Value>,
    /// Whether answers are streamed.
    pub stream: bool,
    /// Whether each request carries an `Idempotency-Key` of its own (a keyed POST is claimed,
    /// run and recorded: what a deployment's idempotency store costs under load).
    pub idempotency_key: bool,
    /// Share of the requests in a mix.
    pub weight: u32,
    /// The budgets.
    pub budgets: Vec<Budget>,
}

/// The SLO file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    scenario: Vec<Spanned<ScenarioFile>>,
}

#[derive(Debug, Deserialize)]
struct ScenarioFile {
    /// Keys no scenario has: each is reported, with the closest known one.
    #[serde(flatten)]
    unknown: BTreeMap<String, toml::Value>,
    name: Spanned<String>,
    endpoint: Spanned<String>,
    body: Option<Value>,
    body_file: Option<Spanned<String>>,
    bodies_file: Option<Spanned<String>>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    idempotency_key: bool,
    #[serde(default = "one")]
    weight: Spanned<u32>,
    #[serde(default)]
    budgets: Vec<Spanned<String>>,
}

fn one() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

/// `file:line:column` of a byte offset.
fn at(path: &str, text: &str, offset: usize) -> String {
    crate::text::place(path, text, offset)
}

/// The endpoints a scenario may load.
pub const ENDPOINTS: [&str; 3] = ["/v1/responses", "/v1/chat/completions", "/v1/embeddings"];

/// Reads and checks an SLO file.
pub fn load(path: &Path) -> Result<Vec<Scenario>, String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    parse(&text, &shown, path.parent().unwrap_or(Path::new(".")))
}

/// Parses SLO text; `dir` resolves `body_file` and `bodies_file`.
pub fn parse(text: &str, shown: &str, dir: &Path) -> Result<Vec<Scenario>, String> {
    let file: File = toml::from_str(text).map_err(|e| crate::text::toml_error(shown, text, &e))?;
    if file.scenario.is_empty() {
        return Err(format!(
            "{shown}: no [[scenario]] (an SLO file needs at least one)"
        ));
    }
    let mut out = Vec::new();
    let mut names = Vec::new();
    let mut errors = Vec::new();
    // Every scenario is checked, and every problem reported at once, as for eval suites.
    for spanned in file.scenario {
        match scenario(spanned, text, shown, dir, &mut names) {
            Ok(s) => out.push(s),
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        return Ok(out);
    }
    Err(format!(
        "{}\n{} error(s) in {shown}; nothing was sent",
        errors.join("\n"),
        errors.len()
    ))
}

/// The keys a scenario may have.
const KEYS: [&str; 8] = [
    "name",
    "endpoint",
    "body",
    "body_file",
    "bodies_file",
    "stream",
    "weight",
    "budgets",
];

/// Checks one scenario; `names` are the names seen so far (this one is added).
fn scenario(
    spanned: Spanned<ScenarioFile>,
    text: &str,
    shown: &str,
    dir: &Path,
    names: &mut Vec<String>,
) -> Result<Scenario, Vec<String>> {
    let span = spanned.span();
    let s = spanned.into_inner();
    let here = |offset: usize| at(shown, text, offset);
    let mut errors = Vec::new();
    for key in s.unknown.keys() {
        errors.push(format!(
            "{}: {}",
            here(key_offset(text, span.clone(), key)),
            crate::hint::unknown("key", key, &KEYS)
        ));
    }
    let name = s.name.get_ref().trim().to_owned();
    if name.is_empty() {
        errors.push(format!(
            "{}: a scenario needs a name",
            here(s.name.span().start)
        ));
    } else if names.contains(&name) {
        errors.push(format!(
            "{}: scenario {name:?} is named twice",
            here(s.name.span().start)
        ));
    }
    names.push(name.clone());
    let endpoint = s.endpoint.get_ref().clone();
    if !ENDPOINTS.contains(&endpoint.as_str()) {
        let hint = crate::hint::closest(&endpoint, &ENDPOINTS)
            .map_or(String::new(), |e| format!(": did you mean {e:?}?"));
        errors.push(format!(
            "{}: endpoint {endpoint:?} is not one of {}{hint}",
            here(s.endpoint.span().start),
            ENDPOINTS.join(", ")
        ));
    }
    let bodies = match bodies(&s, dir, &name, &here) {
        Ok(b) => b,
        Err(e) => {
            errors.push(e);
            Vec::new()
        }
    };
    if *s.weight.get_ref() == 0 {
        errors.push(format!(
            "{}: weight must be at least 1",
            here(s.weight.span().start)
        ));
    }
    let mut budgets = Vec::new();
    for b in &s.budgets {
        match Budget::parse(b.get_ref()) {
            Err(e) => errors.push(format!("{}: {e}", here(b.span().start))),
            Ok(budget)
                if matches!(
                    budget.measure,
                    Measure::Time(Series::Ttft | Series::Itl | Series::Tpot, _)
                ) && !s.stream =>
            {
                errors.push(format!(
                    "{}: {:?} needs stream = true (TTFT, ITL and TPOT are measured on streams)",
                    here(b.span().start),
                    budget.text
                ));
            }
            Ok(budget) => budgets.push(budget),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Scenario {
        name,
        endpoint,
        bodies,
        stream: s.stream,
        idempotency_key: s.idempotency_key,
        weight: *s.weight.get_ref(),
        budgets,
    })
}

/// Where `key` is written within `span` (at the start of a line, or after `{` or `,` in an
/// inline table); the span's start when it cannot be found.
fn key_offset(text: &str, span: std::ops::Range<usize>, key: &str) -> usize {
    let Some(within) = text.get(span.clone()) else {
        return span.start;
    };
    within
        .match_indices(key)
        .find(|(i, _)| {
            let before = within[..*i].trim_end_matches([' ', '\t']);
            let after = within[i + key.len()..].trim_start_matches([' ', '\t']);
            (before.is_empty() || before.ends_with(['\n', '{', ','])) && after.starts_with('=')
        })
        .map_or(span.start, |(i, _)| span.start + i)
}

/// The bodies of a scenario: inline, from `body_file`, or one per line of `bodies_file`.
fn bodies(
    s: &ScenarioFile,
    dir: &Path,
    name: &str,
    here: &dyn Fn(usize) -> String,
) -> Result<Vec<Value>, String> {
    let given = [
        s.body.is_some(),
        s.body_file.is_some(),
        s.bodies_file.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(format!(
            "{}: scenario {name:?} needs exactly one of body, body_file or bodies_file",
            here(s.name.span().start)
        ));
    }
    let bodies = if let Some(body) = &s.body {
        vec![body.clone()]
    } else if let Some(f) = &s.body_file {
        let p = resolve(dir, f.get_ref());
        let t = std::fs::read_to_string(&p)
            .map_err(|e| format!("{}: cannot read {}: {e}", here(f.span().start), p.display()))?;
        vec![serde_json::from_str(&t)
            .map_err(|e| format!("{}:{}:{}: {e}", p.display(), e.line(), e.column()))?]
    } else if let Some(f) = &s.bodies_file {
        let p = resolve(dir, f.get_ref());
        let t = std::fs::read_to_string(&p)
            .map_err(|e| format!("{}: cannot read {}: {e}", here(f.span().start), p.display()))?;
        let mut bodies = Vec::new();
        for (i, line) in t.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            bodies.push(
                serde_json::from_str(line)
                    .map_err(|e| format!("{}:{}:{}: {e}", p.display(), i + 1, e.column()))?,
            );
        }
        if bodies.is_empty() {
            return Err(format!(
                "{}: {} has no bodies",
                here(f.span().start),
                p.display()
            ));
        }
        bodies
    } else {
        Vec::new()
    };
    if let Some(i) = bodies.iter().position(|b| !b.is_object()) {
        return Err(format!(
            "{}: body {} of scenario {name:?} is not a JSON object",
            here(s.name.span().start),
            i + 1
        ));
    }
    Ok(bodies)
}

fn resolve(dir: &Path, file: &str) -> PathBuf {
    let p = Path::new(file);
    if p.is_absolute() {
        p.to_owned()
    } else {
        dir.join(p)
    }
}

/// The scenarios used without an SLO file, with the design's default budgets: responses
/// p95 <= 1200 ms, embeddings p95 <= 800 ms, error rate <= 1% each.
pub fn defaults(chat_model: &str, embedding_model: &str) -> Vec<Scenario> {
    let budgets = |texts: &[&str]| {
        texts
            .iter()
            .filter_map(|t| Budget::parse(t).ok())
            .collect::<Vec<_>>()
    };
    vec![
        Scenario {
            name: "responses".into(),
            endpoint: "/v1/responses".into(),
            bodies: vec![serde_json::json!({
                "model": chat_model,
                "input": "Write two sentences about lighthouses and the people who kept them.",
            })],
            stream: false,
            idempotency_key: false,
            weight: 1,
            budgets: budgets(&["p95 <= 1200ms", "error_rate <= 1%"]),
        },
        Scenario {
            name: "embeddings".into(),
            endpoint: "/v1/embeddings".into(),
            bodies: vec![serde_json::json!({
                "model": embedding_model,
                "input": "The keeper climbed the tower at dusk to light the lamp.",
            })],
            stream: false,
            idempotency_key: false,
            weight: 1,
            budgets: budgets(&["p95 <= 800ms", "error_rate <= 1%"]),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_like_k6() {
        let b = Budget::parse("p95 <= 1200ms").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b.measure,
            Measure::Time(Series::Latency, Stat::Percentile(95.0))
        );
        assert_eq!((b.op, b.limit), (Op::Le, 1.2));
        let b = Budget::parse("ttft.p99.9 < 0.2s").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b.measure,
            Measure::Time(Series::Ttft, Stat::Percentile(99.9))
        );
        assert_eq!(b.op, Op::Lt);
        let b = Budget::parse("error_rate <= 1%").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((b.measure, b.limit), (Measure::ErrorRate, 0.01));
        let b = Budget::parse("throughput >= 50/s").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (b.measure, b.op, b.limit),
            (Measure::Throughput, Op::Ge, 50.0)
        );
        let b = Budget::parse("itl.max<=40ms").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b.measure, Measure::Time(Series::Itl, Stat::Max));
    }

    #[test]
    fn bad_thresholds_say_what_is_wrong() {
        let err = |t: &str| Budget::parse(t).err().unwrap_or_default();
        assert!(err("p95 1200ms").contains("no comparison"));
        assert!(err("p95 <= 1200").contains("no unit"));
        assert!(err("q95 <= 1s").contains("unknown measure"));
        assert!(err("error_rate <= 150%").contains("between"));
        assert!(err("p101 <= 1s").contains("unknown measure"));
    }

    #[test]
    fn problems_in_a_file_are_located() {
        let text = "[[scenario]]\nname = \"r\"\nendpoint = \"/v1/responses\"\nbody = { model = \"m\", input = \"x\" }\nbudgets = [\"p95 <= 1s\",\n  \"p95 <== 1s\"]\n";
        let e = parse(text, "slo.toml", Path::new("."))
            .err()
            .unwrap_or_default();
        assert!(e.starts_with("slo.toml:6:3: "), "{e}");
        let e = parse(
            &text.replace("/v1/responses", "/v1/nope"),
            "slo.toml",
            Path::new("."),
        )
        .err()
        .unwrap_or_default();
        assert!(
            e.starts_with("slo.toml:3:12: ") && e.contains("/v1/nope"),
            "{e}"
        );
        let e = parse("[[scenario]]\nname = \"r\"\nendpoint = \"/v1/embeddings\"\nbody = {}\nbudgets = [\"ttft.p95 <= 1s\"]\n", "s.toml", Path::new("."))
            .err()
            .unwrap_or_default();
        assert!(
            e.contains("s.toml:5:") && e.contains("stream = true"),
            "{e}"
        );
        let e = parse(
            "[[scenario]]\nname = \"r\"\nendpoint = \"/v1/embeddings\"\nbdy = {}\n",
            "s.toml",
            Path::new("."),
        )
        .err()
        .unwrap_or_default();
        assert!(e.starts_with("s.toml:4:1: ") && e.contains("bdy"), "{e}");
        let e = parse("", "s.toml", Path::new("."))
            .err()
            .unwrap_or_default();
        assert!(e.contains("no [[scenario]]"), "{e}");
    }

    #[test]
    fn the_shipped_slo_file_is_valid() {
        let s = parse(
            include_str!("../../../cases/latency/slo.toml"),
            "cases/latency/slo.toml",
            Path::new("."),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.len(), 3);
        assert!(s[1].stream && s[2].weight == 2);
    }

    #[test]
    fn the_defaults_are_the_designs() {
        let d = defaults("c", "e");
        assert_eq!(d[0].budgets[0].limit, 1.2);
        assert_eq!(d[1].budgets[0].limit, 0.8);
        assert!(d
            .iter()
            .all(|s| s.budgets.iter().any(|b| b.measure == Measure::ErrorRate)));
    }
}
