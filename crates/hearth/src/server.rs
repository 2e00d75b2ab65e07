//! The room host: accept loop, the group-commit writer, rooms, and graceful shutdown.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::connection;
use crate::limits::{ConnectionCounter, Limits, PasscodeThrottle};
use crate::passcode;
use crate::peer::Peer;
use crate::protocol::{close, Ack, ErrorCode, ErrorFrame, HostFrame, RoomSummary};
use crate::room::Room;
use crate::store::{Appended, HostLog, NewMessage, Reader, Store, StoreError};
use crate::tls::HostCert;

/// The default TCP port a host listens on.
pub const DEFAULT_PORT: u16 = 7447;

/// Most appends committed in one transaction.
const MAX_BATCH: usize = 4096;

/// Connections over the connection limits being upgraded at once, only to be told why
/// (close 4005). Past this, further ones are dropped at accept, so a flood of them holds
/// neither sockets nor tasks until the handshake deadline.
pub const MAX_REFUSING: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot hash the passcode: {0}")]
    Passcode(#[from] passcode::HashError),
    #[error("the host writer thread could not start: {0}")]
    Writer(std::io::Error),
    #[error("the passcode checking threads could not start: {0}")]
    Checker(std::io::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Shown to clients in `welcome` and in discovery.
    pub host_name: String,
    pub limits: Limits,
    pub transport: Transport,
}

/// How connections are carried.
#[derive(Debug, Clone)]
pub enum Transport {
    /// TLS (`wss://`) with this install's certificate: the default everywhere.
    Tls(HostCert),
    /// Unencrypted `ws://`, only when asked for explicitly (tests, debugging).
    Plaintext,
}

/// A running host. Cloning gives another handle to the same host.
#[derive(Clone)]
pub struct Host {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub host_id: Uuid,
    pub host_name: String,
    pub limits: Limits,
    pub store: Arc<Store>,
    pub rooms: RwLock<HashMap<Uuid, Arc<Room>>>,
    pub throttle: PasscodeThrottle,
    pub counter: Arc<ConnectionCounter>,
    /// Bytes queued for all connections together (`Limits::outgoing_bytes_total`).
    pub outgoing: Arc<crate::peer::OutgoingBudget>,
    /// Permits for connections being refused (see [`MAX_REFUSING`]).
    refusing: Arc<tokio::sync::Semaphore>,
    pub passcode_checks: PasscodeChecks,
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    /// `None`: plaintext.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    fingerprint: Option<String>,
    readers: Mutex<Vec<Reader>>,
    writer: mpsc::Sender<WriteReq>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    local_addr: Mutex<Option<SocketAddr>>,
}

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

/// What a (re)opened room's passcode becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasscodeSetting<'a> {
    /// Whatever the room had when it was last hosted (none for a new room).
    Keep,
    /// No passcode: anyone who reaches the host may join.
    Open,
    Set(&'a str),
}

impl Host {
    /// Starts the host's writer. Rooms are added with [`Host::open_room`], and
    /// connections are served once [`Host::serve`] is given a listener.
    pub fn start(store: Arc<Store>, mut config: HostConfig) -> Result<Host, HostError> {
        if let Some(soft) = crate::fd_limit::raise() {
            let allowed = crate::fd_limit::connections_allowed(soft);
            if config.limits.max_connections > allowed {
                tracing::warn!(
                    asked = config.limits.max_connections,
                    allowed,
                    open_file_limit = soft,
                    "fewer connections than asked for: the open-file limit allows no more"
                );
                config.limits.max_connections = allowed;
            }
        }
        let host_id = store.host_id()?;
        let log = store.host_log()?;
        let (tx, rx) = mpsc::channel(MAX_BATCH * 2);
        let fan_out = spawn_fan_out();
        let thread = std::thread::Builder::new()
            .name("hearth-writer".into())
            .spawn(move || writer_loop(log, rx, fan_out))
            .map_err(HostError::Writer)?;
        let (tls, fingerprint) = match &config.transport {
            Transport::Tls(cert) => (Some(cert.acceptor()?), Some(cert.fingerprint().to_string())),
            Transport::Plaintext => (None, None),
        };
        let outgoing = crate::peer::OutgoingBudget::new(config.limits.outgoing_bytes_total);
        let shared = Shared {
            tls,
            fingerprint,
            host_id,
            host_name: config.host_name,
            throttle: PasscodeThrottle::new(&config.limits),
            passcode_checks: PasscodeChecks::start(config.limits.max_concurrent_passcode_checks)
                .map_err(HostError::Checker)?,
            limits: config.limits,
            store,
            rooms: RwLock::new(HashMap::new()),
            counter: Arc::new(ConnectionCounter::default()),
            outgoing,
            refusing: Arc::new(tokio::sync::Semaphore::new(MAX_REFUSING)),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            readers: Mutex::new(Vec::new()),
            writer: tx,
            writer_thread: Mutex::new(Some(thread)),
            local_addr: Mutex::new(None),
        };
        let host = Host {
            shared: Arc::new(shared),
        };
        host.spawn_typing_sweeper();
        Ok(host)
    }

    /// Hosts the room called `name` (reopening it if this store already hosts one by
    /// that name). `passcode` replaces any earlier passcode; `None` makes it open.
    pub fn open_room(&self, name: &str, passcode: Option<&str>) -> Result<RoomSummary, HostError> {
        let setting = match passcode.filter(|p| !p.is_empty()) {
            Some(p) => PasscodeSetting::Set(p),
            None => PasscodeSetting::Open,
        };
        self.open_room_with(name, setting)
    }

    /// [`Host::open_room`] with the choice to keep a reopened room's stored passcode.
    /// Hashing a new passcode is Argon2id: call this off the async runtime.
    pub fn open_room_with(
        &self,
        name: &str,
        passcode: PasscodeSetting<'_>,
    ) -> Result<RoomSummary, HostError> {
        let existing = self.shared.store.find_hosted_room(name)?;
        let hash = match passcode {
            PasscodeSetting::Keep => existing.and_then(|r| r.pass_hash),
            // The same passcode keeps its hash, so resume tokens stay valid.
            PasscodeSetting::Set(p) => match existing.and_then(|r| r.pass_hash) {
                Some(old) if passcode::verify(&old, p) => Some(old),
                _ => Some(passcode::hash(p)?),
            },
            PasscodeSetting::Open => None,
        };
        let stored = self.shared.store.open_hosted_room(name, hash.as_deref())?;
        // Hosting a room again as it is (same passcode, or none) changes nothing: its
        // members stay connected. "Host again" pressed while the app resumes its rooms at
        // start used to replace the room and kick everyone in it.
        if let Some(current) = self.shared.rooms_read().get(&stored.room_id) {
            if current.pass_hash == stored.pass_hash {
                return Ok(current.summary());
            }
        }
        let room = Arc::new(Room::new(
            stored.room_id,
            stored.name,
            stored.pass_hash,
            stored.head_seq,
        ));
        let summary = room.summary();
        let old = self.shared.rooms_write().insert(room.id, room);
        if let Some(old) = old {
            // Members of the replaced room object rejoin the new one (passcode may differ).
            old.kick_all(close::GOING_AWAY);
        }
        Ok(summary)
    }

    /// Stops hosting a room: members are disconnected; its history stays on disk.
    pub fn close_room(&self, room_id: Uuid) -> bool {
        match self.shared.rooms_write().remove(&room_id) {
            Some(room) => {
                room.kick_all(close::GOING_AWAY);
                true
            }
            None => false,
        }
    }

    pub fn rooms(&self) -> Vec<RoomSummary> {
        let mut v: Vec<RoomSummary> = self
            .shared
            .rooms_read()
            .values()
            .map(|r| r.summary())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn host_id(&self) -> Uuid {
        self.shared.host_id
    }

    /// The certificate fingerprint clients must see, or `None` for a plaintext host.
    pub fn fingerprint(&self) -> Option<&str> {
        self.shared.fingerprint.as_deref()
    }

    pub fn host_name(&self) -> &str {
        &self.shared.host_name
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self
            .shared
            .local_addr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Binds `addr` and serves it in the background.
    pub async fn bind(&self, addr: SocketAddr) -> Result<SocketAddr, HostError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HostError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| HostError::Bind { addr, source })?;
        self.serve(listener);
        Ok(local)
    }

    /// Serves connections from `listener` until shutdown.
    pub fn serve(&self, listener: TcpListener) {
        if let Ok(a) = listener.local_addr() {
            *self
                .shared
                .local_addr
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(a);
        }
        let shared = Arc::clone(&self.shared);
        self.shared.tasks.spawn(accept_loop(shared, listener));
    }

    /// Serves one already-connected byte stream exactly as an accepted TCP connection
    /// from `peer` would be (TLS if configured, limits, handshake deadline), in the
    /// background. For in-memory transports: tests and fuzzing drive the real connection
    /// code over `tokio::io::duplex` with it.
    pub fn serve_io<S>(&self, io: S, peer: SocketAddr)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        self.shared.tasks.spawn(handle(shared, io, peer));
    }

    /// Connections holding a slot right now (counted from accept until closed), the
    /// number `max_connections` bounds.
    pub fn open_connections(&self) -> usize {
        self.shared.counter.total()
    }

    /// Waits until everything appended so far is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.shared.writer.send(WriteReq::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Graceful shutdown: close frames to every peer, the writer flushed, then return.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.shared.tasks.close();
        if tokio::time::timeout(Duration::from_secs(5), self.shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within 5 s");
        }
        let (tx, rx) = oneshot::channel();
        if self.shared.writer.send(WriteReq::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let thread = self
            .shared
            .writer_thread
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(t) = thread {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        tracing::info!("host stopped");
    }

    /// Resolves when shutdown has begun.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }

    fn spawn_typing_sweeper(&self) {
        let shared = Arc::clone(&self.shared);
        self.shared.tasks.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = shared.shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        let now = Instant::now();
                        let rooms: Vec<Arc<Room>> = shared.rooms_read().values().cloned().collect();
                        for r in rooms {
                            r.expire_typing(now);
                        }
                    }
                }
            }
        });
    }
}

