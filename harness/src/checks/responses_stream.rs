//! `/v1/responses` with `stream: true`: framing, order, sequence numbers, event shapes, text.

use super::chat_stream::{check_framing, json_events};
use super::responses::output_text_of;
use super::*;

pub fn checks() -> Vec<Check> {
    vec![
        check!("responses.stream.content-type", OpenaiCore, "A responses stream is served as text/event-stream", content_type),
        check!("responses.stream.framing", OpenaiCore, "One JSON data line per event, event: equal to type, no id: lines", framing),
        check!("responses.stream.events-schema", OpenaiCore, "Every event has type and sequence_number and its documented required fields", events_schema),
        check!("responses.stream.sequence", OpenaiCore, "sequence_number starts at 0 and rises by 1", sequence),
        check!("responses.stream.order", OpenaiCore, "Events follow the documented lifecycle: created, in_progress, items nested, one terminal event last", order),
        check!("responses.stream.text-consistency", OpenaiCore, "Deltas join to output_text.done, and to the text of the final response", text_consistency),
        check!("responses.stream.ttft", OpenaiCore, "Text deltas arrive; time to first token is measured", ttft),
        check!("responses.stream.function-call", OpenaiCore, "A streamed function call sends argument deltas that join to the done arguments", function_call),
        check!("responses.stream.done", Facade, "The stream ends with data: [DONE] after the terminal event (Open Responses)", done),
        check!("responses.stream.text-equals-plain", Facade, "The streamed text equals the non-streamed text for the same request", text_equals_plain),
    ]
}

async fn events(ctx: &Ctx) -> Result<(std::sync::Arc<StreamExchange>, Vec<Value>), Problem> {
    let s = ctx.responses_stream().await?;
    let events = stream_json(&s)?;
    Ok((s, events))
}

async fn content_type(ctx: &Ctx) -> Verdict {
    let s = ctx.responses_stream().await?;
    let ex = &s.exchange;
    expect_status(ex, 200).map_err(Problem::into_precondition)?;
    expect_media_type(ex, "text/event-stream")?;
    pass()
}

async fn framing(ctx: &Ctx) -> Verdict {
    let s = ctx.responses_stream().await?;
    check_framing(&s, false)?;
    let ex = &s.exchange;
    for (i, e) in s
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.data != "[DONE]")
    {
        ensure(
            e.data_lines == 1,
            format!("event {i} on one data: line"),
            format!("{} data lines", e.data_lines),
            ex,
        )?;
        let kind = serde_json::from_str::<Value>(&e.data)
            .ok()
            .and_then(|v| v["type"].as_str().map(str::to_owned));
        if let Some(name) = &e.event {
            ensure(
                Some(name) == kind.as_ref(),
                format!("event {i}: the event: line equal to the JSON type"),
                format!("event: {name}, type {kind:?}"),
                ex,
            )?;
        }
    }
    pass()
}

async fn events_schema(ctx: &Ctx) -> Verdict {
    let (s, events) = events(ctx).await?;
    for (i, e) in events.iter().enumerate() {
        let problems = ctx.schemas.problems("response-stream-event", e);
        ensure(
            problems.is_empty(),
            format!(
                "event {i} ({}) valid against schemas/response-stream-event.schema.json",
                e["type"]
            ),
            problems.join("; "),
            &s.exchange,
        )?;
    }
    pass()
}

async fn sequence(ctx: &Ctx) -> Verdict {
    let (s, events) = events(ctx).await?;
    for (i, e) in events.iter().enumerate() {
        ensure(
            e["sequence_number"] == json!(i),
            format!("sequence_number {i} on event {i}"),
            format!("{} on {}", show(&e["sequence_number"]), e["type"]),
            &s.exchange,
        )?;
    }
    pass()
}

