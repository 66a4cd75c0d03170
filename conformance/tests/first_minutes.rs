//! The first ten minutes of a new user (#31): a wrong key, a wrong URL or a server that is not
//! an API stops every command after a request or two, with one short message and exit 3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
#[path = "../../harness/tests/common/mod.rs"]
mod common;

use binary::*;

use common::*;
use std::process::Output;
use wiremock::matchers::{any, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A server that answers every request with `status` and `body` as JSON.
async fn answering(status: u16, body: serde_json::Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&server)
        .await;
    server
}

/// A target that wants a key it is not given: OpenAI's answer to a wrong key.
async fn refusing() -> MockServer {
    answering(
        401,
        serde_json::json!({"error": {"message": "Incorrect API key provided: sk-wrong.",
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
    )
    .await
}

/// What python's http.server does: pages for GET, 501 for POST.
async fn static_site() -> MockServer {
    let server = MockServer::start().await;
    let page = format!(
        "<!DOCTYPE html>\n<html><head><title>Directory listing for /</title></head><body>{}</body></html>\n",
        "<li><a href=\"f\">f</a></li>\n".repeat(300)
    );
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "text/html; charset=utf-8"))
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(501).set_body_raw(
            "<html><head><title>Error response</title></head><body>Unsupported method ('POST')</body></html>",
            "text/html;charset=utf-8",
        ))
        .mount(&server)
        .await;
    server
}

async fn asked(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

/// Exit 3, a message of at most a few lines that says `what`, and at most `most` requests.
async fn stopped(out: &Output, server: &MockServer, what: &str, most: usize) {
    let text = said(out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains(what), "{text}");
    assert!(
        text.lines().count() <= 3,
        "one short message, not a report:\n{text}"
    );
    let n = asked(server).await;
    assert!((1..=most).contains(&n), "{n} requests were sent:\n{text}");
}

fn suite(dir: &std::path::Path) -> String {
    let file = dir.join("one.jsonl");
    std::fs::write(
        &file,
        "{\"id\": \"a\", \"input\": \"2 + 2?\", \"ideal\": \"4\", \"grader\": {\"type\": \"exact\"}}\n",
    )
    .unwrap();
    file.display().to_string()
}

#[tokio::test]
async fn run_without_a_key_stops_at_the_first_401() {
    let server = refusing().await;
    let out = conformance_async(&[
        "run",
        "--target",
        &format!("{}/v1", server.uri()),
        "--no-reports",
    ])
    .await;
    stopped(
        &out,
        &server,
        "the target wants credentials and none were sent",
        1,
    )
    .await;
    assert!(said(&out).contains("pass --api-key (or --api-key-file) or set OPENAI_API_KEY"));
}

#[tokio::test]
async fn eval_with_a_wrong_key_stops_before_asking_any_case() {
    let server = refusing().await;
    let dir = tempdir();
    let cases = suite(dir.path());
    let url = format!("{}/v1", server.uri());
    let out = conformance_async(&[
        "eval",
        "--target",
        &url,
        "--api-key",
        "sk-wrong",
        "--model",
        "m",
        "--cases",
        &cases,
        "--no-reports",
    ])
    .await;
    stopped(&out, &server, "the target refused the credentials: GET", 1).await;
    assert!(said(&out).contains("invalid_api_key: Incorrect API key provided"));
    // With reports on, a refused run leaves nothing behind for `--baseline latest` to find.
    let reports = dir.path().join("reports");
    let reports_arg = reports.display().to_string();
    let out = conformance_async(&[
        "eval",
        "--target",
        &url,
        "--api-key",
        "sk-wrong",
        "--model",
        "m",
        "--cases",
        &cases,
        "--report-dir",
        &reports_arg,
    ])
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    let left: Vec<_> = std::fs::read_dir(&reports)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn latency_with_a_wrong_key_sends_one_request_not_a_load() {
    let server = refusing().await;
    let url = format!("{}/v1", server.uri());
    let out = conformance_async(&[
        "latency",
        "--target",
        &url,
        "--api-key",
        "sk-wrong",
        "--duration",
        "3s",
        "--warmup",
        "0s",
        "--no-reports",
    ])
    .await;
    stopped(&out, &server, "the target refused the credentials: POST", 1).await;
}

#[tokio::test]
async fn a_web_site_is_not_taken_for_an_api() {
    let server = static_site().await;
    let out = conformance_async(&["run", "--target", &server.uri(), "--no-reports"]).await;
    stopped(
        &out,
        &server,
        "the target is not an OpenAI-compatible API: GET",
        5,
    )
    .await;
    assert!(
        said(&out).contains("text/html (Directory listing for /)"),
        "{}",
        said(&out)
    );

    let server = static_site().await;
    let out = conformance_async(&[
        "latency",
        "--target",
        &format!("{}/v1", server.uri()),
        "--duration",
        "3s",
        "--no-reports",
    ])
    .await;
    stopped(
        &out,
        &server,
        "the target is not an OpenAI-compatible API: POST",
        1,
    )
    .await;
    assert!(
        said(&out).contains("HTTP 501 text/html (Error response)"),
        "{}",
        said(&out)
    );
}

#[tokio::test]
async fn a_wrong_root_gets_the_api_root_hint() {
    let server = answering(404, serde_json::json!({"detail": "Not Found"})).await;
    let url = format!("{}/openai/v1", server.uri());
    let out = conformance_async(&["run", "--target", &url, "--no-reports"]).await;
    stopped(&out, &server, "is --target the API root", 4).await;
    let out = conformance_async(&[
        "latency",
        "--target",
        &url,
        "--duration",
        "2s",
        "--no-reports",
    ])
    .await;
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(said(&out).contains("POST"), "{}", said(&out));
}

/// A target without `/v1/models` whose `only` endpoint answers an empty body with `status`,
/// as an API does, and every other path with `missing`; runs the models checks against it
/// with `model_flag` (e.g. `--chat-model m`).
async fn run_without_a_model_list(
    only: &str,
    status: u16,
    missing: ResponseTemplate,
    model_flag: [&str; 2],
) -> Output {
    let server = MockServer::start().await;
    Mock::given(path(only))
        .respond_with(
            ResponseTemplate::new(status).set_body_json(serde_json::json!({
            "error": {"message": "a field is required", "type": "invalid_request_error",
                      "param": null, "code": null}})),
        )
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(missing)
        .mount(&server)
        .await;
    let url = format!("{}/v1", server.uri());
    conformance_async(&[
        "run",
        "--target",
        &url,
        model_flag[0],
        model_flag[1],
        "--only",
        "models.*",
        "--no-reports",
    ])
    .await
}

#[tokio::test]
async fn an_api_without_a_model_list_is_still_checked() {
    // /v1/models is not served, but the API is: the checks run and judge it.
    let not_found =
        ResponseTemplate::new(404).set_body_json(serde_json::json!({"detail": "Not Found"}));
    let out = run_without_a_model_list(
        "/v1/chat/completions",
        400,
        not_found,
        ["--chat-model", "m"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains("models.list"), "{}", said(&out));
}

#[tokio::test]
async fn an_embeddings_only_server_without_a_model_list_is_still_checked() {
    // Text-embeddings servers may serve /v1/embeddings alone: no models, no chat.
    let not_found = ResponseTemplate::new(404).set_body_raw("Not Found", "text/plain");
    let out =
        run_without_a_model_list("/v1/embeddings", 422, not_found, ["--embedding-model", "e"])
            .await;
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains("models.list"), "{}", said(&out));
}

#[tokio::test]
async fn a_model_the_target_does_not_have_stops_the_load_with_its_words() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({
            "error": {"message": "The model `nope` does not exist or you do not have access to it.",
                      "type": "invalid_request_error", "param": null, "code": "model_not_found"}})))
        .mount(&server)
        .await;
    let out = conformance_async(&[
        "latency",
        "--target",
        &format!("{}/v1", server.uri()),
        "--chat-model",
        "nope",
        "--duration",
        "2s",
        "--no-reports",
    ])
    .await;
    stopped(
        &out,
        &server,
        "model_not_found: The model `nope` does not exist",
        1,
    )
    .await;
}

