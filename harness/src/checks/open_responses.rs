//! The `open-responses` profile: what the Open Responses specification (2026-04-24) requires of
//! `POST /v1/responses` beyond OpenAI's Responses API (WIRE_FACTS §8): all 31 keys of the
//! response object, the full function tool and call objects, usage, the normative streaming
//! rules and item state machine, form and empty bodies, and its error vocabulary.

use super::*;

pub fn checks() -> Vec<Check> {
    vec![
        check!("open-responses.response.keys", OpenResponses, "A response carries all 31 keys of ResponseResource, null where a value is absent", keys),
        check!("open-responses.response.function-call", OpenResponses, "A function_call item has id, call_id, name, arguments and status; its tool is echoed with type, name, description, parameters and strict", function_call),
        check!("open-responses.response.usage", OpenResponses, "usage has its five keys, input_tokens_details.cached_tokens and output_tokens_details", usage),
        check!("open-responses.stream.rules", OpenResponses, "text/event-stream, event: equal to type on every event, sequence_number on every event, no id: lines, [DONE] last", stream_rules),
        check!("open-responses.stream.items", OpenResponses, "Each item: output_item.added in_progress first, parts added, deltas, done in order, output_item.done last and never updated after", stream_items),
        check!("open-responses.body.form", OpenResponses, "An application/x-www-form-urlencoded body creates a response like its JSON twin", form_body),
        check!("open-responses.body.optional", OpenResponses, "A request without a body is read as an empty one (a 4xx naming what is missing, never 415 or 5xx)", optional_body),
        check!("open-responses.compact", OpenResponses, "POST /v1/responses/compact answers a response.compaction whose output, sent back as input, continues the conversation", compact),
        check!("open-responses.compact.errors", OpenResponses, "compact without a model, or with an unknown previous_response_id, is a 4xx in the envelope naming the parameter", compact_errors),
        check!("open-responses.errors.vocabulary", OpenResponses, "A refused unknown model is a 400 or 404 whose error type is in the Open Responses vocabulary", error_vocabulary),
        check!("open-responses.tools.auto", OpenResponses, "Asked about the weather with a get_weather tool offered (tool_choice auto), the model calls it", tools_auto),
        check!("open-responses.input.system", OpenResponses, "A system message in the input is accepted: the response completes with output", input_system),
        check!("open-responses.input.multi-turn", OpenResponses, "Earlier user and assistant messages in the input are accepted: the response completes with output", input_multi_turn),
        check!("open-responses.input.phase", OpenResponses, "Assistant messages labelled with a phase (commentary, final_answer) are accepted: the response completes with output", input_phase),
        check!("open-responses.input.image", OpenResponses, "An input_image part (a data URL) beside input_text is accepted: the response completes with output", input_image),
    ]
}

/// The keys `ResponseResource` requires.
pub const RESPONSE_KEYS: [&str; 31] = [
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
];

fn missing_keys(object: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter(|k| object.get(**k).is_none())
        .map(|k| (*k).to_owned())
        .collect()
}

async fn keys(ctx: &Ctx) -> Verdict {
    let ex = ctx.responses_plain().await?;
    let r = expect_ok_json(&ex)?;
    let missing = missing_keys(&r, &RESPONSE_KEYS);
    ensure(
        missing.is_empty(),
        "every key of ResponseResource present (null allowed)",
        format!("missing {}", missing.join(", ")),
        &ex,
    )?;
    ensure(
        r["created_at"].is_i64() || r["created_at"].is_u64(),
        "created_at an integer",
        show(&r["created_at"]),
        &ex,
    )?;
    ensure(
        r["object"] == "response",
        "object \"response\"",
        show(&r["object"]),
        &ex,
    )?;
    pass()
}

