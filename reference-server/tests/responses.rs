#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
mod common;
use common::*;
use serde_json::{json, Value};

const REQUIRED: &[&str] = &[
    "id",
    "object",
    "created_at",
    "model",
    "output",
    "error",
    "incomplete_details",
    "instructions",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "metadata",
    "temperature",
    "top_p",
    "status",
    "usage",
];

#[tokio::test]
async fn creates_a_complete_response_object() {
    let s = spawn().await;
    let (status, r) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "hello"}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    for key in REQUIRED {
        assert!(r.as_object().unwrap().contains_key(*key), "missing {key}");
    }
    assert!(r["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    let item = &r["output"][0];
    assert_eq!(
        (
            item["type"].as_str(),
            item["role"].as_str(),
            item["status"].as_str()
        ),
        (Some("message"), Some("assistant"), Some("completed"))
    );
    let part = &item["content"][0];
    assert_eq!(part["type"], "output_text");
    assert_eq!(part["text"], "You said: hello");
    assert_eq!(part["annotations"], json!([]));
    assert_eq!(part["logprobs"], json!([]));
    let u = &r["usage"];
    assert_eq!(
        u["total_tokens"],
        u["input_tokens"].as_u64().unwrap() + u["output_tokens"].as_u64().unwrap()
    );
    assert!(u["input_tokens_details"]["cached_tokens"].is_u64());
    assert!(u["output_tokens_details"]["reasoning_tokens"].is_u64());
}

#[tokio::test]
async fn max_output_tokens_makes_it_incomplete() {
    let s = spawn().await;
    let long = "word ".repeat(40);
    let (_, r) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": long, "max_output_tokens": 16}),
        )
        .await;
    assert_eq!(r["status"], "incomplete");
    assert_eq!(r["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(r["usage"]["output_tokens"], 16);
    let (status, _) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "x", "max_output_tokens": 15}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn chains_with_previous_response_id_and_stores_items() {
    let s = spawn().await;
    let (_, first) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": [
            {"role": "developer", "content": "be terse"},
            {"role": "user", "content": [{"type": "input_text", "text": "first"}]}]}),
        )
        .await;
    let id = first["id"].as_str().unwrap();
    let (_, second) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "second", "previous_response_id": id}),
        )
        .await;
    assert_eq!(second["previous_response_id"], id);
    assert_eq!(
        second["output"][0]["content"][0]["text"],
        "You said: second (turn 2 of our conversation)"
    );

    let (status, got) = s.get_json(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["output"], first["output"]);

    let (_, items) = s
        .get_json(&format!("/v1/responses/{id}/input_items?order=asc&limit=1"))
        .await;
    assert_eq!(items["object"], "list");
    assert_eq!(items["has_more"], true);
    assert_eq!(items["data"][0]["role"], "developer");
    assert_eq!(items["first_id"], items["data"][0]["id"]);
    let after = items["last_id"].as_str().unwrap();
    let (_, rest) = s
        .get_json(&format!(
            "/v1/responses/{id}/input_items?order=asc&after={after}"
        ))
        .await;
    assert_eq!(rest["data"][0]["role"], "user");
    assert_eq!(rest["has_more"], false);

    let (status, deleted) = s
        .client
        .delete(s.url(&format!("/v1/responses/{id}")))
        // The key that stored it: another key is another project.
        .bearer_auth("sk-test")
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(status, 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response", "deleted": true})
    );
    let (status, err) = s.get_json(&format!("/v1/responses/{id}")).await;
    assert_eq!(status, 404);
    assert_envelope(&err);
    let (status, err) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "x", "previous_response_id": id}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["param"].as_str()),
        (400, Some("previous_response_id"))
    );
}

#[tokio::test]
async fn store_false_is_not_retrievable() {
    let s = spawn().await;
    let (_, r) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "x", "store": false}),
        )
        .await;
    assert_eq!(r["store"], false);
    let (status, _) = s
        .get_json(&format!("/v1/responses/{}", r["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn function_tools_round_trip() {
    let s = spawn().await;
    let tools = json!([{"type": "function", "name": "get_weather", "strict": true,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}]);
    let (_, r) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "tools": tools, "input": "Call get_weather for Lima"}),
        )
        .await;
    let call = &r["output"][0];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "get_weather");
    assert!(call["call_id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["arguments"], r#"{"city":"Lima"}"#);
    let (_, r2) = s
        .post_json("/v1/responses", json!({"model": "ref-chat-1", "tools": tools, "previous_response_id": r["id"],
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "18C"}]}))
        .await;
    assert_eq!(
        r2["output"][0]["content"][0]["text"],
        "The get_weather tool returned: 18C"
    );
}

