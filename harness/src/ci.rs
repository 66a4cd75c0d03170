//! Reports in someone else's CI: one pull-request comment per report kind, kept up to date.
//!
//! The comment carries a hidden marker (`<!-- conformance-kit:KIND -->`): the first run
//! creates it, later runs edit it, so a pull request gets one comment however often the job
//! runs. Everything comes from the variables GitHub Actions sets (`GITHUB_API_URL`,
//! `GITHUB_REPOSITORY`, `GITHUB_EVENT_PATH`); the token is sent in a header only, and no
//! message of ours ever contains it.

use crate::error::HarnessError;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// GitHub's largest comment body (characters).
const MAX_BODY: usize = 65_536;
/// Most comments read to find ours (100 per page).
const MAX_PAGES: usize = 30;

/// Where to comment, from a job's environment.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// `https://api.github.com` (or an Enterprise server's API root).
    pub api: String,
    /// `owner/name`.
    pub repository: String,
    /// The pull request's number.
    pub number: u64,
}

impl PullRequest {
    /// The pull request of this job (`vars` as `std::env::vars()` gives them), `Ok(None)` when
    /// the job does not run for one (a push, a schedule).
    pub fn from_env(
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Option<Self>, HarnessError> {
        let vars: std::collections::HashMap<String, String> = vars.into_iter().collect();
        let get = |name: &str| vars.get(name).filter(|v| !v.is_empty()).cloned();
        let Some(event_path) = get("GITHUB_EVENT_PATH") else {
            return Ok(None);
        };
        let event: Value = std::fs::read(&event_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                HarnessError::Usage(format!(
                    "GITHUB_EVENT_PATH={event_path} is not a readable JSON event"
                ))
            })?;
        let number = event["pull_request"]["number"].as_u64().or_else(|| {
            event["issue"]["pull_request"]
                .is_object()
                .then(|| event["issue"]["number"].as_u64())
                .flatten()
        });
        let Some(number) = number else {
            return Ok(None);
        };
        let repository = get("GITHUB_REPOSITORY").ok_or_else(|| {
            HarnessError::Usage("GITHUB_REPOSITORY is not set (owner/name)".into())
        })?;
        Ok(Some(Self {
            api: get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            repository,
            number,
        }))
    }
}

/// What was done with the comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commented {
    /// A new comment, with its id.
    Created(u64),
    /// The marked comment, edited.
    Updated(u64),
}

/// The marker of `kind`'s comment.
fn marker(kind: &str) -> String {
    format!("<!-- conformance-kit:{kind} -->")
}

/// The comment's body: the marker, then `markdown` (cut to fit GitHub's limit, saying so).
pub fn body(kind: &str, markdown: &str) -> String {
    let head = marker(kind);
    let note = "\n\n… (cut to fit a comment; the whole report is in the job's artifacts)";
    let room = MAX_BODY - head.len() - 1 - note.len();
    if markdown.chars().count() <= room {
        return format!("{head}\n{markdown}");
    }
    let cut: String = markdown.chars().take(room).collect();
    format!("{head}\n{cut}{note}")
}

/// Creates or edits the pull request's comment of `kind` with `markdown`, authenticated by
/// `token`.
pub async fn comment(
    pr: &PullRequest,
    token: &str,
    kind: &str,
    markdown: &str,
) -> Result<Commented, HarnessError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("conformance-kit/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HarnessError::Usage(format!("cannot make an HTTP client: {e}")))?;
    let api = pr.api.trim_end_matches('/');
    let repo = &pr.repository;
    let send = |request: reqwest::RequestBuilder| {
        request
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28")
            .send()
    };
    let wanted = marker(kind);
    let mut found = None;
    for page in 1..=MAX_PAGES {
        let url = format!(
            "{api}/repos/{repo}/issues/{}/comments?per_page=100&page={page}",
            pr.number
        );
        let comments = read(send(client.get(&url)).await, "list the comments").await?;
        let Some(comments) = comments.as_array() else {
            return Err(failed("list the comments", "the answer is not a list"));
        };
        found = comments
            .iter()
            .find(|c| c["body"].as_str().is_some_and(|b| b.starts_with(&wanted)))
            .and_then(|c| c["id"].as_u64());
        if found.is_some() || comments.len() < 100 {
            break;
        }
    }
    let body = json!({ "body": body(kind, markdown) });
    match found {
        Some(id) => {
            let url = format!("{api}/repos/{repo}/issues/comments/{id}");
            read(
                send(client.patch(&url).json(&body)).await,
                "edit the comment",
            )
            .await?;
            Ok(Commented::Updated(id))
        }
        None => {
            let url = format!("{api}/repos/{repo}/issues/{}/comments", pr.number);
            let made = read(
                send(client.post(&url).json(&body)).await,
                "create the comment",
            )
            .await?;
            Ok(Commented::Created(made["id"].as_u64().unwrap_or_default()))
        }
    }
}

