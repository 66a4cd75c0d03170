//! Keeps kept-alive connections usable when the server answers before reading the body (a 401,
//! 404, 405, 429 or 503 to a POST). hyper closes such a connection without `Connection: close`,
//! so a client that reuses it sees "server disconnected" (or, when the body comes a little
//! after the headers, every time). A body of a known, small length is read before the route
//! runs (it has usually come with the head), so nothing is ever left unread. Any other body is
//! handed to the inner service through a slot: if nothing took it by the time the answer is
//! ready, it is read (bounded) and thrown away before the answer goes out.

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

/// What the request says of its body.
#[derive(Debug, PartialEq, Eq)]
enum Declared {
    /// No body.
    Nothing,
    /// `Content-Length` bytes.
    Length(u64),
    /// A body of a length not known before its end (chunked).
    Chunked,
}

/// What the request says of its body, as hyper read it from the head (`Content-Length`, or a
/// length not known, as chunked): the body's exact size, without a header looked up again.
fn declared(req: &Request) -> Declared {
    match http_body::Body::size_hint(req.body()).exact() {
        Some(0) => Declared::Nothing,
        Some(n) => Declared::Length(n),
        None => Declared::Chunked,
    }
}

/// Bodies declared at most this long (and within the body limit) are read before the route.
const READ_FIRST: u64 = 64 * 1024;

/// Makes sure the body of `req` cannot be left unread: a small body of known length is read
/// now, and given to the route whole; any other is deferred (see [`Unread`]). The request is
/// borrowed, not moved: a request is 240 bytes, and every future that owns one stores it again.
pub async fn prepare(req: &mut Request, limit: usize) -> Option<Unread> {
    match declared(req) {
        Declared::Nothing => None,
        Declared::Length(n) if n <= READ_FIRST.min(u64::try_from(limit).unwrap_or(u64::MAX)) => {
            let body = std::mem::take(req.body_mut());
            // The body reader the routes use: a body in one chunk is kept without a copy.
            *req.body_mut() = match crate::protocol::extract::read_limited(body, limit).await {
                Ok(bytes) => Body::from(bytes),
                Err(_) => Body::new(Failed(Some(axum::Error::new(std::io::Error::other(
                    "the body could not be read",
                ))))),
            };
            None
        }
        Declared::Length(_) | Declared::Chunked => Some(defer(req)),
    }
}

/// The body given to the route when reading it failed (the client went away, or broke the
/// framing): the route sees the failure where it reads.
struct Failed(Option<axum::Error>);

impl http_body::Body for Failed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Poll::Ready(self.0.take().map(Err))
    }
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
fn defer(req: &mut Request) -> Unread {
    let body = std::mem::take(req.body_mut());
    let hint = body.size_hint();
    let slot: Slot = Arc::new(Mutex::new(Some(body)));
    *req.body_mut() = Body::new(Deferred {
        slot: slot.clone(),
        inner: None,
        hint,
    });
    Unread(slot)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    type Chunks = Arc<Mutex<VecDeque<Result<Bytes, std::io::Error>>>>;

    /// A body as hyper gives it: its chunks (shared, so a test sees what was read), and an
    /// exact size when the head declared a `Content-Length` (none when chunked).
    struct Incoming {
        chunks: Chunks,
        length: Option<u64>,
    }

    impl http_body::Body for Incoming {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            let next = self.chunks.lock().ok().and_then(|mut c| c.pop_front());
            Poll::Ready(next.map(|c| c.map(Frame::data)))
        }

        fn size_hint(&self) -> SizeHint {
            self.length.map(SizeHint::with_exact).unwrap_or_default()
        }
    }

    fn incoming(
        length: Option<u64>,
        chunks: Vec<Result<Bytes, std::io::Error>>,
    ) -> (Request, Chunks) {
        let chunks: Chunks = Arc::new(Mutex::new(chunks.into()));
        let body = Incoming {
            chunks: chunks.clone(),
            length,
        };
        let req = Request::builder()
            .method("POST")
            .uri("/v1/embeddings")
            .body(Body::new(body))
            .unwrap_or_default();
        (req, chunks)
    }

    fn request(length: Option<u64>, chunks: &[&'static str]) -> (Request, Chunks) {
        let chunks = chunks
            .iter()
            .map(|c| Ok(Bytes::from_static(c.as_bytes())))
            .collect();
        incoming(length, chunks)
    }

    fn left(chunks: &Chunks) -> usize {
        chunks.lock().map_or(usize::MAX, |c| c.len())
    }

    async fn text(req: Request) -> String {
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20).await;
        String::from_utf8(bytes.map(|b| b.to_vec()).unwrap_or_default()).unwrap_or_default()
    }

    #[tokio::test]
    async fn a_small_body_of_known_length_is_read_first_and_whole() {
        let (mut req, chunks) = request(Some(11), &["hello", " ", "world"]);
        let unread = prepare(&mut req, 1024).await;
        assert!(unread.is_none(), "nothing can be left unread");
        assert_eq!(left(&chunks), 0, "read before the route");
        assert_eq!(req.body().size_hint().exact(), Some(11));
        assert_eq!(text(req).await, "hello world");
    }

    #[tokio::test]
    async fn chunked_large_and_empty_bodies_are_not_read_first() {
        let (mut chunked, chunks) = request(None, &["a", "b"]);
        let unread = prepare(&mut chunked, 1024).await;
        assert!(unread.is_some());
        assert_eq!(left(&chunks), 2, "not read before the route");
        assert_eq!(
            text(chunked).await,
            "ab",
            "the route still reads it through the slot"
        );
        for (length, limit) in [(2000, 1024), (70000, 1 << 20)] {
            let (mut large, chunks) = request(Some(length), &["x"]);
            assert!(prepare(&mut large, limit).await.is_some(), "{length}");
            assert_eq!(left(&chunks), 1, "{length} not read before the route");
        }
        let (mut empty, _) = request(Some(0), &[]);
        assert!(prepare(&mut empty, 1024).await.is_none());
    }

    #[tokio::test]
    async fn a_body_that_fails_to_come_fails_where_the_route_reads_it() {
        let failing = vec![
            Ok(Bytes::from_static(b"par")),
            Err(std::io::Error::other("connection reset")),
        ];
        let (mut req, _) = incoming(Some(10), failing);
        let unread = prepare(&mut req, 1024).await;
        assert!(unread.is_none());
        let read = axum::body::to_bytes(req.into_body(), 1024).await;
        assert!(read.is_err(), "{read:?}");
    }
}
