//! One port for chat and files (protocol §2, §15): the first request's head is read here
//! and decides. A WebSocket upgrade goes to the chat connection, anything else to the
//! file endpoints. The bytes read are replayed to whichever takes the connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::Io;

/// The longest request head read to decide (a WebSocket upgrade is a few hundred bytes).
const MAX_HEAD: usize = 8 * 1024;

pub(crate) enum Route {
    WebSocket,
    Http,
}

/// Reads the first request's head from `io`. `None`: the peer closed before sending one.
pub(crate) async fn sniff(mut io: Box<dyn Io>) -> Option<(Route, Box<dyn Io>)> {
    let mut buf = Vec::with_capacity(1024);
    let route = loop {
        let mut chunk = [0u8; 1024];
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let upgrade = req.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("upgrade")
                        && String::from_utf8_lossy(h.value)
                            .split(',')
                            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
                });
                break if upgrade {
                    Route::WebSocket
                } else {
                    Route::Http
                };
            }
            // Not HTTP at all: the WebSocket side answers it as it always has.
            Err(_) => break Route::WebSocket,
            Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => break Route::Http,
            Ok(httparse::Status::Partial) => {}
        }
    };
    Some((
        route,
        Box::new(Prefixed {
            prefix: buf,
            at: 0,
            inner: io,
        }),
    ))
}

/// A stream that first yields the bytes already read from it.
struct Prefixed {
    prefix: Vec<u8>,
    at: usize,
    inner: Box<dyn Io>,
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.at < self.prefix.len() {
            let n = (self.prefix.len() - self.at).min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.prefix[at..at + n]);
            self.at += n;
            if self.at == self.prefix.len() {
                // Freed: a long-lived idle connection keeps nothing of its handshake.
                self.prefix = Vec::new();
                self.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
