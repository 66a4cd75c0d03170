//! Dreams: a deterministic scenario grown from a seed, step by step (premise, expansions, a
//! twist, a resolution), then judged against its constraints by reading the trace back. The
//! same model, seed, constraints and step count give the same dream; the choices come from
//! SHA-256 of them, never from a clock or a random source.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Fewest steps a dream has.
pub const MIN_STEPS: usize = 3;
/// Most steps a dream may have.
pub const MAX_STEPS: usize = 12;

/// The kind of each step, in order.
fn kinds(steps: usize) -> Vec<&'static str> {
    let mut out = vec!["premise"];
    out.extend(std::iter::repeat_n("expansion", steps.saturating_sub(3)));
    out.extend(["twist", "resolution"]);
    out
}

/// One constraint, as the trace honours it.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    /// How the dream names it: the text of a listed constraint, or the key of a named one.
    pub name: String,
    rule: Rule,
}

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    /// A free-text requirement: woven into one step.
    Text(String),
    /// At most this many steps.
    MaxDepth(u64),
    /// These words appear in the trace.
    Include(Vec<String>),
    /// These words do not appear in the trace.
    Forbid(Vec<String>),
    /// A tone: every step is told in it.
    Tone(String),
    /// Another named constraint: recorded, woven into one step as `key = value`.
    Other(String),
}

/// Reads `constraints` (a list of strings, or an object of named constraints); `Err` names
/// the JSON path of the first value that is not usable.
pub fn constraints(value: &Value) -> Result<Vec<Constraint>, (String, String)> {
    let words = |v: &Value, path: String| -> Result<Vec<String>, (String, String)> {
        match v {
            Value::String(s) => Ok(vec![s.clone()]),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    w.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| (format!("{path}[{i}]"), "expected a string".to_owned()))
                })
                .collect(),
            _ => Err((path, "expected a string or a list of strings".into())),
        }
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, c)| match c.as_str() {
                Some(s) if !s.trim().is_empty() => Ok(Constraint {
                    name: s.to_owned(),
                    rule: Rule::Text(s.to_owned()),
                }),
                _ => Err((
                    format!("constraints[{i}]"),
                    "expected a non-empty string".into(),
                )),
            })
            .collect(),
        Value::Object(map) => map
            .iter()
            .map(|(key, v)| {
                let path = format!("constraints.{key}");
                let rule = match key.as_str() {
                    "max_depth" => {
                        // JSON Schema counts 5.0 as an integer, and so does the document; an
                        // integer past u64 (read as a float) is a depth no dream reaches.
                        let n = v.as_u64().or_else(|| {
                            v.as_f64()
                                .filter(|f| f.is_finite() && f.fract() == 0.0 && *f >= 1.0)
                                .map(|f| f.min(u64::MAX as f64) as u64)
                        });
                        Rule::MaxDepth(n.filter(|n| *n >= 1).ok_or_else(|| {
                            (path.clone(), "expected a positive integer".to_owned())
                        })?)
                    }
                    "must_include" => Rule::Include(words(v, path)?),
                    "forbid" => Rule::Forbid(words(v, path)?),
                    "tone" => Rule::Tone(
                        v.as_str()
                            .filter(|s| !s.trim().is_empty())
                            .ok_or_else(|| (path, "expected a non-empty string".to_owned()))?
                            .to_owned(),
                    ),
                    _ if matches!(v, Value::Object(_) | Value::Array(_)) => {
                        return Err((path, "expected a string, a number or a boolean".into()))
                    }
                    _ => Rule::Other(format!("{key} = {}", plain(v))),
                };
                Ok(Constraint {
                    name: key.clone(),
                    rule,
                })
            })
            .collect(),
        _ => Err((
            "constraints".into(),
            "expected a list of strings or an object of named constraints".into(),
        )),
    }
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// One step of a dream.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its index, from 0.
    pub step: usize,
    /// `premise`, `expansion`, `twist` or `resolution`.
    pub kind: &'static str,
    /// The text of the step.
    pub content: String,
    /// The constraints this step honours, by name.
    pub honours: Vec<String>,
}

/// The dream's judgement of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Critique {
    /// One sentence.
    pub summary: String,
    /// Each constraint, honoured or not, and why.
    pub checks: Vec<(String, bool, String)>,
}

impl Critique {
    /// The names of the constraints the dream did not honour.
    pub fn unmet(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|(_, ok, _)| !ok)
            .map(|(n, _, _)| n.clone())
            .collect()
    }
}

/// A whole dream.
#[derive(Debug, Clone, PartialEq)]
pub struct Dream {
    /// The steps, in order.
    pub trace: Vec<Step>,
    /// The judgement of the trace against the constraints.
    pub critique: Critique,
}

