//! Every report format rendered from one fixed result: a pass with a note, a failure with its
//! request and hint, a cause shared by three checks (a failure and two failed preconditions),
//! a skip, a transport error, and an unscored check. The snapshots beside this file are the
//! reports' reviewed wire form; `cargo insta review` shows a change.
use crate::checks::retry::{FlakyRequest, RetrySummary};
use crate::result::{score, CheckResult, Failure, Metric, Outcome, Profile, RunResult};
use crate::root_cause::{causes, Symptom};
use crate::target::RequestRecord;

fn request(method: &str, url: &str, body: Option<&str>) -> RequestRecord {
    RequestRecord {
        method: method.into(),
        url: url.into(),
        headers: vec![
            ("Authorization".into(), "[redacted]".into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: body.map(str::to_owned),
        redirect: None,
    }
}

fn check(id: &str, profile: Profile, description: &str, outcome: Outcome) -> CheckResult {
    CheckResult {
        id: id.into(),
        area: id.split('.').next().unwrap().into(),
        profile,
        scored: true,
        description: description.into(),
        outcome,
        note: None,
        metrics: vec![],
        duration_ms: 12.5,
    }
}

fn fixed() -> RunResult {
    let stream_500 = Failure {
        expected: "HTTP 200".into(),
        seen: "HTTP 500: {\"error\":{\"message\":\"upstream <failed> & gone\",\"type\":\"server_error\",\"param\":null,\"code\":null}}".into(),
        request: Some(request(
            "POST",
            "http://localhost:8000/v1/responses",
            Some("{\"model\":\"m\",\"input\":\"Say hello\",\"stream\":true}"),
        )),
        hint: None,
        symptom: Some(Symptom::Status {
            status: 500,
            error: Some("server_error".into()),
        }),
    };
    let mut pass = check(
        "chat.stream.ttft",
        Profile::OpenaiCore,
        "Content deltas arrive; time to first token is measured",
        Outcome::Passed,
    );
    pass.note = Some("first token after 41.0 ms".into());
    pass.metrics = vec![Metric {
        name: "ttft_ms".into(),
        value: 41.0,
    }];
    let mut unscored = check(
        "openapi.valid",
        Profile::OpenaiCore,
        "The target's /openapi.json, when it serves one, passes structural validation",
        Outcome::Passed,
    );
    unscored.scored = false;
    let checks = vec![
        check(
            "models.list.schema",
            Profile::OpenaiCore,
            "GET /v1/models returns a ListModelsResponse",
            Outcome::Passed,
        ),
        check(
            "embeddings.usage",
            Profile::OpenaiCore,
            "usage.total_tokens equals usage.prompt_tokens and is positive",
            Outcome::Failed(Box::new(Failure {
                expected: "usage.total_tokens == usage.prompt_tokens > 0".into(),
                seen: "usage {\"prompt_tokens\":10,\"total_tokens\":0}".into(),
                request: Some(request(
                    "POST",
                    "http://localhost:8000/v1/embeddings",
                    Some("{\"model\":\"e\",\"input\":\"usage probe\"}"),
                )),
                hint: Some("count the input's tokens in both fields".into()),
                symptom: None,
            })),
        ),
        check(
            "embeddings.dimensions",
            Profile::OpenaiCore,
            "The dimensions parameter sets the vector length",
            Outcome::Skipped {
                reason: "the model rejects the dimensions parameter: HTTP 400 (empty body)".into(),
            },
        ),
        pass,
        check(
            "responses.stream.framing",
            Profile::OpenaiCore,
            "One JSON data line per event, event: equal to type, no id: lines",
            Outcome::Failed(Box::new(stream_500.clone())),
        ),
        check(
            "responses.stream.sequence",
            Profile::OpenaiCore,
            "sequence_number starts at 0 and rises by 1",
            Outcome::PreconditionFailed(Box::new(stream_500.clone())),
        ),
        check(
            "responses.stream.text-consistency",
            Profile::OpenaiCore,
            "Deltas join to output_text.done, and to the text of the final response",
            Outcome::PreconditionFailed(Box::new(stream_500)),
        ),
        check(
            "health.live",
            Profile::Facade,
            "GET /healthz and /health answer 200 without credentials",
            Outcome::Errored(Box::new(Failure {
                expected: "a response".into(),
                seen: "request to http://localhost:8000/healthz failed: connection reset\u{1b}[0m"
                    .into(),
                request: None,
                hint: None,
                symptom: None,
            })),
        ),
        unscored,
    ];
    let profiles = vec![
        score(Profile::OpenaiCore, &checks),
        score(Profile::Facade, &checks),
    ];
    RunResult {
        run_id: "20261129T120000Z-abc123".into(),
        harness_version: "0.0.0-test".into(),
        target: "http://localhost:8000".into(),
        api_root: "http://localhost:8000/v1".into(),
        notes: vec![
            "the API answers under http://localhost:8000/v1; the run uses it as the API root"
                .into(),
        ],
        started_at: "2026-11-29T12:00:00Z".into(),
        duration_ms: 1234.5,
        chat_model: Some("m".into()),
        embedding_model: Some("e".into()),
        seed: 7,
        causes: causes(&checks),
        retries: RetrySummary {
            rate_limited: 3,
            by_check: [("embeddings.usage".to_owned(), 3)].into(),
            waited_ms: 3150.0,
            budget_exhausted: false,
            flaky: vec![FlakyRequest {
                check: "models.list.schema".into(),
                request: "GET http://localhost:8000/v1/models".into(),
                first: 502,
                then: 200,
            }],
        },
        checks,
        profiles,
    }
}

#[test]
fn console() {
    insta::assert_snapshot!(super::console::render(&fixed()));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(super::markdown::render(&fixed()));
}

#[test]
fn junit() {
    let xml = super::junit::render(&fixed());
    // Well-formed XML, whatever the target sent.
    let mut reader = quick_xml::Reader::from_str(&xml);
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("junit.xml is not well-formed: {e}\n{xml}"),
        }
    }
    insta::assert_snapshot!(xml);
}

