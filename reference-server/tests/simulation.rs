//! Timing profiles, injected faults and scenarios over real HTTP. No assertion on wall-clock
//! speed: pacing is checked in virtual time beside the code (`sse`); here, what arrives.

mod common;

use common::{assert_envelope, spawn_with};
use reference_server::Config;
use serde_json::{json, Value};

fn with_faults(faults: &str) -> Config {
    let mut config = Config::default();
    config.rate_limit.enabled = false;
    let applied = config.apply_env([("REFSERVER_FAULTS".to_owned(), faults.to_owned())]);
    assert!(applied.is_ok(), "{applied:?}");
    config
}

fn scenarios() -> Config {
    let mut config = Config::default();
    config.rate_limit.enabled = false;
    config.scenarios.header = true;
    config
}

fn chat(stream: bool) -> Value {
    json!({"model": "ref-chat-1", "stream": stream,
           "messages": [{"role": "user", "content": "Say hello to the reference server"}]})
}

#[tokio::test]
async fn the_fault_schedule_fires_exactly_where_configured_and_is_counted() {
    let server = spawn_with(with_faults("kind=500,every=3,route=/v1/chat/completions")).await;
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = server
            .post("/v1/chat/completions", chat(false))
            .send()
            .await;
        let r = r.ok();
        statuses.push(r.as_ref().map_or(0, |r| r.status().as_u16()));
        if r.as_ref().is_some_and(|r| r.status() == 500) {
            let r = r.unwrap_or_else(|| unreachable!());
            assert_eq!(
                r.headers()
                    .get("x-refserver-fault")
                    .and_then(|v| v.to_str().ok()),
                Some("500")
            );
            let body: Value = r.json().await.unwrap_or_default();
            assert_envelope(&body);
            assert_eq!(body["error"]["type"], "server_error");
        }
    }
    assert_eq!(statuses, vec![200, 200, 500, 200, 200, 500, 200]);
    // Another route is not counted by this schedule.
    let (status, _) = server
        .post_json(
            "/v1/embeddings",
            json!({"model": "ref-embed-1", "input": "x"}),
        )
        .await;
    assert_eq!(status, 200);
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("injected_faults_total{kind=\"500\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_injected_429_has_valid_retry_headers_and_the_envelope() {
    let server = spawn_with(with_faults("kind=429,retry_after=2500ms")).await;
    let r = server
        .post(
            "/v1/embeddings",
            json!({"model": "ref-embed-1", "input": "x"}),
        )
        .send()
        .await;
    let Ok(r) = r else { panic!("no answer") };
    assert_eq!(r.status(), 429);
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("retry-after").as_deref(), Some("3"));
    assert_eq!(header("retry-after-ms").as_deref(), Some("2500"));
    assert_eq!(header("x-refserver-fault").as_deref(), Some("429"));
    assert!(header("x-request-id").is_some());
    let body: Value = r.json().await.unwrap_or_default();
    assert_envelope(&body);
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn a_cut_stream_closes_without_the_terminal_event() {
    let server = spawn_with(with_faults("kind=cut,cut_after=4")).await;
    let r = server
        .post(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "Tell me a story about a lighthouse", "stream": true}),
        )
        .send()
        .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => panic!("no answer: {e:?}"),
    };
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("x-refserver-fault")
            .and_then(|v| v.to_str().ok()),
        Some("cut")
    );
    let mut body = r.bytes_stream();
    let mut text = String::new();
    let mut failed = false;
    use futures::StreamExt;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the client sees the connection close mid-body");
    assert_eq!(text.matches("data: ").count(), 4, "{text}");
    assert!(!text.contains("response.completed") && !text.contains("[DONE]"));
}

#[tokio::test]
async fn a_cut_whole_answer_is_half_a_body() {
    let server = spawn_with(with_faults("kind=cut")).await;
    let r = server
        .post("/v1/chat/completions", chat(false))
        .send()
        .await;
    let Ok(r) = r else { panic!("no answer") };
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "the body never completes");
}

#[tokio::test]
async fn a_scenario_picks_a_fault_for_one_request_only() {
    let server = spawn_with(scenarios()).await;
    let r = server
        .post("/v1/chat/completions", chat(false))
        .header("x-refserver-scenario", "fault=503, retry_after=1s")
        .send()
        .await;
    let status = r.as_ref().map_or(0, |r| r.status().as_u16());
    assert_eq!(status, 503);
    let (status, body) = server.post_json("/v1/chat/completions", chat(false)).await;
    assert_eq!(status, 200, "{body}");
    let r = server
        .post("/v1/chat/completions", chat(false))
        .header("x-refserver-scenario", "fault=teapot")
        .send()
        .await;
    let Ok(r) = r else { panic!("no answer") };
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap_or_default();
    assert_envelope(&body);
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("unknown kind")));
}

