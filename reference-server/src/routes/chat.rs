//! `POST /v1/chat/completions`, plain and streamed, on the same engine as `/v1/responses`.

use super::table::Routes;
use crate::config::ModelKind;
use crate::engine::{self, tokens, Decision};
use crate::protocol::error::ApiError;
use crate::protocol::extract::{ApiJson, ApiRequest};
use crate::protocol::input;
use crate::protocol::params::{Object, ServiceTier, Stop, TextOrObject, Verbosity};
use crate::simulate::Ask;
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// The routes.
pub fn router() -> Routes {
    Routes::new().post::<ChatRequest, _, _>(ROUTE, create)
}

const ROUTE: &str = "/v1/chat/completions";

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Accepted for compatibility; this engine does not use every knob.
struct ChatRequest {
    model: String,
    messages: Value,
    stream: Option<bool>,
    stream_options: Option<Object>,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    n: Option<i64>,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    max_tokens: Option<i64>,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    max_completion_tokens: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    seed: Option<i64>,
    logprobs: Option<bool>,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    top_logprobs: Option<i64>,
    tools: Option<Value>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<Value>,
    metadata: Option<Value>,
    service_tier: Option<ServiceTier>,
    // Accepted and type-checked; this engine does not use them.
    stop: Option<Stop>,
    logit_bias: Option<std::collections::HashMap<String, serde_json::Number>>,
    user: Option<String>,
    safety_identifier: Option<String>,
    prompt_cache_key: Option<String>,
    store: Option<bool>,
    reasoning_effort: Option<String>,
    verbosity: Option<Verbosity>,
    modalities: Option<Vec<String>>,
    audio: Option<Object>,
    prediction: Option<Object>,
    web_search_options: Option<Object>,
    functions: Option<Vec<Object>>,
    function_call: Option<TextOrObject>,
}

impl ApiRequest for ChatRequest {
    const REQUIRED: &'static [&'static str] = &["model", "messages"];
    const FIELDS: &'static [&'static str] = &[
        "model",
        "messages",
        "stream",
        "stream_options",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "stop",
        "logprobs",
        "top_logprobs",
        "logit_bias",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "metadata",
        "store",
        "service_tier",
        "reasoning_effort",
        "verbosity",
        "modalities",
        "audio",
        "prediction",
        "web_search_options",
        "functions",
        "function_call",
    ];

    // Chat words this differently from Responses, with neither param nor code.
    fn unknown_field(name: &str) -> ApiError {
        ApiError::unrecognized_argument(name)
    }
}

/// One generated choice.
struct Choice {
    message: Value,
    finish_reason: &'static str,
    completion_tokens: usize,
}

fn check(state: &AppState, req: &ChatRequest) -> Result<(), ApiError> {
    let model = state
        .config
        .model(&req.model)
        .ok_or_else(|| ApiError::model_not_found(&req.model))?;
    if model.kind != ModelKind::Chat {
        return Err(ApiError::wrong_model(format!(
            "The model `{}` is not a chat model.",
            model.id
        )));
    }
    if let Some(n) = req.n {
        if !(1..=128).contains(&n) {
            return Err(ApiError::invalid_param(
                "n",
                format!("Invalid 'n' {n}: expected 1 to 128."),
            ));
        }
    }
    for (name, value) in [
        ("max_tokens", req.max_tokens),
        ("max_completion_tokens", req.max_completion_tokens),
    ] {
        if value.is_some_and(|v| v < 1) {
            return Err(ApiError::invalid_param(
                name,
                format!("Invalid '{name}': expected a positive integer."),
            ));
        }
    }
    if req.stream_options.is_some() && req.stream != Some(true) {
        return Err(ApiError::invalid_param(
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ));
    }
    if let Some(Stop::Many(list)) = &req.stop {
        if list.len() > 4 {
            return Err(ApiError::too_many_items("stop", list.len(), 4));
        }
    }
    for (token, bias) in req.logit_bias.iter().flatten() {
        let integral =
            bias.is_i64() || bias.is_u64() || bias.as_f64().is_some_and(|f| f.fract() == 0.0);
        if !integral {
            return Err(ApiError::invalid_param(
                format!("logit_bias.{token}"),
                format!("Invalid logit_bias for token {token}: {bias} is not an integer."),
            ));
        }
    }
    input::check_range(req.temperature, "temperature", 0.0, 2.0)?;
    input::check_range(req.top_p, "top_p", 0.0, 1.0)?;
    input::check_range(req.frequency_penalty, "frequency_penalty", -2.0, 2.0)?;
    input::check_range(req.presence_penalty, "presence_penalty", -2.0, 2.0)?;
    input::check_range(
        req.top_logprobs.map(|v| v as f64),
        "top_logprobs",
        0.0,
        20.0,
    )?;
    input::check_metadata(req.metadata.as_ref())
}