async fn function_call(ctx: &Ctx) -> Verdict {
    // A tool without description: the echo must still carry the key. `strict` is sent, as
    // OpenAI's document requires it of a function tool (Prism refuses the tool without it).
    let body = json!({
        "model": ctx.chat_model()?,
        "input": "What is the weather in Paris? Use the get_weather tool.",
        "tools": [{"type": "function", "name": "get_weather", "strict": true,
                   "parameters": serde_json::from_str::<Value>(super::chat::WEATHER_PARAMS).unwrap_or_default()}],
        "tool_choice": {"type": "function", "name": "get_weather"},
    });
    let ex = ctx.send(Req::post("/v1/responses", &body)).await?;
    let r = expect_ok_json(&ex).map_err(Problem::into_precondition)?;
    let Some(call) = r["output"]
        .as_array()
        .and_then(|o| o.iter().find(|i| i["type"] == "function_call"))
    else {
        return Err(precondition(
            "a function_call item for a forced tool choice",
            show(&r["output"]),
        )
        .at(&ex.request));
    };
    let missing = missing_keys(call, &["id", "call_id", "name", "arguments", "status"]);
    ensure(
        missing.is_empty(),
        "the function_call item with id, call_id, name, arguments and status",
        format!("missing {}: {}", missing.join(", "), show(call)),
        &ex,
    )?;
    ensure(
        ["in_progress", "completed", "incomplete"].contains(&call["status"].as_str().unwrap_or("")),
        "status in_progress, completed or incomplete",
        show(&call["status"]),
        &ex,
    )?;
    let Some(tool) = r["tools"].as_array().and_then(|t| t.first()) else {
        return Err(fail("the tool echoed in tools", show(&r["tools"])).at(&ex.request));
    };
    let missing = missing_keys(
        tool,
        &["type", "name", "description", "parameters", "strict"],
    );
    ensure(
        missing.is_empty(),
        "the echoed function tool with type, name, description, parameters and strict (null when not given)",
        format!("missing {}: {}", missing.join(", "), show(tool)),
        &ex,
    )?;
    pass()
}

async fn usage(ctx: &Ctx) -> Verdict {
    let ex = ctx.responses_plain().await?;
    let r = expect_ok_json(&ex)?;
    let u = &r["usage"];
    let missing = missing_keys(
        u,
        &[
            "input_tokens",
            "output_tokens",
            "total_tokens",
            "input_tokens_details",
            "output_tokens_details",
        ],
    );
    ensure(
        u.is_object() && missing.is_empty(),
        "usage with input_tokens, output_tokens, total_tokens, input_tokens_details and output_tokens_details",
        if u.is_object() {
            format!("missing {}", missing.join(", "))
        } else {
            show(u)
        },
        &ex,
    )?;
    ensure(
        u["input_tokens_details"]["cached_tokens"].is_u64(),
        "input_tokens_details.cached_tokens an integer",
        show(&u["input_tokens_details"]),
        &ex,
    )?;
    pass()
}

async fn stream_rules(ctx: &Ctx) -> Verdict {
    let s = ctx.responses_stream().await?;
    let ex = &s.exchange;
    expect_status(ex, 200).map_err(Problem::into_precondition)?;
    expect_media_type(ex, "text/event-stream")?;
    if let Some(cut) = &s.cut {
        return Err(fail("a complete stream", cut.clone()).at(&ex.request));
    }
    if s.events.is_empty() {
        let problem = fail("events in the stream", no_events(&s)).at(&ex.request);
        return Err(stream_symptom(problem, ex));
    }
    for (i, e) in s.events.iter().enumerate() {
        ensure(
            e.id.is_none(),
            format!("event {i} without an id: line"),
            format!("id: {}", e.id.as_deref().unwrap_or_default()),
            ex,
        )?;
        if e.data == "[DONE]" {
            ensure(
                i + 1 == s.events.len(),
                "[DONE] as the last message",
                format!("{} more after it", s.events.len() - i - 1),
                ex,
            )?;
            continue;
        }
        let v: Value = serde_json::from_str(&e.data).map_err(|err| {
            fail(format!("event {i} data to be JSON"), err.to_string()).at(&ex.request)
        })?;
        let kind = v["type"].as_str().unwrap_or_default();
        ensure(
            e.event.as_deref() == Some(kind) && !kind.is_empty(),
            format!("event {i}: an event: line equal to its type"),
            format!("event: {:?}, type {}", e.event, show(&v["type"])),
            ex,
        )?;
        ensure(
            v["sequence_number"].is_u64(),
            format!("event {i} ({kind}) with an integer sequence_number"),
            show(&v["sequence_number"]),
            ex,
        )?;
    }
    let events: Vec<Value> = s
        .events
        .iter()
        .filter_map(|e| serde_json::from_str(&e.data).ok())
        .collect();
    error_events(&events).map_err(|p| p.at(&ex.request))?;
    ensure(
        s.events.last().is_some_and(|e| e.data == "[DONE]"),
        "the terminal message data: [DONE]",
        format!(
            "the stream ends with {:?}",
            s.events.last().map(|e| crate::target::excerpt(&e.data, 80))
        ),
        ex,
    )?;
    pass()
}

