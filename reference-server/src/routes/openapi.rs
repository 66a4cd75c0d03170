//! `GET /openapi.json`: `schemas/openapi.yaml`, bundled, with this server's own address
//! first in `servers` and the build's version and commit in `info.x-service-version`.

use super::table::Routes;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

/// The routes.
pub fn router() -> Routes {
    Routes::new().get("/openapi.json", document)
}

async fn document(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    // A document that does not bundle is a build defect, caught by the tests; never panic here.
    let mut doc = crate::openapi::document()
        .map_err(|_| ApiError::internal())?
        .clone();
    let url = state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", state.config.host, state.config.port));
    if let Some(first) = doc
        .get_mut("servers")
        .and_then(Value::as_array_mut)
        .and_then(|s| s.first_mut())
    {
        first["url"] = json!(url);
    }
    Ok(Json(doc))
}
