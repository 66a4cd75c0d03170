//! Asks one case of the target: builds each turn's request for its API, retries 429 and 5xx
//! with bounded, jittered backoff that honours `Retry-After`, paces to `--max-rps`, and grades
//! each reply. An answer that never arrives is *errored*, never graded and never dropped.

use super::answer::Answer;
use super::case::{Api, Case, Sampling};
use super::embedding::Embedder;
use super::grader::{Consulted, Grade, Judged, Similarity};
use super::send::{send_to, Pacer};
use crate::target::{Exchange, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::time::Instant;

/// How cases are asked.
#[derive(Debug)]
pub struct Asker {
    /// The target.
    pub target: Target,
    /// The model of cases that name none.
    pub model: String,
    /// Retries of a 429 or 5xx.
    pub max_retries: u32,
    /// The rate limit, if any.
    pub pacer: Option<Pacer>,
    /// Where `judge` graders ask, and which model.
    pub judge: Option<(Target, String)>,
    /// Where `similar` graders' embeddings are asked.
    pub embedder: Option<Embedder>,
    /// Sampling settings of cases that set none.
    pub sampling: Sampling,
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseOutcome {
    /// Enough asks passed.
    Passed,
    /// Answers arrived and too few passed.
    Failed,
    /// Too few passed, and at least one answer never arrived.
    Errored,
    /// Asked and answered, with nothing to judge the answer by (no grader, no ideal): kept
    /// and counted apart, never in an accuracy.
    Ungraded,
}

impl CaseOutcome {
    /// Whether the case passed; none when it was not graded.
    pub fn passed(self) -> Option<bool> {
        match self {
            Self::Passed => Some(true),
            Self::Failed | Self::Errored => Some(false),
            Self::Ungraded => None,
        }
    }

    /// The outcome as reports write it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Errored => "errored",
            Self::Ungraded => "ungraded",
        }
    }
}

/// One turn of one ask.
#[derive(Debug, Serialize, Deserialize)]
pub struct TurnRecord {
    /// HTTP status of the final try (absent when no answer arrived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The reply body as received (JSON, or the text when it is not JSON), for re-grading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<Value>,
    /// What the grader saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// The grader's judgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Grade>,
    /// Why no answer could be graded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What the judge said, for `judge` graders: its prompt and raw answer included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judged: Vec<Judged>,
    /// How close the answer's embedding is to each text of the `similar` graders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub similarity: Vec<Similarity>,
    /// Milliseconds to the whole reply, retries included.
    pub elapsed_ms: u64,
}

/// What grading one answer gave: the verdict, or why there is none, and what was consulted.
#[derive(Default)]
struct Graded {
    verdict: Option<Grade>,
    error: Option<String>,
    judged: Vec<Judged>,
    similarity: Vec<Similarity>,
}

/// One ask of a case (one of its `repeat`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Attempt {
    /// Whether every turn passed.
    pub passed: bool,
    /// Whether a turn's answer never arrived.
    pub errored: bool,
    /// The turns asked (an ask stops at its first errored turn).
    pub turns: Vec<TurnRecord>,
}

/// A case's result, as streamed to `results.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
pub struct CaseResult {
    /// The suite.
    pub suite: String,
    /// The case id.
    pub id: String,
    /// `file:line`.
    pub origin: String,
    /// The API asked.
    pub api: Api,
    /// The model asked.
    pub model: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its weight.
    pub weight: f64,
    /// How it ended.
    pub outcome: CaseOutcome,
    /// Asks that passed.
    pub passes: u32,
    /// Asks made.
    pub repeat: u32,
    /// Passing asks needed.
    pub min_passes: u32,
    /// Retries of 429s and 5xx, over all asks.
    pub retries: u32,
    /// The ideal of each turn.
    pub ideals: Vec<Option<Value>>,
    /// Every ask.
    pub attempts: Vec<Attempt>,
    /// The case's metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
}