#[tokio::test]
async fn a_run_in_a_ci_log_lists_each_check_once() {
    let dir = tempdir();
    let out = conformance_in(dir.path(), &["run", "--only", "models.*", "--no-reports"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert_eq!(
        said(&out).matches("models.retrieve").count(),
        1,
        "{}",
        said(&out)
    );
}

#[tokio::test]
async fn a_long_load_in_a_ci_log_says_how_it_goes_at_a_steady_interval() {
    let dir = tempdir();
    let out = conformance_in(
        dir.path(),
        &[
            "latency",
            "--duration",
            "3s",
            "--warmup",
            "0s",
            "--concurrency",
            "2",
            "--progress-every",
            "1s",
            "--no-reports",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" requests "))
        .collect();
    // 3 s of load and a line a second: a few lines, not one per request, and no \r redraws.
    assert!((1..=6).contains(&lines.len()), "{stderr}");
    assert!(
        lines.iter().all(|l| l.contains("/s") && l.contains("p95")),
        "{stderr}"
    );
    assert!(!stderr.contains('\r'), "{stderr}");
}

#[tokio::test]
async fn json_on_stdout_is_one_document_for_each_command() {
    let dir = tempdir();
    let out = conformance_in(dir.path(), &["run", "--only", "models.*", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["checks"].as_array().map(Vec::len), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("report: "));

    let out = conformance_in(
        dir.path(),
        &[
            "latency",
            "--requests",
            "20",
            "--warmup",
            "0s",
            "--format",
            "json",
            "--no-reports",
        ],
    )
    .await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["kind"], "latency", "{}", said(&out));

    let cases = suite(dir.path());
    let out = conformance_in(
        dir.path(),
        &["eval", "--cases", &cases, "--json", "--no-reports"],
    )
    .await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["kind"], "eval", "{}", said(&out));
    assert_eq!(doc["overall"]["cases"], 1, "{}", said(&out));
}

#[tokio::test]
async fn latest_points_at_the_last_run_and_a_baseline_gate_catches_a_regression() {
    let dir = tempdir();
    let load = [
        "latency",
        "--requests",
        "30",
        "--warmup",
        "0s",
        "--concurrency",
        "2",
    ];
    let out = conformance_in(dir.path(), &load).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let latest = dir.path().join("reports/latest/latency.json");
    let mut report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&latest).expect("reports/latest")).unwrap();
    // The baseline becomes a hundred times faster than anything this run can be.
    for s in report["scenarios"].as_array_mut().unwrap() {
        for p in ["p50_ms", "p95_ms", "p99_ms"] {
            let v = s["latency"][p].as_f64().unwrap();
            s["latency"][p] = (v / 100.0).into();
        }
    }
    std::fs::write(&latest, report.to_string()).unwrap();
    let mut gated = load.to_vec();
    gated.extend(["--baseline", "latest", "--fail-on-regression"]);
    let out = conformance_in(dir.path(), &gated).await;
    let text = said(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("REGRESSED") && text.contains("regressed against the baseline"),
        "{text}"
    );
    let gated: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&latest).unwrap()).unwrap();
    assert!(!gated["baseline"]["regressions"]
        .as_array()
        .unwrap()
        .is_empty());
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/latency-report.schema.json")).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&gated)
        .map(|e| format!("{} {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    // Without the gate the same comparison is reported, and the run passes.
    let mut compared = load.to_vec();
    compared.extend(["--baseline", "latest"]);
    let out = conformance_in(dir.path(), &compared).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("against baseline"), "{}", said(&out));
}

