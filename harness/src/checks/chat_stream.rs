//! `/v1/chat/completions` with `stream: true`.

use super::*;
use crate::target::sse::SseEvent;

pub fn checks() -> Vec<Check> {
    vec![
        check!(
            "chat.stream.content-type",
            OpenaiCore,
            "A chat stream is served as text/event-stream",
            content_type
        ),
        check!(
            "chat.stream.framing",
            OpenaiCore,
            "Every event is one JSON data line, no id: lines, and data: [DONE] ends the stream",
            framing
        ),
        check!(
            "chat.stream.chunks",
            OpenaiCore,
            "Chunks match the chunk schema, share one id, send role once and finish once",
            chunks
        ),
        check!(
            "chat.stream.usage",
            OpenaiCore,
            "include_usage adds a final chunk with empty choices and correct usage",
            usage
        ),
        check!(
            "chat.stream.ttft",
            OpenaiCore,
            "Content deltas arrive; time to first token is measured",
            ttft
        ),
        check!(
            "chat.stream.tools",
            OpenaiCore,
            "Streamed tool calls send id and name once and arguments that join to JSON",
            tools
        ),
        check!(
            "chat.stream.text-equals-plain",
            Facade,
            "The streamed text equals the non-streamed text for the same request",
            text_equals_plain
        ),
    ]
}

/// The JSON chunks of a stream (everything before `[DONE]`), failing on non-JSON data.
pub fn json_events(events: &[SseEvent], ex: &Exchange) -> Result<Vec<Value>, Problem> {
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.data == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(&e.data).map_err(|err| {
            fail(
                format!("event {i} data to be JSON"),
                format!("{:?} ({err})", crate::target::excerpt(&e.data, 120)),
            )
            .at(&ex.request)
        })?;
        out.push(v);
    }
    Ok(out)
}

/// Common SSE framing rules; `done_required` demands the `[DONE]` terminator.
pub fn check_framing(s: &StreamExchange, done_required: bool) -> Result<(), Problem> {
    let ex = &s.exchange;
    expect_status(ex, 200)?;
    if let Some(cut) = &s.cut {
        return Err(fail("a complete stream within the timeout", cut.clone()).at(&ex.request));
    }
    if s.events.is_empty() {
        let problem = fail("an SSE stream of events", no_events(s)).at(&ex.request);
        return Err(stream_symptom(problem, ex));
    }
    ensure(
        s.odd_lines.is_empty(),
        "only event:, data:, id:, retry: and : comment lines",
        format!("lines {:?}", s.odd_lines),
        ex,
    )?;
    ensure(
        !s.unterminated,
        "every event ended by a blank line",
        "the body ends inside an event",
        ex,
    )?;
    if let Some((i, e)) = s.events.iter().enumerate().find(|(_, e)| e.id.is_some()) {
        return Err(fail(
            "no id: lines (the Python SDK then crashes on blank lines)",
            format!("event {i} has id {:?}", e.id),
        )
        .at(&ex.request));
    }
    if let Some((i, _)) = s.events.iter().enumerate().find(|(_, e)| e.data_lines == 0) {
        return Err(fail(
            "data on every event (empty events crash both SDKs)",
            format!("event {i} has no data line"),
        )
        .at(&ex.request));
    }
    let done = s.events.iter().position(|e| e.data == "[DONE]");
    match done {
        Some(i) if i + 1 != s.events.len() => Err(fail(
            "data: [DONE] as the last event",
            format!("{} events after [DONE]", s.events.len() - i - 1),
        )
        .at(&ex.request)),
        None if done_required => Err(fail(
            "data: [DONE] at the end of the stream",
            format!(
                "the stream ended after {} events without [DONE]",
                s.events.len()
            ),
        )
        .at(&ex.request)),
        _ => Ok(()),
    }
}

async fn content_type(ctx: &Ctx) -> Verdict {
    let s = ctx.chat_stream().await?;
    let ex = &s.exchange;
    expect_status(ex, 200).map_err(Problem::into_precondition)?;
    expect_media_type(ex, "text/event-stream")?;
    pass()
}

async fn framing(ctx: &Ctx) -> Verdict {
    let s = ctx.chat_stream().await?;
    check_framing(&s, true)?;
    json_events(&s.events, &s.exchange)?;
    pass_with(format!("{} events", s.events.len()))
}

