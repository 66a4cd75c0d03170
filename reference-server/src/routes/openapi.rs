//! `GET /openapi.json`: the facade's OpenAPI 3.1 document.
//!
//! This is the route inventory with the security scheme, servers and service version. The
//! full request/response schemas arrive with `schemas/openapi.yaml` (issue 5).

use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(document))
}

/// Every operation the server serves: (path, method, summary, public).
pub const OPERATIONS: &[(&str, &str, &str, bool)] = &[
    ("/v1/models", "get", "List models", false),
    ("/v1/models/{model}", "get", "Retrieve a model", false),
    ("/v1/embeddings", "post", "Create embeddings", false),
    (
        "/v1/chat/completions",
        "post",
        "Create a chat completion",
        false,
    ),
    ("/v1/responses", "post", "Create a response", false),
    (
        "/v1/responses/{response_id}",
        "get",
        "Retrieve a response",
        false,
    ),
    (
        "/v1/responses/{response_id}",
        "delete",
        "Delete a response",
        false,
    ),
    (
        "/v1/responses/{response_id}/input_items",
        "get",
        "List input items",
        false,
    ),
    ("/healthz", "get", "Liveness", true),
    ("/health", "get", "Liveness (alias)", true),
    ("/readyz", "get", "Readiness", true),
    ("/metrics", "get", "Prometheus metrics", true),
    ("/openapi.json", "get", "This document", true),
];

/// Builds the document for a server reachable at `server_url`.
pub fn build(server_url: &str) -> Value {
    let mut paths = Map::new();
    for (path, method, summary, public) in OPERATIONS {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        let mut op = json!({
            "summary": summary,
            "operationId": format!("{method}{}", path.replace(['/', '{', '}', '.', '_'], "_")),
            "responses": {
                "200": { "description": "Success" },
                "default": {
                    "description": "Error",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorResponse" } } }
                }
            }
        });
        if *public {
            op["security"] = json!([]);
        }
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = json!(params);
        }
        entry[*method] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Conformance kit reference server",
            "version": env!("CARGO_PKG_VERSION"),
            "x-service-version": env!("CARGO_PKG_VERSION"),
        },
        "servers": [
            { "url": server_url, "description": "This server" },
            { "url": "https://api.example.com", "description": "Production (placeholder)" },
        ],
        "security": [ { "bearerAuth": [] } ],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearerAuth": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "ErrorResponse": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["message", "type", "param", "code"],
                            "properties": {
                                "message": { "type": "string" },
                                "type": { "type": "string" },
                                "param": { "type": ["string", "null"] },
                                "code": { "type": ["string", "null"] }
                            }
                        }
                    }
                }
            }
        }
    })
}

async fn document(State(state): State<AppState>) -> Json<Value> {
    let url = state
        .config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}:{}", state.config.host, state.config.port));
    Json(build(&url))
}
