//! promptfoo's assertions as our graders. A test's assertions are scored as promptfoo scores
//! them: every assertion of weight above 0 must pass, or with a test `threshold`, the weighted
//! mean of their scores must reach it (`weighted`).

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// One assertion as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Assertion {
    #[serde(rename = "type")]
    kind: String,
    value: Option<Value>,
    threshold: Option<f64>,
    weight: Option<f64>,
    /// A name for the score in promptfoo's reports: nothing to grade.
    #[allow(dead_code)]
    metric: Option<String>,
    provider: Option<Value>,
    transform: Option<Value>,
}

/// Why a test's assertions cannot be read: the assertion type at fault (to find its line), and
/// what is wrong.
pub(super) struct Unsupported {
    pub kind: Option<String>,
    pub text: String,
}

/// The assertion types read (and each with `not-` before it).
pub(super) const READ: [&str; 14] = [
    "equals",
    "contains",
    "icontains",
    "contains-any",
    "icontains-any",
    "contains-all",
    "icontains-all",
    "starts-with",
    "regex",
    "is-json",
    "contains-json",
    "llm-rubric",
    "levenshtein",
    "similar",
];

/// The grader of a test's assertions (`vars` fill `{{var}}` in their values); none for a
/// test without assertions, whose answers are recorded ungraded.
pub(super) fn grader(
    asserts: &[Assertion],
    threshold: Option<f64>,
    vars: &Map<String, Value>,
) -> Result<Option<Value>, Unsupported> {
    if asserts.is_empty() {
        return Ok(None);
    }
    let mut weighted = Vec::new();
    for a in asserts {
        let value = match &a.value {
            Some(v) => Some(super::render(v, vars).map_err(|e| Unsupported {
                kind: Some(a.kind.clone()),
                text: format!("{}: {e}", a.kind),
            })?),
            None => None,
        };
        weighted.push(json!({"grader": one(a, value)?, "weight": a.weight.unwrap_or(1.0)}));
    }
    let plain = threshold.is_none() && asserts.iter().all(|a| a.weight.is_none_or(|w| w == 1.0));
    Ok(Some(match (plain, weighted.len()) {
        (true, 1) => weighted[0]["grader"].clone(),
        (true, _) => {
            json!({"type": "all", "of": weighted.iter().map(|w| w["grader"].clone()).collect::<Vec<_>>()})
        }
        (false, _) => json!({"type": "weighted", "of": weighted, "threshold": threshold}),
    }))
}

