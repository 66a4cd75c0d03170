//! Bearer authentication on `/v1/*`: permissive (any non-empty token) or strict (tokens and
//! scopes from config). The principal is a hash of the token; the token itself is never kept.

use crate::config::AuthMode;
use crate::error::ApiError;
use crate::middleware::context::Principal;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// A stable, non-reversible name for a token (16 hex digits of its SHA-256).
pub fn principal_of(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    hex::encode(&digest[..8])
}

/// The bearer token of a request, if it sent a non-empty one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
}

/// The request's principal: its token's hash, else its client address. Hashed once per
/// request (the limiter, auth and idempotency all need it) and kept in the extensions.
pub fn principal(req: &mut Request) -> String {
    if let Some(Principal(p)) = req.extensions().get::<Principal>() {
        return p.clone();
    }
    let p = match bearer(req.headers()) {
        Some(token) => principal_of(token),
        None => req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or_else(|| "unknown-client".to_owned(), |c| c.0.ip().to_string()),
    };
    req.extensions_mut().insert(Principal(p.clone()));
    p
}

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
        "indexes" => "indexes:admin",
        _ => "api",
    }
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

/// The middleware function.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = bearer(req.headers()).map(str::to_owned);
    let Some(token) = token else {
        return ApiError::missing_key().into_response();
    };
    let principal = principal(&mut req);
    if state.config.auth.mode == AuthMode::Strict {
        let Some(entry) = state.config.auth.tokens.iter().find(|t| t.token == token) else {
            let mut r = ApiError::invalid_key(&masked(&token)).into_response();
            r.extensions_mut().insert(Principal(principal));
            return r;
        };
        let needed = scope_for(req.method(), req.uri().path());
        let granted = entry.scopes.iter().any(|s| {
            s == "*" || s == needed || (needed == "responses:read" && s == "responses:write")
        });
        if !granted {
            let mut r = ApiError::forbidden(needed).into_response();
            r.extensions_mut().insert(Principal(principal));
            return r;
        }
    }
    let mut response = next.run(req).await;
    response.extensions_mut().insert(Principal(principal));
    response
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
    fn principal_does_not_contain_the_token() {
        let p = principal_of("sk-secret");
        assert_eq!(p.len(), 16);
        assert!(!p.contains("secret"));
    }

    #[test]
    fn scopes_follow_the_resource() {
        assert_eq!(scope_for(&Method::GET, "/v1/models/x"), "models:read");
        assert_eq!(scope_for(&Method::POST, "/v1/responses"), "responses:write");
        assert_eq!(scope_for(&Method::GET, "/v1/responses/r"), "responses:read");
    }
}
