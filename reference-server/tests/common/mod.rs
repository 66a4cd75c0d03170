//! A real server on an ephemeral loopback port, and a client for it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod openapi;

use reference_server::Config;
use serde_json::Value;

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn() -> TestServer {
    spawn_with(Config::default()).await
}

pub async fn spawn_with(mut config: Config) -> TestServer {
    config.request_logs = false;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    config.port = addr.port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(reference_server::serve(listener, config, async move {
        let _ = rx.await;
    }));
    TestServer {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        shutdown: Some(tx),
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth("sk-test")
    }

    pub fn post(&self, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth("sk-test")
            .json(&body)
    }

    /// POST of a raw body with the given content type.
    pub fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &'static str,
    ) -> reqwest::RequestBuilder {
        self.client
            .post(self.url(path))
            .bearer_auth("k")
            .header("content-type", content_type)
            .body(body)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.post(path, body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// The `/metrics` exposition.
    pub async fn metrics(&self) -> String {
        let r = self.client.get(self.url("/metrics")).send().await.unwrap();
        r.text().await.unwrap()
    }

    /// GET with `key` as the bearer token.
    pub fn get_as(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(key)
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }
}

/// Asserts `body` is the OpenAI error envelope with all four keys.
pub fn assert_envelope(body: &Value) {
    let e = body["error"]
        .as_object()
        .unwrap_or_else(|| panic!("no error object in {body}"));
    for key in ["message", "type", "param", "code"] {
        assert!(e.contains_key(key), "error lacks {key}: {body}");
    }
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(e["type"].is_string());
}

/// Parses an SSE body into (event name, data) pairs, checking framing on the way.
pub fn parse_sse(body: &str) -> Vec<(Option<String>, String)> {
    assert!(
        body.ends_with("\n\n"),
        "stream does not end with a blank line"
    );
    let mut out = Vec::new();
    for block in body.split("\n\n").filter(|b| !b.is_empty()) {
        let mut event = None;
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event: ") {
                event = Some(v.to_owned());
            } else if let Some(v) = line.strip_prefix("data: ") {
                data.push(v.to_owned());
            } else if line.starts_with(':') {
            } else {
                panic!("unexpected SSE line {line:?}");
            }
        }
        assert_eq!(data.len(), 1, "each event has one data line: {block:?}");
        out.push((event, data.remove(0)));
    }
    out
}
