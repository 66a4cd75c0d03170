//! `/v1/responses` (non-streaming) and its stored-response routes.

use super::*;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "responses.schema",
            OpenaiCore,
            "A response matches the Response schema (status included)",
            schema
        ),
        check!(
            "responses.output-text",
            OpenaiCore,
            "A text answer is a completed assistant message with output_text parts",
            output_text
        ),
        check!(
            "responses.usage",
            OpenaiCore,
            "usage.total_tokens = input_tokens + output_tokens, with both details objects",
            usage
        ),
        check!(
            "responses.max-output-tokens",
            OpenaiCore,
            "max_output_tokens cuts the answer: status incomplete, reason max_output_tokens",
            max_output_tokens
        ),
        check!(
            "responses.tools",
            OpenaiCore,
            "A forced function tool gives a function_call item with call_id and JSON arguments",
            tools
        ),
        check!(
            "responses.tool-output",
            OpenaiCore,
            "A function_call_output answering a call gives a text reply",
            tool_output
        ),
        check!(
            "responses.previous-response-id",
            OpenaiCore,
            "previous_response_id continues a stored response",
            previous_response_id
        ),
        check!(
            "responses.retrieve",
            OpenaiCore,
            "GET /v1/responses/{id} returns the stored response",
            retrieve
        ),
        check!(
            "responses.input-items",
            OpenaiCore,
            "GET /v1/responses/{id}/input_items lists the input as a ResponseItemList",
            input_items
        ),
        check!(
            "responses.delete",
            OpenaiCore,
            "DELETE /v1/responses/{id} confirms, and the response is then gone (404)",
            delete
        ),
    ]
}

async fn create(ctx: &Ctx, body: Value) -> Result<(Exchange, Value), Problem> {
    let ex = ctx.send(Req::post("/v1/responses", &body)).await?;
    let json = expect_ok_json(&ex)?;
    Ok((ex, json))
}

async fn baseline(ctx: &Ctx) -> Result<(Exchange, Value), Problem> {
    let ex = ctx.responses_plain().await?;
    let json = expect_ok_json(&ex)?;
    Ok((ex, json))
}

/// The text of every output_text part of every message item.
pub fn output_text_of(response: &Value) -> String {
    response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["type"] == "output_text")
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

async fn schema(ctx: &Ctx) -> Verdict {
    let (ex, body) = baseline(ctx).await?;
    ctx.schema("response", &body, &ex)?;
    pass()
}

async fn output_text(ctx: &Ctx) -> Verdict {
    let (ex, body) = baseline(ctx).await.map_err(Problem::into_precondition)?;
    ensure(
        body["status"] == "completed",
        "status \"completed\"",
        show(&body["status"]),
        &ex,
    )?;
    let message = body["output"]
        .as_array()
        .and_then(|o| o.iter().find(|i| i["type"] == "message"));
    let Some(message) = message else {
        return Err(fail("a message item in output", show(&body["output"])).at(&ex.request));
    };
    ensure(
        message["role"] == "assistant" && message["status"] == "completed",
        "an assistant message with status completed",
        show(message),
        &ex,
    )?;
    ensure(
        !output_text_of(&body).is_empty(),
        "non-empty output_text",
        show(&message["content"]),
        &ex,
    )?;
    pass()
}

async fn usage(ctx: &Ctx) -> Verdict {
    let (ex, body) = baseline(ctx).await.map_err(Problem::into_precondition)?;
    let u = &body["usage"];
    let (i, o, t) = (
        u["input_tokens"].as_u64(),
        u["output_tokens"].as_u64(),
        u["total_tokens"].as_u64(),
    );
    ensure(
        matches!((i, o, t), (Some(i), Some(o), Some(t)) if i + o == t && i > 0 && o > 0),
        "total_tokens = input_tokens + output_tokens, both positive",
        show(u),
        &ex,
    )?;
    let cached = &u["input_tokens_details"]["cached_tokens"];
    let reasoning = &u["output_tokens_details"]["reasoning_tokens"];
    ensure(
        cached.is_u64() && reasoning.is_u64(),
        "integer input_tokens_details.cached_tokens and output_tokens_details.reasoning_tokens",
        format!(
            "cached_tokens {}, reasoning_tokens {}",
            show(cached),
            show(reasoning)
        ),
        &ex,
    )?;
    pass()
}

async fn max_output_tokens(ctx: &Ctx) -> Verdict {
    let body = json!({
        "model": ctx.chat_model()?,
        "input": "Write the numbers from one to two hundred in words, separated by spaces, and nothing else.",
        "max_output_tokens": 16,
    });
    let (ex, r) = create(ctx, body).await?;
    ensure(
        r["status"] == "incomplete",
        "status \"incomplete\"",
        show(&r["status"]),
        &ex,
    )?;
    ensure(
        r["incomplete_details"]["reason"] == "max_output_tokens",
        "incomplete_details.reason \"max_output_tokens\"",
        show(&r["incomplete_details"]),
        &ex,
    )?;
    let out = r["usage"]["output_tokens"].as_u64().unwrap_or(u64::MAX);
    ensure(
        out <= 16,
        "usage.output_tokens <= 16",
        format!("{out}"),
        &ex,
    )?;
    pass()
}

fn weather_tool() -> Value {
    json!([{"type": "function", "name": "get_weather", "description": "Current weather for a city", "strict": true,
        "parameters": serde_json::from_str::<Value>(super::chat::WEATHER_PARAMS).unwrap_or_default()}])
}

