//! Projects over real sockets: what one project stores, another cannot read, list, continue,
//! search or delete, and a foreign id answers exactly as an id that does not exist. Three
//! projects in strict mode (two keys share one), and two keys in permissive mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;
use common::*;
use reference_server::{AuthMode, Config, TokenConfig};
use serde_json::{json, Value};

const ALICE: &str = "sk-alice-000000000001";
const ALICE_TOO: &str = "sk-alice-000000000002";
const BOB: &str = "sk-bob-0000000000001";
const CAROL: &str = "sk-carol-000000000001";

fn three_projects() -> Config {
    let token = |t: &str, project: Option<&str>| TokenConfig {
        token: t.into(),
        scopes: vec!["*".into()],
        project: project.map(str::to_owned),
    };
    let mut c = Config::default();
    c.auth.mode = AuthMode::Strict;
    c.auth.tokens = vec![
        token(ALICE, Some("alice")),
        token(ALICE_TOO, Some("alice")),
        token(BOB, Some("bob")),
        // No project: a project of its own.
        token(CAROL, None),
    ];
    c
}

async fn call(
    s: &TestServer,
    method: &str,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = s.url(path);
    let mut r = match method {
        "GET" => s.client.get(url),
        "DELETE" => s.client.delete(url),
        _ => s.client.post(url),
    }
    .bearer_auth(key);
    if let Some(body) = body {
        r = r.json(&body);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The answer to `path` with `foreign` in it, with the id written back as a placeholder; and
/// the same for an id that exists nowhere. The two must be equal.
async fn same_as_missing(
    s: &TestServer,
    method: &str,
    path: &str,
    key: &str,
    foreign: &str,
    body: Option<Value>,
) {
    let missing = "resp_0000000000000000000000000000missing";
    let swap = |v: &Value, id: &str| -> Value {
        serde_json::from_str(&v.to_string().replace(id, "{ID}")).unwrap()
    };
    let on = |id: &str| {
        let body = body
            .as_ref()
            .map(|b| serde_json::from_str::<Value>(&b.to_string().replace("{ID}", id)).unwrap());
        (path.replace("{ID}", id), body)
    };
    let (p, b) = on(foreign);
    let (status, answer) = call(s, method, &p, key, b).await;
    let (p, b) = on(missing);
    let (want_status, want) = call(s, method, &p, key, b).await;
    assert!(
        want_status >= 400,
        "{method} {path}: the missing id answered {want_status}"
    );
    assert_eq!(
        status, want_status,
        "{method} {path} with another project's id: {answer}"
    );
    assert_eq!(
        swap(&answer, foreign),
        swap(&want, missing),
        "{method} {path}"
    );
}

#[tokio::test]
async fn a_stored_response_is_its_projects_alone() {
    let s = spawn_with(three_projects()).await;
    let (status, created) = call(
        &s,
        "POST",
        "/v1/responses",
        ALICE,
        Some(json!({"model": "ref-chat-1", "input": "the launch code is swordfish"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    for other in [BOB, CAROL] {
        same_as_missing(&s, "GET", "/v1/responses/{ID}", other, &id, None).await;
        same_as_missing(
            &s,
            "GET",
            "/v1/responses/{ID}/input_items",
            other,
            &id,
            None,
        )
        .await;
        same_as_missing(
            &s,
            "POST",
            "/v1/responses",
            other,
            &id,
            Some(json!({"model": "ref-chat-1", "input": "what was the code?", "previous_response_id": "{ID}"})),
        )
        .await;
        same_as_missing(
            &s,
            "POST",
            "/v1/responses/compact",
            other,
            &id,
            Some(json!({"model": "ref-chat-1", "input": "go on", "previous_response_id": "{ID}"})),
        )
        .await;
        same_as_missing(&s, "DELETE", "/v1/responses/{ID}", other, &id, None).await;
    }
    // The delete attempts deleted nothing; the other key of Alice's project sees it and
    // continues it.
    let (status, kept) = call(&s, "GET", &format!("/v1/responses/{id}"), ALICE, None).await;
    assert_eq!((status, &kept["id"]), (200, &created["id"]));
    let (status, _) = call(
        &s,
        "GET",
        &format!("/v1/responses/{id}/input_items"),
        ALICE_TOO,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, next) = call(
        &s,
        "POST",
        "/v1/responses",
        ALICE_TOO,
        Some(json!({"model": "ref-chat-1", "input": "and again", "previous_response_id": id})),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    let (status, _) = call(
        &s,
        "DELETE",
        &format!("/v1/responses/{id}"),
        ALICE_TOO,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(&s, "GET", &format!("/v1/responses/{id}"), ALICE, None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_index_is_its_projects_alone_and_its_name_is_free_elsewhere() {
    let s = spawn_with(three_projects()).await;
    let (status, index) = call(
        &s,
        "POST",
        "/v1/indexes",
        ALICE,
        Some(json!({"name": "docs", "dimensions": 8})),
    )
    .await;
    assert_eq!(status, 200, "{index}");
    let id = index["id"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &s,
        "POST",
        &format!("/v1/indexes/{id}/items"),
        ALICE,
        Some(json!({"items": [{"id": "a", "text": "alice's secret"}]})),
    )
    .await;
    assert_eq!(status, 200);
    for other in [BOB, CAROL] {
        let (_, list) = call(&s, "GET", "/v1/indexes", other, None).await;
        assert_eq!(list["data"], json!([]), "{list}");
        for (method, path, body) in [
            ("GET", "/v1/indexes/{ID}", None),
            ("GET", "/v1/indexes/{ID}/items/a", None),
            (
                "POST",
                "/v1/indexes/{ID}/search",
                Some(json!({"query": "secret"})),
            ),
            (
                "POST",
                "/v1/indexes/{ID}/items",
                Some(json!({"items": [{"id": "b", "text": "x"}]})),
            ),
            ("DELETE", "/v1/indexes/{ID}/items/a", None),
            ("DELETE", "/v1/indexes/{ID}", None),
            ("GET", "/v1/indexes?after={ID}", None),
        ] {
            same_as_missing(&s, method, path, other, &id, body).await;
        }
    }
    // Bob makes his own "docs"; each lists only its own.
    let (status, bobs) = call(
        &s,
        "POST",
        "/v1/indexes",
        BOB,
        Some(json!({"name": "docs", "dimensions": 8})),
    )
    .await;
    assert_eq!(status, 200, "{bobs}");
    let ids = |list: Value| -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(call(&s, "GET", "/v1/indexes", ALICE_TOO, None).await.1),
        vec![id.clone()]
    );
    assert_eq!(
        ids(call(&s, "GET", "/v1/indexes", BOB, None).await.1),
        vec![bobs["id"].as_str().unwrap().to_owned()]
    );
    // Alice's index is whole: its item is still there and found.
    let (status, hits) = call(
        &s,
        "POST",
        &format!("/v1/indexes/{id}/search"),
        ALICE,
        Some(json!({"query": "alice's secret"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(hits["data"][0]["id"], "a", "{hits}");
    let (_, again) = call(
        &s,
        "POST",
        "/v1/indexes",
        ALICE_TOO,
        Some(json!({"name": "docs"})),
    )
    .await;
    assert_eq!(
        again["error"]["code"], "index_name_taken",
        "same project, same name: {again}"
    );
}

#[tokio::test]
async fn an_idempotency_key_is_the_projects_own() {
    let s = spawn_with(three_projects()).await;
    let send = |key: &'static str, input: &'static str| {
        s.client
            .post(s.url("/v1/embeddings"))
            .bearer_auth(key)
            .header("idempotency-key", "shared-key-1")
            .json(&json!({"model": "ref-embed-1", "input": input}))
            .send()
    };
    let first = send(ALICE, "alpha").await.unwrap();
    assert_eq!(first.status(), 200);
    // Another project with the same key and another body runs its own request.
    let bob = send(BOB, "beta").await.unwrap();
    assert_eq!(bob.status(), 200);
    assert!(bob
        .headers()
        .get("idempotent-replayed")
        .is_none_or(|v| v != "true"));
    // The other key of Alice's project shares her records: another body is refused.
    let reused = send(ALICE_TOO, "gamma").await.unwrap();
    assert_eq!(reused.status(), 422);
}

#[tokio::test]
async fn in_permissive_mode_each_key_is_a_project() {
    let s = spawn().await;
    let (status, created) = call(
        &s,
        "POST",
        "/v1/responses",
        "sk-one",
        Some(json!({"model": "ref-chat-1", "input": "hi"})),
    )
    .await;
    assert_eq!(status, 200);
    let id = created["id"].as_str().unwrap();
    same_as_missing(&s, "GET", "/v1/responses/{ID}", "sk-two", id, None).await;
    let (status, _) = call(&s, "GET", &format!("/v1/responses/{id}"), "sk-one", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn keys_of_one_project_share_its_rate_limit_when_keyed_by_project() {
    let mut c = three_projects();
    c.rate_limit.keying = reference_server::RateLimitKeying::Project;
    c.rate_limit.default = reference_server::RateBudget {
        requests: 2,
        per_seconds: 3600,
    };
    let s = spawn_with(c).await;
    let status = |key: &'static str| {
        let s = &s;
        async move {
            s.get_as("/v1/models", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status(ALICE).await, 200);
    assert_eq!(status(ALICE_TOO).await, 200);
    assert_eq!(
        status(ALICE).await,
        429,
        "the project's two requests are spent"
    );
    assert_eq!(status(BOB).await, 200, "another project has its own bucket");
}
