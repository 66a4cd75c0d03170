//! The facade's public probes: liveness, readiness, metrics and the OpenAPI document.

use super::*;
use crate::openapi::conform::{Body, Conformity, Observed};
use crate::target::Exchange;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "health.live",
            Facade,
            "GET /healthz and /health answer 200 without credentials",
            live
        ),
        check!(
            "health.ready",
            Facade,
            "GET /readyz answers 200, reports each dependency it checks, and checks anew on every call",
            ready
        ),
        check!(
            "metrics.exposition",
            Facade,
            "GET /metrics is Prometheus text with request counters and latency histograms",
            metrics
        ),
        check!(
            "metrics.counts-requests",
            Facade,
            "http_requests_total for /v1/models grows by at least the requests this check sends",
            counts_requests
        ),
        check!(
            "openapi.document",
            Facade,
            "GET /openapi.json is an OpenAPI 3.x document with servers and x-service-version",
            openapi
        ),
        check!(
            "openapi.valid",
            OpenaiCore,
            "The target's /openapi.json, when it serves one, passes structural validation",
            openapi_valid,
            unscored
        ),
        Check {
            adapt: Some(responses_match_subject),
            ..check!(
                "openapi.responses-match",
                OpenaiCore,
                "Answers to this run's requests are as the target's /openapi.json documents them: status, media type, body schema (each streamed event), required headers",
                openapi_responses_match,
                unscored
            )
        },
    ]
}

/// Judged by the target's own document, the check is about its self-description (not
/// scored); judged by a given document (OpenAI's), it is about compatibility (scored).
fn responses_match_subject(options: &CheckOptions, _: Profile) -> (String, bool) {
    match &options.openapi {
        Some(doc) => (
            format!("Answers to this run's requests are as {} documents them: status, media type, body schema (each streamed event), required headers", doc.0),
            true,
        ),
        None => (
            "Answers to this run's requests are as the target's own /openapi.json documents them: status, media type, body schema (each streamed event), required headers".into(),
            false,
        ),
    }
}

async fn live(ctx: &Ctx) -> Verdict {
    for path in ["/healthz", "/health"] {
        let ex = ctx
            .send(Req::get(path).auth(crate::target::Auth::None))
            .await?;
        expect_status(&ex, 200)?;
    }
    pass()
}