/// Checks the lifecycle rules of WIRE_FACTS.md §4.4 and the Open Responses item state machine.
pub fn lifecycle(events: &[Value]) -> Result<(), (String, String)> {
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    let err = |expected: &str, seen: String| Err((expected.to_owned(), seen));
    if kinds.first() != Some(&"response.created") {
        return err("response.created first", format!("{:?}", kinds.first()));
    }
    if events[0]["response"]["output"] != json!([]) {
        return err(
            "response.created with an empty output",
            show(&events[0]["response"]["output"]),
        );
    }
    if kinds.get(1) != Some(&"response.in_progress") && kinds.get(1) != Some(&"response.queued") {
        return err(
            "response.in_progress (or queued) second",
            format!("{:?}", kinds.get(1)),
        );
    }
    let terminal = [
        "response.completed",
        "response.incomplete",
        "response.failed",
    ];
    let terminals: Vec<usize> = kinds
        .iter()
        .enumerate()
        .filter(|(_, k)| terminal.contains(k))
        .map(|(i, _)| i)
        .collect();
    if terminals != [kinds.len() - 1] {
        return err(
            "exactly one terminal event, last",
            format!("terminal events at {terminals:?} of {}", kinds.len()),
        );
    }
    // Item and part nesting: added before deltas, done after, indices appended in order.
    let mut items: Vec<(String, bool)> = Vec::new();
    let mut parts: std::collections::HashMap<(u64, u64), bool> = Default::default();
    for (i, e) in events.iter().enumerate() {
        let kind = kinds[i];
        let out = e["output_index"].as_u64();
        match kind {
            "response.output_item.added" => {
                if out != Some(items.len() as u64) {
                    return err(
                        "output_index equal to the number of items added so far",
                        format!("event {i}: {out:?} with {} items", items.len()),
                    );
                }
                items.push((e["item"]["id"].as_str().unwrap_or("").to_owned(), false));
            }
            "response.output_item.done" => match out.and_then(|o| items.get_mut(o as usize)) {
                Some((id, done)) if !*done && e["item"]["id"].as_str() == Some(id.as_str()) => {
                    *done = true
                }
                _ => {
                    return err(
                        "output_item.done once, after output_item.added, with the same item id",
                        format!("event {i}: {}", show(e)),
                    )
                }
            },
            "response.content_part.added" => {
                let key = (
                    out.unwrap_or(u64::MAX),
                    e["content_index"].as_u64().unwrap_or(u64::MAX),
                );
                if out
                    .and_then(|o| items.get(o as usize))
                    .is_none_or(|(_, done)| *done)
                    || parts.insert(key, false).is_some()
                {
                    return err(
                        "content_part.added inside an open item, once per part",
                        format!("event {i}: {}", show(e)),
                    );
                }
            }
            "response.content_part.done" => {
                let key = (
                    out.unwrap_or(u64::MAX),
                    e["content_index"].as_u64().unwrap_or(u64::MAX),
                );
                match parts.get_mut(&key) {
                    Some(done) if !*done => *done = true,
                    _ => {
                        return err(
                            "content_part.done once, after its content_part.added",
                            format!("event {i}: {}", show(e)),
                        )
                    }
                }
            }
            k if k.starts_with("response.output_text.") || k.starts_with("response.refusal.") => {
                let key = (
                    out.unwrap_or(u64::MAX),
                    e["content_index"].as_u64().unwrap_or(u64::MAX),
                );
                if parts.get(&key) != Some(&false) {
                    return err(
                        "text events inside an open content part",
                        format!("event {i} ({k}) for part {key:?}"),
                    );
                }
                let item_id = out
                    .and_then(|o| items.get(o as usize))
                    .map(|(id, _)| id.as_str());
                if e["item_id"].as_str() != item_id {
                    return err(
                        "item_id equal to the id of the item at output_index",
                        format!("event {i}: {} vs {item_id:?}", show(&e["item_id"])),
                    );
                }
            }
            k if k.starts_with("response.function_call_arguments.")
                && out
                    .and_then(|o| items.get(o as usize))
                    .is_none_or(|(_, done)| *done) =>
            {
                return err(
                    "argument events inside an open item",
                    format!("event {i}: {}", show(e)),
                );
            }
            _ => {}
        }
    }
    if let Some((id, _)) = items.iter().find(|(_, done)| !done) {
        return err(
            "output_item.done for every added item",
            format!("item {id} never done"),
        );
    }
    if parts.values().any(|done| !done) {
        return err(
            "content_part.done for every added part",
            "a part never done".to_owned(),
        );
    }
    Ok(())
}

async fn order(ctx: &Ctx) -> Verdict {
    let (s, events) = events(ctx).await?;
    lifecycle(&events).map_err(|(expected, seen)| fail(expected, seen).at(&s.exchange.request))?;
    pass()
}

