#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
//! The `reference-server` binary: it prints its address, logs one JSON line per request
//! without the token, and exits cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

/// Starts the binary and returns it with the base URL from its first stdout line.
fn start_binary(command: &mut Command) -> (std::process::Child, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .expect("first line names the address")
        .to_owned();
    (child, base)
}

#[tokio::test]
async fn logs_json_without_secrets_and_stops_on_sigterm() {
    let (mut child, base) = start_binary(
        Command::new(env!("CARGO_BIN_EXE_reference-server"))
            .args(["--port", "0"])
            .env("REFSERVER_INDEX_PATH", ":memory:")
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped()),
    );

    let client = reqwest::Client::new();
    let secret = "sk-very-secret-token-123";
    let r = client
        .post(format!("{base}/v1/embeddings"))
        .bearer_auth(secret)
        .header("x-request-id", "log-probe-1")
        .json(
            &serde_json::json!({"model": "ref-embed-1", "input": "mail me at someone@example.com"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client
        .get(format!("{base}/v1/models"))
        .bearer_auth(secret)
        .header("x-request-id", "jane.doe@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["x-request-id"],
        "jane.doe@example.com",
        "echoed to the caller as sent"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");

    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        !logs.contains(secret),
        "the token must never be logged: {logs}"
    );
    assert!(
        !logs.contains("someone@example.com"),
        "bodies are not logged: {logs}"
    );
    assert!(
        !logs.contains("jane.doe@example.com"),
        "e-mail addresses are redacted: {logs}"
    );
    assert!(logs.contains("[email]"), "{logs}");
    let line = logs
        .lines()
        .find(|l| l.contains("log-probe-1"))
        .expect("a log line for the request");
    let event: serde_json::Value = serde_json::from_str(line).expect("log lines are JSON");
    let fields = &event["fields"];
    assert_eq!(fields["route"], "/v1/embeddings");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["principal"].as_str().map(str::len), Some(16));
    assert!(fields["latency_ms"].is_number() && fields["trace_id"].is_string());
    // The bounds once at start, then one line per request and nothing else: no library
    // chatter per connection.
    let lines: Vec<String> = logs
        .lines()
        .map(|l| {
            let e: serde_json::Value = serde_json::from_str(l).expect("log lines are JSON");
            format!("{} {} {}", e["level"], e["target"], e["fields"]["message"])
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            r#""INFO" "reference_server" "descriptor limit""#,
            r#""INFO" "reference_server" "connection bounds""#,
            r#""INFO" "request" "request""#,
            r#""INFO" "request" "request""#
        ],
        "{logs}"
    );
}

#[test]
fn bad_configuration_exits_2_with_the_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .args(["--auth-mode", "strict", "--port", "0"])
        .env_remove("REFSERVER_API_KEYS")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs at least one entry in auth.tokens")
    );
}

#[test]
fn an_unreachable_or_misnamed_shared_store_exits_2_without_showing_its_password() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    for (url, expected) in [
        (
            format!("redis://:hunter2@127.0.0.1:{port}/0"),
            "the shared store at redis://:***@127.0.0.1:",
        ),
        (
            "http://cache:6379".to_owned(),
            "store.url must be a redis://",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_reference-server"))
            .args(["--port", "0", "--quiet"])
            .env("REFSERVER_STORE_URL", &url)
            .env("REFSERVER_INDEX_PATH", ":memory:")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[test]
fn a_bad_timing_profile_or_fault_schedule_exits_2_naming_the_key() {
    for (name, value, expected) in [
        ("REFSERVER_TTFT", "normal(20ms)", "REFSERVER_TTFT"),
        ("REFSERVER_FAULTS", "kind=429,rate=1.5", "`rate`"),
        (
            "REFSERVER_FAULTS",
            "kind=500,models=nope",
            "faults[0].models",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_reference-server"))
            .args(["--port", "0"])
            .env(name, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{name}={value}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_export_sends_a_span_per_request_in_the_callers_trace() {
    use std::sync::{Arc, Mutex};
    type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;
    let received: Received = Arc::default();
    let sink = received.clone();
    let collector = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let sink = sink.clone();
        async move {
            let path = req.uri().path().to_owned();
            let ct = req
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap_or("").to_owned())
                .unwrap_or_default();
            let body = axum::body::to_bytes(req.into_body(), usize::MAX)
                .await
                .unwrap_or_default()
                .to_vec();
            sink.lock().unwrap().push((path, ct, body));
            ""
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let (mut child, base) = start_binary(
        Command::new(env!("CARGO_BIN_EXE_reference-server"))
            .args(["--port", "0", "--quiet"])
            .env("REFSERVER_INDEX_PATH", ":memory:")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &collector_url)
            .stderr(Stdio::null()),
    );
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = reqwest::Client::new()
        .get(format!("{base}/v1/models"))
        .bearer_auth("k")
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-trace-id"], trace);
    let untraced = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    let own_trace = untraced.headers()["x-trace-id"]
        .to_str()
        .unwrap()
        .to_owned();

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success());

    let received = received.lock().unwrap().clone();
    let traces: Vec<&(String, String, Vec<u8>)> = received
        .iter()
        .filter(|(p, _, _)| p == "/v1/traces")
        .collect();
    assert!(
        !traces.is_empty(),
        "spans are flushed to {collector_url}/v1/traces on shutdown: {received:?}"
    );
    assert!(traces
        .iter()
        .all(|(_, ct, _)| ct == "application/x-protobuf"));
    let bytes = |hex: &str| {
        (0..16)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
    };
    let contains = |needle: &[u8]| {
        traces
            .iter()
            .any(|(_, _, body)| body.windows(16).any(|w| w == needle))
    };
    assert!(contains(&bytes(trace)), "the span joins the caller's trace");
    assert!(
        contains(&bytes(&own_trace)),
        "X-Trace-Id of an untraced request is the exported span's trace id"
    );
}

#[test]
fn version_names_the_release_and_the_commit_it_was_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_reference-server"))
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0));
    let line = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let commit = line
        .strip_prefix(&format!(
            "reference-server {} (commit ",
            env!("CARGO_PKG_VERSION")
        ))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
}
