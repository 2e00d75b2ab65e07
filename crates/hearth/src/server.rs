//! The room host: its rooms, the accept loop, admission, and graceful shutdown. The
//! group-commit writer is in `group_commit`, what connections share in `host_state`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::connection;
use crate::group_commit::{self, WriteReq};
use crate::host_state::{HostState, Parts};
use crate::limits::{ConnectionCounter, Limits};
use crate::passcode;
use crate::passcode_checks::PasscodeChecks;
use crate::protocol::{close, Member, RoomSummary};
use crate::room::Room;
use crate::store::{RoomPolicy, RosterEntry, Store, StoreError};
use crate::tls::HostCert;

/// The default TCP port a host listens on.
pub const DEFAULT_PORT: u16 = 7447;

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
    #[error("the host stopped: {0}")]
    Stopped(String),
    #[error("this host does not host that room")]
    NoSuchRoom,
    #[error("{0}")]
    Policy(&'static str),
    #[error("cannot create the host's file directory: {0}")]
    Files(std::io::Error),
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
    state: Arc<HostState>,
    own: Arc<Own>,
}

/// What only the server itself uses: admission, the writer thread, the address.
struct Own {
    counter: Arc<ConnectionCounter>,
    /// Permits for connections being refused (see [`MAX_REFUSING`]).
    refusing: Arc<tokio::sync::Semaphore>,
    fingerprint: Option<String>,
    /// This install's identity, the owner of every room it hosts (`None`: plaintext,
    /// where nobody is verified, the owner included).
    owner_id: Option<Uuid>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    local_addr: Mutex<Option<SocketAddr>>,
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
        let owner_id = match config.transport {
            Transport::Tls(_) => Some(store.user_id()?),
            Transport::Plaintext => None,
        };
        let log = store.host_log()?;
        let (writer, thread) = group_commit::start(log).map_err(HostError::Writer)?;
        let (tls, fingerprint) = match &config.transport {
            Transport::Tls(cert) => (Some(cert.acceptor()?), Some(cert.fingerprint().to_string())),
            Transport::Plaintext => (None, None),
        };
        let data_dir = store
            .path()
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let files = Arc::new(crate::files::HostFiles::open(&data_dir).map_err(HostError::Files)?);
        let state = HostState::new(Parts {
            host_id,
            host_name: config.host_name,
            passcode_checks: PasscodeChecks::start(config.limits.max_concurrent_passcode_checks)
                .map_err(HostError::Checker)?,
            limits: config.limits,
            store,
            tls,
            fingerprint: fingerprint.clone(),
            writer,
            files,
        });
        let host = Host {
            state: Arc::new(state),
            own: Arc::new(Own {
                counter: Arc::new(ConnectionCounter::default()),
                refusing: Arc::new(tokio::sync::Semaphore::new(MAX_REFUSING)),
                fingerprint,
                owner_id,
                writer_thread: Mutex::new(Some(thread)),
                local_addr: Mutex::new(None),
            }),
        };
        host.spawn_typing_sweeper();
        host.state
            .tasks()
            .spawn(Arc::clone(host.state.files()).run_sweeper(
                Arc::clone(host.state.store()),
                host.state.shutdown().clone(),
            ));
        host.state.tasks().spawn(crate::memory_trim::run(
            Arc::clone(host.state.outgoing()),
            host.state.shutdown().clone(),
        ));
        Ok(host)
    }

    /// Hosts the room called `name` (reopening it if this store already hosts one by
    /// that name). `passcode` replaces any earlier passcode; `None` makes it open.
    pub fn open_room(&self, name: &str, passcode: Option<&str>) -> Result<RoomSummary, HostError> {
        let setting = match passcode.filter(|p| !p.is_empty()) {
            Some(p) => PasscodeSetting::Set(p),
            None => PasscodeSetting::Open,
        };
        self.open_room_with(name, setting, None)
    }

    /// [`Host::open_room`] with the choice to keep a reopened room's stored passcode,
    /// and to set its policy (`None` keeps the stored one). The policy is stored before
    /// the room is live, so no `welcome` lists an unlisted room even once. Hashing a new
    /// passcode is Argon2id: call this off the async runtime.
    pub fn open_room_with(
        &self,
        name: &str,
        passcode: PasscodeSetting<'_>,
        policy: Option<RoomPolicy>,
    ) -> Result<RoomSummary, HostError> {
        if let Some(p) = policy {
            self.check_policy(p)?;
        }
        let existing = self.state.store().find_hosted_room(name)?;
        let hash = match passcode {
            PasscodeSetting::Keep => existing.and_then(|r| r.pass_hash),
            // The same passcode keeps its hash, so resume tokens stay valid.
            PasscodeSetting::Set(p) => match existing.and_then(|r| r.pass_hash) {
                Some(old) if passcode::verify(&old, p) => Some(old),
                _ => Some(passcode::hash(p)?),
            },
            PasscodeSetting::Open => None,
        };
        let mut stored = self.state.store().open_hosted_room(name, hash.as_deref())?;
        if let Some(p) = policy.filter(|p| *p != stored.policy) {
            self.state.store().set_room_policy(stored.room_id, p)?;
            stored.policy = p;
        }
        // Hosting a room again as it is (same passcode, or none) changes nothing: its
        // members stay connected. "Host again" pressed while the app resumes its rooms at
        // start used to replace the room and kick everyone in it.
        let current = self.state.rooms_read().get(&stored.room_id).cloned();
        if let Some(current) = current {
            if current.pass_hash == stored.pass_hash {
                current.set_policy(stored.policy);
                return Ok(current.summary());
            }
        }
        let roster = self.state.store().roster(stored.room_id)?;
        let room = Arc::new(
            Room::new(
                stored.room_id,
                stored.name,
                stored.pass_hash,
                stored.head_seq,
            )
            .with_access(
                self.own.owner_id,
                stored.policy,
                roster.into_iter().map(|r| r.user_id),
            ),
        );
        let summary = room.summary();
        let old = self.state.rooms_write().insert(room.id, room);
        if let Some(old) = old {
            // Members of the replaced room object rejoin the new one (passcode may differ).
            old.kick_all(close::GOING_AWAY);
        }
        Ok(summary)
    }

    /// Stops hosting a room; its history stays on disk. Members are told (`left`, reason
    /// `closed`) and stay connected for the host's other rooms.
    pub fn close_room(&self, room_id: Uuid) -> bool {
        let removed = self.state.rooms_write().remove(&room_id);
        match removed {
            Some(room) => {
                self.state.files().grants().revoke(room_id, None);
                room.close();
                true
            }
            None => false,
        }
    }

    /// Changes a hosted room's visibility or members-only mode, at once and for good.
    /// Turning members-only on removes unverified members. A store write: call this off
    /// the async runtime.
    pub fn set_room_policy(
        &self,
        room_id: Uuid,
        policy: RoomPolicy,
    ) -> Result<RoomSummary, HostError> {
        self.check_policy(policy)?;
        let room = self.state.room(room_id).ok_or(HostError::NoSuchRoom)?;
        self.state.store().set_room_policy(room_id, policy)?;
        room.set_policy(policy);
        Ok(room.summary())
    }

    fn check_policy(&self, policy: RoomPolicy) -> Result<(), HostError> {
        if policy.members_only && self.own.owner_id.is_none() {
            return Err(HostError::Policy(
                "members-only rooms need TLS: a plaintext host verifies nobody",
            ));
        }
        Ok(())
    }

    /// Removes a person from a hosted room: off its roster, their resume tokens revoked
    /// and their connections taken out (`left`, reason `removed`). A members-only room
    /// then refuses them; another room asks them for its passcode again. A store write:
    /// call this off the async runtime.
    pub fn remove_member(&self, room_id: Uuid, user_id: Uuid) -> Result<bool, HostError> {
        let room = self.state.room(room_id).ok_or(HostError::NoSuchRoom)?;
        // The store first: a rejoin racing the removal finds the token gone.
        let stored = self.state.store().remove_member(room_id, user_id)?;
        self.state.files().grants().revoke(room_id, Some(user_id));
        let here = room.remove_user(user_id);
        tracing::info!(room = %room_id, user = %user_id, "member removed by the host owner");
        Ok(stored || here)
    }

    /// Who is connected to a hosted room now, verified or not, one entry per person.
    pub fn online(&self, room_id: Uuid) -> Result<Vec<Member>, HostError> {
        let room = self.state.room(room_id).ok_or(HostError::NoSuchRoom)?;
        let members = room.lock().members();
        Ok(members)
    }

    /// A hosted room as `welcome` describes it.
    pub fn room(&self, room_id: Uuid) -> Option<RoomSummary> {
        self.state.room(room_id).map(|r| r.summary())
    }

    /// The identities admitted to a hosted room (blocking: a store read).
    pub fn roster(&self, room_id: Uuid) -> Result<Vec<RosterEntry>, HostError> {
        Ok(self.state.store().roster(room_id)?)
    }

    /// The host owner's user id (`None` on a plaintext host).
    pub fn owner_id(&self) -> Option<Uuid> {
        self.own.owner_id
    }

    pub fn rooms(&self) -> Vec<RoomSummary> {
        let mut v: Vec<RoomSummary> = self
            .state
            .rooms_read()
            .values()
            .map(|r| r.summary())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn host_id(&self) -> Uuid {
        self.state.host_id()
    }

    /// The certificate fingerprint clients must see, or `None` for a plaintext host.
    pub fn fingerprint(&self) -> Option<&str> {
        self.own.fingerprint.as_deref()
    }

    pub fn host_name(&self) -> &str {
        self.state.host_name()
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self
            .own
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
                .own
                .local_addr
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(a);
        }
        self.state
            .tasks()
            .spawn(accept_loop(self.clone(), listener));
    }

    /// Serves one already-connected byte stream exactly as an accepted TCP connection
    /// from `peer` would be (TLS if configured, limits, handshake deadline), in the
    /// background. For in-memory transports: tests and fuzzing drive the real connection
    /// code over `tokio::io::duplex` with it.
    pub fn serve_io<S>(&self, io: S, peer: SocketAddr)
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        self.state.tasks().spawn(handle(self.clone(), io, peer));
    }

    /// Connections holding a slot right now (counted from accept until closed), the
    /// number `max_connections` bounds.
    pub fn open_connections(&self) -> usize {
        self.own.counter.total()
    }

    /// Waits until everything appended so far is committed.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.state.writer().send(WriteReq::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Graceful shutdown: close frames to every peer, the writer flushed, then return.
    pub async fn shutdown(&self) {
        self.state.shutdown().cancel();
        self.state.tasks().close();
        if tokio::time::timeout(Duration::from_secs(5), self.state.tasks().wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within 5 s");
        }
        let (tx, rx) = oneshot::channel();
        if self.state.writer().send(WriteReq::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let thread = self
            .own
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
        self.state.shutdown().clone()
    }

    fn spawn_typing_sweeper(&self) {
        let state = Arc::clone(&self.state);
        self.state.tasks().spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(500));
            loop {
                tokio::select! {
                    _ = state.shutdown().cancelled() => break,
                    _ = tick.tick() => {
                        let now = Instant::now();
                        let rooms: Vec<Arc<Room>> = state.rooms_read().values().cloned().collect();
                        for r in rooms {
                            r.expire_typing(now);
                        }
                    }
                }
            }
        });
    }
}

async fn accept_loop(host: Host, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = host.state.shutdown().cancelled() => break,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                host.state.tasks().spawn(handle(host.clone(), stream, peer));
            }
            Err(e) => {
                // Typically EMFILE: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle<S>(host: Host, stream: S, addr: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let slot = host.own.counter.acquire(addr.ip(), host.state.limits());
    // A refused connection is still upgraded so that it learns why, but only
    // MAX_REFUSING at a time.
    let _refusing = match &slot {
        Ok(_) => None,
        Err(why) => match Arc::clone(&host.own.refusing).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                tracing::debug!(%addr, why, "connection dropped at accept");
                return;
            }
        },
    };
    connection::run(host.state, stream, addr, slot).await;
}
