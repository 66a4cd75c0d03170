#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
//! Rate limiting, idempotency, load shedding and hardening, over real loopback HTTP.

mod common;
use common::*;
use futures::future::join_all;
use reference_server::{Config, RateBudget, RateLimitKeying};
use serde_json::{json, Value};

fn limited(requests: u32) -> Config {
    let mut c = Config::default();
    c.rate_limit.default = RateBudget {
        requests,
        per_seconds: 3600,
    };
    c
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_v1_response_carries_both_rate_limit_header_families() {
    let s = spawn_with(limited(100)).await;
    let mut remaining = Vec::new();
    for req in [
        s.get("/v1/models"),
        s.get("/v1/models"),
        s.get("/v1/models/nope"),
        s.client.get(s.url("/v1/models")),
    ] {
        let r = req.send().await.unwrap();
        for h in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        ] {
            assert!(
                r.headers().contains_key(h),
                "{} {} lacks {h}",
                r.status(),
                r.url()
            );
        }
        assert_eq!(header(&r, "x-ratelimit-limit"), "100");
        assert!(
            header(&r, "x-ratelimit-reset-requests").ends_with('s'),
            "Go duration: {}",
            header(&r, "x-ratelimit-reset-requests")
        );
        remaining.push(header(&r, "x-ratelimit-remaining").parse::<u32>().unwrap());
    }
    assert_eq!(
        &remaining[..3],
        [99, 98, 99],
        "one token per request; /v1/models/{{id}} is another route with its own bucket"
    );
    assert_eq!(
        remaining[3], 99,
        "an unauthenticated caller is keyed by address, not by a token"
    );
}

#[tokio::test]
async fn exactly_the_limit_passes_under_concurrency() {
    let s = spawn_with(limited(20)).await;
    let responses = join_all((0..35).map(|_| s.get("/v1/models").send())).await;
    let mut ok = 0;
    for r in responses {
        let r = r.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                assert!(header(&r, "retry-after").parse::<u64>().unwrap() >= 1);
                assert!(header(&r, "retry-after-ms").parse::<u64>().unwrap() >= 1);
                assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
                let body: Value = r.json().await.unwrap();
                assert_envelope(&body);
                assert_eq!(body["error"]["type"], "requests");
                assert_eq!(body["error"]["code"], "rate_limit_exceeded");
                assert!(body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("Please try again in"));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 20);
    let other_key = s.get_as("/v1/models", "another-key").send().await.unwrap();
    assert_eq!(other_key.status(), 200, "buckets are per principal");
    let metrics = s.metrics().await;
    assert!(
        metrics.contains(r#"rate_limited_requests_total{route="/v1/models"} 15"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn route_only_keying_shares_a_bucket_and_routes_have_their_own_budgets() {
    let mut c = limited(2);
    c.rate_limit.keying = RateLimitKeying::RouteOnly;
    c.rate_limit.routes.insert(
        "/v1/embeddings".into(),
        RateBudget {
            requests: 5,
            per_seconds: 60,
        },
    );
    let s = spawn_with(c).await;
    for key in ["a", "b"] {
        assert_eq!(
            s.get_as("/v1/models", key).send().await.unwrap().status(),
            200
        );
    }
    assert_eq!(
        s.get_as("/v1/models", "c").send().await.unwrap().status(),
        429
    );
    let r = s
        .post(
            "/v1/embeddings",
            json!({"model": "ref-embed-1", "input": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "x-ratelimit-limit"), "5");
}

#[tokio::test]
async fn disabled_rate_limit_sends_no_headers() {
    let mut c = Config::default();
    c.rate_limit.enabled = false;
    let s = spawn_with(c).await;
    let r = s.get("/v1/models").send().await.unwrap();
    assert!(!r.headers().contains_key("x-ratelimit-limit"));
}

#[tokio::test]
async fn idempotent_replay_returns_the_first_response() {
    let s = spawn().await;
    let body = json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "once"}]});
    let first = s
        .post("/v1/chat/completions", body.clone())
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first: Value = first.json().await.unwrap();
    let second = s
        .post("/v1/chat/completions", body.clone())
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&second, "idempotent-replayed"), "true");
    assert_eq!(header(&second, "content-type"), "application/json");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first, second, "same id, same everything: executed once");

    let other = s
        .client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth("someone-else")
        .header("idempotency-key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        !other.headers().contains_key("idempotent-replayed"),
        "keys belong to their principal"
    );

    let changed =
        json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "different"}]});
    let r = s
        .post("/v1/chat/completions", changed)
        .header("idempotency-key", "k-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "idempotency_key_reused"
    );

    let metrics = s.metrics().await;
    assert!(metrics.contains("idempotent_replays_total 1"), "{metrics}");
}

