//! The sending side of one connection: a bounded queue of encoded frames plus a way to
//! close it. Fan-out only ever `try_send`s here, so a slow reader never blocks a room.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use crate::protocol::{close, encode, HostFrame};

pub type ConnId = u64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
pub struct Peer {
    pub id: ConnId,
    tx: mpsc::Sender<Utf8Bytes>,
    kill: CancellationToken,
    close_code: AtomicU16,
}

impl Peer {
    pub fn new(queue: usize) -> (Arc<Peer>, mpsc::Receiver<Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let peer = Peer {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            kill: CancellationToken::new(),
            close_code: AtomicU16::new(close::NORMAL),
        };
        (Arc::new(peer), rx)
    }

    /// Queues an already encoded frame. A full queue closes the connection as a slow
    /// reader; it can resume and catch up.
    pub fn push(&self, frame: Utf8Bytes) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kick(close::SLOW_READER);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn send(&self, frame: &HostFrame) -> bool {
        self.push(Utf8Bytes::from(encode(frame)))
    }

    /// Asks the connection to close with `code`. The first reason given wins.
    pub fn kick(&self, code: u16) {
        if !self.kill.is_cancelled() {
            let _ = self.close_code.compare_exchange(
                close::NORMAL,
                code,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            self.kill.cancel();
        }
    }

    pub fn kicked(&self) -> &CancellationToken {
        &self.kill
    }

    pub fn close_code(&self) -> u16 {
        self.close_code.load(Ordering::Acquire)
    }
}
