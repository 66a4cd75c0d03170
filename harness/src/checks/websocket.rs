//! Open Responses' WebSocket mode on `/v1/responses` (2026-04-24, WIRE_FACTS §8): each
//! `response.create` message answered with the stream's events, one response in flight per
//! socket, continuations (stored, and `store: false` ones from the connection's own state),
//! and `previous_response_not_found` for an id the connection does not know.

use super::open_responses::item_rules;
use super::*;
use crate::target::socket::{Incoming, Opened, Socket};
use std::time::Instant;

pub fn checks() -> Vec<Check> {
    vec![
        check!("open-responses.websocket.sequence", OpenResponses, "Over a WebSocket on /v1/responses, two response.create messages in turn are each answered with a whole event sequence (response.created first, rising sequence numbers, items in order, response.completed)", sequence),
        check!("open-responses.websocket.one-in-flight", OpenResponses, "A second response.create sent while a response is in flight is refused with an error message {type, status, error{code, message}} (or waits its turn) and the first completes", one_in_flight),
        check!("open-responses.websocket.continuation", OpenResponses, "On a socket, response.create with the previous_response_id of a stored response continues it", continuation),
        check!("open-responses.websocket.store-false", OpenResponses, "On a socket, a store:false response is continued from the connection's own state", store_false),
        check!("open-responses.websocket.not-found", OpenResponses, "On a socket, an unknown previous_response_id is an error message with code previous_response_not_found, and the socket goes on serving", not_found),
        check!("open-responses.websocket.failed-continuation", OpenResponses, "A continuation of a store:false response that fails (a function_call_output answering no call) evicts it: continuing it again is previous_response_not_found", failed_continuation),
        check!("open-responses.websocket.reconnect", OpenResponses, "A store:false response does not outlive its socket: on a new one, continuing it is previous_response_not_found, and a fresh response completes", reconnect),
        check!("open-responses.websocket.compact", OpenResponses, "The output of /v1/responses/compact, sent as the input of a new response on a socket (no previous_response_id), completes", compact_chain),
    ]
}

/// Events that end a response.
const TERMINAL: [&str; 3] = [
    "response.completed",
    "response.failed",
    "response.incomplete",
];

/// Opens the socket; a refused upgrade fails the check (the mode is what it tests).
async fn open(ctx: &Ctx) -> Result<Socket, Problem> {
    match ctx.target.socket("/v1/responses").await? {
        Opened::Open(socket) => Ok(socket),
        Opened::Refused(ex) => Err(fail(
            "the WebSocket upgrade on /v1/responses (101 Switching Protocols): the WebSocket mode of Open Responses 2026-04-24",
            format!("HTTP {}: {}", ex.status, ex.excerpt()),
        )
        .at(&ex.request)),
    }
}

/// Opens the socket for a check whose subject is one rule of the mode: a refused upgrade is
/// `open-responses.websocket.sequence`'s failure, not this check's.
async fn open_for_rule(ctx: &Ctx) -> Result<Socket, Problem> {
    open(ctx).await.map_err(Problem::into_precondition)
}

/// A `response.create` message.
fn create(ctx: &Ctx, input: &str, extra: Value) -> Result<Value, Problem> {
    let mut message =
        json!({"type": "response.create", "model": ctx.chat_model()?, "input": input});
    if let (Some(m), Some(extra)) = (message.as_object_mut(), extra.as_object()) {
        m.extend(extra.clone());
    }
    Ok(message)
}

/// What the server answered one `response.create` with.
struct Turn {
    /// The response's events, in order.
    events: Vec<Value>,
    /// An error message sent before any event of a response: the message was refused.
    refused: Option<Value>,
    /// The socket closed before the response ended (with the close reason).
    closed: Option<Option<String>>,
}

