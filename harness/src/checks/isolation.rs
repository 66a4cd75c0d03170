//! Isolation between keys of different projects (`--second-api-key`): what the first key
//! stores, the second can neither read, continue, list nor delete, and the first key still
//! has it afterwards. OpenAI scopes stored responses and vector stores to the key's project:
//! to any other project a stored id does not exist (404).

use super::*;
use crate::target::Auth;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "isolation.responses.retrieve",
            Facade,
            "A response stored with the first key is 404 to the second key (another project)",
            retrieve
        ),
        check!(
            "isolation.responses.input-items",
            Facade,
            "The input items of a response stored with the first key are 404 to the second key",
            input_items
        ),
        check!(
            "isolation.responses.previous-response-id",
            Facade,
            "The second key cannot continue the first key's response: previous_response_id is refused as an id that exists nowhere",
            previous_response_id
        ),
        check!(
            "isolation.responses.delete",
            Facade,
            "The second key's DELETE of the first key's response is 404, and the first key still has it",
            delete
        ),
        check!(
            "isolation.indexes.list",
            Facade,
            "An index created with the first key never appears in the second key's list",
            index_list
        ),
        check!(
            "isolation.indexes.access",
            Facade,
            "The first key's index is 404 to the second key for retrieve, items, search and delete, and stays whole",
            index_access
        ),
    ]
}

/// What a failure of these checks may also mean.
const SAME_PROJECT: &str = "if --second-api-key belongs to the same project (or organisation) as --api-key, pass a key of another one";

/// The second key, or a skip saying how to give one.
fn second_key(ctx: &Ctx) -> Result<Auth, Problem> {
    ctx.options
        .second_api_key
        .as_ref()
        .map(|k| Auth::Key(k.clone()))
        .ok_or_else(|| {
            skip("pass --second-api-key (a key of another project) to check isolation between keys")
        })
}

/// The second key, once the target is seen to accept it: otherwise every 404 below could be
/// a refused key in disguise.
async fn working_second_key(ctx: &Ctx) -> Result<Auth, Problem> {
    let auth = second_key(ctx)?;
    let ex = ctx.send(Req::get("/v1/models").auth(auth.clone())).await?;
    if ex.status != 200 {
        return Err(precondition(
            "the target to accept --second-api-key (GET /v1/models answers 200)",
            format!("HTTP {}: {}", ex.status, ex.excerpt()),
        )
        .at(&ex.request));
    }
    Ok(auth)
}

/// A response stored with the first key, after making sure the first key can read it back.
async fn stored(ctx: &Ctx) -> Result<String, Problem> {
    let marker = format!("isolation-{}", uuid::Uuid::new_v4().simple());
    let body = json!({
        "model": ctx.chat_model()?,
        "input": format!("Remember this code: {marker}."),
        "store": true,
    });
    let ex = ctx.send(Req::post("/v1/responses", &body)).await?;
    let created = expect_ok_json(&ex)?;
    let id = created["id"]
        .as_str()
        .ok_or_else(|| fail("a response id", show(&created)).at(&ex.request))?
        .to_owned();
    let own = ctx.send(Req::get(format!("/v1/responses/{id}"))).await?;
    if own.status != 200 {
        return Err(precondition(
            format!("the first key to read back its stored response {id}"),
            format!("HTTP {}: {}", own.status, own.excerpt()),
        )
        .at(&own.request));
    }
    Ok(id)
}

/// Requires a 404 for the second key's request about `what`.
fn foreign_404(ex: &Exchange, what: &str) -> Result<(), Problem> {
    if ex.status == 404 {
        return Ok(());
    }
    let seen = match ex.status {
        200..=299 => format!(
            "HTTP {}: the second key reached {what}: {}",
            ex.status,
            ex.excerpt()
        ),
        403 => format!(
            "HTTP 403, which tells the second key that {what} exists: {}",
            ex.excerpt()
        ),
        _ => format!("HTTP {}: {}", ex.status, ex.excerpt()),
    };
    Err(fail(
        format!("HTTP 404 for {what}, as for an id that does not exist"),
        seen,
    )
    .at(&ex.request)
    .hint(SAME_PROJECT))
}

