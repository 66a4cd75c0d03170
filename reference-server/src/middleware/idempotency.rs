//! `Idempotency-Key` on POST (IETF draft and Stripe semantics). The first response for a key
//! (status, content type, body; streams included, as their exact bytes) is kept and replayed
//! with `Idempotent-Replayed: true` for the same key and body. The same key with another body
//! is 422; a duplicate that arrives while the first is still running is 409. Keys belong to
//! the principal that sent them and expire after a TTL. Server errors are not kept, so a
//! retry after a 5xx executes again.

use crate::config::IdempotencyConfig;
use crate::error::ApiError;
use crate::middleware::auth::principal;
use crate::state::{AppState, BodyLimit};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Key = (String, String);

#[derive(Debug, Clone)]
enum Entry {
    InFlight {
        fingerprint: [u8; 32],
    },
    Done {
        fingerprint: [u8; 32],
        stored: Stored,
    },
}

#[derive(Debug, Clone)]
struct Stored {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<Key, (Entry, Instant)>,
    order: VecDeque<(Key, Instant)>,
}

/// Remembered keys.
#[derive(Debug)]
pub struct IdempotencyStore {
    ttl: Duration,
    max_keys: usize,
    inner: Mutex<Inner>,
}

/// What to do with a request that carries a key.
enum Claim {
    Execute,
    Replay(Stored),
    Conflict(ApiError),
}

impl IdempotencyStore {
    /// An empty store.
    pub fn new(config: &IdempotencyConfig) -> Self {
        Self {
            ttl: Duration::from_secs(config.ttl_seconds),
            max_keys: config.max_keys.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every mutation is a single map operation; a poisoned lock holds consistent data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn claim(&self, key: &Key, fingerprint: [u8; 32], now: Instant) -> Claim {
        let mut inner = self.lock();
        // Expire from the front: the order queue is in insertion time.
        while let Some((k, at)) = inner.order.front().cloned() {
            let expired = now.saturating_duration_since(at) >= self.ttl;
            if !expired && inner.entries.len() <= self.max_keys {
                break;
            }
            inner.order.pop_front();
            if inner.entries.get(&k).is_some_and(|(_, t)| *t == at) {
                inner.entries.remove(&k);
            }
        }
        match inner.entries.get(key) {
            Some((Entry::InFlight { fingerprint: f } | Entry::Done { fingerprint: f, .. }, _))
                if *f != fingerprint =>
            {
                Claim::Conflict(reused())
            }
            Some((Entry::InFlight { .. }, _)) => Claim::Conflict(in_use()),
            Some((Entry::Done { stored, .. }, _)) => Claim::Replay(stored.clone()),
            None => {
                inner
                    .entries
                    .insert(key.clone(), (Entry::InFlight { fingerprint }, now));
                inner.order.push_back((key.clone(), now));
                Claim::Execute
            }
        }
    }

    fn finish(&self, key: &Key, fingerprint: [u8; 32], stored: Option<Stored>) {
        let mut inner = self.lock();
        match stored {
            Some(stored) => {
                if let Some((entry, _)) = inner.entries.get_mut(key) {
                    *entry = Entry::Done {
                        fingerprint,
                        stored,
                    };
                }
            }
            None => {
                inner.entries.remove(key);
            }
        }
    }
}

fn in_use() -> ApiError {
    let mut e = ApiError::invalid_param(
        "Idempotency-Key",
        "A request with this Idempotency-Key is still being processed; retry when it has finished.",
    )
    .with_code("idempotency_key_in_use");
    e.status = StatusCode::CONFLICT;
    e
}

fn reused() -> ApiError {
    let mut e = ApiError::invalid_param(
        "Idempotency-Key",
        "This Idempotency-Key was already used with a different request body or path.",
    )
    .with_code("idempotency_key_reused");
    e.status = StatusCode::UNPROCESSABLE_ENTITY;
    e
}

/// Removes an in-flight claim if the request never finishes (client gone, panic).
struct Guard<'a> {
    store: &'a IdempotencyStore,
    key: Key,
    armed: bool,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.store.lock().entries.remove(&self.key);
        }
    }
}