async fn ready(ctx: &Ctx) -> Verdict {
    let probe = || ctx.send(Req::get("/readyz").auth(crate::target::Auth::None));
    let ex = probe().await?;
    let body = expect_ok_json(&ex)?;
    let checks = body["checks"].as_object();
    ensure(
        checks.is_some_and(|c| !c.is_empty()),
        "a \"checks\" object naming each dependency",
        show(&body),
        &ex,
    )?;
    // A readiness that cannot say no is a constant: ask twice and require fresh checks.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let again = probe().await?;
    let later = expect_ok_json(&again)?;
    let at = |v: &Value| {
        v["checked_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    };
    ensure(
        matches!((at(&body), at(&later)), (Some(a), Some(b)) if b > a),
        "a checked_at (RFC 3339) that moves forward between two calls: checks that run, not a canned answer",
        format!("{} then {}", show(&body["checked_at"]), show(&later["checked_at"])),
        &again,
    )?;
    pass_with(crate::text::plural(
        checks.map_or(0, |c| c.len()),
        "dependency",
        "dependencies",
    ))
}

/// Problems with a Prometheus text exposition (a line-level reading of the format).
pub fn exposition_problems(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut typed = std::collections::HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                typed.insert(name.to_owned(), kind.to_owned());
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = match line.rsplit_once(' ') {
            Some(pair) => pair,
            None => {
                problems.push(format!("line {}: no value: {line:?}", n + 1));
                continue;
            }
        };
        let name = series.split('{').next().unwrap_or("");
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if !name_ok || (series.contains('{') && !series.ends_with('}')) {
            problems.push(format!("line {}: bad series {series:?}", n + 1));
        }
        if value.parse::<f64>().is_err() && !["+Inf", "-Inf", "NaN"].contains(&value) {
            problems.push(format!("line {}: bad value {value:?}", n + 1));
        }
    }
    if !typed.values().any(|k| k == "counter") {
        problems.push("no counter metric".into());
    }
    if !typed.values().any(|k| k == "histogram") {
        problems.push("no histogram metric".into());
    }
    problems
}

async fn metrics(ctx: &Ctx) -> Verdict {
    let ex = ctx
        .send(Req::get("/metrics").auth(crate::target::Auth::None))
        .await?;
    expect_status(&ex, 200)?;
    expect_media_type(&ex, "text/plain")
        .map_err(|p| p.hint("Prometheus text format is text/plain"))?;
    let text = String::from_utf8_lossy(&ex.body);
    let problems = exposition_problems(&text);
    ensure(
        problems.is_empty(),
        "valid Prometheus text exposition",
        problems.join("; "),
        &ex,
    )?;
    pass()
}

/// The sum of `http_requests_total` series whose route label is `route`.
pub fn requests_for(text: &str, route: &str) -> Option<f64> {
    let label = format!("route=\"{route}\"");
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("http_requests_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

async fn scrape(ctx: &Ctx) -> Result<(Exchange, String), Problem> {
    let ex = ctx
        .send(Req::get("/metrics").auth(crate::target::Auth::None))
        .await?;
    expect_status(&ex, 200)?;
    let text = String::from_utf8_lossy(&ex.body).into_owned();
    Ok((ex, text))
}

async fn counts_requests(ctx: &Ctx) -> Verdict {
    // Make sure the series exists, then count three more requests.
    ctx.send(Req::get("/v1/models")).await?;
    let (_, before) = scrape(ctx).await?;
    for _ in 0..3 {
        ctx.send(Req::get("/v1/models")).await?;
    }
    let (ex, after) = scrape(ctx).await?;
    let (Some(b), Some(a)) = (
        requests_for(&before, "/v1/models"),
        requests_for(&after, "/v1/models"),
    ) else {
        return Err(fail(
            "http_requests_total{route=\"/v1/models\",...} series",
            "no such series",
        )
        .at(&ex.request));
    };
    ensure(
        a - b >= 3.0,
        "the counter to grow by at least 3",
        format!("{b} -> {a}"),
        &ex,
    )?;
    pass_with(format!("{b} -> {a}"))
}

async fn openapi(ctx: &Ctx) -> Verdict {
    let ex = ctx
        .send(Req::get("/openapi.json").auth(crate::target::Auth::None))
        .await?;
    let doc = expect_ok_json(&ex)?;
    let version = doc["openapi"].as_str().unwrap_or("");
    ensure(
        version.starts_with("3."),
        "openapi: 3.x",
        show(&doc["openapi"]),
        &ex,
    )?;
    ensure(
        doc["paths"]
            .as_object()
            .is_some_and(|p| p.contains_key("/v1/models")),
        "paths including /v1/models",
        "no such path",
        &ex,
    )?;
    ensure(
        doc["servers"].as_array().is_some_and(|s| !s.is_empty()),
        "a non-empty servers list",
        show(&doc["servers"]),
        &ex,
    )?;
    ensure(
        doc["info"]["x-service-version"].is_string(),
        "info.x-service-version",
        show(&doc["info"]),
        &ex,
    )?;
    pass()
}

async fn openapi_valid(ctx: &Ctx) -> Verdict {
    let ex = ctx
        .send(Req::get("/openapi.json").auth(crate::target::Auth::None))
        .await?;
    if ex.status == 404 {
        return Err(skip("the target serves no /openapi.json"));
    }
    let doc = expect_ok_json(&ex)?;
    let findings = crate::openapi::validate(&doc);
    let shown: Vec<String> = findings
        .iter()
        .take(5)
        .map(|f| format!("#{}: {}", f.pointer, f.message))
        .collect();
    ensure(
        findings.is_empty(),
        "a structurally valid OpenAPI document",
        format!("{} problems: {}", findings.len(), shown.join("; ")),
        &ex,
    )?;
    pass_with(format!(
        "{} paths",
        doc["paths"].as_object().map_or(0, |p| p.len())
    ))
}

/// The requests `openapi.responses-match` compares, each with the path it was sent to.
async fn sample_exchanges(ctx: &Ctx) -> Vec<(String, Exchange, Option<Vec<String>>)> {
    let mut out = Vec::new();
    let mut plain = |path: &str, ex: Result<Exchange, Problem>| {
        if let Ok(ex) = ex {
            out.push((path.to_owned(), ex, None));
        }
    };
    plain("/v1/models", ctx.send(Req::get("/v1/models")).await);
    // Errors are answers too: one without credentials, one for a malformed body.
    plain(
        "/v1/models",
        ctx.send(Req::get("/v1/models").auth(crate::target::Auth::None))
            .await,
    );
    let missing = "/v1/models/conformance-no-such-model";
    plain(missing, ctx.send(Req::get(missing)).await);
    if let Ok(model) = ctx.chat_model() {
        let path = format!("/v1/models/{model}");
        plain(&path, ctx.send(Req::get(path.clone())).await);
        plain("/v1/chat/completions", ctx.chat_plain().await);
        let unknown = json!({"model": "conformance-no-such-model", "messages": [{"role": "user", "content": "hi"}]});
        plain(
            "/v1/chat/completions",
            ctx.send(Req::post("/v1/chat/completions", &unknown)).await,
        );
        let created = ctx.responses_plain().await;
        if let Some(id) = created
            .as_ref()
            .ok()
            .and_then(|ex| ex.json().ok())
            .and_then(|v| v["id"].as_str().map(str::to_owned))
        {
            for path in [
                format!("/v1/responses/{id}"),
                format!("/v1/responses/{id}/input_items"),
            ] {
                plain(&path, ctx.send(Req::get(path.clone())).await);
            }
        }
        plain("/v1/responses", created);
    }
    if let Ok(model) = ctx.embedding_model() {
        let body = json!({"model": model, "input": "conformance", "encoding_format": "float"});
        plain(
            "/v1/embeddings",
            ctx.send(Req::post("/v1/embeddings", &body)).await,
        );
        let empty = json!({"model": model, "input": ""});
        plain(
            "/v1/embeddings",
            ctx.send(Req::post("/v1/embeddings", &empty)).await,
        );
    }
    for (path, stream) in [
        ("/v1/chat/completions", ctx.chat_stream().await),
        ("/v1/responses", ctx.responses_stream().await),
    ] {
        if let Ok(s) = stream {
            let data = s.events.iter().map(|e| e.data.clone()).collect();
            out.push((path.to_owned(), s.exchange.clone(), Some(data)));
        }
    }
    out
}

async fn openapi_responses_match(ctx: &Ctx) -> Verdict {
    let fetched;
    let (source, doc): (&str, &Value) = match &ctx.options.openapi {
        Some(given) => (&given.0, &given.1),
        None => {
            let ex = ctx
                .send(Req::get("/openapi.json").auth(crate::target::Auth::None))
                .await?;
            if ex.status == 404 {
                return Err(skip("the target serves no /openapi.json"));
            }
            fetched = expect_ok_json(&ex)?;
            ("the target's /openapi.json", &fetched)
        }
    };
    let mut conformance = crate::openapi::Conformance::new(doc);
    let (mut checked, mut undocumented) = (0, 0);
    let mut problems: Vec<String> = Vec::new();
    let mut first_request = None;
    for (path, ex, events) in sample_exchanges(ctx).await {
        let json = ex.json().ok();
        let media = ex.media_type();
        let body = match (&events, &json) {
            (Some(data), _) if media == "text/event-stream" => {
                Body::Events(data.iter().map(String::as_str).collect())
            }
            (_, Some(v)) => Body::Json(v),
            _ => Body::Other,
        };
        let seen = Observed {
            method: &ex.request.method,
            path: &path,
            status: ex.status,
            headers: &ex.headers,
            media_type: &media,
            body,
        };
        match conformance.check(&seen) {
            Conformity::Undocumented => undocumented += 1,
            Conformity::Checked(found) => {
                checked += 1;
                if first_request.is_none() && !found.is_empty() {
                    first_request = Some(ex.request.clone());
                }
                problems.extend(found);
            }
        }
    }
    if checked == 0 {
        return Err(skip(
            "the target's document describes none of the requests this check sends",
        ));
    }
    if let Some(request) = first_request {
        return Err(fail(
            format!("answers as {source} documents them"),
            summarise(problems.iter().map(String::as_str)),
        )
        .at(&request));
    }
    pass_with(format!(
        "{checked} answers match {source}; {undocumented} requests undocumented"
    ))
}

/// Problems with repeats folded: the same fault in every event of a stream is one line.
fn summarise<'a>(problems: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut total = 0;
    for p in problems {
        total += 1;
        // "POST /v1/x 200 event 7: ..." and "... event 8: ..." are the same fault.
        let key = match p.split_once(" event ") {
            Some((head, rest)) => {
                let tail = rest.trim_start_matches(|c: char| c.is_ascii_digit());
                format!("{head} events{tail}")
            }
            None => p.to_owned(),
        };
        match seen.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => seen.push((key, 1)),
        }
    }
    let shown: Vec<String> = seen
        .iter()
        .take(8)
        .map(|(k, n)| {
            if *n > 1 {
                format!("{k} (x{n})")
            } else {
                k.clone()
            }
        })
        .collect();
    let more = seen.len().saturating_sub(8);
    format!(
        "{total} problems, {} distinct: {}{}",
        seen.len(),
        shown.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_small_valid_exposition() {
        let text = "# TYPE a_total counter\na_total{x=\"1\"} 3\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n";
        assert!(exposition_problems(text).is_empty());
    }

    #[test]
    fn repeated_stream_problems_are_folded() {
        let s = summarise(
            [
                "POST /c 200 event 1: null at /x",
                "POST /c 200 event 12: null at /x",
                "GET /m 404: status 404 is not documented",
            ]
            .into_iter(),
        );
        assert_eq!(
            s,
            "3 problems, 2 distinct: POST /c 200 events: null at /x (x2); GET /m 404: status 404 is not documented"
        );
    }

    #[test]
    fn rejects_html() {
        assert!(!exposition_problems("<html>oops</html>").is_empty());
    }
}