async fn retrieve(ctx: &Ctx) -> Verdict {
    let second = working_second_key(ctx).await?;
    let id = stored(ctx).await?;
    let ex = ctx
        .send(Req::get(format!("/v1/responses/{id}")).auth(second))
        .await?;
    foreign_404(&ex, &format!("the first key's response {id}"))?;
    pass()
}

async fn input_items(ctx: &Ctx) -> Verdict {
    let second = working_second_key(ctx).await?;
    let id = stored(ctx).await?;
    let ex = ctx
        .send(Req::get(format!("/v1/responses/{id}/input_items")).auth(second))
        .await?;
    foreign_404(
        &ex,
        &format!("the input items of the first key's response {id}"),
    )?;
    pass()
}

async fn previous_response_id(ctx: &Ctx) -> Verdict {
    let second = working_second_key(ctx).await?;
    let id = stored(ctx).await?;
    let model = ctx.chat_model()?;
    let continuing = |previous: &str| {
        let body = json!({"model": model, "input": "What code did I ask you to remember?", "previous_response_id": previous});
        Req::post("/v1/responses", &body).auth(second.clone())
    };
    // What the second key gets for an id that exists nowhere is the answer due.
    let missing = format!("resp_{}", uuid::Uuid::new_v4().simple());
    let nowhere = ctx.send(continuing(&missing)).await?;
    if !(400..500).contains(&nowhere.status) {
        return Err(precondition(
            "a previous_response_id that exists nowhere to be refused (HTTP 4xx)",
            format!("HTTP {}: {}", nowhere.status, nowhere.excerpt()),
        )
        .at(&nowhere.request));
    }
    let ex = ctx.send(continuing(&id)).await?;
    if ex.status != nowhere.status {
        let seen = if (200..300).contains(&ex.status) {
            format!(
                "HTTP {}: the second key continued the first key's response: {}",
                ex.status,
                ex.excerpt()
            )
        } else {
            format!("HTTP {}: {}", ex.status, ex.excerpt())
        };
        return Err(fail(
            format!(
                "HTTP {} for previous_response_id {id}, as for {missing}, which exists nowhere",
                nowhere.status
            ),
            seen,
        )
        .at(&ex.request)
        .hint(SAME_PROJECT));
    }
    pass()
}

async fn delete(ctx: &Ctx) -> Verdict {
    let second = working_second_key(ctx).await?;
    let id = stored(ctx).await?;
    let ex = ctx
        .send(Req::delete(format!("/v1/responses/{id}")).auth(second))
        .await?;
    foreign_404(&ex, &format!("the first key's response {id}"))?;
    let after = ctx.send(Req::get(format!("/v1/responses/{id}"))).await?;
    ensure(
        after.status == 200,
        format!("the first key still reads response {id} after the second key's DELETE"),
        format!("HTTP {}: {}", after.status, after.excerpt()),
        &after,
    )
    .map_err(|p| p.hint("the second key's DELETE answered 404 but removed the response"))?;
    pass()
}

/// The ids of the newest indexes the key sees (one page of 100), and the exchange.
async fn listed(ctx: &Ctx, auth: Auth) -> Result<(Vec<String>, Exchange), Problem> {
    let ex = ctx
        .send(Req::get("/v1/indexes?limit=100&order=desc").auth(auth))
        .await?;
    let page = expect_ok_json(&ex)?;
    ctx.schema("index-list", &page, &ex)?;
    let ids = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect();
    Ok((ids, ex))
}

async fn index_list(ctx: &Ctx) -> Verdict {
    let second = working_second_key(ctx).await?;
    let mut created = Vec::new();
    let verdict = index_list_flow(ctx, &second, &mut created).await;
    for (id, auth) in created {
        let _ = ctx
            .send(Req::delete(format!("/v1/indexes/{id}")).auth(auth))
            .await;
    }
    verdict
}

