//! Verdicts a user can act on: where the API lives, how auth-less targets are treated, and
//! what failure messages show. Each test runs the harness against a broken wiremock server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use harness::{Outcome, RunResult};
use http::Method;
use serde_json::json;

fn outcome<'a>(result: &'a RunResult, id: &str) -> &'a Outcome {
    &result
        .checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}"))
        .outcome
}

fn seen(result: &RunResult, id: &str) -> String {
    match outcome(result, id).failure() {
        Some(f) => f.seen.clone(),
        None => panic!("{id} did not fail: {:?}", outcome(result, id)),
    }
}

const PROBES: [&str; 5] = [
    "/healthz",
    "/health",
    "/readyz",
    "/metrics",
    "/openapi.json",
];

/// A server with OpenAI's paths at its root (`/models`, as Prism serves OpenAI's document).
fn api_at_root(f: &mut Forward) {
    let path = f.path().to_owned();
    if path.starts_with("/v1") {
        f.path_and_query = format!("/not-here{}", f.path_and_query);
    } else if !PROBES.contains(&path.as_str()) {
        f.path_and_query = format!("/v1{}", f.path_and_query);
    }
}

#[tokio::test]
async fn a_target_whose_api_is_at_its_root_is_tested_there() {
    let server = broken(Defect {
        before: api_at_root,
        after: untouched_answer,
    })
    .await;
    let result = run_against(&server.uri()).await;
    let v = verdicts(&result);
    assert_eq!(result.api_root, server.uri());
    assert!(
        v.failed.iter().all(|id| id.starts_with("openapi.")),
        "{}",
        harness::Report::text(&result)
    );
    assert!(result.counts().passed > 60, "{:?}", result.counts());
}

#[tokio::test]
async fn a_wrong_api_root_stops_the_run_with_the_api_root_hint() {
    let server = broken(Defect {
        before: untouched_request,
        after: untouched_answer,
    })
    .await;
    let stopped = try_run_with(&format!("{}/api", server.uri()), |_| {}).await;
    match stopped {
        Err(harness::HarnessError::Refused(r @ harness::Refusal::NotFound { .. })) => {
            let said = r.to_string();
            assert!(said.contains("/api/models answered HTTP 404"), "{said}");
            assert!(said.contains("is --target the API root"), "{said}");
        }
        other => panic!("{:?}", other.map(|r| r.checks.len())),
    }
}

#[tokio::test]
async fn a_target_without_auth_skips_both_auth_checks() {
    let server = broken(Defect {
        before: |f| {
            // Every request is let in, with or without a key.
            f.headers
                .insert("authorization", format!("Bearer {KEY}").parse().unwrap());
        },
        after: untouched_answer,
    })
    .await;
    let result = run_with(&server.uri(), |c| c.options.expect_strict_auth = false).await;
    for id in ["errors.missing-key.401", "errors.bad-key.401"] {
        match outcome(&result, id) {
            Outcome::Skipped { reason } => {
                assert!(reason.contains("--expect-strict-auth"), "{reason}")
            }
            other => panic!("{id}: {other:?}"),
        }
    }
}

/// `--expect-auth`: a permissive target (any key) that stopped asking for one is told apart
/// from one that still does.
#[tokio::test]
async fn expect_auth_fails_a_target_that_stopped_asking_for_a_key() {
    let open = broken(Defect {
        before: |f| {
            f.headers
                .insert("authorization", format!("Bearer {KEY}").parse().unwrap());
        },
        after: untouched_answer,
    })
    .await;
    let expect_auth = |c: &mut harness::RunConfig| {
        c.options.expect_strict_auth = false;
        c.options.expect_auth = true;
    };
    let result = run_with(&open.uri(), expect_auth).await;
    assert!(
        matches!(
            outcome(&result, "errors.missing-key.401"),
            Outcome::Failed(_)
        ),
        "{:?}",
        outcome(&result, "errors.missing-key.401")
    );
    // A permissive target that still wants a key passes, and its bad-key check still skips.
    let permissive = broken(Defect {
        before: |f| {
            if f.headers.contains_key("authorization") {
                f.headers
                    .insert("authorization", format!("Bearer {KEY}").parse().unwrap());
            }
        },
        after: untouched_answer,
    })
    .await;
    let result = run_with(&permissive.uri(), expect_auth).await;
    assert_eq!(outcome(&result, "errors.missing-key.401"), &Outcome::Passed);
    assert!(matches!(
        outcome(&result, "errors.bad-key.401"),
        Outcome::Skipped { .. }
    ));
}

#[tokio::test]
async fn failures_show_their_subject_and_the_answer() {
    let server = broken(Defect {
        before: untouched_request,
        after: |f, a| {
            if f.method == Method::POST && f.path() == "/v1/embeddings" {
                map_usage(a);
            }
            if f.method == Method::GET && f.path() == "/v1/models" && a.status == 200 {
                a.set_json(&json!({"object": "list", "data": "not a list"}));
            }
            if f.path() == "/v1/models/conformance-no-such-model" {
                a.body.clear();
            }
            if f.path() == "/v1/conformance-no-such-route" {
                // Bytes that would drive a terminal.
                a.body = b"\x1b[2J\x07<html>gone</html>".to_vec();
            }
        },
    })
    .await;
    let result = run_with(&server.uri(), |c| {
        c.chat_model = Some("ref-chat-1".into());
        c.embedding_model = Some("ref-embed-1".into());
    })
    .await;
    let usage = seen(&result, "embeddings.usage");
    assert!(
        usage.contains("\"total_tokens\":0") && usage.contains("\"prompt_tokens\":10"),
        "{usage}"
    );
    let schema = seen(&result, "models.list.schema");
    assert!(
        schema.contains("is not of type \"array\" in HTTP 200 {\"object\":\"list\""),
        "{schema}"
    );
    assert!(seen(&result, "models.unknown.404").contains("(empty body)"));
    let console = harness::Report::text(&result);
    assert!(
        !console.contains('\u{1b}') && !console.contains('\u{7}'),
        "raw control bytes reached the console"
    );
    assert!(console.contains("\\u{1b}[2J\\u{7}<html>"), "{console}");
}

fn map_usage(a: &mut Answer) {
    if let Some(mut v) = a.json() {
        v["usage"] = json!({"prompt_tokens": 10, "total_tokens": 0});
        a.set_json(&v);
    }
}

#[tokio::test]
async fn checks_that_fail_for_one_cause_are_grouped_under_it() {
    let server = broken(Defect {
        before: untouched_request,
        after: |f, a| {
            let stream = f.json().is_some_and(|v| v["stream"] == json!(true));
            if f.method == Method::POST && f.path() == "/v1/responses" && stream {
                a.status = 500;
                a.headers.insert("content-type", "application/json".parse().unwrap());
                a.set_json(&json!({"error": {"message": "boom", "type": "server_error", "param": null, "code": null}}));
            }
        },
    })
    .await;
    let result = run_against(&server.uri()).await;
    let cause = &result.causes[0];
    assert!(cause.checks.len() >= 8, "{:?}", result.causes);
    assert!(
        cause.failure.seen.contains("HTTP 500"),
        "{:?}",
        cause.failure
    );
    assert!(
        cause
            .checks
            .iter()
            .all(|c| c.starts_with("responses.stream.") || c.starts_with("open-responses.stream.")),
        "{:?}",
        cause.checks
    );
    let console = harness::Report::text(&result);
    let first_cause = console.find("[1]").unwrap();
    let first_area = console.find("\nmodels\n").unwrap();
    assert!(first_cause < first_area, "causes come first:\n{console}");
}
