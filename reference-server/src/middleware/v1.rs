//! Everything between routing and a `/v1` handler: the rate limit first (so 401s are limited
//! too), then authentication, then idempotency. The limiter's headers go on every answer,
//! refusals included. The checks are plain functions and the envelope awaits the handler
//! itself, so the request is held by one future, not by one per step.

use super::{auth, idempotency, rate_limit};
use crate::config::RateLimitKeying;
use crate::protocol::error::ApiError;
use crate::protocol::principal::Principal;
use crate::protocol::project::{self, Project};
use crate::simulate::faults::ROUTES;
use crate::simulate::scenario::HEADER;
use crate::state::AppState;
use crate::store::Taken;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};

/// The route of a request that matched none (a 404), as the limiter and the log name it.
pub const UNMATCHED: &str = "unmatched";

/// Whether `path` is under `/v1`, where every answer is rate limited.
pub fn is_under(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// The checks before a `/v1` handler: the rate limit first (so 401s are limited too; the only
/// one that may wait, on a shared store), authentication, the scenario header, the idempotency
/// key. A path that matched no route is only limited: its answer is a 404 whoever asks.
pub async fn admit(
    state: &AppState,
    principal: &Principal,
    route: &str,
    req: &mut Request,
) -> Admission {
    // Only a limiter keyed by project looks the project up before auth.
    let by_project = (state.config.rate_limit.keying == RateLimitKeying::Project)
        .then(|| {
            project::resolve(
                &state.config.auth,
                &state.projects,
                principal,
                req.headers(),
            )
        })
        .flatten();
    let taken = match rate_limit::admit(state, route, principal, by_project.as_ref()).await {
        Some(Err(refused)) => return Admission::Refused(refused),
        Some(Ok(taken)) => Some(taken),
        None => None,
    };
    if route == UNMATCHED {
        return Admission::Serve {
            taken,
            key: None,
            project: None,
        };
    }
    let checked = auth::check(state, principal, req).and_then(|project| {
        scenario(state, route, req)?;
        let key = idempotency::key_of(&project, req)?;
        Ok((key, project))
    });
    match checked {
        Ok((key, project)) => Admission::Serve {
            taken,
            key,
            project: Some(project),
        },
        Err(refused) => Admission::Refused(stamp(refused.into_response(), taken.as_ref())),
    }
}

/// What [`admit`] decided.
pub enum Admission {
    /// The answer to send instead of serving (with the limiter's headers).
    Refused(Response),
    /// Serve the request.
    Serve {
        /// The token taken, for [`stamp`].
        taken: Option<Taken>,
        /// The idempotency key the request runs under, if any.
        key: Option<String>,
        /// The project it acts in (for the log line), once auth admitted it.
        project: Option<Project>,
    },
}

/// Puts the limiter's headers on a `/v1` answer.
pub fn stamp(mut response: Response, taken: Option<&Taken>) -> Response {
    if let Some(taken) = taken {
        rate_limit::stamp(&mut response, taken);
    }
    response
}

/// Reads `X-Refserver-Scenario` on a generating route into the request for its handler.
fn scenario(state: &AppState, route: &str, req: &mut Request) -> Result<(), ApiError> {
    if !ROUTES.contains(&route) {
        return Ok(());
    }
    // Looked up by a name constant: a `&str` name is parsed on every lookup.
    const NAME: axum::http::HeaderName = axum::http::HeaderName::from_static(HEADER);
    let Some(value) = req.headers().get(NAME) else {
        return Ok(());
    };
    if let Some(scenario) = state.simulation.scenario(value)? {
        req.extensions_mut().insert(scenario);
    }
    Ok(())
}
