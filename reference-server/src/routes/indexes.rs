//! `/v1/indexes`: memory indexes in front of the embeddings engine, after OpenAI's vector
//! stores (list envelopes, cursors, deletion objects, attribute filters). The data lives in
//! [`crate::store::indexes`]; this module checks requests, embeds texts and shapes answers.

use super::table::Routes;
use crate::config::{Config, ModelKind};
use crate::engine::embed::{embed, EmbedInput};
use crate::protocol::error::ApiError;
use crate::protocol::extract::{ApiJson, ApiRequest};
use crate::protocol::project::Project;
use crate::state::AppState;
use crate::store::indexes::{
    Filter, Hit, IndexRecord, IndexStore, ItemRecord, Metric, NewIndex, NewItem, StoreError,
};
use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Most items one `POST …/items` may add.
pub const MAX_BATCH: usize = 1000;
/// Most dimensions an index may have.
pub const MAX_DIMENSIONS: usize = 4096;
/// Most results one search may return.
pub const MAX_TOP_K: usize = 100;

/// The routes.
pub fn router() -> Routes {
    Routes::new()
        .post::<CreateIndex, _, _>("/v1/indexes", create)
        .get("/v1/indexes", list)
        .get("/v1/indexes/{index_id}", retrieve)
        .delete("/v1/indexes/{index_id}", remove)
        .post::<AddItems, _, _>("/v1/indexes/{index_id}/items", add_items)
        .get("/v1/indexes/{index_id}/items/{item_id}", item)
        .delete("/v1/indexes/{index_id}/items/{item_id}", remove_item)
        .post::<Search, _, _>("/v1/indexes/{index_id}/search", search)
}

#[derive(Debug, Deserialize)]
struct CreateIndex {
    name: String,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    dimensions: Option<i64>,
    metric: Option<Metric>,
    model: Option<String>,
    metadata: Option<Map<String, Value>>,
}

impl ApiRequest for CreateIndex {
    const FIELDS: &'static [&'static str] = &["name", "dimensions", "metric", "model", "metadata"];
    const REQUIRED: &'static [&'static str] = &["name"];
}

#[derive(Debug, Deserialize)]
struct AddItems {
    items: Vec<ItemIn>,
}

impl ApiRequest for AddItems {
    const FIELDS: &'static [&'static str] = &["items"];
    const REQUIRED: &'static [&'static str] = &["items"];
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemIn {
    id: Option<String>,
    text: Option<String>,
    vector: Option<Vec<f64>>,
    attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct Search {
    query: Value,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    top_k: Option<i64>,
    filters: Option<Value>,
}

impl ApiRequest for Search {
    const FIELDS: &'static [&'static str] = &["query", "top_k", "filters"];
    const REQUIRED: &'static [&'static str] = &["query"];
}

/// The store, or 503 when it could not be opened.
fn store(state: &AppState) -> Result<Arc<IndexStore>, ApiError> {
    state
        .indexes
        .clone()
        .map_err(|e| ApiError::store_unavailable(&e))
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound { what, id } => ApiError::not_found(what, &id),
        StoreError::NameTaken(name) => ApiError::index_name_taken(&name),
        StoreError::BadCursor(id) => cursor_error("after", &id),
        StoreError::Storage(detail) => ApiError::store_unavailable(&detail),
    }
}

fn cursor_error(param: &str, id: &str) -> ApiError {
    ApiError::invalid_param(
        param,
        format!("Invalid '{param}': no index found with id '{id}'."),
    )
}

/// Runs a store call for `project` off the async threads: a write waits for its fsync, and a
/// search scores every vector of the index.
async fn run_raw<T: Send + 'static>(
    store: Arc<IndexStore>,
    project: &Project,
    f: impl FnOnce(&IndexStore, &str) -> Result<T, StoreError> + Send + 'static,
) -> Result<Result<T, StoreError>, ApiError> {
    let project = project.clone();
    tokio::task::spawn_blocking(move || f(&store, project.as_str()))
        .await
        .map_err(|_| ApiError::internal())
}

