//! A connection's socket, noting when bytes come and go for its watchdog, and holding its
//! place among the open connections for as long as the socket lives (a WebSocket included).

use super::Registration;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The HTTP/2 connection preface's first bytes: such a connection sends frames, not heads.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// A socket and its registration.
pub struct Tracked<T> {
    inner: T,
    registration: Registration,
    /// Nothing read yet (the preface is looked for in the first read).
    first: bool,
}

impl<T> Tracked<T> {
    /// Wraps `inner`.
    pub fn new(inner: T, registration: Registration) -> Self {
        Self {
            inner,
            registration,
            first: true,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let new = &buf.filled()[before..];
        if !new.is_empty() {
            let conn = this.registration.conn();
            if std::mem::take(&mut this.first) && new.starts_with(H2_PREFACE) {
                conn.no_more_heads();
            }
            conn.read_at(conn.now());
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                let conn = this.registration.conn();
                conn.wrote_at(conn.now());
            }
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            if n > 0 {
                let conn = this.registration.conn();
                conn.wrote_at(conn.now());
            }
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
