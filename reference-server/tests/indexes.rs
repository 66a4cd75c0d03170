//! `/v1/indexes` over real loopback HTTP: the lifecycle, the errors and their params, strict
//! scopes, readiness, and persistence with the real binary — across a restart, and across
//! `kill -9` right after a stream of acknowledged writes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reference_server::{AuthMode, Config, TokenConfig};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

async fn create(s: &TestServer, body: Value) -> String {
    let (status, index) = s.post_json("/v1/indexes", body).await;
    assert_eq!(status, 200, "{index}");
    index["id"].as_str().unwrap().to_owned()
}

async fn delete(s: &TestServer, path: &str) -> (u16, Value) {
    let r = s
        .client
        .delete(s.url(path))
        .bearer_auth("sk-test")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn an_index_lives_through_its_whole_lifecycle() {
    let s = spawn().await;
    let id = create(
        &s,
        json!({"name": "docs", "dimensions": 3, "metadata": {"team": "search"}}),
    )
    .await;
    let (status, index) = s.get_json(&format!("/v1/indexes/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(index["object"], "index");
    assert_eq!(index["metric"], "cosine", "the default metric");
    assert_eq!(index["model"], "ref-embed-1", "the default embedding model");
    let items = json!({"items": [
        {"id": "north", "vector": [0, 1, 0], "attributes": {"lang": "en", "year": 2020}},
        {"id": "east", "vector": [1, 0, 0], "attributes": {"lang": "fr", "year": 2024}},
        {"id": "near-east", "vector": [0.9, 0.1, 0], "attributes": {"lang": "en", "year": 2023}},
        {"text": "a cat on a mat", "attributes": {"lang": "en"}}
    ]});
    let (status, added) = s.post_json(&format!("/v1/indexes/{id}/items"), items).await;
    assert_eq!(status, 200, "{added}");
    let made = added["data"][3]["id"].as_str().unwrap().to_owned();
    assert!(
        made.starts_with("item_"),
        "an id is made when none is given: {made}"
    );
    assert_eq!(added["data"][3]["text"], "a cat on a mat");
    assert_eq!(
        s.get_json(&format!("/v1/indexes/{id}")).await.1["item_count"],
        4
    );

    // Nearest first; a filter leaves out what it does not match.
    let search = format!("/v1/indexes/{id}/search");
    let (status, found) = s
        .post_json(&search, json!({"query": [1, 0, 0], "top_k": 2}))
        .await;
    assert_eq!(status, 200, "{found}");
    let ids: Vec<&str> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["east", "near-east"]);
    assert!((found["data"][0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    let filtered = json!({"query": [1, 0, 0], "top_k": 5, "filters": {"type": "and", "filters": [
        {"type": "eq", "key": "lang", "value": "en"}, {"type": "gte", "key": "year", "value": 2021}]}});
    let (_, found) = s.post_json(&search, filtered).await;
    let ids: Vec<&str> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["near-east"]);
    // A text query is embedded like the items: the same text is the nearest.
    let (_, found) = s
        .post_json(&search, json!({"query": "a cat on a mat", "top_k": 1}))
        .await;
    assert_eq!(found["data"][0]["id"], made.as_str());

    // Upsert by id replaces; delete an item, then the index.
    let (status, _) = s
        .post_json(
            &format!("/v1/indexes/{id}/items"),
            json!({"items": [{"id": "east", "vector": [0, 0, 1]}]}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, east) = s.get_json(&format!("/v1/indexes/{id}/items/east")).await;
    assert_eq!(east["attributes"], json!({}), "replaced whole");
    assert_eq!(
        s.get_json(&format!("/v1/indexes/{id}")).await.1["item_count"],
        4
    );
    let (status, gone) = delete(&s, &format!("/v1/indexes/{id}/items/east")).await;
    assert_eq!(
        (status, gone),
        (
            200,
            json!({"id": "east", "object": "index.item.deleted", "deleted": true})
        )
    );
    let (status, body) = s.get_json(&format!("/v1/indexes/{id}/items/east")).await;
    assert_eq!(status, 404, "{body}");
    assert_envelope(&body);
    let (status, gone) = delete(&s, &format!("/v1/indexes/{id}")).await;
    assert_eq!(
        (status, gone["object"].clone(), gone["deleted"].clone()),
        (200, json!("index.deleted"), json!(true))
    );
    for path in [
        format!("/v1/indexes/{id}"),
        format!("/v1/indexes/{id}/items/north"),
    ] {
        let (status, body) = s.get_json(&path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    let (status, _) = s.post_json(&search, json!({"query": [1, 0, 0]})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn lists_page_with_cursors() {
    let s = spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(create(&s, json!({"name": format!("n{i}"), "dimensions": 2})).await);
    }
    let (_, page) = s.get_json("/v1/indexes?limit=2&order=asc").await;
    assert_eq!(page["object"], "list");
    assert_eq!(page["has_more"], true);
    assert_eq!(
        (
            page["first_id"].as_str().unwrap(),
            page["last_id"].as_str().unwrap()
        ),
        (ids[0].as_str(), ids[1].as_str())
    );
    let (_, page) = s
        .get_json(&format!("/v1/indexes?limit=2&order=asc&after={}", ids[3]))
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["has_more"], false);
    let (_, page) = s.get_json("/v1/indexes").await;
    assert_eq!(page["first_id"], ids[4].as_str(), "newest first by default");
    let (status, body) = s.get_json("/v1/indexes?before=idx_nope").await;
    assert_eq!(
        (status, body["error"]["param"].clone()),
        (400, json!("before"))
    );
    let (status, body) = s.get_json("/v1/indexes?limit=0").await;
    assert_eq!(
        (status, body["error"]["param"].clone()),
        (400, json!("limit"))
    );
}

#[tokio::test]
async fn bad_requests_name_what_is_wrong() {
    let s = spawn().await;
    let id = create(&s, json!({"name": "e", "dimensions": 3})).await;
    let items = format!("/v1/indexes/{id}/items");
    let search = format!("/v1/indexes/{id}/search");
    let cases = [
        ("/v1/indexes", json!({"name": "e"}), 409, "name"),
        (
            "/v1/indexes",
            json!({"name": "x", "dimensions": 0}),
            400,
            "dimensions",
        ),
        (
            "/v1/indexes",
            json!({"name": "x", "dimensions": 99999}),
            400,
            "dimensions",
        ),
        (
            "/v1/indexes",
            json!({"name": "x", "metric": "manhattan"}),
            400,
            "metric",
        ),
        (
            "/v1/indexes",
            json!({"name": "x", "model": "ref-chat-1"}),
            400,
            "model",
        ),
        ("/v1/indexes", json!({"name": "  "}), 400, "name"),
        ("/v1/indexes", json!({"name": 7}), 400, "name"),
        (
            "/v1/indexes",
            json!({"name": "x", "metadata": {"k": 1}}),
            400,
            "metadata.k",
        ),
        (
            &items,
            json!({"items": [{"id": "a", "vector": [1, 0, 0]}, {"id": "b", "vector": [1, 0]}]}),
            400,
            "items[1].vector",
        ),
        (
            &items,
            json!({"items": [{"id": "a", "text": "t", "vector": [1, 0, 0]}]}),
            400,
            "items[0]",
        ),
        (
            &items,
            json!({"items": [{"id": "a b", "vector": [1, 0, 0]}]}),
            400,
            "items[0].id",
        ),
        (
            &items,
            json!({"items": [{"id": "a", "vector": [1, 0, 0]}, {"id": "a", "vector": [0, 1, 0]}]}),
            400,
            "items[1].id",
        ),
        (
            &items,
            json!({"items": [{"vector": [1, 0, 0], "attributes": {"k": [1]}}]}),
            400,
            "items[0].attributes.k",
        ),
        (&items, json!({"items": []}), 400, "items"),
        (&search, json!({"query": [1, 0]}), 400, "query"),
        (&search, json!({"query": "q", "top_k": 0}), 400, "top_k"),
        (
            &search,
            json!({"query": "q", "filters": {"type": "or", "filters": [{"type": "eq", "key": "k"}]}}),
            400,
            "filters.filters[0].value",
        ),
    ];
    for (path, body, status, param) in cases {
        let (got, answer) = s.post_json(path, body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert_envelope(&answer);
        assert_eq!(answer["error"]["param"], param, "{body}: {answer}");
    }
    let too_many: Vec<Value> = (0..1001)
        .map(|i| json!({"vector": [1, 0, 0], "id": format!("i{i}")}))
        .collect();
    let (status, answer) = s.post_json(&items, json!({"items": too_many})).await;
    assert_eq!(
        (status, answer["error"]["param"].clone()),
        (400, json!("items"))
    );
    // A refused batch stored nothing of itself.
    assert_eq!(
        s.get_json(&format!("/v1/indexes/{id}")).await.1["item_count"],
        0
    );
}

#[tokio::test]
async fn strict_scopes_guard_each_kind_of_access() {
    let mut config = Config::default();
    config.auth.mode = AuthMode::Strict;
    let token = |t: &str, scopes: &[&str]| TokenConfig {
        token: t.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        // One team's keys: what the admin creates, the others may use.
        project: Some("team".into()),
    };
    config.auth.tokens = vec![
        token("sk-admin", &["indexes:admin"]),
        token("sk-writer", &["indexes:write"]),
        token("sk-reader", &["indexes:read"]),
    ];
    let s = spawn_with(config).await;
    let send = |key: &'static str, method: reqwest::Method, path: String, body: Option<Value>| {
        let mut r = s.client.request(method, s.url(&path)).bearer_auth(key);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    use reqwest::Method;
    assert_eq!(
        send(
            "sk-writer",
            Method::POST,
            "/v1/indexes".into(),
            Some(json!({"name": "s", "dimensions": 2}))
        )
        .await,
        403
    );
    let r = s
        .client
        .post(s.url("/v1/indexes"))
        .bearer_auth("sk-admin")
        .json(&json!({"name": "s", "dimensions": 2}))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let items = json!({"items": [{"id": "a", "vector": [1, 0]}]});
    assert_eq!(
        send(
            "sk-reader",
            Method::POST,
            format!("/v1/indexes/{id}/items"),
            Some(items.clone())
        )
        .await,
        403
    );
    assert_eq!(
        send(
            "sk-writer",
            Method::POST,
            format!("/v1/indexes/{id}/items"),
            Some(items)
        )
        .await,
        200
    );
    assert_eq!(
        send(
            "sk-reader",
            Method::POST,
            format!("/v1/indexes/{id}/search"),
            Some(json!({"query": [1, 0]}))
        )
        .await,
        200
    );
    assert_eq!(
        send(
            "sk-reader",
            Method::GET,
            format!("/v1/indexes/{id}/items/a"),
            None
        )
        .await,
        200
    );
    assert_eq!(
        send(
            "sk-reader",
            Method::DELETE,
            format!("/v1/indexes/{id}/items/a"),
            None
        )
        .await,
        403
    );
    assert_eq!(
        send(
            "sk-writer",
            Method::DELETE,
            format!("/v1/indexes/{id}"),
            None
        )
        .await,
        403
    );
    assert_eq!(
        send(
            "sk-admin",
            Method::DELETE,
            format!("/v1/indexes/{id}"),
            None
        )
        .await,
        200
    );
}

#[tokio::test]
async fn a_store_that_cannot_be_opened_is_not_ready_and_says_so() {
    // A path under a regular file can never be created.
    let blocker = std::env::temp_dir().join(format!("refserver-blocker-{}", uuid_like()));
    std::fs::write(&blocker, b"not a directory").unwrap();
    let mut config = Config::default();
    config.indexes.path = Some(blocker.join("indexes.redb").display().to_string());
    let app = reference_server::app(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let r = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["index_store"]["status"], "failed", "{body}");
    let r = client
        .get(format!("{base}/v1/indexes"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable");
    let _ = std::fs::remove_file(&blocker);
}

fn uuid_like() -> String {
    format!("{}-{:?}", std::process::id(), std::time::SystemTime::now())
        .replace(|c: char| !c.is_ascii_alphanumeric(), "")
}

/// The binary on a database file in `dir`; its base URL.
fn start(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(["--port", "0", "--quiet"])
        .env("REFSERVER_INDEX_PATH", dir.join("indexes.redb"))
        .env("REFSERVER_RATE_LIMIT", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("the address")
        .to_owned();
    (child, base)
}

#[tokio::test]
async fn acknowledged_writes_survive_a_restart_and_kill_9() {
    let dir = std::env::temp_dir().join(format!("refserver-crash-{}", uuid_like()));
    let client = reqwest::Client::new();
    let (mut child, base) = start(&dir);
    let r = client
        .post(format!("{base}/v1/indexes"))
        .bearer_auth("k")
        .json(&json!({"name": "durable", "dimensions": 4, "metric": "dot"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A stream of batches, each acknowledged before the next; then SIGKILL at once.
    let mut acknowledged = Vec::new();
    for batch in 0..40 {
        let items: Vec<Value> = (0..5)
            .map(|i| json!({"id": format!("b{batch}-{i}"), "vector": [batch as f32, i as f32, 1, 0], "attributes": {"batch": batch}}))
            .collect();
        let r = client
            .post(format!("{base}/v1/indexes/{id}/items"))
            .bearer_auth("k")
            .json(&json!({"items": items}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        acknowledged.extend((0..5).map(|i| format!("b{batch}-{i}")));
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush.
    child.wait().unwrap();

    let (mut child, base) = start(&dir);
    let index: Value = client
        .get(format!("{base}/v1/indexes/{id}"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(index["item_count"], acknowledged.len(), "{index}");
    for item in &acknowledged {
        let r = client
            .get(format!("{base}/v1/indexes/{id}/items/{item}"))
            .bearer_auth("k")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            200,
            "{item} was acknowledged, then lost"
        );
    }
    // The search copy is rebuilt from the file: the largest dot product is the last batch.
    let found: Value = client
        .post(format!("{base}/v1/indexes/{id}/search"))
        .bearer_auth("k")
        .json(&json!({"query": [1, 0, 0, 0], "top_k": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["data"][0]["attributes"]["batch"], 39, "{found}");
    // A second server on the same file is refused at start, with the reason.
    let out = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(["--port", "0", "--quiet"])
        .env("REFSERVER_INDEX_PATH", dir.join("indexes.redb"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("indexes.redb"), "{err}");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
