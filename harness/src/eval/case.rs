//! Eval suites: JSONL files, one case per line, with an optional `{"suite": {…}}` first line
//! for the suite's defaults. Everything is checked when the files are read (shapes, duplicate
//! ids, missing ideals, graders that cannot run), with compiler-style `file:line:column`
//! errors, so a bad suite never sends a request.

use super::grader::{Grader, GraderSpec};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;
use std::path::Path;

/// Which API a case is asked through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/responses`.
    Responses,
}

/// The first line of a suite file, when it sets defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SuiteLine {
    suite: SuiteDefaults,
}

/// What a suite's cases inherit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteDefaults {
    /// The suite's name (default: the file name without extension).
    pub name: Option<String>,
    /// The API of cases that do not say.
    pub api: Option<Api>,
    /// The model of cases that do not say.
    pub model: Option<String>,
    /// The grader of cases that do not say.
    pub grader: Option<GraderSpec>,
    /// The suite's own accuracy gate.
    pub min_accuracy: Option<f64>,
}

/// One case line as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseLine {
    id: String,
    api: Option<Api>,
    model: Option<String>,
    input: Option<Value>,
    ideal: Option<Value>,
    turns: Option<Vec<TurnLine>>,
    instructions: Option<String>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    response_format: Option<Map<String, Value>>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    seed: Option<i64>,
    max_output_tokens: Option<u32>,
    grader: Option<GraderSpec>,
    weight: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
    metadata: Option<Map<String, Value>>,
    repeat: Option<u32>,
    min_passes: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnLine {
    input: Value,
    ideal: Option<Value>,
}

/// One turn: what is sent, and what the answer should be.
#[derive(Debug, Clone)]
pub struct Turn {
    /// A string, chat messages, or Responses input items.
    pub input: Value,
    /// The ideal answer(s) of this turn.
    pub ideal: Option<Value>,
}

/// A checked case, ready to run.
#[derive(Debug)]
pub struct Case {
    /// The suite it belongs to.
    pub suite: String,
    /// Unique within the suite.
    pub id: String,
    /// Where it was written (`file:line`).
    pub origin: String,
    /// The API to ask.
    pub api: Api,
    /// The model, if the case or suite names one.
    pub model: Option<String>,
    /// The turns, in order (one for a single-turn case).
    pub turns: Vec<Turn>,
    /// System text / `instructions`.
    pub instructions: Option<String>,
    /// Tools in chat form (`{"type":"function","function":{…}}`).
    pub tools: Vec<Value>,
    /// `tool_choice` in chat form.
    pub tool_choice: Option<Value>,
    /// `response_format` in chat form.
    pub response_format: Option<Map<String, Value>>,
    /// Sampling parameters.
    pub temperature: Option<f64>,
    /// `top_p`.
    pub top_p: Option<f64>,
    /// `seed`.
    pub seed: Option<i64>,
    /// Most tokens of each answer.
    pub max_output_tokens: Option<u32>,
    /// How answers are graded.
    pub grader: Grader,
    /// Its weight in accuracies.
    pub weight: f64,
    /// Tags, for per-tag accuracy and `--only-tags`.
    pub tags: Vec<String>,
    /// Free-form, copied to the report.
    pub metadata: Option<Map<String, Value>>,
    /// Times the case is asked.
    pub repeat: u32,
    /// Passing asks needed for the case to pass.
    pub min_passes: u32,
}

/// A suite: its defaults and its cases.
#[derive(Debug)]
pub struct Suite {
    /// Its name.
    pub name: String,
    /// The file it came from.
    pub file: String,
    /// Its own accuracy gate.
    pub min_accuracy: Option<f64>,
    /// Its cases, in file order.
    pub cases: Vec<Case>,
}

/// Something wrong in a suite file, located as a compiler would.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteError {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// The column where `"key"` is written on `line` (1 when it is not found).
fn column_of(line: &str, key: &str) -> usize {
    line.find(&format!("\"{key}\""))
        .map_or(1, |byte| line[..byte].chars().count() + 1)
}

/// Most bytes of one suite file.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Reads and checks the suite in `path`; `api` overrides every case's API.
pub fn load(path: &Path, api: Option<Api>) -> Result<Suite, Vec<SuiteError>> {
    let file = path.display().to_string();
    let at = |line: usize, column: usize, message: String| SuiteError {
        file: file.clone(),
        line,
        column,
        message,
    };
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > MAX_FILE_BYTES {
        return Err(vec![at(
            1,
            1,
            format!("the file has {size} bytes, more than the {MAX_FILE_BYTES} a suite may have"),
        )]);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![at(1, 1, format!("cannot read the suite: {e}"))])?;
    parse(&file, &text, api)
}

