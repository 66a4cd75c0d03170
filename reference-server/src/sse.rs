//! Server-sent events as the SDKs need them: one `event:` line (when named) and one
//! single-line `data:` JSON per event, no `id:` lines, and a final `data: [DONE]`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::stream;
use serde_json::Value;
use std::convert::Infallible;

/// Renders events into one SSE body. `named` adds `event: <type>` lines (Responses API).
pub fn render(events: &[Value], named: bool) -> String {
    let mut out = String::new();
    for event in events {
        if named {
            if let Some(kind) = event.get("type").and_then(Value::as_str) {
                out.push_str("event: ");
                out.push_str(kind);
                out.push('\n');
            }
        }
        out.push_str("data: ");
        out.push_str(&event.to_string());
        out.push_str("\n\n");
    }
    out.push_str("data: [DONE]\n\n");
    out
}

/// A streaming response: each event is its own body frame, so clients see them arrive
/// one by one, as from a real model.
pub fn response(events: Vec<Value>, named: bool) -> Response {
    let mut frames: Vec<Result<Bytes, Infallible>> = events
        .iter()
        .map(|e| Ok(Bytes::from(render_one(e, named))))
        .collect();
    frames.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    let mut response = Response::new(Body::from_stream(stream::iter(frames)));
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn render_one(event: &Value, named: bool) -> String {
    let mut s = render(std::slice::from_ref(event), named);
    // `render` always ends with the terminator; one event alone must not.
    s.truncate(s.len() - "data: [DONE]\n\n".len());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_events_have_event_and_data_lines() {
        let s = render(
            &[json!({"type":"response.created","sequence_number":0})],
            true,
        );
        assert_eq!(
            s,
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0}\n\ndata: [DONE]\n\n"
        );
    }
}
