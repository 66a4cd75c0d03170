//! `/v1/chat/completions` (non-streaming).

use super::*;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "chat.schema",
            OpenaiCore,
            "A chat completion matches CreateChatCompletionResponse",
            schema
        ),
        check!(
            "chat.finish-reason",
            OpenaiCore,
            "A short answer ends with finish_reason stop",
            finish_reason
        ),
        check!(
            "chat.usage",
            OpenaiCore,
            "usage.total_tokens = prompt_tokens + completion_tokens",
            usage
        ),
        check!(
            "chat.max-tokens.length",
            OpenaiCore,
            "max_completion_tokens cuts the answer with finish_reason length",
            max_tokens
        ),
        check!(
            "chat.n",
            OpenaiCore,
            "n: 2 gives two choices indexed 0 and 1",
            n_choices
        ),
        check!(
            "chat.tools",
            OpenaiCore,
            "A forced function tool gives tool_calls with JSON arguments valid for its schema",
            tools
        ),
        check!(
            "chat.tool-result",
            OpenaiCore,
            "A tool message answering a call gives an assistant text reply",
            tool_result
        ),
        check!(
            "chat.json-mode",
            OpenaiCore,
            "response_format json_object gives a JSON object",
            json_mode
        ),
        check!(
            "chat.json-schema",
            OpenaiCore,
            "response_format json_schema gives JSON valid against the schema",
            json_schema
        ),
    ]
}

pub const WEATHER_PARAMS: &str = r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}"#;

fn weather_params() -> Value {
    serde_json::from_str(WEATHER_PARAMS).unwrap_or(Value::Null)
}

async fn completion(ctx: &Ctx, body: Value) -> Result<(Exchange, Value), Problem> {
    let ex = ctx.send(Req::post("/v1/chat/completions", &body)).await?;
    let json = expect_ok_json(&ex)?;
    Ok((ex, json))
}

async fn schema(ctx: &Ctx) -> Verdict {
    let ex = ctx.chat_plain().await?;
    let body = expect_ok_json(&ex)?;
    ctx.schema("chat-completion", &body, &ex)?;
    pass()
}

async fn finish_reason(ctx: &Ctx) -> Verdict {
    let ex = ctx.chat_plain().await?;
    let body = expect_ok_json(&ex).map_err(Problem::into_precondition)?;
    let reason = &body["choices"][0]["finish_reason"];
    ensure(
        reason == "stop",
        "choices[0].finish_reason \"stop\"",
        show(reason),
        &ex,
    )?;
    let content = &body["choices"][0]["message"]["content"];
    ensure(
        content.as_str().is_some_and(|c| !c.is_empty()),
        "non-empty message.content",
        show(content),
        &ex,
    )?;
    pass()
}

async fn usage(ctx: &Ctx) -> Verdict {
    let ex = ctx.chat_plain().await?;
    let body = expect_ok_json(&ex).map_err(Problem::into_precondition)?;
    let u = &body["usage"];
    let (p, c, t) = (
        u["prompt_tokens"].as_u64(),
        u["completion_tokens"].as_u64(),
        u["total_tokens"].as_u64(),
    );
    match (p, c, t) {
        (Some(p), Some(c), Some(t)) if p + c == t && p > 0 && c > 0 => pass(),
        _ => Err(fail(
            "usage with prompt_tokens > 0, completion_tokens > 0 and total = prompt + completion",
            show(u),
        )
        .at(&ex.request)),
    }
}

async fn max_tokens(ctx: &Ctx) -> Verdict {
    let body = json!({
        "model": ctx.chat_model()?,
        "messages": [{"role": "user", "content": "Count from one to fifty in words, separated by spaces."}],
        "max_completion_tokens": 5,
    });
    let (ex, json) = completion(ctx, body).await?;
    let reason = &json["choices"][0]["finish_reason"];
    ensure(
        reason == "length",
        "finish_reason \"length\" when max_completion_tokens cuts the answer",
        show(reason),
        &ex,
    )?;
    let c = json["usage"]["completion_tokens"]
        .as_u64()
        .unwrap_or(u64::MAX);
    ensure(c <= 5, "usage.completion_tokens <= 5", format!("{c}"), &ex)?;
    pass()
}

async fn n_choices(ctx: &Ctx) -> Verdict {
    let mut body = ctx.chat_body(false)?;
    body["n"] = json!(2);
    let (ex, json) = completion(ctx, body).await?;
    let indices: Vec<Value> = json["choices"]
        .as_array()
        .map(|c| c.iter().map(|x| x["index"].clone()).collect())
        .unwrap_or_default();
    ensure(
        indices == [json!(0), json!(1)],
        "two choices with index 0 and 1",
        show(&json!(indices)),
        &ex,
    )?;
    pass()
}