async fn forced_call(ctx: &Ctx) -> Result<(Exchange, Value), Problem> {
    let body = json!({
        "model": ctx.chat_model()?,
        "input": "What is the weather in Paris? Use the get_weather tool.",
        "tools": weather_tool(),
        "tool_choice": {"type": "function", "name": "get_weather"},
    });
    create(ctx, body).await
}

async fn tools(ctx: &Ctx) -> Verdict {
    let (ex, r) = forced_call(ctx).await?;
    let call = r["output"]
        .as_array()
        .and_then(|o| o.iter().find(|i| i["type"] == "function_call"))
        .cloned();
    let Some(call) = call else {
        return Err(fail("a function_call item in output", show(&r["output"])).at(&ex.request));
    };
    ensure(
        call["name"] == "get_weather",
        "name \"get_weather\"",
        show(&call["name"]),
        &ex,
    )?;
    ensure(
        call["call_id"].as_str().is_some_and(|c| !c.is_empty()),
        "a non-empty call_id",
        show(&call["call_id"]),
        &ex,
    )?;
    let args = call["arguments"].as_str().unwrap_or_default();
    let parsed: Value = serde_json::from_str(args).map_err(|e| {
        fail("arguments to be a JSON string", format!("{args:?} ({e})")).at(&ex.request)
    })?;
    ensure(
        parsed["city"].is_string(),
        "arguments with a string \"city\" (required by the tool schema)",
        show(&parsed),
        &ex,
    )?;
    pass()
}

async fn tool_output(ctx: &Ctx) -> Verdict {
    let (call_ex, r) = forced_call(ctx).await.map_err(Problem::into_precondition)?;
    let call_id = r["output"]
        .as_array()
        .and_then(|o| o.iter().find(|i| i["type"] == "function_call"))
        .and_then(|c| c["call_id"].as_str());
    let Some(call_id) = call_id else {
        return Err(precondition(
            "a function call to answer (see responses.tools)",
            show(&r["output"]),
        )
        .at(&call_ex.request));
    };
    let mut input = r["output"].as_array().cloned().unwrap_or_default();
    input.insert(0, json!({"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}));
    input.push(json!({"type": "function_call_output", "call_id": call_id, "output": "{\"temperature_c\": 21}"}));
    let body = json!({"model": ctx.chat_model()?, "tools": weather_tool(), "input": input, "store": false});
    let (ex, reply) = create(ctx, body).await?;
    ensure(
        !output_text_of(&reply).is_empty(),
        "a text reply after the function_call_output",
        show(&reply["output"]),
        &ex,
    )?;
    pass()
}

/// What the stored response of these checks is asked.
const STORED_INPUT: &str = "Remember the word: lighthouse.";

async fn stored(ctx: &Ctx) -> Result<(Exchange, Value, String), Problem> {
    let body = json!({"model": ctx.chat_model()?, "input": STORED_INPUT, "store": true});
    let (ex, r) = create(ctx, body).await?;
    let id = r["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| fail("an id", show(&r)).at(&ex.request))?;
    Ok((ex, r, id))
}

async fn previous_response_id(ctx: &Ctx) -> Verdict {
    let (_, _, id) = stored(ctx).await?;
    let body = json!({"model": ctx.chat_model()?, "input": "Which word did I ask you to remember?", "previous_response_id": id});
    let (ex, r) = create(ctx, body).await?;
    ensure(
        r["previous_response_id"] == id.as_str(),
        format!("previous_response_id {id:?} echoed"),
        show(&r["previous_response_id"]),
        &ex,
    )?;
    ensure(
        !output_text_of(&r).is_empty(),
        "a text answer",
        show(&r["output"]),
        &ex,
    )?;
    pass()
}

async fn retrieve(ctx: &Ctx) -> Verdict {
    let (_, created, id) = stored(ctx).await?;
    let ex = ctx.send(Req::get(format!("/v1/responses/{id}"))).await?;
    let got = expect_ok_json(&ex)?;
    ctx.schema("response", &got, &ex)?;
    ensure(
        got["id"] == id.as_str() && got["output"] == created["output"],
        "the same id and output as when created",
        show(&got),
        &ex,
    )?;
    pass()
}

async fn input_items(ctx: &Ctx) -> Verdict {
    let (_, _, id) = stored(ctx).await?;
    let ex = ctx
        .send(Req::get(format!("/v1/responses/{id}/input_items")))
        .await?;
    let list = expect_ok_json(&ex)?;
    ctx.schema("response-item-list", &list, &ex)?;
    // The item must be the one sent, text included: an example item ("string") is not it.
    let sent = STORED_INPUT;
    let found = list["data"].as_array().into_iter().flatten().any(|item| {
        item["type"] == "message"
            && item["role"] == "user"
            && text_of_content(&item["content"]).contains(sent)
    });
    ensure(
        found,
        format!("the user message sent, {sent:?}, as an input item"),
        show(&list["data"]),
        &ex,
    )?;
    pass()
}

/// The text of a message's `content`: a string, or its parts' `text` joined.
fn text_of_content(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

async fn delete(ctx: &Ctx) -> Verdict {
    let (_, _, id) = stored(ctx).await?;
    let ex = ctx.send(Req::delete(format!("/v1/responses/{id}"))).await?;
    let body = expect_ok_json(&ex)?;
    ctx.schema("response-deleted", &body, &ex)?;
    ensure(
        body["id"] == id.as_str(),
        format!("id {id:?}"),
        show(&body["id"]),
        &ex,
    )?;
    let after = ctx.send(Req::get(format!("/v1/responses/{id}"))).await?;
    expect_envelope(ctx, &after, &[404])
        .map_err(|p| p.hint("a deleted response must no longer be retrievable"))?;
    pass()
}
