//! The harness's hot paths, each beside the baseline its budget is a ratio to
//! (`benches/budgets.toml`): reading a stream (SSE framing and the JSON of each event, against
//! the JSON alone), validating an answer against its schema (against parsing it), recording a
//! streamed request's times (against the bare HDR records), grading an answer (against
//! parsing the completion it came in), and the open loop's requests (against a bare client's,
//! each on its own connection, to the same loopback server).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use harness::bench_internals::{
    Answer, Grader, GraderSpec, Sample, ScenarioTally, Schemas, SseParser, TokenCount,
};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::time::Duration;
use tower::ServiceExt;

/// What the reference server answers to `body` on `path`, recorded in-process.
fn recorded(path: &str, body: Value) -> bytes::Bytes {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let config = reference_server::Config {
        request_logs: false,
        ..reference_server::Config::default()
    };
    let app = reference_server::app(config);
    let request = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", "Bearer bench")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    runtime.block_on(async {
        let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
        response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default()
    })
}

fn sse(c: &mut Criterion) {
    let stream = recorded(
        "/v1/responses",
        json!({"model": "ref-chat-1", "stream": true, "store": false,
               "input": "Write two sentences about lighthouses and the people who kept them."}),
    );
    let payloads: Vec<String> = SseParser::default()
        .push(&stream, Duration::ZERO)
        .into_iter()
        .map(|e| e.data)
        .collect();
    assert!(payloads.len() > 10, "a stream of {} events", payloads.len());
    let mut group = c.benchmark_group("sse");
    group.bench_function("parse_responses_stream", |b| {
        b.iter(|| {
            let mut parser = SseParser::default();
            for event in parser.push(black_box(&stream), Duration::ZERO) {
                let _: Option<Value> = serde_json::from_str(&event.data).ok();
            }
        })
    });
    group.bench_function("json_only", |b| {
        b.iter(|| {
            for data in black_box(&payloads) {
                let _: Option<Value> = serde_json::from_str(data).ok();
            }
        })
    });
    group.finish();
}

fn completion() -> (bytes::Bytes, Value) {
    let bytes = recorded(
        "/v1/chat/completions",
        json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "What is 6 * 7?"}]}),
    );
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}"));
    (bytes, value)
}

fn schema(c: &mut Criterion) {
    let schemas = Schemas::load().unwrap_or_else(|e| panic!("{e}"));
    let (bytes, value) = completion();
    // The bench measures a valid answer: an invalid one would measure the error path.
    assert!(schemas.problems("chat-completion", &value).is_empty());
    let mut group = c.benchmark_group("schema");
    group.bench_function("validate_chat_completion", |b| {
        b.iter(|| schemas.problems("chat-completion", black_box(&value)))
    });
    group.bench_function("parse_chat_completion", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)))
    });
    group.finish();
}

fn stats(c: &mut Criterion) {
    let scenarios = harness::bench_internals::parse_slo(
        "[[scenario]]\nname = \"s\"\nendpoint = \"/v1/responses\"\nstream = true\nbody = {}\n\
         budgets = [\"p95 <= 1s\", \"ttft.p95 <= 200ms\", \"itl.p99 <= 50ms\"]\n",
        "bench.toml",
        std::path::Path::new("."),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sample = Sample {
        latency: Duration::from_millis(640),
        ttft: Some(Duration::from_millis(200)),
        itl: (0..20)
            .map(|i| Duration::from_micros(20_000 + i * 37))
            .collect(),
        tokens: Some((21, TokenCount::Usage)),
        error: None,
        sent_at: Duration::from_secs(3),
    };
    let mut tally = ScenarioTally::new(&scenarios[0]);
    let mut raw = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut group = c.benchmark_group("stats");
    group.bench_function("tally_record_stream", |b| {
        b.iter(|| tally.record(black_box(&sample), false))
    });
    // The irreducible part: one HDR record per time the tally keeps (end to end, TTFT, TPOT
    // and each gap).
    group.bench_function("hdr_records", |b| {
        b.iter(|| {
            let _ = raw.record(black_box(640_000));
            let _ = raw.record(black_box(200_000));
            let _ = raw.record(black_box(22_000));
            for gap in &sample.itl {
                let _ = raw.record(black_box(gap.as_micros() as u64));
            }
        })
    });
    group.finish();
}

fn grading(c: &mut Criterion) {
    let (bytes, value) = completion();
    let answer = Answer {
        text: value["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        tool_calls: Vec::new(),
    };
    let grader = |spec: Value| {
        let spec: GraderSpec = serde_json::from_value(spec).unwrap_or_else(|e| panic!("{e}"));
        Grader::compile(&spec, &[]).unwrap_or_else(|e| panic!("{e}"))
    };
    let numeric = grader(json!("numeric"));
    let fuzzy = grader(json!({"type": "fuzzy", "threshold": 0.8}));
    let ideal = json!(42);
    let text_ideal = json!("6 * 7 = 42.");
    assert!(
        numeric
            .grade(&answer, Some(&ideal), &Default::default())
            .passed,
        "{answer:?}"
    );
    let mut group = c.benchmark_group("grade");
    group.bench_function("numeric", |b| {
        b.iter(|| numeric.grade(black_box(&answer), Some(&ideal), &Default::default()))
    });
    group.bench_function("fuzzy", |b| {
        b.iter(|| fuzzy.grade(black_box(&answer), Some(&text_ideal), &Default::default()))
    });
    group.bench_function("parse_answer", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&bytes)))
    });
    group.finish();
}

