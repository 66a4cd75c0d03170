//! Graders: how an answer is judged against a case's ideal. A grader is written in a case as
//! a name (`"exact"`) or an object (`{"type": "regex", "pattern": "…"}`), and compiled when
//! the suite is read, so a bad regex or schema is a usage error before any request.

use super::answer::Answer;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

/// The grader types, as written in `"type"` (kept beside `Spec::name`, which names each).
pub(crate) const TYPES: [&str; 15] = [
    "exact",
    "starts_with",
    "includes",
    "regex",
    "numeric",
    "json_schema",
    "json_match",
    "fuzzy",
    "similar",
    "tool_call",
    "all",
    "any",
    "weighted",
    "not",
    "judge",
];

/// A grader as written.
#[derive(Debug, Clone, PartialEq)]
pub struct GraderSpec(Spec);

impl GraderSpec {
    /// The grader's type name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl<'de> Deserialize<'de> for GraderSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A bare name is the object with only its type (every other field defaulted).
        let value = Value::deserialize(d)?;
        let value = match value {
            Value::String(name) => json!({ "type": name }),
            other => other,
        };
        Spec::deserialize(value)
            .map(GraderSpec)
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Spec {
    Exact {
        values: Option<Vec<String>>,
        #[serde(default = "default_normalize")]
        normalize: Vec<Normalize>,
    },
    StartsWith {
        values: Option<Vec<String>>,
        #[serde(default)]
        ignore_case: bool,
    },
    Includes {
        values: Option<Vec<String>>,
        #[serde(default)]
        mode: Quantifier,
        #[serde(default)]
        ignore_case: bool,
    },
    Regex {
        pattern: String,
        #[serde(default)]
        ignore_case: bool,
    },
    Numeric {
        #[serde(default)]
        abs_tol: f64,
        #[serde(default)]
        rel_tol: f64,
    },
    JsonSchema {
        schema: Value,
        #[serde(default)]
        anywhere: bool,
    },
    JsonMatch {
        expected: Option<Value>,
        #[serde(default)]
        mode: MatchMode,
    },
    Fuzzy {
        values: Option<Vec<String>>,
        #[serde(default)]
        metric: FuzzyMetric,
        #[serde(default = "default_threshold")]
        threshold: f64,
        max_distance: Option<usize>,
    },
    Similar {
        values: Option<Vec<String>>,
        #[serde(default)]
        metric: SimilarMetric,
        threshold: Option<f64>,
        model: Option<String>,
    },
    ToolCall {
        name: String,
        arguments: Option<Value>,
    },
    All {
        of: Vec<GraderSpec>,
    },
    Any {
        of: Vec<GraderSpec>,
    },
    Weighted {
        of: Vec<WeightedSpec>,
        threshold: Option<f64>,
    },
    Not {
        grader: Box<GraderSpec>,
    },
    Judge {
        rubric: String,
    },
}

impl Spec {
    fn name(&self) -> &'static str {
        match self {
            Self::Exact { .. } => "exact",
            Self::StartsWith { .. } => "starts_with",
            Self::Includes { .. } => "includes",
            Self::Regex { .. } => "regex",
            Self::Numeric { .. } => "numeric",
            Self::JsonSchema { .. } => "json_schema",
            Self::JsonMatch { .. } => "json_match",
            Self::Fuzzy { .. } => "fuzzy",
            Self::Similar { .. } => "similar",
            Self::ToolCall { .. } => "tool_call",
            Self::All { .. } => "all",
            Self::Any { .. } => "any",
            Self::Weighted { .. } => "weighted",
            Self::Not { .. } => "not",
            Self::Judge { .. } => "judge",
        }
    }
}

/// One grader of `weighted`, with its weight.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightedSpec {
    grader: GraderSpec,
    #[serde(default = "one")]
    weight: f64,
}

fn one() -> f64 {
    1.0
}

fn default_normalize() -> Vec<Normalize> {
    vec![Normalize::Trim]
}

fn default_threshold() -> f64 {
    0.8
}

/// What `exact` ignores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Leading and trailing whitespace.
    Trim,
    /// Letter case.
    Case,
    /// Runs of whitespace (compared as one space).
    Whitespace,
}

/// All of the values, or any one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantifier {
    /// Every value.
    #[default]
    All,
    /// At least one.
    Any,
}

/// How `json_match` compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// The same JSON value (numbers by value).
    #[default]
    Equal,
    /// Every expected member is there; more is allowed.
    Subset,
}

/// How `fuzzy` measures closeness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FuzzyMetric {
    /// 1 - Levenshtein distance / length of the longer text.
    #[default]
    Levenshtein,
    /// F1 of the word tokens (as SQuAD scores answers).
    TokenF1,
    /// 1 when one text contains the other once both are normalised as SQuAD normalises answers
    /// (lower case, no punctuation, no articles, single spaces), else 0: OpenAI evals'
    /// `FuzzyMatch`.
    Containment,
}

/// How `similar` compares two embeddings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimilarMetric {
    /// Cosine similarity: passes at `threshold` or above.
    #[default]
    Cosine,
    /// Dot product: passes at `threshold` or above.
    Dot,
    /// Euclidean distance: passes at `threshold` or below.
    Euclidean,
}

impl SimilarMetric {
    fn name(self) -> &'static str {
        match self {
            Self::Cosine => "cosine",
            Self::Dot => "dot",
            Self::Euclidean => "euclidean",
        }
    }
}

/// `similar`'s threshold when none is given: promptfoo's, so its configs grade alike.
const SIMILAR_THRESHOLD: f64 = 0.75;

