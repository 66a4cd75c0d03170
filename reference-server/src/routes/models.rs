//! `GET /v1/models` and `GET /v1/models/{id}`.

use super::table::Routes;
use crate::engine::catalog::model_object;
use crate::protocol::error::ApiError;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use serde_json::Value;

/// The routes.
pub fn router() -> Routes {
    Routes::new()
        .get("/v1/models", list)
        .get("/v1/models/{*model}", retrieve)
}

async fn list(State(state): State<AppState>) -> Response {
    let length = Some(state.models_length.clone());
    crate::protocol::body::json_answer(state.models_body.clone().into(), length)
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