async fn chunks(ctx: &Ctx) -> Verdict {
    let s = ctx.chat_stream().await?;
    let ex = &s.exchange;
    let chunks = stream_json(&s)?;
    let id = &chunks[0]["id"];
    for (i, c) in chunks.iter().enumerate() {
        let problems = ctx.schemas.problems("chat-completion-chunk", c);
        ensure(
            problems.is_empty(),
            format!("chunk {i} valid against schemas/chat-completion-chunk.schema.json"),
            problems.join("; "),
            ex,
        )?;
        ensure(
            &c["id"] == id,
            "the same id on every chunk",
            format!("chunk {i} has id {} after {}", show(&c["id"]), show(id)),
            ex,
        )?;
    }
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].as_array())
        .flatten()
        .collect();
    let roles = deltas
        .iter()
        .filter(|d| d["delta"].get("role").is_some_and(|r| !r.is_null()))
        .count();
    ensure(
        roles == 1,
        "delta.role exactly once (the SDK accumulators concatenate repeats)",
        format!("role sent {roles} times"),
        ex,
    )?;
    let finishes = deltas
        .iter()
        .filter(|d| !d["finish_reason"].is_null())
        .count();
    ensure(
        finishes == 1,
        "exactly one non-null finish_reason",
        format!("{finishes}"),
        ex,
    )?;
    pass()
}

async fn usage(ctx: &Ctx) -> Verdict {
    let s = ctx.chat_stream().await?;
    let ex = &s.exchange;
    let chunks = stream_json(&s)?;
    let Some((last, rest)) = chunks.split_last() else {
        return Err(precondition("chunks", "none").at(&ex.request));
    };
    ensure(
        last["choices"] == json!([]),
        "a final chunk with \"choices\": [] (include_usage)",
        format!("last chunk choices {}", show(&last["choices"])),
        ex,
    )?;
    let u = &last["usage"];
    let (p, c, t) = (
        u["prompt_tokens"].as_u64(),
        u["completion_tokens"].as_u64(),
        u["total_tokens"].as_u64(),
    );
    ensure(
        matches!((p, c, t), (Some(p), Some(c), Some(t)) if p + c == t && c > 0),
        "usage with total = prompt + completion",
        show(u),
        ex,
    )?;
    if let Some(i) = rest
        .iter()
        .position(|c| c.get("usage").is_some_and(|u| !u.is_null()))
    {
        return Err(fail(
            "usage null on every chunk but the last",
            format!("chunk {i} carries usage"),
        )
        .at(&ex.request));
    }
    pass()
}

async fn ttft(ctx: &Ctx) -> Verdict {
    let s = ctx.chat_stream().await?;
    let ex = &s.exchange;
    stream_json(&s)?;
    let first = s.events.iter().find(|e| {
        serde_json::from_str::<Value>(&e.data)
            .ok()
            .and_then(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(|c| !c.is_empty())
            })
            .unwrap_or(false)
    });
    let Some(first) = first else {
        return Err(fail(
            "at least one non-empty content delta",
            "no content in any chunk",
        )
        .at(&ex.request));
    };
    Ok(first_token(first.at, s.ttfb))
}

async fn tools(ctx: &Ctx) -> Verdict {
    let body = json!({
        "model": ctx.chat_model()?,
        "stream": true,
        "messages": [{"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": serde_json::from_str::<Value>(super::chat::WEATHER_PARAMS).unwrap_or_default()}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    });
    let s = ctx.stream(Req::post("/v1/chat/completions", &body)).await?;
    let ex = &s.exchange;
    check_framing(&s, true)?;
    let chunks = json_events(&s.events, ex)?;
    let fragments: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect();
    ensure(
        !fragments.is_empty(),
        "tool_calls fragments in the deltas",
        "none",
        ex,
    )?;
    ensure(
        fragments.iter().all(|f| f["index"].is_u64()),
        "an index on every tool_calls fragment",
        "a fragment without index",
        ex,
    )?;
    let ids = fragments
        .iter()
        .filter(|f| f.get("id").is_some_and(|i| !i.is_null()))
        .count();
    let names = fragments
        .iter()
        .filter(|f| f["function"].get("name").is_some_and(|n| !n.is_null()))
        .count();
    ensure(
        ids == 1 && names == 1,
        "id and function.name once per tool call (the SDKs concatenate repeats)",
        format!("id sent {ids} times, name {names} times"),
        ex,
    )?;
    let args: String = fragments
        .iter()
        .filter_map(|f| f["function"]["arguments"].as_str())
        .collect();
    ensure(
        serde_json::from_str::<Value>(&args).is_ok(),
        "arguments fragments that join to JSON",
        format!("{args:?}"),
        ex,
    )?;
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str().map(str::to_owned));
    ensure(
        finish.as_deref() == Some("tool_calls"),
        "finish_reason \"tool_calls\"",
        format!("{finish:?}"),
        ex,
    )?;
    pass()
}

async fn text_equals_plain(ctx: &Ctx) -> Verdict {
    let s = ctx.chat_stream().await?;
    let streamed: String = stream_json(&s)?
        .iter()
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    let plain_ex = ctx.chat_plain().await?;
    let plain = expect_ok_json(&plain_ex)?;
    let text = plain["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    if text.is_empty() {
        return Err(precondition(
            "a non-streamed completion with text to compare",
            show(&plain["choices"]),
        )
        .at(&plain_ex.request));
    }
    ensure(
        streamed == text,
        format!("the streamed text to equal the plain text {text:?}"),
        format!("{streamed:?}"),
        &s.exchange,
    )?;
    pass()
}