#[tokio::test]
async fn streams_are_executed_once_and_replayed_byte_for_byte() {
    let s = spawn().await;
    let body = json!({"model": "ref-chat-1", "input": "stream once", "stream": true});
    let a = s
        .post("/v1/responses", body.clone())
        .header("idempotency-key", "s-1")
        .send()
        .await
        .unwrap();
    let a_text = a.text().await.unwrap();
    let b = s
        .post("/v1/responses", body)
        .header("idempotency-key", "s-1")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&b, "idempotent-replayed"), "true");
    assert!(header(&b, "content-type").starts_with("text/event-stream"));
    assert_eq!(b.text().await.unwrap(), a_text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_execute_exactly_once() {
    let s = spawn().await;
    // A heavy request keeps the first execution in flight while the duplicates arrive.
    let inputs: Vec<String> = (0..2048).map(|i| format!("input number {i}")).collect();
    let body = json!({"model": "ref-embed-1", "input": inputs});
    let responses = join_all((0..8).map(|_| {
        s.post("/v1/embeddings", body.clone())
            .header("idempotency-key", "heavy-1")
            .send()
    }))
    .await;
    let (mut executed, mut conflicts, mut replayed) = (0, 0, 0);
    for r in responses {
        let r = r.unwrap();
        match (
            r.status().as_u16(),
            r.headers().contains_key("idempotent-replayed"),
        ) {
            (200, false) => executed += 1,
            (200, true) => replayed += 1,
            (409, _) => {
                conflicts += 1;
                assert_eq!(
                    r.json::<Value>().await.unwrap()["error"]["code"],
                    "idempotency_key_in_use"
                );
            }
            (other, _) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        executed, 1,
        "exactly one execution ({replayed} replayed, {conflicts} conflicts)"
    );
    assert!(
        conflicts >= 1,
        "a duplicate that arrives in flight gets 409"
    );
}

#[tokio::test]
async fn keys_expire_after_the_ttl_and_bad_keys_are_400() {
    let mut c = Config::default();
    c.idempotency.ttl_seconds = 1;
    let s = spawn_with(c).await;
    let body = json!({"model": "ref-chat-1", "input": "x"});
    let a: Value = s
        .post("/v1/responses", body.clone())
        .header("idempotency-key", "t")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let b = s
        .post("/v1/responses", body)
        .header("idempotency-key", "t")
        .send()
        .await
        .unwrap();
    assert!(!b.headers().contains_key("idempotent-replayed"));
    assert_ne!(a["id"], b.json::<Value>().await.unwrap()["id"]);
    let r = s
        .post("/v1/responses", json!({}))
        .header("idempotency-key", "a".repeat(300))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn saturation_sheds_load_with_503_and_retry_after() {
    let mut c = Config::default();
    c.limits.max_concurrent_requests = 1;
    let s = spawn_with(c).await;
    let inputs: Vec<String> = (0..2048).map(|i| format!("input {i}")).collect();
    let body = json!({"model": "ref-embed-1", "input": inputs});
    let responses = join_all((0..6).map(|_| s.post("/v1/embeddings", body.clone()).send())).await;
    let shed: Vec<reqwest::Response> = responses
        .into_iter()
        .map(Result::unwrap)
        .filter(|r| r.status() == 503)
        .collect();
    assert!(
        !shed.is_empty(),
        "concurrent requests beyond the limit are shed"
    );
    assert_eq!(header(&shed[0], "retry-after"), "1");
    assert_envelope(
        &shed
            .into_iter()
            .next()
            .unwrap()
            .json::<Value>()
            .await
            .unwrap(),
    );
    assert_eq!(
        s.client
            .get(s.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn nesting_and_item_counts_are_bounded() {
    let s = spawn().await;
    let deep = format!(
        "{{\"model\":\"ref-chat-1\",\"input\":{}\"x\"{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let r = s
        .client
        .post(s.url("/v1/responses"))
        .bearer_auth("k")
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "json_too_deep"
    );
    let messages: Vec<Value> = (0..2049)
        .map(|_| json!({"role": "user", "content": "x"}))
        .collect();
    let (status, body) = s
        .post_json(
            "/v1/chat/completions",
            json!({"model": "ref-chat-1", "messages": messages}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("messages"))
    );
    let tools: Vec<Value> = (0..129)
        .map(|i| json!({"type": "function", "name": format!("f{i}")}))
        .collect();
    let (status, body) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "x", "tools": tools}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("tools"))
    );
}

#[tokio::test]
async fn a_stalled_upload_is_cut_with_408_in_the_envelope() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = Config::default();
    c.limits.request_timeout_seconds = 1;
    let s = spawn_with(c).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Announce 100 bytes, send 10, then go silent: the body read must not wait forever.
    let head = format!(
        "POST /v1/embeddings HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer k\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"model\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Read until the head and the announced body length have arrived (the connection may
    // stay open); the outer bound only keeps a broken server from hanging the test.
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            response.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&response).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if body.len() >= length {
                    return text;
                }
            }
            if n == 0 {
                return text;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server must answer by itself");
    let text = read.unwrap_or_default();
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains("\"error\"") && text.contains("application/json"),
        "{text}"
    );
}
