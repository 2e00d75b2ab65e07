//! The group-commit writer: one thread drains appends into a single transaction, commits
//! (fsync), and only then acks the senders and fans the messages out, in commit order.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::peer::Peer;
use crate::protocol::{Ack, ErrorCode, ErrorFrame, HostFrame};
use crate::room::Room;
use crate::store::{Appended, HostLog, NewMessage, Refusal, StoreError};

/// Most appends committed in one transaction.
pub(crate) const MAX_BATCH: usize = 4096;

// Appends are nearly every request: boxing them would allocate once more per message.
#[allow(clippy::large_enum_variant)]
pub(crate) enum WriteReq {
    Append {
        msg: NewMessage,
        room: Arc<Room>,
        peer: Arc<Peer>,
    },
    /// Everything queued before this is committed when it is answered.
    Flush(oneshot::Sender<()>),
    Stop(oneshot::Sender<()>),
}

/// Starts the writer thread; appends go to the returned sender.
pub(crate) fn start(
    log: HostLog,
) -> std::io::Result<(mpsc::Sender<WriteReq>, std::thread::JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel(MAX_BATCH * 2);
    let fan_out = spawn_fan_out();
    let thread = std::thread::Builder::new()
        .name("hearth-writer".into())
        .spawn(move || writer_loop(log, rx, fan_out))?;
    Ok((tx, thread))
}

/// A committed (or failed) batch on its way to the senders and the rooms.
struct Done {
    msgs: Vec<NewMessage>,
    dest: Vec<(Arc<Room>, Arc<Peer>)>,
    result: Result<Vec<Appended>, StoreError>,
    /// Flushes, answered once everything before them is fanned out.
    waiters: Vec<oneshot::Sender<()>>,
}

/// Where the writer hands committed batches: a task on the runtime when there is one.
/// Fanning out there overlaps it with the next commit, and wakes the connections' write
/// tasks from a worker thread (its local run queue) instead of from a foreign thread
/// (the runtime's shared inject queue, and an unpark per wake). Profiled in
/// docs/performance.md.
type FanOut = Option<tokio::sync::mpsc::Sender<Done>>;

/// Committed batches waiting for fan-out. Bounded: when fan-out falls behind, the writer
/// thread waits for it (and the senders behind the writer wait in turn), so a burst is
/// held back at its source instead of piling up in memory here.
const FAN_OUT_QUEUE: usize = 64;

fn spawn_fan_out() -> FanOut {
    let handle = tokio::runtime::Handle::try_current().ok()?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Done>(FAN_OUT_QUEUE);
    // Not in the task tracker: it ends when the writer drops its sender, after shutdown.
    handle.spawn(async move {
        while let Some(done) = rx.recv().await {
            deliver(done);
        }
    });
    Some(tx)
}

/// The single writer: drains the queue into one transaction, commits (fsync), then hands
/// the batch over for acks and fan-out, in commit order. Nobody hears of a message
/// before it is durable.
fn writer_loop(mut log: HostLog, mut rx: mpsc::Receiver<WriteReq>, fan_out: FanOut) {
    let mut msgs: Vec<NewMessage> = Vec::new();
    let mut dest: Vec<(Arc<Room>, Arc<Peer>)> = Vec::new();
    let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut stop: Option<oneshot::Sender<()>> = None;
    let hand_over = |done: Done| match &fan_out {
        // The writer is its own thread, never a runtime worker: it may block here.
        Some(tx) => {
            if let Err(e) = tx.blocking_send(done) {
                deliver(e.0);
            }
        }
        None => deliver(done),
    };
    while stop.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut next = Some(first);
        while let Some(req) = next.take() {
            match req {
                WriteReq::Append { msg, room, peer } => {
                    msgs.push(msg);
                    dest.push((room, peer));
                }
                WriteReq::Flush(w) => waiters.push(w),
                WriteReq::Stop(w) => {
                    stop = Some(w);
                    break;
                }
            }
            if msgs.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        hand_over(commit(&mut log, &mut msgs, &mut dest, &mut waiters));
    }
    hand_over(commit(&mut log, &mut msgs, &mut dest, &mut waiters));
    if let Some(w) = stop {
        let _ = w.send(());
    }
}

/// Commits what is pending in one transaction; the outcome goes to [`deliver`].
fn commit(
    log: &mut HostLog,
    msgs: &mut Vec<NewMessage>,
    dest: &mut Vec<(Arc<Room>, Arc<Peer>)>,
    waiters: &mut Vec<oneshot::Sender<()>>,
) -> Done {
    let result = if msgs.is_empty() {
        Ok(Vec::new())
    } else {
        log.append_batch(msgs)
    };
    Done {
        msgs: std::mem::take(msgs),
        dest: std::mem::take(dest),
        result,
        waiters: std::mem::take(waiters),
    }
}

/// The `error` answering an action the log refused (protocol §3.9).
fn refusal_frame(r: (Refusal, &NewMessage), room: &Room) -> ErrorFrame {
    let (r, m) = r;
    let (code, message) = match r {
        Refusal::UnknownTarget => (
            ErrorCode::UnknownTarget,
            "no message of this room that this can apply to",
        ),
        Refusal::TargetDeleted => (ErrorCode::UnknownTarget, "that message was deleted"),
        Refusal::NotAuthor => (
            ErrorCode::NotAuthor,
            "only its author can edit a message, and only its author or the host owner can delete it",
        ),
        Refusal::FileMissing => (
            ErrorCode::FileMissing,
            "a file of this message is not on the host for this room: upload it first",
        ),
    };
    let mut f = ErrorFrame::new(code, message);
    f.request = Some("send".into());
    f.room_id = Some(room.id);
    f.client_msg_id = Some(m.client_msg_id.clone());
    f
}

/// Acks the senders and fans the stored messages out, in commit order.
fn deliver(done: Done) {
    let Done {
        msgs,
        dest,
        result,
        waiters,
    } = done;
    match result {
        Ok(outcomes) => {
            for (((room, peer), outcome), m) in dest.into_iter().zip(outcomes).zip(&msgs) {
                let (m, duplicate) = match outcome {
                    Appended::Stored(m) => {
                        room.publish(&m);
                        (m, false)
                    }
                    Appended::Duplicate(m) => (m, true),
                    Appended::Refused(r) => {
                        peer.send(&HostFrame::Error(refusal_frame((r, m), &room)));
                        continue;
                    }
                };
                peer.send(&HostFrame::Ack(Ack {
                    room_id: m.room_id,
                    client_msg_id: m.client_msg_id,
                    seq: m.seq,
                    ts: m.ts,
                    duplicate,
                }));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, count = msgs.len(), "commit failed; senders told to retry");
            let code = if e.is_full() {
                ErrorCode::StorageFull
            } else {
                ErrorCode::StorageError
            };
            for (m, (_, peer)) in msgs.into_iter().zip(dest) {
                let mut f =
                    ErrorFrame::new(code, format!("the host could not store the message: {e}"));
                f.request = Some("send".into());
                f.room_id = Some(m.room_id);
                f.client_msg_id = Some(m.client_msg_id);
                f.retry_after_ms = Some(5_000);
                peer.send(&HostFrame::Error(f));
            }
        }
    }
    for w in waiters {
        let _ = w.send(());
    }
}
