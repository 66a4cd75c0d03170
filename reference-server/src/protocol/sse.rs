//! Server-sent events as the SDKs need them: one `event:` line (when named) and one
//! single-line `data:` JSON per event, no `id:` lines, and a final `data: [DONE]`.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use futures::stream;
use serde_json::Value;
use std::convert::Infallible;
use std::fmt::Write as _;

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
    stream_response(Body::from_stream(stream::iter(frames)))
}

/// When a paced stream's tokens are due: the simulation's timing profile draws them, and
/// this module only keeps the schedule, so streaming does not depend on the simulation.
pub trait Pacing: Send {
    /// Time to the first token.
    fn first_token(&mut self) -> std::time::Duration;
    /// Time from one token to the next.
    fn between_tokens(&mut self) -> std::time::Duration;
}

/// A streaming response paced by `pace` (none: all at once, as [`response`]) and, with `cut`,
/// closed without its end after that many events.
///
/// The first token comes after the time to first token and each next one after its gap, on
/// an absolute schedule (so rounding never adds up). `response.created` and
/// `response.in_progress` go at once, as a real server acknowledges the request; every other
/// event before a token goes with it, and those after the last token (the `done` events, the
/// finish chunk, usage, `[DONE]`) right after it. The bytes are those of [`response`].
pub fn paced(
    events: Vec<Value>,
    named: bool,
    pace: Option<Box<dyn Pacing>>,
    cut: Option<usize>,
) -> Response {
    if pace.is_none() && cut.is_none() {
        return response(events, named);
    }
    // Everything is rendered now, into one buffer the chunks are slices of: a stream that is
    // mostly waiting holds a few compact bytes, not a tree of JSON values per event.
    let mut text = String::new();
    let mut frames = Vec::with_capacity(events.len());
    for event in &events {
        render_into(&mut text, event, named);
        frames.push(Frame {
            end: text.len(),
            token: is_token(event),
            at_once: goes_at_once(event),
        });
    }
    drop(events);
    text.push_str("data: [DONE]\n\n");
    let last_token = frames.iter().rposition(|f| f.token);
    let feed = Feed {
        text: Bytes::from(text),
        frames,
        index: 0,
        sent: 0,
        last_token,
        pace,
        start: tokio::time::Instant::now(),
        next_token_at: None,
        cut,
        ended: false,
    };
    let body = stream::unfold(feed, |mut feed| async move {
        let chunk = feed.next_chunk().await?;
        Some((chunk, feed))
    });
    stream_response(Body::from_stream(body))
}

fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Appends one event as SSE lines.
fn render_into(out: &mut String, event: &Value, named: bool) {
    if named {
        if let Some(kind) = event.get("type").and_then(Value::as_str) {
            out.push_str("event: ");
            out.push_str(kind);
            out.push('\n');
        }
    }
    // `Value`'s Display is its compact JSON; writing into a String cannot fail.
    let _ = write!(out, "data: {event}\n\n");
}

fn render_one(event: &Value, named: bool) -> String {
    let mut s = render(std::slice::from_ref(event), named);
    // `render` always ends with the terminator; one event alone must not.
    s.truncate(s.len() - "data: [DONE]\n\n".len());
    s
}