/// A compiled grader.
#[derive(Debug)]
pub enum Grader {
    /// Equal to one of the values (the ideals when absent) after the declared normalisation.
    Exact {
        /// The expected texts; the ideals when absent.
        values: Option<Vec<String>>,
        /// What is ignored.
        normalize: Vec<Normalize>,
    },
    /// Starts with one of the values, or of the ideals (leading whitespace aside).
    StartsWith {
        /// The prefixes; the ideals when absent.
        values: Option<Vec<String>>,
        /// Case-insensitive.
        ignore_case: bool,
    },
    /// Contains all (or any) of the values, or of the ideals.
    Includes {
        /// The strings looked for; the ideals when absent.
        values: Option<Vec<String>>,
        /// All or any.
        mode: Quantifier,
        /// Case-insensitive.
        ignore_case: bool,
    },
    /// Matches the regular expression.
    Regex(regex::Regex),
    /// The answer's number is within tolerance of an ideal.
    Numeric {
        /// Absolute tolerance.
        abs_tol: f64,
        /// Relative tolerance.
        rel_tol: f64,
    },
    /// The answer is JSON valid against the schema (or, `anywhere`, holds such a JSON value
    /// among its text).
    JsonSchema {
        /// The compiled schema.
        schema: Box<jsonschema::Validator>,
        /// Whether the JSON may be anywhere in the answer (promptfoo's `contains-json`).
        anywhere: bool,
    },
    /// The answer is JSON equal to (or containing) the expected value, or the ideal.
    JsonMatch {
        /// The expected value; the ideal when absent.
        expected: Option<Value>,
        /// Equal or subset.
        mode: MatchMode,
    },
    /// Close enough to an ideal.
    Fuzzy {
        /// The texts compared with; the ideals when absent.
        values: Option<Vec<String>>,
        /// The measure.
        metric: FuzzyMetric,
        /// The least score that passes.
        threshold: f64,
        /// Instead of the score: the most edits (Levenshtein, on the texts as they are).
        max_distance: Option<usize>,
    },
    /// The answer's embedding is close enough to one of the values' (the ideals when absent).
    Similar {
        /// The texts compared with; the ideals when absent.
        values: Option<Vec<String>>,
        /// The measure.
        metric: SimilarMetric,
        /// The least similarity (cosine, dot) or the most distance (euclidean) that passes.
        threshold: f64,
        /// The embedding model [default: the run's].
        model: Option<String>,
    },
    /// The named function is called with arguments valid for the tool (and containing the
    /// expected ones).
    ToolCall {
        /// The function.
        name: String,
        /// Arguments the call must contain.
        arguments: Option<Value>,
        /// The tool's parameters schema.
        schema: Box<jsonschema::Validator>,
    },
    /// Every grader passes.
    All(Vec<Grader>),
    /// One grader passes.
    Any(Vec<Grader>),
    /// The weighted mean of the graders' scores (1 passed, 0 failed) reaches the threshold;
    /// without one, every grader of weight above 0 passes (a weight of 0 only reports), as
    /// promptfoo scores a test's assertions.
    Weighted {
        /// The graders and their weights.
        of: Vec<(Grader, f64)>,
        /// The least weighted mean that passes.
        threshold: Option<f64>,
    },
    /// The grader fails.
    Not(Box<Grader>),
    /// A judge model says the answer meets the rubric.
    Judge(String),
}

/// What a judge model said about one answer against one rubric.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct Judged {
    /// The rubric.
    pub rubric: String,
    /// The judge's verdict, when its answer could be read.
    pub passed: Option<bool>,
    /// The judge's reason, or why its answer could not be read.
    pub reason: String,
    /// The messages sent to the judge.
    pub prompt: serde_json::Value,
    /// The judge's raw answer.
    pub raw: String,
}

/// How close an answer's embedding is to one expected text's (every measure, so a re-grade
/// with another metric or threshold needs no new embedding).
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct Similarity {
    /// The expected text.
    pub expected: String,
    /// The embedding model, when the grader names its own (else the run's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Cosine similarity.
    pub cosine: f64,
    /// Dot product.
    pub dot: f64,
    /// Euclidean distance.
    pub euclidean: f64,
}

impl Similarity {
    /// The measures between the answer's embedding and `expected`'s; `None` when they cannot
    /// be compared (lengths differ, or one is all zeros).
    pub fn between(expected: &str, answer: &[f32], other: &[f32]) -> Option<Self> {
        if answer.len() != other.len() || answer.is_empty() {
            return None;
        }
        let (mut dot, mut aa, mut bb, mut dd) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        for (a, b) in answer.iter().zip(other) {
            let (a, b) = (f64::from(*a), f64::from(*b));
            dot += a * b;
            aa += a * a;
            bb += b * b;
            dd += (a - b) * (a - b);
        }
        if aa == 0.0 || bb == 0.0 {
            return None;
        }
        Some(Self {
            expected: expected.to_owned(),
            model: None,
            cosine: dot / (aa.sqrt() * bb.sqrt()),
            dot,
            euclidean: dd.sqrt(),
        })
    }

    fn score(&self, metric: SimilarMetric) -> f64 {
        match metric {
            SimilarMetric::Cosine => self.cosine,
            SimilarMetric::Dot => self.dot,
            SimilarMetric::Euclidean => self.euclidean,
        }
    }
}

/// What was asked beforehand for the graders that need another model: judges' verdicts and
/// embedding similarities.
#[derive(Debug, Clone, Copy, Default)]
pub struct Consulted<'a> {
    /// What the judge said, per rubric.
    pub judged: &'a [Judged],
    /// How close the answer is to each expected text of the `similar` graders.
    pub similar: &'a [Similarity],
}

/// A grader's judgement of one answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct Grade {
    /// Whether the answer passes.
    pub passed: bool,
    /// Why, in a sentence (expected vs got).
    pub reason: String,
}

fn verdict(passed: bool, reason: impl Into<String>) -> Grade {
    Grade {
        passed,
        reason: reason.into(),
    }
}

