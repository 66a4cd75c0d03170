//! `Idempotency-Key` on POST (IETF draft and Stripe semantics). The first response for a key
//! (status, content type, body; streams included, as their exact bytes) is kept and replayed
//! with `Idempotent-Replayed: true` for the same key and body. The same key with another body
//! is 422; a duplicate that arrives while the first is still running is 409. Keys belong to
//! the project that sent them and expire after a TTL. Server errors are not kept, so a
//! retry after a 5xx executes again.

use crate::protocol::error::ApiError;
use crate::protocol::project::Project;
use crate::simulate::FAULT_HEADER;
use crate::state::AppState;
use crate::store::{Claim, Fingerprint, IdempotencyRecords, Pending, Recorded};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::future::Future;

/// Forgets a claimed key if the request never finishes (client gone, panic), so a retry runs.
struct Guard<'a> {
    records: &'a dyn IdempotencyRecords,
    key: &'a str,
    fingerprint: Fingerprint,
    armed: bool,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.armed {
            detach(self.records.finish(self.key, self.fingerprint, None));
        }
    }
}

/// Lets a store write finish on its own task, where nothing can wait for it (a drop). The
/// in-process store has written already; a shared store's write is its future.
fn detach(write: Pending<()>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            // A failed write is counted by the store; the key then expires by itself.
            let _ = write.await;
        });
    }
}

const MAX_KEY_LEN: usize = 255;

/// The key as sent, if it is 1 to 255 visible ASCII characters.
fn valid_key(raw: &HeaderValue) -> Option<&str> {
    raw.to_str().ok().filter(|k| {
        !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
    })
}

/// Looked up by a name constant: a `&str` name is parsed on every lookup.
const IDEMPOTENCY_KEY: axum::http::HeaderName =
    axum::http::HeaderName::from_static("idempotency-key");

/// The key `req` is to run under: `None` when it has none (or is not a POST), an error when
/// the key is malformed. Keys belong to the project that sent them.
pub fn key_of(project: &Project, req: &Request) -> Result<Option<String>, ApiError> {
    if req.method() != Method::POST {
        return Ok(None);
    }
    let Some(raw_key) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key_text = valid_key(raw_key).ok_or_else(ApiError::invalid_idempotency_key)?;
    Ok(Some(format!("{project} {key_text}")))
}

