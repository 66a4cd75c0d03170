//! `conformance eval` against targets that answer wrong, fail, throttle or flake (wiremock),
//! and against the embedded reference server with the shipped suites.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use harness::eval::{self, CaseOutcome, EvalConfig, Summary};
use harness::Report as _;
use harness::TargetConfig;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A chat completion whose content is `text`.
fn completion(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}]
    }))
}

/// The last user message of a chat request.
fn prompt(req: &Request) -> String {
    let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Answers "You said: <prompt>" (right), except where `wrong` says so, by request number.
struct Model {
    count: Arc<AtomicUsize>,
    answer: fn(usize, &str) -> ResponseTemplate,
}

impl Respond for Model {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        (self.answer)(n, &prompt(req))
    }
}

async fn target(answer: fn(usize, &str) -> ResponseTemplate) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"object": "list", "data": [{"id": "m", "object": "model", "created": 1, "owned_by": "x"}]}),
        ))
        .mount(&server)
        .await;
    let count = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Model {
            count: count.clone(),
            answer,
        })
        .mount(&server)
        .await;
    (server, count)
}

/// A suite file of `n` echo cases (and the extra fields of every case).
fn suite(n: usize, extra: &str) -> tempfile_path::TempSuite {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "{{\"id\": \"c{i}\", \"input\": \"hello {i}\", \"ideal\": \"You said: hello {i}\", \"grader\": \"exact\"{extra}}}\n"
        ));
    }
    tempfile_path::TempSuite::new(&text)
}

/// A suite file in a fresh directory, removed when dropped.
mod tempfile_path {
    pub struct TempSuite {
        pub dir: std::path::PathBuf,
        pub file: String,
        _tmp: tempfile::TempDir,
    }

    impl TempSuite {
        pub fn new(text: &str) -> Self {
            let tmp = super::common::tempdir();
            let dir = tmp.path().to_owned();
            let file = dir.join("suite.jsonl");
            std::fs::write(&file, text).unwrap();
            Self {
                file: file.display().to_string(),
                dir,
                _tmp: tmp,
            }
        }
    }
}

fn config(url: &str, cases: &str) -> EvalConfig {
    EvalConfig {
        cases: vec![cases.to_owned()],
        concurrency: 4,
        min_accuracy: Some(0.7),
        ..EvalConfig::new(TargetConfig::new(
            url,
            Some("k".into()),
            Duration::from_secs(10),
        ))
    }
}

async fn eval(config: &EvalConfig) -> Summary {
    let suites = eval::load(&config.cases, &config.reading()).unwrap();
    eval::run(config, suites, &|_, _| {}).await.unwrap()
}

fn right(_: usize, prompt: &str) -> ResponseTemplate {
    completion(&format!("You said: {prompt}"))
}

#[tokio::test]
async fn a_target_that_answers_right_passes_the_gate() {
    let (server, _) = target(right).await;
    let s = suite(10, "");
    let summary = eval(&config(&server.uri(), &s.file)).await;
    assert!(summary.passed, "{}", summary.text());
    assert_eq!(summary.overall.counts.passed, 10);
}

#[tokio::test]
async fn wrong_answers_drop_accuracy_under_the_gate() {
    let (server, _) = target(|n, prompt| {
        if n % 2 == 0 {
            completion("I do not know")
        } else {
            right(n, prompt)
        }
    })
    .await;
    let s = suite(10, "");
    let mut c = config(&server.uri(), &s.file);
    c.concurrency = 1;
    let summary = eval(&c).await;
    assert!(!summary.passed, "{}", summary.text());
    assert_eq!(summary.overall.counts.failed, 5);
    assert_eq!(
        summary.overall.counts.errored, 0,
        "wrong answers are not errors"
    );
    assert_eq!(summary.overall.accuracy, Some(0.5));
    assert!(summary
        .failures
        .iter()
        .all(|f| f.outcome == CaseOutcome::Failed));
}