fn one(a: &Assertion, value: Option<Value>) -> Result<Value, Unsupported> {
    let unsupported = |text: String| Unsupported {
        kind: Some(a.kind.clone()),
        text,
    };
    let (negated, kind) = match a.kind.strip_prefix("not-") {
        Some(kind) => (true, kind),
        None => (false, a.kind.as_str()),
    };
    // A `similar` assertion may name its embedding model; nothing else may name a provider.
    let embedding_model = match (&a.provider, kind.starts_with("similar")) {
        (None, _) => None,
        (Some(provider), true) => Some(embedding_model(provider).ok_or_else(|| {
            unsupported(format!(
                "{}: provider {provider} is not an embedding model this kit can ask (read: openai:embedding:MODEL)",
                a.kind
            ))
        })?),
        (Some(_), false) => {
            return Err(unsupported(format!(
                "{}: an assertion's `provider` is not supported",
                a.kind
            )))
        }
    };
    if a.transform.is_some() {
        return Err(unsupported(format!(
            "{}: an assertion's `transform` is not supported",
            a.kind
        )));
    }
    let text = || -> Result<String, Unsupported> {
        match &value {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(Value::Bool(b)) => Ok(b.to_string()),
            _ => Err(unsupported(format!("{}: `value` must be a text", a.kind))),
        }
    };
    let list = || -> Result<Vec<String>, Unsupported> {
        match &value {
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    _ => Err(unsupported(format!(
                        "{}: every value must be a text",
                        a.kind
                    ))),
                })
                .collect(),
            // promptfoo reads a text as a comma-separated list.
            Some(Value::String(s)) => Ok(s.split(',').map(|p| p.trim().to_owned()).collect()),
            _ => Err(unsupported(format!(
                "{}: `value` must be a list of texts",
                a.kind
            ))),
        }
    };
    let spec = match kind {
        "equals" => match &value {
            Some(Value::Object(_) | Value::Array(_)) => {
                json!({"type": "json_match", "expected": value})
            }
            _ => json!({"type": "exact", "values": [text()?], "normalize": []}),
        },
        "contains" | "icontains" => {
            json!({"type": "includes", "values": [text()?], "ignore_case": kind == "icontains"})
        }
        "contains-any" | "icontains-any" => json!({"type": "includes", "values": list()?,
            "mode": "any", "ignore_case": kind.starts_with('i')}),
        "contains-all" | "icontains-all" => json!({"type": "includes", "values": list()?,
            "mode": "all", "ignore_case": kind.starts_with('i')}),
        "starts-with" => json!({"type": "starts_with", "values": [text()?]}),
        "regex" => json!({"type": "regex", "pattern": text()?}),
        "is-json" => json!({"type": "json_schema", "schema": value.clone().unwrap_or(json!(true))}),
        "contains-json" => {
            json!({"type": "json_schema", "schema": value.clone().unwrap_or(json!(true)), "anywhere": true})
        }
        "llm-rubric" => json!({"type": "judge", "rubric": text()?}),
        "levenshtein" => {
            // promptfoo's threshold of levenshtein is the most edits (5 by default).
            let most = a.threshold.unwrap_or(5.0);
            if !(most >= 0.0 && most.fract() == 0.0) {
                return Err(unsupported(format!(
                    "levenshtein: threshold {most} is not a whole number of edits"
                )));
            }
            json!({"type": "fuzzy", "values": [text()?], "metric": "levenshtein", "max_distance": most as u64})
        }
        "similar" | "similar:cosine" | "similar:dot" | "similar:euclidean" => {
            let values = match &value {
                Some(Value::Array(_)) => list()?,
                _ => vec![text()?],
            };
            if let Some(file) = values.iter().find(|v| v.starts_with("file://")) {
                return Err(unsupported(format!(
                    "{}: a value read from a file ({file}) is not supported: write the text",
                    a.kind
                )));
            }
            let metric = kind.split_once(':').map_or("cosine", |(_, m)| m);
            let mut spec = json!({"type": "similar", "values": values, "metric": metric, "threshold": a.threshold});
            if let Some(model) = &embedding_model {
                spec["model"] = json!(model);
            }
            spec
        }
        other => {
            return Err(unsupported(format!(
                "`{other}` assertions are not supported (read: {}, and their not- forms)",
                READ.join(", ")
            )))
        }
    };
    if a.threshold.is_some() && kind != "levenshtein" && !kind.starts_with("similar") {
        return Err(unsupported(format!(
            "{}: a `threshold` on this assertion has no meaning here",
            a.kind
        )));
    }
    Ok(if negated {
        json!({"type": "not", "grader": spec})
    } else {
        spec
    })
}

