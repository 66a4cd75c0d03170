//! The bare server (`examples/bare.rs`) plus, written plainly, only the work the reference
//! server cannot leave out on `GET /v1/models` and `POST /v1/embeddings`: check the key, take
//! a rate-limit token, read and decode the JSON body, answer with the same 17 headers, count
//! the request and format its log line (kept in memory, not written). No envelope, timeout,
//! load shedding, idempotency, metrics registry or tracing. An estimate of the floor under the
//! reference server's cost per request, to compare with `bare`:
//!
//!     BEFORE=target/release/examples/floor scripts/bench-routes.sh

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tower::ServiceExt;

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct EmbeddingsRequest {
    model: String,
    input: serde_json::Value,
    encoding_format: Option<String>,
    dimensions: Option<i64>,
    user: Option<String>,
}

struct Shared {
    models: Bytes,
    body: Bytes,
    buckets: Mutex<HashMap<String, (u64, Instant)>>,
    requests: AtomicU64,
    log: Mutex<Vec<u8>>,
}

const NAMES: [&str; 6] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
];

/// The caller's key (`None` is a 401).
fn key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// The headers every answer carries, the same for each.
const FIXED: [(&str, &str); 5] = [
    ("openai-version", "2020-10-01"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
];

async fn models(shared: Arc<Shared>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    match key(&headers) {
        Some(key) => answer(&shared, started, "/v1/models", key, shared.models.clone()),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn embeddings(shared: Arc<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let Some(key) = key(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(req) = serde_json::from_slice::<EmbeddingsRequest>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if req.model != "ref-embed-1" {
        return StatusCode::NOT_FOUND.into_response();
    }
    answer(&shared, started, "/v1/embeddings", key, shared.body.clone())
}

/// Takes a token, and answers `body` with the headers, the count and the log line.
fn answer(shared: &Shared, started: Instant, route: &str, key: &str, body: Bytes) -> Response {
    let remaining = {
        let mut buckets = shared.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets
            .entry(format!("{route} {key}"))
            .or_insert((1_000_000_000, started));
        bucket.0 = bucket.0.saturating_sub(1);
        bucket.0
    };
    let mut response = ([("content-type", "application/json")], body).into_response();
    let h = response.headers_mut();
    h.reserve(16);
    let limit = HeaderValue::from(1_000_000_000u64);
    let rem = HeaderValue::from(remaining);
    for (i, name) in NAMES.iter().enumerate() {
        let value = match i {
            0 | 3 => limit.clone(),
            1 | 4 => rem.clone(),
            _ => HeaderValue::from_static("1ms"),
        };
        h.insert(HeaderName::from_static(name), value);
    }
    let id = format!("req_{}", uuid::Uuid::new_v4().simple());
    let trace = uuid::Uuid::new_v4().simple().to_string();
    h.insert(
        HeaderName::from_static("x-request-id"),
        HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("")),
    );
    h.insert(
        HeaderName::from_static("x-trace-id"),
        HeaderValue::from_str(&trace).unwrap_or(HeaderValue::from_static("")),
    );
    h.insert(
        HeaderName::from_static("openai-processing-ms"),
        HeaderValue::from(started.elapsed().as_millis() as u64),
    );
    for (name, value) in FIXED {
        h.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    shared.requests.fetch_add(1, Ordering::Relaxed);
    {
        use std::io::Write;
        let mut log = shared.log.lock().unwrap_or_else(|p| p.into_inner());
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        let _ = writeln!(
            log,
            "{{\"timestamp_us\":{micros},\"request_id\":\"{id}\",\"trace_id\":\"{trace}\",\"route\":\"{route}\",\"status\":200,\"latency_ms\":{}}}",
            started.elapsed().as_secs_f64() * 1000.0
        );
        if log.len() > 1 << 20 {
            log.clear();
        }
    }
    response
}

/// The reference server's body for `request` (the same bytes as `bare` sends).
async fn reference_body(
    app: &reference_server::App,
    request: axum::http::Request<axum::body::Body>,
) -> std::io::Result<Bytes> {
    let response = app
        .clone()
        .oneshot(request)
        .await
        .map_err(std::io::Error::other)?;
    axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(std::io::Error::other)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app = reference_server::app(reference_server::Config::default());
    let request = axum::http::Request::post("/v1/embeddings")
        .header("authorization", "Bearer sk-bench")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            r#"{"model":"ref-embed-1","input":"The quick brown fox jumps over the lazy dog"}"#,
        ))
        .map_err(std::io::Error::other)?;
    let body = reference_body(&app, request).await?;
    let request = axum::http::Request::get("/v1/models")
        .header("authorization", "Bearer sk-bench")
        .body(axum::body::Body::empty())
        .map_err(std::io::Error::other)?;
    let model_list = reference_body(&app, request).await?;
    let shared = Arc::new(Shared {
        models: model_list,
        body,
        buckets: Mutex::new(HashMap::new()),
        requests: AtomicU64::new(0),
        log: Mutex::new(Vec::new()),
    });
    let for_models = shared.clone();
    let app = Router::new()
        .route(
            "/v1/models",
            get(move |headers: HeaderMap| models(for_models.clone(), headers)),
        )
        .route(
            "/v1/embeddings",
            post(move |headers: HeaderMap, body: Bytes| embeddings(shared.clone(), headers, body)),
        );
    let port = std::env::args()
        .next_back()
        .filter(|a| a.parse::<u16>().is_ok())
        .unwrap_or_else(|| "0".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