#[test]
fn a_share_is_a_percentage_or_a_fraction() {
    let out = conformance(&["eval", "--max-error-rate", "5", "--regrade", "nowhere"]);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("write 5% for 5 percent, or 0.05"), "{text}");
}

#[tokio::test]
async fn outside_the_repository_eval_uses_the_built_in_suites_and_says_so() {
    let dir = tempdir();
    let out = conformance_in(dir.path(), &["eval", "--min-accuracy", "0.7"]).await;
    let text = said(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("suites: the built-in suites, as shipped in cases/evals/"),
        "{text}"
    );
    let md = std::fs::read_to_string(dir.path().join("reports/latest/eval.md")).unwrap();
    assert!(md.contains("built-in suites"), "{md}");
    // With a cases/evals/ of its own, the directory's suites are used.
    std::fs::create_dir_all(dir.path().join("cases/evals")).unwrap();
    std::fs::write(
        dir.path().join("cases/evals/mine.jsonl"),
        "{\"id\": \"a\", \"input\": \"2 + 2?\", \"ideal\": \"4\", \"grader\": {\"type\": \"exact\"}}\n",
    )
    .unwrap();
    let out = conformance_in(dir.path(), &["eval", "--json", "--no-reports"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(doc["overall"]["cases"], 1, "{}", said(&out));
    assert!(
        said(&out).contains("suites: cases/evals/*.jsonl"),
        "{}",
        said(&out)
    );

    let out = conformance_in(
        dir.path(),
        &[
            "latency",
            "--requests",
            "5",
            "--warmup",
            "0s",
            "--no-reports",
        ],
    )
    .await;
    assert!(
        said(&out).contains("SLO: the built-in defaults: responses p95 <= 1200ms"),
        "{}",
        said(&out)
    );
}

#[test]
fn every_command_has_an_example_and_no_empty_environment_hint() {
    for command in [
        "run",
        "eval",
        "latency",
        "openapi",
        "compat",
        "snapshot",
        "list",
        "completions",
    ] {
        let help = said(&conformance(&[command, "--help"]));
        assert!(help.contains("Example"), "{command}: {help}");
        assert!(!help.contains("=]"), "{command}: {help}");
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = conformance(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("conformance") && script.contains("--fail-on-regression"),
            "{shell}"
        );
    }
}

#[test]
fn an_slo_file_reports_every_problem_at_once_and_durations_name_their_units() {
    let dir = tempdir();
    let slo = dir.path().join("slo.toml");
    std::fs::write(
        &slo,
        "[[scenario]]\nname = \"r\"\nendpoint = \"/v1/responses\"\nbody = { model = \"m\", input = \"x\" }\nbudgets = [\"p95 <= 1s\"]\nwieght = 2\n\n[[scenario]]\nname = \"e\"\nendpoint = \"/v1/embedings\"\nbody = { model = \"m\", input = \"x\" }\nbudgets = [\"p95 <= 1parsec\"]\n",
    )
    .unwrap();
    let out = conformance(&["latency", "--slo", slo.to_str().unwrap()]);
    let text = said(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for expected in [
        "slo.toml:6:1: unknown key `wieght`: did you mean `weight`?",
        "slo.toml:10:12: endpoint \"/v1/embedings\" is not one of",
        "did you mean \"/v1/embeddings\"?",
        "slo.toml:12:12: \"1parsec\": unknown unit",
        "3 error(s) in",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    let out = conformance(&["latency", "--duration", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        said(&out).contains("add one of us, ms, s or m (e.g. 10s or 10ms)"),
        "{}",
        said(&out)
    );
}