async fn create(
    State(state): State<AppState>,
    mut ask: Ask,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    check(&state, &req)?;
    input::check_count(&req.messages, "messages", state.config.limits.max_items)?;
    input::check_count(
        req.tools.as_ref().unwrap_or(&Value::Null),
        "tools",
        input::MAX_TOOLS,
    )?;
    let conversation = input::chat_messages(&req.messages)?;
    let tools = input::tools(req.tools.as_ref(), true)?;
    let choice = input::tool_choice(req.tool_choice.as_ref(), &tools, true)?;
    let format = input::reply_format(req.response_format.as_ref(), "response_format", true)?;
    let mut act = state
        .simulation
        .decide(&mut ask, ROUTE, &req.model, &state.metrics);
    if let Some(answer) = act.before().await {
        return Ok(answer);
    }
    let reply = engine::text::reply(&conversation, &tools, &choice, &format);
    let limit = req
        .max_completion_tokens
        .or(req.max_tokens)
        .map_or(usize::MAX, |m| m.max(1) as usize);
    let n = req.n.unwrap_or(1).max(1) as usize;
    let choices: Vec<Choice> = (0..n)
        .map(|_| make_choice(&reply.decision, limit))
        .collect();
    let prompt_tokens = reply.input_tokens;
    let completion_tokens: usize = choices.iter().map(|c| c.completion_tokens).sum();
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": { "cached_tokens": 0, "audio_tokens": 0 },
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0,
        },
    });
    let id = crate::protocol::new_id("chatcmpl");
    let created = crate::clock::now();
    let service_tier = ServiceTier::name(req.service_tier);
    if req.stream == Some(true) {
        let include_usage = req
            .stream_options
            .as_ref()
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let header = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": req.model,
            "service_tier": service_tier, "system_fingerprint": FINGERPRINT,
        });
        let events = stream_chunks(&header, &choices, include_usage.then_some(&usage));
        return Ok(act.stream(events, false));
    }
    // The choices of one request are generated side by side: the answer takes as long as
    // the longest.
    act.whole(
        choices
            .iter()
            .map(|c| c.completion_tokens)
            .max()
            .unwrap_or(0),
    )
    .await;
    let choices: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(index, c)| {
            json!({ "index": index, "message": c.message, "logprobs": null, "finish_reason": c.finish_reason })
        })
        .collect();
    Ok(act.answer(
        Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": req.model,
            "choices": choices,
            "usage": usage,
            "service_tier": service_tier,
            "system_fingerprint": FINGERPRINT,
        }))
        .into_response(),
    ))
}

const FINGERPRINT: &str = "fp_reference";

fn make_choice(decision: &Decision, limit: usize) -> Choice {
    match decision {
        Decision::Text(text) => {
            let (text, truncated) = tokens::truncate(text, limit);
            Choice {
                completion_tokens: tokens::count(&text),
                message: json!({ "role": "assistant", "content": text, "refusal": null, "annotations": [] }),
                finish_reason: if truncated { "length" } else { "stop" },
            }
        }
        Decision::Call { name, arguments } => Choice {
            completion_tokens: tokens::count(name) + tokens::count(arguments),
            message: json!({
                "role": "assistant",
                "content": null,
                "refusal": null,
                "annotations": [],
                "tool_calls": [{
                    "id": crate::protocol::new_id("call"),
                    "type": "function",
                    "function": { "name": name, "arguments": arguments },
                }],
            }),
            finish_reason: "tool_calls",
        },
    }
}

