//! Three replicas sharing one Redis behind HAProxy: the limits, idempotency and stored
//! responses hold across them as they do in one server, and a Redis outage is a visible 503.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "replicas/topology.rs"]
mod topology;

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use topology::{Balancer, Redis, Replica};

/// Redis, three replicas started with `env`, and the balancer; `None` when the tools are not
/// installed (see `topology::available`).
fn deployment(env: &[(&str, &str)]) -> Option<(Redis, Vec<Replica>, Balancer)> {
    topology::available()?;
    let redis = Redis::start();
    let replicas: Vec<Replica> = (0..3).map(|_| Replica::start(&redis.url(), env)).collect();
    let balancer = Balancer::start(&replicas);
    Some((redis, replicas, balancer))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Sums a counter over the replicas.
async fn summed(replicas: &[Replica], client: &reqwest::Client, name: &str) -> f64 {
    let mut total = 0.0;
    for replica in replicas {
        total += replica.counter(client, name, &[]).await;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_of_n_lets_through_exactly_n_across_the_replicas() {
    let Some((_redis, replicas, balancer)) = deployment(&[("REFSERVER_RATE_LIMIT", "40/3600")])
    else {
        return;
    };
    let client = client();
    let asks = (0..100).map(|_| {
        let client = client.clone();
        let url = format!("{}/v1/models", balancer.base);
        async move {
            let r = client.get(url).bearer_auth("sk-one").send().await.unwrap();
            (r.status().as_u16(), r.headers().contains_key("retry-after"))
        }
    });
    let answers = futures::future::join_all(asks).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let limited = answers.iter().filter(|(s, r)| *s == 429 && *r).count();
    assert_eq!((ok, limited), (40, 60), "{answers:?}");
    // Every replica took part: the count is shared, not one replica's.
    for replica in &replicas {
        let served = replica
            .counter(&client, "http_requests_total", &["route=\"/v1/models\""])
            .await;
        assert!(served >= 10.0, "a replica served only {served} of 100");
    }
    assert_eq!(
        summed(&replicas, &client, "rate_limited_requests_total").await,
        60.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_duplicates_of_a_keyed_post_run_once_and_get_one_answer() {
    let Some((_redis, replicas, balancer)) = deployment(&[
        ("REFSERVER_RATE_LIMIT", "off"),
        // Slow enough that the duplicates arrive while the first still runs.
        ("REFSERVER_TTFT", "300ms"),
    ]) else {
        return;
    };
    let client = client();
    let body = json!({"model": "ref-chat-1", "input": "say it once"});
    let asks = (0..16).map(|_| {
        let (client, body) = (client.clone(), body.clone());
        let url = format!("{}/v1/responses", balancer.base);
        async move {
            let mut conflicts = 0;
            loop {
                let r = client
                    .post(&url)
                    .bearer_auth("sk-one")
                    .header("Idempotency-Key", "once-1")
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                match r.status().as_u16() {
                    // Still running on some replica: retry, as the draft says a client may.
                    409 => {
                        conflicts += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    200 => return (r.bytes().await.unwrap(), conflicts),
                    other => panic!("{other}: {}", r.text().await.unwrap()),
                }
            }
        }
    });
    let answers = futures::future::join_all(asks).await;
    let bodies: HashSet<&[u8]> = answers.iter().map(|(b, _)| &b[..]).collect();
    assert_eq!(
        bodies.len(),
        1,
        "16 duplicates got {} answers",
        bodies.len()
    );
    assert!(
        answers.iter().any(|(_, c)| *c > 0),
        "no duplicate arrived while the first ran: the test proved nothing"
    );
    assert_eq!(
        summed(&replicas, &client, "idempotent_executions_total").await,
        1.0,
        "the request ran more than once over the replicas"
    );
    // The same key with another body, on whichever replica: 422.
    let other = client
        .post(format!("{}/v1/responses", balancer.base))
        .bearer_auth("sk-one")
        .header("Idempotency-Key", "once-1")
        .json(&json!({"model": "ref-chat-1", "input": "something else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_made_on_one_replica_is_read_listed_continued_and_deleted_on_the_others() {
    let Some((_redis, replicas, _balancer)) = deployment(&[("REFSERVER_RATE_LIMIT", "off")]) else {
        return;
    };
    let client = client();
    let at = |i: usize, path: &str| format!("{}{path}", replicas[i % 3].base);
    let made: Value = client
        .post(at(0, "/v1/responses"))
        .bearer_auth("sk-one")
        .json(&json!({"model": "ref-chat-1", "input": "remember the lighthouse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["id"].as_str().unwrap().to_owned();
    let got: Value = client
        .get(at(1, &format!("/v1/responses/{id}")))
        .bearer_auth("sk-one")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, made, "retrieved on another replica as it was made");
    let items: Value = client
        .get(at(2, &format!("/v1/responses/{id}/input_items")))
        .bearer_auth("sk-one")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        items["data"][0]["content"][0]["text"],
        "remember the lighthouse"
    );
    let continued = client
        .post(at(1, "/v1/responses"))
        .bearer_auth("sk-one")
        .json(&json!({"model": "ref-chat-1", "input": "and now?", "previous_response_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        continued.status().as_u16(),
        200,
        "continued on another replica"
    );
    let deleted = client
        .delete(at(2, &format!("/v1/responses/{id}")))
        .bearer_auth("sk-one")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 200);
    let gone = client
        .get(at(0, &format!("/v1/responses/{id}")))
        .bearer_auth("sk-one")
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 404, "deleted on one, gone on all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_replica_under_keyed_load_loses_no_acknowledged_answer() {
    let Some((_redis, mut replicas, balancer)) =
        deployment(&[("REFSERVER_RATE_LIMIT", "off"), ("REFSERVER_TTFT", "20ms")])
    else {
        return;
    };
    let url = format!("{}/v1/responses", balancer.base);
    let client = client();
    let send = move |key: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let r = client
                .post(url)
                .bearer_auth("sk-one")
                .header("Idempotency-Key", key.clone())
                .json(&json!({"model": "ref-chat-1", "input": format!("load {key}")}))
                .send()
                .await;
            match r {
                Ok(r) if r.status().as_u16() == 200 => {
                    let replayed = r.headers().contains_key("idempotent-replayed");
                    Some((r.bytes().await.ok()?, replayed))
                }
                _ => None,
            }
        }
    };
    let load = tokio::spawn({
        let send = send.clone();
        async move {
            let asks = (0..300).map(|i| {
                let send = send.clone();
                async move {
                    // Spread over ~1.5 s, so the kill lands in the middle.
                    tokio::time::sleep(Duration::from_millis(i * 5)).await;
                    let key = format!("load-{i}");
                    (key.clone(), send(key).await)
                }
            });
            futures::future::join_all(asks).await
        }
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    replicas[1].kill();
    let answers = load.await.unwrap();
    let acknowledged: HashMap<String, bytes::Bytes> = answers
        .into_iter()
        .filter_map(|(key, answer)| Some((key, answer?.0)))
        .collect();
    assert!(
        acknowledged.len() >= 150,
        "only {} of 300 were answered",
        acknowledged.len()
    );
    // Every acknowledged answer is replayed, byte for byte, by the replicas still up.
    for (key, body) in &acknowledged {
        let again = send(key.clone()).await;
        let (replayed_body, replayed) = again.unwrap_or_else(|| panic!("{key}: no answer"));
        assert!(replayed, "{key} ran again instead of replaying");
        assert_eq!(&replayed_body, body, "{key} replayed another answer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_a_503_with_retry_after_and_recovers_by_itself() {
    let Some((mut redis, replicas, _balancer)) = deployment(&[("REFSERVER_RATE_LIMIT", "1000/60")])
    else {
        return;
    };
    let client = client();
    // Each replica asked in turn, not through the balancer: its health checks take replicas
    // that are not ready out, and its own 503 is not the one under test.
    let ask = |i: usize, path: &str| {
        client
            .get(format!("{}{path}", replicas[i % 3].base))
            .bearer_auth("sk-one")
            .send()
    };
    assert_eq!(ask(0, "/v1/models").await.unwrap().status().as_u16(), 200);
    redis.stop();
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = ask(i, "/v1/models").await.unwrap();
        let status = r.status().as_u16();
        if status == 503 {
            assert_eq!(r.headers()["retry-after"], "1");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "store_unavailable");
            assert_eq!(body["error"]["type"], "server_error");
        }
        statuses.push(status);
    }
    assert!(
        statuses.iter().all(|s| *s == 503),
        "while Redis is away, a limited route is a 503, never served unlimited: {statuses:?}"
    );
    for replica in &replicas {
        let ready = client
            .get(format!("{}/readyz", replica.base))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status().as_u16(), 503);
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body["checks"]["response_store"]["status"], "failed");
        assert_eq!(body["checks"]["response_store"]["backend"], "redis");
    }
    assert!(summed(&replicas, &client, "store_errors_total").await >= 12.0);
    redis.restart();
    // Back by itself: within a few seconds every replica is ready and serving.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut ready = 0;
        for replica in &replicas {
            let r = client.get(format!("{}/readyz", replica.base)).send().await;
            ready += usize::from(r.is_ok_and(|r| r.status().as_u16() == 200));
        }
        if ready == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not ready 10 s after Redis returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 0..6 {
        assert_eq!(ask(i, "/v1/models").await.unwrap().status().as_u16(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_under_two_prefixes_share_a_redis_but_nothing_else() {
    if topology::available().is_none() {
        return;
    }
    let redis = Redis::start();
    let env = |prefix| {
        [
            ("REFSERVER_STORE_PREFIX", prefix),
            ("REFSERVER_RATE_LIMIT", "5/3600"),
        ]
    };
    let a = Replica::start(&redis.url(), &env("staging-a"));
    let b = Replica::start(&redis.url(), &env("staging-b"));
    let client = client();
    let mut ok = [0, 0];
    for _ in 0..8 {
        for (i, replica) in [&a, &b].into_iter().enumerate() {
            let r = client
                .get(format!("{}/v1/models", replica.base))
                .bearer_auth("sk-one")
                .send()
                .await
                .unwrap();
            ok[i] += usize::from(r.status().as_u16() == 200);
        }
    }
    assert_eq!(ok, [5, 5], "each prefix has its own bucket of 5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_record_expires_after_its_ttl_on_redis() {
    if topology::available().is_none() {
        return;
    }
    let redis = Redis::start();
    let env = [
        ("REFSERVER_IDEMPOTENCY_TTL_SECONDS", "1"),
        ("REFSERVER_RATE_LIMIT", "off"),
    ];
    let replicas = [
        Replica::start(&redis.url(), &env),
        Replica::start(&redis.url(), &env),
    ];
    let client = client();
    let post = |i: usize, input: &str| {
        client
            .post(format!("{}/v1/embeddings", replicas[i].base))
            .bearer_auth("sk-one")
            .header("Idempotency-Key", "short-lived")
            .json(&json!({"model": "ref-embed-1", "input": input}))
            .send()
    };
    assert_eq!(post(0, "first").await.unwrap().status().as_u16(), 200);
    assert_eq!(
        post(1, "second").await.unwrap().status().as_u16(),
        422,
        "kept within its TTL"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = post(1, "second").await.unwrap();
    assert_eq!(after.status().as_u16(), 200, "forgotten after its TTL");
    assert!(!after.headers().contains_key("idempotent-replayed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_on_one_replica_continues_what_another_stored() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};
    if topology::available().is_none() {
        return;
    }
    let redis = Redis::start();
    let env = [("REFSERVER_RATE_LIMIT", "off")];
    let replicas = [
        Replica::start(&redis.url(), &env),
        Replica::start(&redis.url(), &env),
    ];
    let client = client();
    let made: Value = client
        .post(format!("{}/v1/responses", replicas[0].base))
        .bearer_auth("sk-one")
        .json(&json!({"model": "ref-chat-1", "input": "remember the lighthouse"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut request = format!(
        "{}/v1/responses",
        replicas[1].base.replacen("http", "ws", 1)
    )
    .into_client_request()
    .unwrap();
    request
        .headers_mut()
        .insert("authorization", "Bearer sk-one".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let message = json!({"type": "response.create", "model": "ref-chat-1", "input": "and then?",
        "previous_response_id": made["id"]});
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
    let mut last = Value::Null;
    while let Ok(Some(Ok(Message::Text(text)))) =
        tokio::time::timeout(Duration::from_secs(10), socket.next()).await
    {
        last = serde_json::from_str(text.as_str()).unwrap();
        let kind = last["type"].as_str().unwrap_or_default();
        if kind == "response.completed" || kind == "error" {
            break;
        }
    }
    assert_eq!(last["type"], "response.completed", "{last}");
    assert_eq!(last["response"]["previous_response_id"], made["id"]);
}
