//! Load shedding: at most `max_concurrent_requests` are served at once; the rest get 503 with
//! `Retry-After` at once instead of queueing. Probes are exempt so orchestrators still see
//! the server as alive while it sheds.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The middleware function.
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(
        req.uri().path(),
        "/healthz" | "/health" | "/readyz" | "/metrics"
    ) {
        return next.run(req).await;
    }
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        let mut response = ApiError::overloaded().into_response();
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return response;
    };
    next.run(req).await
}
