//! `POST /v1/responses` (plain and streamed), `GET`/`DELETE /v1/responses/{id}` and
//! `GET /v1/responses/{id}/input_items`.

use super::table::Routes;
use crate::config::ModelKind;
use crate::engine::{self, tokens, Decision, Turn};
use crate::protocol::error::ApiError;
use crate::protocol::extract::{ApiRequest, WithValue};
use crate::protocol::input;
use crate::protocol::params::{Object, ServiceTier, TextOrObject, Truncation, Verbosity};
use crate::protocol::project::Project;
use crate::simulate::Ask;
use crate::state::AppState;
use crate::store::StoredResponse;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The routes.
pub fn router() -> Routes {
    Routes::new()
        .post::<CreateResponse, _, _>("/v1/responses", create)
        .get("/v1/responses/{response_id}", retrieve)
        .delete("/v1/responses/{response_id}", remove)
        .get("/v1/responses/{response_id}/input_items", input_items)
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // Accepted for compatibility; this engine does not use every knob.
struct CreateResponse {
    model: Option<String>,
    input: Option<Value>,
    instructions: Option<String>,
    stream: Option<bool>,
    stream_options: Option<Object>,
    tools: Option<Value>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    previous_response_id: Option<String>,
    store: Option<bool>,
    text: Option<Object>,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    max_output_tokens: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    top_logprobs: Option<i64>,
    metadata: Option<Value>,
    reasoning: Option<Object>,
    truncation: Option<Truncation>,
    include: Option<Vec<String>>,
    background: Option<bool>,
    user: Option<String>,
    service_tier: Option<ServiceTier>,
    safety_identifier: Option<String>,
    prompt_cache_key: Option<String>,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    max_tool_calls: Option<i64>,
    // Accepted and type-checked; this engine does not use them.
    conversation: Option<TextOrObject>,
    prompt: Option<Object>,
    context_management: Option<Vec<Value>>,
}

impl ApiRequest for CreateResponse {
    const FORM: bool = true;
    const TEXT_FIELDS: &'static [&'static str] = &[
        "model",
        "input",
        "instructions",
        "previous_response_id",
        "user",
        "safety_identifier",
        "prompt_cache_key",
        "service_tier",
        "truncation",
        "tool_choice",
        "conversation",
    ];
    const FIELDS: &'static [&'static str] = &[
        "model",
        "input",
        "instructions",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "previous_response_id",
        "store",
        "text",
        "max_output_tokens",
        "temperature",
        "top_p",
        "top_logprobs",
        "metadata",
        "reasoning",
        "truncation",
        "include",
        "background",
        "user",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
        "max_tool_calls",
        "conversation",
        "prompt",
        "context_management",
        "moderation",
    ];
}

/// The checked request, ready for the engine.
struct Plan {
    req: CreateResponse,
    model: String,
    conversation: engine::Conversation,
    input_items: Vec<Value>,
    tools: Vec<engine::ToolSpec>,
    choice: engine::ToolChoice,
    format: engine::ReplyFormat,
    raw_tools: Value,
    raw_tool_choice: Value,
    raw_format: Value,
}

/// The model a Responses request names, checked: present, configured, and a chat model.
pub(super) fn responses_model(state: &AppState, model: Option<&str>) -> Result<String, ApiError> {
    let model_id = model.ok_or_else(|| ApiError::missing_param("model"))?;
    let model = state
        .config
        .model(model_id)
        .ok_or_else(|| ApiError::model_not_found(model_id))?;
    if model.kind != ModelKind::Chat {
        return Err(ApiError::wrong_model(format!(
            "The model `{model_id}` does not support the Responses API."
        )));
    }
    Ok(model_id.to_owned())
}

/// WebSocket mode's connection-local conversations (its `store: false` responses), by id.
pub type Local = HashMap<String, engine::Conversation>;

