#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
mod common;
use common::*;

#[tokio::test]
async fn lists_models_in_the_openai_envelope() {
    let s = spawn().await;
    let (status, body) = s.get_json("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(body["object"], "list");
    let data = body["data"].as_array().unwrap();
    assert!(data.len() >= 2);
    for m in data {
        assert_eq!(m["object"], "model");
        assert!(m["id"].is_string() && m["created"].is_i64() && m["owned_by"].is_string());
    }
    assert!(data
        .iter()
        .any(|m| m["id"].as_str().unwrap().contains("embed")));
}

#[tokio::test]
async fn retrieves_one_model_and_404s_an_unknown_one() {
    let s = spawn().await;
    let (status, body) = s.get_json("/v1/models/ref-chat-1").await;
    assert_eq!((status, body["id"].as_str()), (200, Some("ref-chat-1")));
    let (status, body) = s.get_json("/v1/models/ft:gpt-4o:acme:x:1").await;
    assert_eq!(status, 404);
    assert_envelope(&body);
    assert_eq!(body["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn probes_are_public() {
    let s = spawn().await;
    for path in [
        "/healthz",
        "/health",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let ready: serde_json::Value = s
        .client
        .get(s.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["models"]["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let s = spawn().await;
    s.get("/v1/models").send().await.unwrap();
    s.get("/v1/models/nope").send().await.unwrap();
    let text = s.metrics().await;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/v1/models",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/v1/models/{*model}",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
}
