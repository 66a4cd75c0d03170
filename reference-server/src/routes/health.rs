//! Public probes: `/healthz` (alias `/health`), `/readyz`, `/metrics`.

use super::table::Routes;
use crate::engine;
use crate::engine::embed::EmbedInput;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

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

/// Readiness checks what can fail: the model catalogue is loaded, the response store and the
/// index store can be written (a committed write to the index database), the engine answers (a probe embedding is deterministic and unit-length), and the
/// server is not shutting down. `checked_at` changes on every call, so a client can tell a
/// live check from a canned answer.
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let models_ok = !state.config.models.is_empty();
    // The response store names itself when it fails (a shared store across the network).
    let store = state.stores.responses.probe_write().await;
    let index_store = match &state.indexes {
        Ok(store) => store.probe_write().map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    let engine_ok = engine_answers();
    let accepting = !state.draining.load(Ordering::SeqCst);
    // At the cap, each new connection closes an idle one: a balancer should look elsewhere.
    let room = !state.connections.at_cap();
    let ok = models_ok && store.is_ok() && index_store.is_ok() && engine_ok && accepting && room;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "failed" };
    (
        status,
        Json(json!({
            "status": if ok { "ready" } else { "not_ready" },
            "checked_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "checks": {
                "models": { "status": word(models_ok), "count": state.config.models.len() },
                "response_store": match &store {
                    Ok(_) => json!({ "status": "ok", "backend": state.stores.backend }),
                    Err(e) => json!({ "status": "failed", "backend": e.store, "error": e.to_string() }),
                },
                "index_store": match &index_store {
                    Ok(()) => json!({ "status": "ok" }),
                    Err(why) => json!({ "status": "failed", "error": why }),
                },
                "engine": { "status": word(engine_ok) },
                "shutdown": { "status": word(accepting), "draining": !accepting },
                "connections": {
                    "status": word(room),
                    "open": state.connections.open(),
                    "max": state.connections.bounds().max,
                },
            }
        })),
    )
}

/// The engine's probe: the same input twice gives the same unit vector.
fn engine_answers() -> bool {
    let input = EmbedInput::Text("readiness probe".into());
    let a = engine::embed::embed("readiness", &input, 8);
    let b = engine::embed::embed("readiness", &input, 8);
    let norm = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    a == b && (norm - 1.0).abs() < 1e-3
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