impl Grader {
    /// Compiles `spec`; `tools` are the case's tools (for `tool_call`).
    pub fn compile(spec: &GraderSpec, tools: &[Value]) -> Result<Self, String> {
        Ok(match &spec.0 {
            Spec::Exact { values, normalize } => {
                if values.as_ref().is_some_and(Vec::is_empty) {
                    return Err("exact: `values` is empty".into());
                }
                Self::Exact {
                    values: values.clone(),
                    normalize: normalize.clone(),
                }
            }
            Spec::StartsWith {
                values,
                ignore_case,
            } => {
                if values.as_ref().is_some_and(Vec::is_empty) {
                    return Err("starts_with: `values` is empty".into());
                }
                Self::StartsWith {
                    values: values.clone(),
                    ignore_case: *ignore_case,
                }
            }
            Spec::Includes {
                values,
                mode,
                ignore_case,
            } => {
                if values.as_ref().is_some_and(Vec::is_empty) {
                    return Err("includes: `values` is empty".into());
                }
                Self::Includes {
                    values: values.clone(),
                    mode: *mode,
                    ignore_case: *ignore_case,
                }
            }
            Spec::Regex {
                pattern,
                ignore_case,
            } => Self::Regex(
                regex::RegexBuilder::new(pattern)
                    .case_insensitive(*ignore_case)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("regex: the pattern does not compile: {e}"))?,
            ),
            Spec::Numeric { abs_tol, rel_tol } => {
                if !(abs_tol.is_finite()
                    && *abs_tol >= 0.0
                    && rel_tol.is_finite()
                    && *rel_tol >= 0.0)
                {
                    return Err("numeric: tolerances must be non-negative numbers".into());
                }
                Self::Numeric {
                    abs_tol: *abs_tol,
                    rel_tol: *rel_tol,
                }
            }
            Spec::JsonSchema { schema, anywhere } => Self::JsonSchema {
                schema: Box::new(
                    jsonschema::draft202012::new(schema)
                        .map_err(|e| format!("json_schema: the schema does not compile: {e}"))?,
                ),
                anywhere: *anywhere,
            },
            Spec::JsonMatch { expected, mode } => Self::JsonMatch {
                expected: expected.clone(),
                mode: *mode,
            },
            Spec::Fuzzy {
                values,
                metric,
                threshold,
                max_distance,
            } => {
                if values.as_ref().is_some_and(Vec::is_empty) {
                    return Err("fuzzy: `values` is empty".into());
                }
                if !(0.0..=1.0).contains(threshold) {
                    return Err(format!(
                        "fuzzy: threshold {threshold} is not between 0 and 1"
                    ));
                }
                if max_distance.is_some() && *metric != FuzzyMetric::Levenshtein {
                    return Err(
                        "fuzzy: max_distance counts Levenshtein edits: metric must be levenshtein"
                            .into(),
                    );
                }
                Self::Fuzzy {
                    values: values.clone(),
                    metric: *metric,
                    threshold: *threshold,
                    max_distance: *max_distance,
                }
            }
            Spec::Similar {
                values,
                metric,
                threshold,
                model,
            } => {
                if values.as_ref().is_some_and(Vec::is_empty) {
                    return Err("similar: `values` is empty".into());
                }
                if model.as_ref().is_some_and(|m| m.trim().is_empty()) {
                    return Err("similar: `model` is empty".into());
                }
                let threshold = match (metric, threshold) {
                    (SimilarMetric::Euclidean, None) => return Err(
                        "similar: metric euclidean passes at distances up to `threshold`: give one"
                            .into(),
                    ),
                    (_, Some(t)) if !t.is_finite() => {
                        return Err(format!("similar: threshold {t} is not a number"))
                    }
                    (SimilarMetric::Cosine, Some(t)) if !(-1.0..=1.0).contains(t) => {
                        return Err(format!(
                            "similar: a cosine threshold is between -1 and 1, not {t}"
                        ))
                    }
                    (SimilarMetric::Euclidean, Some(t)) if *t < 0.0 => {
                        return Err(format!(
                            "similar: a distance threshold is not negative ({t})"
                        ))
                    }
                    (_, t) => t.unwrap_or(SIMILAR_THRESHOLD),
                };
                Self::Similar {
                    values: values.clone(),
                    metric: *metric,
                    threshold,
                    model: model.clone(),
                }
            }
            Spec::ToolCall { name, arguments } => {
                let parameters = tools
                    .iter()
                    .find_map(|t| {
                        let def = t.get("function").unwrap_or(t);
                        (def["name"].as_str() == Some(name)).then(|| {
                            def.get("parameters")
                                .cloned()
                                .unwrap_or(json!({"type": "object"}))
                        })
                    })
                    .ok_or_else(|| {
                        format!("tool_call: the case offers no tool named {name:?} in `tools`")
                    })?;
                let schema = jsonschema::draft202012::new(&parameters).map_err(|e| {
                    format!("tool_call: the parameters of tool {name:?} do not compile: {e}")
                })?;
                Self::ToolCall {
                    name: name.clone(),
                    arguments: arguments.clone(),
                    schema: Box::new(schema),
                }
            }
            Spec::All { of } | Spec::Any { of } => {
                if of.is_empty() {
                    return Err(format!("{}: `of` is empty", spec.name()));
                }
                let graders = of
                    .iter()
                    .map(|g| Self::compile(g, tools))
                    .collect::<Result<Vec<_>, _>>()?;
                if matches!(spec.0, Spec::All { .. }) {
                    Self::All(graders)
                } else {
                    Self::Any(graders)
                }
            }
            Spec::Weighted { of, threshold } => {
                if of.is_empty() {
                    return Err("weighted: `of` is empty".into());
                }
                if let Some(w) = of
                    .iter()
                    .map(|w| w.weight)
                    .find(|w| !(w.is_finite() && *w >= 0.0))
                {
                    return Err(format!("weighted: weight {w} is not a number of 0 or more"));
                }
                if of.iter().all(|w| w.weight == 0.0) && threshold.is_some() {
                    return Err(
                        "weighted: every weight is 0, so no score can reach the threshold".into(),
                    );
                }
                if let Some(t) = threshold.filter(|t| !(0.0..=1.0).contains(t)) {
                    return Err(format!("weighted: threshold {t} is not between 0 and 1"));
                }
                let graders = of
                    .iter()
                    .map(|w| Ok((Self::compile(&w.grader, tools)?, w.weight)))
                    .collect::<Result<Vec<_>, String>>()?;
                Self::Weighted {
                    of: graders,
                    threshold: *threshold,
                }
            }
            Spec::Not { grader } => Self::Not(Box::new(Self::compile(grader, tools)?)),
            Spec::Judge { rubric } => {
                if rubric.trim().is_empty() {
                    return Err("judge: the rubric is empty".into());
                }
                Self::Judge(rubric.clone())
            }
        })
    }

    /// Whether grading needs the turn's `ideal`.
    pub fn needs_ideal(&self) -> bool {
        match self {
            Self::Numeric { .. } => true,
            Self::Includes { values, .. }
            | Self::StartsWith { values, .. }
            | Self::Exact { values, .. }
            | Self::Similar { values, .. }
            | Self::Fuzzy { values, .. } => values.is_none(),
            Self::JsonMatch { expected, .. } => expected.is_none(),
            Self::Regex(_) | Self::JsonSchema { .. } | Self::ToolCall { .. } | Self::Judge(_) => {
                false
            }
            Self::All(graders) | Self::Any(graders) => graders.iter().any(Self::needs_ideal),
            Self::Weighted { of, .. } => of.iter().any(|(g, _)| g.needs_ideal()),
            Self::Not(grader) => grader.needs_ideal(),
        }
    }

    /// The rubrics of the judge graders in this grader, in order.
    pub fn rubrics(&self) -> Vec<&str> {
        match self {
            Self::Judge(rubric) => vec![rubric.as_str()],
            Self::All(graders) | Self::Any(graders) => {
                graders.iter().flat_map(Self::rubrics).collect()
            }
            Self::Weighted { of, .. } => of.iter().flat_map(|(g, _)| g.rubrics()).collect(),
            Self::Not(grader) => grader.rubrics(),
            _ => Vec::new(),
        }
    }

    /// The texts the `similar` graders in this grader compare the answer with, for `ideal`,
    /// each with the embedding model its grader names (none: the run's), each once, in order:
    /// what must be embedded before grading.
    pub fn similar_texts(&self, ideal: Option<&Value>) -> Vec<(Option<String>, String)> {
        let mut texts: Vec<(Option<String>, String)> = Vec::new();
        self.each(&mut |g| {
            if let Self::Similar { values, model, .. } = g {
                for text in given_or_ideals(values.as_ref(), ideal) {
                    let wanted = (model.clone(), text);
                    if !texts.contains(&wanted) {
                        texts.push(wanted);
                    }
                }
            }
        });
        texts
    }

    /// Whether a `similar` grader is in this grader (its answers need embeddings).
    pub fn embeds(&self) -> bool {
        let mut found = false;
        self.each(&mut |g| found |= matches!(g, Self::Similar { .. }));
        found
    }

    /// Whether a `similar` grader in this grader names no model (it needs the run's).
    pub fn embeds_by_default(&self) -> bool {
        let mut found = false;
        self.each(&mut |g| found |= matches!(g, Self::Similar { model: None, .. }));
        found
    }

    /// Calls `f` with this grader and every grader inside it.
    fn each(&self, f: &mut dyn FnMut(&Self)) {
        f(self);
        match self {
            Self::All(graders) | Self::Any(graders) => graders.iter().for_each(|g| g.each(f)),
            Self::Weighted { of, .. } => of.iter().for_each(|(g, _)| g.each(f)),
            Self::Not(grader) => grader.each(f),
            _ => {}
        }
    }

    /// Whether `ideal` is usable by this grader (checked when the suite is read).
    pub fn check_ideal(&self, ideal: &Value) -> Result<(), String> {
        match self {
            Self::Exact { values: None, .. }
            | Self::Fuzzy { values: None, .. }
            | Self::Similar { values: None, .. }
            | Self::Includes { values: None, .. }
            | Self::StartsWith { values: None, .. } => texts(ideal).map(|_| ()),
            Self::Numeric { .. } => numbers(ideal).map(|_| ()),
            Self::All(graders) | Self::Any(graders) => graders
                .iter()
                .filter(|g| g.needs_ideal())
                .try_for_each(|g| g.check_ideal(ideal)),
            Self::Weighted { of, .. } => of
                .iter()
                .filter(|(g, _)| g.needs_ideal())
                .try_for_each(|(g, _)| g.check_ideal(ideal)),
            Self::Not(grader) if grader.needs_ideal() => grader.check_ideal(ideal),
            _ => Ok(()),
        }
    }

    /// Judges `answer` against `ideal`; judge graders read their rubric's verdict, and
    /// `similar` graders their similarities, from what was `consulted` beforehand (see
    /// `rubrics` and `similar_texts`).
    pub fn grade(&self, answer: &Answer, ideal: Option<&Value>, consulted: &Consulted) -> Grade {
        let text = answer.text.as_str();
        let judged = consulted.judged;
        match self {
            Self::Exact { values, normalize } => {
                let want = given_or_ideals(values.as_ref(), ideal);
                let got = normalized(text, normalize);
                let passed = want.iter().any(|w| normalized(w, normalize) == got);
                verdict(
                    passed,
                    format!("expected {} , got {}", shown_list(&want), show(text)),
                )
            }
            Self::StartsWith {
                values,
                ignore_case,
            } => {
                let wanted = given_or_ideals(values.as_ref(), ideal);
                let fold = |s: &str| folded(s, *ignore_case);
                let got = fold(text.trim_start());
                let passed = wanted.iter().any(|w| got.starts_with(&fold(w)));
                verdict(
                    passed,
                    format!(
                        "expected a start of {}, got {}",
                        shown_list(&wanted),
                        show(text)
                    ),
                )
            }
            Self::Includes {
                values,
                mode,
                ignore_case,
            } => {
                let wanted = given_or_ideals(values.as_ref(), ideal);
                let fold = |s: &str| folded(s, *ignore_case);
                let hay = fold(text);
                let missing: Vec<&String> =
                    wanted.iter().filter(|w| !hay.contains(&fold(w))).collect();
                let passed = match mode {
                    Quantifier::All => missing.is_empty(),
                    Quantifier::Any => missing.len() < wanted.len(),
                };
                let which = if *mode == Quantifier::All {
                    "all"
                } else {
                    "any"
                };
                verdict(
                    passed,
                    format!(
                        "expected {which} of {} in {}",
                        shown_list(&wanted),
                        show(text)
                    ),
                )
            }
            Self::Regex(re) => verdict(
                re.is_match(text),
                format!("expected a match of /{}/, got {}", re.as_str(), show(text)),
            ),
            Self::Numeric { abs_tol, rel_tol } => {
                let want = ideal.map(numbers).and_then(Result::ok).unwrap_or_default();
                let Some(got) = last_number(text) else {
                    return verdict(false, format!("expected a number, got {}", show(text)));
                };
                let passed = want.iter().any(|w| {
                    let diff = (got - w).abs();
                    diff <= *abs_tol || diff <= rel_tol * w.abs()
                });
                verdict(
                    passed,
                    format!("expected {want:?} (±{abs_tol}, ±{rel_tol} relative), got {got}"),
                )
            }
            Self::JsonSchema {
                schema,
                anywhere: true,
            } => {
                let found = embedded_json(text);
                match found.iter().find(|v| schema.is_valid(v)) {
                    Some(v) => verdict(true, format!("holds {v}, valid against the schema")),
                    None if found.is_empty() => {
                        verdict(false, format!("expected JSON in the answer, got {}", show(text)))
                    }
                    None => verdict(
                        false,
                        format!(
                            "none of the {} JSON value(s) in the answer is valid against the schema",
                            found.len()
                        ),
                    ),
                }
            }
            Self::JsonSchema { schema, .. } => match parse_json(text) {
                Err(e) => verdict(false, e),
                Ok(value) => {
                    let problems: Vec<String> = schema
                        .iter_errors(&value)
                        .map(|e| e.to_string())
                        .take(3)
                        .collect();
                    if problems.is_empty() {
                        verdict(true, "valid against the schema")
                    } else {
                        verdict(
                            false,
                            format!("not valid against the schema: {}", problems.join("; ")),
                        )
                    }
                }
            },
            Self::JsonMatch { expected, mode } => {
                let Some(want) = expected.as_ref().or(ideal) else {
                    return verdict(false, "no expected value");
                };
                match parse_json(text) {
                    Err(e) => verdict(false, e),
                    Ok(got) => {
                        let passed = match mode {
                            MatchMode::Equal => same(&got, want),
                            MatchMode::Subset => contains(&got, want),
                        };
                        verdict(passed, format!("expected {want}, got {got}"))
                    }
                }
            }
            Self::Fuzzy {
                values,
                metric,
                threshold,
                max_distance,
            } => {
                let want = given_or_ideals(values.as_ref(), ideal);
                if let Some(most) = max_distance {
                    let least = want
                        .iter()
                        .map(|w| strsim::levenshtein(text, w))
                        .min()
                        .unwrap_or(usize::MAX);
                    return verdict(
                        least <= *most,
                        format!(
                            "{least} edits (at most {most}) from {}, got {}",
                            shown_list(&want),
                            show(text)
                        ),
                    );
                }
                let best = want
                    .iter()
                    .map(|w| similarity(*metric, text, w))
                    .fold(0.0_f64, f64::max);
                verdict(
                    best >= *threshold,
                    format!(
                        "similarity {best:.3} (threshold {threshold}) to {}, got {}",
                        shown_list(&want),
                        show(text)
                    ),
                )
            }
            Self::Similar {
                values,
                metric,
                threshold,
                model,
            } => similar(
                text,
                &given_or_ideals(values.as_ref(), ideal),
                *metric,
                *threshold,
                consulted
                    .similar
                    .iter()
                    .filter(|m| &m.model == model)
                    .collect(),
            ),
            Self::ToolCall {
                name,
                arguments,
                schema,
            } => {
                let Some(call) = answer.tool_calls.iter().find(|c| &c.name == name) else {
                    let called: Vec<&str> =
                        answer.tool_calls.iter().map(|c| c.name.as_str()).collect();
                    return verdict(
                        false,
                        format!(
                            "expected a call of {name}, got calls {called:?} and text {}",
                            show(text)
                        ),
                    );
                };
                let args: Value = match serde_json::from_str(&call.arguments) {
                    Ok(v) => v,
                    Err(e) => {
                        return verdict(
                            false,
                            format!(
                                "{name} arguments are not JSON ({e}): {}",
                                show(&call.arguments)
                            ),
                        )
                    }
                };
                let problems: Vec<String> = schema
                    .iter_errors(&args)
                    .map(|e| e.to_string())
                    .take(3)
                    .collect();
                if !problems.is_empty() {
                    return verdict(
                        false,
                        format!(
                            "{name} arguments {args} are not valid for the tool: {}",
                            problems.join("; ")
                        ),
                    );
                }
                match arguments {
                    Some(want) if !contains(&args, want) => verdict(
                        false,
                        format!("expected {name} arguments containing {want}, got {args}"),
                    ),
                    _ => verdict(true, format!("{name} called with {args}")),
                }
            }
            Self::All(graders) => {
                let verdicts: Vec<Grade> = graders
                    .iter()
                    .map(|g| g.grade(answer, ideal, consulted))
                    .collect();
                match verdicts.iter().find(|v| !v.passed) {
                    Some(failed) => verdict(false, failed.reason.clone()),
                    None => verdict(true, "every grader passed"),
                }
            }
            Self::Weighted { of, threshold } => {
                let verdicts: Vec<(Grade, f64)> = of
                    .iter()
                    .map(|(g, w)| (g.grade(answer, ideal, consulted), *w))
                    .collect();
                let total: f64 = verdicts.iter().map(|(_, w)| w).sum();
                let score = if total > 0.0 {
                    verdicts
                        .iter()
                        .map(|(v, w)| if v.passed { *w } else { 0.0 })
                        .sum::<f64>()
                        / total
                } else {
                    1.0
                };
                let failed = verdicts.iter().find(|(v, w)| !v.passed && *w > 0.0);
                match threshold {
                    Some(t) => verdict(
                        score >= *t,
                        match failed {
                            Some((v, _)) => {
                                format!("score {score:.3} (threshold {t}); {}", v.reason)
                            }
                            None => format!("score {score:.3} (threshold {t})"),
                        },
                    ),
                    None => match failed {
                        Some((v, _)) => verdict(false, v.reason.clone()),
                        None => verdict(
                            true,
                            format!("every weighted grader passed (score {score:.3})"),
                        ),
                    },
                }
            }
            Self::Any(graders) => {
                let verdicts: Vec<Grade> = graders
                    .iter()
                    .map(|g| g.grade(answer, ideal, consulted))
                    .collect();
                match verdicts.iter().find(|v| v.passed) {
                    Some(passed) => verdict(true, passed.reason.clone()),
                    None => verdict(
                        false,
                        verdicts
                            .iter()
                            .map(|v| v.reason.as_str())
                            .collect::<Vec<_>>()
                            .join(" | "),
                    ),
                }
            }
            Self::Not(grader) => {
                let inner = grader.grade(answer, ideal, consulted);
                verdict(!inner.passed, format!("not: {}", inner.reason))
            }
            Self::Judge(rubric) => match judged.iter().find(|j| &j.rubric == rubric) {
                Some(Judged {
                    passed: Some(passed),
                    reason,
                    ..
                }) => verdict(*passed, format!("judge: {reason}")),
                Some(j) => verdict(false, format!("judge: {}", j.reason)),
                None => verdict(false, "judge: no verdict was asked for this rubric"),
            },
        }
    }
}

