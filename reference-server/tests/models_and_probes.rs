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

async fn readiness(base: &str) -> (u16, serde_json::Value) {
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn readiness_runs_its_checks_on_every_call() {
    let s = spawn().await;
    let (status, first) = readiness(&s.base).await;
    assert_eq!(status, 200, "{first}");
    for dep in ["models", "response_store", "engine", "shutdown"] {
        assert_eq!(first["checks"][dep]["status"], "ok", "{first}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (_, second) = readiness(&s.base).await;
    assert!(
        second["checked_at"].as_str() > first["checked_at"].as_str(),
        "{first} then {second}"
    );
}

#[tokio::test]
async fn readiness_says_no_without_models() {
    let mut config = reference_server::Config::default();
    config.models.clear();
    let s = common::spawn_with(config).await;
    let (status, body) = readiness(&s.base).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["checks"]["models"]["status"], "failed");
}

#[tokio::test]
async fn during_the_shutdown_delay_readiness_is_503_and_requests_are_still_served() {
    let mut config = reference_server::Config {
        request_logs: false,
        ..Default::default()
    };
    config.limits.shutdown_delay_seconds = 2;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(reference_server::serve(listener, config, async move {
        let _ = rx.await;
    }));
    // One client with a kept-alive connection, as a load balancer holds one.
    let client = reqwest::Client::new();
    let probe = |c: &reqwest::Client| c.get(format!("{base}/readyz")).send();
    assert_eq!(probe(&client).await.unwrap().status(), 200);
    tx.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = probe(&client).await.unwrap();
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["shutdown"]["draining"], true, "{body}");
    let models = client
        .get(format!("{base}/v1/models"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200, "still serving while draining");
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("the server stops after the delay")
        .unwrap()
        .unwrap();
}
