//! `/v1/models`.

use super::*;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "models.list.schema",
            OpenaiCore,
            "GET /v1/models returns a ListModelsResponse",
            list_schema
        ),
        check!(
            "models.retrieve",
            OpenaiCore,
            "GET /v1/models/{id} returns the listed model",
            retrieve
        ),
        check!(
            "models.unknown.404",
            OpenaiCore,
            "An unknown model id gives 404 model_not_found in the envelope",
            unknown
        ),
    ]
}

async fn list(ctx: &Ctx) -> Result<(Exchange, Value), Problem> {
    let ex = ctx.send(Req::get("/v1/models")).await?;
    let body = expect_ok_json(&ex)?;
    Ok((ex, body))
}

async fn list_schema(ctx: &Ctx) -> Verdict {
    let (ex, body) = list(ctx).await?;
    ctx.schema("model-list", &body, &ex)?;
    let n = body["data"].as_array().map_or(0, Vec::len);
    ensure(n > 0, "at least one model in data", "an empty list", &ex)?;
    pass_with(format!("{n} models"))
}

async fn retrieve(ctx: &Ctx) -> Verdict {
    let (list_ex, body) = list(ctx).await.map_err(Problem::into_precondition)?;
    let Some(id) = body["data"][0]["id"].as_str() else {
        return Err(
            precondition("a listed model id to retrieve", show(&body["data"])).at(&list_ex.request),
        );
    };
    let ex = ctx.send(Req::get(format!("/v1/models/{id}"))).await?;
    let model = expect_ok_json(&ex)?;
    ctx.schema("model", &model, &ex)?;
    ensure(
        model["id"] == id,
        format!("id {id:?}"),
        format!("id {}", show(&model["id"])),
        &ex,
    )?;
    pass()
}

async fn unknown(ctx: &Ctx) -> Verdict {
    let ex = ctx
        .send(Req::get("/v1/models/conformance-no-such-model"))
        .await?;
    let body = expect_envelope(ctx, &ex, &[404])?;
    ensure(
        body["error"]["code"] == "model_not_found",
        "error.code \"model_not_found\"",
        format!("error.code {}", show(&body["error"]["code"])),
        &ex,
    )?;
    pass()
}