/// Chunks for every choice in turn: role first (once), then content or tool-call fragments,
/// then an empty delta with the finish reason; then the usage chunk when asked for.
fn stream_chunks(header: &Value, choices: &[Choice], usage: Option<&Value>) -> Vec<Value> {
    let chunk = |choice: Value| {
        let mut c = header.clone();
        c["choices"] = json!([choice]);
        if usage.is_some() {
            c["usage"] = Value::Null;
        }
        c
    };
    let mut out = Vec::new();
    for (index, choice) in choices.iter().enumerate() {
        let message = &choice.message;
        if let Some(calls) = message["tool_calls"].as_array() {
            for (ti, call) in calls.iter().enumerate() {
                let first = json!({
                    "index": ti, "id": call["id"], "type": "function",
                    "function": { "name": call["function"]["name"], "arguments": "" },
                });
                let mut delta = json!({ "tool_calls": [first] });
                if ti == 0 {
                    delta["role"] = json!("assistant");
                    delta["content"] = Value::Null;
                }
                out.push(chunk(json!({"index": index, "delta": delta, "logprobs": null, "finish_reason": null})));
                let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
                for piece in tokens::split(arguments) {
                    out.push(chunk(json!({
                        "index": index,
                        "delta": { "tool_calls": [{ "index": ti, "function": { "arguments": piece } }] },
                        "logprobs": null, "finish_reason": null,
                    })));
                }
            }
        } else {
            out.push(chunk(json!({
                "index": index, "delta": { "role": "assistant", "content": "", "refusal": null },
                "logprobs": null, "finish_reason": null,
            })));
            let text = message["content"].as_str().unwrap_or_default();
            for piece in tokens::split(text) {
                out.push(chunk(json!({
                    "index": index, "delta": { "content": piece }, "logprobs": null, "finish_reason": null,
                })));
            }
        }
        out.push(chunk(json!({
            "index": index, "delta": {}, "logprobs": null, "finish_reason": choice.finish_reason,
        })));
    }
    if let Some(usage) = usage {
        let mut last = header.clone();
        last["choices"] = json!([]);
        last["usage"] = usage.clone();
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_parses_the_same_straight_and_through_a_value() {
        crate::protocol::extract::assert_both_ways_agree::<ChatRequest>(&[
            r#"{"model":"ref-chat-1","messages":[{"role":"user","content":"Hi"}]}"#,
            r#"{"model":"ref-chat-1","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}],"temperature":0.2,"max_tokens":16,"stream":true,"stream_options":{"include_usage":true}}"#,
            r#"{"model":"ref-chat-1","messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto"}"#,
            r#"{"model":"ref-chat-1","messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"}}}}"#,
            r#"{"model":"ref-chat-1","messages":[{"role":"user","content":"Hi"}],"n":2.0,"seed":7,"stop":["x"],"logprobs":true,"top_logprobs":2}"#,
            r#"{"model":"ref-chat-1","messages":[{"role":"tool","content":"x"}]}"#,
            r#"{"model":"ref-chat-1","messages":[{"role":"user","content":5}]}"#,
            r#"{"model":"ref-chat-1","messages":[{"role":"user"}]}"#,
            r#"{"model":"ref-chat-1","messages":[],"temperature":"hot"}"#,
            r#"{"model":"ref-chat-1","messages":[{"role":"user","content":"Hi"}],"n":1.5}"#,
            r#"{"model":"ref-chat-1","messages":[{"role":"user","content":"Hi"}],"tool_choice":{"type":"function"}}"#,
            r#"{"messages":[{"role":"user","content":"Hi"}]}"#,
        ]);
    }

    #[test]
    fn usage_chunk_comes_last_with_no_choices() {
        let header = json!({"id": "c", "object": "chat.completion.chunk"});
        let choices = vec![make_choice(&Decision::Text("a b".into()), usize::MAX)];
        let chunks = stream_chunks(&header, &choices, Some(&json!({"total_tokens": 3})));
        let last = chunks.last().cloned().unwrap_or_default();
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"]["total_tokens"], 3);
        assert!(chunks[..chunks.len() - 1]
            .iter()
            .all(|c| c["usage"].is_null()));
        let text: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "a b");
    }

    #[test]
    fn truncation_sets_finish_reason_length() {
        let c = make_choice(&Decision::Text("one two three".into()), 2);
        assert_eq!(c.finish_reason, "length");
        assert_eq!(c.message["content"], "one two");
    }
}
