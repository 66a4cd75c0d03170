//! Shared state: configuration, the response store and the metrics registry.

use crate::config::Config;
use crate::engine::Conversation;
use crate::metrics::Metrics;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The body limits in force (bytes, JSON depth), put in request extensions for the extractor.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize, pub usize);

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The configuration the app was built with.
    pub config: Arc<Config>,
    /// Stored responses.
    pub responses: Arc<ResponseStore>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Rate-limit buckets.
    pub limiter: Arc<crate::middleware::rate_limit::RateLimiter>,
    /// Remembered idempotency keys.
    pub idempotency: Arc<crate::middleware::idempotency::IdempotencyStore>,
    /// Permits for requests in flight (load shedding).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// `/openapi.json` as sent, serialised on first request (it depends only on the config).
    pub openapi: Arc<std::sync::OnceLock<bytes::Bytes>>,
    /// Set when shutdown begins: `/readyz` then answers 503.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// Builds the state for `config`.
    pub fn new(config: Config) -> Self {
        let capacity = config.limits.stored_responses;
        Self {
            limiter: Arc::new(crate::middleware::rate_limit::RateLimiter::new(
                config.rate_limit.clone(),
            )),
            idempotency: Arc::new(crate::middleware::idempotency::IdempotencyStore::new(
                &config.idempotency,
            )),
            in_flight: Arc::new(tokio::sync::Semaphore::new(
                config.limits.max_concurrent_requests,
            )),
            responses: Arc::new(ResponseStore::new(capacity)),
            metrics: Arc::new(Metrics::new()),
            openapi: Arc::new(std::sync::OnceLock::new()),
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            config: Arc::new(config),
        }
    }
}

/// A stored response with what is needed to continue from it.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// The Response object as last sent.
    pub response: Value,
    /// The input items of the request, with ids.
    pub input_items: Vec<Value>,
    /// The conversation including this response's output, for `previous_response_id`.
    pub conversation: Conversation,
}

/// Stored responses, oldest evicted first past the capacity.
#[derive(Debug)]
pub struct ResponseStore {
    capacity: usize,
    inner: Mutex<StoreInner>,
}

#[derive(Debug, Default)]
struct StoreInner {
    map: HashMap<String, StoredResponse>,
    order: VecDeque<String>,
    probes: u64,
}

impl ResponseStore {
    /// An empty store holding at most `capacity` responses.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(StoreInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreInner> {
        // A panic while holding the lock cannot leave the map half-written (every
        // mutation is one call), so a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Proves the store can be written: takes the lock (a wedged store hangs the probe, which a
    /// load balancer reads as not ready) and writes to it; returns the number of probes so far.
    pub fn probe_write(&self) -> u64 {
        let mut inner = self.lock();
        inner.probes += 1;
        inner.probes
    }

    /// Stores `entry` under its response id.
    pub fn put(&self, id: String, entry: StoredResponse) {
        let mut inner = self.lock();
        if inner.map.insert(id.clone(), entry).is_none() {
            inner.order.push_back(id);
        }
        while inner.map.len() > self.capacity {
            match inner.order.pop_front() {
                Some(old) => {
                    inner.map.remove(&old);
                }
                None => break,
            }
        }
    }

    /// The entry for `id`.
    pub fn get(&self, id: &str) -> Option<StoredResponse> {
        self.lock().map.get(id).cloned()
    }

    /// Removes `id`; true if it was there.
    pub fn delete(&self, id: &str) -> bool {
        let mut inner = self.lock();
        let removed = inner.map.remove(id).is_some();
        if removed {
            inner.order.retain(|k| k != id);
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> StoredResponse {
        StoredResponse {
            response: Value::Null,
            input_items: vec![],
            conversation: Conversation::default(),
        }
    }

    #[test]
    fn evicts_the_oldest_past_capacity() {
        let store = ResponseStore::new(2);
        store.put("a".into(), entry());
        store.put("b".into(), entry());
        store.put("c".into(), entry());
        assert!(store.get("a").is_none());
        assert!(store.get("c").is_some());
        assert!(store.delete("b"));
        assert!(!store.delete("b"));
    }
}