/// The turns of the stored response `id` names, if `project` stored it (`None`: not found).
pub(super) async fn stored_turns(
    state: &AppState,
    project: &Project,
    id: &str,
) -> Result<Option<Vec<Turn>>, ApiError> {
    Ok(state
        .stores
        .responses
        .get(project.as_str(), id)
        .await?
        .map(|stored| stored.conversation.turns))
}

fn plan_with(
    state: &AppState,
    req: CreateResponse,
    raw: &Value,
    previous: Option<Vec<Turn>>,
) -> Result<Plan, ApiError> {
    let model_id = responses_model(state, req.model.as_deref())?;
    if req.input.is_none() {
        return Err(ApiError::missing_param("input"));
    }
    if raw.get("conversation").is_some_and(|c| !c.is_null()) && req.previous_response_id.is_some() {
        return Err(ApiError::invalid_param(
            "previous_response_id",
            "'previous_response_id' cannot be used together with 'conversation'.",
        ));
    }
    if req.stream_options.is_some() && req.stream != Some(true) {
        return Err(ApiError::invalid_param(
            "stream_options",
            "'stream_options' is only allowed when 'stream' is true.",
        ));
    }
    if let Some(max) = req.max_tool_calls.filter(|m| *m < 1) {
        return Err(ApiError::below_minimum("max_tool_calls", 1, max));
    }
    if let Some(max) = req.max_output_tokens {
        if max < 16 {
            return Err(ApiError::below_minimum("max_output_tokens", 16, max));
        }
    }
    input::check_range(req.temperature, "temperature", 0.0, 2.0)?;
    input::check_range(req.top_p, "top_p", 0.0, 1.0)?;
    input::check_range(
        req.top_logprobs.map(|v| v as f64),
        "top_logprobs",
        0.0,
        20.0,
    )?;
    input::check_metadata(req.metadata.as_ref())?;

    let mut conversation = match &req.previous_response_id {
        Some(id) => {
            let turns = previous.ok_or_else(|| ApiError::previous_response_not_found(id))?;
            // Instructions are not carried over (as in the OpenAI API); turns are.
            engine::Conversation {
                instructions: Vec::new(),
                turns,
            }
        }
        None => engine::Conversation::default(),
    };
    if let Some(instructions) = &req.instructions {
        conversation.instructions.push(instructions.clone());
    }
    input::check_count(
        req.input.as_ref().unwrap_or(&Value::Null),
        "input",
        state.config.limits.max_items,
    )?;
    input::check_count(
        req.tools.as_ref().unwrap_or(&Value::Null),
        "tools",
        input::MAX_TOOLS,
    )?;
    let input_items = input::response_input(req.input.as_ref(), &mut conversation)?;
    let tools = input::tools(req.tools.as_ref(), false)?;
    let choice = input::tool_choice(req.tool_choice.as_ref(), &tools, false)?;
    let format_value = req.text.as_ref().and_then(|t| t.get("format"));
    if let Some(v) = req
        .text
        .as_ref()
        .and_then(|t| t.get("verbosity"))
        .filter(|v| !v.is_null())
    {
        serde_json::from_value::<Verbosity>(v.clone()).map_err(|_| {
            ApiError::invalid_param(
                "text.verbosity",
                format!("Invalid 'text.verbosity' {v}: expected low, medium or high."),
            )
        })?;
    }
    let format = input::reply_format(format_value, "text.format", false)?;
    Ok(Plan {
        model: model_id,
        conversation,
        input_items,
        tools,
        choice,
        format,
        raw_tools: echoed_tools(req.tools.as_ref()),
        raw_tool_choice: req
            .tool_choice
            .clone()
            .filter(|t| !t.is_null())
            .unwrap_or(json!("auto")),
        raw_format: format_value.cloned().unwrap_or(json!({"type": "text"})),
        req,
    })
}

