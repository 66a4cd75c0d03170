//! `POST /v1/responses/compact` (Open Responses): a conversation (input items, after a stored
//! response's when `previous_response_id` names one) compacted into its user messages and one
//! `compaction` item. The item's `encrypted_content` is opaque to callers but ours to read: sent
//! back as input, it restores the whole conversation in order, so a compacted conversation
//! continues exactly where it was.

use super::input;
use super::table::Routes;
use crate::engine::{self, tokens, Turn};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiRequest};
use crate::project::Project;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};

/// Marks our sealed conversations (and their version).
const SEAL: &str = "refserver-compaction-v1.";

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

/// The turns as our compaction item carries them.
pub fn seal(turns: &[Turn]) -> String {
    let list: Vec<Value> = turns
        .iter()
        .map(|t| match t {
            Turn::Message { role, text } => json!({"m": [role, text]}),
            Turn::ToolCall {
                call_id,
                name,
                arguments,
            } => json!({"c": [call_id, name, arguments]}),
            Turn::ToolOutput { call_id, output } => json!({"o": [call_id, output]}),
        })
        .collect();
    let json = Value::Array(list).to_string();
    format!(
        "{SEAL}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    )
}

/// The turns a compaction item of ours carries; `None` for anything else.
pub fn unseal(content: &str) -> Option<Vec<Turn>> {
    let body = content.strip_prefix(SEAL)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .ok()?;
    let list: Vec<Value> = serde_json::from_slice(&bytes).ok()?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    list.iter()
        .map(|t| {
            if let Some([role, body]) = t["m"].as_array().map(Vec::as_slice) {
                Some(Turn::Message {
                    role: text(role)?,
                    text: text(body)?,
                })
            } else if let Some([id, name, args]) = t["c"].as_array().map(Vec::as_slice) {
                Some(Turn::ToolCall {
                    call_id: text(id)?,
                    name: text(name)?,
                    arguments: text(args)?,
                })
            } else if let Some([id, out]) = t["o"].as_array().map(Vec::as_slice) {
                Some(Turn::ToolOutput {
                    call_id: text(id)?,
                    output: text(out)?,
                })
            } else {
                None
            }
        })
        .collect()
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
                "id": super::new_id("msg"),
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            })),
            _ => None,
        })
        .collect();
    let sealed = seal(&conversation.turns);
    output.push(json!({
        "id": super::new_id("cmp"),
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
        "id": super::new_id("resp"),
        "object": "response.compaction",
        "created_at": super::now(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_conversation_opens_to_the_same_turns_and_nothing_else_opens() {
        let turns = vec![
            Turn::Message {
                role: "user".into(),
                text: "é ✓ hi".into(),
            },
            Turn::ToolCall {
                call_id: "c1".into(),
                name: "f".into(),
                arguments: "{\"a\":1}".into(),
            },
            Turn::ToolOutput {
                call_id: "c1".into(),
                output: "21".into(),
            },
            Turn::Message {
                role: "assistant".into(),
                text: "done".into(),
            },
        ];
        assert_eq!(unseal(&seal(&turns)), Some(turns));
        assert_eq!(unseal("gAAAAABpM0Yj-...="), None);
        assert_eq!(unseal(&format!("{SEAL}not base64!")), None);
    }
}