impl Asker {
    /// Asks `case` `repeat` times and grades every turn.
    pub async fn ask(&self, case: &Case) -> CaseResult {
        let model = case.model.clone().unwrap_or_else(|| self.model.clone());
        let mut attempts = Vec::with_capacity(case.repeat as usize);
        let mut retries = 0;
        for _ in 0..case.repeat {
            let (attempt, r) = self.attempt(case, &model).await;
            retries += r;
            attempts.push(attempt);
        }
        let (passes, outcome) = outcome(&attempts, case.min_passes, case.grader.is_some());
        CaseResult {
            suite: case.suite.clone(),
            id: case.id.clone(),
            origin: case.origin.clone(),
            api: case.api,
            model,
            tags: case.tags.clone(),
            weight: case.weight,
            outcome,
            passes,
            repeat: case.repeat,
            min_passes: case.min_passes,
            retries,
            ideals: case.turns.iter().map(|t| t.ideal.clone()).collect(),
            attempts,
            metadata: case.metadata.clone(),
        }
    }

    async fn attempt(&self, case: &Case, model: &str) -> (Attempt, u32) {
        let mut turns = Vec::with_capacity(case.turns.len());
        let mut retries = 0;
        let mut messages: Vec<Value> = case
            .instructions
            .iter()
            .map(|i| json!({"role": "system", "content": i}))
            .collect();
        let mut previous: Option<String> = None;
        for turn in &case.turns {
            let (path, body) = match case.api {
                Api::Chat => {
                    match &turn.input {
                        Value::String(s) => messages.push(json!({"role": "user", "content": s})),
                        Value::Array(items) => messages.extend(items.iter().cloned()),
                        _ => {}
                    }
                    (
                        "/v1/chat/completions",
                        chat_body(case, &self.sampling, model, &messages),
                    )
                }
                Api::Responses => (
                    "/v1/responses",
                    responses_body(
                        case,
                        &self.sampling,
                        model,
                        &turn.input,
                        previous.as_deref(),
                    ),
                ),
            };
            let started = Instant::now();
            let (sent, r) = self.send(path, &body).await;
            retries += r;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            let record = match sent {
                Err(error) => TurnRecord {
                    status: None,
                    raw: None,
                    answer: None,
                    verdict: None,
                    error: Some(error),
                    judged: Vec::new(),
                    similarity: Vec::new(),
                    elapsed_ms,
                },
                Ok(ex) => {
                    let raw = ex.json().unwrap_or_else(|_| {
                        Value::String(String::from_utf8_lossy(&ex.body).into_owned())
                    });
                    let read = if (200..300).contains(&ex.status) {
                        match case.api {
                            Api::Chat => Answer::from_chat(&raw),
                            Api::Responses => Answer::from_responses(&raw),
                        }
                    } else {
                        Err(format!("HTTP {}: {}", ex.status, ex.excerpt()))
                    };
                    match read {
                        Ok(answer) => {
                            match case.api {
                                Api::Chat => messages.push(assistant_message(&answer)),
                                Api::Responses => {
                                    previous = raw["id"].as_str().map(str::to_owned);
                                }
                            }
                            // Nothing to judge by: the answer is kept, not graded.
                            let graded = match &case.grader {
                                Some(grader) => self.grade(grader, case, turn, &answer).await,
                                None => Graded::default(),
                            };
                            TurnRecord {
                                status: Some(ex.status),
                                raw: Some(raw),
                                answer: Some(answer),
                                verdict: graded.verdict,
                                error: graded.error,
                                judged: graded.judged,
                                similarity: graded.similarity,
                                elapsed_ms,
                            }
                        }
                        Err(error) => TurnRecord {
                            status: Some(ex.status),
                            raw: Some(raw),
                            answer: None,
                            verdict: None,
                            error: Some(error),
                            judged: Vec::new(),
                            similarity: Vec::new(),
                            elapsed_ms,
                        },
                    }
                }
            };
            let stop = record.error.is_some();
            turns.push(record);
            if stop {
                break;
            }
        }
        let errored = turns.iter().any(|t| t.error.is_some());
        let passed = !errored
            && turns.len() == case.turns.len()
            && turns
                .iter()
                .all(|t| t.verdict.as_ref().is_some_and(|v| v.passed));
        (
            Attempt {
                passed,
                errored,
                turns,
            },
            retries,
        )
    }