/// [`run_raw`], with the store's errors as the API's.
async fn run<T: Send + 'static>(
    store: Arc<IndexStore>,
    project: &Project,
    f: impl FnOnce(&IndexStore, &str) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    run_raw(store, project, f).await?.map_err(store_error)
}

fn index_object(r: &IndexRecord) -> Value {
    json!({
        "id": r.id,
        "object": "index",
        "name": r.name,
        "model": r.model,
        "dimensions": r.dimensions,
        "metric": r.metric.as_str(),
        "metadata": r.metadata,
        "item_count": r.item_count,
        "created_at": r.created_at,
    })
}

fn item_object(index_id: &str, i: &ItemRecord) -> Value {
    json!({
        "id": i.id,
        "object": "index.item",
        "index_id": index_id,
        "text": i.text,
        "attributes": i.attributes,
        "created_at": i.created_at,
    })
}

/// Checks OpenAI's rules for key-value pairs at `param`: at most 16, keys of 1 to 64
/// characters, values strings of at most 512 characters, or (`scalars`, as the attributes of
/// its vector store files) numbers and booleans too.
fn check_pairs(m: &Map<String, Value>, param: &str, scalars: bool) -> Result<(), ApiError> {
    if m.len() > 16 {
        return Err(ApiError::invalid_param(
            param,
            format!(
                "Invalid '{param}': {} keys; at most 16 are allowed.",
                m.len()
            ),
        ));
    }
    for (k, v) in m {
        let at = format!("{param}.{k}");
        if k.is_empty() || k.chars().count() > 64 {
            return Err(ApiError::invalid_param(
                at,
                "Keys must be 1 to 64 characters.",
            ));
        }
        let ok = match v {
            Value::String(s) => s.chars().count() <= 512,
            Value::Number(_) | Value::Bool(_) => scalars,
            _ => false,
        };
        if !ok {
            let allowed = if scalars {
                "strings (at most 512 characters), numbers or booleans"
            } else {
                "strings of at most 512 characters"
            };
            return Err(ApiError::invalid_param(
                at,
                format!("Values must be {allowed}."),
            ));
        }
    }
    Ok(())
}

/// The embedding model for a new index: the one asked for, or the catalogue's first.
fn embedding_model(config: &Config, asked: Option<&str>) -> Result<(String, usize), ApiError> {
    let model = match asked {
        Some(id) => config
            .model(id)
            .ok_or_else(|| ApiError::model_not_found(id))?,
        None => config
            .models
            .iter()
            .find(|m| m.kind == ModelKind::Embedding)
            .ok_or_else(|| {
                ApiError::invalid_param(
                    "model",
                    "The server has no embedding model to embed texts with.",
                )
            })?,
    };
    if model.kind != ModelKind::Embedding {
        return Err(ApiError::wrong_model(format!(
            "The model '{}' is not an embedding model; an index embeds its texts with one.",
            model.id
        )));
    }
    Ok((model.id.clone(), model.dimensions))
}

async fn create(
    State(state): State<AppState>,
    project: Project,
    ApiJson(req): ApiJson<CreateIndex>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&state)?;
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 256 {
        return Err(ApiError::invalid_param(
            "name",
            "Invalid 'name': expected 1 to 256 characters.",
        ));
    }
    let (model, native) = embedding_model(&state.config, req.model.as_deref())?;
    let max = native.min(MAX_DIMENSIONS);
    let dimensions = match req.dimensions {
        None => max,
        Some(d) if d >= 1 && d as u64 <= max as u64 => d as usize,
        Some(d) => {
            return Err(ApiError::invalid_param(
                "dimensions",
                format!("Invalid 'dimensions': {d}; the model '{model}' gives 1 to {max}."),
            ))
        }
    };
    let metadata = req.metadata.unwrap_or_default();
    check_pairs(&metadata, "metadata", false)?;
    let new = NewIndex {
        name,
        dimensions,
        metric: req.metric.unwrap_or(Metric::Cosine),
        model,
        metadata,
    };
    let record = run(store, &project, move |s, p| s.create(p, new)).await?;
    Ok(Json(index_object(&record)))
}

