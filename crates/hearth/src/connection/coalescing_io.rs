//! The byte stream under a connection's WebSocket: reads pass through, writes gather in a
//! buffer until the writer flushes (so a burst of frames goes out in one write), and the
//! buffer is freed once flushed. tungstenite's own write buffer keeps the capacity of
//! the largest batch it ever held, for the life of the connection; on an idle connection
//! that was most of its memory. tungstenite is therefore set to hand every frame straight
//! down (`write_buffer_size(0)`), and the batching happens here.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Past this many bytes gathered, a write first drains the buffer to the socket.
const MAX_GATHER: usize = 64 * 1024;

pub(crate) struct CoalescingIo<S> {
    inner: S,
    buf: Vec<u8>,
    /// How much of `buf` is written already.
    sent: usize,
}

impl<S> CoalescingIo<S> {
    pub(crate) fn new(inner: S) -> Self {
        CoalescingIo {
            inner,
            buf: Vec::new(),
            sent: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> CoalescingIo<S> {
    /// Writes out what is gathered; frees the buffer when it is all out.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.buf = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CoalescingIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CoalescingIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.buf.len() + data.len() > MAX_GATHER {
            ready!(this.poll_drain(cx))?;
            if data.len() >= MAX_GATHER {
                return Pin::new(&mut this.inner).poll_write(cx, data);
            }
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Writes gather until the flush, arrive whole and in order, and the buffer is freed
    /// by the flush; a write larger than the gather limit goes through too.
    #[tokio::test]
    async fn gathers_until_flush_then_frees_its_buffer() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut io = CoalescingIo::new(a);
        io.write_all(b"hello ").await.unwrap();
        io.write_all("שלום 🌊".as_bytes()).await.unwrap();
        assert!(io.buf.capacity() > 0);
        let mut probe = [0u8; 1];
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(50), b.read(&mut probe)).await;
        assert!(
            early.is_err(),
            "nothing reaches the socket before the flush"
        );
        io.flush().await.unwrap();
        assert_eq!(io.buf.capacity(), 0, "the flush frees the buffer");
        let want = "hello שלום 🌊".as_bytes();
        let mut got = vec![0u8; want.len()];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got, want);

        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        io.write_all(b"x").await.unwrap();
        io.write_all(&big).await.unwrap();
        io.flush().await.unwrap();
        let mut got = vec![0u8; big.len() + 1];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(got[0], b'x');
        assert_eq!(&got[1..], &big[..]);
        assert_eq!(io.buf.capacity(), 0);
    }
}