    /// Grades one answer: asks the judge and the embeddings its grader needs, then grades.
    async fn grade(
        &self,
        grader: &super::grader::Grader,
        case: &Case,
        turn: &super::case::Turn,
        answer: &Answer,
    ) -> Graded {
        let judged = self
            .judge_all(case, &turn.input, answer, turn.ideal.as_ref())
            .await;
        let (similarity, unmeasured) = self.embed(case, answer, turn.ideal.as_ref()).await;
        let unreadable = judged
            .iter()
            .find(|j| j.passed.is_none())
            .map(|j| format!("judge: {}", j.reason))
            .or(unmeasured);
        let consulted = Consulted {
            judged: &judged,
            similar: &similarity,
        };
        let verdict = grader.grade(answer, turn.ideal.as_ref(), &consulted);
        Graded {
            // A judge or embeddings that could not be had leave the turn ungraded: errored.
            verdict: unreadable.is_none().then_some(verdict),
            error: unreadable,
            judged,
            similarity,
        }
    }

    /// The similarities the case's `similar` graders need, or why they could not be
    /// measured (which leaves the turn errored: its answer could not be graded).
    async fn embed(
        &self,
        case: &Case,
        answer: &Answer,
        ideal: Option<&Value>,
    ) -> (Vec<Similarity>, Option<String>) {
        let expected = case
            .grader
            .as_ref()
            .map(|g| g.similar_texts(ideal))
            .unwrap_or_default();
        // An empty answer fails `similar` by itself: there is nothing to embed.
        if expected.is_empty() || answer.text.trim().is_empty() {
            return (Vec::new(), None);
        }
        let Some(embedder) = &self.embedder else {
            return (Vec::new(), Some("embeddings: no embedding model".into()));
        };
        // One request per model the graders name (most name none: the run's).
        let mut models: Vec<Option<String>> = Vec::new();
        for (model, _) in &expected {
            if !models.contains(model) {
                models.push(model.clone());
            }
        }
        let mut measured = Vec::new();
        for model in models {
            let texts: Vec<String> = expected
                .iter()
                .filter(|(m, _)| *m == model)
                .map(|(_, t)| t.clone())
                .collect();
            match embedder
                .similarities(
                    &answer.text,
                    &texts,
                    model.as_deref(),
                    self.pacer.as_ref(),
                    self.max_retries,
                )
                .await
            {
                Ok(found) => measured.extend(found),
                Err(e) => return (Vec::new(), Some(format!("embeddings: {e}"))),
            }
        }
        (measured, None)
    }

    /// Asks the judge about `answer` for every rubric of the case's grader.
    async fn judge_all(
        &self,
        case: &Case,
        input: &Value,
        answer: &Answer,
        ideal: Option<&Value>,
    ) -> Vec<Judged> {
        let mut judged = Vec::new();
        for rubric in case.grader.iter().flat_map(|g| g.rubrics()) {
            judged.push(self.judge(rubric, input, answer, ideal).await);
        }
        judged
    }

