//! The client: joins rooms on one host, keeps the local cache in step, and delivers the
//! persisted outbox exactly once across disconnects and restarts.
//!
//! One background task owns the connection. It reconnects with exponential backoff and
//! jitter, resumes each room from its last contiguous seq, then sends the outbox in order
//! with one message in flight per room (so order survives rate limits and retries), and
//! relies on the host's idempotency for the resend after a reconnect.

mod frames;
mod probe;
mod task;
mod trust;

pub use crate::store::{pin_key_addr, pin_key_host, pin_key_room};
use task::Task;
pub use trust::{expected_for_announced, FingerprintConflict};

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::invite::Invite;
use crate::protocol::relations::Relation;
use crate::protocol::{
    ChatMessage, ErrorFrame, HistoryPage, Member, Presence, RoomSummary, TypingEvent, Welcome,
};
use crate::store::{OutboxEntry, Store, StoreError};

/// Largest frame the client accepts from a host.
const MAX_INCOMING_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where the host is: an invite link or `host:port`.
    pub invite: Invite,
    pub name: String,
    pub store: Arc<Store>,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Reconnect when nothing at all arrives for this long (the host pings).
    pub silence_timeout: Duration,
    /// A send unanswered this long makes the client ping the host, and a ping
    /// unanswered this long ends the connection (then it reconnects and resends).
    pub probe_after: Duration,
    /// Speak unencrypted `ws://`. Only for hosts started with `--insecure-plaintext`;
    /// never chosen automatically, so nobody can downgrade a connection.
    pub plaintext: bool,
}