/// Checks the suite text of `file` (see [`load`]).
pub fn parse(file: &str, text: &str, api: Option<Api>) -> Result<Suite, Vec<SuiteError>> {
    let at = |line: usize, column: usize, message: String| SuiteError {
        file: file.to_owned(),
        line,
        column,
        message,
    };
    let stem = Path::new(file)
        .file_stem()
        .map_or_else(|| file.to_owned(), |s| s.to_string_lossy().into_owned());
    let mut defaults = SuiteDefaults::default();
    let mut errors = Vec::new();
    let mut cases = Vec::new();
    let mut ids = HashSet::new();
    let mut first = true;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let is_first = std::mem::replace(&mut first, false);
        if is_first && raw.trim_start().starts_with("{\"suite\"") {
            match serde_json::from_str::<SuiteLine>(raw) {
                Ok(line) => defaults = line.suite,
                Err(e) => errors.push(at(number, e.column().max(1), e.to_string())),
            }
            if let Some(gate) = defaults.min_accuracy {
                if !(0.0..=1.0).contains(&gate) {
                    errors.push(at(
                        number,
                        column_of(raw, "min_accuracy"),
                        format!("min_accuracy {gate} is not between 0 and 1"),
                    ));
                }
            }
            continue;
        }
        let line: CaseLine = match serde_json::from_str(raw) {
            Ok(line) => line,
            Err(e) => {
                errors.push(at(number, e.column().max(1), e.to_string()));
                continue;
            }
        };
        match check(line, raw, &defaults, api, &stem, file, number) {
            Ok(case) => {
                if !ids.insert(case.id.clone()) {
                    errors.push(at(
                        number,
                        column_of(raw, "id"),
                        format!("duplicate case id {:?}", case.id),
                    ));
                }
                cases.push(case);
            }
            Err((column, message)) => errors.push(at(number, column, message)),
        }
    }
    if errors.is_empty() && cases.is_empty() {
        errors.push(at(1, 1, "the suite has no case".to_owned()));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Suite {
        name: defaults.name.clone().unwrap_or(stem),
        file: file.to_owned(),
        min_accuracy: defaults.min_accuracy,
        cases,
    })
}

/// Checks one case line against the suite's defaults.
fn check(
    line: CaseLine,
    raw: &str,
    defaults: &SuiteDefaults,
    api: Option<Api>,
    suite: &str,
    file: &str,
    number: usize,
) -> Result<Case, (usize, String)> {
    let col = |key: &str| column_of(raw, key);
    if line.id.trim().is_empty() {
        return Err((col("id"), "the case id is empty".into()));
    }
    let turns = match (line.input, line.turns) {
        (Some(_), Some(_)) => {
            return Err((
                col("turns"),
                "a case has either `input` (one turn) or `turns`, not both".into(),
            ))
        }
        (None, None) => {
            return Err((1, "the case has no `input` (or `turns`)".into()));
        }
        (Some(input), None) => vec![Turn {
            input,
            ideal: line.ideal.clone(),
        }],
        (None, Some(turns)) => {
            if line.ideal.is_some() {
                return Err((
                    col("ideal"),
                    "a case with `turns` gives each turn its own `ideal`".into(),
                ));
            }
            if turns.is_empty() {
                return Err((col("turns"), "`turns` is empty".into()));
            }
            turns
                .into_iter()
                .map(|t| Turn {
                    input: t.input,
                    ideal: t.ideal,
                })
                .collect()
        }
    };
    for turn in &turns {
        check_input(&turn.input).map_err(|m| (col("input").min(col("turns")), m))?;
    }
    let Some(spec) = line.grader.or_else(|| defaults.grader.clone()) else {
        return Err((
            1,
            "the case has no `grader` (and its suite sets none)".into(),
        ));
    };
    let grader = Grader::compile(&spec, &line.tools.clone().unwrap_or_default())
        .map_err(|m| (col("grader"), m))?;
    if grader.needs_ideal() {
        if let Some(i) = turns.iter().position(|t| t.ideal.is_none()) {
            let which = if turns.len() > 1 {
                format!("turn {} has no `ideal`", i + 1)
            } else {
                "the case has no `ideal`".into()
            };
            return Err((
                1,
                format!("{which}, which its grader ({}) needs", spec.name()),
            ));
        }
        for turn in &turns {
            if let Some(ideal) = &turn.ideal {
                grader.check_ideal(ideal).map_err(|m| (col("ideal"), m))?;
            }
        }
    }
    let weight = line.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        return Err((
            col("weight"),
            format!("weight {weight} is not a positive number"),
        ));
    }
    let repeat = line.repeat.unwrap_or(1);
    if repeat == 0 || repeat > 1000 {
        return Err((
            col("repeat"),
            format!("repeat {repeat} is not between 1 and 1000"),
        ));
    }
    let min_passes = line.min_passes.unwrap_or(repeat);
    if min_passes == 0 || min_passes > repeat {
        return Err((
            col("min_passes"),
            format!("min_passes {min_passes} is not between 1 and repeat ({repeat})"),
        ));
    }
    Ok(Case {
        suite: defaults.name.clone().unwrap_or_else(|| suite.to_owned()),
        id: line.id,
        origin: format!("{file}:{number}"),
        api: api.or(line.api).or(defaults.api).unwrap_or(Api::Chat),
        model: line.model.or_else(|| defaults.model.clone()),
        turns,
        instructions: line.instructions,
        tools: line.tools.unwrap_or_default(),
        tool_choice: line.tool_choice,
        response_format: line.response_format,
        temperature: line.temperature,
        top_p: line.top_p,
        seed: line.seed,
        max_output_tokens: line.max_output_tokens,
        grader,
        weight,
        tags: line.tags,
        metadata: line.metadata,
        repeat,
        min_passes,
    })
}