/// Reads one response's messages: up to its terminal event, a refusal, or the socket's end.
async fn read_turn(socket: &mut Socket) -> Result<Turn, Problem> {
    let deadline = Instant::now() + socket.timeout();
    let mut turn = Turn {
        events: Vec::new(),
        refused: None,
        closed: None,
    };
    loop {
        match socket.recv(deadline).await? {
            Incoming::Json(v) => {
                if v["type"] == "error" && turn.events.is_empty() {
                    turn.refused = Some(v);
                    return Ok(turn);
                }
                let end = TERMINAL.contains(&v["type"].as_str().unwrap_or_default());
                turn.events.push(v);
                if end {
                    return Ok(turn);
                }
            }
            Incoming::Closed(reason) => {
                turn.closed = Some(reason);
                return Ok(turn);
            }
            other => return Err(not_json(socket, &other)),
        }
    }
}

fn not_json(socket: &Socket, message: &Incoming) -> Problem {
    let seen = match message {
        Incoming::Text(t) => format!("text that is not JSON: {}", crate::target::excerpt(t, 200)),
        Incoming::Binary(n) => format!("a binary message of {n} bytes"),
        other => format!("{other:?}"),
    };
    fail("JSON text messages", seen).at(&socket.record())
}

/// The completed response a turn ended with, or what it ended with instead.
fn completed(socket: &Socket, turn: &Turn, which: &str) -> Result<Value, Problem> {
    let at = socket.record();
    if let Some(error) = &turn.refused {
        return Err(fail(format!("{which} answered with its events"), show(error)).at(&at));
    }
    if let Some(reason) = &turn.closed {
        return Err(fail(
            format!("{which} answered up to response.completed"),
            format!(
                "the socket closed after {} event(s){}",
                turn.events.len(),
                reason
                    .as_deref()
                    .map(|r| format!(" (reason {r:?})"))
                    .unwrap_or_default()
            ),
        )
        .at(&at));
    }
    let last = turn.events.last().cloned().unwrap_or_default();
    let response = &last["response"];
    if last["type"] != "response.completed" || response["status"] != "completed" {
        return Err(fail(
            format!("{which} ending with response.completed, status completed"),
            show(&last),
        )
        .at(&at));
    }
    if !response["id"].is_string() {
        return Err(fail(format!("{which}'s response with an id"), show(response)).at(&at));
    }
    Ok(response.clone())
}

/// The event rules of one response on a socket: JSON objects with a type and a rising
/// sequence_number, response.created first, and the item state machine.
fn event_rules(socket: &Socket, turn: &Turn, which: &str) -> Result<(), Problem> {
    let at = socket.record();
    let first = turn.events.first().map(|e| &e["type"]);
    if first.is_none_or(|t| t != "response.created") {
        return Err(fail(
            format!("{which}: response.created first"),
            first.map_or_else(|| "no event".to_owned(), show),
        )
        .at(&at));
    }
    let mut previous: Option<u64> = None;
    for (i, e) in turn.events.iter().enumerate() {
        let kind = e["type"].as_str().unwrap_or_default();
        let Some(n) = e["sequence_number"].as_u64() else {
            return Err(fail(
                format!("{which}: event {i} ({kind}) with an integer sequence_number"),
                show(e),
            )
            .at(&at));
        };
        if previous.is_some_and(|p| n <= p) {
            return Err(fail(
                format!("{which}: sequence numbers rising"),
                format!("event {i} ({kind}) has {n} after {previous:?}"),
            )
            .at(&at));
        }
        previous = Some(n);
    }
    item_rules(&turn.events).map_err(|p| p.at(&at))
}

/// The error message shape of the WebSocket mode: `{type: "error", status, error: {code, message}}`.
fn error_message(socket: &Socket, error: &Value, what: &str) -> Result<(), Problem> {
    let ok = error["type"] == "error"
        && error["status"]
            .as_u64()
            .is_some_and(|s| (400..600).contains(&s))
        && error["error"]["code"].is_string()
        && error["error"]["message"].is_string();
    if ok {
        Ok(())
    } else {
        Err(fail(
            format!("{what} as a WebSocket error message {{\"type\": \"error\", \"status\": <4xx/5xx>, \"error\": {{\"code\", \"message\"}}}}"),
            show(error),
        )
        .at(&socket.record()))
    }
}

