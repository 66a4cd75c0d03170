//! `/v1/indexes`, the facade's memory indexes: the whole lifecycle as one stateful flow, and
//! the errors a caller must be able to tell apart. Each check removes what it created, even
//! when it fails.

use super::*;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "indexes.lifecycle",
            Facade,
            "An index is created, listed page by page, filled, searched (nearest first, filters honoured), emptied of an item and deleted, after which it is 404",
            lifecycle
        ),
        check!(
            "indexes.errors",
            Facade,
            "Index errors carry the envelope and the right status: a vector of the wrong length 400 naming it, a bad filter 400 naming its path, a taken name 409, an unknown index 404",
            errors
        ),
    ]
}

/// Dimensions of the indexes the checks create: small, so the vectors can be written out.
const DIMS: usize = 4;

/// A name no other run uses.
fn unique_name(what: &str) -> String {
    format!("conformance-{what}-{}", uuid::Uuid::new_v4().simple())
}

/// Creates an index; a target without `/v1/indexes` is a skip.
async fn create(ctx: &Ctx, name: &str) -> Result<(String, Exchange), Problem> {
    create_as(ctx, name, crate::target::Auth::Default).await
}

/// Creates an index with `auth`'s key (the isolation checks' second key).
pub(super) async fn create_as(
    ctx: &Ctx,
    name: &str,
    auth: crate::target::Auth,
) -> Result<(String, Exchange), Problem> {
    let body = json!({"name": name, "dimensions": DIMS, "metric": "cosine", "metadata": {"suite": "conformance"}});
    let ex = ctx.send(Req::post("/v1/indexes", &body).auth(auth)).await?;
    let no_model = ex
        .json()
        .is_ok_and(|v| v["error"]["code"] == "model_not_found");
    if matches!(ex.status, 404 | 405) && !no_model {
        return Err(skip(
            "the target does not serve /v1/indexes (the reference server's extension)",
        ));
    }
    let index = expect_ok_json(&ex)?;
    ctx.schema("index", &index, &ex)?;
    let id = index["id"]
        .as_str()
        .ok_or_else(|| fail("an index id", show(&index)).at(&ex.request))?
        .to_owned();
    ensure(
        index["name"] == name && index["dimensions"] == DIMS && index["item_count"] == 0,
        format!("the index as created: name {name:?}, {DIMS} dimensions, no items"),
        show(&index),
        &ex,
    )?;
    Ok((id, ex))
}

/// Deletes what a check created, whatever its verdict.
async fn clean_up(ctx: &Ctx, ids: &[String]) {
    for id in ids {
        let _ = ctx.send(Req::delete(format!("/v1/indexes/{id}"))).await;
    }
}

async fn lifecycle(ctx: &Ctx) -> Verdict {
    let mut created = Vec::new();
    let verdict = lifecycle_flow(ctx, &mut created).await;
    clean_up(ctx, &created).await;
    verdict
}

fn ids_of(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["id"].as_str().map(str::to_owned))
        .collect()
}

