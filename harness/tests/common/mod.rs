//! A wiremock server that answers like the reference server, except for one injected defect.
//!
//! Each request is forwarded in-process to the reference app (`reference_server::app`), the
//! answer is turned into a `ResponseTemplate`, and the defect may change the request before
//! and the response after. So every broken server differs from a correct one in exactly the
//! way its defect says.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod socket;

use harness::{CheckOptions, Outcome, RunConfig, RunResult, TargetConfig};
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tower::ServiceExt;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate};

pub const KEY: &str = "sk-defect-tests";
/// A key of another project, for the isolation checks.
pub const SECOND_KEY: &str = "sk-defect-tests-other-project";

/// The request as it will be forwarded; a defect may rewrite it.
pub struct Forward {
    pub method: Method,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Forward {
    pub fn path(&self) -> &str {
        self.path_and_query.split('?').next().unwrap_or("")
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn set_json(&mut self, v: &Value) {
        self.body = v.to_string().into_bytes();
    }
}

/// The reference app's answer; a defect may rewrite it.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn set_json(&mut self, v: &Value) {
        self.body = v.to_string().into_bytes();
    }

    pub fn is_sse(&self) -> bool {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    }

    pub fn set_header(&mut self, name: &'static str, value: &str) {
        self.headers
            .insert(name, HeaderValue::from_str(value).unwrap());
    }

    /// The SSE body as blocks (one event each, without the blank line).
    pub fn blocks(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.body)
            .split("\n\n")
            .filter(|b| !b.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn set_blocks(&mut self, blocks: &[String]) {
        let mut s = String::new();
        for b in blocks {
            s.push_str(b);
            s.push_str("\n\n");
        }
        self.body = s.into_bytes();
    }

    /// The JSON of each block's data line (None for `[DONE]`), with the event name.
    pub fn events(&self) -> Vec<(Option<String>, Option<Value>)> {
        self.blocks()
            .iter()
            .map(|b| {
                let event = b
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .map(str::to_owned);
                let data = b
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or("");
                (event, serde_json::from_str(data).ok())
            })
            .collect()
    }

    /// Rebuilds the body from (event name, JSON-or-DONE) pairs.
    pub fn set_events(&mut self, events: &[(Option<String>, Option<Value>)]) {
        let blocks: Vec<String> = events
            .iter()
            .map(|(name, data)| {
                let data = data
                    .as_ref()
                    .map_or_else(|| "[DONE]".to_owned(), Value::to_string);
                match name {
                    Some(n) => format!("event: {n}\ndata: {data}"),
                    None => format!("data: {data}"),
                }
            })
            .collect();
        self.set_blocks(&blocks);
    }
}

/// One way to break the server.
pub struct Defect {
    pub before: fn(&mut Forward),
    pub after: fn(&Forward, &mut Answer),
}

pub fn untouched_request(_: &mut Forward) {}
pub fn untouched_answer(_: &Forward, _: &mut Answer) {}

struct Broken {
    app: reference_server::App,
    defect: Defect,
}

impl Respond for Broken {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let path_and_query = match request.url.query() {
            Some(q) => format!("{}?{q}", request.url.path()),
            None => request.url.path().to_owned(),
        };
        let mut forward = Forward {
            method: request.method.clone(),
            path_and_query,
            headers: request.headers.clone(),
            body: request.body.clone(),
        };
        (self.defect.before)(&mut forward);
        let mut builder = http::Request::builder()
            .method(forward.method.clone())
            .uri(&forward.path_and_query);
        for (k, v) in &forward.headers {
            if k != "content-length" {
                builder = builder.header(k, v);
            }
        }
        let req = builder
            .body(axum::body::Body::from(forward.body.clone()))
            .unwrap();
        // wiremock serves from its own thread and runtime; the reference app needs no
        // runtime services, so driving it to completion here is safe.
        let mut answer = futures::executor::block_on(async {
            let response = self.app.clone().oneshot(req).await.unwrap();
            let (parts, body) = response.into_parts();
            let body = body.collect().await.unwrap().to_bytes().to_vec();
            Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
            }
        });
        (self.defect.after)(&forward, &mut answer);
        let mut template = ResponseTemplate::new(answer.status);
        for (k, v) in &answer.headers {
            if k != "content-length" && k != "transfer-encoding" {
                template = template.append_header(k.as_str(), v.to_str().unwrap_or(""));
            }
        }
        template.set_body_bytes(answer.body)
    }
}

