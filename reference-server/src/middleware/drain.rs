//! Keeps kept-alive connections usable when the server answers before reading the body (a 401,
//! 404, 405, 429 or 503 to a POST). hyper closes such a connection without `Connection: close`,
//! so a client that reuses it sees "server disconnected" (or, when the body comes a little
//! after the headers, every time). The body is handed to the inner service through a slot:
//! if nothing took it by the time the answer is ready, it is read (bounded) and thrown away
//! before the answer goes out.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use http_body::{Body as _, Frame, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

type Slot = Arc<Mutex<Option<Body>>>;

/// A body that takes the real one from the slot on first read.
struct Deferred {
    slot: Slot,
    inner: Option<Body>,
    hint: SizeHint,
}

impl http_body::Body for Deferred {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.inner.is_none() {
            // A poisoned lock only means a panic elsewhere; the Option inside is still sound.
            let taken = self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
            self.inner = taken;
        }
        match self.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

/// Whether the request says a body follows.
fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    headers.contains_key(axum::http::header::TRANSFER_ENCODING)
        || headers
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

/// Reads and discards up to `limit` bytes of `body`.
pub async fn drain(mut body: Body, limit: usize) {
    let mut read = 0usize;
    while read <= limit {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
            Some(Err(_)) | None => return,
        }
    }
}

/// The body of a request handed over through a slot, when the request says one follows.
pub struct Unread(Slot);

/// Puts the body of `req` behind a slot, so what the route leaves unread can be drained.
pub fn defer(req: Request) -> (Request, Option<Unread>) {
    if !has_body(&req) {
        return (req, None);
    }
    let (parts, body) = req.into_parts();
    let hint = body.size_hint();
    let slot: Slot = Arc::new(Mutex::new(Some(body)));
    let deferred = Deferred {
        slot: slot.clone(),
        inner: None,
        hint,
    };
    (
        Request::from_parts(parts, Body::new(deferred)),
        Some(Unread(slot)),
    )
}

impl Unread {
    /// Reads (at most `limit` bytes) and throws away what the route did not read. Past the
    /// limit the client is sending more than any route accepts; hyper then closes the
    /// connection, which is all that is left to do.
    pub async fn discard(self, limit: usize) {
        let unread = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(body) = unread {
            drain(body, limit).await;
        }
    }
}
