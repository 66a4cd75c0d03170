//! `conformance ci comment` the way a GitHub Actions job runs it: the job's variables, a pull
//! request event, and GitHub's REST API (a wiremock server): one comment, created on the first
//! run and edited on the next, the token never shown.

mod binary;

use binary::*;
use serde_json::{json, Value};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "ghs_SECRETtoken123";

/// A job's environment: a run directory with a report.md, and an event file.
struct Job {
    dir: tempfile::TempDir,
}

impl Job {
    fn new(event: Value) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(dir.path().join("run")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            dir.path().join("run/report.md"),
            "# Conformance\n\n119 passed, 0 failed\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("event.json"), event.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        Self { dir }
    }

    /// Runs `conformance ci comment` against GitHub at `api`.
    async fn comment(&self, api: &str) -> std::process::Output {
        let report = self.dir.path().join("run");
        let event = self.dir.path().join("event.json");
        let api = api.to_owned();
        tokio::task::spawn_blocking(move || {
            command()
                .args(["ci", "comment", "--report"])
                .arg(report)
                .env("GITHUB_API_URL", api)
                .env("GITHUB_REPOSITORY", "octo/kit")
                .env("GITHUB_EVENT_PATH", event)
                .env("GITHUB_TOKEN", TOKEN)
                .output()
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_comment_is_created_once_then_edited_and_the_token_never_shown() {
    let github = MockServer::start().await;
    let job = Job::new(json!({"pull_request": {"number": 7}}));
    let comments = "/repos/octo/kit/issues/7/comments";
    // First run: only someone else's comment.
    Mock::given(method("GET"))
        .and(path(comments))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1, "body": "LGTM"}])))
        .up_to_n_times(1)
        .mount(&github)
        .await;
    Mock::given(method("POST"))
        .and(path(comments))
        .and(body_string_contains("<!-- conformance-kit:run -->"))
        .and(body_string_contains("119 passed"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 42})))
        .expect(1)
        .mount(&github)
        .await;
    let first = job.comment(&github.uri()).await;
    assert_eq!(first.status.code(), Some(0), "{}", said(&first));
    assert!(
        said(&first).contains("created the run comment 42 on octo/kit#7"),
        "{}",
        said(&first)
    );

    // Second run: ours is there, so it is edited, not duplicated.
    Mock::given(method("GET"))
        .and(path(comments))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "body": "LGTM"},
            {"id": 42, "body": "<!-- conformance-kit:run -->\n# old"},
        ])))
        .mount(&github)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/repos/octo/kit/issues/comments/42"))
        .and(body_string_contains("119 passed"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 42})))
        .expect(1)
        .mount(&github)
        .await;
    let second = job.comment(&github.uri()).await;
    assert_eq!(second.status.code(), Some(0), "{}", said(&second));
    assert!(
        said(&second).contains("updated the run comment 42"),
        "{}",
        said(&second)
    );
    for out in [&first, &second] {
        assert!(
            !said(out).contains(TOKEN),
            "the token was shown: {}",
            said(out)
        );
    }
    // Exactly one POST over both runs (the `expect`s are checked when the server drops).
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_names_the_status_and_a_push_comments_nothing() {
    let github = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"message": "Resource not accessible by integration"})),
        )
        .mount(&github)
        .await;
    let job = Job::new(json!({"pull_request": {"number": 7}}));
    let out = job.comment(&github.uri()).await;
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("HTTP 403 Resource not accessible by integration")
            && said(&out).contains("pull-requests: write"),
        "{}",
        said(&out)
    );
    assert!(!said(&out).contains(TOKEN), "{}", said(&out));

    let push = Job::new(json!({"ref": "refs/heads/main"}));
    let out = push.comment(&github.uri()).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("not a pull request"), "{}", said(&out));
}

#[test]
fn the_summary_and_outputs_are_what_the_run_says() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let suite = dir.path().join("wrong.jsonl");
    std::fs::write(
        &suite,
        "{\"id\": \"a\", \"input\": \"What is 2 + 2?\", \"ideal\": 5, \"grader\": \"numeric\"}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let reports = dir.path().join("reports");
    let out = conformance(&[
        "eval",
        "--cases",
        suite.to_str().unwrap_or_default(),
        "--min-accuracy",
        "0.5",
        "--report-dir",
        reports.to_str().unwrap_or_default(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let (summary, output) = (dir.path().join("summary.md"), dir.path().join("output"));
    let out = command()
        .args(["ci", "summary", "--report"])
        .arg(reports.join("latest"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_OUTPUT", &output)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let outputs = std::fs::read_to_string(&output).unwrap_or_default();
    for line in ["kind=eval", "passed=false", "accuracy=0"] {
        assert!(
            outputs.lines().any(|l| l == line),
            "{line} not in {outputs}"
        );
    }
    assert!(outputs.contains("report-dir="), "{outputs}");
    let written = std::fs::read_to_string(&summary).unwrap_or_default();
    assert!(written.contains("| Suite | Accuracy"), "{written}");
    // A directory with no report is a usage error.
    let out = conformance(&[
        "ci",
        "summary",
        "--report",
        dir.path().to_str().unwrap_or_default(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
}