/// A loopback server answering every embeddings request with the same small document, on a
/// runtime of its own; returns its API root.
fn embeddings_server() -> (tokio::runtime::Runtime, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let answer = r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.6,0.8]}],"model":"m","usage":{"prompt_tokens":1,"total_tokens":1}}"#;
    let app = axum::Router::new().route(
        "/v1/embeddings",
        axum::routing::post(move || async move {
            ([(http::header::CONTENT_TYPE, "application/json")], answer)
        }),
    );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    runtime.spawn(async move { axum::serve(listener, app).await });
    (runtime, format!("http://{addr}/v1"))
}

/// `requests` POSTs over `in_flight` connections of hyper's, each sending in turn: the least
/// any generator pays per request.
async fn bare_client(addr: &str, requests: u64, in_flight: u64) -> u64 {
    let mut tasks = Vec::new();
    for _ in 0..in_flight {
        let addr = addr.to_owned();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let _ = stream.set_nodelay(true);
            let (mut send, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
            tokio::spawn(connection);
            let mut ok = 0;
            for _ in 0..requests / in_flight {
                let request = http::Request::post("/v1/embeddings")
                    .header(http::header::HOST, addr.as_str())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(http_body_util::Full::new(bytes::Bytes::from_static(
                        br#"{"model":"m","input":"bench"}"#,
                    )))
                    .unwrap_or_else(|e| panic!("{e}"));
                let _ = send.ready().await;
                if let Ok(answer) = send.send_request(request).await {
                    if answer.into_body().collect().await.is_ok() {
                        ok += 1;
                    }
                }
            }
            ok
        }));
    }
    let mut ok = 0;
    for task in tasks {
        ok += task.await.unwrap_or(0);
    }
    ok
}

fn load(c: &mut Criterion) {
    const REQUESTS: u64 = 400;
    const IN_FLIGHT: u64 = 8;
    let (_server, root) = embeddings_server();
    let addr = root
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .to_owned();
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    // Both must succeed, or they would be timing errors.
    let opened = client.block_on(harness::bench_internals::open_loop_flat_out(
        &root,
        REQUESTS,
        IN_FLIGHT as usize,
    ));
    assert_eq!(opened, REQUESTS, "the open loop's requests failed");
    assert_eq!(
        client.block_on(bare_client(&addr, REQUESTS, IN_FLIGHT)),
        REQUESTS,
        "the bare client's requests failed"
    );
    let mut group = c.benchmark_group("load");
    group.bench_function("open_loop_400", |b| {
        b.iter(|| {
            client.block_on(harness::bench_internals::open_loop_flat_out(
                &root,
                REQUESTS,
                IN_FLIGHT as usize,
            ))
        })
    });
    group.bench_function("bare_client_400", |b| {
        b.iter(|| client.block_on(bare_client(&addr, REQUESTS, IN_FLIGHT)))
    });
    group.finish();
}

criterion_group!(benches, sse, schema, stats, grading, load);
criterion_main!(benches);
