#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
//! Hostile input at every route: never a 5xx, never a panic, always the error envelope.
//! In-process (tower `oneshot`) so thousands of cases stay fast.

use axum::body::Body;
use http_body_util::BodyExt;
use proptest::prelude::*;
use reference_server::{app, served_routes, Config};
use serde_json::{json, Value};
use tower::ServiceExt;

fn config() -> Config {
    let mut c = Config {
        request_logs: false,
        ..Config::default()
    };
    c.rate_limit.enabled = false;
    c.limits.max_body_bytes = 64 * 1024;
    c
}

fn concrete(path: &str) -> String {
    path.replace("{model}", "ref-chat-1")
        .replace("{response_id}", "resp_missing")
}

/// Sends one request and checks the invariants; returns the status.
async fn probe(
    app: &reference_server::App,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> u16 {
    let mut req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer k");
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::from(body.clone())).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_owned())
        .unwrap_or_default();
    assert!(
        response.headers().contains_key("x-request-id"),
        "{method} {path}: no request id"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let shown = String::from_utf8_lossy(&body[..body.len().min(120)]).to_string();
    assert!(
        status < 500,
        "{method} {path} with {shown:?} gave {status}: {}",
        String::from_utf8_lossy(&bytes)
    );
    if status >= 400 {
        assert_eq!(
            ct, "application/json",
            "{method} {path} with {shown:?}: error content type"
        );
        let v: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("{method} {path}: error is not JSON"));
        let e = v["error"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: no envelope in {v}"));
        assert!(
            ["message", "type", "param", "code"]
                .iter()
                .all(|k| e.contains_key(*k)),
            "{v}"
        );
    }
    status
}

fn corpus() -> Vec<Vec<u8>> {
    let mut c: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"}".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"string\"".to_vec(),
        b"123".to_vec(),
        b"NaN".to_vec(),
        b"{\"model\":NaN}".to_vec(),
        b"\xef\xbb\xbf{}".to_vec(),
        b"\xff\xfe\xfd".to_vec(),
        b"{\"model\":\"\xff\"}".to_vec(),
        b"{\"model\":\"ref-chat-1\",\"model\":\"x\"}".to_vec(),
        b"{\"model\":1e999}".to_vec(),
        b"{\"n\":-99999999999999999999999}".to_vec(),
        b"{\"model\":\"ref-chat-1\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}"
            .to_vec(),
        format!("{}{}", "[".repeat(200_000), "]".repeat(200_000)).into_bytes(),
        format!(
            "{{\"input\":{}1{}}}",
            "{\"a\":".repeat(10_000),
            "}".repeat(10_000)
        )
        .into_bytes(),
        vec![b'x'; 200 * 1024],
        format!(
            "{{\"model\":\"ref-embed-1\",\"input\":\"{}\"}}",
            "y".repeat(100 * 1024)
        )
        .into_bytes(),
    ];
    let valid = json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "hi"}], "input": "hi", "stream": true}).to_string();
    for cut in [1, 10, valid.len() / 2, valid.len() - 1] {
        c.push(valid.as_bytes()[..cut].to_vec());
    }
    for field in [
        "model",
        "input",
        "messages",
        "tools",
        "tool_choice",
        "stream",
        "n",
        "dimensions",
        "encoding_format",
        "max_output_tokens",
        "max_tokens",
        "text",
        "response_format",
        "previous_response_id",
        "metadata",
        "temperature",
        "stream_options",
        "instructions",
        "store",
    ] {
        for bad in [
            json!(null),
            json!(-1),
            json!(1.5),
            json!("s"),
            json!([]),
            json!([null]),
            json!({}),
            json!({"x": [1]}),
            json!(true),
            json!(u64::MAX),
        ] {
            c.push(json!({"model": "ref-chat-1", "input": "x", "messages": [{"role": "user", "content": "x"}], field: bad}).to_string().into_bytes());
        }
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_never_breaks_any_route() {
    let app = app(config());
    let mut paths: Vec<(String, String)> = served_routes()
        .iter()
        .map(|r| (r.method.to_uppercase(), concrete(&r.openapi_path())))
        .collect();
    paths.push(("POST".into(), "/v1/nope".into()));
    paths.push(("PATCH".into(), "/v1/models".into()));
    let mut probes = 0;
    for (method, path) in &paths {
        for body in corpus() {
            for ct in [Some("application/json"), Some("text/plain"), None] {
                probe(&app, method, path, ct, body.clone()).await;
                probes += 1;
            }
        }
    }
    assert!(probes > 1000);
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "ref-chat-1",
            "ref-embed-1",
            "user",
            "assistant",
            "function",
            "json_schema",
            "required"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "model",
                    "input",
                    "messages",
                    "role",
                    "content",
                    "type",
                    "tools",
                    "name",
                    "parameters",
                    "stream",
                    "dimensions",
                    "n",
                    "text",
                    "format",
                    "schema",
                    "call_id",
                    "output",
                    "function"
                ])
                .prop_map(str::to_owned),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bodies_never_give_a_5xx(
        body in arbitrary_json(),
        route in prop::sample::select(vec!["/v1/embeddings", "/v1/chat/completions", "/v1/responses"]),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let app = app(config());
        rt.block_on(probe(&app, "POST", route, Some("application/json"), body.to_string().into_bytes()));
    }

    #[test]
    fn arbitrary_bytes_never_give_a_5xx(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let app = app(config());
        rt.block_on(probe(&app, "POST", "/v1/responses", Some("application/json"), body));
    }
}