/// `similar`: the answer passes when one wanted text's measure is within the threshold.
fn similar(
    text: &str,
    wanted: &[String],
    metric: SimilarMetric,
    threshold: f64,
    measured: Vec<&Similarity>,
) -> Grade {
    if text.trim().is_empty() {
        return verdict(false, "similar: the answer is empty, nothing to embed");
    }
    let within = |score: f64| match metric {
        SimilarMetric::Euclidean => score <= threshold,
        SimilarMetric::Cosine | SimilarMetric::Dot => score >= threshold,
    };
    let (word, bound) = match metric {
        SimilarMetric::Euclidean => ("distance", "at most"),
        SimilarMetric::Cosine | SimilarMetric::Dot => ("similarity", "at least"),
    };
    let mut best: Option<(f64, &str)> = None;
    for want in wanted {
        let Some(m) = measured.iter().find(|m| &m.expected == want) else {
            return verdict(
                false,
                format!(
                    "similar: no embedding was measured against {} (re-grading needs a new run to embed it)",
                    show(want)
                ),
            );
        };
        let score = m.score(metric);
        if within(score) {
            return verdict(
                true,
                format!(
                    "{} {word} {score:.4} to {} ({bound} {threshold})",
                    metric.name(),
                    show(want)
                ),
            );
        }
        let closer = |b: f64| match metric {
            SimilarMetric::Euclidean => score < b,
            SimilarMetric::Cosine | SimilarMetric::Dot => score > b,
        };
        if best.is_none_or(|(b, _)| closer(b)) {
            best = Some((score, want));
        }
    }
    match best {
        Some((score, want)) => verdict(
            false,
            format!(
                "{} {word} {score:.4} to {}, {bound} {threshold} needed",
                metric.name(),
                show(want)
            ),
        ),
        None => verdict(false, "similar: no text to compare the answer with"),
    }
}