/// The model of an embedding provider: `openai:embedding:MODEL` (or `embeddings`), as a
/// string or as `{id: …}`.
fn embedding_model(provider: &Value) -> Option<String> {
    let id = match provider {
        Value::String(id) => id.as_str(),
        Value::Object(o) => o.get("id")?.as_str()?,
        _ => return None,
    };
    match id.split(':').collect::<Vec<_>>().as_slice() {
        ["openai", "embedding" | "embeddings", model] if !model.is_empty() => {
            Some((*model).to_owned())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::answer::Answer;
    use crate::eval::grader::{Grader, GraderSpec};

    /// Whether `text` passes the test made of `asserts` (and `threshold`).
    fn passes(asserts: Value, threshold: Option<f64>, text: &str) -> bool {
        let asserts: Vec<Assertion> = serde_json::from_value(asserts).unwrap_or_default();
        let vars = serde_json::from_value(json!({"city": "Paris"})).unwrap_or_default();
        let spec = grader(&asserts, threshold, &vars).map_err(|e| e.text);
        let spec: GraderSpec = serde_json::from_value(spec.ok().flatten().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        let grader = Grader::compile(&spec, &[]).unwrap_or_else(|e| panic!("{e}"));
        grader
            .grade(&Answer::text(text), None, &Default::default())
            .passed
    }

    #[test]
    fn each_assertion_passes_and_fails_as_promptfoo_judges_it() {
        let cases = [
            (
                json!({"type": "equals", "value": "Paris"}),
                "Paris",
                " Paris",
            ),
            (
                json!({"type": "equals", "value": {"a": 1}}),
                "{\"a\": 1}",
                "{\"a\": 2}",
            ),
            (
                json!({"type": "contains", "value": "{{city}}"}),
                "in Paris",
                "in paris",
            ),
            (
                json!({"type": "icontains", "value": "PARIS"}),
                "in paris",
                "in Rome",
            ),
            (
                json!({"type": "contains-any", "value": ["Rome", "Paris"]}),
                "Paris",
                "Oslo",
            ),
            (
                json!({"type": "icontains-any", "value": "rome, paris"}),
                "PARIS",
                "Oslo",
            ),
            (
                json!({"type": "contains-all", "value": ["a", "b"]}),
                "ab",
                "a",
            ),
            (
                json!({"type": "icontains-all", "value": ["A", "B"]}),
                "ab",
                "b",
            ),
            (
                json!({"type": "starts-with", "value": "Yes"}),
                "Yes, sir",
                "No, yes",
            ),
            (json!({"type": "regex", "value": "^\\d{3}$"}), "123", "1234"),
            (json!({"type": "is-json"}), "{\"a\": 1}", "a: 1"),
            (
                json!({"type": "is-json", "value": {"type": "object", "required": ["a"]}}),
                "{\"a\": 1}",
                "{\"b\": 1}",
            ),
            (
                json!({"type": "levenshtein", "value": "kitten", "threshold": 3}),
                "sitting",
                "sitting down",
            ),
            (
                json!({"type": "levenshtein", "value": "hello"}),
                "hallo",
                "goodbye, all",
            ),
            (
                json!({"type": "not-contains", "value": "error"}),
                "fine",
                "an error",
            ),
            (json!({"type": "not-regex", "value": "\\d"}), "none", "1"),
        ];
        for (assertion, pass, fail) in cases {
            assert!(
                passes(json!([assertion]), None, pass),
                "{assertion} should pass {pass:?}"
            );
            assert!(
                !passes(json!([assertion]), None, fail),
                "{assertion} should fail {fail:?}"
            );
        }
    }

    #[test]
    fn weights_and_thresholds_score_as_promptfoo_scores() {
        let asserts = json!([
            {"type": "contains", "value": "a", "weight": 3},
            {"type": "contains", "value": "b"},
            {"type": "contains", "value": "c", "weight": 0},
        ]);
        // Without a threshold every assertion of weight above 0 must pass; weight 0 reports.
        assert!(passes(asserts.clone(), None, "ab"));
        assert!(!passes(asserts.clone(), None, "a"));
        // With one, the weighted mean: "a" alone scores 3/4.
        assert!(passes(asserts.clone(), Some(0.75), "a"));
        assert!(!passes(asserts.clone(), Some(0.8), "a"));
        assert!(!passes(asserts, Some(0.5), "b"));
    }

    #[test]
    fn similar_keeps_its_metric_threshold_and_values() {
        let spec = |a: Value| {
            let asserts: Vec<Assertion> = serde_json::from_value(json!([a])).unwrap_or_default();
            grader(&asserts, None, &Map::new())
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        assert_eq!(
            spec(json!({"type": "similar", "value": "Paris"})),
            json!({"type": "similar", "values": ["Paris"], "metric": "cosine", "threshold": null})
        );
        assert_eq!(
            spec(json!({"type": "similar", "value": "P", "provider": "openai:embedding:e-1"})),
            json!({"type": "similar", "values": ["P"], "metric": "cosine", "threshold": null, "model": "e-1"})
        );
        assert_eq!(
            spec(
                json!({"type": "similar", "value": "P", "provider": {"id": "anthropic:messages:x"}})
            ),
            Value::Null,
            "another kind of provider is refused"
        );
        assert_eq!(
            spec(json!({"type": "not-similar:dot", "value": ["a", "b"], "threshold": 0.5})),
            json!({"type": "not", "grader": {"type": "similar", "values": ["a", "b"], "metric": "dot", "threshold": 0.5}})
        );
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let refused = |a: Value| {
            let asserts: Vec<Assertion> = serde_json::from_value(json!([a])).unwrap_or_default();
            grader(&asserts, None, &Map::new())
                .err()
                .map(|e| (e.kind, e.text))
        };
        for kind in ["javascript", "python", "select-best", "similar:manhattan"] {
            let (at, text) = refused(json!({"type": kind, "value": "x"})).unwrap_or_default();
            assert_eq!(at.as_deref(), Some(kind));
            assert!(text.contains(kind), "{text}");
        }
        let (_, text) =
            refused(json!({"type": "similar", "value": ["a", "file://b.txt"]})).unwrap_or_default();
        assert!(text.contains("file://b.txt"), "{text}");
        let (_, text) =
            refused(json!({"type": "contains", "value": "x", "transform": "output.trim()"}))
                .unwrap_or_default();
        assert!(text.contains("transform"), "{text}");
        let (_, text) =
            refused(json!({"type": "contains", "value": "{{nope}}"})).unwrap_or_default();
        assert!(text.contains("`nope`"), "{text}");
    }
}