    async fn judge(
        &self,
        rubric: &str,
        input: &Value,
        answer: &Answer,
        ideal: Option<&Value>,
    ) -> Judged {
        let (target, model) = match &self.judge {
            Some((target, model)) => (target, model.as_str()),
            None => (&self.target, self.model.as_str()),
        };
        let question = match input {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let mut shown = format!("Rubric: {rubric}\n\nQuestion: {question}\n");
        if let Some(ideal) = ideal {
            shown.push_str(&format!("\nReference answer: {ideal}\n"));
        }
        shown.push_str(&format!("\nAnswer to grade: {}\n", answer.text));
        if !answer.tool_calls.is_empty() {
            shown.push_str(&format!(
                "Function calls in the answer: {}\n",
                serde_json::to_string(&answer.tool_calls).unwrap_or_default()
            ));
        }
        let prompt = json!([
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": shown},
        ]);
        let body = json!({"model": model, "messages": prompt, "temperature": 0});
        let judged = |passed: Option<bool>, reason: String, raw: String| Judged {
            rubric: rubric.to_owned(),
            passed,
            reason,
            prompt: prompt.clone(),
            raw,
        };
        let (sent, _) = send_to(
            target,
            self.pacer.as_ref(),
            self.max_retries,
            "/v1/chat/completions",
            &body,
        )
        .await;
        let ex = match sent {
            Ok(ex) if (200..300).contains(&ex.status) => ex,
            Ok(ex) => {
                return judged(
                    None,
                    format!("the judge answered HTTP {}", ex.status),
                    ex.excerpt(),
                )
            }
            Err(e) => {
                return judged(
                    None,
                    format!("the judge could not be asked: {e}"),
                    String::new(),
                )
            }
        };
        let raw = String::from_utf8_lossy(&ex.body).into_owned();
        let content = ex
            .json()
            .ok()
            .and_then(|v| Answer::from_chat(&v).ok())
            .map(|a| a.text);
        let Some(content) = content else {
            return judged(
                None,
                "the judge's answer is not a chat completion".into(),
                raw,
            );
        };
        match read_verdict(&content) {
            Some((passed, reason)) => judged(Some(passed), reason, content),
            None => judged(
                None,
                "the judge's answer has no JSON verdict ({\"pass\": true|false})".into(),
                content,
            ),
        }
    }

    /// Sends with retries: the exchange (any status but a retried-out 429/5xx) or the error.
    async fn send(&self, path: &str, body: &Value) -> (Result<Exchange, String>, u32) {
        send_to(
            &self.target,
            self.pacer.as_ref(),
            self.max_retries,
            path,
            body,
        )
        .await
    }
}

/// How the judge is asked to answer.
const JUDGE_SYSTEM: &str = "You grade answers against a rubric. Reply with only a JSON object: \
{\"pass\": true or false, \"reason\": \"one sentence\"}. Pass only when the answer meets the rubric.";

/// The judge's verdict: `{"pass": bool, "reason": …}` (or `"verdict": "pass"|"fail"`), found in
/// its answer even when wrapped in prose or a code fence.
fn read_verdict(content: &str) -> Option<(bool, String)> {
    let start = content.find('{')?;
    let end = content.rfind('}')?;
    let value: Value = serde_json::from_str(content.get(start..=end)?).ok()?;
    let passed = match (value.get("pass"), value.get("verdict")) {
        (Some(Value::Bool(b)), _) => *b,
        (_, Some(Value::String(v))) if v.eq_ignore_ascii_case("pass") => true,
        (_, Some(Value::String(v))) if v.eq_ignore_ascii_case("fail") => false,
        _ => return None,
    };
    let reason = value
        .get("reason")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((passed, reason))
}

/// Passing asks, and the case's outcome: passed with `min_passes` of them, else errored when
/// an answer never arrived, else failed; a case not `graded` is errored or ungraded.
pub fn outcome(attempts: &[Attempt], min_passes: u32, graded: bool) -> (u32, CaseOutcome) {
    let passes = attempts.iter().filter(|a| a.passed).count() as u32;
    let errored = attempts.iter().any(|a| a.errored);
    let outcome = if !graded {
        if errored {
            CaseOutcome::Errored
        } else {
            CaseOutcome::Ungraded
        }
    } else if passes >= min_passes {
        CaseOutcome::Passed
    } else if attempts.iter().any(|a| a.errored) {
        CaseOutcome::Errored
    } else {
        CaseOutcome::Failed
    };
    (passes, outcome)
}

fn assistant_message(answer: &Answer) -> Value {
    let mut message = json!({"role": "assistant", "content": answer.text});
    if !answer.tool_calls.is_empty() {
        message["tool_calls"] = answer
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"id": format!("call_{i}"), "type": "function",
                       "function": {"name": c.name, "arguments": c.arguments}})
            })
            .collect();
    }
    message
}