fn failed(what: &str, why: &str) -> HarnessError {
    HarnessError::Usage(format!("GitHub: cannot {what}: {why}"))
}

/// The JSON of a GitHub answer, or what went wrong (the status and GitHub's own message; never
/// the request, which holds the token).
async fn read(
    sent: Result<reqwest::Response, reqwest::Error>,
    what: &str,
) -> Result<Value, HarnessError> {
    let response = sent.map_err(|e| failed(what, &e.without_url().to_string()))?;
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| failed(what, &e.without_url().to_string()))?;
    let text = &bytes[..bytes.len().min(1 << 20)];
    if !status.is_success() {
        let message = serde_json::from_slice::<Value>(text)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let hint = match status.as_u16() {
            401 => " (the token is not valid)",
            403 | 404 => {
                " (the token may lack `pull-requests: write`, or the repository is not the token's)"
            }
            _ => "",
        };
        return Err(failed(
            what,
            &format!("HTTP {} {message}{hint}", status.as_u16()),
        ));
    }
    serde_json::from_slice(text).map_err(|e| failed(what, &format!("the answer is not JSON: {e}")))
}

/// The Markdown report of a run directory: `report.md`, `eval.md`, `latency.md` or
/// `compare.md`, with the kind it names (`run`, `eval`, `latency`, `compare`).
pub fn markdown_report(dir: &Path) -> Result<(&'static str, String), HarnessError> {
    for (kind, file) in [
        ("run", "report.md"),
        ("eval", "eval.md"),
        ("latency", "latency.md"),
        ("compare", "compare.md"),
    ] {
        let path = dir.join(file);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| HarnessError::Io {
                context: format!("cannot read {}", path.display()),
                source: e,
            })?;
            return Ok((kind, text));
        }
    }
    Err(HarnessError::Usage(format!(
        "{}: no report.md, eval.md, latency.md or compare.md (write one with --report md, the default)",
        dir.display()
    )))
}

