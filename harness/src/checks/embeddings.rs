//! `/v1/embeddings`: shape, dimension, unit length, base64, order, usage, determinism.

use super::*;
use base64::Engine as _;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "embeddings.schema",
            OpenaiCore,
            "An embeddings response matches CreateEmbeddingResponse",
            schema
        ),
        check!(
            "embeddings.dimensions",
            OpenaiCore,
            "The dimensions parameter sets the vector length",
            dimensions
        ),
        check!(
            "embeddings.unit-length",
            Facade,
            "Vectors are L2-normalised (OpenAI's models do it; the API does not promise it)",
            unit_length
        ),
        check!(
            "embeddings.base64",
            OpenaiCore,
            "encoding_format base64 decodes (little-endian f32) to the float vector",
            base64
        ),
        check!(
            "embeddings.index-order",
            OpenaiCore,
            "A batch returns one vector per input, in input order",
            index_order
        ),
        check!(
            "embeddings.usage",
            OpenaiCore,
            "usage.total_tokens equals usage.prompt_tokens and is positive",
            usage
        ),
        check!(
            "embeddings.token-input",
            OpenaiCore,
            "Token-id arrays are accepted as input",
            token_input
        ),
        check!(
            "embeddings.deterministic",
            OpenaiCore,
            "The same input gives the same direction (cosine >= 0.9999)",
            deterministic
        ),
        check!(
            "embeddings.distinct",
            OpenaiCore,
            "Different inputs give different vectors",
            distinct
        ),
        check!(
            "embeddings.empty-input.400",
            OpenaiCore,
            "An empty input string is a 400 envelope (the document: input cannot be an empty string)",
            empty_input
        ),
        check!(
            "embeddings.deterministic.exact",
            Facade,
            "The same input gives bit-identical vectors",
            exact
        ),
    ]
}