async fn sequence(ctx: &Ctx) -> Verdict {
    let mut socket = open(ctx).await?;
    let mut ids = Vec::new();
    let mut counts = Vec::new();
    for which in [
        "the first response",
        "the second response on the same socket",
    ] {
        socket
            .send(&create(ctx, BASELINE_PROMPT, json!({}))?)
            .await?;
        let turn = read_turn(&mut socket).await?;
        let response = completed(&socket, &turn, which)?;
        event_rules(&socket, &turn, which)?;
        ids.push(response["id"].clone());
        counts.push(turn.events.len());
    }
    if ids[0] == ids[1] {
        return Err(fail("two responses with their own ids", show(&ids[1])).at(&socket.record()));
    }
    socket.close().await;
    pass_with(format!(
        "two responses on one socket, {} and {} events",
        counts[0], counts[1]
    ))
}

async fn one_in_flight(ctx: &Ctx) -> Verdict {
    let mut socket = open_for_rule(ctx).await?;
    let first = create(ctx, BASELINE_PROMPT, json!({}))?;
    socket.send(&first).await?;
    socket.send(&first).await?;
    let deadline = Instant::now() + socket.timeout() * 2;
    // The first response's id, once created; whether it ended; how the second was answered.
    let mut running: Option<Value> = None;
    let mut first_done = false;
    let mut refusal: Option<Value> = None;
    let mut second_done = false;
    while !(first_done && (refusal.is_some() || second_done)) {
        let v = match socket.recv(deadline).await? {
            Incoming::Json(v) => v,
            Incoming::Closed(reason) => {
                return Err(fail(
                    "both messages answered before the socket closes",
                    format!(
                        "closed (reason {reason:?}); the first response {}",
                        if first_done { "ended" } else { "never ended" }
                    ),
                )
                .at(&socket.record()))
            }
            other => return Err(not_json(&socket, &other)),
        };
        let kind = v["type"].as_str().unwrap_or_default();
        let id = &v["response"]["id"];
        match kind {
            "error" if refusal.is_none() && !second_done => {
                error_message(&socket, &v, "the refusal of the second response.create")?;
                refusal = Some(v);
            }
            "response.created" if running.is_none() => running = Some(id.clone()),
            "response.created" if !first_done => {
                return Err(fail(
                    "one response in flight per socket",
                    format!(
                        "a second response ({}) started before the first ended",
                        show(id)
                    ),
                )
                .at(&socket.record()))
            }
            k if TERMINAL.contains(&k) && !first_done => {
                if k != "response.completed" || Some(id) != running.as_ref() {
                    return Err(fail(
                        "the first response completed whatever happened to the second message",
                        show(&v),
                    )
                    .at(&socket.record()));
                }
                first_done = true;
            }
            k if TERMINAL.contains(&k) => second_done = true,
            _ => {}
        }
    }
    socket.close().await;
    match refusal {
        Some(e) => pass_with(format!(
            "the second response.create was refused: {} {}",
            e["status"], e["error"]["code"]
        )),
        None => pass_with("the server answered the two messages one after the other"),
    }
}

async fn continuation(ctx: &Ctx) -> Verdict {
    continued(ctx, true).await
}

async fn store_false(ctx: &Ctx) -> Verdict {
    continued(ctx, false).await
}

/// A response (stored or not, as `store` says) and its continuation on the same socket, which
/// must complete and name what it continues.
async fn continued(ctx: &Ctx, store: bool) -> Verdict {
    let mut socket = open_for_rule(ctx).await?;
    let (first_name, second_name) = if store {
        ("the first response", "the continuation")
    } else {
        (
            "the store:false response",
            "the continuation of the store:false response",
        )
    };
    socket
        .send(&create(
            ctx,
            "My name is Ada. Say hello.",
            json!({"store": store}),
        )?)
        .await?;
    let turn = read_turn(&mut socket).await?;
    let first = completed(&socket, &turn, first_name).map_err(Problem::into_precondition)?;
    let next = create(
        ctx,
        "What is my name?",
        json!({"store": store, "previous_response_id": first["id"]}),
    )?;
    socket.send(&next).await?;
    let turn = read_turn(&mut socket).await?;
    let second = completed(&socket, &turn, second_name)?;
    ensure_on(
        &socket,
        second["previous_response_id"] == first["id"],
        "the continuation's previous_response_id, the first response's id",
        show(&second["previous_response_id"]),
    )?;
    socket.close().await;
    pass()
}

