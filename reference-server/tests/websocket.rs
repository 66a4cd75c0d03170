//! Open Responses' WebSocket mode over real loopback sockets: two sequential responses on one
//! socket (the same events as the SSE stream), a refused concurrent one, a `store: false`
//! continuation, a continuation from an unknown id and the eviction after it, and the time
//! limit. A timing profile (20 ms to the first token) keeps a response in flight long enough
//! to be overlapped; no assertion is on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;
use common::*;
use futures::{SinkExt, StreamExt};
use reference_server::simulate::delay::Delay;
use reference_server::Config;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &TestServer, key: Option<&str>) -> Result<Socket, u16> {
    let url = s.url("/v1/responses").replacen("http", "ws", 1);
    let mut request = url.into_client_request().unwrap();
    if let Some(key) = key {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

async fn send(socket: &mut Socket, body: Value) {
    socket
        .send(Message::Text(body.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message (10 s at most: a hung server fails the test, not the suite).
async fn next(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message within 10 s")?;
        match message.ok()? {
            Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// The events of one response, up to its terminal event.
async fn response(socket: &mut Socket) -> Vec<Value> {
    let mut events = Vec::new();
    while let Some(e) = next(socket).await {
        let kind = e["type"].as_str().unwrap_or_default().to_owned();
        events.push(e);
        if [
            "response.completed",
            "response.failed",
            "response.incomplete",
            "error",
        ]
        .contains(&kind.as_str())
        {
            break;
        }
    }
    events
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn paced() -> Config {
    let mut config = Config::default();
    config.timing.ttft = Delay::Fixed(Duration::from_millis(20));
    config
}

#[tokio::test]
async fn the_upgrade_is_authenticated_like_any_v1_request() {
    let mut config = Config::default();
    config.auth.mode = reference_server::AuthMode::Strict;
    config.auth.tokens = vec![reference_server::TokenConfig {
        token: "sk-ws".into(),
        scopes: vec!["*".into()],
        project: None,
    }];
    let s = spawn_with(config).await;
    assert_eq!(connect(&s, None).await.err(), Some(401));
    assert_eq!(connect(&s, Some("sk-other")).await.err(), Some(401));
    assert!(connect(&s, Some("sk-ws")).await.is_ok());
    // A plain GET is told to upgrade.
    let r = s.get_as("/v1/responses", "sk-ws").send().await.unwrap();
    assert_eq!(r.status(), 426);
    assert_eq!(r.headers()["upgrade"], "websocket");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upgrade_required");
}

#[tokio::test]
async fn two_responses_on_one_socket_send_the_streams_events_and_continue() {
    let s = spawn_with(paced()).await;
    let mut socket = connect(&s, Some("k")).await.unwrap();
    send(
        &mut socket,
        json!({"type": "response.create", "model": "ref-chat-1", "input": "first message", "store": false}),
    )
    .await;
    let first = response(&mut socket).await;
    // The same event sequence as the SSE stream of the same request.
    let sse = s
        .post(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "first message", "store": false, "stream": true}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let streamed: Vec<Value> = parse_sse(&sse)
        .into_iter()
        .filter(|(_, data)| data != "[DONE]")
        .map(|(_, data)| serde_json::from_str(&data).unwrap())
        .collect();
    assert_eq!(kinds(&first), kinds(&streamed));
    for (i, e) in first.iter().enumerate() {
        assert_eq!(e["sequence_number"], json!(i));
    }
    let done = first.last().unwrap();
    assert_eq!(done["type"], "response.completed");
    let id = done["response"]["id"].as_str().unwrap().to_owned();
    // A store: false response lives in the connection: the next one continues it.
    send(
        &mut socket,
        json!({"type": "response.create", "model": "ref-chat-1", "input": "second message",
               "previous_response_id": id, "store": false}),
    )
    .await;
    let second = response(&mut socket).await;
    let text = second.last().unwrap()["response"]["output"][0]["content"][0]["text"].clone();
    assert_eq!(
        text,
        "You said: second message (turn 2 of our conversation)"
    );
    // Not in the server's store: another connection (or HTTP) cannot continue it.
    let (status, e) = s
        .post_json(
            "/v1/responses",
            json!({"model": "ref-chat-1", "input": "x", "previous_response_id": id}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (400, Some("previous_response_not_found"))
    );
}

#[tokio::test]
async fn a_second_response_while_one_is_in_flight_is_refused() {
    let s = spawn_with(paced()).await;
    let mut socket = connect(&s, Some("k")).await.unwrap();
    let create = json!({"type": "response.create", "model": "ref-chat-1", "input": "hello"});
    send(&mut socket, create.clone()).await;
    send(&mut socket, create.clone()).await;
    let mut refused = None;
    let mut completed = 0;
    while completed == 0 || refused.is_none() {
        let Some(e) = next(&mut socket).await else {
            break;
        };
        match e["type"].as_str() {
            Some("error") => refused = Some(e),
            Some("response.completed") => completed += 1,
            _ => {}
        }
    }
    let refused = refused.expect("the second create refused");
    assert_eq!(refused["status"], 409);
    assert_eq!(refused["error"]["code"], "response_in_progress");
    assert_eq!(completed, 1);
    // Once the first is done, the socket takes the next one.
    send(&mut socket, create).await;
    assert_eq!(
        response(&mut socket).await.last().unwrap()["type"],
        "response.completed"
    );
}

#[tokio::test]
async fn an_unknown_continuation_is_refused_and_evicts_the_connections_state() {
    let s = spawn().await;
    let mut socket = connect(&s, Some("k")).await.unwrap();
    send(
        &mut socket,
        json!({"type": "response.create", "model": "ref-chat-1", "input": "one", "store": false}),
    )
    .await;
    let id = response(&mut socket).await.last().unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(
        &mut socket,
        json!({"type": "response.create", "model": "ref-chat-1", "input": "two",
               "previous_response_id": "resp_not_here"}),
    )
    .await;
    let e = response(&mut socket).await;
    let e = e.last().unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(e["status"], 400);
    assert_eq!(e["error"]["code"], "previous_response_not_found");
    assert_eq!(e["error"]["param"], "previous_response_id");
    // The failed chain is gone from the connection: the earlier id no longer continues.
    send(
        &mut socket,
        json!({"type": "response.create", "model": "ref-chat-1", "input": "three",
               "previous_response_id": id}),
    )
    .await;
    let e = response(&mut socket).await;
    assert_eq!(
        e.last().unwrap()["error"]["code"],
        "previous_response_not_found"
    );
    // Bad messages are error messages, and the socket stays open.
    send(&mut socket, json!({"type": "response.cancel"})).await;
    assert_eq!(next(&mut socket).await.unwrap()["error"]["param"], "type");
    send(
        &mut socket,
        json!({"type": "response.create", "model": "ref-chat-1", "input": "x", "stream": true}),
    )
    .await;
    let e = next(&mut socket).await.unwrap();
    assert_eq!(e["error"]["param"], "stream");
    // WebSocketErrorEvent requires a string code, even where the HTTP envelope has null.
    assert_eq!(e["error"]["code"], "invalid_request_error", "{e}");
}

#[tokio::test]
async fn a_failed_continuation_evicts_the_response_it_continued() {
    let s = spawn().await;
    let mut socket = connect(&s, Some("k")).await.unwrap();
    let create = |input: Value, previous: Option<&str>| {
        json!({"type": "response.create", "model": "ref-chat-1", "store": false,
               "input": input, "previous_response_id": previous})
    };
    let first = |input: &str| create(json!(input), None);
    send(&mut socket, first("keep")).await;
    let kept = response(&mut socket).await.last().unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    send(&mut socket, first("remember ember")).await;
    let id = response(&mut socket).await.last().unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // An output that answers no call of the chain fails the continuation...
    let orphan =
        json!([{"type": "function_call_output", "call_id": "call_missing", "output": "x"}]);
    send(&mut socket, create(orphan, Some(&id))).await;
    let e = response(&mut socket).await;
    let e = e.last().unwrap();
    assert_eq!(e["type"], "error", "{e}");
    assert_eq!(e["error"]["param"], "input[0].call_id", "{e}");
    // ...and evicts the response it continued, only that one: another response of the
    // connection still continues...
    send(&mut socket, create(json!("still here"), Some(&kept))).await;
    assert_eq!(
        response(&mut socket).await.last().unwrap()["type"],
        "response.completed"
    );
    // ...and the evicted one no longer does.
    send(&mut socket, create(json!("stale"), Some(&id))).await;
    let e = response(&mut socket).await;
    assert_eq!(
        e.last().unwrap()["error"]["code"],
        "previous_response_not_found"
    );
}

#[tokio::test]
async fn the_connection_ends_at_its_time_limit_with_the_documented_error() {
    let mut config = Config::default();
    config.limits.websocket_seconds = 1;
    let s = spawn_with(config).await;
    let mut socket = connect(&s, Some("k")).await.unwrap();
    let e = next(&mut socket).await.expect("an error before the close");
    assert_eq!(e["type"], "error");
    assert_eq!(e["error"]["code"], "websocket_connection_limit_reached");
    assert!(next(&mut socket).await.is_none(), "then the socket closes");
}

#[tokio::test]
async fn a_socket_continues_only_its_own_projects_responses() {
    let mut config = Config::default();
    config.auth.mode = reference_server::AuthMode::Strict;
    let token = |t: &str, project: &str| reference_server::TokenConfig {
        token: t.into(),
        scopes: vec!["*".into()],
        project: Some(project.into()),
    };
    config.auth.tokens = vec![
        token("sk-alice-1", "alice"),
        token("sk-alice-2", "alice"),
        token("sk-bob-1", "bob"),
    ];
    let s = spawn_with(config).await;
    let mut alice = connect(&s, Some("sk-alice-1")).await.unwrap();
    send(
        &mut alice,
        json!({"type": "response.create", "model": "ref-chat-1", "input": "remember swordfish"}),
    )
    .await;
    let stored = response(&mut alice).await;
    let id = stored.last().unwrap()["response"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bob's socket cannot continue it, and is told exactly what an unknown id gets.
    let mut bob = connect(&s, Some("sk-bob-1")).await.unwrap();
    let continue_from = |id: &str| json!({"type": "response.create", "model": "ref-chat-1", "input": "go on", "previous_response_id": id});
    send(&mut bob, continue_from(&id)).await;
    let foreign = response(&mut bob).await;
    send(&mut bob, continue_from("resp_missing")).await;
    let missing = response(&mut bob).await;
    assert_eq!(kinds(&foreign), vec!["error"]);
    assert_eq!(
        foreign[0].to_string().replace(&id, "{ID}"),
        missing[0].to_string().replace("resp_missing", "{ID}")
    );
    // Nor can Bob read it over HTTP; the other key of Alice's project continues it.
    let r = s
        .get_as(&format!("/v1/responses/{id}"), "sk-bob-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let mut alice_too = connect(&s, Some("sk-alice-2")).await.unwrap();
    send(&mut alice_too, continue_from(&id)).await;
    let continued = response(&mut alice_too).await;
    assert_eq!(kinds(&continued).last().unwrap(), "response.completed");
}

#[tokio::test]
async fn a_quiet_socket_is_closed_and_an_open_one_counts_among_the_connections() {
    let mut config = Config::default();
    config.limits.websocket_idle_seconds = 1;
    let s = spawn_with(config).await;
    let mut quiet = connect(&s, Some("k")).await.unwrap();
    // Open while it is: the socket counts beside the probe's own connection.
    let ready: Value = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .get(s.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["connections"]["open"], 2, "{ready}");
    // Then, silent past its idle bound, it is closed by the server.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match quiet.next().await {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .expect("closed within 20 s");
    assert_eq!(ended, Some(1001));
}
