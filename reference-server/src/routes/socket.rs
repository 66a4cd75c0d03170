//! Open Responses' WebSocket mode on `/v1/responses`: after the upgrade (authenticated like
//! every `/v1` request), each `{"type": "response.create", …}` message starts a response whose
//! events are the SSE stream's, one JSON text message each. One response is in flight per
//! socket; `store: false` responses are kept in the connection's own state for continuations;
//! a continuation from an id that is not there empties that state; the connection ends after
//! its time limit. Errors are `{"type": "error", "status", "error": {…}}` messages.

use super::responses::{create_for_socket, stored_turns, Local};
use super::table::Routes;
use crate::protocol::error::ApiError;
use crate::protocol::project::Project;
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The route.
pub fn router() -> Routes {
    Routes::new().websocket("/v1/responses", upgrade)
}

/// The HTTP fields of a create body that a socket message must not carry.
const DISALLOWED: [&str; 3] = ["stream", "stream_options", "background"];

async fn upgrade(
    State(state): State<AppState>,
    project: Project,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => ws
            .max_message_size(state.config.limits.max_body_bytes)
            .on_upgrade(move |socket| serve(socket, state, project)),
        // A plain GET: only the upgrade is served here.
        Err(_) => {
            let mut r = ApiError::upgrade_required("/v1/responses").into_response();
            r.headers_mut().insert(
                axum::http::header::UPGRADE,
                axum::http::HeaderValue::from_static("websocket"),
            );
            r
        }
    }
}

/// An error message as the socket sends it.
fn error_message(e: &ApiError) -> Message {
    let mut body = e.body();
    let status = e.status().as_u16();
    let mut error = body
        .get_mut("error")
        .map(Value::take)
        .unwrap_or(Value::Null);
    // WebSocketErrorEvent requires a string code; where the HTTP envelope has none (null),
    // the error's type stands in.
    if error["code"].is_null() {
        error["code"] = error["type"].clone();
    }
    Message::Text(
        json!({"type": "error", "status": status, "error": error})
            .to_string()
            .into(),
    )
}

/// Serves one socket, in the project of the key its handshake sent.
async fn serve(socket: WebSocket, state: AppState, project: Project) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(256);
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let close = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || close {
                break;
            }
        }
    });
    let local = Arc::new(Mutex::new(Local::new()));
    let busy = Arc::new(AtomicBool::new(false));
    let limit = tokio::time::sleep(Duration::from_secs(state.config.limits.websocket_seconds));
    tokio::pin!(limit);
    // A socket that sends nothing for this long is closed, so idle sockets cannot pile up.
    let quiet = Duration::from_secs(state.config.limits.websocket_idle_seconds);
    let idle = tokio::time::sleep(quiet);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            () = &mut idle => {
                let _ = out
                    .send(Message::Close(Some(CloseFrame {
                        code: 1001,
                        reason: "idle".into(),
                    })))
                    .await;
                break;
            }
            () = &mut limit => {
                let _ = out.send(error_message(&ApiError::socket_limit_reached())).await;
                let _ = out
                    .send(Message::Close(Some(CloseFrame {
                        code: 1000,
                        reason: "websocket_connection_limit_reached".into(),
                    })))
                    .await;
                break;
            }
            message = incoming.next() => {
                idle.as_mut().reset(tokio::time::Instant::now() + quiet);
                match message {
                Some(Ok(Message::Text(text))) => {
                    if let Err(e) = start(&state, &project, text.as_str(), &local, &busy, &out).await {
                        let _ = out.send(error_message(&e)).await;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    let e = ApiError::socket_message(
                        None,
                        "Messages are JSON text; binary messages are not read.",
                    );
                    let _ = out.send(error_message(&e)).await;
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
                }
            }
        }
    }
    drop(out);
    let _ = writer.await;
}

/// Starts the response a message asks for, or says why not.
async fn start(
    state: &AppState,
    project: &Project,
    text: &str,
    local: &Arc<Mutex<Local>>,
    busy: &Arc<AtomicBool>,
    out: &mpsc::Sender<Message>,
) -> Result<(), ApiError> {
    let mut body: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::socket_message(None, format!("The message is not JSON ({e}).")))?;
    let Some(fields) = body.as_object_mut() else {
        return Err(ApiError::socket_message(
            None,
            "A message is a JSON object with a type.",
        ));
    };
    match fields.remove("type") {
        Some(Value::String(t)) if t == "response.create" => {}
        other => {
            return Err(ApiError::socket_message(
                Some("type"),
                format!(
                    "Unknown message type {}: the server reads response.create.",
                    other.unwrap_or(Value::Null)
                ),
            ))
        }
    }
    if let Some(field) = DISALLOWED.iter().find(|f| fields.contains_key(**f)) {
        return Err(ApiError::invalid_param(
            *field,
            format!("'{field}' is an HTTP field and is not allowed in WebSocket mode."),
        ));
    }
    if busy.swap(true, Ordering::SeqCst) {
        return Err(ApiError::response_in_progress());
    }
    let model = fields
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let continued = body
        .get("previous_response_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // What is continued: the connection's own response first, else a stored one (looked up
    // before the connection's state is locked: a shared store is across the network).
    let previous = match continued.as_deref() {
        Some(id) => {
            let own = local
                .lock()
                .ok()
                .and_then(|l| l.get(id).map(|c| c.turns.clone()));
            match own {
                Some(turns) => Some(turns),
                None => match stored_turns(state, project, id).await {
                    Ok(turns) => turns,
                    Err(e) => {
                        busy.store(false, Ordering::SeqCst);
                        return Err(e);
                    }
                },
            }
        }
        None => None,
    };
    let (events, to_store) = {
        let Ok(mut local) = local.lock() else {
            busy.store(false, Ordering::SeqCst);
            return Err(ApiError::internal());
        };
        match create_for_socket(state, &body, &mut local, previous) {
            Ok(answer) => answer,
            Err(e) => {
                busy.store(false, Ordering::SeqCst);
                if let Some(id) = continued {
                    // A failed continuation evicts what it continued (Open Responses: the
                    // client must start again), and a missing one leaves nothing of the
                    // chain to continue.
                    if e.code() == Some("previous_response_not_found") {
                        local.clear();
                    } else {
                        local.remove(&id);
                    }
                }
                return Err(e);
            }
        }
    };
    if let Some((id, stored)) = to_store {
        if let Err(e) = state
            .stores
            .responses
            .put(project.as_str(), id, stored)
            .await
        {
            busy.store(false, Ordering::SeqCst);
            return Err(e.into());
        }
    }
    let mut pace = state.simulation.pace(&model);
    let out = out.clone();
    let busy = busy.clone();
    tokio::spawn(async move {
        let mut first = true;
        for event in events {
            let token = event["type"]
                .as_str()
                .is_some_and(|t| t.ends_with(".delta"));
            if let (true, Some(pace)) = (token, pace.as_mut()) {
                let wait = if first {
                    pace.first_token()
                } else {
                    pace.between_tokens()
                };
                first = false;
                tokio::time::sleep(wait).await;
            }
            if out
                .send(Message::Text(event.to_string().into()))
                .await
                .is_err()
            {
                break;
            }
        }
        busy.store(false, Ordering::SeqCst);
    });
    Ok(())
}
