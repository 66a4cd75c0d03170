//! Load shedding: at most `max_concurrent_requests` are served at once; the rest get 503 with
//! `Retry-After` at once instead of queueing. Probes are exempt so orchestrators still see
//! the server as alive while it sheds.

use crate::protocol::error::ApiError;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

/// Whether `path` is a probe, served even while shedding.
pub fn exempt(path: &str) -> bool {
    matches!(path, "/healthz" | "/health" | "/readyz" | "/metrics")
}

/// The answer to a request over the limit.
pub fn refused() -> Response {
    let mut response = ApiError::overloaded().into_response();
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("1"));
    response
}