async fn text_consistency(ctx: &Ctx) -> Verdict {
    let (s, events) = events(ctx).await?;
    let ex = &s.exchange;
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    let done = events
        .iter()
        .find(|e| e["type"] == "response.output_text.done");
    let done = match done {
        Some(d) => d["text"].as_str().unwrap_or_default(),
        None if deltas.is_empty() => {
            return Err(precondition(
                "output text events (deltas and response.output_text.done)",
                format!(
                    "none among {}",
                    crate::text::plural(events.len(), "event", "events")
                ),
            )
            .at(&ex.request))
        }
        None => {
            return Err(
                fail("a response.output_text.done event after the deltas", "none").at(&ex.request),
            )
        }
    };
    if deltas.is_empty() && done.is_empty() {
        return Err(precondition(
            "some output text to compare",
            "no deltas and an empty response.output_text.done",
        )
        .at(&ex.request));
    }
    ensure(
        deltas == done,
        format!("deltas joining to output_text.done text {done:?}"),
        format!("{deltas:?}"),
        ex,
    )?;
    let final_text = events
        .last()
        .map(|e| output_text_of(&e["response"]))
        .unwrap_or_default();
    ensure(
        final_text == done,
        format!("the terminal event's response text to equal {done:?}"),
        format!("{final_text:?}"),
        ex,
    )?;
    pass()
}

async fn ttft(ctx: &Ctx) -> Verdict {
    let s = ctx.responses_stream().await?;
    stream_json(&s)?;
    let first = s
        .events
        .iter()
        .find(|e| e.data.contains("\"response.output_text.delta\""));
    let Some(first) = first else {
        return Err(fail("at least one response.output_text.delta", "none").at(&s.exchange.request));
    };
    Ok(first_token(first.at, s.ttfb))
}

async fn function_call(ctx: &Ctx) -> Verdict {
    let body = json!({
        "model": ctx.chat_model()?,
        "stream": true,
        "input": "What is the weather in Paris? Use the get_weather tool.",
        "tools": [{"type": "function", "name": "get_weather", "strict": true, "parameters": serde_json::from_str::<Value>(super::chat::WEATHER_PARAMS).unwrap_or_default()}],
        "tool_choice": {"type": "function", "name": "get_weather"},
    });
    let s = ctx.stream(Req::post("/v1/responses", &body)).await?;
    let ex = &s.exchange;
    check_framing(&s, false)?;
    let events = json_events(&s.events, ex)?;
    lifecycle(&events).map_err(|(expected, seen)| fail(expected, seen).at(&ex.request))?;
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    let done = events
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done");
    let Some(done) = done else {
        return Err(fail("a response.function_call_arguments.done event", "none").at(&ex.request));
    };
    let args = done["arguments"].as_str().unwrap_or_default();
    ensure(
        deltas == args,
        format!("argument deltas joining to {args:?}"),
        format!("{deltas:?}"),
        ex,
    )?;
    ensure(
        serde_json::from_str::<Value>(args).is_ok(),
        "JSON arguments",
        format!("{args:?}"),
        ex,
    )?;
    let added = events.iter().find(|e| {
        e["type"] == "response.output_item.added" && e["item"]["type"] == "function_call"
    });
    ensure(
        added.is_some_and(|a| a["item"]["call_id"].as_str().is_some_and(|c| !c.is_empty())),
        "output_item.added with a function_call item carrying a call_id",
        added.map(show).unwrap_or_else(|| "none".into()),
        ex,
    )?;
    pass()
}

async fn done(ctx: &Ctx) -> Verdict {
    let s = ctx.responses_stream().await?;
    check_framing(&s, true)?;
    pass()
}

async fn text_equals_plain(ctx: &Ctx) -> Verdict {
    let (s, events) = events(ctx).await?;
    let streamed: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    let plain_ex = ctx.responses_plain().await?;
    let plain = output_text_of(&expect_ok_json(&plain_ex).map_err(Problem::into_precondition)?);
    if plain.is_empty() {
        return Err(precondition(
            "a non-streamed response with output text to compare",
            plain_ex.excerpt(),
        )
        .at(&plain_ex.request));
    }
    ensure(
        streamed == plain,
        format!("the streamed text to equal the plain text {plain:?}"),
        format!("{streamed:?}"),
        &s.exchange,
    )?;
    pass()
}