/// Posts an embeddings request for `input` (any JSON form) with `extra` fields.
pub async fn post_embeddings(ctx: &Ctx, input: Value, extra: Value) -> Result<Exchange, Problem> {
    let mut body =
        json!({"model": ctx.embedding_model()?, "input": input, "encoding_format": "float"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    ctx.send(Req::post("/v1/embeddings", &body)).await
}

/// The body and float vectors of an embeddings answer, requiring a 200 with one non-empty
/// vector per input (`inputs`). These fail as the caller's subject; `embed` makes them
/// preconditions for checks about something else.
pub fn vectors(ex: &Exchange, inputs: usize) -> Result<(Value, Vec<Vec<f64>>), Problem> {
    let json = expect_ok_json(ex)?;
    let vectors: Vec<Vec<f64>> = json["data"]
        .as_array()
        .map(|d| d.iter().map(|e| floats(&e["embedding"])).collect())
        .unwrap_or_default();
    ensure(
        vectors.len() == inputs && vectors.iter().all(|v| !v.is_empty()),
        format!(
            "{} in data",
            crate::text::plural(inputs, "non-empty float vector", "non-empty float vectors")
        ),
        format!(
            "{} ({})",
            crate::text::plural(vectors.len(), "vector", "vectors"),
            show(&json["data"])
        ),
        ex,
    )?;
    Ok((json, vectors))
}

fn input_count(input: &Value) -> usize {
    match input.as_array() {
        Some(items) if items.first().is_some_and(|f| f.is_array() || f.is_string()) => items.len(),
        _ => 1,
    }
}

/// Embeds `input` and returns the exchange, body and float vectors; a non-200 or a wrong
/// number of vectors is a failed precondition of the calling check.
pub async fn embed(
    ctx: &Ctx,
    input: Value,
    extra: Value,
) -> Result<(Exchange, Value, Vec<Vec<f64>>), Problem> {
    let n = input_count(&input);
    let ex = post_embeddings(ctx, input, extra).await?;
    let (json, v) = vectors(&ex, n).map_err(Problem::into_precondition)?;
    Ok((ex, json, v))
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// Vector `i`, or an empty one (which every comparison rejects) when the body lacks it.
fn nth(v: &[Vec<f64>], i: usize) -> &[f64] {
    v.get(i).map_or(&[][..], Vec::as_slice)
}

pub fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = norm(a) * norm(b);
    if n == 0.0 {
        0.0
    } else {
        dot / n
    }
}

async fn schema(ctx: &Ctx) -> Verdict {
    let ex = post_embeddings(
        ctx,
        json!("The conformance kit checks embeddings."),
        json!({}),
    )
    .await?;
    let body = expect_ok_json(&ex)?;
    ctx.schema("embedding-response", &body, &ex)?;
    pass()
}

async fn dimensions(ctx: &Ctx) -> Verdict {
    let ex = post_embeddings(ctx, json!("dimension check"), json!({"dimensions": 64})).await?;
    // Not every model can shorten its vectors; a clear 400 says so.
    if ex.status == 400 {
        return Err(skip(format!(
            "the model rejects the dimensions parameter: HTTP 400 {}",
            ex.excerpt()
        )));
    }
    let (_, v) = vectors(&ex, 1).map_err(Problem::into_precondition)?;
    let len = v.first().map_or(0, Vec::len);
    ensure(
        len == 64,
        "a 64-float vector for dimensions: 64",
        format!("{len} floats"),
        &ex,
    )?;
    pass()
}

async fn unit_length(ctx: &Ctx) -> Verdict {
    let (ex, _, v) = embed(
        ctx,
        json!(["unit length one", "unit length two"]),
        json!({}),
    )
    .await?;
    for (i, vector) in v.iter().enumerate() {
        let n = norm(vector);
        ensure(
            (n - 1.0).abs() < 1e-3,
            format!("data[{i}] with L2 norm 1 (±0.001)"),
            format!("norm {n:.6}"),
            &ex,
        )?;
    }
    pass()
}

async fn base64(ctx: &Ctx) -> Verdict {
    let input = json!("base64 check");
    let (_, _, floats) = embed(ctx, input.clone(), json!({})).await?;
    let body =
        json!({"model": ctx.embedding_model()?, "input": input, "encoding_format": "base64"});
    let ex = ctx.send(Req::post("/v1/embeddings", &body)).await?;
    let json = expect_ok_json(&ex)?;
    ctx.schema("embedding-response-base64", &json, &ex)?;
    let text = json["data"][0]["embedding"].as_str().unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| {
            fail(
                "standard base64 (RFC 4648, padded)",
                format!("undecodable: {e}"),
            )
            .at(&ex.request)
        })?;
    ensure(
        bytes.len() % 4 == 0,
        "a multiple of 4 bytes (f32)",
        format!("{} bytes", bytes.len()),
        &ex,
    )?;
    let decoded: Vec<f64> = bytes
        .chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let reference = floats.first().cloned().unwrap_or_default();
    ensure(
        decoded.len() == reference.len(),
        format!("{} floats, as with encoding_format float", reference.len()),
        format!("{} floats", decoded.len()),
        &ex,
    )?;
    let c = cosine(&decoded, &reference);
    ensure(
        c > 0.9999,
        "the same vector as the float encoding (cosine > 0.9999)",
        format!("cosine {c:.6}"),
        &ex,
    )
    .map_err(|p| p.hint("base64 must hold IEEE-754 float32 values in little-endian order"))?;
    pass()
}

async fn index_order(ctx: &Ctx) -> Verdict {
    let inputs = ["first input", "second input", "third input"];
    let ex = post_embeddings(ctx, json!(inputs), json!({})).await?;
    let (body, batch) = vectors(&ex, inputs.len())?;
    let indices: Vec<Value> = body["data"]
        .as_array()
        .map(|d| d.iter().map(|e| e["index"].clone()).collect())
        .unwrap_or_default();
    ensure(
        indices == [json!(0), json!(1), json!(2)],
        "indices [0,1,2] in order",
        show(&json!(indices)),
        &ex,
    )?;
    for (i, input) in inputs.iter().enumerate() {
        let (single_ex, _, single) = embed(ctx, json!(input), json!({})).await?;
        let c = cosine(nth(&batch, i), nth(&single, 0));
        ensure(
            c > 0.999,
            format!("data[{i}] to embed input[{i}] (cosine > 0.999 with a single call)"),
            format!("cosine {c:.4}"),
            &single_ex,
        )?;
    }
    pass()
}

async fn usage(ctx: &Ctx) -> Verdict {
    // One input: the simplest request whose usage is the subject.
    let ex = post_embeddings(ctx, json!("usage probe"), json!({})).await?;
    let body = expect_ok_json(&ex).map_err(Problem::into_precondition)?;
    let p = body["usage"]["prompt_tokens"].as_u64();
    let t = body["usage"]["total_tokens"].as_u64();
    ensure(
        p.is_some() && p == t && p > Some(0),
        "usage.total_tokens == usage.prompt_tokens > 0",
        format!("usage {}", show(&body["usage"])),
        &ex,
    )?;
    pass()
}

async fn token_input(ctx: &Ctx) -> Verdict {
    let ex = post_embeddings(ctx, json!([[1820, 25031, 4447], [15339]]), json!({})).await?;
    vectors(&ex, 2).map_err(|p| p.hint("token-id arrays are a documented input form"))?;
    pass()
}

async fn deterministic(ctx: &Ctx) -> Verdict {
    let (_, _, a) = embed(ctx, json!("determinism probe"), json!({})).await?;
    let (ex, _, b) = embed(ctx, json!("determinism probe"), json!({})).await?;
    let c = cosine(nth(&a, 0), nth(&b, 0));
    ensure(
        c >= 0.9999,
        "cosine >= 0.9999 between two calls with the same input",
        format!("cosine {c:.6}"),
        &ex,
    )?;
    pass()
}

async fn distinct(ctx: &Ctx) -> Verdict {
    let (ex, _, v) = embed(
        ctx,
        json!(["apples and pears", "the quarterly tax report"]),
        json!({}),
    )
    .await?;
    let c = cosine(nth(&v, 0), nth(&v, 1));
    ensure(
        c < 0.999,
        "different vectors for different inputs (cosine < 0.999)",
        format!("cosine {c:.6}"),
        &ex,
    )?;
    pass()
}

async fn empty_input(ctx: &Ctx) -> Verdict {
    let body = json!({"model": ctx.embedding_model()?, "input": ""});
    let ex = ctx.send(Req::post("/v1/embeddings", &body)).await?;
    let err = expect_envelope(ctx, &ex, &[400])?;
    // The document promises the refusal, not `param`; a param that names another field is wrong.
    let param = &err["error"]["param"];
    ensure(
        param.is_null() || param == "input",
        "error.param \"input\" (or null)",
        format!("error.param {}", show(param)),
        &ex,
    )?;
    pass()
}

async fn exact(ctx: &Ctx) -> Verdict {
    let (_, _, a) = embed(ctx, json!(["exact probe", "exact probe two"]), json!({})).await?;
    let (ex, _, b) = embed(ctx, json!(["exact probe", "exact probe two"]), json!({})).await?;
    ensure(
        a == b,
        "bit-identical vectors for identical requests",
        "vectors differ between two identical calls",
        &ex,
    )?;
    pass()
}