/// A run directory's headline, as a CI step's outputs: `kind`, `passed`, and the figure of
/// its kind: `score` (run: the widest profile's), `accuracy` (eval: overall), `p95-ms` (latency:
/// the slowest scenario's; compare: the lowest accuracy of its targets).
pub fn outputs(dir: &Path) -> Result<Vec<(&'static str, String)>, HarnessError> {
    let read = |file: &str| -> Option<Value> {
        let bytes = std::fs::read(dir.join(file)).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let figure = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v}"));
    if let Some(report) = read("report.json") {
        let checks = report["checks"].as_array().cloned().unwrap_or_default();
        let passed = !checks.is_empty()
            && !checks
                .iter()
                .any(|c| matches!(c["status"].as_str(), Some("failed" | "errored")));
        let score = report["profiles"]
            .as_array()
            .and_then(|p| p.iter().rev().find_map(|p| p["score"].as_f64()));
        return Ok(vec![
            ("kind", "run".into()),
            ("passed", passed.to_string()),
            ("score", figure(score)),
        ]);
    }
    if let Some(report) = read("eval.json") {
        return Ok(vec![
            ("kind", "eval".into()),
            ("passed", (report["passed"] == true).to_string()),
            ("accuracy", figure(report["overall"]["accuracy"].as_f64())),
        ]);
    }
    if let Some(report) = read("latency.json") {
        let p95 = report["scenarios"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["latency"]["p95_ms"].as_f64())
            .fold(None, |worst: Option<f64>, v| {
                Some(worst.map_or(v, |w| w.max(v)))
            });
        return Ok(vec![
            ("kind", "latency".into()),
            ("passed", (report["passed"] == true).to_string()),
            ("p95-ms", figure(p95)),
        ]);
    }
    if let Some(report) = read("compare.json") {
        // The figure a gate reads: the worst target's accuracy (none if one has none).
        let accuracies: Vec<Option<f64>> = report["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| t["overall"]["accuracy"].as_f64())
            .collect();
        let lowest = accuracies
            .iter()
            .try_fold(f64::INFINITY, |low, a| a.map(|a| low.min(a)))
            .filter(|low| low.is_finite());
        return Ok(vec![
            ("kind", "compare".into()),
            ("passed", (report["passed"] == true).to_string()),
            ("accuracy", figure(lowest)),
        ]);
    }
    Err(HarnessError::Usage(format!(
        "{}: no report.json, eval.json, latency.json or compare.json (write one with --report json, the default)",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_name_the_kind_its_verdict_and_its_figure() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |file: &str, v: Value| {
            std::fs::write(dir.path().join(file), v.to_string()).unwrap_or_else(|e| panic!("{e}"))
        };
        write(
            "latency.json",
            json!({"passed": false, "scenarios": [
                {"latency": {"p95_ms": 12.5}}, {"latency": {"p95_ms": 40.0}}, {"latency": null}]}),
        );
        let got = outputs(dir.path()).unwrap_or_default();
        assert_eq!(
            got,
            vec![
                ("kind", "latency".into()),
                ("passed", "false".into()),
                ("p95-ms", "40".into())
            ]
        );
        write(
            "report.json",
            json!({"checks": [{"status": "passed"}, {"status": "skipped"}],
                   "profiles": [{"score": 1.0}, {"score": 0.5}, {"score": null}]}),
        );
        let got = outputs(dir.path()).unwrap_or_default();
        assert_eq!(
            got,
            vec![
                ("kind", "run".into()),
                ("passed", "true".into()),
                ("score", "0.5".into())
            ]
        );
        write(
            "report.json",
            json!({"checks": [{"status": "failed"}], "profiles": []}),
        );
        assert_eq!(
            outputs(dir.path()).unwrap_or_default()[1],
            ("passed", "false".into())
        );
        write("report.json", json!({"checks": [], "profiles": []}));
        assert_eq!(
            outputs(dir.path()).unwrap_or_default()[1],
            ("passed", "false".into()),
            "no check ran: nothing passed"
        );
        let compare = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let write = |v: Value| {
            std::fs::write(compare.path().join("compare.json"), v.to_string())
                .unwrap_or_else(|e| panic!("{e}"))
        };
        write(json!({"passed": true, "targets": [
            {"overall": {"accuracy": 0.9}}, {"overall": {"accuracy": 0.75}}]}));
        assert_eq!(
            outputs(compare.path()).unwrap_or_default(),
            vec![
                ("kind", "compare".into()),
                ("passed", "true".into()),
                ("accuracy", "0.75".into())
            ]
        );
        // A target with no accuracy leaves the figure empty, never the others' best.
        write(json!({"passed": false, "targets": [
            {"overall": {"accuracy": 0.9}}, {"overall": {"accuracy": null}}]}));
        assert_eq!(
            outputs(compare.path()).unwrap_or_default()[2],
            ("accuracy", String::new())
        );
    }

    #[test]
    fn a_long_report_is_cut_to_fit_and_says_so() {
        let long = "x".repeat(100_000);
        let b = body("run", &long);
        assert!(b.chars().count() <= MAX_BODY);
        assert!(b.starts_with("<!-- conformance-kit:run -->\n"));
        assert!(b.ends_with("artifacts)"));
        assert_eq!(body("eval", "ok"), "<!-- conformance-kit:eval -->\nok");
    }
}
