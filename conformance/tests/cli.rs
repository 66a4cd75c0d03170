//! The `conformance` binary end to end: exit codes, report files, timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod binary;
#[path = "../../harness/tests/common/mod.rs"]
mod common;

use binary::*;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn embedded_run_passes_and_writes_valid_reports() {
    let dir_tmp = tempdir();
    let dir = dir_tmp.path();
    let out = conformance(&[
        "run",
        "--seed",
        "1",
        "--budget",
        "8",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("profile openai-core  100.0%"), "{stdout}");
    assert!(stdout.contains(" 0 failed, 0 skipped"), "{stdout}");

    let run_dir = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report.json")).unwrap())
            .unwrap();
    let schema: Value =
        serde_json::from_str(include_str!("../../schemas/report.schema.json")).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{} {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report.json does not match its schema: {errors:?}"
    );
    assert_eq!(report["seed"], 1);
    // Every check but the shape snapshots, which need --snapshots DIR.
    assert_eq!(
        report["checks"].as_array().unwrap().len(),
        harness::catalogue()
            .iter()
            .filter(|c| c.area() != "snapshots")
            .count()
    );

    let junit = std::fs::read_to_string(run_dir.join("junit.xml")).unwrap();
    let mut reader = quick_xml::Reader::from_str(&junit);
    let mut testcases = 0;
    loop {
        match reader.read_event().expect("junit.xml is well-formed XML") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Empty(e) | quick_xml::events::Event::Start(e)
                if e.name().as_ref() == b"testcase" =>
            {
                testcases += 1
            }
            _ => {}
        }
    }
    assert_eq!(testcases, report["checks"].as_array().unwrap().len());
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(md.starts_with("# Conformance run: PASSED"), "{md}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_target_exits_1_and_names_the_check() {
    let server = broken(Defect {
        before: untouched_request,
        after: |_, a| {
            a.headers.remove("x-content-type-options");
        },
    })
    .await;
    let uri = format!("{}/v1", server.uri());
    let out = tokio::task::spawn_blocking(move || {
        conformance(&[
            "run",
            "--target",
            &uri,
            "--api-key",
            KEY,
            "--no-reports",
            "--only",
            "headers.*",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL  headers.security"), "{stdout}");
    assert!(
        stdout.contains("expected: X-Content-Type-Options: nosniff"),
        "{stdout}"
    );
    assert!(!stdout.contains(KEY), "the key is never printed");
}

#[test]
fn an_unreachable_target_exits_3() {
    // Bind then drop a listener: the port is closed, so connecting is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = conformance(&[
        "run",
        "--target",
        &format!("http://127.0.0.1:{port}"),
        "--timeout",
        "5",
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(said(&out).contains("target unreachable"), "{}", said(&out));
}

#[test]
fn usage_errors_exit_2_with_a_precise_message() {
    for (args, says) in [
        (
            vec!["run", "--target", "not a url", "--no-reports"],
            "is not a URL",
        ),
        (
            vec!["run", "--target", "ftp://example.com", "--no-reports"],
            "http:// or https://",
        ),
        (
            vec!["run", "--only", "no.such.check*", "--no-reports"],
            "select no check",
        ),
        (vec!["run", "--timeout", "0"], "not a positive number"),
        (vec!["run", "--budget", "0"], "budget"),
        (vec!["run", "--report", "pdf"], "pdf"),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ] {
        let out = conformance(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", said(&out));
        assert!(
            said(&out).contains(says),
            "{args:?} should say {says:?}: {}",
            said(&out)
        );
    }
}

#[test]
fn list_prints_every_check_with_its_profile() {
    let out = conformance(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), harness::catalogue().len());
    assert!(stdout.contains("embeddings.deterministic") && stdout.contains("openai-core"));
    let core = conformance(&["list", "--profile", "openai-core"]);
    assert!(!String::from_utf8_lossy(&core.stdout).contains(" facade "));
}

/// A target that lists a model, then answers every stream with one event and goes silent.
/// One request per connection, announced with `connection: close` so no client reuses it.
fn hanging_target() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 8192];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                if head.starts_with("GET /v1/models") {
                    let body = r#"{"object":"list","data":[{"id":"slow-chat","object":"model","created":0,"owned_by":"x"}]}"#;
                    let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                } else {
                    let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
                    let event = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"slow-chat\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n";
                    let _ = write!(stream, "{:x}\r\n{event}\r\n", event.len());
                    let _ = stream.flush();
                    std::thread::sleep(Duration::from_secs(60));
                }
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_that_hangs_is_cut_at_the_timeout_and_reported() {
    let url = hanging_target();
    let target = harness::TargetConfig::new(url, Some("k".into()), Duration::from_secs(1));
    let config = harness::RunConfig {
        profile: harness::Profile::OpenaiCore,
        only: vec!["chat.stream.framing".into()],
        concurrency: 1,
        ..harness::RunConfig::new(target)
    };
    // The bound only guards the test against hanging forever; the harness must stop by itself.
    let result = tokio::time::timeout(Duration::from_secs(30), harness::run(config, &|_| {}))
        .await
        .expect("the harness does not wait on a silent stream")
        .unwrap();
    let check = &result.checks[0];
    match &check.outcome {
        harness::Outcome::Failed(f) => assert!(f.seen.contains("cut after 1 event:"), "{}", f.seen),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The official OpenAI document, beside the checkout in `shared/reference/` (as in CI).
fn official() -> Option<String> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference/openai-openapi.yaml");
    if p.exists() {
        Some(p.display().to_string())
    } else {
        eprintln!("shared/reference/openai-openapi.yaml is not beside this checkout; only the small documents are tested");
        None
    }
}

#[test]
fn openapi_validate_and_diff_the_official_document() {
    let Some(doc) = official() else { return };
    let out = conformance(&["openapi", "validate", &doc]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("OpenAPI 3.1.0 with 182 paths, 0 problems"),
        "{}",
        said(&out)
    );
    let out = conformance(&[
        "openapi", "diff", "--base", &doc, "--cand", &doc, "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!({"breaking": [], "non_breaking": []}));
}

#[test]
fn openapi_commands_exit_1_on_problems_and_2_on_unreadable_input() {
    let dir_tmp = tempdir();
    let dir = dir_tmp.path();
    let good = dir.join("good.yaml");
    let broken = dir.join("broken.yaml");
    let fewer = dir.join("fewer.json");
    std::fs::write(&good, "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        200: {description: ok}\n  /b:\n    get:\n      responses:\n        '200': {description: ok}\n").unwrap();
    std::fs::write(&broken, "openapi: 3.0.3\npaths:\n  /a/{id}:\n    get: {}\n").unwrap();
    std::fs::write(&fewer, r#"{"openapi":"3.1.0","info":{"title":"t","version":"2"},"paths":{"/a":{"get":{"responses":{"200":{"description":"ok"}}}}}}"#).unwrap();
    let s = |p: &std::path::Path| p.display().to_string();
    assert_eq!(
        conformance(&["openapi", "validate", &s(&good)])
            .status
            .code(),
        Some(0)
    );
    let out = conformance(&["openapi", "validate", &s(&broken)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        said(&out).contains("#/info: required object is missing"),
        "{}",
        said(&out)
    );
    let out = conformance(&["openapi", "diff", "--base", &s(&good), "--cand", &s(&fewer)]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("path.removed") && said(&out).contains("/b"),
        "{}",
        said(&out)
    );
    let out = conformance(&[
        "openapi",
        "diff",
        "--base",
        &s(&fewer),
        "--cand",
        &s(&good),
        "--format",
        "md",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("# OpenAPI diff: compatible"));
    let out = conformance(&["openapi", "validate", "/no/such/file.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        said(&out).contains("cannot read /no/such/file.yaml"),
        "{}",
        said(&out)
    );
    std::fs::write(dir.join("junk.yaml"), "{[: : :").unwrap();
    assert_eq!(
        conformance(&["openapi", "validate", &s(&dir.join("junk.yaml"))])
            .status
            .code(),
        Some(2)
    );
}

#[tokio::test]
async fn auth_header_sends_the_key_where_a_gateway_expects_it() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // A gateway that takes the raw key in `api-key` (no Bearer) and refuses anything else.
    let gateway = MockServer::start().await;
    let models = serde_json::json!({"object": "list", "data": [{"id": "gw-chat", "object": "model", "created": 0, "owned_by": "gw"}]});
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .and(header("api-key", "gw-key"))
        .respond_with(ResponseTemplate::new(200).set_body_json(models))
        .mount(&gateway)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({"error": {"message": "no", "type": "invalid_request_error", "param": null, "code": null}})))
        .mount(&gateway)
        .await;
    let uri = gateway.uri();
    let out = tokio::task::spawn_blocking(move || {
        let with = conformance(&[
            "run",
            "--target",
            &uri,
            "--api-key",
            "gw-key",
            "--auth-header",
            "api-key",
            "--only",
            "models.list.schema",
            "--no-reports",
        ]);
        let without = conformance(&[
            "run",
            "--target",
            &uri,
            "--api-key",
            "gw-key",
            "--only",
            "models.list.schema",
            "--no-reports",
        ]);
        (with, without)
    })
    .await
    .unwrap();
    assert_eq!(out.0.status.code(), Some(0), "{}", said(&out.0));
    // A Bearer header is refused by this gateway: the run stops before any check.
    assert_eq!(out.1.status.code(), Some(3), "{}", said(&out.1));
    assert!(
        said(&out.1).contains("the target refused the credentials"),
        "{}",
        said(&out.1)
    );
}

/// A self-description judged by the target's own document is reported, not scored, and does
/// not decide the exit code (LiteLLM with `--only 'openapi.*'` scored 100% and exited 1).
#[tokio::test]
async fn an_unscored_failure_does_not_fail_the_run() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let target = MockServer::start().await;
    let models = serde_json::json!({"object": "list", "data": [{"id": "m", "object": "model", "created": 0, "owned_by": "o"}]});
    Mock::given(method("GET"))
        .and(path("/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_json(models))
        .mount(&target)
        .await;
    // A document without info or paths: openapi.valid fails.
    Mock::given(method("GET"))
        .and(path("/openapi.json"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!({"openapi": "3.1.0"})),
        )
        .mount(&target)
        .await;
    let uri = target.uri();
    let out = tokio::task::spawn_blocking(move || {
        conformance(&[
            "run",
            "--target",
            &uri,
            "--api-key",
            "k",
            "--only",
            "openapi.valid",
            "--no-reports",
        ])
    })
    .await
    .unwrap();
    let shown = said(&out);
    assert!(
        shown.contains("FAIL  openapi.valid") && shown.contains("[not scored]"),
        "{shown}"
    );
    assert_eq!(out.status.code(), Some(0), "{shown}");
}

#[test]
fn run_checks_answers_against_a_given_document() {
    let ours = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/openapi.yaml");
    let out = conformance(&[
        "run",
        "--only",
        "openapi.responses-match",
        "--openapi",
        ours.to_str().unwrap(),
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        said(&out).contains("schemas/openapi.yaml"),
        "{}",
        said(&out)
    );

    // A document that says models have a field they lack fails the check.
    let dir_tmp = tempdir();
    let dir = dir_tmp.path();
    let strict = dir.join("strict.json");
    let mut doc: Value = serde_json::from_str(
        &std::fs::read_to_string(ours.parent().unwrap().join("model.schema.json")).unwrap(),
    )
    .unwrap();
    doc["required"] = serde_json::json!(["id", "object", "created", "owned_by", "permission"]);
    let document = serde_json::json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/v1/models/{model}": {"get": {"responses": {"200": {
            "description": "ok",
            "content": {"application/json": {"schema": doc}}
        }}}}}
    });
    std::fs::write(&strict, document.to_string()).unwrap();
    let out = conformance(&[
        "run",
        "--only",
        "openapi.responses-match",
        "--openapi",
        strict.to_str().unwrap(),
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains("permission"), "{}", said(&out));

    let out = conformance(&["run", "--openapi", "/nonexistent/openapi.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("/nonexistent/openapi.yaml"),
        "{}",
        said(&out)
    );
}

#[tokio::test]
async fn documents_served_over_http_have_their_relative_refs_bundled() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // schemas/ served as static files: openapi.yaml refers to model.schema.json and friends.
    let host = MockServer::start().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        Mock::given(method("GET"))
            .and(path(format!("/api/{name}")))
            .respond_with(
                ResponseTemplate::new(200).set_body_string(std::fs::read_to_string(&file).unwrap()),
            )
            .mount(&host)
            .await;
    }
    let url = format!("{}/api/openapi.yaml", host.uri());
    let local = dir.join("openapi.yaml").display().to_string();
    let (validate, diff) = tokio::task::spawn_blocking(move || {
        (
            conformance(&["openapi", "validate", "--examples", &url]),
            conformance(&["openapi", "diff", "--base", &url, "--cand", &local]),
        )
    })
    .await
    .unwrap();
    assert_eq!(validate.status.code(), Some(0), "{}", said(&validate));
    assert!(
        said(&validate).contains("0 problems"),
        "{}",
        said(&validate)
    );
    assert_eq!(diff.status.code(), Some(0), "{}", said(&diff));
    assert!(
        said(&diff).contains("0 breaking, 0 non-breaking"),
        "{}",
        said(&diff)
    );
    // A file the document refers to that the host does not have is a clear usage error.
    host.reset().await;
    Mock::given(method("GET"))
        .and(path("/api/openapi.yaml"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\ncomponents: {schemas: {A: {$ref: 'gone.schema.json'}}}\n",
        ))
        .mount(&host)
        .await;
    let url = format!("{}/api/openapi.yaml", host.uri());
    let out = tokio::task::spawn_blocking(move || conformance(&["openapi", "validate", &url]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("gone.schema.json"), "{}", said(&out));
}

#[test]
fn compat_check_compares_verdicts_and_names_bad_lines() {
    let dir_tmp = tempdir();
    let dir = dir_tmp.path();
    let report = dir.join("report.json");
    std::fs::write(
        &report,
        r#"{"checks":[{"id":"chat.n","status":"failed","expected":"two choices with index 0 and 1"},{"id":"chat.usage","status":"passed"}]}"#,
    )
    .unwrap();
    let expect = dir.join("server.toml");
    let good = "server = \"s 1\"\nsetup = \"s serve\"\n\n[checks.\"chat.n\"]\noutcome = \"failed\"\nexpected = \"two choices with index # and #\"\nwhy = \"n is documented\"\n\n[checks.\"chat.usage\"]\noutcome = \"passed\"\n";
    std::fs::write(&expect, good).unwrap();
    let args = |e: &std::path::Path| {
        vec![
            "compat".to_owned(),
            "check".into(),
            "--expect".into(),
            e.display().to_string(),
            "--report".into(),
            report.display().to_string(),
        ]
    };
    let run = |a: Vec<String>| conformance(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let out = run(args(&expect));
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    // A check that now passes where it was expected to fail is a difference.
    std::fs::write(
        &expect,
        good.replace(
            "[checks.\"chat.usage\"]\noutcome = \"passed\"",
            "[checks.\"chat.usage\"]\noutcome = \"failed\"\nexpected = \"x\"\nwhy = \"y\"",
        ),
    )
    .unwrap();
    let out = run(args(&expect));
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("chat.usage: expected failed, got passed"),
        "{}",
        said(&out)
    );
    // A failure without a reason is refused, and a malformed line is named.
    std::fs::write(&expect, good.replace("why = \"n is documented\"\n", "")).unwrap();
    let out = run(args(&expect));
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("says no `why`"), "{}", said(&out));
    std::fs::write(
        &expect,
        good.replace("outcome = \"passed\"", "outcome = passed"),
    )
    .unwrap();
    let out = run(args(&expect));
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("server.toml:10:"), "{}", said(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_on_skip_turns_a_skip_into_exit_1() {
    // Through wiremock, duplicates never overlap, so the concurrent-idempotency check skips.
    let server = broken(Defect {
        before: untouched_request,
        after: untouched_answer,
    })
    .await;
    let run = |extra: Option<&'static str>| {
        let uri = server.uri();
        tokio::task::spawn_blocking(move || {
            let mut args = vec![
                "run",
                "--target",
                &uri,
                "--api-key",
                KEY,
                "--no-reports",
                "--only",
                "idempotency.concurrent.409",
            ];
            args.extend(extra);
            conformance(&args)
        })
    };
    let out = run(None).await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("SKIP"), "{}", said(&out));
    let out = run(Some("--fail-on-skip")).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("1 check was skipped and --fail-on-skip is set"),
        "{}",
        said(&out)
    );
}

/// `text` in `<name>.jsonl`, in a directory removed when the first value is dropped.
fn scratch(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempdir();
    let file = dir.path().join(format!("{name}.jsonl"));
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

#[test]
fn eval_of_the_shipped_suites_passes_against_the_embedded_server_and_writes_reports() {
    let reports = tempdir();
    let dir = reports.path();
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../cases/evals/*.jsonl");
    let out = conformance(&[
        "eval",
        "--cases",
        root,
        "--min-accuracy",
        "1",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let run = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for file in [
        "eval.json",
        "eval.md",
        "eval.html",
        "eval.junit.xml",
        "results.jsonl",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
}

#[test]
fn eval_exits_1_under_the_gate_and_2_on_a_bad_suite() {
    let (_wrong_dir, wrong) = scratch(
        "wrong",
        "{\"id\": \"a\", \"input\": \"What is 2 + 2?\", \"ideal\": 5, \"grader\": \"numeric\"}\n",
    );
    let out = conformance(&[
        "eval",
        "--cases",
        wrong.to_str().unwrap(),
        "--min-accuracy",
        "0.5",
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("gate overall accuracy: 0.000 >= 0.500: FAIL"),
        "{}",
        said(&out)
    );

    let (_bad_dir, bad) = scratch(
        "bad",
        "{\"id\": \"a\", \"input\": \"x\", \"ideal\": \"y\", \"grader\": \"exact\"}\n{\"id\": \"a\", \"input\": \"x\", \"ideal\": \"y\", \"grader\": \"exact\"}\n",
    );
    // An unreachable target: the suite error must come first, with nothing sent.
    let out = conformance(&[
        "eval",
        "--cases",
        bad.to_str().unwrap(),
        "--target",
        "http://127.0.0.1:9",
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("bad.jsonl:2:2: duplicate case id \"a\""),
        "{}",
        said(&out)
    );
    let out = conformance(&["eval", "--cases", "no/such/*.jsonl", "--no-reports"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let out = conformance(&["eval", "--min-accuracy", "1.5"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));

    // A plan's suite gate applies; a plan naming an unknown suite is a usage error.
    let (_plan_dir, plan) = scratch("plan", "");
    let plan = plan.with_extension("toml");
    std::fs::write(&plan, "[suites.wrong]\nmin_accuracy = 0.5\n").unwrap();
    let out = conformance(&[
        "eval",
        "--cases",
        wrong.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("gate suite wrong accuracy"),
        "{}",
        said(&out)
    );
    std::fs::write(&plan, "[suites.wrnog]\nmin_accuracy = 0.5\n").unwrap();
    let out = conformance(&[
        "eval",
        "--cases",
        wrong.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
}

#[test]
fn snapshots_are_recorded_accepted_and_then_compared() {
    let dir_tmp = tempdir();
    let dir = dir_tmp.path();
    let d = dir.to_str().unwrap();
    let only = [
        "run",
        "--only",
        "snapshots.*",
        "--no-reports",
        "--snapshots",
        d,
    ];
    // Recorded for review: 13 pending files, no recording yet.
    let o = conformance(&[&only[..], &["--update-snapshots"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    let pending = |ext: &str| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(ext)
            })
            .count()
    };
    assert_eq!((pending(".snap.new"), pending(".snap")), (13, 0));
    // Accepted, then compared strictly against another embedded server (other ids and times).
    let o = conformance(&[&only[..], &["--accept", "--strict-snapshots"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert!(said(&o).contains("13 shape(s) accepted"), "{}", said(&o));
    assert_eq!((pending(".snap.new"), pending(".snap")), (0, 13));
    // A recording that says otherwise: the run fails, naming the key and the file.
    let path = dir.join("models.list.snap");
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"owned_by\"", "\"owner\"");
    std::fs::write(&path, edited).unwrap();
    let o = conformance(&only);
    assert_eq!(o.status.code(), Some(1), "{}", said(&o));
    let out = said(&o);
    assert!(out.contains("FAIL  snapshots.models"), "{out}");
    assert!(
        out.contains("added key body.data[].owned_by")
            && out.contains("removed key body.data[].owner"),
        "{out}"
    );
    // Two recordings side by side: the edited one against a fresh recording.
    let fresh_tmp = tempdir();
    let fresh = fresh_tmp.path();
    let f = fresh.to_str().unwrap();
    let o = conformance(&[
        "run",
        "--only",
        "snapshots.*",
        "--no-reports",
        "--snapshots",
        f,
        "--update-snapshots",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    assert_eq!(harness::snapshots::accept(fresh).unwrap(), 13);
    let o = conformance(&["snapshot", "diff", d, f]);
    assert_eq!(o.status.code(), Some(1), "{}", said(&o));
    assert!(
        said(&o).contains("models.list (GET /v1/models): changed"),
        "{}",
        said(&o)
    );
    assert!(
        said(&o).contains("1 of 13 exchanges differ"),
        "{}",
        said(&o)
    );
    let o = conformance(&["snapshot", "diff", f, f, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", said(&o));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["differ"], false);
    let o = conformance(&["snapshot", "diff", f, "/nonexistent-shapes"]);
    assert_eq!(o.status.code(), Some(2), "{}", said(&o));
    // The flags that need a recording say so.
    let o = conformance(&["run", "--update-snapshots"]);
    assert_eq!(o.status.code(), Some(2), "{}", said(&o));
}

#[test]
fn a_reader_that_stops_early_ends_the_output_without_a_panic() {
    // `conformance list | head -1`: once the reader is gone, the rest of the output has
    // nowhere to go; that is not a crash (exit 101, a backtrace on stderr). The reader is
    // closed before the binary starts, so its first write already finds it gone.
    let (reader, writer) = std::io::pipe().unwrap_or_else(|e| panic!("{e}"));
    drop(reader);
    let out = command()
        .arg("list")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn openai_evals_samples_run_as_they_are_graded_by_the_evals_class_asked_for() {
    let samples = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/openai-evals/samples.jsonl"
    );
    // The reference server's answers, in line order: "6 * 7 = 42.", "You said: Once upon a",
    // "You said: Name the capital of France.", "2 + 2 = 4.", "You said: Say: The Eiffel
    // Tower!", "You said: Repeat: hello world".
    for (grader, expected) in [
        (
            "match",
            ["passed", "passed", "failed", "passed", "failed", "failed"],
        ),
        (
            "includes",
            ["passed", "passed", "failed", "passed", "failed", "passed"],
        ),
        (
            "fuzzy",
            ["passed", "passed", "failed", "passed", "passed", "passed"],
        ),
    ] {
        let reports = tempdir();
        let out = conformance(&[
            "eval",
            "--cases",
            samples,
            "--grader",
            grader,
            "--report-dir",
            reports.path().to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{grader}: {}", said(&out));
        let run = std::fs::read_dir(reports.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.join("results.jsonl").is_file())
            .unwrap();
        let outcomes = outcomes_in(&run);
        let got: Vec<&str> = (1..=6)
            .map(|line| outcomes[&format!("samples/{line}")].as_str())
            .collect();
        assert_eq!(got, expected, "--grader {grader}");
    }
    // With --grader json each ideal must be a JSON text: the first that is not is named at
    // its line, and nothing is sent.
    let out = conformance(&[
        "eval",
        "--cases",
        samples,
        "--grader",
        "json",
        "--target",
        "http://127.0.0.1:9",
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("samples.jsonl:1:1: the ideal \"6 * 7 = 42\" is not JSON"),
        "{}",
        said(&out)
    );
    // Our own format, named, refuses the samples for what they lack.
    let out = conformance(&[
        "eval",
        "--cases",
        samples,
        "--cases-format",
        "kit",
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("missing field `id`"), "{}", said(&out));
}

#[test]
fn a_promptfoo_config_runs_as_its_prompts_times_its_tests_with_promptfoos_verdicts() {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/promptfoo/promptfooconfig.yaml"
    );
    let reports = tempdir();
    let out = conformance(&[
        "eval",
        "--cases",
        config,
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let run = std::fs::read_dir(reports.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.join("results.jsonl").is_file())
        .unwrap();
    let outcomes = outcomes_in(&run);
    // Worked out by hand from the reference server's answers (the config's comments): t2 passes
    // on both prompts by its weighted threshold, though one assertion fails on each.
    let expected = [
        ("t1.p1", "passed"),
        ("t1.p2", "failed"),
        ("t2.p1", "passed"),
        ("t2.p2", "passed"),
        ("t3.p1", "passed"),
        ("t3.p2", "failed"),
        ("t4.p1", "failed"),
        ("t4.p2", "failed"),
        ("t5.p1", "failed"),
        ("t5.p2", "passed"),
        // By embeddings: the echo is the expected text itself, the arithmetic answer is not.
        ("t6.p1", "failed"),
        ("t6.p2", "passed"),
    ];
    for (id, outcome) in expected {
        assert_eq!(
            outcomes
                .get(&format!("promptfoo example/{id}"))
                .map(String::as_str),
            Some(outcome),
            "{id}: {outcomes:?}"
        );
    }
    assert_eq!(outcomes.len(), 12, "{outcomes:?}");
}

#[test]
fn what_a_promptfoo_config_asks_that_cannot_be_honoured_is_exit_2_at_its_line() {
    let dir = tempdir();
    let cases = [
        (
            "prompts: ['Say {{x}}']\ntests:\n  - vars: {x: hi}\n    assert:\n      - type: javascript\n        value: output.length > 1\n",
            "promptfooconfig.yaml:5:1: `javascript` assertions are not supported",
        ),
        (
            "prompts: ['Say {{x}}']\nproviders:\n  - anthropic:messages:claude\ntests:\n  - vars: {x: hi}\n    assert: [{type: contains, value: hi}]\n",
            "promptfooconfig.yaml:3:1: provider \"anthropic:messages:claude\" is not supported",
        ),
        (
            "prompts: ['Say {{y}}']\ntests:\n  - description: lonely\n    vars: {x: hi}\n    assert: [{type: contains, value: hi}]\n",
            "promptfooconfig.yaml:3:1: prompt \"Say {{y}}\": the variable `y` is not set by the test",
        ),
        (
            "prompts: ['Say hi']\nscenarios: []\ntests:\n  - assert: [{type: contains, value: hi}]\n",
            "promptfooconfig.yaml:2:1: `scenarios` is not supported",
        ),
    ];
    for (text, expected) in cases {
        let config = dir.path().join("promptfooconfig.yaml");
        std::fs::write(&config, text).unwrap();
        let out = conformance(&[
            "eval",
            "--cases",
            config.to_str().unwrap(),
            "--target",
            "http://127.0.0.1:9",
            "--no-reports",
        ]);
        assert_eq!(out.status.code(), Some(2), "{expected}: {}", said(&out));
        assert!(said(&out).contains(expected), "{expected}: {}", said(&out));
    }
}

/// `suite/id` → outcome of a run's results.jsonl.
fn outcomes_in(run: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_to_string(run.join("results.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| {
            (
                format!(
                    "{}/{}",
                    v["suite"].as_str().unwrap_or(""),
                    v["id"].as_str().unwrap_or("")
                ),
                v["outcome"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn eval_json(run: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(run.join("eval.json")).unwrap_or_default())
        .unwrap_or_default()
}

#[test]
fn three_eval_shards_merged_are_the_single_run_case_by_case() {
    let reports = tempdir();
    let dir = reports.path();
    let suites = concat!(env!("CARGO_MANIFEST_DIR"), "/../cases/evals/*.jsonl");
    // A suite where some cases fail, so that outcomes differ from case to case.
    let (_mixed_dir, mixed) = scratch(
        "mixed",
        &(0..12)
            .map(|n| {
                format!(
                    "{{\"id\": \"sum-{n}\", \"input\": \"What is {n} + {n}? Answer with the number.\", \"ideal\": {}, \"grader\": \"numeric\"}}\n",
                    if n % 3 == 0 { n * 2 + 1 } else { n * 2 }
                )
            })
            .collect::<String>(),
    );
    let mixed = mixed.to_str().unwrap().to_owned();
    let run = |name: &str, extra: &[&str]| {
        let report_dir = dir.join(name);
        let mut args = vec!["eval", "--cases", suites, "--cases", &mixed];
        let shown = report_dir.display().to_string();
        args.extend(["--report-dir", &shown]);
        args.extend(extra);
        let out = conformance(&args);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {}",
            said(&out)
        );
        report_dir.join("latest")
    };
    let single = run("single", &[]);
    let shards: Vec<std::path::PathBuf> = (1..=3)
        .map(|i| run(&format!("shard-{i}"), &["--shard", &format!("{i}/3")]))
        .collect();
    let per_shard: Vec<usize> = shards.iter().map(|s| outcomes_in(s).len()).collect();
    let whole = outcomes_in(&single);
    assert!(whole.len() > 40, "{}", whole.len());
    assert_eq!(
        per_shard.iter().sum::<usize>(),
        whole.len(),
        "{per_shard:?}"
    );
    assert!(per_shard.iter().all(|n| *n > 0), "{per_shard:?}");
    assert!(whole.values().any(|o| o != "passed") && whole.values().any(|o| o == "passed"));

    let merged_dir = dir.join("merged");
    let shown: Vec<String> = shards.iter().map(|s| s.display().to_string()).collect();
    let merged_text = merged_dir.display().to_string();
    let mut args = vec![
        "eval",
        "merge",
        "--report-dir",
        &merged_text,
        "--min-accuracy",
        "0.5",
    ];
    args.extend(shown.iter().map(String::as_str));
    let out = conformance(&args);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        said(&out).contains("merged from 3 shards"),
        "{}",
        said(&out)
    );
    let merged = merged_dir.join("latest");
    assert_eq!(outcomes_in(&merged), whole);
    let (a, b) = (eval_json(&merged), eval_json(&single));
    assert_eq!(a["overall"]["accuracy"], b["overall"]["accuracy"]);
    assert_eq!(a["overall"]["interval"], b["overall"]["interval"]);
    assert_eq!(a["suites"], b["suites"]);
    // A baseline and McNemar work on the merge as on one run.
    let single_shown = single.display().to_string();
    let out = conformance(&[
        "eval",
        "merge",
        "--no-reports",
        "--baseline",
        &single_shown,
        "--fail-on-regression",
        &shown[0],
        &shown[1],
        &shown[2],
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));

    // Two of three, or one twice: refused by name.
    let out = conformance(&["eval", "merge", "--no-reports", &shown[0], &shown[2]]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("shard 2/3 is missing"),
        "{}",
        said(&out)
    );
    let out = conformance(&[
        "eval",
        "merge",
        "--no-reports",
        &shown[0],
        &shown[1],
        &shown[1],
        &shown[2],
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("shard 2/3 is given twice"),
        "{}",
        said(&out)
    );
}

#[test]
fn an_interrupted_shard_resumes_without_asking_again_what_it_answered() {
    let reports = tempdir();
    let dir = reports.path();
    let suites = concat!(env!("CARGO_MANIFEST_DIR"), "/../cases/evals/*.jsonl");
    let first = dir.join("first");
    let first_text = first.display().to_string();
    let out = conformance(&[
        "eval",
        "--cases",
        suites,
        "--shard",
        "1/2",
        "--report-dir",
        &first_text,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    // The interruption: two whole lines, the first marked so that a re-ask would show, and
    // a third cut off mid-write; no manifest.
    let run = first.join("latest");
    let text = std::fs::read_to_string(run.join("results.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 3);
    let mut marked: Value = serde_json::from_str(lines[0]).unwrap();
    marked["origin"] = Value::from("kept-from-before");
    let cut = format!(
        "{marked}\n{}\n{}",
        lines[1],
        &lines[2][..lines[2].len() / 2]
    );
    let interrupted = dir.join("interrupted.jsonl");
    std::fs::write(&interrupted, cut).unwrap();
    let again = dir.join("again");
    let again_text = again.display().to_string();
    let out = conformance(&[
        "eval",
        "--cases",
        suites,
        "--shard",
        "1/2",
        "--resume",
        interrupted.to_str().unwrap(),
        "--report-dir",
        &again_text,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        said(&out).contains("2 case(s) kept from it, not asked again"),
        "{}",
        said(&out)
    );
    let resumed = std::fs::read_to_string(again.join("latest").join("results.jsonl")).unwrap();
    assert_eq!(resumed.lines().count(), lines.len());
    assert!(resumed.contains("kept-from-before"));
    assert_eq!(outcomes_in(&again.join("latest")), outcomes_in(&run));
}

#[test]
fn version_names_the_release_and_the_commit_it_was_built_from() {
    let out = conformance(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let commit = line
        .strip_prefix(&format!(
            "conformance {} (commit ",
            env!("CARGO_PKG_VERSION")
        ))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    // A checkout gives the commit; a build from a tarball without one says so.
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
}

/// Every chat completion's text replaced: a deployment that answers chat wrong.
fn wrong_chat(f: &Forward, a: &mut Answer) {
    if f.path() == "/v1/chat/completions" {
        if let Some(mut v) = a.json() {
            v["choices"][0]["message"]["content"] = Value::from("wrong");
            a.set_json(&v);
        }
    }
}

async fn compared(after: fn(&Forward, &mut Answer)) -> (std::process::Output, tempfile::TempDir) {
    let proxy = broken(Defect {
        before: untouched_request,
        after,
    })
    .await;
    let dir = tempdir();
    let file = dir.path().join("targets.toml");
    std::fs::write(
        &file,
        format!(
            "[[target]]\nname = \"reference\"\nurl = \"embedded\"\n\n[[target]]\nname = \"vendor\"\nurl = \"{}/v1\"\napi_key_env = \"COMPARE_VENDOR_KEY\"\n",
            proxy.uri()
        ),
    )
    .unwrap();
    let reports = dir.path().join("reports");
    let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/../cases/evals/*.jsonl");
    let out = conformance_with_env_async(
        &[
            "eval",
            "--compare",
            file.to_str().unwrap(),
            "--cases",
            cases,
            "--fail-if-worse",
            "reference",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[("COMPARE_VENDOR_KEY", KEY)],
    )
    .await;
    (out, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn eval_compare_writes_both_targets_reports_and_gates_a_worse_one() {
    let (same, dir) = compared(untouched_answer).await;
    assert_eq!(same.status.code(), Some(0), "{}", said(&same));
    let run = dir.path().join("reports/latest");
    for file in [
        "compare.json",
        "compare.html",
        "compare.md",
        "compare.junit.xml",
        "reference/eval.json",
        "vendor/results.jsonl",
    ] {
        assert!(run.join(file).is_file(), "{file}");
    }
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("compare.json")).unwrap()).unwrap();
    assert_eq!(report["kind"], "eval-compare");
    assert_eq!(report["disagreements"], 0);
    assert!(
        said(&same).contains("reference vs vendor: no significant difference"),
        "{}",
        said(&same)
    );

    let (worse, _dir) = compared(wrong_chat).await;
    assert_eq!(worse.status.code(), Some(1), "{}", said(&worse));
    assert!(
        said(&worse).contains("gate failed: vendor not significantly worse than reference"),
        "{}",
        said(&worse)
    );
}

#[test]
fn eval_compare_refuses_a_bad_targets_file_or_baseline_name_with_exit_2() {
    let dir = tempdir();
    let file = dir.path().join("targets.toml");
    std::fs::write(&file, "[[target]]\nname = \"a\"\nurl = \"embedded\"\n\n[[target]]\nname = \"b\"\nurl = \"localhost:8080\"\n").unwrap();
    let out = conformance(&["eval", "--compare", file.to_str().unwrap(), "--no-reports"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("targets.toml:7:7: url \"localhost:8080\""),
        "{}",
        said(&out)
    );
    std::fs::write(&file, "[[target]]\nname = \"a\"\nurl = \"embedded\"\n\n[[target]]\nname = \"b\"\nurl = \"http://127.0.0.1:9/v1\"\n").unwrap();
    let out = conformance(&[
        "eval",
        "--compare",
        file.to_str().unwrap(),
        "--fail-if-worse",
        "c",
        "--no-reports",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("--fail-if-worse \"c\" names no target (the targets: a, b)"),
        "{}",
        said(&out)
    );
    // A target that cannot be reached is named, with the exit code of an unreachable target.
    let out = conformance(&["eval", "--compare", file.to_str().unwrap(), "--no-reports"]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(said(&out).contains("target b: "), "{}", said(&out));
    let out = conformance(&[
        "eval",
        "--compare",
        file.to_str().unwrap(),
        "--target",
        "http://x",
        "--no-reports",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--compare names its own targets"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_promptfoo_configs_providers_are_compared_at_their_own_deployments() {
    let right = broken(Defect {
        before: untouched_request,
        after: untouched_answer,
    })
    .await;
    let wrong = broken(Defect {
        before: untouched_request,
        after: wrong_chat,
    })
    .await;
    let dir = tempdir();
    let config = dir.path().join("promptfooconfig.yaml");
    let mut yaml = format!(
        "prompts:\n  - \"Say {{{{word}}}}\"\nproviders:\n  - id: openai:chat:ref-chat-1\n    label: right one\n    config:\n      apiBaseUrl: {}/v1\n      apiKeyEnvar: RIGHT_KEY\n      temperature: 0\n  - id: openai:chat:ref-chat-1\n    label: wrong\n    config:\n      apiBaseUrl: {}/v1\n      apiKey: {KEY}\ntests:\n",
        right.uri(),
        wrong.uri()
    );
    for word in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"] {
        yaml.push_str(&format!(
            "  - vars: {{word: {word}}}\n    assert: [{{type: contains, value: {word}}}]\n"
        ));
    }
    std::fs::write(&config, yaml).unwrap();
    let reports = dir.path().join("reports");
    let config_arg = config.to_str().unwrap();
    let out = conformance_with_env_async(
        &[
            "eval",
            "--cases",
            config_arg,
            "--compare",
            config_arg,
            "--fail-if-worse",
            "right-one",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
        &[("RIGHT_KEY", KEY)],
    )
    .await;
    // 7 tests, one case each per provider (not one per provider and test): 7 to 0.
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("latest/compare.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(report["cases"], 7);
    assert_eq!(report["pairs"][0]["only_a"], 7);
    assert_eq!(report["pairs"][0]["better"], "right-one");
    assert!(
        !said(&out).contains(KEY),
        "a key from the config is never shown"
    );
    // Without --compare, a provider's own deployment is refused at its line, naming the way.
    let out = conformance(&["eval", "--cases", config_arg, "--no-reports"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("promptfooconfig.yaml:4:") && said(&out).contains("--compare"),
        "{}",
        said(&out)
    );
}
