//! One client connection on the host: the transport (TLS, the WebSocket upgrade, the
//! connection slot) here; the writer task that drains the peer's queue, pings and closes
//! gracefully in `writer`; the session that decodes and handles the frames in
//! `session`.

mod session;
mod writer;

use session::Session;
use writer::{close_frame, write_loop, FRAGMENT};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use crate::host_state::HostState;
use crate::limits::{ConnectionSlot, TokenBucket};
use crate::peer::Peer;
use crate::protocol::{close, PresenceEvent};

/// A TCP stream, TLS or not.
pub(crate) trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

pub(super) type Ws = WebSocketStream<Box<dyn Io>>;

pub(crate) fn ws_config(max_frame_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(max_frame_bytes))
        .max_message_size(Some(max_frame_bytes))
        // Small buffers keep idle connections cheap; frames are small.
        .read_buffer_size(2 * 1024)
        .write_buffer_size(FRAGMENT)
}

/// Serves one connection on any byte stream: a TCP socket from the accept loop, or an
/// in-memory one ([`crate::Host::serve_io`]). TLS, when configured, is layered on top.
pub(crate) async fn run<S: Io + 'static>(
    state: Arc<HostState>,
    stream: S,
    addr: SocketAddr,
    slot: Result<ConnectionSlot, &'static str>,
) {
    let limits = state.limits();
    // The upgrade and the hello share one deadline.
    let accepted_at = Instant::now();
    let deadline = accepted_at + limits.handshake_timeout;
    // The TLS handshake shares the deadline too, so a slow handshake cannot hold a task.
    let stream: Box<dyn Io> = match state.tls() {
        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => Box::new(tls),
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%addr, "TLS handshake timed out");
                return;
            }
        },
        None => Box::new(stream),
    };
    let upgrade = tokio_tungstenite::accept_async_with_config(
        stream,
        Some(ws_config(limits.max_frame_bytes)),
    );
    let mut ws = match tokio::time::timeout_at(deadline, upgrade).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "websocket upgrade failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%addr, "websocket upgrade timed out");
            return;
        }
    };
    let _slot = match slot {
        Ok(s) => s,
        Err(why) => {
            tracing::warn!(%addr, why, "connection refused");
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                ws.close(Some(close_frame(close::TOO_MANY_CONNECTIONS, why))),
            )
            .await;
            return;
        }
    };
    let (sink, mut stream) = ws.split();
    let (peer, rx) = Peer::new(
        limits.outgoing_queue,
        limits.outgoing_bytes,
        Arc::clone(state.outgoing()),
    );
    // The reader hands its half to the writer when it is done, for the graceful close.
    let (read_half_tx, read_half_rx) = oneshot::channel();
    state.tasks().spawn(write_loop(
        sink,
        rx,
        Arc::clone(&peer),
        limits.heartbeat_interval,
        read_half_rx,
    ));
    tracing::debug!(%addr, conn = peer.id, "connected");
    let mut session = Session {
        bucket: TokenBucket::new(limits.messages_per_sec, limits.message_burst),
        typing_bucket: TokenBucket::new(limits.typing_per_sec, limits.typing_per_sec),
        join_bucket: TokenBucket::new(limits.joins_per_sec, limits.joins_per_sec.saturating_mul(5)),
        frame_bucket: TokenBucket::new(limits.frame_rate(), limits.frame_rate().saturating_mul(2)),
        state: Arc::clone(&state),
        peer: Arc::clone(&peer),
        addr,
        user: None,
        rooms: HashMap::new(),
        limited_streak: 0,
    };
    let timed_out = session.read_loop(&mut stream, accepted_at).await;
    let event = if timed_out {
        PresenceEvent::Timeout
    } else {
        PresenceEvent::Leave
    };
    for room in session.rooms.values() {
        room.remove(peer.id, event);
    }
    peer.kick(close::NORMAL);
    let _ = read_half_tx.send(stream);
    tracing::debug!(%addr, conn = peer.id, code = peer.close_code(), "disconnected");
}
