//! `POST /v1/embeddings`.

use super::table::Routes;
use crate::config::ModelKind;
use crate::engine::embed::{self, EmbedInput};
use crate::engine::embed_cache::Rendered;
use crate::protocol::body::Pieces;
use crate::protocol::error::ApiError;
use crate::protocol::extract::{ApiJson, ApiRequest};
use crate::simulate::Ask;
use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use smallvec::SmallVec;

/// The routes.
pub fn router() -> Routes {
    Routes::new().post::<EmbeddingsRequest, _, _>("/v1/embeddings", create)
}

#[derive(Debug, Deserialize)]
struct EmbeddingsRequest {
    model: String,
    input: Value,
    encoding_format: Option<String>,
    #[serde(default, deserialize_with = "crate::protocol::extract::integer")]
    dimensions: Option<i64>,
    #[allow(dead_code)]
    user: Option<String>,
}

impl ApiRequest for EmbeddingsRequest {
    const REQUIRED: &'static [&'static str] = &["model", "input"];
    const FIELDS: &'static [&'static str] =
        &["model", "input", "encoding_format", "dimensions", "user"];
}

/// The inputs of a request: one is held inline, without an allocation of its own.
type Inputs = SmallVec<[EmbedInput; 1]>;

/// Reads the four accepted `input` forms (taking the texts, not copying them).
fn parse_input(input: Value, max_inputs: usize) -> Result<Inputs, ApiError> {
    let token = |v: &Value, param: String| -> Result<u32, ApiError> {
        // JSON Schema counts 7.0 as an integer, and so does the document.
        let integral = v
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 4_294_967_296.0);
        v.as_u64()
            .or(integral.map(|f| f as u64))
            .and_then(|t| u32::try_from(t).ok())
            .ok_or_else(|| {
                ApiError::invalid_param(
                    param,
                    "Token ids must be non-negative integers below 2^32.",
                )
            })
    };
    let inputs = match input {
        Value::String(s) if s.is_empty() => {
            return Err(ApiError::invalid_param("input", "'input' cannot be an empty string."))
        }
        Value::String(s) => smallvec::smallvec![EmbedInput::Text(s)],
        Value::Array(items) if items.is_empty() => {
            return Err(ApiError::invalid_param("input", "'input' cannot be an empty array."))
        }
        Value::Array(items) if items.iter().all(Value::is_number) => {
            let tokens = items
                .iter()
                .enumerate()
                .map(|(i, v)| token(v, format!("input[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            smallvec::smallvec![EmbedInput::Tokens(tokens)]
        }
        Value::Array(items) => {
            if items.len() > max_inputs {
                return Err(ApiError::invalid_param(
                    "input",
                    format!("'input' has {} items; at most {max_inputs} are allowed.", items.len()),
                ));
            }
            let mut out = Inputs::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let param = format!("input[{i}]");
                out.push(match item {
                    Value::String(s) if s.is_empty() => {
                        return Err(ApiError::invalid_param(param, "Input strings cannot be empty."))
                    }
                    Value::String(s) => EmbedInput::Text(s),
                    Value::Array(ts) if ts.is_empty() => {
                        return Err(ApiError::invalid_param(param, "Token arrays cannot be empty."))
                    }
                    Value::Array(ts) => EmbedInput::Tokens(
                        ts.iter()
                            .enumerate()
                            .map(|(j, v)| token(v, format!("input[{i}][{j}]")))
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                    _ => {
                        return Err(ApiError::invalid_param(
                            param,
                            "Each input must be a string or an array of token ids.",
                        ))
                    }
                });
            }
            out
        }
        _ => {
            return Err(ApiError::invalid_param(
                "input",
                "'input' must be a string, an array of strings, an array of token ids, or an array of token arrays.",
            ))
        }
    };
    Ok(inputs)
}

async fn create(
    State(state): State<AppState>,
    mut ask: Ask,
    ApiJson(req): ApiJson<EmbeddingsRequest>,
) -> Result<Response, ApiError> {
    let model = state
        .config
        .model(&req.model)
        .ok_or_else(|| ApiError::model_not_found(&req.model))?;
    if model.kind != ModelKind::Embedding {
        return Err(ApiError::wrong_model(format!(
            "The model `{}` is not an embedding model.",
            model.id
        )));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid_param(
                "encoding_format",
                format!("Invalid encoding_format '{other}': expected 'float' or 'base64'."),
            ))
        }
    };
    let dimensions = match req.dimensions {
        None => model.dimensions,
        Some(d) if d >= 1 && (d as u64) <= model.dimensions as u64 => d as usize,
        Some(d) => {
            return Err(ApiError::invalid_param(
                "dimensions",
                format!(
                    "Invalid dimensions {d}: must be between 1 and {}.",
                    model.dimensions
                ),
            ))
        }
    };
    let inputs = parse_input(req.input, state.config.limits.max_embedding_inputs)?;
    let mut act = state
        .simulation
        .decide(&mut ask, "/v1/embeddings", &model.id, &state.metrics);
    if let Some(answer) = act.before().await {
        return Ok(answer);
    }
    act.embeddings(inputs.len()).await;
    // Large batches are CPU work of tens of milliseconds (hashing and float formatting): run
    // them on the blocking pool so they do not stall the async workers serving others.
    let body = if inputs.len().saturating_mul(dimensions) > BLOCKING_FLOATS {
        let (state, model_id) = (state.clone(), model.id.clone());
        tokio::task::spawn_blocking(move || render(&state, &model_id, &inputs, dimensions, base64))
            .await
            .map_err(|_| ApiError::internal())?
    } else {
        render(&state, &model.id, &inputs, dimensions, base64)
    }
    .map_err(|_| ApiError::internal())?;
    let body = axum::body::Body::new(body);
    Ok(act.answer(crate::protocol::body::json_answer(body, None)))
}

