//! `POST /v1/responses/compact` (Open Responses): a conversation (input items, after a stored
//! response's when `previous_response_id` names one) compacted into its user messages and one
//! `compaction` item. The item's `encrypted_content` is opaque to callers but ours to read: sent
//! back as input, it restores the whole conversation in order, so a compacted conversation
//! continues exactly where it was.

use super::table::Routes;
use crate::engine::{self, compaction, tokens, Turn};
use crate::protocol::error::ApiError;
use crate::protocol::extract::{ApiJson, ApiRequest};
use crate::protocol::input;
use crate::protocol::project::Project;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// The route.
pub fn router() -> Routes {
    Routes::new().post::<CompactRequest, _, _>("/v1/responses/compact", compact)
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // prompt_cache_key is accepted and has no effect here.
struct CompactRequest {
    model: Option<String>,
    input: Option<Value>,
    previous_response_id: Option<String>,
    instructions: Option<String>,
    prompt_cache_key: Option<String>,
}

impl ApiRequest for CompactRequest {
    const FIELDS: &'static [&'static str] = &[
        "model",
        "input",
        "previous_response_id",
        "instructions",
        "prompt_cache_key",
    ];
}

fn turn_text(t: &Turn) -> &str {
    match t {
        Turn::Message { text, .. } => text,
        Turn::ToolCall { arguments, .. } => arguments,
        Turn::ToolOutput { output, .. } => output,
    }
}

async fn compact(
    State(state): State<AppState>,
    project: Project,
    ApiJson(req): ApiJson<CompactRequest>,
) -> Result<Json<Value>, ApiError> {
    super::responses::responses_model(&state, req.model.as_deref())?;
    let mut conversation = match &req.previous_response_id {
        Some(id) => engine::Conversation {
            instructions: Vec::new(),
            turns: state
                .stores
                .responses
                .get(project.as_str(), id)
                .await?
                .ok_or_else(|| ApiError::previous_response_not_found(id))?
                .conversation
                .turns,
        },
        None => engine::Conversation::default(),
    };
    let input = req.input.as_ref().unwrap_or(&Value::Null);
    input::check_count(input, "input", state.config.limits.max_items)?;
    input::response_input(Some(input), &mut conversation)?;
    let mut output: Vec<Value> = conversation
        .turns
        .iter()
        .filter_map(|t| match t {
            Turn::Message { role, text } if role == "user" => Some(json!({
                "id": crate::protocol::new_id("msg"),
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            })),
            _ => None,
        })
        .collect();
    let sealed = compaction::seal(&conversation.turns);
    output.push(json!({
        "id": crate::protocol::new_id("cmp"),
        "type": "compaction",
        "encrypted_content": sealed,
    }));
    let input_tokens: usize = conversation
        .turns
        .iter()
        .map(|t| tokens::count(turn_text(t)))
        .sum();
    // What the compaction "wrote": the turns it folded that the caller does not see again.
    let output_tokens: usize = conversation
        .turns
        .iter()
        .filter(|t| !matches!(t, Turn::Message { role, .. } if role == "user"))
        .map(|t| tokens::count(turn_text(t)))
        .sum::<usize>()
        .max(1);
    Ok(Json(json!({
        "id": crate::protocol::new_id("resp"),
        "object": "response.compaction",
        "created_at": crate::clock::now(),
        "output": output,
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": { "cached_tokens": 0, "cache_write_tokens": 0 },
            "output_tokens": output_tokens,
            "output_tokens_details": { "reasoning_tokens": 0 },
            "total_tokens": input_tokens + output_tokens,
        },
    })))
}
