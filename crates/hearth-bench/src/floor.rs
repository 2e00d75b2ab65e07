//! The floor: the least a WebSocket fan-out server can do, for `hearth-bench --target floor`.
//!
//! tokio-tungstenite and nothing else. It reads only what routing needs: the frame's
//! `type` (a prefix test), and the `room_id` of a `join` (a substring). No JSON parsing,
//! no persistence, no sequence numbers, no limits. A `send` is turned into a `message`
//! by swapping the prefix, fanned out to everyone in the sender's room (the sender too,
//! as Hearth does) through the same per-connection queue and coalescing writer that any
//! tokio WebSocket server uses, and answered with a constant `ack`. It is meant to be
//! fast, not safe: keep it that way, or the ratio stops meaning anything.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

type Members = Vec<(u64, mpsc::UnboundedSender<Utf8Bytes>)>;

#[derive(Default)]
struct Floor {
    rooms: Mutex<HashMap<String, Arc<Mutex<Members>>>>,
}

static NEXT: AtomicU64 = AtomicU64::new(1);

const WELCOME: &str = r#"{"type":"welcome","payload":{}}"#;
const JOINED: &str = r#"{"type":"joined","payload":{}}"#;
const ACK: &str = r#"{"type":"ack","payload":{}}"#;
const SEND_PREFIX: &str = r#"{"type":"send""#;
const MESSAGE_PREFIX: &str = r#"{"type":"message""#;

/// Serves until the process ends.
pub async fn serve(listener: TcpListener) {
    let floor = Arc::new(Floor::default());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(Arc::clone(&floor), stream));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connection(floor: Arc<Floor>, stream: TcpStream) {
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Utf8Bytes>();
    tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            let write = async {
                sink.feed(Message::Text(f)).await?;
                for _ in 0..64 {
                    match rx.try_recv() {
                        Ok(f) => sink.feed(Message::Text(f)).await?,
                        Err(_) => break,
                    }
                }
                sink.flush().await
            };
            if write.await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let welcome = Utf8Bytes::from_static(WELCOME);
    let joined = Utf8Bytes::from_static(JOINED);
    let ack = Utf8Bytes::from_static(ACK);
    let mut room: Option<Arc<Mutex<Members>>> = None;
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        if let Some(rest) = text.as_str().strip_prefix(SEND_PREFIX) {
            let Some(members) = &room else { continue };
            let mut out = String::with_capacity(MESSAGE_PREFIX.len() + rest.len());
            out.push_str(MESSAGE_PREFIX);
            out.push_str(rest);
            let frame = Utf8Bytes::from(out);
            for (_, m) in lock(members).iter() {
                let _ = m.send(frame.clone());
            }
            let _ = tx.send(ack.clone());
        } else if text.as_str().starts_with(r#"{"type":"hello""#) {
            let _ = tx.send(welcome.clone());
        } else if text.as_str().starts_with(r#"{"type":"join""#) {
            let Some(room_id) = room_id(text.as_str()) else {
                continue;
            };
            let members = {
                let mut rooms = floor.rooms.lock().unwrap_or_else(|p| p.into_inner());
                Arc::clone(rooms.entry(room_id.to_string()).or_default())
            };
            lock(&members).push((id, tx.clone()));
            room = Some(members);
            let _ = tx.send(joined.clone());
        }
    }
    if let Some(members) = room {
        lock(&members).retain(|(i, _)| *i != id);
    }
}

fn lock(m: &Mutex<Members>) -> std::sync::MutexGuard<'_, Members> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn room_id(text: &str) -> Option<&str> {
    const KEY: &str = r#""room_id":""#;
    let start = text.find(KEY)? + KEY.len();
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}