/// An `error` event in a stream carries the nested payload (type, code, message, param) and
/// is followed by `response.failed`.
fn error_events(events: &[Value]) -> Result<(), Problem> {
    for (i, e) in events.iter().enumerate() {
        if e["type"] != "error" {
            continue;
        }
        let error = &e["error"];
        let nullable_text = |v: &Value| v.is_string() || v.is_null();
        if !(error["type"].is_string()
            && error["message"].is_string()
            && error.get("code").is_some_and(nullable_text)
            && error.get("param").is_some_and(nullable_text))
        {
            return Err(fail(
                format!(
                    "error event {i} nesting its payload: error {{type, code, message, param}}"
                ),
                show(e),
            ));
        }
        let next = events.get(i + 1).map(|n| &n["type"]);
        if next.is_none_or(|t| t != "response.failed") {
            return Err(fail(
                format!("error event {i} followed by response.failed"),
                next.map_or_else(|| "the stream ends".to_owned(), show),
            ));
        }
    }
    Ok(())
}

/// Where an item is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq)]
enum ItemState {
    Added,
    Done,
}

async fn stream_items(ctx: &Ctx) -> Verdict {
    let s = ctx.responses_stream().await?;
    let events = stream_json(&s)?;
    item_rules(&events).map_err(|p| p.at(&s.exchange.request))?;
    pass()
}

