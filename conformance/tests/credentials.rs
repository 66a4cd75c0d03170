//! The key stays with the target: a target that redirects to another loopback origin (another
//! port) with 301, 302, 303, 307 and 308, for `run`, `eval` and `latency`, with the key as a
//! bearer token and in a gateway's own header. The other origin records what reaches it:
//! nothing may carry the key (and the harness follows no redirect there at all). `--api-key-file`
//! reads the key from a file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
#[path = "../../harness/tests/common/mod.rs"]
mod common;

use binary::*;

use common::*;
use std::process::Output;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const STATUSES: [u16; 5] = [301, 302, 303, 307, 308];
const SECRET: &str = "sk-must-stay-home-1234567890";

/// Answers every request with `status` and a `Location` on `to`, same path.
struct Redirect {
    status: u16,
    to: String,
}

impl Respond for Redirect {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let target = match req.url.query() {
            Some(q) => format!("{}{}?{q}", self.to, req.url.path()),
            None => format!("{}{}", self.to, req.url.path()),
        };
        ResponseTemplate::new(self.status).insert_header("location", target.as_str())
    }
}

/// The redirector, and the other origin it points at.
async fn redirector(status: u16) -> (MockServer, MockServer) {
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "list", "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "x"}]
        })))
        .mount(&elsewhere)
        .await;
    let home = MockServer::start().await;
    Mock::given(any())
        .respond_with(Redirect {
            status,
            to: elsewhere.uri(),
        })
        .mount(&home)
        .await;
    (home, elsewhere)
}

/// Every request that reached `elsewhere` carrying the secret, in any header.
async fn leaked(elsewhere: &MockServer) -> Vec<String> {
    elsewhere
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            r.headers
                .values()
                .any(|v| v.to_str().is_ok_and(|v| v.contains(SECRET)))
        })
        .map(|r| format!("{} {}", r.method, r.url))
        .collect()
}

/// A command that ran to a verdict (exit 0 or 1), asked the redirector something, and sent
/// no key to the other origin.
async fn kept_home(out: &Output, home: &MockServer, elsewhere: &MockServer, case: &str) {
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{case}: {said}");
    let asked = home.received_requests().await.unwrap_or_default();
    assert!(
        !asked.is_empty(),
        "{case}: nothing was asked of the redirector: {said}"
    );
    assert_eq!(leaked(elsewhere).await, Vec::<String>::new(), "{case}");
}

#[tokio::test]
async fn run_sends_no_key_to_another_origin_and_says_it_was_redirected() {
    for status in STATUSES {
        for header in ["Authorization", "x-api-key"] {
            let (home, elsewhere) = redirector(status).await;
            let result = run_with(&home.uri(), |c| {
                c.target.api_key = Some(SECRET.into());
                c.target.auth_header = header.into();
                c.only = vec!["models.*".into(), "headers.no-redirect".into()];
            })
            .await;
            assert_eq!(
                leaked(&elsewhere).await,
                Vec::<String>::new(),
                "{status} {header}"
            );
            assert!(
                elsewhere
                    .received_requests()
                    .await
                    .unwrap_or_default()
                    .is_empty(),
                "{status} {header}: a redirect to another origin was followed"
            );
            let check = result
                .checks
                .iter()
                .find(|c| c.id == "headers.no-redirect")
                .unwrap();
            let harness::Outcome::Failed(f) = &check.outcome else {
                panic!("{status} {header}: {:?}", check.outcome)
            };
            let redirect = f
                .request
                .as_ref()
                .and_then(|r| r.redirect.clone())
                .unwrap_or_default();
            assert!(
                redirect.contains(&format!("HTTP {status} to {}", elsewhere.uri()))
                    && redirect.contains("not followed"),
                "{redirect}"
            );
        }
    }
}

