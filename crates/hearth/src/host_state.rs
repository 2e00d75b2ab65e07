//! What every connection on a host shares: its identity, limits, rooms, the store and
//! the writer. The server builds it; connections use it only through these methods.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::files::HostFiles;
use crate::group_commit::WriteReq;
use crate::limits::{Limits, PasscodeThrottle};
use crate::passcode_checks::PasscodeChecks;
use crate::peer::{OutgoingBudget, Peer};
use crate::room::Room;
use crate::store::{NewMessage, Reader, Store, StoreError};

/// Read connections kept for reuse between history reads, and how many reads run at
/// once: a join storm otherwise put hundreds of reads on as many blocking threads, each
/// opening a connection of its own.
const READER_POOL: usize = 8;

pub(crate) struct HostState {
    host_id: Uuid,
    host_name: String,
    limits: Limits,
    store: Arc<Store>,
    rooms: RwLock<HashMap<Uuid, Arc<Room>>>,
    throttle: PasscodeThrottle,
    /// Bytes queued for all connections together (`Limits::outgoing_bytes_total`).
    outgoing: Arc<OutgoingBudget>,
    passcode_checks: PasscodeChecks,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    /// `None`: plaintext.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// The certificate's fingerprint, which `hello` proofs sign (`None`: plaintext).
    fingerprint: Option<String>,
    readers: Mutex<Vec<Reader>>,
    /// One permit per pooled reader (`READER_POOL`).
    reads: tokio::sync::Semaphore,
    writer: mpsc::Sender<WriteReq>,
    files: Arc<HostFiles>,
}

/// The parts [`HostState::new`] is built from.
pub(crate) struct Parts {
    pub host_id: Uuid,
    pub host_name: String,
    pub limits: Limits,
    pub store: Arc<Store>,
    pub passcode_checks: PasscodeChecks,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub fingerprint: Option<String>,
    pub writer: mpsc::Sender<WriteReq>,
    pub files: Arc<HostFiles>,
}

impl HostState {
    pub fn new(p: Parts) -> HostState {
        HostState {
            throttle: PasscodeThrottle::new(&p.limits),
            outgoing: OutgoingBudget::new(p.limits.outgoing_bytes_total),
            host_id: p.host_id,
            host_name: p.host_name,
            limits: p.limits,
            store: p.store,
            rooms: RwLock::new(HashMap::new()),
            passcode_checks: p.passcode_checks,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            tls: p.tls,
            fingerprint: p.fingerprint,
            readers: Mutex::new(Vec::new()),
            reads: tokio::sync::Semaphore::new(READER_POOL),
            writer: p.writer,
            files: p.files,
        }
    }

    /// The file endpoints' state (protocol §15).
    pub fn files(&self) -> &Arc<HostFiles> {
        &self.files
    }

    pub fn host_id(&self) -> Uuid {
        self.host_id
    }

    pub fn fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn throttle(&self) -> &PasscodeThrottle {
        &self.throttle
    }

    pub fn outgoing(&self) -> &Arc<OutgoingBudget> {
        &self.outgoing
    }

    pub fn passcode_checks(&self) -> &PasscodeChecks {
        &self.passcode_checks
    }

    /// Cancelled when the host begins to shut down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Every connection's tasks, waited for at shutdown.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    pub fn tls(&self) -> Option<&tokio_rustls::TlsAcceptor> {
        self.tls.as_ref()
    }

    pub fn writer(&self) -> &mpsc::Sender<WriteReq> {
        &self.writer
    }

    pub fn rooms_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Uuid, Arc<Room>>> {
        self.rooms.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn rooms_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Uuid, Arc<Room>>> {
        self.rooms.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn room(&self, id: Uuid) -> Option<Arc<Room>> {
        self.rooms_read().get(&id).cloned()
    }

    /// Runs `f` with a pooled read connection on the blocking pool.
    pub async fn with_reader<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        // Waiting here costs a task, not a thread. The semaphore is never closed.
        let _turn = self.reads.acquire().await.ok();
        let state = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let pooled = state
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop();
            let reader = match pooled {
                Some(r) => r,
                None => state.store.reader()?,
            };
            let out = f(&reader);
            let mut pool = state.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < READER_POOL {
                pool.push(reader);
            }
            out
        })
        .await
        .unwrap_or_else(|e| Err(StoreError::Migration(format!("reader task failed: {e}"))))
    }

    /// Queues a message for the writer. Backpressure here slows only the sender.
    pub async fn append(&self, msg: NewMessage, room: Arc<Room>, peer: Arc<Peer>) -> bool {
        self.writer
            .send(WriteReq::Append { msg, room, peer })
            .await
            .is_ok()
    }
}