async fn forced_call(ctx: &Ctx) -> Result<(Exchange, Value, Value), Problem> {
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city", "parameters": weather_params()}}]);
    let body = json!({
        "model": ctx.chat_model()?,
        "messages": [{"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}],
        "tools": tools,
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    });
    let (ex, json) = completion(ctx, body).await?;
    Ok((ex, json, tools))
}

async fn tools(ctx: &Ctx) -> Verdict {
    let (ex, json, _) = forced_call(ctx).await?;
    let choice = &json["choices"][0];
    ensure(
        choice["finish_reason"] == "tool_calls",
        "finish_reason \"tool_calls\"",
        show(&choice["finish_reason"]),
        &ex,
    )?;
    let call = &choice["message"]["tool_calls"][0];
    ensure(
        call["type"] == "function" && call["id"].as_str().is_some_and(|i| !i.is_empty()),
        "tool_calls[0] with an id and type function",
        show(call),
        &ex,
    )?;
    ensure(
        call["function"]["name"] == "get_weather",
        "function.name \"get_weather\"",
        show(&call["function"]["name"]),
        &ex,
    )?;
    let args = call["function"]["arguments"].as_str().unwrap_or_default();
    let parsed: Value = serde_json::from_str(args).map_err(|e| {
        fail(
            "function.arguments to be a JSON string",
            format!("{args:?} ({e})"),
        )
        .at(&ex.request)
    })?;
    // A schema that does not compile must not read as "no problems".
    let problems = match jsonschema::draft202012::new(&weather_params()) {
        Ok(v) => v
            .iter_errors(&parsed)
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        Err(e) => vec![format!("the tool's schema does not compile: {e}")],
    };
    ensure(
        problems.is_empty(),
        "arguments valid against the tool's parameters schema",
        problems.join("; "),
        &ex,
    )?;
    pass()
}

async fn tool_result(ctx: &Ctx) -> Verdict {
    let (ex, json, tools) = forced_call(ctx).await.map_err(Problem::into_precondition)?;
    let message = json["choices"][0]["message"].clone();
    let call = &message["tool_calls"][0];
    // Only a real call of the offered tool can be answered: an example's canned call (named
    // "string") answered by a canned reply proves nothing.
    let call_id = match call["id"].as_str() {
        Some(id) if !id.is_empty() && call["function"]["name"] == "get_weather" => id.to_owned(),
        _ => {
            return Err(precondition(
                "a call of the offered tool get_weather, with an id, to answer (see chat.tools)",
                show(&json["choices"]),
            )
            .at(&ex.request))
        }
    };
    let body = json!({
        "model": ctx.chat_model()?,
        "tools": tools,
        "messages": [
            {"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."},
            message,
            {"role": "tool", "tool_call_id": call_id, "content": TOOL_OUTPUT}
        ],
    });
    let (ex, reply) = completion(ctx, body).await?;
    let choice = &reply["choices"][0];
    let content = choice["message"]["content"].as_str().unwrap_or_default();
    ensure(
        !content.is_empty(),
        "an assistant text reply after the tool result",
        show(choice),
        &ex,
    )?;
    // The reply acts on the output: it says what the tool returned (its temperature or sky).
    let lower = content.to_lowercase();
    ensure(
        lower.contains("21") || lower.contains("clear"),
        format!("a reply that uses the tool's output {TOOL_OUTPUT} (mentions 21 or clear)"),
        show(choice),
        &ex,
    )?;
    pass()
}

/// What the harness's get_weather returns; its values are what a reply that read it says.
const TOOL_OUTPUT: &str = r#"{"temperature_c": 21, "sky": "clear"}"#;

async fn json_mode(ctx: &Ctx) -> Verdict {
    let body = json!({
        "model": ctx.chat_model()?,
        "messages": [{"role": "user", "content": "Reply with a JSON object that has a greeting field."}],
        "response_format": {"type": "json_object"},
    });
    let (ex, json) = completion(ctx, body).await?;
    let content = json["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    let parsed: Result<Value, _> = serde_json::from_str(content);
    ensure(
        parsed.as_ref().is_ok_and(Value::is_object),
        "message.content to be a JSON object",
        format!("{:?}", crate::target::excerpt(content, 200)),
        &ex,
    )?;
    pass()
}

async fn json_schema(ctx: &Ctx) -> Verdict {
    let schema = json!({"type": "object", "properties": {"name": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["name", "year"], "additionalProperties": false});
    let body = json!({
        "model": ctx.chat_model()?,
        "messages": [{"role": "user", "content": "Name a famous mathematician and the year they were born."}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": true}},
    });
    let (ex, json) = completion(ctx, body).await?;
    let content = json["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    let parsed: Value = serde_json::from_str(content).map_err(|e| {
        fail(
            "message.content to be JSON",
            format!("{:?} ({e})", crate::target::excerpt(content, 200)),
        )
        .at(&ex.request)
    })?;
    let valid = jsonschema::draft202012::new(&schema)
        .map(|v| v.is_valid(&parsed))
        .map_err(|e| fail("a schema that compiles", e.to_string()))?;
    ensure(
        valid,
        "JSON valid against the given schema",
        show(&parsed),
        &ex,
    )?;
    pass()
}