async fn not_found(ctx: &Ctx) -> Verdict {
    let mut socket = open_for_rule(ctx).await?;
    socket
        .send(&create(ctx, "Say hello.", json!({"store": false}))?)
        .await?;
    let turn = read_turn(&mut socket).await?;
    let kept =
        completed(&socket, &turn, "a store:false response").map_err(Problem::into_precondition)?;
    let unknown = format!("resp_conformance_unknown_{}", ctx.options.seed);
    socket
        .send(&create(
            ctx,
            "Go on.",
            json!({"store": false, "previous_response_id": unknown}),
        )?)
        .await?;
    let turn = read_turn(&mut socket).await?;
    let Some(error) = &turn.refused else {
        return Err(fail(
            "an error message for an unknown previous_response_id",
            match turn.events.last() {
                Some(e) => format!("{} event(s), the last {}", turn.events.len(), show(e)),
                None => "the socket closed".to_owned(),
            },
        )
        .at(&socket.record()));
    };
    error_message(&socket, error, "the unknown previous_response_id")?;
    ensure_on(
        &socket,
        error["error"]["code"] == "previous_response_not_found",
        "error.code previous_response_not_found",
        show(&error["error"]),
    )?;
    // What became of the connection's earlier store:false response is reported, not judged:
    // Open Responses does not say whether a not-found empties the connection's state.
    socket
        .send(&create(
            ctx,
            "Go on.",
            json!({"store": false, "previous_response_id": kept["id"]}),
        )?)
        .await?;
    let turn = read_turn(&mut socket).await?;
    let evicted = match &turn.refused {
        Some(e) if e["error"]["code"] == "previous_response_not_found" => true,
        _ => {
            completed(&socket, &turn, "the continuation after the not-found").map_err(|p| {
                p.hint("answer a continuation from a kept response, or refuse it with previous_response_not_found")
            })?;
            false
        }
    };
    if evicted {
        // The socket must still serve a fresh response.
        socket
            .send(&create(ctx, "Say hello.", json!({"store": false}))?)
            .await?;
        let turn = read_turn(&mut socket).await?;
        completed(&socket, &turn, "a fresh response after the errors")?;
    }
    socket.close().await;
    pass_with(if evicted {
        "after the not-found, the connection's earlier store:false response was evicted too"
    } else {
        "after the not-found, the connection's earlier store:false response could still be continued"
    })
}

/// `ensure` for a socket's exchange.
fn ensure_on(
    socket: &Socket,
    condition: bool,
    expected: impl Into<String>,
    seen: impl Into<String>,
) -> Result<(), Problem> {
    if condition {
        Ok(())
    } else {
        Err(fail(expected, seen).at(&socket.record()))
    }
}

/// A store:false response on `socket`, completed: what the check continues (its precondition).
async fn kept_response(ctx: &Ctx, socket: &mut Socket, input: &str) -> Result<Value, Problem> {
    socket
        .send(&create(ctx, input, json!({"store": false}))?)
        .await?;
    let turn = read_turn(socket).await?;
    completed(socket, &turn, "a store:false response").map_err(Problem::into_precondition)
}

/// Requires `turn` to be refused with `previous_response_not_found` (an error message, or a
/// response that failed with that code). The error message's shape is
/// `open-responses.websocket.not-found`'s subject: a flat one is read here too.
fn not_found_turn(socket: &Socket, turn: &Turn, what: &str) -> Result<(), Problem> {
    let code = match (&turn.refused, turn.events.last()) {
        (Some(error), _) if error["error"]["code"].is_string() => error["error"]["code"].clone(),
        (Some(error), _) => error["code"].clone(),
        (None, Some(last)) => last["response"]["error"]["code"].clone(),
        (None, None) => Value::Null,
    };
    if code == "previous_response_not_found" {
        return Ok(());
    }
    Err(fail(
        format!("{what}: an error with code previous_response_not_found"),
        match (&turn.refused, turn.events.last()) {
            (Some(e), _) => show(e),
            (None, Some(e)) => format!("{} event(s), the last {}", turn.events.len(), show(e)),
            (None, None) => "the socket closed".to_owned(),
        },
    )
    .at(&socket.record()))
}

