//! The sending side of one connection: a queue of encoded frames, bounded in frames and
//! in bytes (per connection and host-wide), plus a way to close it. Fan-out only ever
//! pushes here without waiting, so a slow reader never blocks a room.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use crate::protocol::{close, encode, files, relations, ChatMessage, HostFrame};

/// Does a client without `relations` need this message rewritten (an action, or a
/// deleted message's empty text)?
pub fn needs_downgrade(m: &ChatMessage) -> bool {
    relations::is_action(m.kind.as_deref()) || m.deleted.is_some()
}

/// What a connection negotiated that changes how messages reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reads {
    /// Neither `relations` nor `files`: actions and files as plain messages.
    Plain,
    /// `relations` only: files named in the text.
    Relations,
    /// Both (`files` is only negotiated with `relations`).
    Everything,
}

/// `m` as a connection that negotiated `reads` can read it.
pub fn readable_as(m: &ChatMessage, reads: Reads) -> Option<ChatMessage> {
    let files = !m.attachments.is_empty() && reads != Reads::Everything;
    let actions = needs_downgrade(m) && reads == Reads::Plain;
    match (files, actions) {
        (false, false) => None,
        (true, false) => Some(files::downgrade(m)),
        (false, true) => Some(relations::downgrade(m)),
        (true, true) => Some(relations::downgrade(&files::downgrade(m))),
    }
}

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

/// A queue that holds no memory while it is empty, which is most of an idle connection's
/// life (a bounded tokio channel keeps a block of 32 slots, about 1 KiB, from the start).
#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Utf8Bytes>,
    closed: bool,
}

#[derive(Debug)]
pub struct Peer {
    pub id: ConnId,
    queue: Mutex<Queue>,
    ready: Notify,
    max_frames: usize,
    kill: CancellationToken,
    close_code: AtomicU16,
    queued: AtomicUsize,
    max_bytes: usize,
    budget: Arc<OutgoingBudget>,
    /// The connection negotiated `relations` (protocol §3.9): actions reach it as such;
    /// without, each as a plain message saying what happened.
    relations: AtomicBool,
    /// The connection negotiated `files` (protocol §3.10).
    files: AtomicBool,
}

impl Peer {
    pub fn new(
        frames: usize,
        max_bytes: usize,
        budget: Arc<OutgoingBudget>,
    ) -> (Arc<Peer>, Outgoing) {
        let peer = Arc::new(Peer {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            max_frames: frames.max(1),
            kill: CancellationToken::new(),
            close_code: AtomicU16::new(close::NORMAL),
            queued: AtomicUsize::new(0),
            max_bytes,
            budget,
            relations: AtomicBool::new(false),
            files: AtomicBool::new(false),
        });
        let out = Outgoing {
            peer: Arc::clone(&peer),
        };
        (peer, out)
    }

    pub fn set_relations(&self, on: bool) {
        self.relations.store(on, Ordering::Relaxed);
    }

    pub fn relations(&self) -> bool {
        self.relations.load(Ordering::Relaxed)
    }

    pub fn set_files(&self, on: bool) {
        self.files.store(on, Ordering::Relaxed);
    }

    pub fn files(&self) -> bool {
        self.files.load(Ordering::Relaxed)
    }

    pub fn reads(&self) -> Reads {
        match (self.relations(), self.files()) {
            (true, true) => Reads::Everything,
            (true, false) => Reads::Relations,
            _ => Reads::Plain,
        }
    }

    /// Messages as this connection can read them: downgraded without `relations` or
    /// `files`.
    pub fn readable(&self, msgs: Vec<ChatMessage>) -> Vec<ChatMessage> {
        let reads = self.reads();
        if reads == Reads::Everything {
            return msgs;
        }
        msgs.into_iter()
            .map(|m| readable_as(&m, reads).unwrap_or(m))
            .collect()
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
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
        let mut q = self.queue();
        if q.closed || q.frames.len() >= self.max_frames {
            let full = !q.closed;
            drop(q);
            self.written(n);
            if full {
                self.kick(close::SLOW_READER);
            }
            return false;
        }
        q.frames.push_back(frame);
        drop(q);
        self.ready.notify_one();
        true
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

/// The receiving end of a peer's queue: the connection's writer.
#[derive(Debug)]
pub struct Outgoing {
    peer: Arc<Peer>,
}

impl Outgoing {
    /// The next frame, waiting for one; None once closed and empty.
    pub async fn recv(&mut self) -> Option<Utf8Bytes> {
        loop {
            if let Some(f) = self.try_recv() {
                return Some(f);
            }
            if self.peer.queue().closed {
                return None;
            }
            // A push between the check and here leaves a permit: no wake-up is lost.
            self.peer.ready.notified().await;
        }
    }

    /// The next frame if one is queued. An emptied queue gives its memory back: idle
    /// connections are most of them, and a burst of fan-out can grow a queue to
    /// thousands of slots.
    pub fn try_recv(&mut self) -> Option<Utf8Bytes> {
        let mut q = self.peer.queue();
        let f = q.frames.pop_front();
        if q.frames.is_empty() && q.frames.capacity() > 0 {
            q.frames = VecDeque::new();
        }
        f
    }

    /// Refuses every later push; what is queued can still be taken.
    pub fn close(&mut self) {
        self.peer.queue().closed = true;
    }
}