/// The reference configuration the broken servers start from (strict auth, as embedded).
pub fn reference_config() -> reference_server::Config {
    let mut rate_limit = reference_server::RateLimitConfig::default();
    // A smaller budget on the burst's route keeps each run's burst short.
    rate_limit.routes.insert(
        "/v1/models".into(),
        reference_server::RateBudget {
            requests: 150,
            per_seconds: 60,
        },
    );
    reference_server::Config {
        rate_limit,
        request_logs: false,
        auth: reference_server::AuthConfig {
            mode: reference_server::AuthMode::Strict,
            tokens: vec![
                reference_server::TokenConfig {
                    token: KEY.into(),
                    scopes: vec!["*".into()],
                    project: None,
                },
                reference_server::TokenConfig {
                    token: SECOND_KEY.into(),
                    scopes: vec!["*".into()],
                    project: Some("other".into()),
                },
            ],
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Starts a broken server.
pub async fn broken(defect: Defect) -> MockServer {
    let server = MockServer::start().await;
    let app = reference_server::app(reference_config());
    Mock::given(wiremock::matchers::any())
        .respond_with(Broken { app, defect })
        .mount(&server)
        .await;
    server
}

/// Runs the whole facade profile against a `broken` server with fixed seed and small budgets,
/// without the WebSocket mode's checks (wiremock cannot upgrade; `socket::broken_socket` can).
/// Shape snapshots run only with a recording (`run_snapshots`).
pub async fn run_against(url: &str) -> RunResult {
    run_with(url, |c| c.skip.push("open-responses.websocket.*".into())).await
}

/// Runs only the `snapshots.*` checks against `url` with the recording in `dir`: written for
/// review (`update`), or compared, strictly (a shape never recorded fails).
pub async fn run_snapshots(url: &str, dir: &std::path::Path, update: bool) -> RunResult {
    run_with(url, |c| {
        // One other check, so that `snapshots.exchanges` has the exchanges of a run to judge.
        c.only = vec!["snapshots.*".into(), "embeddings.dimensions".into()];
        c.options.snapshots = Some(std::sync::Arc::new(harness::snapshots::SnapshotOptions {
            dir: dir.to_owned(),
            update,
            strict: true,
            target: url.to_owned(),
        }));
    })
    .await
}

/// As `run_against`, with the configuration adjusted by `adjust`.
pub async fn run_with(url: &str, adjust: impl FnOnce(&mut RunConfig)) -> RunResult {
    try_run_with(url, adjust).await.expect("the run completes")
}

/// As `run_with`, for a run that may stop before any check.
pub async fn try_run_with(
    url: &str,
    adjust: impl FnOnce(&mut RunConfig),
) -> Result<RunResult, harness::HarnessError> {
    let mut config = RunConfig::new(TargetConfig::new(
        url,
        Some(KEY.into()),
        Duration::from_secs(20),
    ));
    config.options = CheckOptions {
        expect_strict_auth: true,
        seed: 42,
        budget: 12,
        oversized_bytes: 3 * 1024 * 1024,
        aggressive: true,
        burst_max: 400,
        // Requests through the proxy never overlap, so a heavy batch would only cost time.
        heavy_batch: 16,
        second_api_key: Some(SECOND_KEY.into()),
        ..CheckOptions::default()
    };
    adjust(&mut config);
    harness::run(config, &|_| {}).await
}

/// The ids of each kind of verdict.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// Failed or errored.
    pub failed: BTreeSet<String>,
    /// Could not run their assertion.
    pub preconditions: BTreeSet<String>,
    /// Skipped.
    pub skipped: BTreeSet<String>,
}

/// Sorts the checks of a run by verdict.
pub fn verdicts(result: &RunResult) -> Verdicts {
    let mut v = Verdicts::default();
    for c in &result.checks {
        let set = match c.outcome {
            Outcome::Failed(_) | Outcome::Errored(_) => &mut v.failed,
            Outcome::PreconditionFailed(_) => &mut v.preconditions,
            Outcome::Skipped { .. } => &mut v.skipped,
            Outcome::Passed => continue,
        };
        set.insert(c.id.clone());
    }
    v
}

/// A fresh directory under the system temp dir, removed with everything in it when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("conformance-test-")
        .tempdir()
        .unwrap()
}