fn chat_body(case: &Case, defaults: &Sampling, model: &str, messages: &[Value]) -> Value {
    let mut body = json!({"model": model, "messages": messages});
    if !case.tools.is_empty() {
        body["tools"] = Value::Array(case.tools.clone());
    }
    if let Some(choice) = &case.tool_choice {
        body["tool_choice"] = choice.clone();
    }
    if let Some(format) = &case.response_format {
        body["response_format"] = Value::Object(format.clone());
    }
    sampling(&mut body, case, defaults);
    if let Some(seed) = case.seed.or(defaults.seed) {
        body["seed"] = json!(seed);
    }
    if let Some(max) = case.max_output_tokens.or(defaults.max_output_tokens) {
        body["max_completion_tokens"] = json!(max);
    }
    body
}

fn responses_body(
    case: &Case,
    defaults: &Sampling,
    model: &str,
    input: &Value,
    previous: Option<&str>,
) -> Value {
    let mut body = json!({"model": model, "input": input});
    if let Some(instructions) = &case.instructions {
        body["instructions"] = json!(instructions);
    }
    if let Some(id) = previous {
        body["previous_response_id"] = json!(id);
    }
    if !case.tools.is_empty() {
        body["tools"] = case.tools.iter().map(flat_tool).collect();
    }
    if let Some(choice) = &case.tool_choice {
        body["tool_choice"] = match choice.pointer("/function/name") {
            Some(name) => json!({"type": "function", "name": name}),
            None => choice.clone(),
        };
    }
    if let Some(format) = &case.response_format {
        body["text"] = json!({ "format": flat_format(format) });
    }
    sampling(&mut body, case, defaults);
    if let Some(max) = case.max_output_tokens.or(defaults.max_output_tokens) {
        body["max_output_tokens"] = json!(max);
    }
    body
}

/// The case's sampling settings, else the run's defaults.
fn sampling(body: &mut Value, case: &Case, defaults: &Sampling) {
    if let Some(t) = case.temperature.or(defaults.temperature) {
        body["temperature"] = json!(t);
    }
    if let Some(p) = case.top_p.or(defaults.top_p) {
        body["top_p"] = json!(p);
    }
}

/// A chat tool (`{"type":"function","function":{…}}`) in the Responses form (flat).
fn flat_tool(tool: &Value) -> Value {
    match (
        tool.get("type"),
        tool.get("function").and_then(Value::as_object),
    ) {
        (Some(kind), Some(function)) => {
            let mut flat = function.clone();
            flat.insert("type".into(), kind.clone());
            Value::Object(flat)
        }
        _ => tool.clone(),
    }
}

/// A chat `response_format` in the Responses `text.format` form (schema beside `type`).
fn flat_format(format: &Map<String, Value>) -> Value {
    let mut flat = format.clone();
    if let Some(Value::Object(schema)) = flat.remove("json_schema") {
        flat.extend(schema);
    }
    Value::Object(flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_shapes_become_responses_shapes() {
        let tool = json!({"type": "function", "function": {"name": "f", "parameters": {}}});
        assert_eq!(
            flat_tool(&tool),
            json!({"type": "function", "name": "f", "parameters": {}})
        );
        let format = json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {}}});
        let Value::Object(format) = format else {
            panic!("object")
        };
        assert_eq!(
            flat_format(&format),
            json!({"type": "json_schema", "name": "n", "schema": {}})
        );
    }
}
