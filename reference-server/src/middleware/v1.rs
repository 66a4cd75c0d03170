//! Everything between routing and a `/v1` handler, in one layer (one per request rather than
//! three): the rate limit first (so 401s are limited too), then authentication, then
//! idempotency. The limiter's headers go on every answer, refusals included.

use super::{auth, idempotency, rate_limit};
use crate::principal::Principal;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The middleware function.
pub async fn layer(
    State(state): State<AppState>,
    principal: Principal,
    route: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let taken = match rate_limit::admit(&state, route, &principal) {
        Some(Err(refused)) => return refused,
        Some(Ok(taken)) => Some(taken),
        None => None,
    };
    let mut response = match auth::check(&state, &req) {
        Err(refused) => refused.into_response(),
        Ok(()) => idempotency::run(&state, &principal, req, next).await,
    };
    if let Some(taken) = taken {
        rate_limit::stamp(&mut response, &taken);
    }
    response
}
