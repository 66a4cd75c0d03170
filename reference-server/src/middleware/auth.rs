//! Bearer authentication on `/v1/*`: permissive (any non-empty token) or strict (tokens and
//! scopes from config). The token is only compared, never kept.

use crate::config::AuthMode;
use crate::protocol::error::ApiError;
use crate::protocol::principal::{credential, Principal};
use crate::protocol::project::{self, Project};
use crate::state::AppState;
use axum::extract::Request;
use axum::http::Method;

/// The scope a request needs, from its path and method.
pub fn scope_for(method: &Method, path: &str) -> &'static str {
    let rest = path.trim_start_matches("/v1/");
    let read = method == Method::GET;
    match rest.split('/').next().unwrap_or("") {
        "models" => "models:read",
        "embeddings" => "embeddings:write",
        "chat" => "chat:write",
        "responses" if read => "responses:read",
        "responses" => "responses:write",
        "dreams" => "dreams:write",
        // Creating and deleting indexes is administration; items are writes; reading and
        // searching (a POST that changes nothing) are reads.
        "indexes" => {
            let sub = rest.split('/').filter(|s| !s.is_empty()).nth(2);
            match sub {
                _ if read => "indexes:read",
                Some("search") => "indexes:read",
                Some("items") => "indexes:write",
                _ => "indexes:admin",
            }
        }
        _ => "api",
    }
}

/// Whether scope `held` grants `needed`: itself, and a write scope grants its resource's
/// reads (`indexes:admin` grants `indexes:write` too).
fn implies(held: &str, needed: &str) -> bool {
    held == needed
        || matches!(
            (held, needed),
            ("responses:write", "responses:read")
                | ("indexes:write", "indexes:read")
                | ("indexes:admin", "indexes:write" | "indexes:read")
        )
}

/// Shows only the start and end of a token, as OpenAI's messages do.
fn masked(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

/// Whether `req`, from `principal`, may pass: a key, and in strict mode a configured one with
/// the route's scope; the project it acts in, else the 401 or 403 to send.
pub fn check(state: &AppState, principal: &Principal, req: &Request) -> Result<Project, ApiError> {
    // The principal is a token exactly when the request sent a key (read once, by the
    // envelope): permissive mode needs no more.
    let Principal::Token(token_hash) = principal else {
        return Err(ApiError::missing_key());
    };
    if state.config.auth.mode == AuthMode::Strict {
        let Some(token) = credential(req.headers(), state.config.auth.key_header()) else {
            return Err(ApiError::missing_key());
        };
        let tokens = &state.config.auth.tokens;
        let Some(at) = tokens.iter().position(|t| t.token == token) else {
            return Err(ApiError::invalid_key(&masked(token)));
        };
        let needed = scope_for(req.method(), req.uri().path());
        let granted = tokens[at]
            .scopes
            .iter()
            .any(|s| s == "*" || implies(s, needed));
        if !granted {
            return Err(ApiError::forbidden(needed));
        }
        return Ok(project::of_entry(&state.projects, at, token_hash));
    }
    project::resolve(
        &state.config.auth,
        &state.projects,
        principal,
        req.headers(),
    )
    .ok_or_else(ApiError::missing_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_the_ends() {
        assert_eq!(masked("sk-abcdefghijkl"), "sk-********ijkl");
        assert_eq!(masked("short"), "*****");
    }

    #[test]
    fn scopes_follow_the_resource() {
        assert_eq!(scope_for(&Method::GET, "/v1/models/x"), "models:read");
        assert_eq!(scope_for(&Method::POST, "/v1/responses"), "responses:write");
        assert_eq!(scope_for(&Method::GET, "/v1/responses/r"), "responses:read");
        assert_eq!(scope_for(&Method::POST, "/v1/dreams"), "dreams:write");
        assert_eq!(scope_for(&Method::POST, "/v1/indexes"), "indexes:admin");
        assert_eq!(scope_for(&Method::DELETE, "/v1/indexes/i"), "indexes:admin");
        assert_eq!(scope_for(&Method::GET, "/v1/indexes"), "indexes:read");
        assert_eq!(
            scope_for(&Method::POST, "/v1/indexes/i/search"),
            "indexes:read"
        );
        assert_eq!(
            scope_for(&Method::POST, "/v1/indexes/i/items"),
            "indexes:write"
        );
        assert_eq!(
            scope_for(&Method::DELETE, "/v1/indexes/i/items/x"),
            "indexes:write"
        );
        assert!(implies("indexes:admin", "indexes:read"));
        assert!(!implies("indexes:read", "indexes:write"));
    }
}