const SUBJECTS: [&str; 8] = [
    "a cartographer",
    "a night-shift engineer",
    "a pair of siblings",
    "an old lighthouse keeper",
    "a courier",
    "a choir of strangers",
    "a retired astronaut",
    "a child with a borrowed key",
];
const PLACES: [&str; 8] = [
    "a city that rearranges itself at dusk",
    "a library without walls",
    "a train that never stops",
    "a harbour of paper boats",
    "a greenhouse on the moon",
    "a market held inside a clock",
    "a valley where rain falls upward",
    "an archive of forgotten sounds",
];
const TURNS: [&str; 6] = [
    "the map is drawn in their own handwriting",
    "the door was never locked",
    "the voice belongs to them",
    "the ending was written first",
    "the storm is a memory, not weather",
    "every clock is counting up",
];

/// Deterministic choices for one dream: byte `i` of the digest of its inputs and `salt`.
struct Dice([u8; 32]);

impl Dice {
    fn new(model: &str, seed: &str, constraints: &[Constraint], steps: usize) -> Self {
        let mut h = Sha256::new();
        for part in [model, seed] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        for c in constraints {
            h.update((c.name.len() as u64).to_le_bytes());
            h.update(c.name.as_bytes());
        }
        h.update((steps as u64).to_le_bytes());
        Self(h.finalize().into())
    }

    fn pick<'a>(&self, i: usize, from: &[&'a str]) -> &'a str {
        from[usize::from(self.0[i % 32]) % from.len()]
    }
}

/// The words of the seed, for the steps to use (at least one): those of three letters or
/// more when there are any (`at`, `of` carry no image).
fn seed_words(seed: &str) -> Vec<String> {
    let words: Vec<String> = seed
        .split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let long: Vec<String> = words
        .iter()
        .filter(|w| w.chars().count() >= 3)
        .cloned()
        .collect();
    match (long.is_empty(), words.is_empty()) {
        (false, _) => long,
        (true, false) => words,
        (true, true) => vec!["dream".to_owned()],
    }
}

/// Dreams `steps` steps from `seed` under `constraints`.
pub fn dream(model: &str, seed: &str, constraints: &[Constraint], steps: usize) -> Dream {
    let steps = steps.clamp(MIN_STEPS, MAX_STEPS);
    let dice = Dice::new(model, seed, constraints, steps);
    let words = seed_words(seed);
    let word = |i: usize| words[i % words.len()].as_str();
    let subject = dice.pick(0, &SUBJECTS);
    let place = dice.pick(1, &PLACES);
    let turn = dice.pick(2, &TURNS);
    let tone = constraints.iter().find_map(|c| match &c.rule {
        Rule::Tone(t) => Some(t.as_str()),
        _ => None,
    });
    let mut trace: Vec<Step> = kinds(steps)
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let w = word(i);
            let content = match kind {
                "premise" => format!("In {place}, {subject} is dreaming of {}.", seed.trim()),
                "expansion" => format!(
                    "'{w}' grows: step {i} follows it deeper, and {subject} finds '{}' where '{}' used to be.",
                    word(i + 1),
                    word(i + 2)
                ),
                "twist" => format!("Then the twist: {turn}, and '{w}' was the clue all along."),
                _ => format!("At last {subject} wakes, keeping '{w}' and letting {place} fade."),
            };
            let content = match tone {
                Some(t) => format!("({t}) {content}"),
                None => content,
            };
            Step {
                step: i,
                kind,
                content,
                honours: Vec::new(),
            }
        })
        .collect();
    // Weave the constraints into the trace: a text or other named constraint into the step the
    // dice pick, the words to include into the resolution, a tone into every step.
    for (n, c) in constraints.iter().enumerate() {
        match &c.rule {
            Rule::Text(text) | Rule::Other(text) => {
                let at = usize::from(dice.0[(3 + n) % 32]) % trace.len();
                trace[at].content.push_str(&format!(" (As asked: {text}.)"));
                trace[at].honours.push(c.name.clone());
            }
            Rule::Include(words) => {
                let last = trace.len() - 1;
                trace[last]
                    .content
                    .push_str(&format!(" It remembers: {}.", words.join(", ")));
            }
            Rule::Tone(_) | Rule::MaxDepth(_) | Rule::Forbid(_) => {}
        }
    }
    let critique = judge(&mut trace, constraints);
    Dream { trace, critique }
}