/// The acceptable texts of an ideal: a string, a number, or a list of them.
fn texts(ideal: &Value) -> Result<Vec<String>, String> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "`ideal` must be a string, a number or a list of them, not {other}"
        )),
    };
    match ideal {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => Err("`ideal` is an empty list".into()),
        other => one(other).map(|s| vec![s]),
    }
}

/// The acceptable numbers of an ideal: a number, a numeric string, or a list of them.
fn numbers(ideal: &Value) -> Result<Vec<f64>, String> {
    let one = |v: &Value| match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| format!("{n} is not a finite number")),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("`ideal` {s:?} is not a number")),
        other => Err(format!(
            "`ideal` must be a number or a list of numbers, not {other}"
        )),
    };
    match ideal {
        Value::Array(items) if !items.is_empty() => items.iter().map(one).collect(),
        Value::Array(_) => Err("`ideal` is an empty list".into()),
        other => one(other).map(|n| vec![n]),
    }
}

fn normalized(text: &str, normalize: &[Normalize]) -> String {
    let mut out = text.to_owned();
    if normalize.contains(&Normalize::Trim) {
        out = out.trim().to_owned();
    }
    if normalize.contains(&Normalize::Whitespace) {
        out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    if normalize.contains(&Normalize::Case) {
        out = out.to_lowercase();
    }
    out
}

/// The last number written in `text` (answers tend to end with their result): digits with an
/// optional sign, thousands separators, fraction and exponent.
fn last_number(text: &str) -> Option<f64> {
    static NUMBER: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let re = NUMBER
        .get_or_init(|| {
            regex::Regex::new(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
                .ok()
        })
        .as_ref()?;
    re.find_iter(text)
        .last()
        .and_then(|m| m.as_str().replace(',', "").parse().ok())
}

/// The answer as JSON; a Markdown code fence around it is allowed.
fn parse_json(text: &str) -> Result<Value, String> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(inner.trim())
        .map_err(|e| format!("expected JSON, got {} ({e})", show(text)))
}

/// The texts a grader looks for: its own `values`, else the turn's ideals.
fn given_or_ideals(values: Option<&Vec<String>>, ideal: Option<&Value>) -> Vec<String> {
    match values {
        Some(v) => v.clone(),
        None => ideal.map(texts).and_then(Result::ok).unwrap_or_default(),
    }
}

/// `text`, lower-cased when case is ignored.
fn folded(text: &str, ignore_case: bool) -> String {
    if ignore_case {
        text.to_lowercase()
    } else {
        text.to_owned()
    }
}

/// The JSON objects and arrays written in `text`, in order: each `{` or `[` that starts a
/// whole JSON value (the first 64 tried, so a long answer full of brackets stays cheap).
fn embedded_json(text: &str) -> Vec<Value> {
    let mut found = Vec::new();
    let mut from = 0;
    for (tried, (i, _)) in text.match_indices(['{', '[']).enumerate() {
        if tried >= 64 {
            break;
        }
        if i < from {
            continue;
        }
        let mut values = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        if let Some(Ok(value)) = values.next() {
            from = i + values.byte_offset();
            found.push(value);
        }
    }
    found
}

/// JSON equality with numbers compared by value (1 and 1.0 are equal).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && y.iter().all(|(k, v)| x.get(k).is_some_and(|a| same(a, v)))
        }
        _ => a == b,
    }
}