impl ClientConfig {
    pub fn new(invite: Invite, name: impl Into<String>, store: Arc<Store>) -> Self {
        ClientConfig {
            invite,
            name: name.into(),
            store,
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(15),
            silence_timeout: Duration::from_secs(45),
            probe_after: Duration::from_secs(3),
            plaintext: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    Connecting,
    Connected,
    /// Disconnected; the next attempt is in `retry_in`.
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        reason: String,
        /// The last try showed the host is not running (it said it was going away, or
        /// nothing listens on its port), as opposed to an unclear network failure.
        host_down: bool,
    },
    /// Stopped for good (shutdown, or the host speaks another protocol version).
    Closed {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    State(ConnectionState),
    /// The TLS handshake succeeded with this certificate; `first_use` when nothing was
    /// pinned yet and it has now been pinned (trust on first use).
    Secured {
        fingerprint: String,
        first_use: bool,
    },
    /// The host presented another certificate than the one expected: the client
    /// refused, sent nothing, and stopped. Trust the new one only by explicit action.
    FingerprintMismatch {
        address: String,
        expected: String,
        presented: String,
    },
    Welcome(Welcome),
    /// A room was (re)joined; its cache now holds the history the host returned.
    Joined {
        room: RoomSummary,
        members: Vec<Member>,
    },
    /// The cache is complete up to the host's head for this room.
    Synced {
        room_id: Uuid,
        head_seq: u64,
    },
    /// A message newly stored in the cache (live, resumed, or an older page).
    Message(ChatMessage),
    /// One of our sends was stored by the host.
    Ack {
        room_id: Uuid,
        client_msg_id: String,
        seq: u64,
        ts: i64,
    },
    /// A send the host refused for good (too long, empty...); it left the outbox.
    SendFailed {
        room_id: Uuid,
        client_msg_id: String,
        error: ErrorFrame,
    },
    Presence(Presence),
    Typing(TypingEvent),
    HistoryPage(HistoryPage),
    /// A join the host refused (wrong passcode, unknown room, throttled...).
    JoinFailed {
        room_id: Uuid,
        error: ErrorFrame,
    },
    Left {
        room_id: Uuid,
    },
    /// The host owner removed us from this room. Not joined again on its own; a join
    /// asked for may need the passcode, and a members-only room refuses it.
    Removed {
        room_id: Uuid,
    },
    /// The host stopped hosting this room (this connection stays for its other rooms).
    /// Joining it again fails with `unknown_room` until it is hosted again.
    RoomClosed {
        room_id: Uuid,
    },
    /// The host's history for this room went back in time (a restored backup, a database
    /// copied without its -wal file): `set_aside` cached messages it no longer has, or has
    /// others in place of, were moved to [`Store::unhosted_messages`]. The cache now
    /// follows the host.
    HistoryDiverged {
        room_id: Uuid,
        set_aside: usize,
    },
    Error(ErrorFrame),
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the client has stopped")]
    Stopped,
    #[error("the client is busy with earlier requests; try again")]
    Busy,
    #[error("the client's thread could not start: {0}")]
    Thread(std::io::Error),
}

/// Requests queued for the task at most. Each comes from a person's action, so the
/// bound is never near in use; past it a request fails with [`ClientError::Busy`].
const COMMAND_QUEUE: usize = 256;

enum Command {
    Join {
        room_id: Uuid,
        passcode: Option<String>,
    },
    Leave(Uuid),
    Typing(Uuid, bool),
    History(Uuid, Option<u64>),
    Rename(String),
    /// Ends a reconnect wait early (the host was seen again).
    ReconnectNow,
}

/// What the handle signals beside the command queue, so that it is never refused: the
/// rooms whose outbox has something new (a set, so it stays as small as the rooms),
/// and shutdown.
#[derive(Default)]
struct Signals {
    flush: std::sync::Mutex<HashSet<Uuid>>,
    flush_wanted: tokio::sync::Notify,
    stop: tokio_util::sync::CancellationToken,
    /// Where each joined room's files are, from its latest `joined` (protocol §15.1).
    files: std::sync::Mutex<HashMap<Uuid, crate::files::transfer::Endpoint>>,
    files_ready: tokio::sync::Notify,
}

impl Signals {
    fn set_files(&self, room_id: Uuid, ep: crate::files::transfer::Endpoint) {
        self.files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(room_id, ep);
        self.files_ready.notify_waiters();
    }

    fn take_flushes(&self) -> Vec<Uuid> {
        let mut set = self.flush.lock().unwrap_or_else(|p| p.into_inner());
        set.drain().collect()
    }
}

/// A handle to the background client task.
#[derive(Clone)]
pub struct Client {
    tx: mpsc::Sender<Command>,
    signals: Arc<Signals>,
    store: Arc<Store>,
}

impl Client {
    /// Starts the client on a thread of its own. Events arrive on the returned receiver;
    /// a consumer that stops reading eventually stalls the connection (and the host then
    /// drops it).
    ///
    /// Why a thread: the task writes every message it receives to SQLite, in order, as it
    /// reads it. On its own current-thread runtime that blocking holds up this client and
    /// nothing else, never the caller's runtime (the app's commands, an embedded host).
    pub fn start(
        config: ClientConfig,
    ) -> Result<(Client, mpsc::Receiver<ClientEvent>), ClientError> {
        let identity = config.store.identity()?;
        let user_id = identity.user_id();
        let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
        let (etx, erx) = mpsc::channel(4096);
        let store = Arc::clone(&config.store);
        let signals = Arc::new(Signals::default());
        let task = Task {
            user_id,
            identity,
            name: config.name.clone(),
            config,
            events: etx,
            cmds: rx,
            signals: Arc::clone(&signals),
            rooms: HashMap::new(),
            fingerprint: None,
            host: None,
            relations: false,
            files: false,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ClientError::Thread)?;
        std::thread::Builder::new()
            .name("hearth-client".into())
            .spawn(move || runtime.block_on(task.run()))
            .map_err(ClientError::Thread)?;
        Ok((Client { tx, signals, store }, erx))
    }

    fn cmd(&self, c: Command) -> Result<(), ClientError> {
        use mpsc::error::TrySendError;
        match self.tx.try_send(c) {
            Ok(()) => Ok(()),
            // Typing and a reconnect nudge are moments, not requests: drop them.
            Err(TrySendError::Full(Command::Typing(..) | Command::ReconnectNow)) => Ok(()),
            Err(TrySendError::Full(_)) => Err(ClientError::Busy),
            Err(TrySendError::Closed(_)) => Err(ClientError::Stopped),
        }
    }

    /// Joins (and keeps rejoining after reconnects) a room.
    pub fn join(&self, room_id: Uuid, passcode: Option<String>) -> Result<(), ClientError> {
        self.cmd(Command::Join { room_id, passcode })
    }

    pub fn leave(&self, room_id: Uuid) -> Result<(), ClientError> {
        self.cmd(Command::Leave(room_id))
    }

    /// Queues a message: it is in the persisted outbox when this returns, and is
    /// delivered exactly once, whenever the host can be reached.
    pub fn send(&self, room_id: Uuid, text: &str) -> Result<OutboxEntry, ClientError> {
        self.send_with(room_id, text, &Relation::default())
    }

    /// [`Client::send`] for a reply, mentions, or an action on another message
    /// (protocol §3.9); queued and delivered like any message, offline included.
    pub fn send_with(
        &self,
        room_id: Uuid,
        text: &str,
        relation: &Relation,
    ) -> Result<OutboxEntry, ClientError> {
        let entry = self
            .store
            // Time-ordered ids (UUIDv7) land at the end of the host's idempotency index
            // instead of all over it: 1M-message logs insert ~10x faster (docs/performance.md).
            .outbox_push_with(room_id, &Uuid::now_v7().to_string(), text, relation)?;
        // A stopped client (say, at a certificate warning) leaves it queued: the outbox
        // is on disk, and the next client for this room sends it.
        self.signals
            .flush
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(room_id);
        self.signals.flush_wanted.notify_one();
        Ok(entry)
    }

    pub fn typing(&self, room_id: Uuid, active: bool) -> Result<(), ClientError> {
        self.cmd(Command::Typing(room_id, active))
    }

    /// Asks the host for the page before `before_seq` (or the latest page).
    pub fn history(&self, room_id: Uuid, before_seq: Option<u64>) -> Result<(), ClientError> {
        self.cmd(Command::History(room_id, before_seq))
    }

    pub fn rename(&self, name: &str) -> Result<(), ClientError> {
        self.cmd(Command::Rename(name.to_string()))
    }

    /// If the client is waiting to reconnect, tries now instead of at the end of its
    /// backoff: for when the host is known to be back (it was announced again, or it is
    /// this process's own host). A no-op while connected.
    pub fn reconnect_now(&self) -> Result<(), ClientError> {
        self.cmd(Command::ReconnectNow)
    }

    /// Closes the connection politely and stops reconnecting.
    pub fn shutdown(&self) {
        self.signals.stop.cancel();
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Where a joined room's files are (its host's address, certificate and the grant of
    /// the latest `joined`), once the room is joined on a host that takes files.
    pub fn files(&self, room_id: Uuid) -> Option<crate::files::transfer::Endpoint> {
        self.signals
            .files
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&room_id)
            .cloned()
    }

    /// [`Client::files`], waiting up to `timeout` for the room to be joined.
    pub async fn files_when_joined(
        &self,
        room_id: Uuid,
        timeout: std::time::Duration,
    ) -> Option<crate::files::transfer::Endpoint> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let ready = self.signals.files_ready.notified();
            if let Some(ep) = self.files(room_id) {
                return Some(ep);
            }
            if tokio::time::timeout_at(deadline, ready).await.is_err() {
                return self.files(room_id);
            }
        }
    }
}
