//! The writer task of a connection: it drains the peer's bounded queue (coalescing
//! writes), pings, and closes gracefully: the close frame, then reading until the
//! client's own close or EOF, so the kernel never turns the close into a reset.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::SinkExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::Error as WsError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

use super::Ws;

use crate::peer::{Outgoing, Peer};
use crate::protocol::close;

/// A close frame with `code` and its reason.
pub(super) fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(reason),
    }
}

pub(super) async fn write_loop(
    mut sink: SplitSink<Ws, Message>,
    mut rx: Outgoing,
    peer: Arc<Peer>,
    heartbeat: Duration,
    read_half: oneshot::Receiver<SplitStream<Ws>>,
) {
    let mut ping = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    loop {
        tokio::select! {
            biased;
            _ = peer.kicked().cancelled() => break,
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                let write = async {
                    peer.written(frame.len());
                    feed_text(&mut sink, frame).await?;
                    // Coalesce whatever else is already queued into one flush.
                    for _ in 0..64 {
                        match rx.try_recv() {
                            Some(f) => {
                                peer.written(f.len());
                                feed_text(&mut sink, f).await?
                            }
                            None => break,
                        }
                    }
                    sink.flush().await
                };
                // Boxed: its state lives only while a batch is written, not in every idle
                // connection's writer.
                let done = tokio::select! {
                    r = Box::pin(write) => r.is_ok(),
                    // A reader that stopped reading blocks this write; the kick must still win.
                    _ = peer.kicked().cancelled() => false,
                };
                if !done {
                    break;
                }
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    peer.kick(close::NORMAL);
    // Boxed, like the batch above: what closing needs is not held by idle connections.
    Box::pin(close_gracefully(sink, rx, &peer, read_half)).await;
}

/// The close: what is queued (unless the client stopped reading), the close frame, then
/// reading until the client's own close or EOF.
async fn close_gracefully(
    mut sink: SplitSink<Ws, Message>,
    mut rx: Outgoing,
    peer: &Peer,
    read_half: oneshot::Receiver<SplitStream<Ws>>,
) {
    let code = peer.close_code();
    let grace = if code == close::SLOW_READER || code == close::HEARTBEAT_TIMEOUT {
        // Queued frames are dropped (the client resumes); the close frame still gets a
        // chance if the client starts reading again.
        Duration::from_secs(10)
    } else {
        // Deliver what is already queued (acks, last messages) before closing.
        while let Some(f) = rx.try_recv() {
            peer.written(f.len());
            if feed_text(&mut sink, f).await.is_err() {
                break;
            }
        }
        Duration::from_secs(2)
    };
    // What is still queued will never be written: give its bytes back to the host's
    // budget now, and refuse whatever the rooms push from here on.
    rx.close();
    while let Some(f) = rx.try_recv() {
        peer.written(f.len());
    }
    let deadline = Instant::now() + grace;
    let _ = tokio::time::timeout_at(
        deadline,
        sink.send(Message::Close(Some(close_frame(code, close::reason(code))))),
    )
    .await;
    // Closing a socket with unread bytes in it makes the kernel send a reset, which
    // destroys the close frame and the errors before it on their way: a flooding client
    // would never learn why it was dropped. So read and discard until the client's own
    // close or EOF, within the same grace period.
    let Ok(Ok(stream)) = tokio::time::timeout_at(deadline, read_half).await else {
        return;
    };
    let Ok(mut ws) = sink.reunite(stream) else {
        return;
    };
    let io = ws.get_mut();
    let _ = tokio::time::timeout_at(deadline, async {
        // On the heap, and only now: in this future it would cost every connection
        // 4 KiB for its whole life.
        let mut buf = vec![0u8; 4096];
        while matches!(io.read(&mut buf).await, Ok(n) if n > 0) {}
        let _ = io.shutdown().await;
    })
    .await;
}

/// Text frames longer than this go out as fragments of one message (RFC 6455 §5.4;
/// every WebSocket client reassembles them). tungstenite's write buffer keeps the size
/// of the largest frame it ever held (up to twice that, as it grows) for the rest of the
/// connection; the host hands each frame down at once (see `CoalescingIo`), so this is
/// what every connection keeps. A fragment's header is 4 bytes: under 2% on the wire.
pub(super) const FRAGMENT: usize = 256;

async fn feed_text(sink: &mut SplitSink<Ws, Message>, frame: Utf8Bytes) -> Result<(), WsError> {
    if frame.len() <= FRAGMENT {
        return sink.feed(Message::Text(frame)).await;
    }
    // Fragment on character boundaries, so every fragment is valid UTF-8 by itself.
    let text = frame.as_str();
    let mut cuts = Vec::with_capacity(frame.len() / FRAGMENT + 1);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + FRAGMENT).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        cuts.push((start, end));
        start = end;
    }
    let bytes = Bytes::from(frame);
    for (i, &(start, end)) in cuts.iter().enumerate() {
        let opcode = if i == 0 { Data::Text } else { Data::Continue };
        let last = i + 1 == cuts.len();
        let f = Frame::message(bytes.slice(start..end), OpCode::Data(opcode), last);
        sink.feed(Message::Frame(f)).await?;
    }
    Ok(())
}