/// Whether `got` has every member of `want` (objects may have more keys; arrays are compared
/// item by item and must have the same length).
fn contains(got: &Value, want: &Value) -> bool {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|a| contains(a, v))),
        (Value::Array(g), Value::Array(w)) => {
            g.len() == w.len() && g.iter().zip(w).all(|(a, b)| contains(a, b))
        }
        _ => same(got, want),
    }
}

fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn similarity(metric: FuzzyMetric, got: &str, want: &str) -> f64 {
    match metric {
        FuzzyMetric::Levenshtein => {
            let norm = |s: &str| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            };
            strsim::normalized_levenshtein(&norm(got), &norm(want))
        }
        FuzzyMetric::TokenF1 => {
            let (g, w) = (tokens(got), tokens(want));
            if g.is_empty() || w.is_empty() {
                return if g.is_empty() && w.is_empty() {
                    1.0
                } else {
                    0.0
                };
            }
            let mut pool = w.clone();
            let mut common = 0usize;
            for t in &g {
                if let Some(i) = pool.iter().position(|p| p == t) {
                    pool.swap_remove(i);
                    common += 1;
                }
            }
            if common == 0 {
                return 0.0;
            }
            let precision = common as f64 / g.len() as f64;
            let recall = common as f64 / w.len() as f64;
            2.0 * precision * recall / (precision + recall)
        }
        FuzzyMetric::Containment => {
            let (g, w) = (squad_normal(got), squad_normal(want));
            let contained = if g.is_empty() || w.is_empty() {
                g == w
            } else {
                g.contains(&w) || w.contains(&g)
            };
            f64::from(u8::from(contained))
        }
    }
}