impl Shared {
    pub fn rooms_read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Uuid, Arc<Room>>> {
        self.rooms.read().unwrap_or_else(|p| p.into_inner())
    }

    fn rooms_write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Uuid, Arc<Room>>> {
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
        let shared = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let reader = match shared
                .readers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop()
            {
                Some(r) => r,
                None => shared.store.reader()?,
            };
            let out = f(&reader);
            let mut pool = shared.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < 8 {
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

type CheckJob = (String, String, oneshot::Sender<bool>);

/// Argon2 passcode checks run on a few threads of their own, one check per thread at a
/// time: at most `Limits::max_concurrent_passcode_checks` run at once however many
/// connections join, and the 19 MiB each takes is reused by the same threads (on the
/// blocking pool it would be kept by every thread's allocator arena in turn).
pub(crate) struct PasscodeChecks {
    turns: tokio::sync::Semaphore,
    jobs: std::sync::mpsc::Sender<CheckJob>,
}

impl PasscodeChecks {
    fn start(threads: usize) -> std::io::Result<PasscodeChecks> {
        let threads = threads.max(1);
        let (tx, rx) = std::sync::mpsc::channel::<CheckJob>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = Arc::clone(&rx);
            // The threads end when the host is dropped (the channel closes).
            std::thread::Builder::new()
                .name(format!("hearth-passcode-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((hash, pass, reply)) = job else { break };
                    let _ = reply.send(passcode::verify(&hash, &pass));
                })?;
        }
        Ok(PasscodeChecks {
            turns: tokio::sync::Semaphore::new(threads),
            jobs: tx,
        })
    }

    /// Waits for a free checking thread; the check must be made while this is held.
    pub async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.turns.acquire().await.ok()
    }

    /// Checks a passcode against a stored hash on a checking thread.
    pub async fn verify(&self, hash: String, pass: String) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.jobs.send((hash, pass, tx)).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let shared2 = Arc::clone(&shared);
                shared.tasks.spawn(handle(shared2, stream, peer));
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle<S>(shared: Arc<Shared>, stream: S, addr: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let slot = shared.counter.acquire(addr.ip(), &shared.limits);
    // A refused connection is still upgraded so that it learns why, but only
    // MAX_REFUSING at a time.
    let _refusing = match &slot {
        Ok(_) => None,
        Err(why) => match Arc::clone(&shared.refusing).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                tracing::debug!(%addr, why, "connection dropped at accept");
                return;
            }
        },
    };
    connection::run(shared, stream, addr, slot).await;
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
            for ((room, peer), outcome) in dest.into_iter().zip(outcomes) {
                let (m, duplicate) = match outcome {
                    Appended::Stored(m) => {
                        room.publish(&m);
                        (m, false)
                    }
                    Appended::Duplicate(m) => (m, true),
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
