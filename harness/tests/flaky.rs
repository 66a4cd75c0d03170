//! Verdicts that hold on a rate-limited or flaky deployment: the reference server (which is
//! conformant) with injected 429s or 5xx gives the verdicts it gives without them, the retries
//! counted and the flaky requests listed; with `--no-retry` the same faults show as failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use harness::Outcome;
use reference_server::simulate::faults::FaultConfig;
use std::collections::BTreeMap;

/// A real reference server on loopback with `faults`; its URL.
async fn serve_with(faults: &[&str]) -> String {
    let mut config = reference_config();
    config.faults = faults
        .iter()
        .map(|f| FaultConfig::parse_compact(f).unwrap())
        .collect();
    serve(config).await
}

/// A real reference server on loopback with `config`; its URL.
async fn serve(config: reference_server::Config) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(reference_server::serve(
        listener,
        config,
        std::future::pending(),
    ));
    url
}

/// Each check's outcome, by kind. The concurrent-duplicate check may skip when its duplicates
/// happen not to overlap, quiet or not: it is left out.
fn verdicts(result: &harness::RunResult) -> BTreeMap<String, &'static str> {
    result
        .checks
        .iter()
        .filter(|c| c.id != "idempotency.concurrent.409")
        .map(|c| {
            let kind = match &c.outcome {
                Outcome::Passed => "passed",
                Outcome::Failed(_) => "failed",
                Outcome::PreconditionFailed(_) => "precondition",
                Outcome::Errored(_) => "errored",
                Outcome::Skipped { .. } => "skipped",
            };
            (c.id.clone(), kind)
        })
        .collect()
}

async fn quiet() -> BTreeMap<String, &'static str> {
    let result = run_with(&serve_with(&[]).await, |_| {}).await;
    verdicts(&result)
}

#[tokio::test]
async fn a_target_that_rate_limits_every_tenth_request_gives_the_verdicts_of_a_quiet_one() {
    let quiet = quiet().await;
    assert!(
        quiet.values().all(|v| *v == "passed" || *v == "skipped"),
        "{quiet:?}"
    );
    let limited = serve_with(&["kind=429,every=10,retry_after=20ms"]).await;
    let result = run_with(&limited, |_| {}).await;
    assert_eq!(
        verdicts(&result),
        quiet,
        "{}",
        harness::Report::text(&result)
    );
    assert!(result.retries.rate_limited > 0, "{:?}", result.retries);
    assert_eq!(
        result.retries.by_check.values().sum::<u32>(),
        result.retries.rate_limited
    );
    assert!(!result.retries.budget_exhausted);
    // The same target judged raw: the 429s become verdicts.
    let raw = run_with(&limited, |c| c.options.retry.enabled = false).await;
    assert_ne!(verdicts(&raw), quiet);
    assert_eq!(raw.retries.rate_limited, 0);
}

#[tokio::test]
async fn transient_server_errors_are_asked_again_and_listed_as_flaky() {
    let quiet = quiet().await;
    let flaky = serve_with(&["kind=500,every=25"]).await;
    let result = run_with(&flaky, |_| {}).await;
    assert_eq!(
        verdicts(&result),
        quiet,
        "{}",
        harness::Report::text(&result)
    );
    assert!(!result.retries.flaky.is_empty());
    for f in &result.retries.flaky {
        assert_eq!((f.first, f.then), (500, 200), "{f:?}");
    }
    // A passing check that needed a repeat says so.
    let noted = result.checks.iter().filter(|c| {
        c.note
            .as_deref()
            .is_some_and(|n| n.contains("flaky: HTTP 500 then 200"))
    });
    assert!(noted.count() > 0);
    let raw = run_with(&flaky, |c| c.options.retry.enabled = false).await;
    assert_ne!(verdicts(&raw), quiet);
}

#[tokio::test]
async fn a_target_still_rate_limiting_past_the_budget_errors_the_check_instead_of_failing_it() {
    // Every chat completion is a 429 asking for 1 s; the budget allows none of it.
    let limited = serve_with(&["kind=429,routes=/v1/chat/completions,retry_after=1s"]).await;
    let result = run_with(&limited, |c| {
        c.only = vec!["chat.schema".into()];
        c.options.retry.budget = std::time::Duration::from_millis(500);
    })
    .await;
    let check = &result.checks[0];
    assert!(
        matches!(check.outcome, Outcome::Errored(_)),
        "{:?}",
        check.outcome
    );
    assert!(result.retries.budget_exhausted);
    // With room in the budget but few retries allowed, the same: errored, never failed.
    let result = run_with(&limited, |c| {
        c.only = vec!["chat.schema".into()];
        c.options.retry.max_retries = 0;
    })
    .await;
    assert!(
        matches!(result.checks[0].outcome, Outcome::Errored(_)),
        "{:?}",
        result.checks[0].outcome
    );
}

/// A target whose embeddings take 50 ms an input: the concurrent-duplicate check sizes its
/// batch from a measured one (a few dozen inputs, not 2,048, which took 100 s) and still sees
/// its duplicates overlap.
#[tokio::test]
async fn the_in_flight_batch_is_sized_to_a_slow_target() {
    let mut config = reference_config();
    config.timing.embedding_per_input = "50ms".parse().unwrap();
    let url = serve(config).await;
    let result = run_with(&url, |c| {
        c.only = vec!["idempotency.concurrent.409".into()];
        c.options.heavy_batch = 2048;
    })
    .await;
    let check = &result.checks[0];
    assert_eq!(check.outcome, Outcome::Passed, "{:?}", check.outcome);
    let note = check.note.clone().unwrap_or_default();
    let size: usize = note
        .rsplit("a batch of ")
        .next()
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    assert!((16..=100).contains(&size), "{note}");
}
