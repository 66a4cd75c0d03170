#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
mod common;
use common::*;
use reference_server::{AuthMode, Config, TokenConfig};
use serde_json::{json, Value};

async fn envelope(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()["content-type"],
        "application/json",
        "status {status}"
    );
    let body: Value = r.json().await.unwrap();
    assert_envelope(&body);
    (status, body)
}

#[tokio::test]
async fn missing_key_is_401_with_envelope() {
    let s = spawn().await;
    let (status, body) = envelope(s.client.get(s.url("/v1/models")).send().await.unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let (status, _) = envelope(
        s.client
            .get(s.url("/v1/models"))
            .header("authorization", "Bearer ")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn strict_mode_rejects_unknown_keys_and_missing_scopes() {
    let mut config = Config::default();
    config.auth.mode = AuthMode::Strict;
    config.auth.tokens = vec![
        TokenConfig {
            token: "sk-good-key-123456".into(),
            scopes: vec!["*".into()],
            project: None,
        },
        TokenConfig {
            token: "sk-models-only-999".into(),
            scopes: vec!["models:read".into()],
            project: None,
        },
    ];
    let s = spawn_with(config).await;
    let r = s
        .get_as("/v1/models", "sk-wrong-key-000000")
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(r).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wrong-key"),
        "the key is masked"
    );
    let r = s
        .get_as("/v1/models", "sk-good-key-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .get_as("/v1/models", "sk-models-only-999")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .client
        .post(s.url("/v1/embeddings"))
        .bearer_auth("sk-models-only-999")
        .json(&json!({"model": "ref-embed-1", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(r).await.0, 403);
}

#[tokio::test]
async fn malformed_json_wrong_type_and_media_type() {
    let s = spawn().await;
    let r = s
        .post_raw("/v1/chat/completions", "application/json", "{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(r).await.0, 400);
    let r = s
        .post_raw("/v1/chat/completions", "text/plain", "{}")
        .send()
        .await
        .unwrap();
    assert_eq!(envelope(r).await.0, 415);
    let r = s
        .client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth("k")
        .json(&json!({"model": 5, "messages": []}))
        .send()
        .await
        .unwrap();
    let (status, body) = envelope(r).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("model"))
    );
}

#[tokio::test]
async fn oversized_body_is_413() {
    let mut config = Config::default();
    config.limits.max_body_bytes = 4096;
    let s = spawn_with(config).await;
    let big = json!({"model": "ref-embed-1", "input": "x".repeat(10_000)});
    let r = s.post("/v1/embeddings", big).send().await.unwrap();
    assert_eq!(envelope(r).await.0, 413);
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_405() {
    let s = spawn().await;
    let (status, _) = envelope(s.get("/v1/nope").send().await.unwrap()).await;
    assert_eq!(status, 404);
    let (status, _) = envelope(
        s.client
            .delete(s.url("/v1/models"))
            .bearer_auth("k")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn every_response_carries_ids_and_security_headers() {
    let s = spawn().await;
    let requests = [
        s.get("/v1/models"),
        s.client.get(s.url("/v1/models")),
        s.get("/v1/nope"),
        s.client.get(s.url("/healthz")),
        s.post(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "x", "stream": true}),
        ),
        s.post("/v1/chat/completions", json!({"bad": true})),
    ];
    for req in requests {
        let r = req.send().await.unwrap();
        for h in [
            "x-request-id",
            "x-trace-id",
            "openai-processing-ms",
            "x-content-type-options",
        ] {
            assert!(r.headers().contains_key(h), "{} lacks {h}", r.url());
        }
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(r.headers()["openai-processing-ms"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .is_ok());
    }
}

#[tokio::test]
async fn request_id_is_echoed_and_traceparent_propagated() {
    let s = spawn().await;
    let r = s
        .get("/v1/models")
        .header("x-request-id", "my-req-42")
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "my-req-42");
    assert_eq!(
        r.headers()["x-trace-id"],
        "0af7651916cd43dd8448eb211c80319c"
    );
    let a = s.get("/v1/models").send().await.unwrap();
    let b = s.get("/v1/models").send().await.unwrap();
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}

#[tokio::test]
async fn axum_rejections_also_use_the_envelope() {
    let s = spawn().await;
    let (status, _) = envelope(s.get("/v1/responses/%FF").send().await.unwrap()).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn oversized_uploads_always_receive_the_413_envelope() {
    // The server drains an oversized body before answering, so a client that is still
    // uploading reads the 413 instead of a reset connection.
    let s = spawn().await;
    let big = json!({"model": "ref-embed-1", "input": "x".repeat(3 * 1024 * 1024)});
    for _ in 0..10 {
        let r = s
            .post("/v1/embeddings", big.clone())
            .send()
            .await
            .expect("a response, not a reset");
        assert_eq!(envelope(r).await.0, 413);
    }
}

/// The status of `GET path` with `key` in `header`.
async fn status_with(s: &TestServer, path: &str, header: &str, key: &str) -> u16 {
    let r = if header == "authorization" {
        s.client.get(s.url(path)).bearer_auth(key)
    } else {
        s.client.get(s.url(path)).header(header, key)
    };
    r.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_key_in_the_api_key_header_is_a_key_with_the_same_rules() {
    let strict = |key_header: Option<&str>| {
        let mut config = Config::default();
        config.auth.mode = AuthMode::Strict;
        config.auth.key_header = key_header.map(str::to_owned);
        config.auth.tokens = vec![TokenConfig {
            token: "sk-models-only-999".into(),
            scopes: vec!["models:read".into()],
            project: None,
        }];
        config
    };
    let key = "sk-models-only-999";
    let s = spawn_with(strict(None)).await;
    assert_eq!(status_with(&s, "/v1/models", "x-api-key", key).await, 200);
    assert_eq!(
        status_with(&s, "/v1/models", "x-api-key", "sk-wrong").await,
        401
    );
    // The same scopes: this key may not read stored responses.
    assert_eq!(
        status_with(&s, "/v1/responses/resp_x", "x-api-key", key).await,
        403
    );
    assert_eq!(status_with(&s, "/v1/models", "x-api-key", "").await, 401);
    // A configured header instead; the default one is then not read.
    let s = spawn_with(strict(Some("api-key"))).await;
    assert_eq!(status_with(&s, "/v1/models", "api-key", key).await, 200);
    assert_eq!(status_with(&s, "/v1/models", "x-api-key", key).await, 401);
    // Turned off: only the bearer token counts.
    let s = spawn_with(strict(Some(""))).await;
    assert_eq!(status_with(&s, "/v1/models", "x-api-key", key).await, 401);
    assert_eq!(
        status_with(&s, "/v1/models", "authorization", key).await,
        200
    );
    // Permissive: any non-empty key in the header passes; an invalid header name is refused.
    let s = spawn().await;
    assert_eq!(
        status_with(&s, "/v1/models", "x-api-key", "anything").await,
        200
    );
    let mut bad = Config::default();
    bad.auth.key_header = Some("bad header".into());
    assert!(bad.validate().is_err());
}

#[tokio::test]
async fn a_404_and_a_405_are_limited_per_caller_with_the_key_in_the_api_key_header() {
    let mut config = Config::default();
    config.auth.key_header = Some("x-api-key".into());
    config.rate_limit.default = reference_server::RateBudget {
        requests: 1,
        per_seconds: 3600,
    };
    let s = spawn_with(config).await;
    // One bucket per caller: the second caller is not refused for the first one's request.
    let path = "/v1/nowhere";
    assert_eq!(
        status_with(&s, path, "x-api-key", "sk-caller-one").await,
        404
    );
    assert_eq!(
        status_with(&s, path, "x-api-key", "sk-caller-two").await,
        404
    );
    assert_eq!(
        status_with(&s, path, "x-api-key", "sk-caller-one").await,
        429
    );
    let delete = |key: &'static str| {
        s.client
            .delete(s.url("/v1/embeddings"))
            .header("x-api-key", key)
            .send()
    };
    // A wrong method counts against its route's bucket, once (it used to take two tokens).
    let status = |r: reqwest::Result<reqwest::Response>| r.map(|r| r.status().as_u16()).ok();
    assert_eq!(status(delete("sk-caller-one").await), Some(405));
    assert_eq!(status(delete("sk-caller-two").await), Some(405));
    assert_eq!(status(delete("sk-caller-one").await), Some(429));
}
