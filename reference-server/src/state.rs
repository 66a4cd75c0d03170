//! Shared state: configuration, the stores, metrics, and the load and shutdown switches.

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::{Capacity, Stores};
use std::sync::Arc;

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The configuration the app was built with.
    pub config: Arc<Config>,
    /// Rate-limit buckets, idempotency records and stored responses.
    pub stores: Stores,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Permits for requests in flight (load shedding).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// `/openapi.json` as sent, serialised on first request (it depends only on the config).
    pub openapi: Arc<std::sync::OnceLock<bytes::Bytes>>,
    /// `GET /v1/models` as sent: it depends only on the config, so it is serialised once.
    pub models_body: bytes::Bytes,
    /// Set when shutdown begins: `/readyz` then answers 503.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// The state for `config`, with the in-process stores.
    pub fn new(config: Config) -> Self {
        let stores = Stores::in_memory(Capacity {
            idempotency_ttl: std::time::Duration::from_secs(config.idempotency.ttl_seconds),
            idempotency_keys: config.idempotency.max_keys,
            responses: config.limits.stored_responses,
        });
        Self::with_stores(config, stores)
    }

    /// The state for `config` with the given stores.
    pub fn with_stores(config: Config, stores: Stores) -> Self {
        Self {
            stores,
            in_flight: Arc::new(tokio::sync::Semaphore::new(
                config.limits.max_concurrent_requests,
            )),
            metrics: Arc::new(Metrics::new()),
            openapi: Arc::new(std::sync::OnceLock::new()),
            models_body: crate::routes::models::list_body(&config),
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            config: Arc::new(config),
        }
    }
}
