//! `Idempotency-Key` on POST (IETF draft and Stripe semantics). The first response for a key
//! (status, content type, body; streams included, as their exact bytes) is kept and replayed
//! with `Idempotent-Replayed: true` for the same key and body. The same key with another body
//! is 422; a duplicate that arrives while the first is still running is 409. Keys belong to
//! the principal that sent them and expire after a TTL. Server errors are not kept, so a
//! retry after a 5xx executes again.

use crate::error::ApiError;
use crate::principal::Principal;
use crate::state::AppState;
use crate::store::{Claim, Fingerprint, IdempotencyRecords, Recorded};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::future::Future;

/// Forgets a claimed key if the request never finishes (client gone, panic), so a retry runs.
struct Guard<'a> {
    records: &'a dyn IdempotencyRecords,
    key: &'a str,
    fingerprint: Fingerprint,
    armed: bool,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.records.finish(self.key, self.fingerprint, None);
        }
    }
}

const MAX_KEY_LEN: usize = 255;

/// The key as sent, if it is 1 to 255 visible ASCII characters.
fn valid_key(raw: &HeaderValue) -> Option<&str> {
    raw.to_str().ok().filter(|k| {
        !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
    })
}

/// Runs `req` through `handler` under its `Idempotency-Key` (POST routes only).
pub async fn run<F, Fut>(
    state: &AppState,
    principal: &Principal,
    req: Request,
    handler: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    if req.method() != Method::POST {
        return handler(req).await;
    }
    let Some(raw_key) = req.headers().get("idempotency-key") else {
        return handler(req).await;
    };
    let Some(key_text) = valid_key(raw_key) else {
        return ApiError::invalid_idempotency_key().into_response();
    };
    // Keys belong to the principal that sent them.
    let key = format!("{principal} {key_text}");
    let (parts, body) = req.into_parts();
    let bytes = match crate::extract::read_limited(body, state.config.limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let fingerprint: Fingerprint = hasher.finalize().into();
    let records = state.stores.idempotency.as_ref();
    match records.claim(&key, fingerprint) {
        Claim::InUse => return ApiError::idempotency_key_in_use().into_response(),
        Claim::Reused => return ApiError::idempotency_key_reused().into_response(),
        Claim::Replay(recorded) => {
            state.metrics.idempotent_replay();
            return replay(recorded);
        }
        Claim::Execute => {}
    }
    let mut guard = Guard {
        records,
        key: &key,
        fingerprint,
        armed: true,
    };
    let response = handler(Request::from_parts(parts, Body::from(bytes))).await;
    let (parts, body) = response.into_parts();
    // Our handlers produce finite bodies (streams included), so collecting is bounded.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return ApiError::internal().into_response(),
    };
    // Server errors are not kept, so a retry after a 5xx executes again.
    let recorded = (!parts.status.is_server_error()).then(|| Recorded {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
    });
    records.finish(&key, fingerprint, recorded);
    guard.armed = false;
    Response::from_parts(parts, Body::from(body))
}

fn replay(recorded: Recorded) -> Response {
    let mut response = Response::new(Body::from(recorded.body));
    *response.status_mut() = StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::OK);
    if let Some(ct) = recorded
        .content_type
        .and_then(|ct| HeaderValue::from_str(&ct).ok())
    {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_sane_length() {
        assert_eq!(valid_key(&HeaderValue::from_static("k-1")), Some("k-1"));
        assert_eq!(valid_key(&HeaderValue::from_static("has space")), None);
        let long = HeaderValue::from_str(&"a".repeat(256)).unwrap_or(HeaderValue::from_static(""));
        assert_eq!(valid_key(&long), None);
    }
}