/// The tools as the response echoes them: a function tool carries every key of the documented
/// object, `null` where the request left it out (Open Responses requires them present).
fn echoed_tools(tools: Option<&Value>) -> Value {
    let Some(Value::Array(tools)) = tools else {
        return json!([]);
    };
    let echoed = tools
        .iter()
        .map(|tool| {
            let mut tool = tool.clone();
            if let Some(fields) = tool.as_object_mut().filter(|t| t["type"] == "function") {
                for key in ["description", "parameters", "strict"] {
                    fields.entry(key).or_insert(Value::Null);
                }
            }
            tool
        })
        .collect();
    Value::Array(echoed)
}

/// The outcome of running the engine: output items and accounting.
struct Outcome {
    output: Vec<Value>,
    output_turns: Vec<Turn>,
    input_tokens: usize,
    output_tokens: usize,
    truncated: bool,
}

fn run(plan: &Plan) -> Outcome {
    let reply = engine::text::reply(&plan.conversation, &plan.tools, &plan.choice, &plan.format);
    let limit = plan
        .req
        .max_output_tokens
        .map_or(usize::MAX, |m| m.max(0) as usize);
    match reply.decision {
        Decision::Text(text) => {
            let (text, truncated) = tokens::truncate(&text, limit);
            let output_tokens = tokens::count(&text);
            let item = json!({
                "id": crate::protocol::new_id("msg"),
                "type": "message",
                "status": if truncated { "incomplete" } else { "completed" },
                "content": [{ "type": "output_text", "annotations": [], "logprobs": [], "text": text }],
                "role": "assistant",
            });
            Outcome {
                output: vec![item],
                output_turns: vec![Turn::Message {
                    role: "assistant".into(),
                    text,
                }],
                input_tokens: reply.input_tokens,
                output_tokens,
                truncated,
            }
        }
        Decision::Call { name, arguments } => {
            let call_id = crate::protocol::new_id("call");
            let item = json!({
                "id": crate::protocol::new_id("fc"),
                "type": "function_call",
                "status": "completed",
                "arguments": arguments,
                "call_id": call_id,
                "name": name,
            });
            Outcome {
                output: vec![item],
                output_tokens: tokens::count(&name) + tokens::count(&arguments),
                output_turns: vec![Turn::ToolCall {
                    call_id,
                    name,
                    arguments,
                }],
                input_tokens: reply.input_tokens,
                truncated: false,
            }
        }
    }
}

fn response_object(plan: &Plan, outcome: &Outcome, id: &str, created_at: i64) -> Value {
    let status = if outcome.truncated {
        "incomplete"
    } else {
        "completed"
    };
    let req = &plan.req;
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": req.background.unwrap_or(false),
        "completed_at": if outcome.truncated { Value::Null } else { json!(crate::clock::now()) },
        "error": null,
        "incomplete_details": if outcome.truncated { json!({"reason": "max_output_tokens"}) } else { Value::Null },
        "instructions": req.instructions,
        "max_output_tokens": req.max_output_tokens,
        "max_tool_calls": req.max_tool_calls,
        "model": plan.model,
        "output": outcome.output,
        "parallel_tool_calls": req.parallel_tool_calls.unwrap_or(true),
        "previous_response_id": req.previous_response_id,
        "prompt_cache_key": req.prompt_cache_key,
        "reasoning": req.reasoning.clone().map_or(json!({"effort": null, "summary": null}), Value::Object),
        "safety_identifier": req.safety_identifier,
        "service_tier": ServiceTier::name(req.service_tier),
        "store": req.store.unwrap_or(true),
        "temperature": req.temperature.unwrap_or(1.0),
        "text": { "format": plan.raw_format, "verbosity": "medium" },
        "tool_choice": plan.raw_tool_choice,
        "tools": plan.raw_tools,
        "top_logprobs": req.top_logprobs.unwrap_or(0),
        "top_p": req.top_p.unwrap_or(1.0),
        "truncation": Truncation::name(req.truncation),
        "usage": {
            "input_tokens": outcome.input_tokens,
            "input_tokens_details": { "cached_tokens": 0, "cache_write_tokens": 0 },
            "output_tokens": outcome.output_tokens,
            "output_tokens_details": { "reasoning_tokens": 0 },
            "total_tokens": outcome.input_tokens + outcome.output_tokens,
        },
        "user": req.user,
        "metadata": req.metadata.clone().filter(|m| !m.is_null()).unwrap_or(json!({})),
        "frequency_penalty": 0.0,
        "presence_penalty": 0.0,
    })
}

