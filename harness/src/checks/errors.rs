//! Negative cases: every error is the envelope, with the right status.

use super::*;
use crate::target::Auth;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "errors.missing-key.401",
            OpenaiCore,
            "A request without credentials gets 401 in the envelope (targets with auth)",
            missing_key
        ),
        check!(
            "errors.bad-key.401",
            OpenaiCore,
            "An unknown key gets 401 invalid_api_key (targets with strict auth)",
            bad_key
        ),
        check!(
            "errors.malformed-json.400",
            OpenaiCore,
            "A body that is not JSON gets 400 in the envelope, never a 5xx",
            malformed_json
        ),
        check!(
            "errors.wrong-type.400",
            OpenaiCore,
            "A parameter of the wrong type gets 400 in the envelope",
            wrong_type
        ),
        check!(
            "errors.unknown-model.refused",
            OpenaiCore,
            "A completion for an unknown model is refused with a 4xx in the envelope, never answered or a 5xx",
            unknown_model_refused
        ),
        check!(
            "errors.unknown-model.404",
            Facade,
            "A completion for an unknown model gets 404 model_not_found, as OpenAI answers (its document promises no status)",
            unknown_model
        ),
        check!(
            "errors.unknown-route.404",
            OpenaiCore,
            "An unknown /v1 route gets 404 in the envelope",
            unknown_route
        ),
        check!(
            "errors.oversized-body.413",
            Facade,
            "A body over the server's limit gets 413 in the envelope",
            oversized
        ),
        check!(
            "errors.unsupported-media-type.415",
            Facade,
            "A non-JSON content type on a JSON route gets 415 in the envelope",
            media_type
        ),
        check!(
            "errors.deep-nesting.400",
            Facade,
            "JSON nested 10,000 levels deep gets 400 in the envelope, never a crash",
            deep_nesting
        ),
    ]
}

async fn missing_key(ctx: &Ctx) -> Verdict {
    let ex = ctx.send(Req::get("/v1/models").auth(Auth::None)).await?;
    // As for an unknown key: a target without any auth is not wrong, only not checked.
    if ex.status == 200 && !(ctx.options.expect_auth || ctx.options.expect_strict_auth) {
        return Err(skip("the target answers without credentials (no auth); pass --expect-auth (or --expect-strict-auth) to require 401"));
    }
    expect_envelope(ctx, &ex, &[401])?;
    pass()
}

async fn bad_key(ctx: &Ctx) -> Verdict {
    let ex = ctx
        .send(Req::get("/v1/models").auth(Auth::Key("sk-conformance-invalid-key-000000".into())))
        .await?;
    if ex.status == 200 && !ctx.options.expect_strict_auth {
        return Err(skip("the target accepts any key (permissive auth); pass --expect-strict-auth to require 401"));
    }
    let body = expect_envelope(ctx, &ex, &[401])?;
    ensure(
        body["error"]["code"] == "invalid_api_key",
        "error.code \"invalid_api_key\"",
        show(&body["error"]["code"]),
        &ex,
    )?;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    ensure(
        !message.contains("sk-conformance-invalid-key-000000"),
        "the key masked in the message",
        message,
        &ex,
    )?;
    pass()
}

async fn malformed_json(ctx: &Ctx) -> Verdict {
    let ex = ctx
        .send(
            Req::new(http::Method::POST, "/v1/chat/completions")
                .raw("{\"model\": \"x\", \"messages\": [", "application/json"),
        )
        .await?;
    expect_envelope(ctx, &ex, &[400])?;
    pass()
}

async fn wrong_type(ctx: &Ctx) -> Verdict {
    let body = json!({"model": ctx.chat_model()?, "messages": "this should be an array"});
    let ex = ctx.send(Req::post("/v1/chat/completions", &body)).await?;
    expect_envelope(ctx, &ex, &[400, 422])?;
    pass()
}

async fn unknown_model_refused(ctx: &Ctx) -> Verdict {
    let body = json!({"model": "conformance-no-such-model", "messages": [{"role": "user", "content": "hi"}]});
    let ex = ctx.send(Req::post("/v1/chat/completions", &body)).await?;
    // OpenAI answers 404; gateways often say 400. Both refuse; a completion does not.
    expect_envelope(ctx, &ex, &[400, 404, 422])?;
    pass_with(format!("HTTP {}", ex.status))
}

async fn unknown_model(ctx: &Ctx) -> Verdict {
    let body = json!({"model": "conformance-no-such-model", "messages": [{"role": "user", "content": "hi"}]});
    let ex = ctx.send(Req::post("/v1/chat/completions", &body)).await?;
    let err = expect_envelope(ctx, &ex, &[404])?;
    ensure(
        err["error"]["code"] == "model_not_found",
        "error.code \"model_not_found\"",
        show(&err["error"]["code"]),
        &ex,
    )?;
    pass()
}

async fn unknown_route(ctx: &Ctx) -> Verdict {
    let ex = ctx.send(Req::get("/v1/conformance-no-such-route")).await?;
    expect_envelope(ctx, &ex, &[404])?;
    pass()
}

async fn oversized(ctx: &Ctx) -> Verdict {
    let filler = "x".repeat(ctx.options.oversized_bytes);
    let body =
        json!({"model": ctx.embedding_model().or_else(|_| ctx.chat_model())?, "input": filler});
    let ex = ctx.send(Req::post("/v1/embeddings", &body)).await.map_err(|p| {
        p.hint("the server closed the connection while the body was still being sent; read (drain) the rest of an oversized body before answering 413, so clients see the envelope")
    })?;
    expect_envelope(ctx, &ex, &[413])?;
    pass()
}

async fn media_type(ctx: &Ctx) -> Verdict {
    let body = ctx.chat_body(false)?.to_string();
    let ex = ctx
        .send(Req::new(http::Method::POST, "/v1/chat/completions").raw(body, "text/plain"))
        .await?;
    expect_envelope(ctx, &ex, &[415])?;
    pass()
}

async fn deep_nesting(ctx: &Ctx) -> Verdict {
    let depth = 10_000;
    let body = format!(
        "{{\"model\":\"{}\",\"input\":{}\"x\"{}}}",
        ctx.chat_model()?,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let ex = ctx
        .send(Req::new(http::Method::POST, "/v1/responses").raw(body, "application/json"))
        .await?;
    expect_envelope(ctx, &ex, &[400, 413])?;
    pass()
}
