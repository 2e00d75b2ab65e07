//! One client connection on the host: the transport (TLS, the WebSocket upgrade, the
//! connection slot) here; the writer task that drains the peer's queue, pings and closes
//! gracefully in `writer`; the session that decodes and handles the frames in
//! `session`.

mod coalescing_io;
mod session;
mod sniff;
mod writer;

use coalescing_io::CoalescingIo;
use session::Session;
use writer::{close_frame, write_loop};

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

pub(super) type Ws = WebSocketStream<CoalescingIo<Box<dyn Io>>>;

/// The client's WebSocket settings: small buffers, since frames are small.
pub(crate) fn ws_config(max_frame_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(max_frame_bytes))
        .max_message_size(Some(max_frame_bytes))
        .read_buffer_size(2 * 1024)
        .write_buffer_size(4 * 1024)
}

/// The host's: what an idle connection holds is what these buffers keep, times every
/// connection. The read buffer grows to a frame larger than itself and stays that size,
/// so it starts at what `hello` and `join` need. Writes go straight down to the
/// `CoalescingIo`, which batches them and frees its buffer after every flush.
fn host_ws_config(max_frame_bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(max_frame_bytes))
        .max_message_size(Some(max_frame_bytes))
        .read_buffer_size(HOST_READ_BUFFER)
        .write_buffer_size(0)
}

/// Enough for a `join` in one read (a `hello` may take two).
const HOST_READ_BUFFER: usize = 256;

/// Serves one connection on any byte stream: a TCP socket from the accept loop, or an
/// in-memory one ([`crate::Host::serve_io`]). TLS, when configured, is layered on top.
pub(crate) async fn run<S: Io + 'static>(
    state: Arc<HostState>,
    stream: S,
    addr: SocketAddr,
    slot: Result<ConnectionSlot, &'static str>,
) {
    // The upgrade and the hello share one deadline.
    let accepted_at = Instant::now();
    // The handshakes' state (rustls', tungstenite's) is large and needed only once: on
    // the heap for the moment, not in this future for the life of the connection.
    let ws = match Box::pin(handshake(&state, stream, addr, accepted_at)).await {
        Some(Routed::WebSocket(ws)) => ws,
        Some(Routed::Http(io)) => {
            return Box::pin(crate::files::http::serve(state, io, addr, slot)).await;
        }
        None => return,
    };
    // Each boxed too, and the socket moved straight into it: this future is the
    // connection's task for its whole life, and only one of the two ever runs.
    match slot {
        Ok(slot) => Box::pin(live(state, ws, addr, slot, accepted_at)).await,
        Err(why) => Box::pin(refuse(ws, addr, why)).await,
    }
}

/// Where a connection goes once its first request head is read.
// Lives for one return only: boxing the WebSocket would cost every connection a heap
// allocation for nothing.
#[allow(clippy::large_enum_variant)]
enum Routed {
    WebSocket(Ws),
    /// The file endpoints (protocol §15).
    Http(Box<dyn Io>),
}

/// TLS (when configured), the first request's head, and the WebSocket upgrade, within
/// the handshake deadline.
async fn handshake<S: Io + 'static>(
    state: &HostState,
    stream: S,
    addr: SocketAddr,
    accepted_at: Instant,
) -> Option<Routed> {
    let limits = state.limits();
    let deadline = accepted_at + limits.handshake_timeout;
    // The TLS handshake shares the deadline too, so a slow handshake cannot hold a task.
    let stream: Box<dyn Io> = match state.tls() {
        Some(acceptor) => match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => Box::new(tls),
            Ok(Err(e)) => {
                tracing::debug!(%addr, error = %e, "TLS handshake failed");
                return None;
            }
            Err(_) => {
                tracing::debug!(%addr, "TLS handshake timed out");
                return None;
            }
        },
        None => Box::new(stream),
    };
    let stream = match tokio::time::timeout_at(deadline, sniff::sniff(stream)).await {
        Ok(Some((sniff::Route::WebSocket, io))) => io,
        Ok(Some((sniff::Route::Http, io))) => return Some(Routed::Http(io)),
        Ok(None) => return None,
        Err(_) => {
            tracing::debug!(%addr, "no request within the handshake deadline");
            return None;
        }
    };
    let upgrade = tokio_tungstenite::accept_async_with_config(
        CoalescingIo::new(stream),
        Some(host_ws_config(limits.max_frame_bytes)),
    );
    match tokio::time::timeout_at(deadline, upgrade).await {
        Ok(Ok(ws)) => Some(Routed::WebSocket(ws)),
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "websocket upgrade failed");
            None
        }
        Err(_) => {
            tracing::debug!(%addr, "websocket upgrade timed out");
            None
        }
    }
}

/// Past a connection limit: the client learns why (4005), then the connection ends.
async fn refuse(mut ws: Ws, addr: SocketAddr, why: &'static str) {
    tracing::warn!(%addr, why, "connection refused");
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        ws.close(Some(close_frame(close::TOO_MANY_CONNECTIONS, why))),
    )
    .await;
}

/// A connection in its slot: the writer task, and the session reading its frames here.
async fn live(
    state: Arc<HostState>,
    ws: Ws,
    addr: SocketAddr,
    _slot: ConnectionSlot,
    accepted_at: Instant,
) {
    let limits = state.limits();
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