async fn lifecycle_flow(ctx: &Ctx, created: &mut Vec<String>) -> Verdict {
    let (first, _) = create(ctx, &unique_name("a")).await?;
    created.push(first.clone());
    let (second, _) = create(ctx, &unique_name("b")).await?;
    created.push(second.clone());

    // Pages around our own two indexes, with only our ids as cursors (others may come and go
    // meanwhile, by this run or anyone): newest first, the first comes after the second, and
    // the second before the first.
    let list = |query: String| async move {
        let ex = ctx.send(Req::get(format!("/v1/indexes?{query}"))).await?;
        let page = expect_ok_json(&ex)?;
        ctx.schema("index-list", &page, &ex)?;
        Ok::<_, Problem>((ids_of(&page), page, ex))
    };
    let (ids, page, ex) = list(format!("limit=100&order=desc&after={second}")).await?;
    if !ids.contains(&first) && page["has_more"] == true {
        return Err(precondition(
            format!("{first} within 100 indexes after {second}"),
            "more than 100 indexes were created in between",
        ));
    }
    ensure(
        ids.contains(&first) && !ids.contains(&second),
        format!("after={second} (newest first): {first}, created before it, and not {second}"),
        show(&page),
        &ex,
    )?;
    let (ids, page, ex) = list(format!("limit=1&order=desc&after={second}")).await?;
    ensure(
        ids.len() == 1 && page["first_id"] == ids[0].as_str() && page["last_id"] == ids[0].as_str(),
        "limit=1: one index, first_id and last_id its id",
        show(&page),
        &ex,
    )?;
    ensure(
        ids[0] == first || page["has_more"] == true,
        format!("has_more true while {first} is still to come"),
        show(&page),
        &ex,
    )?;
    let (ids, page, ex) = list("limit=1&order=desc".into()).await?;
    ensure(
        ids.len() == 1 && page["has_more"] == true,
        "limit=1 of two indexes or more: one index, has_more true",
        show(&page),
        &ex,
    )?;
    let (ids, page, ex) = list(format!("limit=100&order=asc&before={second}")).await?;
    ensure(
        ids.contains(&first) && !ids.contains(&second),
        format!("before={second} (oldest first): {first}, and not {second}"),
        show(&page),
        &ex,
    )?;

    // Three items: `near` and `far` from the query, and `near-twin` a little off `near`, with
    // an attribute that tells them apart.
    let items = json!({"items": [
        {"id": "near", "vector": [1.0, 0.0, 0.0, 0.0], "attributes": {"group": "a", "rank": 1}},
        {"id": "near-twin", "vector": [0.9, 0.1, 0.0, 0.0], "attributes": {"group": "b", "rank": 2}},
        {"id": "far", "vector": [0.0, 0.0, 1.0, 0.0], "attributes": {"group": "a", "rank": 3}}
    ]});
    let ex = ctx
        .send(Req::post(format!("/v1/indexes/{first}/items"), &items))
        .await?;
    let added = expect_ok_json(&ex)?;
    ctx.schema("index-item-list", &added, &ex)?;
    ensure(
        ids_of(&added) == ["near", "near-twin", "far"],
        "the three items, in request order",
        show(&added),
        &ex,
    )?;
    let ex = ctx.send(Req::get(format!("/v1/indexes/{first}"))).await?;
    let index = expect_ok_json(&ex)?;
    ensure(
        index["item_count"] == 3,
        "item_count 3 after adding three items",
        show(&index),
        &ex,
    )?;

    let search = format!("/v1/indexes/{first}/search");
    let query = json!({"query": [1.0, 0.0, 0.0, 0.0], "top_k": 3});
    let ex = ctx.send(Req::post(&search, &query)).await?;
    let found = expect_ok_json(&ex)?;
    ctx.schema("index-search-results", &found, &ex)?;
    let scores: Vec<f64> = found["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["score"].as_f64())
        .collect();
    ensure(
        ids_of(&found) == ["near", "near-twin", "far"],
        "the items nearest first: near, near-twin, far",
        show(&found),
        &ex,
    )?;
    ensure(
        scores.len() == 3
            && (scores[0] - 1.0).abs() < 1e-4
            && scores.windows(2).all(|w| w[0] >= w[1]),
        "scores falling from 1.0 (cosine of the query with itself)",
        format!("{scores:?}"),
        &ex,
    )?;
    let filtered = json!({"query": [1.0, 0.0, 0.0, 0.0], "top_k": 3,
    "filters": {"type": "and", "filters": [
        {"type": "eq", "key": "group", "value": "b"},
        {"type": "gte", "key": "rank", "value": 2}
    ]}});
    let ex = ctx.send(Req::post(&search, &filtered)).await?;
    let found = expect_ok_json(&ex)?;
    ensure(
        ids_of(&found) == ["near-twin"],
        "only near-twin passes group = b and rank >= 2",
        show(&found),
        &ex,
    )?;

    // Delete an item: it is 404, and no longer found.
    let ex = ctx
        .send(Req::delete(format!("/v1/indexes/{first}/items/near")))
        .await?;
    let gone = expect_ok_json(&ex)?;
    ctx.schema("index-item-deleted", &gone, &ex)?;
    let ex = ctx
        .send(Req::get(format!("/v1/indexes/{first}/items/near")))
        .await?;
    expect_envelope(ctx, &ex, &[404])?;
    let ex = ctx.send(Req::post(&search, &query)).await?;
    let found = expect_ok_json(&ex)?;
    ensure(
        ids_of(&found) == ["near-twin", "far"],
        "the deleted item no longer found",
        show(&found),
        &ex,
    )?;

    // Delete the index: the deletion object, then 404 for it and its items.
    let ex = ctx
        .send(Req::delete(format!("/v1/indexes/{first}")))
        .await?;
    let gone = expect_ok_json(&ex)?;
    ctx.schema("index-deleted", &gone, &ex)?;
    ensure(
        gone["id"] == first.as_str(),
        format!("the deletion object of {first}"),
        show(&gone),
        &ex,
    )?;
    for path in [
        format!("/v1/indexes/{first}"),
        format!("/v1/indexes/{first}/items/far"),
    ] {
        let ex = ctx.send(Req::get(&path)).await?;
        expect_envelope(ctx, &ex, &[404])?;
    }
    pass()
}

async fn errors(ctx: &Ctx) -> Verdict {
    let name = unique_name("errors");
    let (id, _) = create(ctx, &name).await?;
    let verdict = errors_flow(ctx, &id, &name).await;
    clean_up(ctx, &[id]).await;
    verdict
}

/// Requires the envelope with `status` and, when given, `param`.
fn expect_param(ctx: &Ctx, ex: &Exchange, status: u16, param: Option<&str>) -> Result<(), Problem> {
    let body = expect_envelope(ctx, ex, &[status])?;
    if let Some(param) = param {
        ensure(
            body["error"]["param"] == param,
            format!("error.param {param:?}"),
            show(&body["error"]),
            ex,
        )?;
    }
    Ok(())
}

async fn errors_flow(ctx: &Ctx, id: &str, name: &str) -> Verdict {
    let wrong = json!({"items": [
        {"id": "ok", "vector": [1.0, 0.0, 0.0, 0.0]},
        {"id": "short", "vector": [1.0, 0.0]}
    ]});
    let ex = ctx
        .send(Req::post(format!("/v1/indexes/{id}/items"), &wrong))
        .await?;
    expect_param(ctx, &ex, 400, Some("items[1].vector"))?;
    // The batch is all or nothing: its valid first item was not stored.
    let ex = ctx
        .send(Req::get(format!("/v1/indexes/{id}/items/ok")))
        .await?;
    ensure(
        ex.status == 404,
        "HTTP 404 for an item of a refused batch (a batch is all or nothing)",
        format!("HTTP {}: {}", ex.status, ex.excerpt()),
        &ex,
    )?;
    let bad_filter = json!({"query": [1.0, 0.0, 0.0, 0.0],
        "filters": {"type": "or", "filters": [{"type": "eq", "key": "k", "value": 1}, {"type": "like", "key": "k", "value": "x"}]}});
    let ex = ctx
        .send(Req::post(format!("/v1/indexes/{id}/search"), &bad_filter))
        .await?;
    expect_param(ctx, &ex, 400, Some("filters.filters[1].type"))?;
    let again = json!({"name": name, "dimensions": DIMS});
    let ex = ctx.send(Req::post("/v1/indexes", &again)).await?;
    expect_param(ctx, &ex, 409, None)?;
    let ex = ctx
        .send(Req::get("/v1/indexes/idx_conformance_missing"))
        .await?;
    expect_param(ctx, &ex, 404, None)?;
    pass()
}