/// An answer as SQuAD compares answers: lower case, punctuation removed, the articles `a`, `an`
/// and `the` removed, words joined by single spaces.
fn squad_normal(text: &str) -> String {
    let lower: String = text
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn show(text: &str) -> String {
    format!("{:?}", crate::target::excerpt(text, 200))
}

fn shown_list(items: &[String]) -> String {
    match items {
        [one] => show(one),
        many => format!(
            "one of [{}]",
            many.iter().map(|s| show(s)).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_type_is_a_grader() {
        for t in TYPES {
            // A known type gets to its fields, and stops at the unknown one.
            let e = serde_json::from_value::<GraderSpec>(json!({"type": t, "zzz": 1}))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains("unknown field `zzz`"), "{t}: {e}");
        }
    }
    use crate::eval::answer::ToolCall;

    fn grader(spec: Value) -> Grader {
        let spec: GraderSpec = match serde_json::from_value(spec) {
            Ok(s) => s,
            Err(e) => panic!("spec: {e}"),
        };
        let tools = [
            json!({"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}),
        ];
        match Grader::compile(&spec, &tools) {
            Ok(g) => g,
            Err(e) => panic!("compile: {e}"),
        }
    }

    fn passes(spec: Value, text: &str, ideal: Value) -> bool {
        grader(spec)
            .grade(&Answer::text(text), Some(&ideal), &Consulted::default())
            .passed
    }

    #[test]
    fn starts_with_reads_the_start_of_the_answer() {
        // OpenAI evals' Match: the answer starts with an ideal.
        assert!(passes(
            json!("starts_with"),
            " George Washington, in 1789",
            json!(["George Washington", "Washington"])
        ));
        assert!(!passes(
            json!("starts_with"),
            "It was George Washington",
            json!("George Washington")
        ));
        assert!(!passes(
            json!("starts_with"),
            "george washington",
            json!("George")
        ));
        assert!(passes(
            json!({"type": "starts_with", "values": ["yes"], "ignore_case": true}),
            "Yes, it is.",
            Value::Null
        ));
    }

    #[test]
    fn containment_is_openai_evals_fuzzy_match() {
        let spec = || json!({"type": "fuzzy", "metric": "containment"});
        // Either side may contain the other, after case, punctuation and articles are gone.
        assert!(passes(
            spec(),
            "It was the Eiffel Tower!",
            json!("eiffel tower")
        ));
        assert!(passes(spec(), "Paris", json!("The city of Paris")));
        assert!(!passes(spec(), "London", json!("Paris")));
        assert!(
            !passes(spec(), "", json!("Paris")),
            "an empty answer contains nothing"
        );
        assert!(
            passes(spec(), "The.", json!("a")),
            "both empty once normalised"
        );
    }

    #[test]
    fn exact_normalises_only_as_declared() {
        assert!(passes(json!("exact"), " 2 + 2 = 4. ", json!("2 + 2 = 4.")));
        assert!(!passes(json!("exact"), "2 + 2 = 4", json!("2 + 2 = 4.")));
        assert!(!passes(json!("exact"), "HELLO", json!("hello")));
        assert!(passes(
            json!({"type": "exact", "normalize": ["case", "whitespace"]}),
            "HELLO   world",
            json!("hello world")
        ));
        assert!(passes(json!("exact"), "b", json!(["a", "b"])));
    }

    #[test]
    fn includes_all_or_any() {
        let all = json!({"type": "includes", "values": ["Paris", "France"]});
        assert!(passes(all.clone(), "Paris is in France", json!(null)));
        assert!(!passes(all, "Paris is in Texas", json!(null)));
        let any = json!({"type": "includes", "values": ["paris", "lyon"], "mode": "any", "ignore_case": true});
        assert!(passes(any.clone(), "PARIS", json!(null)));
        assert!(!passes(any, "Marseille", json!(null)));
    }

    #[test]
    fn regex_matches_or_not() {
        let spec = json!({"type": "regex", "pattern": "^\\d+ \\+ \\d+ = \\d+\\.$"});
        assert!(passes(spec.clone(), "1 + 2 = 3.", json!(null)));
        assert!(!passes(spec, "three", json!(null)));
    }

    #[test]
    fn numeric_reads_the_last_number_within_tolerance() {
        assert!(passes(json!("numeric"), "12 * 3 = 36.", json!(36)));
        assert!(!passes(json!("numeric"), "12 * 3 = 35.", json!(36)));
        assert!(passes(
            json!({"type": "numeric", "rel_tol": 0.01}),
            "about 1,000.5",
            json!("1000")
        ));
        assert!(!passes(json!("numeric"), "no number here", json!(1)));
    }

    #[test]
    fn json_schema_needs_valid_json() {
        let spec = json!({"type": "json_schema", "schema": {"type": "object", "required": ["a"]}});
        assert!(passes(
            spec.clone(),
            "```json\n{\"a\": 1}\n```",
            json!(null)
        ));
        assert!(!passes(spec.clone(), "{\"b\": 1}", json!(null)));
        assert!(!passes(spec, "not json", json!(null)));
    }

    #[test]
    fn json_match_equal_or_subset() {
        assert!(passes(json!("json_match"), "{\"a\": 1.0}", json!({"a": 1})));
        assert!(!passes(
            json!("json_match"),
            "{\"a\": 1, \"b\": 2}",
            json!({"a": 1})
        ));
        assert!(passes(
            json!({"type": "json_match", "mode": "subset"}),
            "{\"a\": 1, \"b\": 2}",
            json!({"a": 1})
        ));
        assert!(!passes(
            json!({"type": "json_match", "mode": "subset"}),
            "{\"b\": 2}",
            json!({"a": 1})
        ));
    }

    #[test]
    fn fuzzy_by_edit_distance_or_token_f1() {
        assert!(passes(
            json!("fuzzy"),
            "You said: helo",
            json!("You said: hello")
        ));
        assert!(!passes(
            json!("fuzzy"),
            "completely different",
            json!("You said: hello")
        ));
        let f1 = json!({"type": "fuzzy", "metric": "token_f1", "threshold": 0.6});
        assert!(passes(
            f1.clone(),
            "the capital is Paris",
            json!("Paris is the capital")
        ));
        assert!(!passes(f1, "London", json!("Paris is the capital")));
    }

    #[test]
    fn tool_call_checks_name_schema_and_expected_arguments() {
        let g = grader(
            json!({"type": "tool_call", "name": "get_weather", "arguments": {"city": "Paris"}}),
        );
        let call = |name: &str, args: &str| Answer {
            text: String::new(),
            tool_calls: vec![ToolCall {
                name: name.into(),
                arguments: args.into(),
            }],
        };
        assert!(
            g.grade(
                &call("get_weather", r#"{"city":"Paris"}"#),
                None,
                &Consulted::default()
            )
            .passed
        );
        assert!(
            !g.grade(
                &call("get_weather", r#"{"city":"Rome"}"#),
                None,
                &Consulted::default()
            )
            .passed
        );
        assert!(
            !g.grade(
                &call("get_weather", r#"{"town":"Paris"}"#),
                None,
                &Consulted::default()
            )
            .passed
        );
        assert!(
            !g.grade(
                &call("get_time", r#"{"city":"Paris"}"#),
                None,
                &Consulted::default()
            )
            .passed
        );
        assert!(
            !g.grade(&Answer::text("It is sunny"), None, &Consulted::default())
                .passed
        );
    }

    #[test]
    fn combinators_compose() {
        let both = json!({"type": "all", "of": [{"type": "includes", "values": ["4"]}, {"type": "regex", "pattern": "=" }]});
        assert!(passes(both.clone(), "2 + 2 = 4.", json!(null)));
        assert!(!passes(both, "four", json!(null)));
        let either = json!({"type": "any", "of": [{"type": "regex", "pattern": "^x$"}, "exact"]});
        assert!(passes(either.clone(), "y", json!("y")));
        assert!(!passes(either, "z", json!("y")));
        assert!(passes(
            json!({"type": "not", "grader": {"type": "includes", "values": ["sorry"]}}),
            "Sure.",
            json!(null)
        ));
        assert!(!passes(
            json!({"type": "not", "grader": {"type": "includes", "values": ["sorry"]}}),
            "sorry",
            json!(null)
        ));
    }

    #[test]
    fn judge_reads_the_verdict_of_its_rubric() {
        let g =
            grader(json!({"type": "not", "grader": {"type": "judge", "rubric": "mentions Paris"}}));
        assert_eq!(g.rubrics(), vec!["mentions Paris"]);
        let said = |passed: Option<bool>| Judged {
            rubric: "mentions Paris".into(),
            passed,
            reason: "because".into(),
            prompt: json!([]),
            raw: String::new(),
        };
        let answer = Answer::text("x");
        assert!(
            !g.grade(
                &answer,
                None,
                &Consulted {
                    judged: &[said(Some(true))],
                    similar: &[]
                }
            )
            .passed
        );
        assert!(
            g.grade(
                &answer,
                None,
                &Consulted {
                    judged: &[said(Some(false))],
                    similar: &[]
                }
            )
            .passed
        );
        let judge = grader(json!({"type": "judge", "rubric": "mentions Paris"}));
        assert!(
            judge
                .grade(
                    &answer,
                    None,
                    &Consulted {
                        judged: &[said(Some(true))],
                        similar: &[]
                    }
                )
                .passed
        );
        assert!(
            !judge
                .grade(
                    &answer,
                    None,
                    &Consulted {
                        judged: &[said(Some(false))],
                        similar: &[]
                    }
                )
                .passed
        );
        assert!(
            !judge
                .grade(
                    &answer,
                    None,
                    &Consulted {
                        judged: &[said(None)],
                        similar: &[]
                    }
                )
                .passed
        );
        assert!(!judge.grade(&answer, None, &Consulted::default()).passed);
    }

    #[test]
    fn graders_that_cannot_run_are_refused_when_compiled() {
        let refused = |spec: Value| {
            serde_json::from_value::<GraderSpec>(spec)
                .map_err(|e| e.to_string())
                .and_then(|s| Grader::compile(&s, &[]).map(|_| ()))
                .is_err()
        };
        assert!(refused(json!({"type": "regex", "pattern": "("})));
        assert!(refused(
            json!({"type": "json_schema", "schema": {"type": 12}})
        ));
        assert!(refused(json!({"type": "tool_call", "name": "not_offered"})));
        assert!(refused(json!({"type": "fuzzy", "threshold": 2})));
        assert!(refused(json!({"type": "exact", "normalise": ["case"]})));
        assert!(refused(json!("telepathy")));
        assert!(refused(json!({"type": "judge", "rubric": " "})));
        assert!(refused(json!({"type": "similar", "threshold": 1.5})));
        assert!(refused(json!({"type": "similar", "metric": "euclidean"})));
        assert!(refused(json!({"type": "similar", "values": []})));
    }

    #[test]
    fn similarity_measures_match_their_definitions() {
        let m = Similarity::between("x", &[1.0, 0.0], &[1.0, 1.0])
            .map(|m| (m.cosine, m.dot, m.euclidean));
        let Some((cosine, dot, euclidean)) = m else {
            panic!("comparable")
        };
        assert!((cosine - 0.5f64.sqrt()).abs() < 1e-9);
        assert!((dot - 1.0).abs() < 1e-9);
        assert!((euclidean - 1.0).abs() < 1e-9);
        // Nothing to compare: other lengths, or a zero vector.
        assert!(Similarity::between("x", &[1.0], &[1.0, 0.0]).is_none());
        assert!(Similarity::between("x", &[0.0, 0.0], &[1.0, 0.0]).is_none());
    }

    #[test]
    fn similar_passes_on_one_close_text_and_names_the_measure() {
        let g = grader(json!({"type": "similar", "threshold": 0.8}));
        let ideal = json!(["Paris", "The capital is Paris"]);
        assert_eq!(
            g.similar_texts(Some(&ideal)),
            vec![
                (None, "Paris".to_owned()),
                (None, "The capital is Paris".to_owned())
            ]
        );
        assert!(g.embeds());
        let measured = |a: f64, b: f64| {
            vec![
                Similarity {
                    expected: "Paris".into(),
                    model: None,
                    cosine: a,
                    dot: a,
                    euclidean: 1.0 - a,
                },
                Similarity {
                    expected: "The capital is Paris".into(),
                    model: None,
                    cosine: b,
                    dot: b,
                    euclidean: 1.0 - b,
                },
            ]
        };
        let answer = Answer::text("It is Paris.");
        let graded = |m: &[Similarity]| {
            g.grade(
                &answer,
                Some(&ideal),
                &Consulted {
                    judged: &[],
                    similar: m,
                },
            )
        };
        let pass = graded(&measured(0.5, 0.91));
        assert!(pass.passed, "{}", pass.reason);
        assert!(
            pass.reason.contains("cosine similarity 0.9100"),
            "{}",
            pass.reason
        );
        let fail = graded(&measured(0.5, 0.79));
        assert!(!fail.passed);
        assert!(
            fail.reason.contains("0.7900") && fail.reason.contains("at least 0.8 needed"),
            "{}",
            fail.reason
        );
        // A text whose similarity was never measured fails, and says so.
        assert!(!graded(&measured(0.9, 0.9)[1..]).passed);
        // So does an empty answer, without asking anything.
        assert!(
            !g.grade(
                &Answer::text(" "),
                Some(&ideal),
                &Consulted {
                    judged: &[],
                    similar: &measured(1.0, 1.0)
                }
            )
            .passed
        );
        // Distances pass below the threshold; the default threshold is promptfoo's 0.75.
        let near = grader(
            json!({"type": "similar", "metric": "euclidean", "threshold": 0.3, "values": ["Paris"]}),
        );
        assert!(
            near.grade(
                &answer,
                None,
                &Consulted {
                    judged: &[],
                    similar: &measured(0.8, 0.0)
                }
            )
            .passed
        );
        assert!(
            !near
                .grade(
                    &answer,
                    None,
                    &Consulted {
                        judged: &[],
                        similar: &measured(0.6, 0.0)
                    }
                )
                .passed
        );
        let default = grader(json!({"type": "similar", "values": ["Paris"]}));
        assert!(
            default
                .grade(
                    &answer,
                    None,
                    &Consulted {
                        judged: &[],
                        similar: &measured(0.75, 0.0)
                    }
                )
                .passed
        );
        assert!(
            !default
                .grade(
                    &answer,
                    None,
                    &Consulted {
                        judged: &[],
                        similar: &measured(0.74, 0.0)
                    }
                )
                .passed
        );
        // Inside combinators, each text is embedded once.
        let both = grader(
            json!({"type": "any", "of": [{"type": "similar"}, {"type": "not", "grader": {"type": "similar", "values": ["Paris", "Rome"]}}]}),
        );
        assert_eq!(
            both.similar_texts(Some(&json!("Paris"))),
            vec![(None, "Paris".to_owned()), (None, "Rome".to_owned())]
        );
        assert!(!grader(json!("exact")).embeds());
        // A grader naming its own model reads only what that model measured.
        let own = grader(json!({"type": "similar", "values": ["Paris"], "model": "emb-2"}));
        assert_eq!(
            own.similar_texts(None),
            vec![(Some("emb-2".to_owned()), "Paris".to_owned())]
        );
        let by_default = measured(0.95, 0.0);
        let consulted = |m| Consulted {
            judged: &[],
            similar: m,
        };
        assert!(!own.grade(&answer, None, &consulted(&by_default)).passed);
        let mut by_own = measured(0.95, 0.0);
        by_own[0].model = Some("emb-2".into());
        assert!(own.grade(&answer, None, &consulted(&by_own)).passed);
    }
}
