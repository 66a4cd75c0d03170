//! The conformance kit's reference server: an exact, deterministic OpenAI-compatible facade.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let config = reference_server::Config::default();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! reference_server::serve(listener, config, std::future::pending()).await
//! # }
//! ```

// The layers, top to bottom, each using only those above it, but for two exceptions marked
// below. Telemetry is read by every layer.
//
// Configuration (which holds the fault and timing settings `simulate` defines) and the clock.
mod clock;
mod config;
// The engine (the deterministic model) and the stores.
pub mod engine;
mod store;
// The protocol: wire decoding and extractors (which read their limits from the app state),
// the error envelope, SSE.
mod protocol;
// Simulated faults and timing, applied to what the protocol sends.
pub mod simulate;
// The routes, and the OpenAPI document they are checked against.
pub mod openapi;
mod routes;
// The middleware every request passes.
mod middleware;
// The app: state, connections, and `serve` (here).
mod connections;
mod state;
// What operators read: logs, metrics, traces.
pub mod telemetry;

pub use config::{
    AuthConfig, AuthMode, Config, ConfigError, CorsConfig, IdempotencyConfig, IndexesConfig,
    LimitsConfig, ModelConfig, ModelKind, RateBudget, RateLimitConfig, RateLimitKeying,
    StoreConfig, TokenConfig,
};
pub use protocol::error::ApiError;
pub use routes::table::Served;
/// The memory-index store behind `/v1/indexes` (for benchmarks and embedding programs).
pub use store::indexes;
/// Why `serve` could not start with the configured shared store (the binary exits 2).
pub use store::redis::Unreachable as StoreUnreachable;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use state::AppState;
use std::future::Future;

/// The whole application for `config`. Every route and fallback is served inside one layer
/// (`middleware::envelope`): request context, panic guard, timeout (408), load shedding (503),
/// unread bodies drained, and on `/v1` the rate limit (so 401s are limited too), auth and
/// idempotency.
pub fn app(config: Config) -> App {
    app_with_state(AppState::new(config))
}

/// The app for `config` with its configured store: connected to Redis when `store.url` is
/// set (waiting `store.wait_seconds` for it), in memory otherwise, as [`app`].
pub async fn app_with_store(config: Config) -> Result<App, StoreUnreachable> {
    Ok(app_with_state(state_for(config).await?))
}

/// The state for `config`, on the store it names.
async fn state_for(config: Config) -> Result<AppState, StoreUnreachable> {
    let Some(url) = config.store.url.clone() else {
        return Ok(AppState::new(config));
    };
    let settings = store::redis::Settings {
        url,
        prefix: config.store.prefix.clone(),
        timeout: std::time::Duration::from_millis(config.store.timeout_ms),
        idempotency_ttl: std::time::Duration::from_secs(config.idempotency.ttl_seconds),
        // A request is answered within the request timeout: a claim still running after twice
        // that belongs to a replica that died.
        lease: std::time::Duration::from_secs(
            config.limits.request_timeout_seconds.saturating_mul(2),
        ),
        responses: config.limits.stored_responses,
    };
    let wait = std::time::Duration::from_secs(config.store.wait_seconds);
    let (stores, collectors) = store::redis::connect(&settings, wait).await?;
    tracing::info!(store = stores.backend, prefix = %settings.prefix, "shared store");
    let state = AppState::with_stores(config, stores);
    for collector in collectors {
        state.metrics.register(collector);
    }
    Ok(state)
}

/// The app: every route, served through the envelope (a tower service; `axum::serve` takes it
/// as it is, and makes one per connection).
pub type App = middleware::envelope::Envelope;

fn app_with_state(state: AppState) -> App {
    let (v1, public) = (v1_routes(), public_routes());
    let templates: Vec<&'static str> = v1
        .served()
        .iter()
        .chain(public.served())
        .map(|s| s.path)
        .collect();
    let direct: Vec<_> = v1.direct().iter().chain(public.direct()).cloned().collect();
    let router = Router::new()
        .merge(v1.into_router())
        .merge(public.into_router())
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state.clone());
    App::new(router, state, templates, direct)
}

/// The authenticated API under `/v1`.
fn v1_routes() -> routes::table::Routes {
    routes::table::Routes::new()
        .merge(routes::models::router())
        .merge(routes::embeddings::router())
        .merge(routes::chat::router())
        .merge(routes::responses::router())
        .merge(routes::compact::router())
        .merge(routes::socket::router())
        .merge(routes::indexes::router())
        .merge(routes::dreams::router())
}

/// The public probes and the document.
fn public_routes() -> routes::table::Routes {
    routes::health::router().merge(routes::openapi::router())
}

/// Every (method, path) `app` serves, as recorded while the routes were built: the OpenAPI
/// document is tested against this list.
pub fn served_routes() -> Vec<Served> {
    let mut all = v1_routes().served().to_vec();
    all.extend_from_slice(public_routes().served());
    all
}

/// A path no route matches. Under `/v1` the envelope has limited it (its answer carries the
/// rate-limit headers like every `/v1` answer).
async fn unknown_route(req: Request) -> Response {
    ApiError::unknown_route(req.method().as_str(), req.uri().path()).into_response()
}

/// A route that does not take the method. The envelope has run the route's checks.
async fn wrong_method(req: Request) -> Response {
    ApiError::method_not_allowed(req.method().as_str(), req.uri().path()).into_response()
}

/// Serves `app(config)` on `listener` until `shutdown` resolves; then `/readyz` answers 503
/// for `limits.shutdown_delay_seconds` while everything else is still served (so a load
/// balancer stops sending traffic), and the requests in flight are finished.
pub async fn serve<F>(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let delay = std::time::Duration::from_secs(config.limits.shutdown_delay_seconds);
    // Before the cap is worked out from it: the connection cap, not EMFILE, is the bound.
    if let Some((soft, hard)) = connections::raise_descriptor_limit() {
        tracing::info!(soft, hard, "descriptor limit");
    }
    let state = state_for(config).await.map_err(std::io::Error::other)?;
    let bounds = state.connections.bounds();
    tracing::info!(
        max_connections = bounds.max,
        header_read_timeout_seconds = bounds.header.as_secs(),
        idle_timeout_seconds = bounds.idle.as_secs(),
        "connection bounds"
    );
    // A server that cannot open its index store does not start (the binary exits with the
    // reason); an app built without `serve` reports it in `/readyz` and in 503s instead.
    let indexes = state
        .indexes
        .as_ref()
        .map_err(|e| std::io::Error::other(e.clone()))?;
    match indexes.shared_count() {
        Ok(0) | Err(_) => {}
        Ok(n) => tracing::warn!(
            indexes = n,
            "indexes stored before projects existed are visible to every key; \
             recreate them to give each to one project"
        ),
    }
    let draining = state.draining.clone();
    let simulation = state.simulation.clone();
    let shutdown = async move {
        shutdown.await;
        draining.store(true, std::sync::atomic::Ordering::SeqCst);
        simulation.stop();
        tokio::time::sleep(delay).await;
    };
    // The app is made per connection with the client's address, which keys the rate limit
    // of callers without a key.
    let connections = state.connections.clone();
    connections::serve(listener, app_with_state(state), connections, shutdown).await
}
