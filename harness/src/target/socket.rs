//! Open Responses' WebSocket mode: one socket to the target, JSON text messages each way
//! (tokio-tungstenite). Everything read is bounded: each message by the answer cap, the whole
//! socket by the answer cap and the event cap, each wait by the request timeout.

use super::{excerpt, Exchange, RequestRecord, Target, TransportError};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

/// The result of an upgrade request.
pub enum Opened {
    /// The server switched protocols.
    Open(Socket),
    /// The server answered the upgrade with a plain HTTP response.
    Refused(Box<Exchange>),
}

/// One message from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A text message holding JSON.
    Json(Value),
    /// A text message that is not JSON.
    Text(String),
    /// A binary message, of this many bytes.
    Binary(usize),
    /// The server closed the socket (with its close reason, if any).
    Closed(Option<String>),
}

/// An open socket.
pub struct Socket {
    // Boxed: the stream and its buffers are large, and sockets are moved around.
    ws: Box<WebSocketStream<MaybeTlsStream<TcpStream>>>,
    record: RequestRecord,
    sent: Vec<String>,
    received: usize,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    timeout: Duration,
}

impl Target {
    /// Opens a WebSocket on `path` (written as for HTTP, e.g. `/v1/responses`) with the
    /// configured credentials.
    pub async fn socket(&self, path: &str) -> Result<Opened, TransportError> {
        let http_url = self.url(path);
        let url = match http_url.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => http_url.clone(),
        };
        let other = |detail: String| TransportError::Other {
            url: url.clone(),
            detail,
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| other(e.to_string()))?;
        let mut shown = Vec::new();
        if let Some((name, value)) = self.credentials(self.api_key.as_deref()) {
            request.headers_mut().insert(name, value);
            shown.push((self.auth_header.clone(), "[redacted]".to_owned()));
        }
        let cap = self.max_response_bytes;
        let config = WebSocketConfig::default()
            .max_message_size(Some(cap))
            .max_frame_size(Some(cap));
        // The HTTP client's trust (web and system roots, --cacert, --insecure).
        let connector = url
            .starts_with("wss://")
            .then(|| Connector::Rustls(self.tls.clone()));
        let record = RequestRecord {
            method: "GET (WebSocket)".into(),
            url: url.clone(),
            headers: shown,
            body: None,
            redirect: None,
        };
        let started = Instant::now();
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            connector,
        );
        let outcome = tokio::time::timeout(self.timeout, connect)
            .await
            .map_err(|_| TransportError::Timeout {
                url: url.clone(),
                seconds: self.timeout.as_secs_f64(),
            })?;
        match outcome {
            Ok((ws, _)) => Ok(Opened::Open(Socket {
                ws: Box::new(ws),
                record,
                sent: Vec::new(),
                received: 0,
                bytes: 0,
                max_messages: self.max_events,
                max_bytes: cap,
                timeout: self.timeout,
            })),
            Err(WsError::Http(response)) => {
                let (parts, body) = (*response).into_parts();
                let mut body = body.unwrap_or_default();
                body.truncate(cap);
                Ok(Opened::Refused(Box::new(Exchange {
                    request: record,
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body: Bytes::from(body),
                    elapsed: started.elapsed(),
                })))
            }
            Err(WsError::Io(e)) => Err(TransportError::Unreachable {
                url,
                detail: super::tls::explain(&e).unwrap_or_else(|| e.to_string()),
            }),
            Err(WsError::Tls(e)) => Err(TransportError::Unreachable {
                url,
                detail: super::tls::explain(&e).unwrap_or_else(|| e.to_string()),
            }),
            Err(e) => Err(other(e.to_string())),
        }
    }
}

impl Socket {
    /// The upgrade request, with every message sent so far as its body (for reports).
    pub fn record(&self) -> RequestRecord {
        let mut record = self.record.clone();
        if !self.sent.is_empty() {
            record.body = Some(excerpt(&self.sent.join("\n"), 2048));
        }
        record
    }

    /// Sends one JSON text message.
    pub async fn send(&mut self, message: &Value) -> Result<(), TransportError> {
        let text = message.to_string();
        self.sent.push(text.clone());
        let url = self.record.url.clone();
        tokio::time::timeout(self.timeout, self.ws.send(Message::Text(text.into())))
            .await
            .map_err(|_| TransportError::Timeout {
                url: url.clone(),
                seconds: self.timeout.as_secs_f64(),
            })?
            .map_err(|e| TransportError::Other {
                url,
                detail: format!("sending a message: {e}"),
            })
    }

    /// The next message, waiting until `deadline` at most.
    pub async fn recv(&mut self, deadline: Instant) -> Result<Incoming, TransportError> {
        let url = self.record.url.clone();
        loop {
            if self.received >= self.max_messages {
                return Err(TransportError::TooLarge {
                    url,
                    what: format!("sent over {} messages", self.max_messages),
                });
            }
            let wait = deadline.saturating_duration_since(Instant::now());
            let next = tokio::time::timeout(wait, self.ws.next())
                .await
                .map_err(|_| TransportError::Timeout {
                    url: url.clone(),
                    seconds: self.timeout.as_secs_f64(),
                })?;
            let message = match next {
                None => return Ok(Incoming::Closed(None)),
                Some(Err(WsError::Capacity(e))) => {
                    return Err(TransportError::TooLarge {
                        url,
                        what: format!("sent a message over the cap ({e})"),
                    })
                }
                Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                    return Ok(Incoming::Closed(None))
                }
                Some(Err(e)) => {
                    return Err(TransportError::Other {
                        url,
                        detail: e.to_string(),
                    })
                }
                Some(Ok(m)) => m,
            };
            let size = message.len();
            match message {
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                Message::Close(frame) => {
                    return Ok(Incoming::Closed(frame.map(|f| f.reason.to_string())))
                }
                _ => {}
            }
            self.received += 1;
            self.bytes += size;
            if self.bytes > self.max_bytes {
                return Err(TransportError::TooLarge {
                    url,
                    what: format!("sent over {} bytes on one socket", self.max_bytes),
                });
            }
            return Ok(match message {
                Message::Text(text) => match serde_json::from_str(text.as_str()) {
                    Ok(v) => Incoming::Json(v),
                    Err(_) => Incoming::Text(text.as_str().to_owned()),
                },
                _ => Incoming::Binary(size),
            });
        }
    }

    /// The per-request timeout, which bounds each response read from the socket.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Closes the socket politely (without waiting long for the server's answer).
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(1), self.ws.as_mut().close(None)).await;
    }
}
