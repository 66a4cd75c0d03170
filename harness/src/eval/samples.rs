//! OpenAI evals' samples files: one `{"input": [messages], "ideal": "…" | ["…", …]}` per line,
//! graded as the evals class the file was written for. Each line is read as the case it stands
//! for, in this kit's case format, so it is checked, run and reported as any case is; its id
//! is its line number, and its other fields are kept as the case's metadata.

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// How samples are graded, after OpenAI evals' basic classes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SamplesGrader {
    /// `Match`: the answer starts with an ideal (`starts_with`).
    #[default]
    Match,
    /// `Includes`: the answer contains an ideal (`includes`, any).
    Includes,
    /// `FuzzyMatch`: answer and ideal contain one another once normalised (`fuzzy`,
    /// `containment`).
    Fuzzy,
    /// `JsonMatch`: the answer is JSON equal to an ideal, each ideal a JSON text (`json_match`).
    Json,
}

#[derive(Deserialize)]
struct Sample {
    input: Value,
    ideal: Option<Value>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

/// Whether `first` (a suite's first non-blank line) is a sample rather than one of our lines:
/// an object with an `input` and no `id` (nor `suite`).
pub fn looks_like(first: &str) -> bool {
    match serde_json::from_str::<Value>(first) {
        Ok(Value::Object(line)) => {
            line.contains_key("input") && !line.contains_key("id") && !line.contains_key("suite")
        }
        _ => false,
    }
}

/// Sample line `number` as a case line of ours, graded by `grader`; or what is wrong with it.
pub fn translate(raw: &str, number: usize, grader: SamplesGrader) -> Result<String, String> {
    let sample: Sample = serde_json::from_str(raw).map_err(|e| {
        let text = e.to_string();
        let at = format!(" at line {} column {}", e.line(), e.column());
        format!(
            "not an OpenAI evals sample: {}",
            text.strip_suffix(&at).unwrap_or(&text)
        )
    })?;
    let ideal = sample
        .ideal
        .ok_or("the sample has no `ideal`: OpenAI evals' basic evals grade against it")?;
    let grader = match grader {
        SamplesGrader::Match => json!("starts_with"),
        SamplesGrader::Includes => json!({"type": "includes", "mode": "any"}),
        SamplesGrader::Fuzzy => json!({"type": "fuzzy", "metric": "containment"}),
        SamplesGrader::Json => {
            let texts = match &ideal {
                Value::Array(items) => items.clone(),
                one => vec![one.clone()],
            };
            let expected = texts
                .iter()
                .map(|t| {
                    let text = t
                        .as_str()
                        .ok_or("with --grader json, each ideal is a JSON text")?;
                    serde_json::from_str::<Value>(text)
                        .map_err(|e| format!("the ideal {text:?} is not JSON: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let of: Vec<Value> = expected
                .into_iter()
                .map(|e| json!({"type": "json_match", "expected": e}))
                .collect();
            json!({"type": "any", "of": of})
        }
    };
    let mut case = json!({
        "id": number.to_string(),
        "input": sample.input,
        "ideal": ideal,
        "grader": grader,
    });
    if !sample.rest.is_empty() {
        case["metadata"] = Value::Object(sample.rest);
    }
    Ok(case.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_the_case_it_stands_for() {
        let raw = r#"{"input": [{"role": "user", "content": "Once upon a "}], "ideal": "time", "source": "x"}"#;
        assert!(looks_like(raw));
        let case: Value =
            serde_json::from_str(&translate(raw, 7, SamplesGrader::Match).unwrap_or_default())
                .unwrap_or_default();
        assert_eq!(case["id"], "7");
        assert_eq!(case["grader"], "starts_with");
        assert_eq!(case["metadata"], json!({"source": "x"}));
        assert!(!looks_like(r#"{"id": "a", "input": "x"}"#));
        assert!(!looks_like(r#"{"suite": {"name": "s"}}"#));
    }

    #[test]
    fn json_ideals_must_be_json_texts() {
        let ok = translate(
            r#"{"input": "x", "ideal": ["{\"a\": 1}", "[2]"]}"#,
            1,
            SamplesGrader::Json,
        );
        let case: Value = serde_json::from_str(&ok.unwrap_or_default()).unwrap_or_default();
        assert_eq!(case["grader"]["of"][1]["expected"], json!([2]));
        let bad = translate(
            r#"{"input": "x", "ideal": "not json"}"#,
            1,
            SamplesGrader::Json,
        );
        assert!(bad.is_err_and(|e| e.contains("is not JSON")));
        let none = translate(r#"{"input": "x"}"#, 1, SamplesGrader::Match);
        assert!(none.is_err_and(|e| e.contains("no `ideal`")));
    }
}
