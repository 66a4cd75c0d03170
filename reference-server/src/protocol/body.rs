//! A response body of several buffers, sent as they are: hyper writes them with the head in
//! one vectored write, where joining them first would copy every byte once more (a cached
//! 1,536-float embedding is 19 KB; its copy, allocation and free were a tenth of the route).

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use smallvec::SmallVec;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The buffers of one body, in order; its length is known, so it is sent with a
/// `Content-Length`, never chunked. A body of up to four buffers (one embedding's) is held
/// inline, without an allocation of its own.
#[derive(Debug, Default)]
pub struct Pieces {
    parts: SmallVec<[Bytes; 4]>,
    /// The next buffer to send.
    next: usize,
    remaining: u64,
}

impl Pieces {
    /// An empty body with room for `n` buffers.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            parts: SmallVec::with_capacity(n),
            next: 0,
            remaining: 0,
        }
    }

    /// Appends a buffer (an empty one is left out: it would be an empty frame).
    pub fn push(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.remaining += part.len() as u64;
            self.parts.push(part);
        }
    }

    /// All the bytes in one buffer (tests compare them with what serde would print).
    #[cfg(test)]
    pub fn joined(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(self.remaining).unwrap_or(0));
        for part in &self.parts[self.next..] {
            out.extend_from_slice(part);
        }
        out
    }
}

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.next;
        match self.parts.get_mut(next).map(std::mem::take) {
            Some(part) => {
                self.next += 1;
                self.remaining -= part.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(part))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.parts.len()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Room in an answer's header map for every header it ends with: its own, the limiter's six,
/// the envelope's nine and the content length (at most 24 fit in the map's first allocation).
const ANSWER_HEADERS: usize = 24;

/// A JSON answer whose header map is made once with room for every header the envelope adds
/// (one left to grow would be reallocated twice), and carries `length` when it is known
/// (otherwise axum allocates it from the body's size).
pub fn json_answer(body: axum::body::Body, length: Option<HeaderValue>) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    *headers = HeaderMap::with_capacity(ANSWER_HEADERS);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(length) = length {
        headers.insert(header::CONTENT_LENGTH, length);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn the_pieces_are_the_body_in_order_with_an_exact_length() {
        // Six pieces: past the four held inline.
        let mut body = Pieces::default();
        for part in ["{\"a\":", "", "[1,", "2", "]", ",\"b\":0", "}"] {
            body.push(Bytes::from(part));
        }
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(17));
        let collected = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(collected.ok(), Some(Bytes::from("{\"a\":[1,2],\"b\":0}")));
        let mut body = Pieces::default();
        body.push(Bytes::from("x"));
        assert!(!http_body::Body::is_end_stream(&body));
        let mut body = std::pin::pin!(body);
        let frame = body
            .frame()
            .await
            .and_then(Result::ok)
            .and_then(|f| f.into_data().ok());
        assert_eq!(frame, Some(Bytes::from("x")));
        assert!(http_body::Body::is_end_stream(&*body));
        assert_eq!(http_body::Body::size_hint(&*body).exact(), Some(0));
    }

    #[test]
    fn an_answer_has_room_for_every_header_it_will_carry() {
        let response = json_answer(axum::body::Body::empty(), None);
        assert!(response.headers().capacity() >= ANSWER_HEADERS);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }
}