#[tokio::test]
async fn a_paced_stream_has_the_same_content_as_an_unpaced_one() {
    let plain = spawn_with(scenarios()).await;
    let body = |r: reqwest::Response| async move { r.text().await.unwrap_or_default() };
    let fast = plain
        .post("/v1/chat/completions", chat(true))
        .send()
        .await
        .ok();
    let slow = plain
        .post("/v1/chat/completions", chat(true))
        .header("x-refserver-scenario", "ttft=30ms, inter_token=2ms")
        .send()
        .await
        .ok();
    let (Some(fast), Some(slow)) = (fast, slow) else {
        panic!("no answer")
    };
    let content = |text: &str| -> String {
        common::parse_sse(text)
            .iter()
            .filter_map(|(_, data)| serde_json::from_str::<Value>(data).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    };
    let (fast, slow) = (body(fast).await, body(slow).await);
    assert!(!content(&fast).is_empty());
    assert_eq!(content(&fast), content(&slow));
    assert!(slow.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn the_header_is_refused_when_off_and_ignored_by_a_strict_server() {
    let mut off = Config::default();
    off.rate_limit.enabled = false;
    let server = spawn_with(off).await;
    let r = server
        .post("/v1/chat/completions", chat(false))
        .header("x-refserver-scenario", "fault=500")
        .send()
        .await;
    let Ok(r) = r else { panic!("no answer") };
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap_or_default();
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("[scenarios] header = true")));

    let mut strict = Config::default();
    strict.rate_limit.enabled = false;
    let applied = strict.apply_env([
        ("REFSERVER_AUTH_MODE".to_owned(), "strict".to_owned()),
        ("REFSERVER_API_KEYS".to_owned(), "sk-test".to_owned()),
    ]);
    assert!(applied.is_ok());
    let server = spawn_with(strict).await;
    let r = server
        .post("/v1/chat/completions", chat(false))
        .header("x-refserver-scenario", "fault=500")
        .send()
        .await;
    assert_eq!(r.map_or(0, |r| r.status().as_u16()), 200);
}

#[tokio::test]
async fn an_injected_fault_is_not_replayed_for_its_idempotency_key() {
    let server = spawn_with(with_faults("kind=429,after=0,count=1")).await;
    let send = || {
        server
            .post("/v1/chat/completions", chat(true))
            .header("idempotency-key", "retry-me")
            .send()
    };
    let first = send().await.map_or(0, |r| r.status().as_u16());
    assert_eq!(first, 429);
    let second = send().await.ok();
    let Some(second) = second else {
        panic!("no answer")
    };
    assert_eq!(second.status(), 200, "the retry runs");
    let text = second.text().await.unwrap_or_default();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let third = send().await.ok();
    let Some(third) = third else {
        panic!("no answer")
    };
    assert_eq!(
        third
            .headers()
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true"),
        "the streamed answer was recorded as it went"
    );
    assert_eq!(third.text().await.unwrap_or_default(), text);
}

#[tokio::test]
async fn a_hang_outlives_the_request_timeout_until_the_client_leaves() {
    let mut config = with_faults("kind=hang,model=ref-embed-1");
    config.limits.request_timeout_seconds = 1;
    let server = spawn_with(config).await;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(1500))
        .build();
    let Ok(client) = client else { panic!("client") };
    let r = client
        .post(server.url("/v1/embeddings"))
        .bearer_auth("sk-test")
        .json(&json!({"model": "ref-embed-1", "input": "x"}))
        .send()
        .await;
    assert!(
        r.as_ref().is_err_and(reqwest::Error::is_timeout),
        "no answer, not even the 408, before the client gave up: {r:?}"
    );
    // The server notices the client left: the request is counted as closed by the client
    // and nothing stays in flight.
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = server.metrics().await;
        if metrics.contains("status=\"499\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("route=\"/v1/embeddings\",status=\"499\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_requests_in_flight 1"),
        "only /metrics itself: {metrics}"
    );
}

#[tokio::test]
async fn the_scenario_header_is_documented_as_an_extension_of_real_operations() {
    let server = spawn_with(Config::default()).await;
    let (status, doc) = server.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    let ext = &doc["x-refserver-scenario-header"];
    assert_eq!(ext["name"], "X-Refserver-Scenario");
    let ops: Vec<&str> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(|item| item.as_object())
        .flat_map(|item| item.values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    let named: Vec<&str> = ext["operations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(named.len(), 3);
    assert!(
        named.iter().all(|n| ops.contains(n)),
        "{named:?} not in {ops:?}"
    );
}
