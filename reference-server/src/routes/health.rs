//! Public probes: `/healthz` (alias `/health`), `/readyz`, `/metrics`.

use super::table::Routes;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

/// The routes.
pub fn router() -> Routes {
    Routes::new()
        .get("/healthz", live)
        .get("/health", live)
        .get("/readyz", ready)
        .get("/metrics", metrics)
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness checks the dependencies the server actually has: the model catalogue and the
/// response store.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let models_ok = !state.config.models.is_empty();
    let store_ok = state.responses.get("__readiness_probe__").is_none();
    let ok = models_ok && store_ok;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ok { "ready" } else { "not_ready" },
            "checks": {
                "models": { "status": if models_ok { "ok" } else { "failed" }, "count": state.config.models.len() },
                "response_store": { "status": if store_ok { "ok" } else { "failed" } },
            }
        })),
    )
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