async fn index_list_flow(ctx: &Ctx, second: &Auth, created: &mut Vec<(String, Auth)>) -> Verdict {
    let (first_id, _) =
        super::indexes::create_as(ctx, &unique_name("first"), Auth::Default).await?;
    created.push((first_id.clone(), Auth::Default));
    // The second key's own index shows its list works: an empty list proves nothing.
    let (second_id, _) =
        super::indexes::create_as(ctx, &unique_name("second"), second.clone()).await?;
    created.push((second_id.clone(), second.clone()));
    let (ids, ex) = listed(ctx, second.clone()).await?;
    if !ids.contains(&second_id) {
        return Err(precondition(
            format!("the second key's list to show the index {second_id} it just created"),
            show(&json!(ids)),
        )
        .at(&ex.request));
    }
    if ids.contains(&first_id) {
        return Err(fail(
            format!("the second key's list without the first key's index {first_id}"),
            format!("it lists {first_id} beside its own {second_id}"),
        )
        .at(&ex.request)
        .hint(SAME_PROJECT));
    }
    let (ids, ex) = listed(ctx, Auth::Default).await?;
    ensure(
        ids.contains(&first_id) && !ids.contains(&second_id),
        format!(
            "the first key's list with its {first_id} and without the second key's {second_id}"
        ),
        show(&json!(ids)),
        &ex,
    )
    .map_err(|p| p.hint(SAME_PROJECT))?;
    pass()
}

/// A name no other run uses.
fn unique_name(what: &str) -> String {
    format!(
        "conformance-isolation-{what}-{}",
        uuid::Uuid::new_v4().simple()
    )
}

async fn index_access(ctx: &Ctx) -> Verdict {
    let second = working_second_key(ctx).await?;
    let (id, _) = super::indexes::create_as(ctx, &unique_name("access"), Auth::Default).await?;
    let verdict = index_access_flow(ctx, &second, &id).await;
    let _ = ctx.send(Req::delete(format!("/v1/indexes/{id}"))).await;
    verdict
}

async fn index_access_flow(ctx: &Ctx, second: &Auth, id: &str) -> Verdict {
    let vector = [1.0, 0.0, 0.0, 0.0];
    let items = json!({"items": [{"id": "kept", "vector": vector}]});
    let ex = ctx
        .send(Req::post(format!("/v1/indexes/{id}/items"), &items))
        .await?;
    expect_ok_json(&ex)?;
    let what = format!("the first key's index {id}");
    let attempts = [
        Req::get(format!("/v1/indexes/{id}")),
        Req::get(format!("/v1/indexes/{id}/items/kept")),
        Req::post(
            format!("/v1/indexes/{id}/search"),
            &json!({"query": vector, "top_k": 5}),
        ),
        Req::post(
            format!("/v1/indexes/{id}/items"),
            &json!({"items": [{"id": "planted", "vector": [0.0, 1.0, 0.0, 0.0]}]}),
        ),
        Req::delete(format!("/v1/indexes/{id}/items/kept")),
        Req::delete(format!("/v1/indexes/{id}")),
    ];
    for req in attempts {
        let ex = ctx.send(req.auth(second.clone())).await?;
        foreign_404(&ex, &what)?;
    }
    // Whole after all of it: its item still there, nothing planted.
    let changed = "the second key's requests answered 404 but changed the index";
    let ex = ctx
        .send(Req::get(format!("/v1/indexes/{id}/items/kept")))
        .await?;
    ensure(
        ex.status == 200,
        format!("the item kept in {id} after the second key's attempts"),
        format!("HTTP {}: {}", ex.status, ex.excerpt()),
        &ex,
    )
    .map_err(|p| p.hint(changed))?;
    let ex = ctx
        .send(Req::get(format!("/v1/indexes/{id}/items/planted")))
        .await?;
    ensure(
        ex.status == 404,
        format!("no item planted in {id} by the second key (HTTP 404)"),
        format!("HTTP {}: {}", ex.status, ex.excerpt()),
        &ex,
    )
    .map_err(|p| p.hint(changed))?;
    pass()
}