/// Reads the trace back against each constraint, marks the steps that honour it, and says
/// which are unmet: the judgement comes from the text, not from how it was made.
fn judge(trace: &mut [Step], constraints: &[Constraint]) -> Critique {
    let mut checks = Vec::new();
    let has = |step: &Step, word: &str| step.content.to_lowercase().contains(&word.to_lowercase());
    for c in constraints {
        let (ok, why) = match &c.rule {
            Rule::Text(text) | Rule::Other(text) => {
                let at: Vec<usize> = trace
                    .iter()
                    .filter(|s| s.content.contains(text.as_str()))
                    .map(|s| s.step)
                    .collect();
                (!at.is_empty(), format!("woven into step {at:?}"))
            }
            Rule::MaxDepth(max) => {
                let ok = trace.len() as u64 <= *max;
                (
                    ok,
                    format!("{} steps against a maximum of {max}", trace.len()),
                )
            }
            Rule::Include(words) => {
                let missing: Vec<&String> = words
                    .iter()
                    .filter(|w| !trace.iter().any(|s| has(s, w)))
                    .collect();
                (
                    missing.is_empty(),
                    if missing.is_empty() {
                        "every word appears".into()
                    } else {
                        format!("missing: {missing:?}")
                    },
                )
            }
            Rule::Forbid(words) => {
                let found: Vec<&String> = words
                    .iter()
                    .filter(|w| trace.iter().any(|s| has(s, w)))
                    .collect();
                (
                    found.is_empty(),
                    if found.is_empty() {
                        "no forbidden word appears".into()
                    } else {
                        format!("the seed brought in {found:?}")
                    },
                )
            }
            Rule::Tone(t) => {
                let ok = trace
                    .iter()
                    .all(|s| s.content.starts_with(&format!("({t})")));
                (ok, format!("every step told as {t:?}"))
            }
        };
        if ok {
            for step in trace.iter_mut() {
                let honours = match &c.rule {
                    Rule::Text(text) | Rule::Other(text) => step.content.contains(text.as_str()),
                    Rule::Include(words) => words.iter().any(|w| has(step, w)),
                    Rule::Tone(_) | Rule::MaxDepth(_) | Rule::Forbid(_) => true,
                };
                if honours && !step.honours.contains(&c.name) {
                    step.honours.push(c.name.clone());
                }
            }
        }
        checks.push((c.name.clone(), ok, why));
    }
    let unmet: Vec<&str> = checks
        .iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(n, _, _)| n.as_str())
        .collect();
    let summary = match (constraints.len(), unmet.len()) {
        (0, _) => "No constraints were given; the dream follows its seed.".to_owned(),
        (1, 0) => "The one constraint is honoured.".to_owned(),
        (n, 0) => format!("All {n} constraints are honoured."),
        (n, _) => format!(
            "{} of {n} constraints are not honoured: {}.",
            unmet.len(),
            unmet.join(", ")
        ),
    };
    Critique { summary, checks }
}

/// The critique as the API sends it.
pub fn critique_json(c: &Critique) -> Value {
    let checks: Vec<Value> = c
        .checks
        .iter()
        .map(|(name, ok, why)| json!({"constraint": name, "honoured": ok, "detail": why}))
        .collect();
    json!({"summary": c.summary, "unmet": c.unmet(), "checks": checks})
}

/// One step as the API sends it.
pub fn step_json(s: &Step) -> Value {
    json!({"step": s.step, "kind": s.kind, "content": s.content, "honours": s.honours})
}

/// Echoes constraints as given (a list stays a list, an object an object).
pub fn echo(value: &Value) -> Value {
    match value {
        Value::Null => Value::Array(Vec::new()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_input_gives_the_same_dream_and_another_seed_another() {
        let c = constraints(&json!(["a lighthouse appears", "no one is harmed"])).unwrap();
        let a = dream("ref-dream-1", "paper boats at midnight", &c, 4);
        assert_eq!(a, dream("ref-dream-1", "paper boats at midnight", &c, 4));
        assert_ne!(a, dream("ref-dream-1", "glass orchards", &c, 4));
        let kinds: Vec<&str> = a.trace.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, ["premise", "expansion", "twist", "resolution"]);
        assert!(a.trace.iter().all(|s| s.content.contains("paper")
            || s.content.contains("boats")
            || s.content.contains("midnight")));
        assert!(a.critique.unmet().is_empty(), "{:?}", a.critique);
        for name in ["a lighthouse appears", "no one is harmed"] {
            assert!(a.trace.iter().any(|s| s.honours.iter().any(|h| h == name)));
        }
    }

    #[test]
    fn the_critique_names_what_the_trace_does_not_honour() {
        let c = constraints(&json!({"max_depth": 3, "forbid": "midnight", "must_include": ["tide"], "tone": "hopeful"})).unwrap();
        let d = dream("m", "paper boats at midnight", &c, 5);
        assert_eq!(d.critique.unmet(), ["max_depth", "forbid"]);
        assert!(d.trace.iter().all(|s| s.content.starts_with("(hopeful)")));
        assert!(d.trace.last().unwrap().content.contains("tide"));
        let ok = dream("m", "paper boats", &c, 3);
        assert!(ok.critique.unmet().is_empty(), "{:?}", ok.critique);
    }

    #[test]
    fn bad_constraints_name_their_path() {
        assert_eq!(constraints(&json!([1])).unwrap_err().0, "constraints[0]");
        assert_eq!(
            constraints(&json!({"max_depth": "five"})).unwrap_err().0,
            "constraints.max_depth"
        );
        assert_eq!(
            constraints(&json!({"forbid": [1]})).unwrap_err().0,
            "constraints.forbid[0]"
        );
        assert_eq!(constraints(&json!("x")).unwrap_err().0, "constraints");
        assert!(
            constraints(&json!({"max_depth": 5.0})).is_ok(),
            "an integral number"
        );
        assert_eq!(
            constraints(&json!({"style": {"a": 1}})).unwrap_err().0,
            "constraints.style"
        );
    }
}