/// The item state machine of a response's events (an SSE stream's or a socket's): each item
/// added in_progress once, its parts added, their deltas and done in order, the item done last
/// and never updated after; at least one item, every item done by the end.
pub(super) fn item_rules(events: &[Value]) -> Result<(), Problem> {
    let mut items: std::collections::HashMap<u64, ItemState> = Default::default();
    // Open content parts: (item index, part index) -> whether its text is done.
    let mut parts: std::collections::HashMap<(u64, u64), bool> = Default::default();
    let mut seen_items = 0;
    let check = |ok: bool, expected: String, seen: String| {
        if ok {
            Ok(())
        } else {
            Err(fail(expected, seen))
        }
    };
    for (i, e) in events.iter().enumerate() {
        let kind = e["type"].as_str().unwrap_or_default();
        let at = |what: &str| format!("event {i} ({kind}): {what}");
        let Some(item) = e["output_index"].as_u64() else {
            continue;
        };
        let state = items.get(&item).copied();
        match kind {
            "response.output_item.added" => {
                check(
                    state.is_none(),
                    at("the item added once"),
                    "added again".into(),
                )?;
                check(
                    e["item"]["status"] == "in_progress",
                    at("the added item in_progress"),
                    show(&e["item"]["status"]),
                )?;
                items.insert(item, ItemState::Added);
                seen_items += 1;
            }
            "response.output_item.done" => {
                check(
                    state == Some(ItemState::Added),
                    at("an item added and not yet done"),
                    format!("{state:?}"),
                )?;
                let open = parts.keys().filter(|(it, _)| *it == item).count();
                check(
                    open == 0,
                    at("every content part of the item done before it"),
                    format!("{open} part(s) still open"),
                )?;
                let status = e["item"]["status"].as_str().unwrap_or_default();
                check(
                    status == "completed" || status == "incomplete",
                    at("the done item completed or incomplete"),
                    show(&e["item"]["status"]),
                )?;
                items.insert(item, ItemState::Done);
            }
            _ => {
                check(
                    state == Some(ItemState::Added),
                    at("updates only between output_item.added and output_item.done"),
                    format!("item {item} is {state:?}"),
                )?;
                let part = (item, e["content_index"].as_u64().unwrap_or(0));
                let has_part = e.get("content_index").is_some();
                match kind {
                    "response.content_part.added" => {
                        check(
                            !parts.contains_key(&part),
                            at("the part added once"),
                            "added again".into(),
                        )?;
                        parts.insert(part, false);
                    }
                    "response.content_part.done" => {
                        check(
                            parts.get(&part) == Some(&true),
                            at("the part's text done before the part"),
                            format!("{:?}", parts.get(&part)),
                        )?;
                        parts.remove(&part);
                    }
                    k if k.ends_with(".delta") && has_part => {
                        check(
                            parts.get(&part) == Some(&false),
                            at("deltas inside an added, unfinished part"),
                            format!("{:?}", parts.get(&part)),
                        )?;
                    }
                    k if k.ends_with(".done") && has_part => {
                        check(
                            parts.get(&part) == Some(&false),
                            at("one done inside an added part"),
                            format!("{:?}", parts.get(&part)),
                        )?;
                        parts.insert(part, true);
                    }
                    _ => {}
                }
            }
        }
    }
    check(
        seen_items > 0,
        "at least one output item in the stream".into(),
        "no response.output_item.added".into(),
    )?;
    let open = items.values().filter(|s| **s != ItemState::Done).count();
    check(
        open == 0,
        "every item done by the end".into(),
        format!("{open} item(s) never done"),
    )
}

async fn form_body(ctx: &Ctx) -> Verdict {
    let model = ctx.chat_model()?;
    let input = "Say hello to the conformance kit";
    let form: String = [("model", model), ("input", input), ("store", "false")]
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let ex = ctx
        .send(
            Req::new(http::Method::POST, "/v1/responses")
                .raw(form, "application/x-www-form-urlencoded"),
        )
        .await?;
    let r = expect_ok_json(&ex)?;
    ensure(
        r["object"] == "response" && r["model"].is_string(),
        "a response object",
        show(&r),
        &ex,
    )?;
    ensure(
        r["store"] == false,
        "store false, as the form said (a boolean read from the form)",
        show(&r["store"]),
        &ex,
    )?;
    ensure(
        !super::responses::output_text_of(&r).is_empty(),
        "a text answer to the form's input",
        show(&r["output"]),
        &ex,
    )?;
    pass()
}

/// Percent-encodes a form value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn optional_body(ctx: &Ctx) -> Verdict {
    let ex = ctx
        .send(Req::new(http::Method::POST, "/v1/responses"))
        .await?;
    ensure(
        ex.status != 415 && ex.status < 500,
        "the empty body read as {} (200, or a 4xx naming what is missing), not 415 or 5xx",
        format!("HTTP {}: {}", ex.status, ex.excerpt()),
        &ex,
    )?;
    if ex.status >= 400 {
        expect_envelope(ctx, &ex, &[400, 404, 422])?;
    }
    pass()
}