async fn list(
    State(state): State<AppState>,
    project: Project,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&state)?;
    let (limit, order) = super::list_params(&query)?;
    let after = super::cursor(&query, "after").map(str::to_owned);
    let before = super::cursor(&query, "before").map(str::to_owned);
    let cursor_after = after.clone();
    let page = run_raw(store, &project, move |s, p| {
        s.list(p, limit, order, after.as_deref(), before.as_deref())
    })
    .await?
    .map_err(|e| match e {
        // The store names the unknown cursor; which parameter held it is known here.
        StoreError::BadCursor(id) if cursor_after.as_deref() != Some(id.as_str()) => {
            cursor_error("before", &id)
        }
        other => store_error(other),
    })?;
    let data: Vec<Value> = page.data.iter().map(index_object).collect();
    Ok(Json(json!({
        "object": "list",
        "first_id": page.data.first().map(|r| r.id.clone()),
        "last_id": page.data.last().map(|r| r.id.clone()),
        "has_more": page.has_more,
        "data": data,
    })))
}

async fn retrieve(
    State(state): State<AppState>,
    project: Project,
    Path(index_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = run(store(&state)?, &project, move |s, p| s.get(p, &index_id)).await?;
    Ok(Json(index_object(&record)))
}

async fn remove(
    State(state): State<AppState>,
    project: Project,
    Path(index_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = index_id.clone();
    run(store(&state)?, &project, move |s, p| s.delete(p, &id)).await?;
    Ok(Json(
        json!({"id": index_id, "object": "index.deleted", "deleted": true}),
    ))
}

/// A caller's item id: 1 to 128 of `A-Z a-z 0-9 _ - . :` (it is used in paths).
fn check_item_id(id: &str, param: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_param(
            param,
            format!("Invalid '{param}': expected 1 to 128 characters of A-Z, a-z, 0-9, '_', '-', '.' and ':'."),
        ))
    }
}

/// A vector from the request as `f32`s of the index's length.
fn vector(values: &[f64], dimensions: usize, param: &str) -> Result<Vec<f32>, ApiError> {
    if values.len() != dimensions {
        return Err(ApiError::dimension_mismatch(
            param,
            dimensions,
            values.len(),
        ));
    }
    values
        .iter()
        .enumerate()
        .map(|(j, x)| {
            let f = *x as f32;
            if f.is_finite() {
                Ok(f)
            } else {
                Err(ApiError::invalid_param(
                    format!("{param}[{j}]"),
                    format!("Invalid '{param}[{j}]': {x} is outside the range of a 32-bit float."),
                ))
            }
        })
        .collect()
}

async fn add_items(
    State(state): State<AppState>,
    project: Project,
    Path(index_id): Path<String>,
    ApiJson(req): ApiJson<AddItems>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&state)?;
    if req.items.is_empty() {
        return Err(ApiError::invalid_param(
            "items",
            "Invalid 'items': expected at least one item.",
        ));
    }
    if req.items.len() > MAX_BATCH {
        return Err(ApiError::too_many_items(
            "items",
            req.items.len(),
            MAX_BATCH,
        ));
    }
    let id = index_id.clone();
    let index = run(store.clone(), &project, move |s, p| s.get(p, &id)).await?;
    let mut seen = std::collections::HashSet::new();
    let mut new = Vec::with_capacity(req.items.len());
    for (i, item) in req.items.into_iter().enumerate() {
        let at = format!("items[{i}]");
        if let Some(id) = &item.id {
            check_item_id(id, &format!("{at}.id"))?;
            if !seen.insert(id.clone()) {
                return Err(ApiError::invalid_param(
                    format!("{at}.id"),
                    format!("Invalid '{at}.id': the id '{id}' is given twice in this batch."),
                ));
            }
        }
        let attributes = item.attributes.unwrap_or_default();
        check_pairs(&attributes, &format!("{at}.attributes"), true)?;
        let vector = match (&item.text, &item.vector) {
            (Some(text), None) if !text.is_empty() => embed(
                &index.model,
                &EmbedInput::Text(text.clone()),
                index.dimensions,
            ),
            (Some(_), None) => {
                return Err(ApiError::invalid_param(
                    format!("{at}.text"),
                    format!("Invalid '{at}.text': expected a non-empty string."),
                ))
            }
            (None, Some(v)) => vector(v, index.dimensions, &format!("{at}.vector"))?,
            _ => {
                return Err(ApiError::invalid_param(
                    at.clone(),
                    format!("Invalid '{at}': give exactly one of 'text' and 'vector'."),
                ))
            }
        };
        new.push(NewItem {
            id: item.id,
            vector,
            text: item.text,
            attributes,
        });
    }
    let id = index_id.clone();
    let stored = run(store, &project, move |s, p| s.upsert(p, &id, new)).await?;
    let data: Vec<Value> = stored.iter().map(|i| item_object(&index_id, i)).collect();
    Ok(Json(json!({"object": "list", "data": data})))
}

