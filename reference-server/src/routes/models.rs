//! `GET /v1/models` and `GET /v1/models/{id}`.

use super::table::Routes;
use crate::config::ModelConfig;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
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

async fn list(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state.config.models.iter().map(model_object).collect();
    Json(json!({ "object": "list", "data": data }))
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
