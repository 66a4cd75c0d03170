#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
//! Kept-alive connections survive answers given before the body was read: the request's
//! headers arrive first, its body 50 ms later, then a second request follows on the same
//! connection; both must be answered. Real sockets, because the defect lives in how the
//! connection is handled, not in any handler.

mod common;

use common::spawn_with;
use reference_server::{AuthMode, Config, TokenConfig};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn strict() -> Config {
    let mut c = Config::default();
    c.auth.mode = AuthMode::Strict;
    c.auth.tokens = vec![TokenConfig {
        token: "sk-good".into(),
        scopes: vec!["*".into()],
        project: None,
    }];
    c
}

/// Reads one HTTP/1.1 response (Content-Length framed) and returns (status, head).
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert_eq!(
            n,
            1,
            "the server closed the connection: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("a content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.unwrap();
    (status, head)
}

/// Sends a request's headers, its body 50 ms later, then a second request on the same
/// connection; asserts the first gets `want` and the second is answered too.
async fn late_body_then_reuse(base: &str, method: &str, path: &str, key: Option<&str>, want: u16) {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let body = br#"{"model":"ref-embed-1","input":"a body that arrives late"}"#;
    let auth = key.map_or(String::new(), |k| format!("authorization: Bearer {k}\r\n"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\n{auth}content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(body).await.unwrap();
    let (status, head) = read_response(&mut stream).await;
    assert_eq!(status, want, "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    // The same connection serves the next request.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let (status, head) = read_response(&mut stream).await;
    assert_eq!(status, 200, "{head}");
}

async fn early_answer_keeps_the_connection(
    config: Config,
    method: &str,
    path: &str,
    key: Option<&str>,
    want: u16,
) {
    let server = spawn_with(config).await;
    late_body_then_reuse(&server.base, method, path, key, want).await;
}

#[tokio::test]
async fn a_401_before_the_body_keeps_the_connection() {
    early_answer_keeps_the_connection(strict(), "POST", "/v1/embeddings", None, 401).await;
}

#[tokio::test]
async fn a_403_before_the_body_keeps_the_connection() {
    let mut c = strict();
    c.auth.tokens.push(TokenConfig {
        token: "sk-reader".into(),
        scopes: vec!["models:read".into()],
        project: None,
    });
    early_answer_keeps_the_connection(c, "POST", "/v1/embeddings", Some("sk-reader"), 403).await;
}

#[tokio::test]
async fn a_404_before_the_body_keeps_the_connection() {
    early_answer_keeps_the_connection(strict(), "POST", "/v1/no-such-route", Some("sk-good"), 404)
        .await;
    early_answer_keeps_the_connection(strict(), "POST", "/no-such-route", None, 404).await;
}

#[tokio::test]
async fn a_405_before_the_body_keeps_the_connection() {
    early_answer_keeps_the_connection(strict(), "POST", "/v1/models", Some("sk-good"), 405).await;
}

#[tokio::test]
async fn a_429_before_the_body_keeps_the_connection() {
    let mut c = strict();
    c.rate_limit.default = reference_server::RateBudget {
        requests: 1,
        per_seconds: 3600,
    };
    // The first POST takes the only token; the second is refused before its body is read.
    let server = spawn_with(c).await;
    let first = server
        .client
        .post(server.url("/v1/embeddings"))
        .bearer_auth("sk-good")
        .json(&serde_json::json!({"model": "ref-embed-1", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    late_body_then_reuse(&server.base, "POST", "/v1/embeddings", Some("sk-good"), 429).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_under_v1_carry_the_rate_limit_headers() {
    let server = spawn_with(Config::default()).await;
    for (method, path, want) in [
        (reqwest::Method::GET, "/v1/no-such-route", 404),
        (reqwest::Method::DELETE, "/v1/models", 405),
    ] {
        let r = server
            .client
            .request(method, server.url(path))
            .bearer_auth("k")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), want);
        for h in [
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
            "x-ratelimit-limit",
        ] {
            assert!(r.headers().contains_key(h), "{path}: no {h}");
        }
    }
    // Outside /v1 there is no rate limit, so no headers.
    let r = server
        .client
        .get(server.url("/no-such-route"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(!r.headers().contains_key("x-ratelimit-limit-requests"));
}
