//! `GET /openapi.json`: `schemas/openapi.yaml`, bundled, with this server's own address
//! first in `servers`, the build's version and commit in `info.x-service-version`, and every
//! `model` field marked `x-model-kind` narrowed to the configured models of that kind, and
//! `dimensions` to the longest configured embedding (so the document promises only what
//! this server accepts).

use super::table::Routes;
use crate::config::{Config, ModelKind};
use crate::protocol::error::ApiError;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};

/// The routes.
pub fn router() -> Routes {
    Routes::new().get("/openapi.json", document)
}

async fn document(State(state): State<AppState>) -> Result<Response, ApiError> {
    // Serialised once per server: the document depends only on the build and the config.
    let body = match state.openapi.get() {
        Some(bytes) => bytes.clone(),
        None => {
            let doc = for_server(&state)?;
            let bytes = Bytes::from(serde_json::to_vec(&doc).map_err(|_| ApiError::internal())?);
            state.openapi.get_or_init(|| bytes).clone()
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The bundled document with this server's address first in `servers`.
fn for_server(state: &AppState) -> Result<Value, ApiError> {
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
    enumerate_models(&mut doc, &state.config);
    Ok(doc)
}

/// Adds `enum` (the configured model ids of its kind) to every schema marked `x-model-kind`,
/// and `maximum` (the longest configured embedding) to one marked `x-model-dimensions`.
fn enumerate_models(value: &mut Value, config: &Config) {
    match value {
        Value::Object(map) => {
            let kind = match map.get("x-model-kind").and_then(Value::as_str) {
                Some("chat") => Some(ModelKind::Chat),
                Some("embedding") => Some(ModelKind::Embedding),
                Some("dream") => Some(ModelKind::Dream),
                _ => None,
            };
            if let Some(kind) = kind {
                let ids: Vec<Value> = config
                    .models
                    .iter()
                    .filter(|m| m.kind == kind)
                    .map(|m| json!(m.id))
                    .collect();
                map.insert("enum".into(), Value::Array(ids));
            }
            if map.get("x-model-dimensions") == Some(&Value::Bool(true)) {
                let most = config
                    .models
                    .iter()
                    .filter(|m| m.kind == ModelKind::Embedding)
                    .map(|m| m.dimensions)
                    .max();
                if let Some(most) = most {
                    map.insert("maximum".into(), json!(most));
                }
            }
            map.values_mut().for_each(|v| enumerate_models(v, config));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| enumerate_models(v, config)),
        _ => {}
    }
}
