#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
//! Normalised responses of the reference server: ids, timestamps and vectors redacted, so a
//! change of shape shows up as a reviewable snapshot diff. CI never writes snapshots.

mod common;
use common::*;
use serde_json::{json, Value};

/// Replaces every value that legitimately varies between runs.
fn normalise(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, child) in map.iter_mut() {
                    match k.as_str() {
                        "id"
                        | "item_id"
                        | "call_id"
                        | "previous_response_id"
                        | "first_id"
                        | "last_id"
                            if child.is_string() =>
                        {
                            *child = json!("[id]")
                        }
                        "created" | "created_at" | "completed_at" if child.is_number() => {
                            *child = json!("[timestamp]")
                        }
                        "embedding" => *child = json!("[vector]"),
                        _ => walk(child),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

#[tokio::test]
async fn wire_shapes() {
    let s = spawn().await;
    let tools = json!([{"type": "function", "name": "get_weather", "strict": true,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}]);
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("models_list", s.get("/v1/models")),
        ("model_not_found", s.get("/v1/models/nope")),
        ("embeddings", s.post("/v1/embeddings", json!({"model": "ref-embed-1", "input": ["a", "b"], "dimensions": 4}))),
        ("chat_completion", s.post("/v1/chat/completions", json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "What is 6 * 7?"}]}))),
        ("chat_tool_call", s.post("/v1/chat/completions", json!({"model": "ref-chat-1", "tool_choice": "required",
            "tools": [{"type": "function", "function": tools[0].clone()}], "messages": [{"role": "user", "content": "Weather in Oslo"}]}))),
        ("response", s.post("/v1/responses", json!({"model": "ref-chat-1", "input": "hello", "instructions": "be brief"}))),
        ("response_function_call", s.post("/v1/responses", json!({"model": "ref-chat-1", "input": "Use get_weather for Lima", "tools": tools}))),
        ("response_incomplete", s.post("/v1/responses", json!({"model": "ref-chat-1", "input": "word ".repeat(30), "max_output_tokens": 16}))),
        ("error_missing_param", s.post("/v1/responses", json!({"input": "x"}))),
        ("error_unknown_route", s.get("/v1/nope")),
    ];
    for (name, req) in cases {
        let r = req.send().await.unwrap();
        let body: Value = r.json().await.unwrap();
        insta::with_settings!({sort_maps => false, snapshot_suffix => name}, {
            insta::assert_json_snapshot!(normalise(body));
        });
    }
}

#[tokio::test]
async fn stream_event_sequences() {
    let s = spawn().await;
    for (name, path, body) in [
        (
            "responses_stream",
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "hi there", "stream": true}),
        ),
        (
            "chat_stream",
            "/v1/chat/completions",
            json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": {"include_usage": true}}),
        ),
    ] {
        let text = s
            .post(path, body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let events: Vec<Value> = parse_sse(&text)
            .into_iter()
            .map(|(event, data)| json!({"event": event, "data": serde_json::from_str::<Value>(&data).map(normalise).unwrap_or(json!(data))}))
            .collect();
        insta::with_settings!({sort_maps => false, snapshot_suffix => name}, {
            insta::assert_json_snapshot!(events);
        });
    }
}