#[tokio::test]
async fn json_schema_text_format_is_honoured() {
    let s = spawn().await;
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}, "score": {"type": "number", "maximum": 1}}, "required": ["answer", "score"]});
    let (_, r) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "rate it",
            "text": {"format": {"type": "json_schema", "name": "rating", "schema": schema}}}),
        )
        .await;
    let doc: Value =
        serde_json::from_str(r["output"][0]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert!(jsonschema::is_valid(&schema, &doc), "{doc}");
    assert_eq!(r["text"]["format"]["type"], "json_schema");
}

async fn stream(s: &TestServer, body: Value) -> Vec<Value> {
    let r = s.post("/v1/responses", body).send().await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = parse_sse(&r.text().await.unwrap());
    assert_eq!(events.last().unwrap(), &(None, "[DONE]".to_owned()));
    events[..events.len() - 1]
        .iter()
        .map(|(name, data)| {
            let v: Value = serde_json::from_str(data).unwrap();
            assert_eq!(
                name.as_deref(),
                v["type"].as_str(),
                "event: line equals type"
            );
            v
        })
        .collect()
}

#[tokio::test]
async fn streams_the_documented_event_sequence() {
    let s = spawn().await;
    let events = stream(
        &s,
        json!({"model": "ref-chat-1", "input": "stream this text", "stream": true}),
    )
    .await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        &kinds[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        &kinds[kinds.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    assert!(kinds[4..kinds.len() - 4]
        .iter()
        .all(|k| *k == "response.output_text.delta"));
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["sequence_number"], i as u64);
    }
    assert_eq!(events[0]["response"]["output"], json!([]));
    let streamed: String = events.iter().filter_map(|e| e["delta"].as_str()).collect();
    let (_, plain) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "stream this text"}),
        )
        .await;
    assert_eq!(
        streamed,
        plain["output"][0]["content"][0]["text"].as_str().unwrap()
    );
    let done = events.last().unwrap();
    assert_eq!(done["response"]["status"], "completed");
    let (status, _) = s
        .get_json(&format!(
            "/v1/responses/{}",
            done["response"]["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "streamed responses are stored too");
}

#[tokio::test]
async fn streams_function_call_argument_events() {
    let s = spawn().await;
    let events = stream(&s, json!({"model": "ref-chat-1", "stream": true, "tool_choice": "required",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}, "strict": null}],
        "input": "go"}))
    .await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"response.function_call_arguments.delta"));
    assert!(!kinds.iter().any(|k| k.starts_with("response.content_part")));
    let done = events
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done")
        .unwrap();
    assert_eq!(done["name"], "f");
    let joined: String = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(joined, done["arguments"].as_str().unwrap());
}