async fn create(
    State(state): State<AppState>,
    project: Project,
    mut ask: Ask,
    WithValue(req, raw): WithValue<CreateResponse>,
) -> Result<Response, ApiError> {
    let previous = match &req.previous_response_id {
        Some(id) => stored_turns(&state, &project, id).await?,
        None => None,
    };
    let plan = plan_with(&state, req, &raw, previous)?;
    let mut act = state.simulation.decide(
        &mut ask,
        "/v1/responses",
        plan.req.model.as_deref().unwrap_or_default(),
        &state.metrics,
    );
    if let Some(answer) = act.before().await {
        return Ok(answer);
    }
    let outcome = run(&plan);
    let id = crate::protocol::new_id("resp");
    let response = response_object(&plan, &outcome, &id, crate::clock::now());
    if plan.req.store.unwrap_or(true) {
        let mut conversation = plan.conversation.clone();
        conversation
            .turns
            .extend(outcome.output_turns.iter().cloned());
        state
            .stores
            .responses
            .put(
                project.as_str(),
                id.clone(),
                StoredResponse {
                    response: response.clone(),
                    input_items: plan.input_items.clone(),
                    conversation,
                },
            )
            .await?;
    }
    if plan.req.stream == Some(true) {
        return Ok(act.stream(stream_events(&response), true));
    }
    act.whole(outcome.output_tokens).await;
    Ok(act.answer(Json(response).into_response()))
}

/// What a `response.create` message of WebSocket mode made: the events to send, and the
/// response to store (`store: true`) under its id.
pub(super) type SocketAnswer = (Vec<Value>, Option<(String, StoredResponse)>);

/// A `response.create` message of WebSocket mode (its `type` removed), continuing `previous`
/// (the turns its `previous_response_id` names, found by the caller): the events of the
/// response, as a stream would send them. A `store: false` response is kept in `local`, the
/// connection's own state, for continuations on the same socket.
pub(super) fn create_for_socket(
    state: &AppState,
    body: &Value,
    local: &mut Local,
    previous: Option<Vec<Turn>>,
) -> Result<SocketAnswer, ApiError> {
    let WithValue(req, raw) =
        crate::protocol::extract::parse_value::<CreateResponse>(body.clone())?;
    let plan = plan_with(state, req, &raw, previous)?;
    let outcome = run(&plan);
    let id = crate::protocol::new_id("resp");
    let response = response_object(&plan, &outcome, &id, crate::clock::now());
    let mut conversation = plan.conversation.clone();
    conversation
        .turns
        .extend(outcome.output_turns.iter().cloned());
    let events = stream_events(&response);
    if plan.req.store.unwrap_or(true) {
        let stored = StoredResponse {
            response,
            input_items: plan.input_items,
            conversation,
        };
        return Ok((events, Some((id, stored))));
    }
    local.insert(id, conversation);
    Ok((events, None))
}

