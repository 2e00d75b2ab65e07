//! The sending side of one connection: a queue of encoded frames, bounded in frames and
//! in bytes (per connection and host-wide), plus a way to close it. Fan-out only ever
//! `try_send`s here, so a slow reader never blocks a room.

use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use crate::protocol::{close, encode, HostFrame};

pub type ConnId = u64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Bytes queued for all connections of a host, against a ceiling.
#[derive(Debug)]
pub struct OutgoingBudget {
    queued: AtomicUsize,
    /// Bytes that have passed through, ever (see `memory_trim`).
    passed: AtomicUsize,
    max: usize,
}

impl OutgoingBudget {
    pub fn new(max: usize) -> Arc<OutgoingBudget> {
        Arc::new(OutgoingBudget {
            queued: AtomicUsize::new(0),
            passed: AtomicUsize::new(0),
            max,
        })
    }

    fn reserve(&self, n: usize) -> bool {
        self.queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                q.checked_add(n).filter(|&t| t <= self.max)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
        self.passed.fetch_add(n, Ordering::Relaxed);
    }

    /// Bytes that have left the queues since the host started (wrapping).
    pub fn passed(&self) -> usize {
        self.passed.load(Ordering::Relaxed)
    }

    /// Bytes queued for all connections now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
pub struct Peer {
    pub id: ConnId,
    tx: mpsc::Sender<Utf8Bytes>,
    kill: CancellationToken,
    close_code: AtomicU16,
    queued: AtomicUsize,
    max_bytes: usize,
    budget: Arc<OutgoingBudget>,
}

impl Peer {
    pub fn new(
        frames: usize,
        max_bytes: usize,
        budget: Arc<OutgoingBudget>,
    ) -> (Arc<Peer>, mpsc::Receiver<Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(frames.max(1));
        let peer = Peer {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            kill: CancellationToken::new(),
            close_code: AtomicU16::new(close::NORMAL),
            queued: AtomicUsize::new(0),
            max_bytes,
            budget,
        };
        (Arc::new(peer), rx)
    }

    /// Queues an already encoded frame. A queue over its frame or byte bound, or a host
    /// over its total, closes the connection as a slow reader; it can resume and catch
    /// up.
    pub fn push(&self, frame: Utf8Bytes) -> bool {
        let n = frame.len();
        if self.queued.load(Ordering::Acquire) + n > self.max_bytes || !self.budget.reserve(n) {
            self.kick(close::SLOW_READER);
            return false;
        }
        self.queued.fetch_add(n, Ordering::AcqRel);
        match self.tx.try_send(frame) {
            Ok(()) => true,
            Err(e) => {
                self.written(n);
                if matches!(e, mpsc::error::TrySendError::Full(_)) {
                    self.kick(close::SLOW_READER);
                }
                false
            }
        }
    }

    /// A frame of `n` bytes left the queue (written, or dropped at the close).
    pub fn written(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::AcqRel);
        self.budget.release(n);
    }

    /// Bytes queued for this connection now.
    pub fn queued_bytes(&self) -> usize {
        self.queued.load(Ordering::Acquire)
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
