#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.
mod common;
use common::*;
use serde_json::{json, Value};

fn ask(text: &str) -> Value {
    json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn answers_with_the_full_chat_completion_shape() {
    let s = spawn().await;
    let (status, body) = s
        .post_json("/v1/chat/completions", ask("hello there"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].is_i64());
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert!(choice["logprobs"].is_null() && choice.as_object().unwrap().contains_key("logprobs"));
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "You said: hello there");
    assert!(choice["message"]
        .as_object()
        .unwrap()
        .contains_key("refusal"));
    let u = &body["usage"];
    assert_eq!(
        u["total_tokens"],
        u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn same_request_same_text() {
    let s = spawn().await;
    let (_, a) = s
        .post_json("/v1/chat/completions", ask("determinism"))
        .await;
    let (_, b) = s
        .post_json("/v1/chat/completions", ask("determinism"))
        .await;
    assert_eq!(a["choices"], b["choices"]);
}

#[tokio::test]
async fn n_gives_n_choices_and_max_tokens_cuts_with_length() {
    let s = spawn().await;
    let mut req = ask("one two three four five six");
    req["n"] = json!(3);
    req["max_completion_tokens"] = json!(3);
    let (_, body) = s.post_json("/v1/chat/completions", req).await;
    let choices = body["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    assert!(choices.iter().all(|c| c["finish_reason"] == "length"));
    assert_eq!(body["usage"]["completion_tokens"], 9);
}

#[tokio::test]
async fn calls_a_tool_and_reads_its_output() {
    let s = spawn().await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let req = json!({"model": "ref-chat-1", "tools": tools, "tool_choice": "required",
        "messages": [{"role": "user", "content": "Weather in Oslo?"}]});
    let (status, body) = s.post_json("/v1/chat/completions", req).await;
    assert_eq!(status, 200, "{body}");
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null());
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Oslo"}));

    let follow = json!({"model": "ref-chat-1", "tools": tools, "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "12C and rain"}
    ]});
    let (_, body) = s.post_json("/v1/chat/completions", follow).await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "The get_weather tool returned: 12C and rain"
    );
}

#[tokio::test]
async fn json_schema_mode_emits_valid_json() {
    let s = spawn().await;
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
        "required": ["name", "age"], "additionalProperties": false});
    let mut req = ask("Describe Ada");
    req["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": true}});
    let (_, body) = s.post_json("/v1/chat/completions", req).await;
    let doc: Value =
        serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(jsonschema::is_valid(&schema, &doc), "{doc}");

    let mut req = ask("anything");
    req["response_format"] = json!({"type": "json_object"});
    let (_, body) = s.post_json("/v1/chat/completions", req).await;
    let doc: Value =
        serde_json::from_str(body["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(doc.is_object());
}

#[tokio::test]
async fn streams_chunks_with_usage_and_done() {
    let s = spawn().await;
    let mut req = ask("stream me please");
    req["stream"] = json!(true);
    req["stream_options"] = json!({"include_usage": true});
    let r = s
        .post("/v1/chat/completions", req.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = parse_sse(&r.text().await.unwrap());
    assert!(
        events.iter().all(|(name, _)| name.is_none()),
        "chat streams have no event: lines"
    );
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let id = &chunks[0]["id"];
    assert!(chunks
        .iter()
        .all(|c| &c["id"] == id && c["object"] == "chat.completion.chunk"));
    let roles = chunks
        .iter()
        .filter(|c| c["choices"][0]["delta"]["role"].is_string())
        .count();
    assert_eq!(roles, 1);
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(usage_chunk["usage"]["total_tokens"].is_u64());
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["usage"].is_null()));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    req["stream"] = json!(false);
    req.as_object_mut().unwrap().remove("stream_options");
    let (_, plain) = s.post_json("/v1/chat/completions", req).await;
    assert_eq!(
        text,
        plain["choices"][0]["message"]["content"].as_str().unwrap()
    );
}

#[tokio::test]
async fn streamed_tool_calls_send_id_and_name_once() {
    let s = spawn().await;
    let req = json!({"model": "ref-chat-1", "stream": true, "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
        "messages": [{"role": "user", "content": "find it"}]});
    let body = s
        .post("/v1/chat/completions", req)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_sse(&body);
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    let fragments: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(
        fragments.iter().filter(|f| f.get("id").is_some()).count(),
        1
    );
    assert_eq!(
        fragments
            .iter()
            .filter(|f| f["function"].get("name").is_some())
            .count(),
        1
    );
    let args: String = fragments
        .iter()
        .filter_map(|f| f["function"]["arguments"].as_str())
        .collect();
    assert!(serde_json::from_str::<Value>(&args).is_ok(), "{args}");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn bad_requests_are_400s() {
    let s = spawn().await;
    let cases = [
        json!({"model": "ref-chat-1", "messages": []}),
        json!({"model": "ref-chat-1", "messages": [{"role": "robot", "content": "x"}]}),
        json!({"model": "ref-chat-1", "messages": "hi"}),
        json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "x"}], "n": 0}),
        json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "x"}], "temperature": 3}),
        json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}}),
        json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "x"}], "bogus": 1}),
        json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}),
        json!({"model": "ref-embed-1", "messages": [{"role": "user", "content": "x"}]}),
    ];
    for body in cases {
        let (status, err) = s.post_json("/v1/chat/completions", body.clone()).await;
        assert_eq!(status, 400, "{body} -> {err}");
        assert_envelope(&err);
    }
}

/// Under `tool_choice: auto` a tool is called when the prompt is about its subject, in chat
/// and in responses alike, with the place read from the prompt; a prompt about something else
/// gets text.
#[tokio::test]
async fn a_prompt_about_a_tools_subject_calls_it_in_both_apis() {
    let s = spawn().await;
    let params = json!({"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]});
    let ask = |prompt: &str| {
        (
            json!({"model": "ref-chat-1", "messages": [{"role": "user", "content": prompt}],
                   "tools": [{"type": "function", "function": {"name": "get_weather",
                              "description": "Get the current weather for a location", "parameters": params}}]}),
            json!({"model": "ref-chat-1", "input": prompt,
                   "tools": [{"type": "function", "name": "get_weather",
                              "description": "Get the current weather for a location", "parameters": params}]}),
        )
    };
    let (chat, responses) = ask("What's the weather like in San Francisco?");
    let (status, c) = s.post_json("/v1/chat/completions", chat).await;
    assert_eq!(status, 200, "{c}");
    let call = &c["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "get_weather", "{c}");
    assert_eq!(call["arguments"], r#"{"location":"San Francisco"}"#);
    let (status, r) = s.post_json("/v1/responses", responses).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["output"][0]["type"], "function_call", "{r}");
    assert_eq!(
        r["output"][0]["arguments"],
        r#"{"location":"San Francisco"}"#
    );
    let (chat, responses) = ask("What is 2 + 2?");
    let (_, c) = s.post_json("/v1/chat/completions", chat).await;
    assert_eq!(c["choices"][0]["message"]["content"], "2 + 2 = 4.", "{c}");
    let (_, r) = s.post_json("/v1/responses", responses).await;
    assert_eq!(r["output"][0]["type"], "message", "{r}");
}