/// The event sequence of a streamed response, in the order of WIRE_FACTS.md §4.4.
pub fn stream_events(final_response: &Value) -> Vec<Value> {
    let mut events = Vec::new();
    let mut push = |mut event: Value| {
        let n = events.len();
        if let Some(obj) = event.as_object_mut() {
            obj.insert("sequence_number".into(), json!(n));
        }
        events.push(event);
    };
    let mut snapshot = final_response.clone();
    snapshot["status"] = json!("in_progress");
    snapshot["output"] = json!([]);
    snapshot["usage"] = Value::Null;
    snapshot["completed_at"] = Value::Null;
    snapshot["incomplete_details"] = Value::Null;
    push(json!({"type": "response.created", "response": snapshot}));
    push(json!({"type": "response.in_progress", "response": snapshot}));

    let output = final_response["output"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (index, item) in output.iter().enumerate() {
        let item_id = item["id"].clone();
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        match item["type"].as_str() {
            Some("function_call") => {
                added["arguments"] = json!("");
                push(
                    json!({"type": "response.output_item.added", "output_index": index, "item": added}),
                );
                let arguments = item["arguments"].as_str().unwrap_or_default();
                for piece in tokens::split(arguments) {
                    push(json!({
                        "type": "response.function_call_arguments.delta",
                        "item_id": item_id, "output_index": index, "delta": piece,
                    }));
                }
                push(json!({
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id, "output_index": index,
                    "name": item["name"], "arguments": arguments,
                }));
            }
            _ => {
                added["content"] = json!([]);
                push(
                    json!({"type": "response.output_item.added", "output_index": index, "item": added}),
                );
                let parts = item["content"].as_array().cloned().unwrap_or_default();
                for (content_index, part) in parts.iter().enumerate() {
                    let text = part["text"].as_str().unwrap_or_default();
                    let mut empty = part.clone();
                    empty["text"] = json!("");
                    push(json!({
                        "type": "response.content_part.added", "item_id": item_id,
                        "output_index": index, "content_index": content_index, "part": empty,
                    }));
                    for piece in tokens::split(text) {
                        push(json!({
                            "type": "response.output_text.delta", "item_id": item_id,
                            "output_index": index, "content_index": content_index,
                            "delta": piece, "logprobs": [],
                        }));
                    }
                    push(json!({
                        "type": "response.output_text.done", "item_id": item_id,
                        "output_index": index, "content_index": content_index,
                        "text": text, "logprobs": [],
                    }));
                    push(json!({
                        "type": "response.content_part.done", "item_id": item_id,
                        "output_index": index, "content_index": content_index, "part": part,
                    }));
                }
            }
        }
        push(json!({"type": "response.output_item.done", "output_index": index, "item": item}));
    }
    let terminal = if final_response["status"] == "incomplete" {
        "response.incomplete"
    } else {
        "response.completed"
    };
    push(json!({"type": terminal, "response": final_response}));
    events
}

async fn retrieve(
    State(state): State<AppState>,
    project: Project,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .stores
        .responses
        .get(project.as_str(), &id)
        .await?
        .map(|s| Json(s.response))
        .ok_or_else(|| ApiError::not_found("response", &id))
}

async fn remove(
    State(state): State<AppState>,
    project: Project,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if state.stores.responses.delete(project.as_str(), &id).await? {
        Ok(Json(
            json!({"id": id, "object": "response", "deleted": true}),
        ))
    } else {
        Err(ApiError::not_found("response", &id))
    }
}

async fn input_items(
    State(state): State<AppState>,
    project: Project,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let stored = state
        .stores
        .responses
        .get(project.as_str(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found("response", &id))?;
    let (limit, order) = super::list_params(&query)?;
    let mut items = stored.input_items;
    if order == crate::store::indexes::Order::Desc {
        items.reverse();
    }
    if let Some(after) = super::cursor(&query, "after") {
        let position = items
            .iter()
            .position(|i| i["id"].as_str() == Some(after))
            .ok_or_else(|| {
                ApiError::invalid_param("after", format!("No input item with id '{after}'."))
            })?;
        items.drain(..=position);
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    Ok(Json(json!({
        "object": "list",
        "data": items,
        "first_id": items.first().map(|i| i["id"].clone()),
        "last_id": items.last().map(|i| i["id"].clone()),
        "has_more": has_more,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_events_follow_the_documented_order() {
        let response = json!({
            "status": "completed",
            "output": [{"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hi there"}]}],
        });
        let kinds: Vec<String> = stream_events(&response)
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
    }
}
