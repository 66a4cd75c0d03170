//! A server broken in its WebSocket mode only: an axum proxy in front of a real reference
//! server on loopback. HTTP requests go to the reference app untouched (in-process, the same
//! app and state as the listener's); an upgrade on `/v1/responses` opens a socket to the real
//! server (tokio-tungstenite) and relays the messages both ways through the defect.

use super::reference_config;
use axum::extract::ws::{Message as AxumMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tower::ServiceExt;

/// What the proxy does instead of relaying a server message.
pub enum Out {
    /// Send this message.
    Send(Value),
    /// Close the client's socket.
    Close,
}

/// One way to break the WebSocket mode.
#[derive(Clone, Copy)]
pub struct SocketDefect {
    /// Answer upgrades with a plain 404.
    pub refuse_upgrade: bool,
    /// Rewrites a client message before the server reads it.
    pub upstream: fn(&mut Value),
    /// What the client gets for one server message.
    pub downstream: fn(Value) -> Vec<Out>,
}

pub fn relay_upstream(_: &mut Value) {}
pub fn relay_downstream(v: Value) -> Vec<Out> {
    vec![Out::Send(v)]
}

#[derive(Clone)]
struct Proxy {
    app: reference_server::App,
    upstream: String,
    defect: SocketDefect,
}

/// Starts the reference server and the broken proxy in front of it; returns the proxy's URL.
pub async fn broken_socket(defect: SocketDefect) -> String {
    let mut config = reference_config();
    // Paced streams (2 ms between deltas) keep a response in flight while a second message
    // arrives, so the one-in-flight refusal is always there to break.
    config.timing.inter_token = "2ms".parse().unwrap();
    let app = reference_server::app(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = format!("ws://{}/v1/responses", listener.local_addr().unwrap());
    let served = app.clone();
    tokio::spawn(async move { axum::serve(listener, served).await });
    let proxy = Proxy {
        app,
        upstream,
        defect,
    };
    let router = axum::Router::new().fallback(handle).with_state(proxy);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn handle(State(proxy): State<Proxy>, request: Request) -> Response {
    let upgrade = request
        .headers()
        .get("upgrade")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !upgrade || request.uri().path() != "/v1/responses" {
        return proxy.app.clone().oneshot(request).await.into_response();
    }
    if proxy.defect.refuse_upgrade {
        return (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": {"message": "Not found", "type": "invalid_request_error", "param": null, "code": null}})),
        )
            .into_response();
    }
    let (mut parts, _) = request.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .unwrap();
    let mut up = proxy.upstream.as_str().into_client_request().unwrap();
    if let Some(auth) = parts.headers.get("authorization") {
        up.headers_mut().insert("authorization", auth.clone());
    }
    match tokio_tungstenite::connect_async(up).await {
        Ok((server, _)) => ws.on_upgrade(move |client| relay(client, server, proxy.defect)),
        // The server's refusal (a 401, say) reaches the client as it was.
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
            let status = r.status();
            (status, r.into_body().unwrap_or_default()).into_response()
        }
        Err(e) => panic!("the proxy cannot reach the reference server: {e}"),
    }
}

type Server =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn relay(client: WebSocket, server: Server, defect: SocketDefect) {
    let (mut to_client, mut from_client) = client.split();
    let (mut to_server, mut from_server) = server.split();
    loop {
        tokio::select! {
            m = from_client.next() => match m {
                Some(Ok(AxumMessage::Text(t))) => {
                    let mut v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::String(t.to_string()));
                    (defect.upstream)(&mut v);
                    if to_server.send(WsMessage::Text(v.to_string().into())).await.is_err() {
                        break;
                    }
                }
                Some(Ok(AxumMessage::Close(_))) | None | Some(Err(_)) => {
                    let _ = to_server.close().await;
                    break;
                }
                Some(Ok(_)) => {}
            },
            m = from_server.next() => match m {
                Some(Ok(WsMessage::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap();
                    for out in (defect.downstream)(v) {
                        let sent = match out {
                            Out::Send(v) => to_client.send(AxumMessage::Text(v.to_string().into())).await,
                            Out::Close => {
                                let _ = to_client.close().await;
                                return;
                            }
                        };
                        if sent.is_err() {
                            return;
                        }
                    }
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                    let _ = to_client.close().await;
                    break;
                }
                Some(Ok(_)) => {}
            },
        }
    }
}
