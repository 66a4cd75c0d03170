//! Everything between routing and a `/v1` handler: the rate limit first (so 401s are limited
//! too), then authentication, then idempotency. The limiter's headers go on every answer,
//! refusals included.

use super::{auth, idempotency, rate_limit};
use crate::error::ApiError;
use crate::principal::Principal;
use crate::simulate::faults::ROUTES;
use crate::simulate::scenario::HEADER;
use crate::state::AppState;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use std::future::Future;

/// Serves `req`, a request to the `/v1` route `route`, with `handler`.
pub async fn run<F, Fut>(
    state: &AppState,
    principal: &Principal,
    route: &str,
    mut req: Request,
    handler: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let taken = match rate_limit::admit(state, route, principal) {
        Some(Err(refused)) => return refused,
        Some(Ok(taken)) => Some(taken),
        None => None,
    };
    let mut response =
        match auth::check(state, &req).and_then(|()| scenario(state, route, &mut req)) {
            Err(refused) => refused.into_response(),
            Ok(()) => idempotency::run(state, principal, req, handler).await,
        };
    if let Some(taken) = taken {
        rate_limit::stamp(&mut response, &taken);
    }
    response
}

/// Reads `X-Refserver-Scenario` on a generating route into the request for its handler.
fn scenario(state: &AppState, route: &str, req: &mut Request) -> Result<(), ApiError> {
    if !ROUTES.contains(&route) {
        return Ok(());
    }
    let Some(value) = req.headers().get(HEADER) else {
        return Ok(());
    };
    if let Some(scenario) = state.simulation.scenario(value)? {
        req.extensions_mut().insert(scenario);
    }
    Ok(())
}