#[tokio::test]
async fn bad_requests_are_400s_naming_the_param() {
    let s = spawn().await;
    let cases = [
        (json!({"input": "x"}), "model"),
        (json!({"model": "ref-chat-1"}), "input"),
        (json!({"model": "ref-chat-1", "input": 7}), "input"),
        (
            json!({"model": "ref-chat-1", "input": [{"role": "user"}]}),
            "input[0].content",
        ),
        (
            json!({"model": "ref-chat-1", "input": [{"type": "mystery"}]}),
            "input[0].type",
        ),
        (
            json!({"model": "ref-chat-1", "input": "x", "temperature": "hot"}),
            "temperature",
        ),
        (
            json!({"model": "ref-chat-1", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": "ref-chat-1", "input": "x", "unknown_thing": true}),
            "unknown_thing",
        ),
    ];
    for (body, param) in cases {
        let (status, err) = s.post_json("/v1/responses", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {err}");
        assert_envelope(&err);
        assert_eq!(err["error"]["param"], param, "{body} -> {err}");
    }
}

/// The 31 keys of Open Responses' ResponseResource, each present (null where absent).
#[tokio::test]
async fn carries_every_key_open_responses_requires() {
    let s = spawn().await;
    let (status, r) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "weather?", "tool_choice": "required",
                   "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    for key in [
        "id",
        "object",
        "created_at",
        "completed_at",
        "status",
        "incomplete_details",
        "model",
        "previous_response_id",
        "instructions",
        "output",
        "error",
        "tools",
        "tool_choice",
        "truncation",
        "parallel_tool_calls",
        "text",
        "top_p",
        "presence_penalty",
        "frequency_penalty",
        "top_logprobs",
        "temperature",
        "reasoning",
        "usage",
        "max_output_tokens",
        "max_tool_calls",
        "store",
        "background",
        "service_tier",
        "metadata",
        "safety_identifier",
        "prompt_cache_key",
    ] {
        assert!(r.get(key).is_some(), "missing {key}");
    }
    // The tool is echoed whole, null where the request left a key out.
    assert_eq!(r["tools"][0]["description"], Value::Null);
    assert_eq!(r["tools"][0]["strict"], Value::Null);
    assert!(r["tools"][0].as_object().unwrap().contains_key("strict"));
    assert_eq!(r["output"][0]["type"], "function_call");
    assert_eq!(r["output"][0]["status"], "completed");
}

/// Open Responses lets the body be form-encoded, or absent.
#[tokio::test]
async fn takes_form_bodies_and_an_absent_body() {
    let s = spawn().await;
    let client = reqwest::Client::new();
    let form =
        "model=ref-chat-1&input=42&temperature=0.5&store=false&metadata=%7B%22a%22%3A%22b%22%7D";
    let r = client
        .post(s.url("/v1/responses"))
        .bearer_auth("k")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r: Value = r.json().await.unwrap();
    // `input=42` stays text; numbers, booleans and objects are read as JSON.
    assert_eq!(r["output"][0]["content"][0]["text"], "You said: 42");
    assert_eq!(
        (r["temperature"].as_f64(), r["store"].as_bool()),
        (Some(0.5), Some(false))
    );
    assert_eq!(r["metadata"], json!({"a": "b"}));
    // No body and no content type: read as {}, so the missing model is named.
    let r = client
        .post(s.url("/v1/responses"))
        .bearer_auth("k")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["param"], "model");
    // A body without a content type is still refused, and other routes take JSON only.
    let r = client
        .post(s.url("/v1/responses"))
        .bearer_auth("k")
        .body("model=ref-chat-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth("k")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("model=ref-chat-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
}

/// Compaction keeps the user's messages, folds the conversation into one item, and that item
/// sent back as input continues the conversation where it was.
#[tokio::test]
async fn compacts_a_conversation_that_then_continues() {
    let s = spawn().await;
    let (status, first) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "first message"}),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    let (status, c) = s
        .post_json(
            "/v1/responses/compact",
            json!({"model": "ref-chat-1", "previous_response_id": first["id"], "input": "second message"}),
        )
        .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["object"], "response.compaction");
    let output = c["output"].as_array().unwrap();
    let kinds: Vec<&str> = output.iter().map(|i| i["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["message", "message", "compaction"]);
    assert_eq!(output[1]["content"][0]["text"], "second message");
    let mut input = output.clone();
    input.push(json!({"role": "user", "content": "third"}));
    let (status, next) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": input}),
        )
        .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(
        next["output"][0]["content"][0]["text"],
        "You said: third (turn 3 of our conversation)"
    );
    // Errors: no model, an unknown response, a compaction this server did not write.
    let (status, e) = s
        .post_json("/v1/responses/compact", json!({"input": "x"}))
        .await;
    assert_eq!((status, e["error"]["param"].as_str()), (400, Some("model")));
    let (status, e) = s
        .post_json(
            "/v1/responses/compact",
            json!({"model": "ref-chat-1", "previous_response_id": "resp_nope"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "previous_response_not_found");
    let (status, e) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": [{"type": "compaction", "encrypted_content": "gAAAA"}]}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "invalid_encrypted_content");
    assert_eq!(e["error"]["param"], "input[0].encrypted_content");
}
