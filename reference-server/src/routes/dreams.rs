//! `POST /v1/dreams`: a deterministic scenario with a self-critique ([`crate::engine::dream`]),
//! whole or streamed one step per event in the style of the Responses stream.

use super::table::Routes;
use crate::config::ModelKind;
use crate::engine::dream::{self, MAX_STEPS, MIN_STEPS};
use crate::engine::tokens;
use crate::protocol::error::ApiError;
use crate::protocol::extract::{ApiJson, ApiRequest};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// Steps when the request does not say.
const DEFAULT_STEPS: usize = 4;

/// The routes.
pub fn router() -> Routes {
    Routes::new().post::<DreamRequest, _, _>("/v1/dreams", create)
}

#[derive(Debug, Deserialize)]
struct DreamRequest {
    // Typed by hand below, so that each wrong type names its parameter.
    seed: Option<Value>,
    constraints: Option<Value>,
    steps: Option<Value>,
    model: Option<Value>,
    stream: Option<Value>,
}

impl ApiRequest for DreamRequest {
    const FIELDS: &'static [&'static str] = &["seed", "constraints", "steps", "model", "stream"];
}

fn text_param<'a>(v: &'a Option<Value>, param: &str) -> Result<Option<&'a str>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::invalid_type(
            param,
            format!("expected a string, got {}", kind(other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

async fn create(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DreamRequest>,
) -> Result<Response, ApiError> {
    let seed = text_param(&req.seed, "seed")?.unwrap_or("dream").to_owned();
    if seed.chars().count() > 4096 {
        return Err(ApiError::invalid_param(
            "seed",
            "Invalid 'seed': at most 4096 characters.",
        ));
    }
    let steps = match &req.steps {
        None | Some(Value::Null) => DEFAULT_STEPS,
        Some(v) => match v.as_f64().filter(|f| f.fract() == 0.0) {
            Some(n) if n >= MIN_STEPS as f64 && n <= MAX_STEPS as f64 => n as usize,
            Some(n) => {
                return Err(ApiError::invalid_param(
                    "steps",
                    format!("Invalid 'steps': {n}; a dream has {MIN_STEPS} to {MAX_STEPS} steps."),
                ))
            }
            None => {
                return Err(ApiError::invalid_type(
                    "steps",
                    format!("expected an integer, got {}", kind(v)),
                ))
            }
        },
    };
    let stream = match &req.stream {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::invalid_type(
                "stream",
                format!("expected a boolean, got {}", kind(other)),
            ))
        }
    };
    let constraints_value = req.constraints.clone().unwrap_or(Value::Null);
    let constraints = dream::constraints(&constraints_value).map_err(|(path, why)| {
        ApiError::invalid_param(path.clone(), format!("Invalid '{path}': {why}."))
    })?;
    let model = match text_param(&req.model, "model")? {
        Some(id) => {
            let m = state
                .config
                .model(id)
                .ok_or_else(|| ApiError::model_not_found(id))?;
            if m.kind != ModelKind::Dream {
                return Err(ApiError::wrong_model(format!(
                    "The model '{id}' is not a dream model; /v1/dreams needs one."
                )));
            }
            m.id.clone()
        }
        None => state
            .config
            .models
            .iter()
            .find(|m| m.kind == ModelKind::Dream)
            .map(|m| m.id.clone())
            .ok_or_else(|| {
                ApiError::invalid_param("model", "The server has no dream model configured.")
            })?,
    };
    let made = dream::dream(&model, &seed, &constraints, steps);
    let input_tokens = tokens::count(&seed) + tokens::count(&constraints_value.to_string());
    let output_tokens: usize = made.trace.iter().map(|s| tokens::count(&s.content)).sum();
    let trace: Vec<Value> = made.trace.iter().map(dream::step_json).collect();
    let object = json!({
        "id": crate::protocol::new_id("dream"),
        "object": "dream",
        "created": crate::clock::now(),
        "status": "completed",
        "model": model,
        "seed": seed,
        "constraints": dream::echo(&constraints_value),
        "traces": trace,
        "critique": dream::critique_json(&made.critique),
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        },
    });
    if !stream {
        return Ok(Json(object).into_response());
    }
    // dream.created (without the trace), one dream.step per step, dream.completed (the whole
    // dream), then [DONE]: each event named by its `type`, numbered by `sequence_number`.
    let mut head = object.clone();
    if let Some(m) = head.as_object_mut() {
        m.insert("traces".into(), json!([]));
        m.insert("critique".into(), Value::Null);
        m.insert("usage".into(), Value::Null);
        m.insert("status".into(), json!("in_progress"));
    }
    let mut events = vec![json!({"type": "dream.created", "dream": head})];
    events.extend(
        trace
            .into_iter()
            .map(|step| json!({"type": "dream.step", "step": step})),
    );
    events.push(json!({"type": "dream.completed", "dream": object}));
    for (i, e) in events.iter_mut().enumerate() {
        e["sequence_number"] = json!(i);
    }
    Ok(crate::protocol::sse::response(events, true))
}