const MAX_KEY_LEN: usize = 255;

/// The middleware function (POST routes only).
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get("idempotency-key").cloned() else {
        return next.run(req).await;
    };
    let key_text = match raw_key.to_str() {
        Ok(k)
            if !k.is_empty()
                && k.len() <= MAX_KEY_LEN
                && k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            k.to_owned()
        }
        _ => {
            return ApiError::invalid_param(
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters.",
            )
            .with_code("invalid_idempotency_key")
            .into_response()
        }
    };
    let principal = principal(&mut req);
    let limit = req
        .extensions()
        .get::<BodyLimit>()
        .map_or(usize::MAX, |l| l.0);
    let (parts, body) = req.into_parts();
    let bytes = match crate::extract::read_limited(body, limit).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let fingerprint: [u8; 32] = hasher.finalize().into();
    let key: Key = (principal, key_text);
    let store: &Arc<IdempotencyStore> = &state.idempotency;
    match store.claim(&key, fingerprint, Instant::now()) {
        Claim::Conflict(e) => return e.into_response(),
        Claim::Replay(stored) => {
            state.metrics.idempotent_replay();
            return replay(&stored);
        }
        Claim::Execute => {}
    }
    let mut guard = Guard {
        store,
        key: key.clone(),
        armed: true,
    };
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (parts, body) = response.into_parts();
    // Our handlers produce finite bodies (streams included), so collecting is bounded.
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return ApiError::internal().into_response(),
    };
    let stored = (!parts.status.is_server_error()).then(|| Stored {
        status: parts.status,
        content_type: parts.headers.get(header::CONTENT_TYPE).cloned(),
        body: body.clone(),
    });
    store.finish(&key, fingerprint, stored);
    guard.armed = false;
    Response::from_parts(parts, Body::from(body))
}

fn replay(stored: &Stored) -> Response {
    let mut response = Response::new(Body::from(stored.body.clone()));
    *response.status_mut() = stored.status;
    if let Some(ct) = &stored.content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, ct.clone());
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(ttl: u64) -> IdempotencyStore {
        IdempotencyStore::new(&IdempotencyConfig {
            ttl_seconds: ttl,
            max_keys: 10,
        })
    }

    fn stored() -> Stored {
        Stored {
            status: StatusCode::OK,
            content_type: None,
            body: Bytes::from_static(b"{}"),
        }
    }

    #[test]
    fn first_claim_executes_then_duplicates_conflict_or_replay() {
        let s = store(60);
        let k: Key = ("p".into(), "k".into());
        let now = Instant::now();
        assert!(matches!(s.claim(&k, [1; 32], now), Claim::Execute));
        assert!(
            matches!(s.claim(&k, [1; 32], now), Claim::Conflict(e) if e.status == StatusCode::CONFLICT)
        );
        assert!(
            matches!(s.claim(&k, [2; 32], now), Claim::Conflict(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY)
        );
        s.finish(&k, [1; 32], Some(stored()));
        assert!(matches!(s.claim(&k, [1; 32], now), Claim::Replay(_)));
    }

    #[test]
    fn keys_expire_after_the_ttl() {
        let s = store(1);
        let k: Key = ("p".into(), "k".into());
        let t0 = Instant::now();
        assert!(matches!(s.claim(&k, [1; 32], t0), Claim::Execute));
        s.finish(&k, [1; 32], Some(stored()));
        assert!(matches!(
            s.claim(&k, [2; 32], t0 + Duration::from_secs(2)),
            Claim::Execute
        ));
    }

    #[test]
    fn server_errors_are_not_kept() {
        let s = store(60);
        let k: Key = ("p".into(), "k".into());
        let now = Instant::now();
        assert!(matches!(s.claim(&k, [1; 32], now), Claim::Execute));
        s.finish(&k, [1; 32], None);
        assert!(matches!(s.claim(&k, [1; 32], now), Claim::Execute));
    }
}