async fn failed_continuation(ctx: &Ctx) -> Verdict {
    let mut socket = open_for_rule(ctx).await?;
    let kept = kept_response(
        ctx,
        &mut socket,
        "Remember the code word: ember. Reply with OK.",
    )
    .await?;
    // An output that answers no call of the chain cannot continue it.
    let mut orphan = create(
        ctx,
        "",
        json!({"store": false, "previous_response_id": kept["id"]}),
    )?;
    orphan["input"] = json!([{"type": "function_call_output", "call_id": "call_conformance_missing",
                              "output": "No matching tool call exists in the previous response."}]);
    socket.send(&orphan).await?;
    let turn = read_turn(&mut socket).await?;
    let failed = turn.refused.is_some()
        || turn
            .events
            .last()
            .is_some_and(|e| e["type"] == "response.failed" || e["response"]["status"] == "failed");
    ensure_on(
        &socket,
        failed,
        "the continuation with a function_call_output answering no call to fail (an error message or response.failed)",
        match turn.events.last() {
            Some(e) => format!("{} event(s), the last {}", turn.events.len(), show(e)),
            None => "the socket closed".to_owned(),
        },
    )?;
    let again = create(
        ctx,
        "Try to continue after the failed turn.",
        json!({"store": false, "previous_response_id": kept["id"]}),
    )?;
    socket.send(&again).await?;
    let turn = read_turn(&mut socket).await?;
    not_found_turn(
        &socket,
        &turn,
        "continuing the response whose continuation failed",
    )?;
    socket.close().await;
    pass()
}

async fn reconnect(ctx: &Ctx) -> Verdict {
    let mut first = open_for_rule(ctx).await?;
    let kept = kept_response(
        ctx,
        &mut first,
        "Remember the code word: copper. Reply with OK.",
    )
    .await?;
    first.close().await;
    let mut socket = open_for_rule(ctx).await?;
    let next = create(
        ctx,
        "Try to continue after reconnecting.",
        json!({"store": false, "previous_response_id": kept["id"]}),
    )?;
    socket.send(&next).await?;
    let turn = read_turn(&mut socket).await?;
    not_found_turn(
        &socket,
        &turn,
        "continuing, on a new socket, a store:false response of a closed one",
    )?;
    socket
        .send(&create(
            ctx,
            "Start again. Say hello.",
            json!({"store": false}),
        )?)
        .await?;
    let turn = read_turn(&mut socket).await?;
    completed(&socket, &turn, "a fresh response after the miss")?;
    socket.close().await;
    pass()
}

async fn compact_chain(ctx: &Ctx) -> Verdict {
    let body = json!({
        "model": ctx.chat_model()?,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Remember the compaction code word: slate."}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "OK."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Compress this conversation for later continuation."}]},
        ],
    });
    let ex = ctx.send(Req::post("/v1/responses/compact", &body)).await?;
    let compacted = expect_ok_json(&ex).map_err(Problem::into_precondition)?;
    let Some(mut input) = compacted["output"]
        .as_array()
        .filter(|o| !o.is_empty())
        .cloned()
    else {
        return Err(precondition(
            "a compacted output to start from (see open-responses.compact)",
            show(&compacted),
        )
        .at(&ex.request));
    };
    input.push(
        json!({"type": "message", "role": "user", "content": "Continue from here. Say hello."}),
    );
    let mut socket = open_for_rule(ctx).await?;
    let mut message = create(ctx, "", json!({"store": false}))?;
    message["input"] = Value::Array(input);
    socket.send(&message).await?;
    let turn = read_turn(&mut socket).await?;
    // Its events' rules are open-responses.websocket.sequence's subject, not this check's.
    completed(&socket, &turn, "the response on the compacted window")?;
    socket.close().await;
    pass()
}