async fn error_vocabulary(ctx: &Ctx) -> Verdict {
    let body = json!({"model": "no-such-model-conformance", "input": "hello"});
    let ex = ctx.send(Req::post("/v1/responses", &body)).await?;
    // Open Responses does not say an unknown model must be refused (a simulator may answer
    // any): only an error, once provoked, is judged.
    if (200..300).contains(&ex.status) {
        return Err(precondition(
            "an error to read: a refused unknown model",
            format!("HTTP {}: the unknown model was answered", ex.status),
        )
        .at(&ex.request));
    }
    let e = expect_envelope(ctx, &ex, &[400, 404])?;
    let kind = e["error"]["type"].as_str().unwrap_or_default();
    // The prose's vocabulary, and its own example's OpenAI words.
    let known = [
        "invalid_request",
        "invalid_request_error",
        "not_found",
        "model_error",
        "server_error",
        "too_many_requests",
    ];
    ensure(
        known.contains(&kind),
        format!("error.type one of {}", known.join(", ")),
        show(&e["error"]["type"]),
        &ex,
    )?;
    let fits = match kind {
        "not_found" => ex.status == 404,
        "invalid_request" => ex.status == 400,
        _ => true,
    };
    ensure(
        fits,
        "the status of its type (not_found 404, invalid_request 400)",
        format!("HTTP {} with {kind}", ex.status),
        &ex,
    )?;
    pass()
}

async fn compact(ctx: &Ctx) -> Verdict {
    let model = ctx.chat_model()?;
    let body = json!({
        "model": model,
        "input": [
            {"role": "user", "content": "My name is Ada. Remember it."},
            {"role": "assistant", "content": "I will remember that your name is Ada."},
            {"role": "user", "content": "Thank you."},
        ],
    });
    let ex = ctx.send(Req::post("/v1/responses/compact", &body)).await?;
    let c = expect_ok_json(&ex)?;
    let missing = missing_keys(&c, &["id", "object", "output", "created_at", "usage"]);
    ensure(
        missing.is_empty(),
        "a compacted response with id, object, output, created_at and usage",
        format!("missing {}: {}", missing.join(", "), show(&c)),
        &ex,
    )?;
    ensure(
        c["object"] == "response.compaction",
        "object \"response.compaction\"",
        show(&c["object"]),
        &ex,
    )?;
    ensure(
        c["created_at"].is_i64() || c["created_at"].is_u64(),
        "created_at an integer",
        show(&c["created_at"]),
        &ex,
    )?;
    let output = c["output"].as_array().cloned().unwrap_or_default();
    ensure(
        !output.is_empty() && output.iter().all(|i| i["type"].is_string()),
        "a non-empty list of output items, each with a type",
        show(&c["output"]),
        &ex,
    )?;
    for item in output.iter().filter(|i| i["type"] == "compaction") {
        ensure(
            item["id"].is_string() && item["encrypted_content"].is_string(),
            "each compaction item with id and encrypted_content",
            show(item),
            &ex,
        )?;
    }
    let u = &c["usage"];
    ensure(
        ["input_tokens", "output_tokens", "total_tokens"]
            .iter()
            .all(|k| u[*k].is_u64()),
        "usage with integer input_tokens, output_tokens and total_tokens",
        show(u),
        &ex,
    )?;
    // The compacted output is the conversation: sent back with a new turn, it is answered.
    let mut input = output;
    input.push(json!({"role": "user", "content": "What is my name?"}));
    let next = json!({"model": model, "input": input, "store": false});
    let ex = ctx.send(Req::post("/v1/responses", &next)).await?;
    let r = expect_ok_json(&ex)
        .map_err(|p| p.hint("the output of /v1/responses/compact must be accepted as input"))?;
    ensure(
        r["status"] == "completed" && !super::responses::output_text_of(&r).is_empty(),
        "a completed text answer to the compacted conversation and a new turn",
        show(&r["output"]),
        &ex,
    )?;
    pass()
}