async fn item(
    State(state): State<AppState>,
    project: Project,
    Path((index_id, item_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = index_id.clone();
    let record = run(store(&state)?, &project, move |s, p| {
        s.item(p, &id, &item_id)
    })
    .await?;
    Ok(Json(item_object(&index_id, &record)))
}

async fn remove_item(
    State(state): State<AppState>,
    project: Project,
    Path((index_id, item_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let item = item_id.clone();
    run(store(&state)?, &project, move |s, p| {
        s.delete_item(p, &index_id, &item)
    })
    .await?;
    Ok(Json(
        json!({"id": item_id, "object": "index.item.deleted", "deleted": true}),
    ))
}

async fn search(
    State(state): State<AppState>,
    project: Project,
    Path(index_id): Path<String>,
    ApiJson(req): ApiJson<Search>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&state)?;
    let top_k = match req.top_k {
        None => 10,
        Some(k) if k >= 1 && k as u64 <= MAX_TOP_K as u64 => k as usize,
        Some(k) => {
            return Err(ApiError::invalid_param(
                "top_k",
                format!("Invalid 'top_k': {k}; expected 1 to {MAX_TOP_K}."),
            ))
        }
    };
    let filter = match &req.filters {
        None | Some(Value::Null) => None,
        Some(f) => Some(Filter::parse(f, "filters").map_err(|e| {
            ApiError::invalid_param(
                e.path.clone(),
                format!("Invalid '{}': {}.", e.path, e.message),
            )
        })?),
    };
    let id = index_id.clone();
    let index = run(store.clone(), &project, move |s, p| s.get(p, &id)).await?;
    let query = match &req.query {
        Value::String(text) if !text.is_empty() => embed(
            &index.model,
            &EmbedInput::Text(text.clone()),
            index.dimensions,
        ),
        Value::Array(items) => {
            let numbers: Option<Vec<f64>> = items.iter().map(Value::as_f64).collect();
            let numbers = numbers.ok_or_else(|| {
                ApiError::invalid_param("query", "Invalid 'query': a vector holds only numbers.")
            })?;
            vector(&numbers, index.dimensions, "query")?
        }
        _ => {
            return Err(ApiError::invalid_param(
                "query",
                "Invalid 'query': expected a non-empty string or a vector of numbers.",
            ))
        }
    };
    let id = index_id.clone();
    let hits = run(store, &project, move |s, p| {
        s.search(p, &id, &query, top_k, filter.as_ref())
    })
    .await?;
    let data: Vec<Value> = hits.iter().map(hit_object).collect();
    Ok(Json(
        json!({"object": "list", "index_id": index_id, "data": data}),
    ))
}

fn hit_object(h: &Hit) -> Value {
    json!({
        "id": h.id,
        "object": "index.search_result",
        "score": h.score,
        "text": h.text,
        "attributes": h.attributes,
    })
}
