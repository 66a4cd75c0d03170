//! In-process cost of each route: one request through the full app (middleware included)
//! with `tower::ServiceExt::oneshot`, no socket. The `bare` group is the baseline of the
//! budgets (`benches/budgets.toml`): a bare axum router answering the same bytes, after
//! reading the request body as JSON, so that a ratio is what the reference server adds.

use axum::body::Body;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use reference_server::{app, Config};
use serde_json::json;
use tower::ServiceExt;

fn request(method: &str, path: &str, body: Option<serde_json::Value>) -> http::Request<Body> {
    let builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer bench")
        .header("content-type", "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    builder.body(body).unwrap_or_default()
}

fn routes(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    // Routes are measured without the limiter (it would refuse most iterations); the
    // limiter's own cost is `models_list_rate_limited`, with a budget that never runs out.
    let mut config = Config {
        request_logs: false,
        ..Config::default()
    };
    config.rate_limit.enabled = false;
    let app = app(config.clone());
    config.rate_limit.enabled = true;
    config.rate_limit.default = reference_server::RateBudget {
        requests: u32::MAX,
        per_seconds: 1,
    };
    let limited = reference_server::app(config);
    let cases: Vec<(&str, &str, &str, Option<serde_json::Value>)> = vec![
        ("healthz", "GET", "/healthz", None),
        ("models_list", "GET", "/v1/models", None),
        (
            "embeddings_1x1536",
            "POST",
            "/v1/embeddings",
            Some(json!({"model": "ref-embed-1", "input": "The quick brown fox"})),
        ),
        (
            "embeddings_16x256",
            "POST",
            "/v1/embeddings",
            Some(
                json!({"model": "ref-embed-1", "dimensions": 256, "input": (0..16).map(|i| format!("input {i}")).collect::<Vec<_>>()}),
            ),
        ),
        (
            "chat",
            "POST",
            "/v1/chat/completions",
            Some(
                json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "Say hello to the conformance kit"}]}),
            ),
        ),
        (
            "chat_stream",
            "POST",
            "/v1/chat/completions",
            Some(
                json!({"model": "ref-chat-1", "stream": true, "messages": [{"role": "user", "content": "Say hello to the conformance kit"}]}),
            ),
        ),
        (
            "responses",
            "POST",
            "/v1/responses",
            Some(
                json!({"model": "ref-chat-1", "input": "Say hello to the conformance kit", "store": false}),
            ),
        ),
        (
            "responses_stream",
            "POST",
            "/v1/responses",
            Some(
                json!({"model": "ref-chat-1", "input": "Say hello to the conformance kit", "stream": true, "store": false}),
            ),
        ),
        ("error_404", "GET", "/v1/nope", None),
    ];
    let mut group = c.benchmark_group("route");
    for (name, method, path, body) in cases {
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter(|| {
                let app = app.clone();
                let req = request(method, path, body.clone());
                async move {
                    let response = app.oneshot(req).await.unwrap_or_default();
                    // Read the body: streams and large vectors cost most there.
                    let _ = response.into_body().collect().await;
                }
            })
        });
    }
    // The embeddings cases above repeat one input, so after the first iteration they measure
    // the cache of rendered vectors; this one sends a new input every time.
    let counter = std::cell::Cell::new(0u64);
    group.bench_function("embeddings_1x1536_distinct", |b| {
        b.to_async(&runtime).iter(|| {
            let app = app.clone();
            counter.set(counter.get() + 1);
            let body = json!({"model": "ref-embed-1", "input": format!("The quick brown fox {}", counter.get())});
            let req = request("POST", "/v1/embeddings", Some(body));
            async move {
                let response = app.oneshot(req).await.unwrap_or_default();
                let _ = response.into_body().collect().await;
            }
        })
    });
    group.bench_function("models_list_rate_limited", |b| {
        b.to_async(&runtime).iter(|| {
            let app = limited.clone();
            async move {
                let response = app
                    .oneshot(request("GET", "/v1/models", None))
                    .await
                    .unwrap_or_default();
                let _ = response.into_body().collect().await;
            }
        })
    });
    group.finish();
    bare(c, &runtime, &app);
}

/// The baseline: bare axum handlers that answer what the reference server answered.
fn bare(c: &mut Criterion, runtime: &tokio::runtime::Runtime, app: &reference_server::App) {
    use axum::routing::{get, post};
    let recorded = |method: &str, path: &str, body: Option<serde_json::Value>| {
        runtime.block_on(async {
            let response = app
                .clone()
                .oneshot(request(method, path, body))
                .await
                .unwrap_or_default();
            response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default()
        })
    };
    let embed = json!({"model": "ref-embed-1", "input": "The quick brown fox"});
    let chat = json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "Say hello to the conformance kit"}]});
    let models = recorded("GET", "/v1/models", None);
    let embedding = recorded("POST", "/v1/embeddings", Some(embed.clone()));
    let completion = recorded("POST", "/v1/chat/completions", Some(chat.clone()));
    let json_answer = |bytes: bytes::Bytes| {
        move |body: axum::body::Bytes| {
            let bytes = bytes.clone();
            async move {
                let _: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
                ([("content-type", "application/json")], bytes)
            }
        }
    };
    let bare = axum::Router::new()
        .route(
            "/v1/models",
            get(move || {
                let models = models.clone();
                async move { ([("content-type", "application/json")], models) }
            }),
        )
        .route("/v1/embeddings", post(json_answer(embedding)))
        .route("/v1/chat/completions", post(json_answer(completion)));
    let mut group = c.benchmark_group("bare");
    for (name, method, path, body) in [
        ("models_list", "GET", "/v1/models", None),
        ("embeddings_1x1536", "POST", "/v1/embeddings", Some(embed)),
        ("chat", "POST", "/v1/chat/completions", Some(chat)),
    ] {
        group.bench_function(name, |b| {
            b.to_async(runtime).iter(|| {
                let app = bare.clone();
                let req = request(method, path, body.clone());
                async move {
                    let response = app.oneshot(req).await.unwrap_or_default();
                    let _ = response.into_body().collect().await;
                }
            })
        });
    }
    group.finish();
}

fn engine(c: &mut Criterion) {
    use reference_server::engine::embed::{embed, EmbedInput};
    let input = EmbedInput::Text("The quick brown fox".into());
    c.bench_function("engine/embed_1536", |b| {
        b.iter(|| embed("ref-embed-1", &input, 1536))
    });
    let vector = embed("ref-embed-1", &input, 1536);
    c.bench_function("engine/serialize_1536", |b| {
        b.iter(|| serde_json::to_vec(&vector))
    });
}

criterion_group!(benches, routes, engine);
criterion_main!(benches);
