//! `conformance latency` end to end: the gate on wiremock targets with injected delays, the
//! coordinated-omission correction on a target that stalls, and bad SLO files. Budgets are
//! far from the delays involved, so a slow machine cannot flip a verdict.

mod binary;

use binary::*;
use serde_json::json;
use std::io::Write;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// An SLO file with `text`, removed when the returned path is dropped.
fn slo_file(text: &str) -> SloFile {
    let path = tempfile::Builder::new()
        .prefix("slo-")
        .suffix(".toml")
        .tempfile()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_temp_path();
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    SloFile(path)
}

/// A temporary SLO file, named as the binary's arguments take it.
struct SloFile(tempfile::TempPath);

impl SloFile {
    fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

const EMBEDDINGS_SLO: &str = r#"
[[scenario]]
name = "embed"
endpoint = "/v1/embeddings"
body = { model = "m", input = "x" }
budgets = ["p95 <= 150ms", "error_rate <= 1%"]
"#;

async fn delayed_embeddings(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"object": "list", "data": [], "model": "m"}))
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_breaches_the_budget_and_exits_1_naming_it() {
    let server = delayed_embeddings(Duration::from_millis(400)).await;
    let slo = slo_file(EMBEDDINGS_SLO);
    let target = format!("{}/v1", server.uri());
    let out = tokio::task::spawn_blocking(move || {
        conformance(&[
            "latency",
            "--target",
            &target,
            "--api-key",
            "k",
            "--slo",
            slo.as_str(),
            "--concurrency",
            "4",
            "--requests",
            "12",
            "--warmup",
            "0s",
            "--no-reports",
        ])
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL embed: p95 <= 150ms") && stdout.contains("margin -"),
        "{stdout}"
    );
    assert!(stdout.contains("ok   embed: error_rate <= 1%"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_target_meets_the_budget_and_exits_0_with_reports() {
    let server = delayed_embeddings(Duration::from_millis(5)).await;
    let slo = slo_file(EMBEDDINGS_SLO);
    let target = format!("{}/v1", server.uri());
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().to_owned();
    let dir_arg = dir.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        conformance(&[
            "latency",
            "--target",
            &target,
            "--api-key",
            "k",
            "--slo",
            slo.as_str(),
            "--concurrency",
            "4",
            "--requests",
            "40",
            "--warmup",
            "0s",
            "--report-dir",
            &dir_arg,
        ])
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let run = std::fs::read_dir(&dir)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .map(|e| e.path())
        .unwrap_or_default();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("latency.json")).unwrap_or_default())
            .unwrap_or_default();
    assert_eq!(report["passed"], true);
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/latency-report.schema.json"))
            .unwrap_or_default();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(report["scenarios"][0]["requests"], 40);
    assert!(report["scenarios"][0]["latency"]["p95_ms"]
        .as_f64()
        .is_some_and(|p| p >= 5.0));
    let junit = std::fs::read_to_string(run.join("latency.junit.xml")).unwrap_or_default();
    assert_eq!(junit.matches("<testcase ").count(), 2, "{junit}");
    assert!(!junit.contains("<failure"));
}

#[test]
fn a_bad_slo_file_is_exit_2_with_file_and_line() {
    let slo = slo_file("[[scenario]]\nname = \"x\"\nendpoint = \"/v1/embeddings\"\nbody = {}\nbudgets = [\"p95 < = 1s\"]\n");
    let out = conformance(&["latency", "--slo", slo.as_str(), "--no-reports"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:5:", slo.as_str())), "{stderr}");
    let out = conformance(&["latency", "--scenario", "nope", "--no-reports"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"nope\""));
}

#[test]
fn an_unreachable_target_is_exit_3() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(1);
    drop(listener);
    let target = format!("http://127.0.0.1:{port}/v1");
    let out = conformance(&[
        "latency",
        "--target",
        &target,
        "--requests",
        "3",
        "--warmup",
        "0s",
        "--no-reports",
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A target that answers at once, except that everything arriving in a half-second window
/// waits until the window ends: a stall.
async fn stalling_target() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::post;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let start = std::time::Instant::now();
    let app = axum::Router::new().route(
        "/v1/embeddings",
        post(move || async move {
            let t = start.elapsed();
            let (from, to) = (Duration::from_millis(1000), Duration::from_millis(1600));
            if t >= from && t < to {
                tokio::time::sleep(to - t).await;
            }
            axum::Json(json!({"object": "list", "data": [], "model": "m"}))
        }),
    );
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1"), handle)
}

fn target(url: &str) -> harness::TargetConfig {
    harness::TargetConfig::new(url, Some("k".into()), Duration::from_secs(10))
}

async fn p99_against_stall(model: harness::latency::Model) -> f64 {
    use harness::latency::{self, LatencyConfig};
    let (url, server) = stalling_target().await;
    let scenarios = latency::parse_scenarios(EMBEDDINGS_SLO, "slo.toml", std::path::Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    let config = LatencyConfig {
        target_label: "stall".into(),
        model,
        span: latency::Span {
            duration: Some(Duration::from_millis(2500)),
            warmup: Duration::from_millis(200),
            ..LatencyConfig::new(target(&url), Vec::new()).span
        },
        ..LatencyConfig::new(target(&url), scenarios)
    };
    let report = harness::latency::run(&config, "t", &|_| {})
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = writeln!(std::io::stderr(), "{}", harness::Report::text(&report));
    server.abort();
    report.scenarios[0]
        .latency
        .as_ref()
        .map_or(0.0, |d| d.p99_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_shows_a_stall_that_the_closed_loop_hides() {
    let open = p99_against_stall(harness::latency::Model::Open {
        rate: 200.0,
        poisson: false,
        max_in_flight: 10_000,
        tick: harness::latency::Model::DEFAULT_TICK,
    })
    .await;
    let closed = p99_against_stall(harness::latency::Model::Closed { concurrency: 1 }).await;
    // About 120 of ~500 open-loop requests were due during the 600 ms stall and are timed
    // from when they were due; the closed loop sent one request into it and waited.
    assert!(
        open >= 300.0,
        "open-loop p99 {open} ms should show the stall"
    );
    assert!(closed < 300.0, "closed-loop p99 {closed} ms hides it");
}

/// Runs `conformance latency` against `target` with `args` and reports in a fresh directory;
/// returns the exit code, stdout, latency.json (checked against its schema) and latency.html.
async fn latency_run(
    target: String,
    args: &[&str],
) -> (Option<i32>, String, serde_json::Value, String) {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().to_owned();
    let slo = slo_file(EMBEDDINGS_SLO);
    let mut all: Vec<String> = [
        "latency",
        "--target",
        &target,
        "--api-key",
        "k",
        "--warmup",
        "0s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    all.extend(["--slo".into(), slo.as_str().to_owned()]);
    all.extend(["--report-dir".into(), dir.display().to_string()]);
    all.extend(args.iter().map(|s| s.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        conformance(&refs)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let run = std::fs::read_dir(&dir)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .map(|e| e.path())
        .unwrap_or_default();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("latency.json")).unwrap_or_default())
            .unwrap_or_default();
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/latency-report.schema.json"))
            .unwrap_or_default();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let html = std::fs::read_to_string(run.join("latency.html")).unwrap_or_default();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        report,
        html,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_loop_keeps_due_times_to_its_tick_or_to_the_microsecond() {
    let server = delayed_embeddings(Duration::from_millis(1)).await;
    let target = format!("{}/v1", server.uri());
    // 1,500/s: a request every 2/3 ms. On a 1 ms grid two of every three share an instant;
    // on a 5 ms grid seven or eight do; with no grid each keeps its own.
    for (tick, tick_ms, grid_ms) in [("1ms", 1.0, 1.0), ("5ms", 5.0, 5.0), ("0", 0.0, 2.0 / 3.0)] {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let samples = tmp.path().join("samples.jsonl");
        let file = samples.display().to_string();
        let args = [
            "--rate",
            "1500",
            "--requests",
            "60",
            "--tick",
            tick,
            "--samples",
            &file,
        ];
        let (code, stdout, report, _) = latency_run(target.clone(), &args).await;
        assert_eq!(code, Some(0), "{stdout}");
        assert_eq!(report["load"]["tick_ms"], tick_ms, "{tick}");
        let due: Vec<f64> = std::fs::read_to_string(&samples)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["due_ms"].as_f64())
            .collect();
        assert_eq!(due.len(), 60, "{tick}");
        let off_grid: Vec<f64> = due
            .iter()
            .copied()
            .filter(|d| ((d / grid_ms) - (d / grid_ms).round()).abs() > 1e-3)
            .collect();
        assert!(
            off_grid.is_empty(),
            "tick {tick}: off the grid: {off_grid:?}"
        );
        let mut instants = due.clone();
        instants.sort_by(f64::total_cmp);
        instants.dedup_by(|a, b| (*a - *b).abs() < 1e-3);
        let expected = match tick {
            "1ms" => 40,
            "5ms" => 9,
            _ => 60,
        };
        assert_eq!(instants.len(), expected, "tick {tick}: {instants:?}");
    }
}

/// The requests a `--samples` file records: number and due time (ms), by number.
fn requests_of(samples: &std::path::Path) -> Vec<(u64, f64)> {
    let mut all: Vec<(u64, f64)> = std::fs::read_to_string(samples)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["n"].as_u64()?, v["due_ms"].as_f64()?)))
        .collect();
    all.sort_by_key(|(n, _)| *n);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_segments_send_the_single_schedule_between_them() {
    let server = delayed_embeddings(Duration::from_millis(1)).await;
    let target = format!("{}/v1", server.uri());
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // 61 measured requests at 300/s, Poisson: three does not divide them.
    let run = |segment: Option<&'static str>| {
        let samples = tmp.path().join(format!(
            "{}.jsonl",
            segment.unwrap_or("whole").replace('/', "-")
        ));
        let target = target.clone();
        async move {
            let file = samples.display().to_string();
            let mut args = vec![
                "--rate",
                "300",
                "--poisson",
                "--seed",
                "9",
                "--requests",
                "61",
                "--samples",
                &file,
            ];
            if let Some(s) = segment {
                args.extend(["--segment", s]);
            }
            let (code, stdout, report, _) = latency_run(target, &args).await;
            assert_eq!(code, Some(0), "{stdout}");
            (requests_of(&samples), report, stdout)
        }
    };
    let (whole, report, _) = run(None).await;
    assert_eq!(whole.len(), 61);
    assert!(report.get("segment").is_none());
    let mut union = Vec::new();
    for (segment, share) in [("1/3", 21), ("2/3", 20), ("3/3", 20)] {
        let (mine, report, stdout) = run(Some(segment)).await;
        assert_eq!(mine.len(), share, "{segment}");
        assert_eq!(report["segment"], segment);
        assert_eq!(report["scenarios"][0]["requests"], share as u64);
        assert!(
            stdout.contains(&format!("segment {segment} of a split run")),
            "{stdout}"
        );
        union.extend(mine);
    }
    union.sort_by_key(|(n, _)| *n);
    let numbers = |v: &[(u64, f64)]| v.iter().map(|(n, _)| *n).collect::<Vec<_>>();
    assert_eq!(numbers(&union), numbers(&whole));
    for ((n, mine), (_, theirs)) in union.iter().zip(&whole) {
        assert!(
            (mine - theirs).abs() < 1e-6,
            "request {n}: due {mine} ms, not {theirs} ms"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_started_at_one_instant_merge_into_one_verdict() {
    let server = delayed_embeddings(Duration::from_millis(2)).await;
    let target = format!("{}/v1", server.uri());
    let slo = slo_file(EMBEDDINGS_SLO);
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let at = std::time::SystemTime::now() + Duration::from_secs(3);
    let at = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| format!("{:.3}", d.as_secs_f64()))
        .unwrap_or_default();
    let mut workers = Vec::new();
    for i in 1..=3 {
        let dir = tmp.path().join(format!("worker-{i}"));
        let args: Vec<String> = [
            "latency",
            "--target",
            &target,
            "--api-key",
            "k",
            "--slo",
            slo.as_str(),
            "--rate",
            "200",
            "--duration",
            "1s",
            "--warmup",
            "0.5s",
            "--start-at",
            &at,
            "--segment",
            &format!("{i}/3"),
            "--report-dir",
            &dir.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        workers.push(tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            conformance(&refs)
        }));
    }
    let mut sent = 0;
    for (i, worker) in workers.into_iter().enumerate() {
        let out = worker.await.unwrap_or_else(|e| panic!("{e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "worker {}: {stdout}", i + 1);
        let run = tmp.path().join(format!("worker-{}", i + 1)).join("latest");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("latency.json")).unwrap_or_default())
                .unwrap_or_default();
        sent += report["scenarios"][0]["requests"].as_u64().unwrap_or(0);
        assert!(run.join("latency.hlog").is_file() && run.join("latency.segment.json").is_file());
    }
    // 200/s for 1 s: 200 measured requests between the three, whatever their clocks did.
    assert_eq!(sent, 200);
    let merged_dir = tmp.path().join("merged");
    let dirs: Vec<String> = (1..=3)
        .map(|i| tmp.path().join(format!("worker-{i}")).display().to_string())
        .collect();
    let mut args = vec!["latency", "merge", "--report-dir"];
    let merged_text = merged_dir.display().to_string();
    args.push(&merged_text);
    args.extend(dirs.iter().map(String::as_str));
    let out = conformance(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("merged from 3 segments"), "{stdout}");
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(merged_dir.join("latest").join("latency.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(report["scenarios"][0]["requests"], 200, "{stdout}");
    assert_eq!(report["merged_segments"], 3);
    assert!(report["scenarios"][0]["latency"]["p50_ms"]
        .as_f64()
        .is_some_and(|p| p >= 2.0));
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/latency-report.schema.json"))
            .unwrap_or_default();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{e}"));
    assert!(validator.is_valid(&report));
    for format in ["latency.html", "latency.md", "latency.junit.xml"] {
        assert!(merged_dir.join("latest").join(format).is_file(), "{format}");
    }
    // Two of the three: refused, naming the missing one.
    let out = conformance(&["latency", "merge", "--no-reports", &dirs[0], &dirs[2]]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("segment 2/3 is missing"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_is_refused_what_cannot_be_split_and_a_start_that_has_passed() {
    let server = delayed_embeddings(Duration::from_millis(1)).await;
    let target = format!("{}/v1", server.uri());
    for (args, message) in [
        (
            vec!["--concurrency", "2", "--segment", "1/3", "--requests", "9"],
            "--segment 1/3: a closed loop of 2 cannot be split 3 ways",
        ),
        (
            vec![
                "--rate",
                "10",
                "--requests",
                "5",
                "--start-at",
                "1700000000",
            ],
            "--start-at 2023-11-14T22:13:20.000Z has passed",
        ),
        (
            vec!["--rate", "10", "--requests", "5", "--start-at", "yesterday"],
            "\"yesterday\" is not a time: RFC 3339",
        ),
        (
            vec!["--rate", "10", "--segment", "4/3"],
            "\"4/3\" is not a segment",
        ),
    ] {
        let slo = slo_file(EMBEDDINGS_SLO);
        let mut all = vec!["latency", "--target", &target, "--api-key", "k"];
        all.extend(["--slo", slo.as_str()]);
        all.extend(args.iter().copied());
        let out = conformance(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_breach_stops_a_clearly_broken_run_and_names_the_budget() {
    let server = delayed_embeddings(Duration::from_millis(300)).await;
    let target = format!("{}/v1", server.uri());
    // A minute was asked for; every answer takes 300 ms against a 150 ms p95, so once a
    // twentieth of all the requests the minute could still hold are over, the run stops.
    let args = [
        "--concurrency",
        "4",
        "--duration",
        "60s",
        "--abort-on-breach",
    ];
    let (code, stdout, report, _) = latency_run(target, &args).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        report["aborted"]["budget"], "embed: p95 <= 150ms",
        "{stdout}"
    );
    assert!(report["measured_seconds"]
        .as_f64()
        .is_some_and(|s| s < 30.0));
    assert!(
        stdout.contains("verdict: aborted: embed: p95 <= 150ms breached"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_breach_leaves_a_run_that_meets_its_budgets_alone() {
    let server = delayed_embeddings(Duration::from_millis(5)).await;
    let target = format!("{}/v1", server.uri());
    let args = [
        "--concurrency",
        "4",
        "--requests",
        "60",
        "--abort-on-breach",
    ];
    let (code, stdout, report, _) = latency_run(target, &args).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert!(report["aborted"].is_null());
    assert_eq!(report["scenarios"][0]["requests"], 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_judges_all_runs_and_reports_the_spread() {
    let server = delayed_embeddings(Duration::from_millis(5)).await;
    let target = format!("{}/v1", server.uri());
    let args = [
        "--concurrency",
        "2",
        "--requests",
        "10",
        "--repeat",
        "3",
        "--ramp",
        "0.1s",
    ];
    let (code, stdout, report, html) = latency_run(target, &args).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(report["repeats"]["runs"], 3);
    assert_eq!(report["scenarios"][0]["requests"], 30);
    let p50 = &report["repeats"]["scenarios"][0]["measures"][0];
    assert_eq!(p50["measure"], "latency.p50");
    assert_eq!(p50["values_ms"].as_array().map(Vec::len), Some(3));
    assert!(stdout.contains("spread over 3 runs"), "{stdout}");
    assert!(html.contains("Spread over 3 runs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_finds_the_highest_rate_that_meets_the_budgets_and_draws_the_curve() {
    let server = delayed_embeddings(Duration::from_millis(5)).await;
    let target = format!("{}/v1", server.uri());
    let args = ["--sweep", "20,40", "--duration", "0.5s"];
    let (code, stdout, report, html) = latency_run(target, &args).await;
    assert_eq!(code, Some(0), "{stdout}");
    assert_eq!(report["sweep"]["best_rate_per_s"], 40.0, "{stdout}");
    assert_eq!(report["sweep"]["points"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["load"]["rate_per_s"], 40.0);
    // Two sweep plots, then a histogram, a percentile curve and two plots over time.
    assert_eq!(html.matches("<svg class=\"plot\"").count(), 6, "{html}");
    assert_eq!(html.matches("<circle class=\"point passed\"").count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_where_no_rate_meets_the_budgets_exits_1() {
    let server = delayed_embeddings(Duration::from_millis(400)).await;
    let target = format!("{}/v1", server.uri());
    let args = ["--sweep", "5,10", "--duration", "0.5s"];
    let (code, stdout, report, html) = latency_run(target, &args).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(report["sweep"]["best_rate_per_s"].is_null());
    assert!(report["sweep"]["points"][0]["breaches"][0]
        .as_str()
        .is_some_and(|b| b.starts_with("embed: p95 <= 150ms")));
    assert!(
        stdout.contains("verdict: no rate met every budget"),
        "{stdout}"
    );
    assert!(html.contains("No rate met every budget"));
}

#[tokio::test]
async fn a_run_of_mostly_429s_says_it_measured_the_limiter() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {
            "message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})))
        .mount(&server)
        .await;
    let slo = slo_file(EMBEDDINGS_SLO);
    let target = format!("{}/v1", server.uri());
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().to_owned();
    let dir_arg = dir.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        conformance(&[
            "latency",
            "--target",
            &target,
            "--api-key",
            "k",
            "--slo",
            slo.as_str(),
            "--concurrency",
            "2",
            "--requests",
            "20",
            "--warmup",
            "0s",
            "--report-dir",
            &dir_arg,
        ])
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "the target rate-limited 20 of 20 requests (HTTP 429): this measured its limiter"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("(mostly 429s: the target's rate limiter was measured)"),
        "{stdout}"
    );
    let run = std::fs::read_dir(&dir)
        .ok()
        .and_then(|mut d| d.next())
        .and_then(Result::ok)
        .map(|e| e.path())
        .unwrap_or_default();
    for file in ["latency.md", "latency.html"] {
        let text = std::fs::read_to_string(run.join(file)).unwrap_or_default();
        assert!(
            text.contains("rate-limited 20 of 20 requests"),
            "{file}: {text}"
        );
    }
}

#[tokio::test]
async fn a_sweep_names_the_steps_that_measured_the_limiter() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"error": {
            "message": "Rate limit reached", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})))
        .mount(&server)
        .await;
    let slo = slo_file(EMBEDDINGS_SLO);
    let target = format!("{}/v1", server.uri());
    let out = tokio::task::spawn_blocking(move || {
        conformance(&[
            "latency",
            "--target",
            &target,
            "--api-key",
            "k",
            "--slo",
            slo.as_str(),
            "--sweep",
            "20,40",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--no-reports",
        ])
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for rate in ["20.0", "40.0"] {
        assert!(
            stdout.contains(&format!("at {rate}/s the target rate-limited")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("× 429)"), "{stdout}");
    assert!(
        stdout.contains("(mostly 429s: the target's rate limiter was measured)"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_scenario_sends_each_request_a_key_of_its_own() {
    let server = delayed_embeddings(Duration::ZERO).await;
    let keyed = slo_file(&EMBEDDINGS_SLO.replace(
        "endpoint = \"/v1/embeddings\"",
        "endpoint = \"/v1/embeddings\"\nidempotency_key = true",
    ));
    let plain = slo_file(EMBEDDINGS_SLO);
    let target = format!("{}/v1", server.uri());
    for slo in [keyed.as_str().to_owned(), plain.as_str().to_owned()] {
        let target = target.clone();
        let out = tokio::task::spawn_blocking(move || {
            conformance(&[
                "latency",
                "--target",
                &target,
                "--api-key",
                "k",
                "--slo",
                &slo,
                "--concurrency",
                "4",
                "--requests",
                "20",
                "--warmup",
                "0s",
                "--no-reports",
            ])
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let received = server.received_requests().await.unwrap_or_default();
    let keys: Vec<Option<String>> = received
        .iter()
        .map(|r| {
            r.headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect();
    // The keyed run: its preflight (no key) and 20 keyed requests, every key new; then the
    // plain run: 21 requests without one.
    assert_eq!(keys.len(), 42, "{keys:?}");
    let (first, second) = keys.split_at(21);
    let sent: std::collections::HashSet<&String> = first.iter().flatten().collect();
    assert_eq!(first.iter().flatten().count(), 20, "{first:?}");
    assert_eq!(sent.len(), 20, "a key was sent twice: {first:?}");
    assert!(second.iter().all(Option::is_none), "{second:?}");
}