#[tokio::test]
async fn answers_that_never_arrive_are_errored_and_trip_the_error_rate() {
    let (server, _) = target(|n, prompt| match n % 4 {
        0 => ResponseTemplate::new(500).set_body_string("boom"),
        1 => ResponseTemplate::new(200).set_body_string("not json"),
        _ => right(n, prompt),
    })
    .await;
    let s = suite(8, "");
    let mut c = config(&server.uri(), &s.file);
    c.concurrency = 1;
    c.max_retries = 0;
    c.min_accuracy = None;
    c.max_error_rate = Some(0.1);
    let summary = eval(&c).await;
    assert_eq!(summary.overall.counts.errored, 4, "{}", summary.text());
    assert_eq!(summary.overall.counts.failed, 0);
    assert_eq!(summary.overall.counts.passed, 4);
    assert!(!summary.passed, "the error-rate gate fails on its own");
    let gate = summary
        .gates
        .iter()
        .find(|g| g.name == "error rate")
        .unwrap();
    assert_eq!(gate.value, 0.5);
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_and_then_passes() {
    let (server, count) = target(|n, prompt| {
        if n % 2 == 0 {
            ResponseTemplate::new(429)
                .insert_header("retry-after-ms", "20")
                .insert_header("retry-after", "1")
                .set_body_json(json!({"error": {"message": "slow down", "type": "rate_limit", "param": null, "code": null}}))
        } else {
            right(n, prompt)
        }
    })
    .await;
    let s = suite(5, "");
    let mut c = config(&server.uri(), &s.file);
    c.concurrency = 1;
    let started = std::time::Instant::now();
    let summary = eval(&c).await;
    assert!(summary.passed, "{}", summary.text());
    assert_eq!(summary.overall.counts.passed, 5);
    assert_eq!(summary.overall.counts.retries, 5);
    assert_eq!(count.load(Ordering::SeqCst), 10);
    // retry-after-ms (20 ms) is preferred to Retry-After (1 s): five waits stay well under 5 s.
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn retries_are_bounded_and_then_errored() {
    let (server, count) =
        target(|_, _| ResponseTemplate::new(503).insert_header("retry-after-ms", "1")).await;
    let s = suite(1, "");
    let mut c = config(&server.uri(), &s.file);
    c.max_retries = 2;
    let summary = eval(&c).await;
    assert_eq!(summary.overall.counts.errored, 1);
    assert_eq!(count.load(Ordering::SeqCst), 3, "one try and two retries");
    assert!(
        summary.failures[0].got.contains("HTTP 503 after 2 retries"),
        "{:?}",
        summary.failures
    );
}

/// Right on two requests of every five.
fn two_in_five(n: usize, prompt: &str) -> ResponseTemplate {
    if n % 5 < 2 {
        right(n, prompt)
    } else {
        completion("something else")
    }
}

#[tokio::test]
async fn a_flaky_target_fails_the_k_of_n_gate() {
    let (server, _) = target(two_in_five).await;
    let s = suite(1, ", \"repeat\": 5, \"min_passes\": 4");
    let mut c = config(&server.uri(), &s.file);
    c.concurrency = 1;
    let summary = eval(&c).await;
    assert_eq!(summary.overall.counts.failed, 1, "{}", summary.text());
    assert!(!summary.passed);
    // The same answers pass a 2-of-5 gate.
    let lenient = suite(1, ", \"repeat\": 5, \"min_passes\": 2");
    let (server, _) = target(two_in_five).await;
    let summary = eval(&config(&server.uri(), &lenient.file)).await;
    assert_eq!(summary.overall.counts.passed, 1, "{}", summary.text());
    let c = &summary.overall.counts;
    assert_eq!((c.repeated, c.pass_at_k, c.pass_all_k), (1, 1, 0));
}

#[tokio::test]
async fn a_bad_suite_is_refused_before_anything_is_sent() {
    let (server, count) = target(right).await;
    let s = tempfile_path::TempSuite::new(
        "{\"id\": \"a\", \"input\": \"x\", \"ideal\": \"y\", \"grader\": \"exact\"}\n{\"id\": \"a\", \"input\": \"x\", \"grader\": {\"type\": \"regex\", \"pattern\": \"(\"}}\n",
    );
    let c = config(&server.uri(), &s.file);
    let err = eval::load(&c.cases, &eval::Reading::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("suite.jsonl:2:"), "{err}");
    assert!(err.contains("does not compile"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_shipped_suites_pass_against_the_embedded_reference_server() {
    let embedded = harness::embedded::start().await.unwrap();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../cases/evals/*.jsonl");
    let mut c = config(&embedded.url, root);
    c.target.api_key = Some(harness::embedded::KEY.to_owned());
    c.min_accuracy = Some(1.0);
    c.max_error_rate = Some(0.0);
    let summary = eval(&c).await;
    assert!(
        summary.passed,
        "{}",
        summary.file(harness::ReportFormat::Md).1
    );
    assert!(summary.overall.counts.cases >= 30);
    assert!(summary.suites.len() >= 5);
}

fn validator(schema: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(schema).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

#[test]
fn every_shipped_line_is_valid_against_the_case_schema_and_bad_lines_are_not() {
    let schema = validator(include_str!("../../schemas/eval-case.schema.json"));
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../cases/evals");
    let mut lines = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        for (i, line) in std::fs::read_to_string(&path).unwrap().lines().enumerate() {
            let value: Value = serde_json::from_str(line).unwrap();
            let problems: Vec<String> = schema.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(
                problems.is_empty(),
                "{}:{}: {problems:?}",
                path.display(),
                i + 1
            );
            lines += 1;
        }
    }
    assert!(lines > 30);
    // Lines the loader refuses are refused by the schema too.
    for bad in [
        json!({"id": "a", "input": "x", "ideal": "y", "grader": "telepathy"}),
        json!({"id": "a", "input": "x", "ideal": "y", "grader": "exact", "wieght": 1}),
        json!({"id": "a", "ideal": "y", "grader": "exact"}),
        json!({"id": "a", "input": "x", "turns": [{"input": "y"}], "grader": "exact"}),
        json!({"id": "a", "input": "x", "grader": {"type": "regex"}}),
        json!({"id": "a", "input": "x", "grader": {"type": "fuzzy", "threshold": 2}}),
    ] {
        assert!(!schema.is_valid(&bad), "schema accepts {bad}");
        let text = format!("{bad}\n");
        let s = tempfile_path::TempSuite::new(&text);
        assert!(
            eval::load(std::slice::from_ref(&s.file), &eval::Reading::default()).is_err(),
            "loader accepts {bad}"
        );
    }
}

#[tokio::test]
async fn the_summary_is_valid_against_the_report_schema() {
    let (server, _) = target(|n, prompt| {
        if n % 3 == 0 {
            completion("wrong")
        } else {
            right(n, prompt)
        }
    })
    .await;
    let s = suite(6, ", \"tags\": [\"t\"]");
    let summary = eval(&config(&server.uri(), &s.file)).await;
    assert!(!summary.failures.is_empty());
    let schema = validator(include_str!("../../schemas/eval-report.schema.json"));
    let value = serde_json::to_value(&summary).unwrap();
    let problems: Vec<String> = schema.iter_errors(&value).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");
}

#[tokio::test]
async fn stored_answers_are_regraded_without_asking_again() {
    let (server, count) = target(|_, prompt| completion(&format!("  you said: {prompt}  "))).await;
    let strict = suite(4, "");
    let mut c = config(&server.uri(), &strict.file);
    c.results = Some(strict.dir.join("results.jsonl"));
    let first = eval(&c).await;
    assert_eq!(first.overall.counts.failed, 4, "exact is case-sensitive");
    let asked = count.load(Ordering::SeqCst);
    // The grader is fixed in the suite (case-insensitive), and the stored answers re-graded.
    let fixed = std::fs::read_to_string(&strict.file).unwrap().replace(
        "\"grader\": \"exact\"",
        "\"grader\": {\"type\": \"exact\", \"normalize\": [\"trim\", \"case\"]}",
    );
    std::fs::write(&strict.file, fixed).unwrap();
    let mut r = config("http://127.0.0.1:9", &strict.file);
    r.regrade = Some(strict.dir.clone());
    r.results = Some(strict.dir.join("regraded.jsonl"));
    let regraded = eval(&r).await;
    assert_eq!(regraded.overall.counts.passed, 4, "{}", regraded.text());
    assert!(regraded.passed);
    assert_eq!(count.load(Ordering::SeqCst), asked, "nothing was asked");
    // A regrade of a run that holds none of the cases is a usage error.
    let other = tempfile_path::TempSuite::new(
        "{\"id\": \"elsewhere\", \"input\": \"x\", \"ideal\": \"y\", \"grader\": \"exact\"}\n",
    );
    let mut none = config("http://127.0.0.1:9", &other.file);
    none.regrade = Some(strict.dir.clone());
    let suites = eval::load(&none.cases, &eval::Reading::default()).unwrap();
    let err = eval::run(&none, suites, &|_, _| {})
        .await
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("holds no answer")));
}

#[tokio::test]
async fn a_significant_drop_against_the_baseline_fails_the_run() {
    let s = suite(12, "");
    let (good, _) = target(right).await;
    let mut before = config(&good.uri(), &s.file);
    before.results = Some(s.dir.join("before.jsonl"));
    assert!(eval(&before).await.passed);
    // Now 11 of 12 break (one still right): 11 against 0 is p < 0.001.
    let (bad, _) = target(|n, prompt| {
        if n == 0 {
            right(n, prompt)
        } else {
            completion("no")
        }
    })
    .await;
    let mut after = config(&bad.uri(), &s.file);
    after.concurrency = 1;
    after.min_accuracy = None;
    after.baseline = Some(s.dir.join("before.jsonl"));
    after.fail_on_regression = true;
    let summary = eval(&after).await;
    let c = summary.baseline.clone().unwrap();
    assert_eq!((c.broke, c.fixed, c.same_passed), (11, 0, 1), "{c:?}");
    let schema = validator(include_str!("../../schemas/eval-report.schema.json"));
    let value = serde_json::to_value(&summary).unwrap();
    let problems: Vec<String> = schema.iter_errors(&value).map(|e| e.to_string()).collect();
    assert!(
        problems.is_empty(),
        "a summary with a baseline is valid too: {problems:?}"
    );
    assert!(c.regression && c.p_value < 0.001);
    assert!(!summary.passed, "{}", summary.text());
    // Which cases broke, and which fail, are named where a CI log and a summary show them.
    let text = summary.text();
    assert!(text.contains("failing cases (first 10 of 11):"), "{text}");
    assert!(
        text.contains("and 1 more (eval.md and eval.json list them)"),
        "{text}"
    );
    assert!(
        text.contains("failed: expected \"You said: hello 1\", got \"no\""),
        "{text}"
    );
    let broke_line = text
        .lines()
        .find(|l| l.starts_with("  broke: "))
        .unwrap_or_default();
    assert!(
        broke_line.contains("/c1") && broke_line.contains("/c11"),
        "{text}"
    );
    let md = summary.file(harness::ReportFormat::Md).1;
    assert!(
        md.contains("## Against the baseline") && md.contains("- Broke: `` "),
        "{md}"
    );
    let html = summary.file(harness::ReportFormat::Html).1;
    assert!(html.contains("<p>Broke: <code>"), "the HTML names them too");
    // The same drop without --fail-on-regression is reported, not gated.
    after.fail_on_regression = false;
    let (bad, _) = target(|n, prompt| {
        if n == 0 {
            right(n, prompt)
        } else {
            completion("no")
        }
    })
    .await;
    after.target = TargetConfig::new(bad.uri(), Some("k".into()), Duration::from_secs(10));
    let reported = eval(&after).await;
    assert!(reported.passed && reported.baseline.is_some_and(|c| c.regression));
}

/// A judge at its own URL that always answers `content`; returns it and its request count.
async fn judge(content: &'static str) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(move |req: &Request| {
            seen.fetch_add(1, Ordering::SeqCst);
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            assert_eq!(body["model"], "judge-1", "the judge model is asked");
            let user = body["messages"][1]["content"].as_str().unwrap_or_default();
            assert!(
                user.contains("Rubric: greets the user")
                    && user.contains("Answer to grade: You said: hello"),
                "{user}"
            );
            completion(content)
        })
        .mount(&server)
        .await;
    (server, count)
}

async fn judged(content: &'static str) -> (Summary, usize, String) {
    let (server, _) = target(right).await;
    let (judge_server, asked) = judge(content).await;
    let s = tempfile_path::TempSuite::new(
        "{\"id\": \"greet\", \"input\": \"hello\", \"grader\": {\"type\": \"judge\", \"rubric\": \"greets the user\"}}\n{\"id\": \"greet-2\", \"input\": \"hello again\", \"grader\": {\"type\": \"all\", \"of\": [{\"type\": \"includes\", \"values\": [\"hello\"]}, {\"type\": \"judge\", \"rubric\": \"greets the user\"}]}}\n",
    );
    let mut c = config(&server.uri(), &s.file);
    c.judge = Some(TargetConfig::new(
        format!("{}/v1", judge_server.uri()),
        None,
        Duration::from_secs(5),
    ));
    c.judge_model = Some("judge-1".into());
    c.results = Some(s.dir.join("results.jsonl"));
    let summary = eval(&c).await;
    let results = std::fs::read_to_string(s.dir.join("results.jsonl")).unwrap();
    (summary, asked.load(Ordering::SeqCst), results)
}

#[tokio::test]
async fn a_judge_that_says_no_fails_judge_cases_and_its_words_are_kept() {
    let (no, asked, results) = judged(r#"{"pass": false, "reason": "it does not greet"}"#).await;
    assert_eq!(asked, 2);
    assert_eq!(no.overall.counts.failed, 2, "{}", no.text());
    assert!(no
        .failures
        .iter()
        .all(|f| f.reason.contains("it does not greet")));
    // The report keeps what the judge was asked and what it said.
    assert!(results.contains("\"judged\"") && results.contains("Rubric: greets the user"));
    assert!(results.contains("it does not greet"));

    let (yes, _, _) = judged("Sure. ```json\n{\"pass\": true, \"reason\": \"greets\"}\n```").await;
    assert_eq!(yes.overall.counts.passed, 2, "{}", yes.text());

    // A judge without a readable verdict leaves the answer ungraded: errored, not wrong.
    let (unreadable, _, _) = judged("I think it is fine").await;
    assert_eq!(
        unreadable.overall.counts.errored,
        2,
        "{}",
        unreadable.text()
    );
}

#[tokio::test]
async fn junit_has_one_testcase_per_case_with_failures_and_errors_apart() {
    let (server, _) = target(|n, prompt| match n % 3 {
        0 => completion("wrong <&> \u{1b}"),
        1 => ResponseTemplate::new(400).set_body_string("refused"),
        _ => right(n, prompt),
    })
    .await;
    let s = suite(9, "");
    let mut c = config(&server.uri(), &s.file);
    c.concurrency = 1;
    c.results = Some(s.dir.join("results.jsonl"));
    let summary = eval(&c).await;
    let xml = summary.file(harness::ReportFormat::Junit).1;
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut cases, mut failures, mut errors) = (0, 0, 0);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)) => {
                match e.name().as_ref() {
                    b"testcase" => cases += 1,
                    b"failure" => failures += 1,
                    b"error" => errors += 1,
                    _ => {}
                }
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed XML: {e}\n{xml}"),
        }
    }
    assert_eq!((cases, failures, errors), (9, 3, 3), "{xml}");
    assert!(
        xml.contains("tests=\"9\" failures=\"3\" errors=\"3\""),
        "{xml}"
    );
}

/// Answers that would shape a Markdown page if written as they came.
const HOSTILE: [&str; 4] = [
    "<img src=x onerror=alert(1)>",
    "<details><summary>open me</summary>",
    "a | b | c\n\n# a heading",
    "``` `close` the span",
];

#[tokio::test]
async fn what_the_target_answers_is_text_in_eval_md() {
    let (server, _) = target(|n, _| match n % 5 {
        4 => ResponseTemplate::new(400).set_body_json(json!({"error": {
            "message": "<script>alert(1)</script> | broken", "type": "invalid_request_error",
            "param": null, "code": null}})),
        k => completion(HOSTILE[k]),
    })
    .await;
    let s = suite(10, "");
    let mut c = config(&server.uri(), &s.file);
    c.concurrency = 1;
    c.max_retries = 0;
    let summary = eval(&c).await;
    assert!(summary.overall.counts.failed >= 6 && summary.overall.counts.errored >= 1);
    let md = summary.file(harness::ReportFormat::Md).1;
    for raw in [
        "<img",
        "<details",
        "<summary",
        "<script",
        "\n# a heading",
        "```",
    ] {
        assert!(!md.contains(raw), "{raw:?} reached eval.md:\n{md}");
    }
    for line in md.lines().filter(|l| l.starts_with("| c")) {
        // Six cells: case, outcome, expected, got, why, and the edge.
        assert_eq!(
            line.matches(" | ").count(),
            4,
            "a target's `|` split a row: {line}"
        );
    }
    assert!(
        md.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "shown as text:\n{md}"
    );
}

/// An embeddings API whose vectors say one thing: whether a text names Paris, Rome, or
/// neither. Counts the texts it is asked to embed; answers `status` other than 200 as is.
async fn embeddings(status: u16) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    // It lists no embedding model: one must be named.
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"object": "list", "data": [{"id": "chat-1", "object": "model", "created": 1, "owned_by": "x"}]}),
        ))
        .mount(&server)
        .await;
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(move |req: &Request| {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
            assert_eq!(body["model"], "emb-1", "the embedding model is asked");
            let texts: Vec<String> = body["input"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect();
            seen.fetch_add(texts.len(), Ordering::SeqCst);
            if status != 200 {
                return ResponseTemplate::new(status)
                    .set_body_json(json!({"error": {"message": "down", "type": "server_error"}}));
            }
            let data: Vec<Value> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let v = if t.contains("Paris") {
                        [0.9, 0.1, 0.0]
                    } else if t.contains("Rome") {
                        [0.1, 0.9, 0.0]
                    } else {
                        [0.0, 0.0, 1.0]
                    };
                    json!({"object": "embedding", "index": i, "embedding": v})
                })
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": data,
                "model": "emb-1", "usage": {"prompt_tokens": 1, "total_tokens": 1}}))
        })
        .mount(&server)
        .await;
    (server, count)
}

const SIMILAR_SUITE: &str = "{\"id\": \"paris\", \"input\": \"Paris\", \"ideal\": \"The capital is Paris\", \"grader\": {\"type\": \"similar\", \"threshold\": 0.9}}
{\"id\": \"rome\", \"input\": \"Rome\", \"ideal\": \"The capital is Paris\", \"grader\": {\"type\": \"similar\", \"threshold\": 0.9}}
{\"id\": \"again\", \"input\": \"Paris\", \"ideal\": [\"Rome it is\", \"The capital is Paris\"], \"grader\": {\"type\": \"similar\", \"threshold\": 0.9}, \"repeat\": 2}
{\"id\": \"plain\", \"input\": \"x\", \"ideal\": \"You said: x\"}
";

async fn similar_run(status: u16, model: Option<&str>) -> (Result<Summary, String>, usize, String) {
    similar_suite_run(SIMILAR_SUITE, status, model).await
}

async fn similar_suite_run(
    suite: &str,
    status: u16,
    model: Option<&str>,
) -> (Result<Summary, String>, usize, String) {
    let (server, _) = target(right).await;
    let (emb, asked) = embeddings(status).await;
    let s = tempfile_path::TempSuite::new(suite);
    let mut c = config(&server.uri(), &s.file);
    // One case at a time, so the count of embedded texts is exact.
    c.concurrency = 1;
    c.max_retries = 0;
    c.embedding = Some(TargetConfig::new(
        format!("{}/v1", emb.uri()),
        None,
        Duration::from_secs(5),
    ));
    c.embedding_model = model.map(str::to_owned);
    c.results = Some(s.dir.join("results.jsonl"));
    let suites = eval::load(&c.cases, &c.reading()).unwrap();
    let summary = eval::run(&c, suites, &|_, _| {})
        .await
        .map_err(|e| e.to_string());
    let results = std::fs::read_to_string(s.dir.join("results.jsonl")).unwrap_or_default();
    (summary, asked.load(Ordering::SeqCst), results)
}

#[tokio::test]
async fn similar_grades_by_embeddings_and_embeds_each_text_once() {
    let (summary, asked, results) = similar_run(200, Some("emb-1")).await;
    let summary = summary.unwrap();
    let outcome = |id: &str| {
        results
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|r| r["id"] == id)
            .map(|r| r["outcome"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(outcome("paris"), "passed", "{}", summary.text());
    assert_eq!(outcome("rome"), "failed");
    assert_eq!(outcome("again"), "passed");
    assert_eq!(outcome("plain"), "passed");
    // "You said: Paris", "The capital is Paris", "You said: Rome", "Rome it is": each once,
    // though "again" asked twice and shares its texts with "paris".
    assert_eq!(asked, 4, "{results}");
    assert!(
        summary
            .notes
            .iter()
            .any(|n| n.contains("4 text(s) embedded by emb-1")),
        "{:?}",
        summary.notes
    );
    // The measures are kept for re-grading, and the reason names the measure.
    assert!(results.contains("\"similarity\"") && results.contains("\"cosine\""));
    let rome = summary
        .failures
        .iter()
        .find(|f| f.case.ends_with("/rome"))
        .unwrap();
    assert!(
        rome.reason.contains("cosine similarity") && rome.reason.contains("0.9 needed"),
        "{}",
        rome.reason
    );
}

#[tokio::test]
async fn embeddings_that_cannot_be_had_leave_similar_cases_errored_or_refuse_the_run() {
    // The embeddings API fails: the answers could not be graded, so they are errored, not wrong.
    let (summary, _, _) = similar_run(500, Some("emb-1")).await;
    let summary = summary.unwrap();
    assert_eq!(summary.overall.counts.errored, 3, "{}", summary.text());
    assert_eq!(summary.overall.counts.passed, 1);
    assert!(summary
        .failures
        .iter()
        .all(|f| f.reason.contains("embeddings: HTTP 500")));
    // No model given and none listed: refused before any case is asked.
    let (refused, asked, _) = similar_run(200, None).await;
    let e = refused.err().unwrap_or_default();
    assert!(e.contains("--embedding-model"), "{e}");
    assert_eq!(asked, 0);
    // Graders that name their own model need none from the run.
    let named = SIMILAR_SUITE.replace(
        "\"threshold\": 0.9}",
        "\"threshold\": 0.9, \"model\": \"emb-1\"}",
    );
    let (summary, asked, _) = similar_suite_run(&named, 200, None).await;
    let summary = summary.unwrap();
    assert_eq!(
        (summary.overall.counts.passed, asked),
        (3, 4),
        "{}",
        summary.text()
    );
}

/// Three graded echo cases and two with nothing to judge them by (one of two turns).
const HALF_GRADED: &str = "{\"id\": \"g0\", \"input\": \"a\", \"ideal\": \"You said: a\"}
{\"id\": \"g1\", \"input\": \"b\", \"ideal\": \"You said: b\"}
{\"id\": \"g2\", \"input\": \"c\", \"ideal\": \"You said: c\"}
{\"id\": \"u0\", \"input\": \"tell me\"}
{\"id\": \"u1\", \"turns\": [{\"input\": \"one\"}, {\"input\": \"two\"}]}
";

#[tokio::test]
async fn cases_with_nothing_to_judge_by_are_asked_recorded_and_counted_apart() {
    let (server, count) = target(right).await;
    let s = tempfile_path::TempSuite::new(HALF_GRADED);
    let mut c = config(&server.uri(), &s.file);
    c.min_accuracy = Some(0.9);
    c.results = Some(s.dir.join("results.jsonl"));
    let summary = eval(&c).await;
    let o = &summary.overall.counts;
    assert_eq!(
        (o.cases, o.passed, o.failed, o.errored, o.ungraded),
        (5, 3, 0, 0, 2)
    );
    // Every case was asked, every turn of the ungraded ones too.
    assert_eq!(count.load(Ordering::SeqCst), 6);
    // The accuracy and its interval are over the three graded cases only.
    assert_eq!(summary.overall.accuracy, Some(1.0));
    let low = summary.overall.interval.map(|i| i.low).unwrap();
    assert!((low - 0.4385).abs() < 1e-3, "Wilson over 3, not 5: {low}");
    assert!(
        summary.passed && summary.failures.is_empty(),
        "{}",
        summary.text()
    );
    // The answers are recorded, marked ungraded, with no verdict.
    let results = std::fs::read_to_string(s.dir.join("results.jsonl")).unwrap();
    let u1: Value = results
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["id"] == "u1")
        .unwrap();
    assert_eq!(u1["outcome"], "ungraded");
    let turns = u1["attempts"][0]["turns"].as_array().unwrap();
    assert_eq!(turns.len(), 2);
    assert_eq!(turns[1]["answer"]["text"], "You said: two");
    assert!(turns[1].get("verdict").is_none());
    // Every report says so, and the JUnit report skips them.
    assert!(
        summary.text().contains("2 ungraded (in no accuracy)"),
        "{}",
        summary.text()
    );
    let md = summary.file(harness::ReportFormat::Md).1;
    assert!(
        md.contains("| Ungraded |") && md.contains("| 0 | 2 |"),
        "{md}"
    );
    let junit = summary.file(harness::ReportFormat::Junit).1;
    assert_eq!(
        junit.matches("<skipped message=\"ungraded").count(),
        2,
        "{junit}"
    );
    assert!(junit.contains("skipped=\"2\""), "{junit}");
    let html = summary.file(harness::ReportFormat::Html).1;
    assert!(html.contains("<th>ungraded</th>"));
    let schema = validator(include_str!("../../schemas/eval-report.schema.json"));
    let value = serde_json::to_value(&summary).unwrap();
    let problems: Vec<String> = schema.iter_errors(&value).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");

    // Ideals written later grade the stored answers, with nothing asked again.
    let graded = tempfile_path::TempSuite::new(&HALF_GRADED.replace(
        "{\"id\": \"u0\", \"input\": \"tell me\"}",
        "{\"id\": \"u0\", \"input\": \"tell me\", \"ideal\": \"something else\"}",
    ));
    let mut again = config(&server.uri(), &graded.file);
    again.regrade = Some(s.dir.join("results.jsonl"));
    again.min_accuracy = None;
    let before = count.load(Ordering::SeqCst);
    let regraded = eval(&again).await;
    assert_eq!(count.load(Ordering::SeqCst), before);
    let r = &regraded.overall.counts;
    assert_eq!(
        (r.passed, r.failed, r.ungraded),
        (3, 1, 1),
        "{}",
        regraded.text()
    );

    // Against that baseline, the case ungraded in it is not compared: neither fixed nor broken.
    let mut compared = config(&server.uri(), &graded.file);
    compared.baseline = Some(s.dir.join("results.jsonl"));
    compared.min_accuracy = None;
    let b = eval(&compared).await.baseline.unwrap();
    assert_eq!(
        (b.same_passed, b.broke, b.fixed, b.ungraded),
        (3, 0, 0, 2),
        "{b:?}"
    );
}

#[tokio::test]
async fn a_gate_over_no_graded_case_fails_rather_than_passing_on_nothing() {
    let (server, _) = target(right).await;
    let s = tempfile_path::TempSuite::new("{\"id\": \"u0\", \"input\": \"tell me\"}\n");
    let mut c = config(&server.uri(), &s.file);
    c.min_accuracy = Some(0.5);
    let gated = eval(&c).await;
    assert_eq!(gated.overall.accuracy, None);
    assert!(!gated.passed, "{}", gated.text());
    c.min_accuracy = None;
    let recorded = eval(&c).await;
    assert!(recorded.passed && recorded.overall.counts.ungraded == 1);
}

/// The index of an echo case's prompt ("hello 7" → 7).
fn index(prompt: &str) -> usize {
    prompt
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Right except on case 19; reports its token usage.
fn good(_: usize, prompt: &str) -> ResponseTemplate {
    let text = if index(prompt) == 19 {
        "no".to_owned()
    } else {
        format!("You said: {prompt}")
    };
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    }))
}

/// Wrong on cases 0 to 9.
fn worse(n: usize, prompt: &str) -> ResponseTemplate {
    if index(prompt) < 10 {
        completion("wrong")
    } else {
        right(n, prompt)
    }
}

/// Wrong on cases 0 and 1.
fn close(n: usize, prompt: &str) -> ResponseTemplate {
    if index(prompt) < 2 {
        completion("wrong")
    } else {
        right(n, prompt)
    }
}

/// The exact two-sided binomial test of `k` successes in `n` at one half, in integers: what
/// the exact McNemar test on `k` against `n - k` discordant cases must equal.
fn binomial_two_sided(k: u32, n: u32) -> f64 {
    let choose = |n: u32, i: u32| -> u128 {
        (0..i).fold(1u128, |acc, j| acc * u128::from(n - j) / u128::from(j + 1))
    };
    let low = k.min(n - k);
    let tail: u128 = (0..=low).map(|i| choose(n, i)).sum();
    (2.0 * tail as f64 / 2f64.powi(n as i32)).min(1.0)
}

async fn comparison(
    fail_if_worse: Option<&str>,
) -> (harness::eval::compare::Comparison, tempfile_path::TempSuite) {
    use harness::eval::compare::{CompareConfig, Contender};
    let (a, _) = target(good).await;
    let (b, _) = target(worse).await;
    let (c, _) = target(close).await;
    let mut text = String::new();
    for i in 0..20 {
        text.push_str(&format!(
            "{{\"id\": \"c{i:02}\", \"input\": \"hello {i}\", \"ideal\": \"You said: hello {i}\"}}\n"
        ));
    }
    text.push_str("{\"id\": \"open\", \"input\": \"tell me\"}\n");
    let s = tempfile_path::TempSuite::new(&text);
    let contender = |name: &str, server: &MockServer| Contender {
        name: name.into(),
        url: Some(server.uri()),
        key: Some("k".into()),
        model: None,
        api: None,
        sampling: harness::eval::Sampling::default(),
    };
    let config = CompareConfig {
        base: EvalConfig {
            cases: vec![s.file.clone()],
            concurrency: 3,
            min_accuracy: Some(0.4),
            ..EvalConfig::new(TargetConfig::new("", None, Duration::from_secs(10)))
        },
        targets: vec![
            contender("good", &a),
            contender("worse", &b),
            contender("close", &c),
        ],
        fail_if_worse: fail_if_worse.map(str::to_owned),
        run_dir: Some(s.dir.join("run")),
    };
    let suites = eval::load(&config.base.cases, &config.base.reading()).unwrap();
    let asked = std::sync::Mutex::new(Vec::new());
    let out = harness::eval::compare::run(&config, suites, &|name, _, total| {
        asked.lock().unwrap().push((name.to_owned(), total));
    })
    .await
    .unwrap();
    let asked = asked.into_inner().unwrap();
    assert_eq!(asked.len(), 63, "every case of every target");
    assert!(asked.iter().all(|(_, total)| *total == 21));
    (out, s)
}

#[tokio::test]
async fn a_comparison_tests_every_pair_and_puts_the_disagreements_first() {
    let (c, s) = comparison(None).await;
    let accuracy: Vec<Option<f64>> = c.targets.iter().map(|t| t.overall.accuracy).collect();
    assert_eq!(accuracy, [Some(19.0 / 20.0), Some(0.5), Some(0.9)]);
    assert!(c.targets.iter().all(|t| t.overall.counts.ungraded == 1));
    // Usage is summed where the target reports it, and said to be missing where not.
    assert_eq!(
        (c.targets[0].input_tokens, c.targets[0].output_tokens),
        (210, 84)
    );
    assert_eq!(
        (c.targets[0].answers_with_usage, c.targets[0].answers),
        (21, 21)
    );
    assert_eq!(c.targets[1].answers_with_usage, 0);
    assert!(c
        .targets
        .iter()
        .all(|t| t.latency_p50_ms.is_some() && t.latency_p95_ms >= t.latency_p50_ms));
    // good vs worse: 10 cases only good passed, 1 only worse passed (case 19).
    let gw = &c.pairs[0];
    assert_eq!((gw.a.as_str(), gw.b.as_str()), ("good", "worse"));
    assert_eq!((gw.compared, gw.only_a, gw.only_b), (20, 10, 1));
    assert!(
        (gw.p_value - binomial_two_sided(10, 11)).abs() < 1e-12,
        "{gw:?}"
    );
    assert!(gw.significant && gw.better.as_deref() == Some("good"));
    // good vs close: 2 against 1 is noise.
    let gc = &c.pairs[1];
    assert_eq!((gc.only_a, gc.only_b), (2, 1));
    assert!((gc.p_value - binomial_two_sided(2, 3)).abs() < 1e-12 && !gc.significant);
    assert!(gc.better.is_none());
    // close vs worse: 8 against 0.
    let wc = &c.pairs[2];
    assert_eq!((wc.a.as_str(), wc.only_a, wc.only_b), ("worse", 0, 8));
    assert!((wc.p_value - binomial_two_sided(0, 8)).abs() < 1e-12);
    assert_eq!(wc.better.as_deref(), Some("close"));
    // Cases 0..9 and 19 end differently between targets: they come first.
    assert_eq!((c.cases, c.disagreements), (21, 11));
    assert!(c.matrix[..11].iter().all(|r| r.disagree));
    assert!(c.matrix[11..].iter().all(|r| !r.disagree));
    let first = &c.matrix[0];
    let cells: Vec<(String, String)> = first
        .cells
        .iter()
        .map(|x| {
            let x = x.as_ref().unwrap();
            (x.outcome.name().to_owned(), x.answer.clone())
        })
        .collect();
    assert_eq!(first.case, "suite/c00");
    assert_eq!(cells[0], ("passed".into(), "You said: hello 0".into()));
    assert_eq!(cells[1], ("failed".into(), "wrong".into()));
    // No --fail-if-worse: each target's own gate (0.4) passes, so the comparison does.
    assert!(c.passed, "{}", c.text());
    let text = c.text();
    assert!(
        text.contains("good better than worse (10 vs 1 of 20 cases, p = 0.0117)"),
        "{text}"
    );
    assert!(
        text.contains("good vs close: no significant difference"),
        "{text}"
    );
    // The reports: the matrix side by side in HTML, the pairs in Markdown, JSON valid.
    let html = c.file(harness::ReportFormat::Html).1;
    assert_eq!(html.matches("<tr class=\"case disagree\">").count(), 11);
    assert!(html
        .contains("<td class=\"failed\"><span class=\"outcome\">failed</span><code>wrong</code>"));
    let md = c.file(harness::ReportFormat::Md).1;
    assert!(
        md.contains("| good vs worse | 10 | 1 | 20 | 0.0117 | **good** better |"),
        "{md}"
    );
    let schema = validator(include_str!("../../schemas/eval-compare.schema.json"));
    let value = serde_json::to_value(&c).unwrap();
    let problems: Vec<String> = schema.iter_errors(&value).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");
    // Each target's answers are kept in its own results file.
    for name in ["good", "worse", "close"] {
        let results =
            std::fs::read_to_string(s.dir.join("run").join(name).join("results.jsonl")).unwrap();
        assert_eq!(results.lines().count(), 21, "{name}");
    }
}

#[tokio::test]
async fn fail_if_worse_fails_on_a_significantly_worse_target_only() {
    let (c, _) = comparison(Some("good")).await;
    let gates: Vec<(String, bool)> = c
        .gates
        .iter()
        .filter(|g| g.name.contains("not significantly worse"))
        .map(|g| (g.name.clone(), g.passed))
        .collect();
    assert_eq!(
        gates,
        [
            (
                "worse not significantly worse than good (McNemar p < 0.05)".to_owned(),
                false
            ),
            (
                "close not significantly worse than good (McNemar p < 0.05)".to_owned(),
                true
            ),
        ]
    );
    assert!(!c.passed);
    let junit = c.file(harness::ReportFormat::Junit).1;
    assert_eq!(junit.matches("<failure").count(), 1, "{junit}");
    // Against the worst target, nobody is worse.
    let (c, _) = comparison(Some("worse")).await;
    assert!(c.passed, "{}", c.text());
}