/// An input is a non-empty string or a non-empty list of message/item objects.
fn check_input(input: &Value) -> Result<(), String> {
    match input {
        Value::String(s) if !s.is_empty() => Ok(()),
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => Ok(()),
        _ => Err("`input` must be a non-empty string or a list of message objects".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse("s.jsonl", text, None) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_good_suite_reads_with_its_defaults() {
        let suite = parse(
            "dir/math.jsonl",
            r#"{"suite": {"api": "responses", "grader": "exact", "min_accuracy": 0.9}}
{"id": "a", "input": "1 + 1", "ideal": "1 + 1 = 2.", "tags": ["arith"]}

{"id": "b", "turns": [{"input": "hi", "ideal": "You said: hi"}, {"input": "yo", "ideal": "x"}], "api": "chat"}"#,
            None,
        );
        let Ok(suite) = suite else {
            panic!("{suite:?}")
        };
        assert_eq!(suite.name, "math");
        assert_eq!(suite.min_accuracy, Some(0.9));
        assert_eq!(suite.cases.len(), 2);
        assert_eq!(suite.cases[0].api, Api::Responses);
        assert_eq!(suite.cases[1].api, Api::Chat);
        assert_eq!(suite.cases[1].turns.len(), 2);
        assert_eq!(suite.cases[1].origin, "dir/math.jsonl:4");
    }

    #[test]
    fn a_duplicate_id_is_located() {
        let e = errors(
            "{\"id\": \"a\", \"input\": \"x\", \"ideal\": \"y\", \"grader\": \"exact\"}\n  {\"id\": \"a\", \"input\": \"x\", \"ideal\": \"y\", \"grader\": \"exact\"}",
        );
        assert_eq!(e, vec!["s.jsonl:2:4: duplicate case id \"a\"".to_owned()]);
    }

    #[test]
    fn an_unknown_grader_is_located() {
        let e = errors(r#"{"id": "a", "input": "x", "ideal": "y", "grader": "telepathy"}"#);
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("s.jsonl:1:"), "{e:?}");
        assert!(e[0].contains("telepathy"), "{e:?}");
    }

    #[test]
    fn a_missing_ideal_is_an_error_for_graders_that_need_one() {
        let e = errors(r#"{"id": "a", "input": "x", "grader": "exact"}"#);
        assert_eq!(
            e,
            vec!["s.jsonl:1:1: the case has no `ideal`, which its grader (exact) needs".to_owned()]
        );
        assert!(errors(
            r#"{"id": "a", "input": "x", "grader": {"type": "regex", "pattern": "x"}}"#
        )
        .is_empty());
    }

    #[test]
    fn bad_json_unknown_fields_and_bad_numbers_are_located() {
        assert!(errors("{\"id\": \"a\",")
            .first()
            .is_some_and(|e| e.starts_with("s.jsonl:1:")));
        let e =
            errors(r#"{"id": "a", "input": "x", "ideal": "y", "grader": "exact", "wieght": 2}"#);
        assert!(e.first().is_some_and(|e| e.contains("wieght")), "{e:?}");
        let e = errors(
            r#"{"id": "a", "input": "x", "ideal": "y", "grader": "exact", "repeat": 3, "min_passes": 4}"#,
        );
        assert!(
            e.first().is_some_and(|e| e.contains("min_passes 4")),
            "{e:?}"
        );
        assert_eq!(
            errors(""),
            vec!["s.jsonl:1:1: the suite has no case".to_owned()]
        );
    }
}