#[tokio::test]
async fn a_redirect_within_the_origin_is_followed_and_reported() {
    let home = MockServer::start().await;
    Mock::given(wiremock::matchers::path("/v1/models"))
        .and(wiremock::matchers::query_param_is_missing("page"))
        .respond_with(ResponseTemplate::new(308).insert_header("location", "/v1/models?page=1"))
        .mount(&home)
        .await;
    Mock::given(wiremock::matchers::path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "list", "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "x"}]
        })))
        .mount(&home)
        .await;
    let result = run_with(&home.uri(), |c| {
        c.only = vec!["headers.no-redirect".into()];
    })
    .await;
    let harness::Outcome::Failed(f) = &result.checks[0].outcome else {
        panic!("{:?}", result.checks[0].outcome)
    };
    let redirect = f
        .request
        .as_ref()
        .and_then(|r| r.redirect.clone())
        .unwrap_or_default();
    assert!(
        redirect.contains("followed to") && redirect.contains("same origin"),
        "{redirect}"
    );
}

/// A chat model that answers "4" to everything.
async fn model() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "4"}}]
        })))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn eval_and_its_judge_send_no_key_to_another_origin() {
    let dir = tempdir();
    let suite = dir.path().join("one.jsonl");
    std::fs::write(
        &suite,
        "{\"id\": \"a\", \"input\": \"What is 2 + 2?\", \"grader\": {\"type\": \"judge\", \"rubric\": \"says 4\"}}\n",
    )
    .unwrap();
    let answering = model().await;
    for status in STATUSES {
        for header in ["Authorization", "x-api-key"] {
            // The target redirects; then the target answers and the judge redirects.
            for judged in [false, true] {
                let (home, elsewhere) = redirector(status).await;
                let target = if judged { answering.uri() } else { home.uri() };
                let out = conformance_async(&[
                    "eval",
                    "--target",
                    &target,
                    "--api-key",
                    SECRET,
                    "--auth-header",
                    header,
                    "--model",
                    "m",
                    "--cases",
                    suite.to_str().unwrap(),
                    "--judge-target",
                    &home.uri(),
                    "--judge-model",
                    "m",
                    "--no-reports",
                ])
                .await;
                kept_home(&out, &home, &elsewhere, &format!("{status} {header}")).await;
            }
        }
    }
}

#[tokio::test]
async fn latency_sends_no_key_to_another_origin() {
    for status in STATUSES {
        for header in ["Authorization", "x-api-key"] {
            let (home, elsewhere) = redirector(status).await;
            let out = conformance_async(&[
                "latency",
                "--target",
                &format!("{}/v1", home.uri()),
                "--api-key",
                SECRET,
                "--auth-header",
                header,
                "--requests",
                "5",
                "--warmup",
                "0s",
                "--no-reports",
            ])
            .await;
            kept_home(&out, &home, &elsewhere, &format!("{status} {header}")).await;
        }
    }
}

#[tokio::test]
async fn the_key_may_come_from_a_file() {
    let home = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "object": "list", "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "x"}]
        })))
        .mount(&home)
        .await;
    let dir = tempdir();
    let file = dir.path().join("key");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let out = conformance_async(&[
        "run",
        "--target",
        &home.uri(),
        "--api-key-file",
        file.to_str().unwrap(),
        "--only",
        "headers.no-redirect",
        "--no-reports",
    ])
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = home.received_requests().await.unwrap_or_default();
    assert!(
        sent.iter().any(|r| r
            .headers
            .get("authorization")
            .is_some_and(|v| v == format!("Bearer {SECRET}").as_str())),
        "the file's key was sent"
    );
    // A missing or empty file is a usage error, with the path.
    std::fs::write(&file, "\n").unwrap();
    let out = conformance_async(&[
        "run",
        "--target",
        &home.uri(),
        "--api-key-file",
        file.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("holds no key"));
    let out = conformance_async(&[
        "run",
        "--target",
        &home.uri(),
        "--api-key-file",
        "/nonexistent/key",
    ])
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/key"));
}