async fn compact_errors(ctx: &Ctx) -> Verdict {
    let ex = ctx
        .send(Req::post(
            "/v1/responses/compact",
            &json!({"input": "hello"}),
        ))
        .await?;
    let e = expect_envelope(ctx, &ex, &[400, 422])?;
    ensure(
        e["error"]["param"] == "model"
            || e["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("model")),
        "the error naming model",
        show(&e["error"]),
        &ex,
    )?;
    let body = json!({"model": ctx.chat_model()?, "previous_response_id": "resp_conformance_does_not_exist"});
    let ex = ctx.send(Req::post("/v1/responses/compact", &body)).await?;
    let e = expect_envelope(ctx, &ex, &[400, 404])?;
    ensure(
        e["error"]["param"] == "previous_response_id"
            || e["error"]["code"] == "previous_response_not_found",
        "the error naming previous_response_id (or code previous_response_not_found)",
        show(&e["error"]),
        &ex,
    )?;
    pass()
}

/// Sends `input` to /v1/responses and requires a completed response with output: the input's
/// form was accepted and answered.
async fn answered(ctx: &Ctx, input: Value) -> Verdict {
    let body = json!({"model": ctx.chat_model()?, "input": input});
    let ex = ctx.send(Req::post("/v1/responses", &body)).await?;
    let r = expect_ok_json(&ex)?;
    ensure(
        r["status"] == "completed",
        "status \"completed\"",
        show(&r["status"]),
        &ex,
    )?;
    ensure(
        r["output"].as_array().is_some_and(|o| !o.is_empty()),
        "at least one output item",
        show(&r["output"]),
        &ex,
    )?;
    pass()
}

async fn tools_auto(ctx: &Ctx) -> Verdict {
    let body = json!({
        "model": ctx.chat_model()?,
        "input": [{"type": "message", "role": "user", "content": "What's the weather like in San Francisco?"}],
        // `strict` as OpenAI's document requires of a function tool (false: the schema is not
        // a strict one), which Open Responses also allows.
        "tools": [{"type": "function", "name": "get_weather", "strict": false,
                   "description": "Get the current weather for a location",
                   "parameters": {"type": "object", "required": ["location"], "properties": {
                       "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}}}}],
    });
    let ex = ctx.send(Req::post("/v1/responses", &body)).await?;
    let r = expect_ok_json(&ex)?;
    let call = r["output"]
        .as_array()
        .and_then(|o| o.iter().find(|i| i["type"] == "function_call"));
    let Some(call) = call else {
        return Err(fail(
            "a function_call item: the prompt asks what the offered tool answers",
            show(&r["output"]),
        )
        .at(&ex.request));
    };
    ensure(
        call["name"] == "get_weather",
        "a call of the offered tool get_weather",
        show(call),
        &ex,
    )?;
    let arguments: Option<Value> = call["arguments"]
        .as_str()
        .and_then(|a| serde_json::from_str(a).ok());
    ensure(
        arguments
            .as_ref()
            .is_some_and(|a| a["location"].is_string()),
        "arguments: a JSON object with the required location",
        show(&call["arguments"]),
        &ex,
    )?;
    pass_with(format!(
        "called get_weather with {}",
        show(&call["arguments"])
    ))
}

async fn input_system(ctx: &Ctx) -> Verdict {
    answered(
        ctx,
        json!([
            {"type": "message", "role": "system", "content": "You are a pirate. Always respond in pirate speak."},
            {"type": "message", "role": "user", "content": "Say hello."},
        ]),
    )
    .await
}

async fn input_multi_turn(ctx: &Ctx) -> Verdict {
    answered(
        ctx,
        json!([
            {"type": "message", "role": "user", "content": "My name is Alice."},
            {"type": "message", "role": "assistant", "content": "Hello Alice! How can I help you today?"},
            {"type": "message", "role": "user", "content": "What is my name?"},
        ]),
    )
    .await
}

async fn input_phase(ctx: &Ctx) -> Verdict {
    answered(
        ctx,
        json!([
            {"type": "message", "role": "assistant", "phase": "commentary", "content": "I should answer with the saved number."},
            {"type": "message", "role": "assistant", "phase": "final_answer", "content": "The number is four."},
            {"type": "message", "role": "user", "content": "Repeat only the number."},
        ]),
    )
    .await
}

/// A 1x1 red PNG.
const TINY_PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

async fn input_image(ctx: &Ctx) -> Verdict {
    answered(
        ctx,
        json!([{"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "What do you see in this image? Answer in one sentence."},
            // `detail`, as OpenAI's document requires of an input image.
            {"type": "input_image", "image_url": TINY_PNG, "detail": "auto"},
        ]}]),
    )
    .await
}
