//! The shared store's cost per request: the rate limiter and an idempotency key on Redis,
//! through the whole app, against the floor of any Redis-backed operation, one `PING` round
//! trip on a connection of the same kind. A ratio is what our scripts and records add to the
//! network's round trip (the bucket: one script; a keyed POST: a claim, the answer, a record).
//!
//! Needs a Redis at `BENCH_REDIS_URL` (scripts/bench-budgets.sh starts Debian's redis-server);
//! without it the group is skipped, and the budgets checker reports its medians missing.

use axum::body::Body;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use reference_server::Config;
use serde_json::json;
use tower::ServiceExt;

fn store(c: &mut Criterion) {
    let Ok(url) = std::env::var("BENCH_REDIS_URL") else {
        eprintln!("store benchmarks skipped: BENCH_REDIS_URL is not set");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let mut config = Config {
        request_logs: false,
        ..Config::default()
    };
    config.store.url = Some(url.clone());
    config.store.prefix = format!("bench-{}", std::process::id());
    config.rate_limit.default = reference_server::RateBudget {
        requests: u32::MAX,
        per_seconds: 1,
    };
    let app = runtime
        .block_on(reference_server::app_with_store(config))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut connection = runtime
        .block_on(async {
            redis::Client::open(url.as_str())?
                .get_connection_manager()
                .await
        })
        .unwrap_or_else(|e| panic!("redis: {e}"));
    let mut group = c.benchmark_group("store");
    group.bench_function("redis_ping", |b| {
        b.to_async(&runtime).iter(|| {
            let mut connection = connection.clone();
            async move {
                let _: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
            }
        })
    });
    group.bench_function("models_list_rate_limited_redis", |b| {
        b.to_async(&runtime).iter(|| {
            let app = app.clone();
            async move {
                let response = app
                    .oneshot(request("GET", "/v1/models", None, None))
                    .await
                    .unwrap_or_default();
                let _ = response.into_body().collect().await;
            }
        })
    });
    // A new key every time: each is claimed, run and recorded (two scripts on Redis). The same
    // in memory is the baseline of what the key costs without a network.
    let in_memory = reference_server::app(Config {
        request_logs: false,
        ..Config::default()
    });
    let counter = std::cell::Cell::new(0u64);
    for (name, app) in [
        ("embeddings_keyed_redis", &app),
        ("embeddings_keyed_memory", &in_memory),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let app = app.clone();
                counter.set(counter.get() + 1);
                let key = format!("bench-key-{}", counter.get());
                let body = json!({"model": "ref-embed-1", "dimensions": 64, "input": "The quick brown fox"});
                async move {
                    let response = app
                        .oneshot(request("POST", "/v1/embeddings", Some(body), Some(&key)))
                        .await
                        .unwrap_or_default();
                    let _ = response.into_body().collect().await;
                }
            })
        });
    }
    group.finish();
    // Nothing of the run is left in the bench's Redis.
    let _: Result<(), _> = runtime.block_on(async {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("bench-{}:*", std::process::id()))
            .query_async(&mut connection)
            .await?;
        if keys.is_empty() {
            return Ok(());
        }
        redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut connection)
            .await
    });
}

fn request(
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    key: Option<&str>,
) -> http::Request<Body> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer bench")
        .header("content-type", "application/json");
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    builder.body(body).unwrap_or_default()
}

criterion_group!(benches, store);
criterion_main!(benches);
