#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
//! CORS over real sockets: preflights before auth and rate limits, answers an allowed page can
//! read (streams too), and with CORS off an `OPTIONS` that is a 405, never a 401.

mod common;

use common::{spawn_with, TestServer};
use reference_server::{AuthMode, Config, TokenConfig};
use serde_json::json;

const PAGE: &str = "http://127.0.0.1:5173";

fn strict(origins: &[&str]) -> Config {
    let mut c = Config::default();
    c.cors.allow_origins = origins.iter().map(|o| (*o).to_owned()).collect();
    c.auth.mode = AuthMode::Strict;
    c.auth.tokens = vec![TokenConfig {
        token: "sk-page".into(),
        scopes: vec!["*".into()],
        project: None,
    }];
    // One request a minute: a preflight that reached the limiter would be refused.
    c.rate_limit.default.requests = 1;
    c.rate_limit.default.per_seconds = 60;
    c
}

async fn preflight(s: &TestServer, origin: &str, path: &str) -> reqwest::Response {
    s.client
        .request(reqwest::Method::OPTIONS, s.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

/// `GET /v1/models` from a page on `origin`, with the page's key when `keyed`.
async fn models_from(s: &TestServer, origin: &str, keyed: bool) -> reqwest::Response {
    let mut req = s.client.get(s.url("/v1/models")).header("origin", origin);
    if keyed {
        req = req.bearer_auth("sk-page");
    }
    req.send().await.unwrap()
}

fn header<'r>(r: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn a_preflight_is_answered_before_auth_and_the_rate_limit() {
    let s = spawn_with(strict(&[PAGE])).await;
    for path in ["/v1/chat/completions", "/v1/responses", "/v1/models"] {
        for _ in 0..3 {
            let r = preflight(&s, PAGE, path).await;
            assert_eq!(r.status(), 204, "{path}");
            assert_eq!(header(&r, "access-control-allow-origin"), Some(PAGE));
            assert_eq!(
                header(&r, "access-control-allow-headers"),
                Some("authorization, content-type")
            );
            assert!(header(&r, "access-control-allow-methods").is_some_and(|m| m.contains("POST")));
            assert_eq!(header(&r, "access-control-max-age"), Some("600"));
            assert!(header(&r, "vary").is_some_and(|v| v.contains("origin")));
        }
    }
    // The one request of the minute is still there for the page.
    let r = models_from(&s, PAGE, true).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn answers_to_an_allowed_page_are_readable_and_streams_too() {
    let mut c = strict(&[PAGE]);
    c.rate_limit.enabled = false;
    let s = spawn_with(c).await;
    let r = s
        .client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth("sk-page")
        .header("origin", PAGE)
        .json(&json!({"model": "ref-chat-1", "stream": true,
                      "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(PAGE));
    let exposed = header(&r, "access-control-expose-headers").unwrap_or_default();
    for name in [
        "x-request-id",
        "openai-processing-ms",
        "x-ratelimit-remaining-requests",
        "retry-after",
    ] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
    assert!(r.text().await.unwrap().contains("data: [DONE]"));
    // Errors too: a page must be able to read why it was refused.
    let r = models_from(&s, PAGE, false).await;
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "access-control-allow-origin"), Some(PAGE));
    // Another origin is told nothing.
    let r = models_from(&s, "https://evil.example", true).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(
        preflight(&s, "https://evil.example", "/v1/models")
            .await
            .status(),
        405
    );
}

#[tokio::test]
async fn star_allows_any_page() {
    let s = spawn_with(strict(&["*"])).await;
    let r = preflight(&s, "https://anywhere.example", "/v1/embeddings").await;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn with_cors_off_an_options_is_a_405_with_allow_never_a_401() {
    let s = spawn_with(strict(&[])).await;
    for path in ["/v1/chat/completions", "/v1/models"] {
        for _ in 0..3 {
            let r = preflight(&s, PAGE, path).await;
            assert_eq!(r.status(), 405, "{path}");
            assert!(header(&r, "allow").is_some(), "{path}");
            assert_eq!(header(&r, "access-control-allow-origin"), None);
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"]["type"], "invalid_request_error");
        }
    }
    // And no answer names the page.
    let r = models_from(&s, PAGE, true).await;
    assert_eq!(header(&r, "access-control-allow-origin"), None);
}