#[test]
fn html() {
    insta::assert_snapshot!(super::html::render(&fixed()));
}

#[test]
fn json() {
    insta::assert_snapshot!(super::json::render(&fixed()));
}

#[test]
fn what_the_target_sent_is_text_in_report_md() {
    let mut result = fixed();
    for (i, text) in [
        "<img src=x onerror=alert(1)>",
        "<details><summary>open me</summary>",
        "a | b | c\n\n# a heading",
        "``` `close` the span",
    ]
    .into_iter()
    .enumerate()
    {
        let mut req = request(
            "GET",
            &format!("http://localhost:8000/v1/{text}"),
            Some(text),
        );
        req.redirect = Some(format!("HTTP 307 to {text}"));
        let mut c = check(
            &format!("models.hostile-{i}"),
            Profile::OpenaiCore,
            "A check failed by what the target sent",
            Outcome::Failed(Box::new(Failure {
                expected: "HTTP 200".into(),
                seen: format!("HTTP 400: {text}"),
                request: Some(req),
                hint: None,
                symptom: None,
            })),
        );
        c.note = Some(text.to_owned());
        result.checks.push(c);
    }
    let md = super::markdown::render(&result);
    // What Markdown renders as such: outside fenced blocks and code spans (where a tag is
    // text).
    let mut rendered = String::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            for (i, part) in line.split("``").enumerate() {
                if i % 2 == 0 {
                    rendered.push_str(part);
                }
            }
            rendered.push('\n');
        }
    }
    assert!(!fenced, "a fence left open:\n{md}");
    for raw in ["<img", "<details", "<summary", "\n# a heading"] {
        assert!(!rendered.contains(raw), "{raw:?} reached report.md:\n{md}");
    }
    // Fences open and close in pairs: none was opened by the target.
    assert_eq!(md.matches("```").count() % 2, 0, "{md}");
    for line in md.lines().filter(|l| l.starts_with("| models.hostile")) {
        assert!(
            !line.contains(" | b | "),
            "a target's `|` split a cell: {line}"
        );
    }
}