/// Whether `event` carries generated text: a chat chunk with content, a refusal or tool-call
/// arguments, or a Responses `*.delta` event.
fn is_token(event: &Value) -> bool {
    if let Some(kind) = event.get("type").and_then(Value::as_str) {
        return kind.ends_with(".delta");
    }
    let Some(delta) = event.pointer("/choices/0/delta") else {
        return false;
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    text(delta.get("content"))
        || text(delta.get("refusal"))
        || delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .is_some_and(|calls| calls.iter().any(|c| text(c.pointer("/function/arguments"))))
}

/// Whether `event` is sent at once rather than with the next token: the acknowledgements a
/// real server sends before it has generated anything.
fn goes_at_once(event: &Value) -> bool {
    matches!(
        event.get("type").and_then(Value::as_str),
        Some("response.created" | "response.in_progress")
    )
}

/// Where an event ends in the rendered text of a paced stream, and how it is paced.
struct Frame {
    end: usize,
    token: bool,
    at_once: bool,
}

/// The state of a paced stream.
struct Feed {
    /// Every event rendered, then `[DONE]`.
    text: Bytes,
    frames: Vec<Frame>,
    /// The next event to send.
    index: usize,
    /// Bytes of `text` sent so far.
    sent: usize,
    last_token: Option<usize>,
    pace: Option<Box<dyn Pacing>>,
    start: tokio::time::Instant,
    /// When the next token is due (set at the first wait).
    next_token_at: Option<tokio::time::Instant>,
    cut: Option<usize>,
    ended: bool,
}

impl Feed {
    /// The next body chunk: every event due now, in one write; then the cut or the end.
    async fn next_chunk(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        if self.ended {
            return None;
        }
        let from = self.sent;
        loop {
            if self.cut == Some(self.index) {
                if self.sent > from {
                    // Send what was due first; the next call cuts.
                    return Some(Ok(self.text.slice(from..self.sent)));
                }
                self.ended = true;
                // Let the server write out what was sent before the connection is closed:
                // an error straight after data drops the unwritten buffer.
                tokio::task::yield_now().await;
                return Some(Err(std::io::Error::other(
                    "stream cut by an injected fault",
                )));
            }
            let Some(frame) = self.frames.get(self.index) else {
                self.ended = true;
                return Some(Ok(self.text.slice(from..)));
            };
            let before_end = self.last_token.is_none_or(|last| self.index <= last);
            if let Some(pace) = self.pace.as_mut().filter(|_| before_end && !frame.at_once) {
                let start = self.start;
                let due = *self
                    .next_token_at
                    .get_or_insert_with(|| start + pace.first_token());
                if tokio::time::Instant::now() < due {
                    if self.sent > from {
                        return Some(Ok(self.text.slice(from..self.sent)));
                    }
                    tokio::time::sleep_until(due).await;
                }
                if frame.token {
                    // From the due time, not from now: late wake-ups do not add up.
                    self.next_token_at = Some(due + pace.between_tokens());
                }
            }
            self.sent = frame.end;
            self.index += 1;
        }
    }
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

    use crate::simulate::delay::Delay;
    use crate::simulate::profile::Profile;
    use futures::StreamExt;
    use std::time::Duration;

    fn pace(ttft_ms: u64, itl_ms: u64) -> Option<Box<dyn Pacing>> {
        let profile = Profile {
            ttft: Delay::Fixed(Duration::from_millis(ttft_ms)),
            inter_token: Delay::Fixed(Duration::from_millis(itl_ms)),
            embedding_per_input: Delay::default(),
        };
        Some(Box::new(crate::simulate::Pace::seeded(profile, 1)))
    }

    fn chat(tokens: &[&str]) -> Vec<Value> {
        let mut events =
            vec![json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]})];
        for t in tokens {
            events.push(json!({"choices": [{"delta": {"content": t}}]}));
        }
        events.push(json!({"choices": [{"delta": {}, "finish_reason": "stop"}]}));
        events
    }

    /// Each body chunk with the (virtual) milliseconds at which it was sent; ends with
    /// `Err` if the stream was cut.
    async fn chunks(response: Response) -> (Vec<(u128, String)>, bool) {
        let start = tokio::time::Instant::now();
        let mut body = response.into_body().into_data_stream();
        let mut out = Vec::new();
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(bytes) => out.push((
                    start.elapsed().as_millis(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                )),
                Err(_) => return (out, true),
            }
        }
        (out, false)
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_come_after_the_ttft_and_then_at_the_inter_token_pace() {
        let events = chat(&["a", " b", " c"]);
        let burst = render(&events, false);
        let (sent, cut) = chunks(paced(events, false, pace(200, 20), None)).await;
        assert!(!cut);
        let times: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
        // The role chunk goes with the first token; the finish chunk and [DONE] right after
        // the last one.
        assert_eq!(times, vec![200, 220, 240]);
        assert!(sent[0].1.contains("\"role\"") && sent[0].1.contains("\"a\""));
        assert!(sent[2].1.ends_with("data: [DONE]\n\n"));
        let joined: String = sent.into_iter().map(|(_, s)| s).collect();
        assert_eq!(joined, burst, "the same bytes as an unpaced stream");
    }

    #[tokio::test(start_paused = true)]
    async fn responses_acknowledge_at_once_and_deltas_are_the_tokens() {
        let events = vec![
            json!({"type": "response.created"}),
            json!({"type": "response.in_progress"}),
            json!({"type": "response.output_item.added"}),
            json!({"type": "response.output_text.delta", "delta": "x"}),
            json!({"type": "response.output_text.delta", "delta": "y"}),
            json!({"type": "response.output_text.done"}),
            json!({"type": "response.completed"}),
        ];
        let (sent, _) = chunks(paced(events, true, pace(300, 50), None)).await;
        let times: Vec<u128> = sent.iter().map(|(t, _)| *t).collect();
        assert_eq!(times, vec![0, 300, 350]);
        assert!(sent[0].1.contains("response.in_progress"));
        assert!(sent[1].1.starts_with("event: response.output_item.added"));
        assert!(sent[2].1.contains("response.completed"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_stream_ends_in_an_error_without_its_terminal_event() {
        let events = chat(&["a", " b", " c", " d"]);
        let (sent, cut) = chunks(paced(events, false, None, Some(3))).await;
        assert!(cut, "the body ends in an error, so the connection closes");
        let joined: String = sent.into_iter().map(|(_, s)| s).collect();
        assert_eq!(joined.matches("data: ").count(), 3);
        assert!(!joined.contains("[DONE]") && !joined.contains("finish_reason"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reader_does_not_delay_later_tokens() {
        // Tokens keep their schedule from the start even if the client reads late.
        let response = paced(chat(&["a", "b", "c", "d"]), false, pace(100, 10), None);
        let mut body = response.into_body().into_data_stream();
        let start = tokio::time::Instant::now();
        let _first = body.next().await;
        tokio::time::sleep(Duration::from_millis(25)).await;
        let mut times = Vec::new();
        while let Some(Ok(_)) = body.next().await {
            times.push(start.elapsed().as_millis());
        }
        // Tokens due at 110 and 120 are already late (read at 125): sent at once, in one
        // chunk; the one due at 130 keeps its time.
        assert_eq!(times, vec![125, 130]);
    }
}