/// Runs `req` through `handler` under `key`: replays, refuses or records.
pub async fn keyed<F, Fut>(state: &AppState, key: String, req: Request, handler: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let (parts, body) = req.into_parts();
    let bytes = match crate::protocol::extract::read_limited(
        body,
        state.config.limits.max_body_bytes,
    )
    .await
    {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update([0]);
    hasher.update(parts.uri.path());
    hasher.update([0]);
    hasher.update(&bytes);
    let fingerprint: Fingerprint = hasher.finalize().into();
    let records = state.stores.idempotency.as_ref();
    let claim = match records.claim(&key, fingerprint).await {
        Ok(claim) => claim,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match claim {
        Claim::InUse => return ApiError::idempotency_key_in_use().into_response(),
        Claim::Reused => return ApiError::idempotency_key_reused().into_response(),
        Claim::Replay(recorded) => {
            state.metrics.idempotent_replay();
            return replay(recorded);
        }
        Claim::Execute => state.metrics.idempotent_execution(),
    }
    let mut guard = Guard {
        records,
        key: &key,
        fingerprint,
        armed: true,
    };
    let response = handler(Request::from_parts(parts, Body::from(bytes))).await;
    if response.headers().contains_key(FAULT_HEADER) {
        // An injected fault is not the answer to keep: the guard forgets the key, so the
        // client's retry with the same key runs again.
        return response;
    }
    guard.armed = false;
    let (parts, body) = response.into_parts();
    // Server errors are not kept, so a retry after a 5xx executes again.
    let recorder = (!parts.status.is_server_error()).then(|| Recorder {
        state: state.clone(),
        key: key.clone(),
        fingerprint,
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        seen: Vec::new(),
        done: false,
    });
    let Some(recorder) = recorder else {
        detach(records.finish(&key, fingerprint, None));
        return Response::from_parts(parts, body);
    };
    // The body goes to the client as it is made (a paced stream keeps its pace) and is kept
    // as it passes; the record is written when it ends.
    let body = Body::new(Recording {
        inner: body,
        recorder,
        writing: None,
    });
    Response::from_parts(parts, body)
}

/// Keeps a body as it is sent and records it for its key once it has all been sent; a body
/// that fails or is dropped half-way forgets the key instead.
struct Recorder {
    state: AppState,
    key: String,
    fingerprint: Fingerprint,
    status: u16,
    content_type: Option<String>,
    seen: Vec<u8>,
    /// Set once the record is written or given up.
    done: bool,
}

impl Recorder {
    /// The write that records the answer (`complete`) or forgets the key; `None` once done.
    fn finish(&mut self, complete: bool) -> Option<Pending<()>> {
        if self.done {
            return None;
        }
        self.done = true;
        let recorded = complete.then(|| Recorded {
            status: self.status,
            content_type: self.content_type.take(),
            body: std::mem::take(&mut self.seen).into(),
        });
        Some(
            self.state
                .stores
                .idempotency
                .finish(&self.key, self.fingerprint, recorded),
        )
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Dropped before the end (client gone): forget the key so a retry runs.
        if let Some(write) = self.finish(false) {
            detach(write);
        }
    }
}

/// A body, kept by its [`Recorder`] as it passes. Its length and end are the inner body's:
/// an answer with a `Content-Length` is recorded at its last frame, as hyper stops polling
/// there (it does not wait for the end of the stream). The last frame is held until the record
/// is written: a client that has the whole answer can retry on any replica and get it again,
/// even if this one dies the next instant.
struct Recording {
    inner: Body,
    recorder: Recorder,
    /// The record being written, and the last frame it holds back.
    writing: Option<(Pending<()>, Option<Frame>)>,
}

type Frame = Result<http_body::Frame<bytes::Bytes>, axum::Error>;

impl http_body::Body for Recording {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Frame>> {
        let this = &mut *self;
        if let Some((write, _)) = this.writing.as_mut() {
            // A failed write is counted by the store; the answer still goes out.
            let _ = std::task::ready!(write.as_mut().poll(cx));
            let held = this.writing.take().and_then(|(_, frame)| frame);
            return std::task::Poll::Ready(held);
        }
        let frame = std::task::ready!(std::pin::Pin::new(&mut this.inner).poll_frame(cx));
        let complete = match &frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    this.recorder.seen.extend_from_slice(data);
                }
                this.inner.is_end_stream()
            }
            Some(Err(_)) => {
                if let Some(write) = this.recorder.finish(false) {
                    detach(write);
                }
                false
            }
            None => true,
        };
        if complete {
            if let Some(write) = this.recorder.finish(true) {
                this.writing = Some((write, frame));
                // Polled at once: the in-process store is ready now.
                return std::pin::Pin::new(this).poll_frame(cx);
            }
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.writing.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn replay(recorded: Recorded) -> Response {
    let mut response = Response::new(Body::from(recorded.body));
    *response.status_mut() = StatusCode::from_u16(recorded.status).unwrap_or(StatusCode::OK);
    if let Some(ct) = recorded
        .content_type
        .and_then(|ct| HeaderValue::from_str(&ct).ok())
    {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_of_known_length_is_recorded_at_its_last_frame() {
        use http_body::Body as _;
        let state = AppState::new(crate::config::Config::default());
        let records = state.stores.idempotency.as_ref();
        let fingerprint = [7u8; 32];
        assert!(matches!(
            records.claim("k", fingerprint).await,
            Ok(Claim::Execute)
        ));
        let recorder = Recorder {
            state: state.clone(),
            key: "k".into(),
            fingerprint,
            status: 200,
            content_type: None,
            seen: Vec::new(),
            done: false,
        };
        let mut body = Recording {
            inner: Body::from("whole"),
            recorder,
            writing: None,
        };
        assert_eq!(
            body.size_hint().exact(),
            Some(5),
            "the length goes out as it is"
        );
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        let data = frame.and_then(Result::ok).and_then(|f| f.into_data().ok());
        assert_eq!(data.as_deref(), Some(&b"whole"[..]));
        assert!(body.is_end_stream());
        // hyper stops polling a body of known length here: the record is already written.
        drop(body);
        match records.claim("k", fingerprint).await {
            Ok(Claim::Replay(recorded)) => assert_eq!(&recorded.body[..], b"whole"),
            _ => panic!("not recorded at the last frame"),
        }
    }

    #[test]
    fn keys_are_visible_ascii_of_sane_length() {
        assert_eq!(valid_key(&HeaderValue::from_static("k-1")), Some("k-1"));
        assert_eq!(valid_key(&HeaderValue::from_static("has space")), None);
        let long = HeaderValue::from_str(&"a".repeat(256)).unwrap_or(HeaderValue::from_static(""));
        assert_eq!(valid_key(&long), None);
    }
}