/// Floats in one request above which the work moves to the blocking pool.
const BLOCKING_FLOATS: usize = 64 * 1024;

/// The `embedding` value of one input, as JSON, with its token count.
fn rendered(
    model: &str,
    input: &EmbedInput,
    dimensions: usize,
    base64: bool,
) -> Result<Rendered, serde_json::Error> {
    let vector = embed::embed(model, input, dimensions);
    let mut alone = Vec::with_capacity(FIRST.len() + 12 * dimensions + 128);
    alone.extend_from_slice(FIRST);
    // Serialising f32 directly prints the shortest round-tripping form of each float (about
    // 9 digits), not a 17-digit f64.
    if base64 {
        serde_json::to_writer(&mut alone, &embed::to_base64(&vector))?;
    } else {
        serde_json::to_writer(&mut alone, &vector)?;
    }
    let json_end = alone.len();
    let tokens = input.token_count();
    tail(&mut alone, model, tokens)?;
    let alone = Bytes::from(alone);
    Ok(Rendered {
        json: alone.slice(FIRST.len()..json_end),
        alone,
        tokens,
    })
}

/// The end of a body: after the last embedding's value, the model and the usage.
fn tail(out: &mut Vec<u8>, model: &str, prompt_tokens: usize) -> Result<(), serde_json::Error> {
    out.extend_from_slice(br#"}],"model":"#);
    serde_json::to_writer(&mut *out, model)?;
    out.extend_from_slice(br#","usage":{"prompt_tokens":"#);
    serde_json::to_writer(&mut *out, &prompt_tokens)?;
    out.extend_from_slice(br#","total_tokens":"#);
    serde_json::to_writer(&mut *out, &prompt_tokens)?;
    out.extend_from_slice(b"}}");
    Ok(())
}

/// The body up to the first embedding's value, the same for every answer.
const FIRST: &[u8] = br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":"#;

/// The response body: the same bytes as serialising
/// `{"object":"list","data":[{"object":"embedding","index":i,"embedding":…}],"model":…,"usage":{…}}`,
/// assembled from the (cached) renderings of each input. The renderings are not copied: the
/// body is the pieces between them and the renderings themselves, written out together. The
/// answer to one input (most requests) is kept whole with its rendering, and sent as it is.
fn render(
    state: &AppState,
    model: &str,
    inputs: &[EmbedInput],
    dimensions: usize,
    base64: bool,
) -> Result<Pieces, serde_json::Error> {
    if let [input] = inputs {
        let part = state
            .embed_cache
            .get_or_render(model, dimensions, base64, input, || {
                rendered(model, input, dimensions, base64)
            })?;
        let mut body = Pieces::with_capacity(1);
        body.push(part.alone);
        return Ok(body);
    }
    thread_local! {
        // The text between renderings is written here, then copied out once at its size.
        static TEXT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    TEXT.with_borrow_mut(|text| {
        let mut body = Pieces::with_capacity(2 * inputs.len() + 1);
        let mut prompt_tokens = 0;
        for (index, input) in inputs.iter().enumerate() {
            let part = state
                .embed_cache
                .get_or_render(model, dimensions, base64, input, || {
                    rendered(model, input, dimensions, base64)
                })?;
            if index == 0 {
                body.push(Bytes::from_static(FIRST));
            } else {
                // The end of the previous item, and the start of this one.
                text.clear();
                text.extend_from_slice(br#"},{"object":"embedding","index":"#);
                serde_json::to_writer(&mut *text, &index)?;
                text.extend_from_slice(br#","embedding":"#);
                body.push(Bytes::copy_from_slice(text));
            }
            prompt_tokens += part.tokens;
            body.push(part.json);
        }
        text.clear();
        tail(text, model, prompt_tokens)?;
        body.push(Bytes::copy_from_slice(text));
        // A huge batch's text is not kept for the rest of the thread's life.
        text.truncate(0);
        text.shrink_to(1024);
        Ok(body)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_flat_token_array_is_one_input() {
        let v = parse_input(json!([1, 2, 3]), 10).unwrap_or_default();
        assert_eq!(v.as_slice(), [EmbedInput::Tokens(vec![1, 2, 3])]);
        let v = parse_input(json!([7.0]), 10).unwrap_or_default();
        assert_eq!(
            v.as_slice(),
            [EmbedInput::Tokens(vec![7])],
            "an integral float is an integer"
        );
        assert!(parse_input(json!([7.5]), 10).is_err());
    }

    #[test]
    fn names_the_bad_item() {
        let e = parse_input(json!(["a", ""]), 10).err();
        assert_eq!(e.as_ref().and_then(ApiError::param), Some("input[1]"));
        let e = parse_input(json!([[1], [-1]]), 10).err();
        assert_eq!(e.as_ref().and_then(ApiError::param), Some("input[1][0]"));
    }

    #[test]
    fn the_assembled_body_is_what_serde_would_print() {
        let state = AppState::new(crate::Config::default());
        let inputs = vec![EmbedInput::Text("a".into()), EmbedInput::Tokens(vec![1, 2])];
        for base64 in [false, true] {
            // One input alone: its cached answer, sent whole.
            let joined = |p: Result<Pieces, _>| p.map(Pieces::joined).unwrap_or_default();
            let alone = joined(render(&state, "ref-embed-1", &inputs[1..], 8, base64));
            let value: Value = serde_json::from_slice(&alone).unwrap_or_default();
            assert_eq!(serde_json::to_vec(&value).unwrap_or_default(), alone);
            assert_eq!(value["usage"]["prompt_tokens"], 2);
            assert_eq!(value["data"][0]["index"], 0);
            // Then beside another input: the rendering is a part of the same bytes.
            let joined = |p: Result<Pieces, _>| p.map(Pieces::joined).unwrap_or_default();
            let body = joined(render(&state, "ref-embed-1", &inputs, 8, base64));
            let again = joined(render(&state, "ref-embed-1", &inputs, 8, base64));
            assert_eq!(body, again, "a cached rendering is the same bytes");
            let value: Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(serde_json::to_vec(&value).unwrap_or_default(), body);
            assert_eq!(value["data"][1]["index"], 1);
            assert_eq!(value["usage"]["prompt_tokens"], 3);
        }
    }

    #[test]
    fn a_body_parses_the_same_straight_and_through_a_value() {
        crate::protocol::extract::assert_both_ways_agree::<EmbeddingsRequest>(&[
            r#"{"model":"ref-embed-1","input":"The quick brown fox"}"#,
            r#"{"model":"ref-embed-1","input":["a","b"],"encoding_format":"base64"}"#,
            r#"{"model":"ref-embed-1","input":[1,2,3],"dimensions":8.0,"user":"u"}"#,
            r#"{"model":"ref-embed-1","input":{"b":1,"a":[null,{"c":2}]}}"#,
            r#"{"model":"ref-embed-1","input":"x","dimensions":8.5}"#,
            r#"{"model":"ref-embed-1","input":"x","dimensions":"8"}"#,
            r#"{"model":"ref-embed-1","input":"x","encoding_format":null}"#,
            r#"{"model":"ref-embed-1","input":null}"#,
            r#"{"model":"ref-embed-1"}"#,
            r#"{"input":"x","model":"ref-embed-1","model":"m2"}"#,
        ]);
    }

    #[test]
    fn too_many_inputs_is_a_400() {
        assert!(parse_input(json!(["a", "b", "c"]), 2).is_err());
    }
}
