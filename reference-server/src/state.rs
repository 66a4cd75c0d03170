//! Shared state: configuration, the stores, metrics, and the load and shutdown switches.

use crate::config::Config;
use crate::store::indexes::IndexStore;
use crate::store::{Capacity, Stores};
use crate::telemetry::metrics::Metrics;
use std::sync::Arc;

/// Bytes of rendered embeddings kept for repeated inputs.
const EMBED_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Everything handlers share. Cloned for every middleware of every request, so it is one
/// reference count (`Arc`) rather than one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
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
    /// Its `Content-Length`, made once.
    pub models_length: axum::http::HeaderValue,
    /// Set when shutdown begins: `/readyz` then answers 503.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Timing profiles and injected faults.
    pub simulation: Arc<crate::simulate::Simulation>,
    /// Rendered embeddings of recent inputs.
    pub embed_cache: crate::engine::embed_cache::EmbedCache,
    /// The `/v1/indexes` store, or why it could not be opened.
    pub indexes: Result<Arc<IndexStore>, String>,
    /// The named project of each configured token, in their order.
    pub projects: Vec<Option<crate::protocol::project::Project>>,
    /// The open connections and their bounds.
    pub connections: Arc<crate::connections::Connections>,
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
        let indexes = match config.indexes.file() {
            Some(path) => IndexStore::open(path),
            None => IndexStore::in_memory(),
        }
        .map(Arc::new)
        .map_err(|e| e.to_string());
        let models_body = crate::engine::catalog::list_body(&config);
        let models_length = axum::http::HeaderValue::from(models_body.len());
        let metrics = Arc::new(Metrics::new());
        let connections = Arc::new(crate::connections::Connections::new(
            crate::connections::bounds(&config.limits),
            metrics.connection_counters(),
        ));
        Self(Arc::new(Shared {
            connections,
            projects: crate::protocol::project::of_tokens(&config.auth),
            indexes,
            stores,
            in_flight: Arc::new(tokio::sync::Semaphore::new(
                config.limits.max_concurrent_requests,
            )),
            metrics,
            openapi: Arc::new(std::sync::OnceLock::new()),
            models_body,
            models_length,
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            embed_cache: crate::engine::embed_cache::EmbedCache::new(EMBED_CACHE_BYTES),
            simulation: Arc::new(crate::simulate::Simulation::new(
                &config.timing,
                &config.faults,
                &config.scenarios,
                config.auth.mode == crate::config::AuthMode::Strict,
            )),
            config: Arc::new(config),
        }))
    }
}
