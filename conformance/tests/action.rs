//! The repository's `action.yml`, its steps run as a GitHub runner runs a composite action
//! (`action/runner.rs`): a pull-request job with `GITHUB_STEP_SUMMARY`, `GITHUB_OUTPUT`,
//! `GITHUB_EVENT_PATH`, and `GITHUB_API_URL` at a wiremock GitHub, the embedded reference
//! server as the target. The install step uses the binary under test (`version: installed`).

#[path = "action/runner.rs"]
mod runner;

use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghs_ACTIONsecret456";

/// A job directory: a suite whose one case passes or fails, and a pull-request event.
fn job(passing: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ideal = if passing { 4 } else { 5 };
    std::fs::write(
        dir.path().join("suite.jsonl"),
        format!("{{\"id\": \"a\", \"input\": \"What is 2 + 2?\", \"ideal\": {ideal}, \"grader\": \"numeric\"}}\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("event.json"),
        json!({"pull_request": {"number": 7}}).to_string(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn env(dir: &std::path::Path, github: &str) -> Vec<(String, String)> {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_conformance"));
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        bin.parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    [
        ("PATH", path),
        ("HOME", std::env::var("HOME").unwrap_or_default()),
        (
            "GITHUB_STEP_SUMMARY",
            dir.join("summary.md").display().to_string(),
        ),
        (
            "GITHUB_EVENT_PATH",
            dir.join("event.json").display().to_string(),
        ),
        ("GITHUB_API_URL", github.to_owned()),
        ("GITHUB_REPOSITORY", "octo/app".to_owned()),
        ("RUNNER_TEMP", dir.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn statuses(run: &runner::Run) -> Vec<&'static str> {
    run.steps.iter().map(|(_, s)| *s).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_gate_fails_the_action_after_its_summary_outputs_and_one_comment() {
    let github = MockServer::start().await;
    let comments = "/repos/octo/app/issues/7/comments";
    Mock::given(method("GET"))
        .and(path(comments))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .up_to_n_times(1)
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path(comments))
        .and(body_string_contains("<!-- conformance-kit:eval -->"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 9})))
        .expect(1)
        .mount(&github)
        .await;
    let dir = job(false);
    let (root, work, uri) = (runner::root(), dir.path().to_owned(), github.uri());
    let inputs = [
        ("command", "eval"),
        ("cases", "suite.jsonl"),
        ("min-accuracy", "0.5"),
        ("github-token", TOKEN),
        ("version", "installed"),
    ];
    let first = {
        let (root, work, uri) = (root.clone(), work.clone(), uri.clone());
        tokio::task::spawn_blocking(move || runner::run(&root, &inputs, &env(&work, &uri), &work))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    };
    assert!(
        !first.success,
        "a failed gate fails the action: {}",
        first.log
    );
    // install, the command (its exit code kept), summary, upload, comment, verdict.
    assert_eq!(
        statuses(&first),
        ["ok", "ok", "ok", "uses", "ok", "failed"],
        "{}",
        first.log
    );
    assert_eq!(first.outputs["passed"], "false");
    assert_eq!(first.outputs["accuracy"], "0");
    assert!(first.outputs["report-dir"].ends_with("conformance-reports/latest"));
    let summary = std::fs::read_to_string(work.join("summary.md")).unwrap_or_default();
    assert!(summary.contains("| Suite | Accuracy"), "{summary}");
    assert!(
        first
            .log
            .contains("created the eval comment 9 on octo/app#7"),
        "{}",
        first.log
    );
    assert!(
        !first.log.contains(TOKEN),
        "the token was shown: {}",
        first.log
    );

    // The second run edits the comment the first made.
    Mock::given(method("GET"))
        .and(path(comments))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 9, "body": "<!-- conformance-kit:eval -->\nold"}
        ])))
        .mount(&github)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/app/issues/comments/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 9})))
        .expect(1)
        .mount(&github)
        .await;
    let second =
        tokio::task::spawn_blocking(move || runner::run(&root, &inputs, &env(&work, &uri), &work))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        second.log.contains("updated the eval comment 9"),
        "{}",
        second.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_gate_passes_and_without_a_token_comments_nothing() {
    let github = MockServer::start().await;
    let dir = job(true);
    let (root, work, uri) = (runner::root(), dir.path().to_owned(), github.uri());
    let run = tokio::task::spawn_blocking(move || {
        let inputs = [
            ("command", "eval"),
            ("cases", "suite.jsonl"),
            ("min-accuracy", "0.5"),
            ("version", "installed"),
        ];
        runner::run(&root, &inputs, &env(&work, &uri), &work)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(run.success, "{}", run.log);
    assert_eq!(
        statuses(&run),
        ["ok", "ok", "ok", "uses", "skipped", "ok"],
        "{}",
        run.log
    );
    assert_eq!(run.outputs["passed"], "true");
    assert_eq!(run.outputs["accuracy"], "1");
    assert!(github
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty());
}
