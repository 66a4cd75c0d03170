//! `GET /v1/models` and `GET /v1/models/{id}`.

use super::table::Routes;
use crate::config::{Config, ModelConfig};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

/// The routes.
pub fn router() -> Routes {
    Routes::new()
        .get("/v1/models", list)
        .get("/v1/models/{*model}", retrieve)
}

fn model_object(m: &ModelConfig) -> Value {
    json!({
        "id": m.id,
        "object": "model",
        "created": m.created,
        "owned_by": m.owned_by,
    })
}

/// The list body for `config`, serialised once when the app is built.
pub fn list_body(config: &Config) -> bytes::Bytes {
    let data: Vec<Value> = config.models.iter().map(model_object).collect();
    bytes::Bytes::from(json!({ "object": "list", "data": data }).to_string())
}

async fn list(State(state): State<AppState>) -> Response {
    let length = Some(state.models_length.clone());
    crate::body::json_answer(state.models_body.clone().into(), length)
}

// `{*id}` because fine-tuned model ids contain slashes and colons (`ft:gpt-4o:org:x:id`).
async fn retrieve(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .config
        .model(&id)
        .map(|m| Json(model_object(m)))
        .ok_or_else(|| ApiError::model_not_found(&id))
}
