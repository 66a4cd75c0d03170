#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
mod common;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
}

#[tokio::test]
async fn embeds_a_string_with_usage() {
    let s = spawn().await;
    let (status, body) = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "ref-embed-1", "input": "hello world"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "ref-embed-1");
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["index"], 0);
    let v = floats(&body["data"][0]["embedding"]);
    assert_eq!(v.len(), 1536);
    assert!((norm(&v) - 1.0).abs() < 1e-4);
    assert_eq!(body["usage"]["prompt_tokens"], 2);
    assert_eq!(body["usage"]["total_tokens"], 2);
}

#[tokio::test]
async fn is_deterministic_and_distinct_across_inputs() {
    let s = spawn().await;
    let req = json!({"model": "ref-embed-1", "input": ["a", "b", "a"], "dimensions": 64});
    let (_, one) = s.post_json("/v1/embeddings", req.clone()).await;
    let (_, two) = s.post_json("/v1/embeddings", req).await;
    assert_eq!(one["data"], two["data"]);
    let data = one["data"].as_array().unwrap();
    assert_eq!(
        data.iter()
            .map(|d| d["index"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    assert_eq!(data[0]["embedding"], data[2]["embedding"]);
    assert_eq!(floats(&data[0]["embedding"]).len(), 64);
}

#[tokio::test]
async fn token_inputs_are_accepted() {
    let s = spawn().await;
    let (status, body) = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "ref-embed-1", "input": [[1, 2, 3], [4]]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    let (status, body) = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "ref-embed-1", "input": [1, 2, 3]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn base64_decodes_to_the_same_little_endian_floats() {
    let s = spawn().await;
    let (_, f) = s
        .post_json(
            "/v1/embeddings",
            json!({"model": "ref-embed-1", "input": "x", "dimensions": 8}),
        )
        .await;
    let (_, b) = s
        .post_json("/v1/embeddings", json!({"model": "ref-embed-1", "input": "x", "dimensions": 8, "encoding_format": "base64"}))
        .await;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(decoded, floats(&f["data"][0]["embedding"]));
}

#[tokio::test]
async fn bad_inputs_are_400s_naming_the_param() {
    let s = spawn().await;
    let too_many: Vec<String> = (0..2049).map(|i| i.to_string()).collect();
    let cases = [
        (json!({"model": "ref-embed-1", "input": ""}), "input"),
        (json!({"model": "ref-embed-1", "input": []}), "input"),
        (
            json!({"model": "ref-embed-1", "input": ["ok", ""]}),
            "input[1]",
        ),
        (json!({"model": "ref-embed-1", "input": too_many}), "input"),
        (
            json!({"model": "ref-embed-1", "input": "x", "dimensions": 0}),
            "dimensions",
        ),
        (
            json!({"model": "ref-embed-1", "input": "x", "dimensions": 99999}),
            "dimensions",
        ),
        (
            json!({"model": "ref-embed-1", "input": "x", "dimensions": "8"}),
            "dimensions",
        ),
        (
            json!({"model": "ref-embed-1", "input": "x", "encoding_format": "hex"}),
            "encoding_format",
        ),
        (json!({"model": "ref-chat-1", "input": "x"}), "model"),
        (json!({"input": "x"}), "model"),
        (json!({"model": "ref-embed-1", "input": 5}), "input"),
    ];
    for (body, param) in cases {
        let (status, err) = s.post_json("/v1/embeddings", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {err}");
        assert_envelope(&err);
        assert_eq!(err["error"]["param"], param, "{body} -> {err}");
    }
    let (status, err) = s
        .post_json("/v1/embeddings", json!({"model": "nope", "input": "x"}))
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
}
