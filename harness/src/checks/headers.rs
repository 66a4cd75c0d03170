//! Response headers: content types, request ids, trace ids, processing time, security.

use super::*;
use crate::target::Auth;

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            adapt: Some(no_redirect_subject),
            ..check!(
                "headers.no-redirect",
                OpenaiCore,
                "GET /v1/models is answered where it was asked, without a redirect (OpenAI's API does not redirect; a redirect to another origin is not followed, so the key stays with the target)",
                no_redirect,
                unscored
            )
        },
        check!(
            "headers.content-type.json",
            OpenaiCore,
            "JSON endpoints answer with Content-Type: application/json",
            content_type_json
        ),
        check!(
            "headers.request-id.present",
            OpenaiCore,
            "Every response carries an x-request-id (the SDKs expose it)",
            request_id_present
        ),
        check!(
            "headers.request-id.echo",
            Facade,
            "A caller's X-Request-Id is echoed back",
            request_id_echo
        ),
        check!(
            "headers.request-id.on-errors",
            Facade,
            "Errors and unknown routes carry x-request-id and x-trace-id too",
            ids_on_errors
        ),
        check!(
            "headers.trace-id.traceparent",
            Facade,
            "X-Trace-Id carries the trace id of a W3C traceparent",
            trace_id
        ),
        check!(
            "headers.processing-ms",
            Facade,
            "openai-processing-ms is an integer number of milliseconds",
            processing_ms
        ),
        check!(
            "headers.security",
            Facade,
            "X-Content-Type-Options: nosniff on every response",
            security
        ),
    ]
}

async fn content_type_json(ctx: &Ctx) -> Verdict {
    let mut exchanges = vec![ctx.send(Req::get("/v1/models")).await?];
    if ctx.chat_model.is_some() {
        exchanges.push(ctx.chat_plain().await?);
        exchanges.push(ctx.responses_plain().await?);
    }
    if let Some(model) = &ctx.embedding_model {
        exchanges.push(
            ctx.send(Req::post(
                "/v1/embeddings",
                &json!({"model": model, "input": "content type"}),
            ))
            .await?,
        );
    }
    for ex in &exchanges {
        expect_status(ex, 200)?;
        expect_media_type(ex, "application/json").map_err(|p| {
            p.hint("the official Node SDK returns non-JSON media types as plain strings")
        })?;
    }
    pass()
}

async fn request_id_present(ctx: &Ctx) -> Verdict {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let ex = ctx.send(Req::get("/v1/models")).await?;
        let id = ex.header("x-request-id").unwrap_or("");
        ensure(!id.is_empty(), "an x-request-id header", "none", &ex)?;
        ensure(
            seen.insert(id.to_owned()),
            "a new x-request-id per request",
            format!("{id} repeated"),
            &ex,
        )?;
    }
    pass()
}

async fn request_id_echo(ctx: &Ctx) -> Verdict {
    let ex = ctx
        .send(Req::get("/v1/models").header("x-request-id", "conformance-req-7f3a"))
        .await?;
    ensure(
        ex.header("x-request-id") == Some("conformance-req-7f3a"),
        "x-request-id: conformance-req-7f3a",
        format!("{:?}", ex.header("x-request-id")),
        &ex,
    )?;
    pass()
}

async fn ids_on_errors(ctx: &Ctx) -> Verdict {
    for req in [
        Req::get("/v1/conformance-no-such-route"),
        Req::get("/v1/models").auth(Auth::None),
    ] {
        let ex = ctx.send(req).await?;
        for h in ["x-request-id", "x-trace-id"] {
            ensure(
                ex.header(h).is_some_and(|v| !v.is_empty()),
                format!("{h} on an HTTP {} error", ex.status),
                "missing",
                &ex,
            )?;
        }
    }
    pass()
}

async fn trace_id(ctx: &Ctx) -> Verdict {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let ex = ctx
        .send(
            Req::get("/v1/models")
                .header("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
        )
        .await?;
    ensure(
        ex.header("x-trace-id") == Some(trace),
        format!("x-trace-id: {trace}"),
        format!("{:?}", ex.header("x-trace-id")),
        &ex,
    )?;
    pass()
}

async fn processing_ms(ctx: &Ctx) -> Verdict {
    let ex = ctx.send(Req::get("/v1/models")).await?;
    let v = ex.header("openai-processing-ms");
    ensure(
        v.is_some_and(|v| v.parse::<u64>().is_ok()),
        "openai-processing-ms: <integer>",
        format!("{v:?}"),
        &ex,
    )?;
    pass()
}

async fn security(ctx: &Ctx) -> Verdict {
    for req in [
        Req::get("/v1/models"),
        Req::get("/v1/conformance-no-such-route"),
        Req::get("/healthz"),
    ] {
        let ex = ctx.send(req).await?;
        ensure(
            ex.header("x-content-type-options") == Some("nosniff"),
            "X-Content-Type-Options: nosniff",
            format!("{:?}", ex.header("x-content-type-options")),
            &ex,
        )?;
    }
    pass()
}

/// Informational for any OpenAI-compatible server (OpenAI's documents promise no absence of
/// redirects); the facade promises it, so a facade run scores it.
fn no_redirect_subject(_: &CheckOptions, profile: Profile) -> (String, bool) {
    (
        "GET /v1/models is answered where it was asked, without a redirect (OpenAI's API does not redirect; a redirect to another origin is not followed, so the key stays with the target)".into(),
        profile >= Profile::Facade,
    )
}

async fn no_redirect(ctx: &Ctx) -> Verdict {
    let ex = ctx.send(Req::get("/v1/models")).await?;
    if let Some(redirect) = &ex.request.redirect {
        return Err(fail(
            format!("an answer at {} itself", ex.request.url),
            format!("redirect: {redirect}"),
        )
        .at(&ex.request)
        .hint("point --target at the URL the API answers at, or stop redirecting the API root"));
    }
    pass()
}
