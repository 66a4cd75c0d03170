//! The facade's public probes: liveness, readiness, metrics and the OpenAPI document.

use super::*;

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
            "GET /readyz answers 200 and reports each dependency it checks",
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
            openapi_valid
        ),
    ]
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
    let ex = ctx
        .send(Req::get("/readyz").auth(crate::target::Auth::None))
        .await?;
    let body = expect_ok_json(&ex)?;
    let checks = body["checks"].as_object();
    ensure(
        checks.is_some_and(|c| !c.is_empty()),
        "a \"checks\" object naming each dependency",
        show(&body),
        &ex,
    )?;
    pass_with(format!("{} dependencies", checks.map_or(0, |c| c.len())))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_small_valid_exposition() {
        let text = "# TYPE a_total counter\na_total{x=\"1\"} 3\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n";
        assert!(exposition_problems(text).is_empty());
    }

    #[test]
    fn rejects_html() {
        assert!(!exposition_problems("<html>oops</html>").is_empty());
    }
}
