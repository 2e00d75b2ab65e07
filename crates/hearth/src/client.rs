//! The client: joins rooms on one host, keeps the local cache in step, and delivers the
//! persisted outbox exactly once across disconnects and restarts.
//!
//! One background task owns the connection. It reconnects with exponential backoff and
//! jitter, resumes each room from its last contiguous seq, then sends the outbox in order
//! with one message in flight per room (so order survives rate limits and retries), and
//! relies on the host's idempotency for the resend after a reconnect.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use crate::connection::ws_config;
use crate::invite::Invite;
use crate::protocol::{
    self, close, encode, ChatMessage, ClientFrame, ErrorCode, ErrorFrame, HistoryPage,
    HistoryRequest, HostFrame, Join, Member, Presence, RoomRef, RoomSummary, TypingEvent,
    TypingState, Welcome, PROTOCOL_VERSION,
};
use crate::store::{JoinedRoom, OutboxEntry, Store, StoreError};

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
}

enum Command {
    Join {
        room_id: Uuid,
        passcode: Option<String>,
    },
    Leave(Uuid),
    Flush(Uuid),
    Typing(Uuid, bool),
    History(Uuid, Option<u64>),
    Rename(String),
    /// Ends a reconnect wait early (the host was seen again).
    ReconnectNow,
    Shutdown,
}

/// A handle to the background client task.
#[derive(Clone)]
pub struct Client {
    tx: mpsc::UnboundedSender<Command>,
    store: Arc<Store>,
}

impl Client {
    /// Starts the client task. Events arrive on the returned receiver; a consumer that
    /// stops reading eventually stalls the connection (and the host then drops it).
    pub fn start(
        config: ClientConfig,
    ) -> Result<(Client, mpsc::Receiver<ClientEvent>), ClientError> {
        let user_id = config.store.user_id()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let (etx, erx) = mpsc::channel(4096);
        let store = Arc::clone(&config.store);
        let task = Task {
            user_id,
            name: config.name.clone(),
            config,
            events: etx,
            cmds: rx,
            rooms: HashMap::new(),
            fingerprint: None,
            host: None,
        };
        tokio::spawn(task.run());
        Ok((Client { tx, store }, erx))
    }

    fn cmd(&self, c: Command) -> Result<(), ClientError> {
        self.tx.send(c).map_err(|_| ClientError::Stopped)
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
        let entry = self
            .store
            // Time-ordered ids (UUIDv7) land at the end of the host's idempotency index
            // instead of all over it: 1M-message logs insert ~10x faster (docs/performance.md).
            .outbox_push(room_id, &Uuid::now_v7().to_string(), text)?;
        // A stopped client (say, at a certificate warning) leaves it queued: the outbox
        // is on disk, and the next client for this room sends it.
        let _ = self.cmd(Command::Flush(room_id));
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

    /// Closes the connection politely and stops reconnecting.
    /// If the client is waiting to reconnect, tries now instead of at the end of its
    /// backoff: for when the host is known to be back (it was announced again, or it is
    /// this process's own host). A no-op while connected.
    pub fn reconnect_now(&self) -> Result<(), ClientError> {
        self.cmd(Command::ReconnectNow)
    }

    pub fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown);
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

struct RoomIntent {
    passcode: Option<String>,
    joined: bool,
    /// The outbox entry awaiting its ack, and when it may be (re)sent.
    inflight: Option<String>,
    retry_at: Option<Instant>,
    /// A join refused for a passing reason (the host could not read its log, too many
    /// joins) is sent again at this time; the room is never dropped for it.
    rejoin_at: Option<Instant>,
    /// Resume paging in progress.
    catching_up: bool,
}

struct Task {
    config: ClientConfig,
    user_id: Uuid,
    name: String,
    events: mpsc::Sender<ClientEvent>,
    cmds: mpsc::UnboundedReceiver<Command>,
    rooms: HashMap<Uuid, RoomIntent>,
    /// Fingerprint of the current connection (None: plaintext or not connected).
    fingerprint: Option<String>,
    /// Who the host said it is in its last `welcome`: kept with each joined room, so
    /// the app can name the host while it is away.
    host: Option<(Uuid, String)>,
}

type WsStream = tokio_tungstenite::WebSocketStream<Box<dyn crate::connection::Io>>;

enum End {
    Lost(String),
    /// Lost, and the host is known not to be running.
    HostDown(String),
    Fatal(String),
    Shutdown,
}

impl Task {
    async fn emit(&self, e: ClientEvent) {
        let _ = self.events.send(e).await;
    }

    async fn run(mut self) {
        let mut attempt: u32 = 0;
        loop {
            self.emit(ClientEvent::State(ConnectionState::Connecting))
                .await;
            let end = match self.connect().await {
                Ok(ws) => {
                    let (end, greeted) = self.session(ws).await;
                    // Only a session that got as far as `welcome` resets the backoff: a host
                    // that accepts and then closes (full, or shutting down) is not hammered.
                    if greeted {
                        attempt = 0;
                    }
                    end
                }
                Err(end) => end,
            };
            for r in self.rooms.values_mut() {
                r.joined = false;
                r.inflight = None;
                r.catching_up = false;
            }
            let (reason, host_down) = match end {
                End::Shutdown => {
                    self.emit(ClientEvent::State(ConnectionState::Closed {
                        reason: "closed".into(),
                    }))
                    .await;
                    return;
                }
                End::Fatal(reason) => {
                    self.emit(ClientEvent::State(ConnectionState::Closed { reason }))
                        .await;
                    return;
                }
                End::Lost(reason) => (reason, false),
                End::HostDown(reason) => (reason, true),
            };
            attempt += 1;
            let retry_in = self.backoff(attempt);
            tracing::debug!(%reason, ?retry_in, host_down, "disconnected");
            self.emit(ClientEvent::State(ConnectionState::Reconnecting {
                attempt,
                retry_in,
                reason,
                host_down,
            }))
            .await;
            let until = Instant::now() + retry_in;
            // Keep taking commands while offline: sends queue in the outbox meanwhile.
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    c = self.cmds.recv() => match c {
                        None | Some(Command::Shutdown) => {
                            self.emit(ClientEvent::State(ConnectionState::Closed { reason: "closed".into() })).await;
                            return;
                        }
                        Some(Command::ReconnectNow) => break,
                        Some(c) => { self.offline_command(c).await; }
                    }
                }
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let min = self.config.backoff_min.as_secs_f64();
        let max = self.config.backoff_max.as_secs_f64();
        let exp = (min * 2f64.powi(attempt.saturating_sub(1).min(16) as i32)).min(max);
        // "Equal jitter": half fixed, half random, so reconnect storms spread out.
        let jitter = rand::rng().random_range(0.5..=1.0);
        Duration::from_secs_f64(exp * jitter)
    }

    async fn offline_command(&mut self, c: Command) {
        match c {
            Command::Join { room_id, passcode } => {
                self.rooms.insert(room_id, RoomIntent::new(passcode));
            }
            Command::Leave(room_id) => {
                self.rooms.remove(&room_id);
            }
            Command::Rename(n) => self.name = n,
            // Flush, typing and history wait for the connection.
            _ => {}
        }
    }

    /// The fingerprint to insist on: the caller's (invite link, or a TXT record it
    /// vetted), else a pin from an earlier visit to one of our rooms or to this address.
    fn expected_fingerprint(&self) -> Option<String> {
        if let Some(fp) = &self.config.invite.fingerprint {
            return Some(fp.clone());
        }
        let store = &self.config.store;
        self.rooms
            .keys()
            .copied()
            .chain(self.config.invite.room_id)
            .find_map(|r| store.pinned(&pin_key_room(r)).ok().flatten())
            .or_else(|| {
                store
                    .pinned(&pin_key_addr(&self.config.invite.authority()))
                    .ok()
                    .flatten()
            })
    }

    async fn connect(&mut self) -> Result<WsStream, End> {
        // Joins queued before this attempt decide which pins apply: take them in first.
        while let Ok(c) = self.cmds.try_recv() {
            if matches!(c, Command::Shutdown) {
                return Err(End::Shutdown);
            }
            self.offline_command(c).await;
        }
        let authority = self.config.invite.authority();
        let lost = |what: String| End::Lost(format!("connect to {authority}: {what}"));
        let tcp = match tokio::time::timeout(
            Duration::from_secs(10),
            tokio::net::TcpStream::connect(&authority),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(End::HostDown(format!("connect to {authority}: {e}")))
            }
            Ok(Err(e)) => return Err(lost(e.to_string())),
            Err(_) => return Err(lost("timed out".into())),
        };
        let _ = tcp.set_nodelay(true);
        let (stream, url): (Box<dyn crate::connection::Io>, String) = if self.config.plaintext {
            (Box::new(tcp), format!("ws://{authority}/"))
        } else {
            let expected = self.expected_fingerprint();
            let verifier = crate::tls::PinVerifier::new(expected.clone());
            let tls_config = verifier
                .client_config()
                .map_err(|e| End::Fatal(format!("TLS setup failed: {e}")))?;
            let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config));
            let handshake = connector.connect(crate::tls::server_name(), tcp);
            match tokio::time::timeout(Duration::from_secs(10), handshake).await {
                Ok(Ok(tls)) => {
                    let presented = verifier.presented().unwrap_or_default();
                    self.secured(expected.is_none(), presented).await;
                    (Box::new(tls), format!("wss://{authority}/"))
                }
                Ok(Err(e)) => {
                    if let (Some(expected), Some(presented)) = (expected, verifier.presented()) {
                        if expected != presented {
                            self.emit(ClientEvent::FingerprintMismatch {
                                address: authority.clone(),
                                expected: expected.clone(),
                                presented: presented.clone(),
                            })
                            .await;
                            return Err(End::Fatal(format!(
                                "the host at {authority} presented certificate {} but {} was expected; \
                                 refusing to connect (someone may be impersonating it)",
                                crate::tls::display_fingerprint(&presented),
                                crate::tls::display_fingerprint(&expected)
                            )));
                        }
                    }
                    return Err(lost(format!(
                        "TLS handshake failed: {e} (is the host plaintext-only?)"
                    )));
                }
                Err(_) => return Err(lost("TLS handshake timed out".into())),
            }
        };
        // A page of 200 long messages, JSON-escaped, can be several MB.
        let cfg = ws_config(MAX_INCOMING_BYTES);
        let upgrade = tokio_tungstenite::client_async_with_config(url.as_str(), stream, Some(cfg));
        match tokio::time::timeout(Duration::from_secs(10), upgrade).await {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => Err(lost(e.to_string())),
            Err(_) => Err(lost("timed out".into())),
        }
    }

    /// Records the fingerprint of a successful handshake for the address we dialled and
    /// the rooms we asked for: pinned on first use; re-pinned only when the caller gave
    /// the fingerprint (a link with `#fp=`, `--accept-fingerprint`: the user's explicit
    /// trust, now verified by the handshake). Ids the host claims are pinned elsewhere,
    /// and only where nothing is pinned yet.
    async fn secured(&mut self, first_use: bool, fingerprint: String) {
        let store = &self.config.store;
        let explicit = self.config.invite.fingerprint.is_some();
        let pin = |key: String| {
            let _ = if explicit {
                store.replace_pin(&key, &fingerprint)
            } else {
                store.pin_first(&key, &fingerprint).map(drop)
            };
        };
        if first_use || explicit {
            pin(pin_key_addr(&self.config.invite.authority()));
            for r in self.rooms.keys() {
                pin(pin_key_room(*r));
            }
        }
        self.fingerprint = Some(fingerprint.clone());
        self.emit(ClientEvent::Secured {
            fingerprint,
            first_use,
        })
        .await;
    }

    async fn session(&mut self, ws: WsStream) -> (End, bool) {
        let mut greeted = false;
        let end = self.run_session(ws, &mut greeted).await;
        (end, greeted)
    }

    async fn run_session(&mut self, mut ws: WsStream, greeted: &mut bool) -> End {
        let hello = ClientFrame::Hello(protocol::Hello {
            protocol: PROTOCOL_VERSION,
            user_id: self.user_id,
            name: self.name.clone(),
            capabilities: protocol::capability::all(),
        });
        if ws.send(Message::Text(encode(&hello).into())).await.is_err() {
            return End::Lost("connection lost during hello".into());
        }
        let mut silence = self.config.silence_timeout;
        let mut last_rx = Instant::now();
        // A send unanswered for a moment makes us ping, and a ping unanswered ends the
        // connection: a dead link is found in seconds, not at the heartbeat timeout.
        let mut probe = Probe::default();
        loop {
            let next_retry = self
                .rooms
                .values()
                .flat_map(|r| [r.retry_at, r.rejoin_at])
                .flatten()
                .min();
            let wake = [next_retry, probe.next_wake(), Some(last_rx + silence)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(last_rx + silence);
            let mut out: Vec<ClientFrame> = Vec::new();
            tokio::select! {
                m = ws.next() => {
                    last_rx = Instant::now();
                    probe.heard(last_rx, self.awaiting_ack(), self.config.probe_after);
                    match m {
                        None => return End::Lost("connection closed".into()),
                        Some(Err(e)) => return End::Lost(format!("connection error: {e}")),
                        Some(Ok(Message::Text(t))) => {
                            let frame = match protocol::decode_host(&t) {
                                Ok(f) => f,
                                Err(e) => {
                                    tracing::warn!(error = %e, "undecodable frame from host");
                                    continue;
                                }
                            };
                            if let HostFrame::Welcome(w) = &frame {
                                *greeted = true;
                                let hb = Duration::from_millis(w.limits.heartbeat_interval_ms.max(1));
                                silence = silence.min(hb * 3).max(hb + Duration::from_secs(1));
                                self.emit(ClientEvent::State(ConnectionState::Connected)).await;
                            }
                            if let Err(end) = self.on_frame(frame, &mut out).await {
                                return end;
                            }
                        }
                        Some(Ok(Message::Close(f))) => {
                            let code = f.as_ref().map(|f| u16::from(f.code)).unwrap_or(close::NORMAL);
                            let reason = f.map(|f| f.reason.to_string()).unwrap_or_default();
                            if code == close::UNSUPPORTED_VERSION {
                                return End::Fatal(format!("host refused protocol version: {reason}"));
                            }
                            let why = format!("closed by host ({code} {reason})");
                            if code == close::GOING_AWAY {
                                return End::HostDown(why);
                            }
                            return End::Lost(why);
                        }
                        Some(Ok(_)) => {}
                    }
                }
                c = self.cmds.recv() => match c {
                    None | Some(Command::Shutdown) => {
                        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                        return End::Shutdown;
                    }
                    Some(c) => self.command(c, *greeted, &mut out),
                },
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= last_rx + silence {
                        return End::Lost("host stopped answering".into());
                    }
                    let now = Instant::now();
                    match probe.due(now, self.awaiting_ack(), self.config.probe_after) {
                        ProbeStep::Wait => {}
                        ProbeStep::Ping => {
                            tracing::debug!("a send is unanswered; probing the connection");
                            if ws.send(Message::Ping(Vec::new().into())).await.is_err() {
                                return End::Lost("connection lost while probing".into());
                            }
                        }
                        ProbeStep::Dead => {
                            return End::Lost("host stopped answering (no reply to a probe)".into());
                        }
                    }
                    let due: Vec<Uuid> = self.rooms.iter()
                        .filter(|(_, r)| r.retry_at.is_some_and(|t| t <= now))
                        .map(|(id, _)| *id).collect();
                    for id in due {
                        if let Some(r) = self.rooms.get_mut(&id) { r.retry_at = None; r.inflight = None; }
                        self.pump(id, &mut out);
                    }
                    let rejoin: Vec<Uuid> = self.rooms.iter()
                        .filter(|(_, r)| r.rejoin_at.is_some_and(|t| t <= now))
                        .map(|(id, _)| *id).collect();
                    for id in rejoin {
                        if let Some(r) = self.rooms.get_mut(&id) { r.rejoin_at = None; }
                        out.push(self.join_frame(id));
                    }
                }
            }
            if *greeted && !out.is_empty() {
                if out.iter().any(|f| matches!(f, ClientFrame::Send(_))) {
                    probe.sent(Instant::now(), self.config.probe_after);
                }
                for f in out {
                    if ws.feed(Message::Text(encode(&f).into())).await.is_err() {
                        return End::Lost("connection lost while sending".into());
                    }
                }
                if ws.flush().await.is_err() {
                    return End::Lost("connection lost while sending".into());
                }
            }
        }
    }

    /// A send of ours is out and not acknowledged yet.
    fn awaiting_ack(&self) -> bool {
        self.rooms.values().any(|r| r.inflight.is_some())
    }

    fn join_frame(&self, room_id: Uuid) -> ClientFrame {
        let since = self.config.store.synced_seq(room_id).unwrap_or(0);
        let known = self
            .config
            .store
            .joined_room(room_id)
            .ok()
            .flatten()
            .is_some();
        let passcode = self.rooms.get(&room_id).and_then(|r| r.passcode.clone());
        let resume_token = match passcode {
            Some(_) => None,
            None => self.config.store.resume_token(room_id).ok().flatten(),
        };
        ClientFrame::Join(Join {
            room_id,
            passcode,
            since_seq: (known && since > 0).then_some(since),
            resume_token,
        })
    }

    fn command(&mut self, c: Command, greeted: bool, out: &mut Vec<ClientFrame>) {
        match c {
            Command::Join { room_id, passcode } => {
                self.rooms.insert(room_id, RoomIntent::new(passcode));
                if greeted {
                    out.push(self.join_frame(room_id));
                }
            }
            Command::Leave(room_id) => {
                if self.rooms.remove(&room_id).is_some() {
                    out.push(ClientFrame::Leave(RoomRef { room_id }));
                }
            }
            Command::Flush(room_id) => self.pump(room_id, out),
            Command::Typing(room_id, active) => {
                if self.rooms.get(&room_id).is_some_and(|r| r.joined) {
                    out.push(ClientFrame::Typing(TypingState { room_id, active }));
                }
            }
            Command::History(room_id, before_seq) => {
                if self.rooms.get(&room_id).is_some_and(|r| r.joined) {
                    out.push(ClientFrame::History(HistoryRequest {
                        room_id,
                        before_seq,
                        after_seq: None,
                        limit: None,
                    }));
                }
            }
            Command::Rename(name) => {
                self.name = name.clone();
                out.push(ClientFrame::Rename(protocol::Rename { name }));
            }
            Command::ReconnectNow | Command::Shutdown => {}
        }
    }

    /// Sends the next outbox entry of a room if nothing is in flight.
    fn pump(&mut self, room_id: Uuid, out: &mut Vec<ClientFrame>) {
        let Some(r) = self.rooms.get_mut(&room_id) else {
            return;
        };
        if !r.joined || r.inflight.is_some() || r.retry_at.is_some() {
            return;
        }
        match self.config.store.outbox(room_id) {
            Ok(entries) => {
                if let Some(e) = entries.into_iter().next() {
                    r.inflight = Some(e.client_msg_id.clone());
                    out.push(ClientFrame::Send(protocol::Send {
                        room_id,
                        client_msg_id: e.client_msg_id,
                        text: e.text,
                    }));
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read outbox"),
        }
    }

    /// Caches `msgs`; returns the synced seq. Cached messages the host replaced by
    /// others are set aside as "not on the host" and reported (`set_aside` adds the ones
    /// already moved for this frame).
    async fn cache(
        &self,
        room_id: Uuid,
        msgs: &[ChatMessage],
        floor: Option<u64>,
        set_aside: usize,
    ) -> u64 {
        let store = &self.config.store;
        // Only announce messages the cache did not already have.
        let fresh: Vec<ChatMessage> = msgs
            .iter()
            .filter(|m| {
                store
                    .cached_messages(room_id, Some(m.seq.saturating_add(1)), 1)
                    .map(|v| v.first().map(|c| c.seq) != Some(m.seq))
                    .unwrap_or(true)
            })
            .cloned()
            .collect();
        let (synced, replaced) = match store.cache_messages(room_id, msgs, floor) {
            Ok(c) => (c.synced, c.set_aside),
            Err(e) => {
                tracing::error!(error = %e, "cannot write the local cache");
                (0, 0)
            }
        };
        if set_aside + replaced > 0 {
            tracing::warn!(%room_id, set_aside = set_aside + replaced, "the host's history went back in time");
            self.emit(ClientEvent::HistoryDiverged {
                room_id,
                set_aside: set_aside + replaced,
            })
            .await;
        }
        for m in fresh {
            self.emit(ClientEvent::Message(m)).await;
        }
        synced
    }

    async fn on_frame(
        &mut self,
        mut frame: HostFrame,
        out: &mut Vec<ClientFrame>,
    ) -> Result<(), End> {
        if !drop_impossible_seqs(&mut frame) {
            return Ok(());
        }
        match frame {
            HostFrame::Welcome(w) => {
                if let Some(fp) = &self.fingerprint {
                    // The host id is the host's own claim: it pins only a host id that
                    // has no pin yet, and one whose pin differs is named in the log.
                    match self.config.store.pin_first(&pin_key_host(w.host_id), fp) {
                        Ok(pinned) if pinned != *fp => tracing::warn!(
                            host_id = %w.host_id,
                            "this host claims the id of a host pinned with another certificate"
                        ),
                        _ => {}
                    }
                }
                self.host = Some((w.host_id, w.host_name.clone()));
                self.emit(ClientEvent::Welcome(w.clone())).await;
                // Rooms named by id only (manual join of a single-room host) resolve here.
                let ids: Vec<Uuid> = self.rooms.keys().copied().collect();
                for id in ids {
                    out.push(self.join_frame(id));
                }
            }
            HostFrame::Joined(j) => {
                let room_id = j.room.room_id;
                if let Some(fp) = self.fingerprint.clone() {
                    // A room pinned with another certificate belongs to another host: this
                    // one claims it (a hijack, or a copied database). Refuse the room
                    // rather than let it take the room's address and history.
                    match self.config.store.pin_first(&pin_key_room(room_id), &fp) {
                        Ok(pinned) if pinned != fp => {
                            tracing::warn!(%room_id, "a host claims a room pinned with another certificate");
                            self.rooms.remove(&room_id);
                            self.emit(ClientEvent::FingerprintMismatch {
                                address: self.config.invite.authority(),
                                expected: pinned,
                                presented: fp,
                            })
                            .await;
                            return Ok(());
                        }
                        _ => {}
                    }
                }
                let store = &self.config.store;
                let address = self.config.invite.authority();
                let prev = store.joined_room(room_id).ok().flatten();
                let _ = store.upsert_joined_room(&JoinedRoom {
                    room_id,
                    name: j.room.name.clone(),
                    address,
                    host_id: self.host.as_ref().map(|h| h.0),
                    host_name: self.host.as_ref().map(|h| h.1.clone()),
                    has_passcode: j.room.has_passcode,
                    synced_seq: 0,
                    read_seq: 0,
                });
                if let Some(t) = &j.resume_token {
                    let _ = store.set_resume_token(room_id, Some(t));
                    // The token now stands in for the passcode; do not keep it in memory.
                    if let Some(r) = self.rooms.get_mut(&room_id) {
                        r.passcode = None;
                    }
                }
                // On a first join (or after the host lost history) the page we got is
                // the latest one: everything before it is reachable through `history`.
                let resumed = prev
                    .as_ref()
                    .is_some_and(|p| p.synced_seq > 0 && p.synced_seq <= j.head_seq);
                // We hold more than the host has: its log went back in time (a restored
                // backup, a copy without its -wal). Its `joined` is the truth (§10.1);
                // what it lost is kept apart, never mixed in.
                let rewound = match prev.as_ref() {
                    Some(p) if p.synced_seq > j.head_seq => {
                        match self.config.store.set_aside_beyond(room_id, j.head_seq) {
                            Ok(n) => n,
                            Err(e) => {
                                tracing::error!(error = %e, "cannot set aside what the host lost");
                                0
                            }
                        }
                    }
                    _ => 0,
                };
                let floor = if resumed {
                    None
                } else {
                    Some(
                        j.messages
                            .first()
                            .map(|m| m.seq.saturating_sub(1))
                            .unwrap_or(j.head_seq),
                    )
                };
                self.emit(ClientEvent::Joined {
                    room: j.room.clone(),
                    members: j.members.clone(),
                })
                .await;
                let synced = self.cache(room_id, &j.messages, floor, rewound).await;
                if let Some(r) = self.rooms.get_mut(&room_id) {
                    r.joined = true;
                    r.catching_up = j.has_more;
                }
                if j.has_more {
                    out.push(ClientFrame::History(HistoryRequest {
                        room_id,
                        before_seq: None,
                        after_seq: Some(synced.max(j.messages.last().map(|m| m.seq).unwrap_or(0))),
                        limit: None,
                    }));
                } else {
                    self.emit(ClientEvent::Synced {
                        room_id,
                        head_seq: j.head_seq,
                    })
                    .await;
                    self.pump(room_id, out);
                }
            }
            HostFrame::HistoryPage(p) => {
                let room_id = p.room_id;
                let catching_up = self.rooms.get(&room_id).is_some_and(|r| r.catching_up);
                self.cache(room_id, &p.messages, None, 0).await;
                if catching_up {
                    let last = p.messages.last().map(|m| m.seq);
                    match (p.has_more, last) {
                        (true, Some(last)) => out.push(ClientFrame::History(HistoryRequest {
                            room_id,
                            before_seq: None,
                            after_seq: Some(last),
                            limit: None,
                        })),
                        _ => {
                            if let Some(r) = self.rooms.get_mut(&room_id) {
                                r.catching_up = false;
                            }
                            let head = self.config.store.synced_seq(room_id).unwrap_or(0);
                            self.emit(ClientEvent::Synced {
                                room_id,
                                head_seq: head,
                            })
                            .await;
                            self.pump(room_id, out);
                        }
                    }
                } else {
                    self.emit(ClientEvent::HistoryPage(p)).await;
                }
            }
            HostFrame::Message(m) => {
                let room_id = m.room_id;
                self.cache(room_id, std::slice::from_ref(&m), None, 0).await;
            }
            HostFrame::Ack(a) => {
                if let Err(e) = self.config.store.outbox_remove(&a.client_msg_id) {
                    tracing::error!(error = %e, "cannot update outbox");
                }
                self.emit(ClientEvent::Ack {
                    room_id: a.room_id,
                    client_msg_id: a.client_msg_id.clone(),
                    seq: a.seq,
                    ts: a.ts,
                })
                .await;
                if let Some(r) = self.rooms.get_mut(&a.room_id) {
                    if r.inflight.as_deref() == Some(a.client_msg_id.as_str()) {
                        r.inflight = None;
                    }
                }
                self.pump(a.room_id, out);
            }
            HostFrame::Presence(p) => self.emit(ClientEvent::Presence(p)).await,
            HostFrame::Typing(t) => {
                if t.member.user_id != self.user_id {
                    self.emit(ClientEvent::Typing(t)).await;
                }
            }
            HostFrame::Left(r) => self.emit(ClientEvent::Left { room_id: r.room_id }).await,
            HostFrame::Error(e) => self.on_error(e, out).await?,
        }
        Ok(())
    }

    async fn on_error(&mut self, e: ErrorFrame, out: &mut Vec<ClientFrame>) -> Result<(), End> {
        match (e.request.as_deref(), e.room_id, e.client_msg_id.clone()) {
            (Some("send"), Some(room_id), Some(cmid)) => match e.code {
                ErrorCode::RateLimited | ErrorCode::StorageFull | ErrorCode::StorageError => {
                    let wait = Duration::from_millis(e.retry_after_ms.unwrap_or(1000));
                    if let Some(r) = self.rooms.get_mut(&room_id) {
                        r.retry_at = Some(Instant::now() + wait);
                    }
                    self.emit(ClientEvent::Error(e)).await;
                }
                ErrorCode::NotJoined => {
                    if let Some(r) = self.rooms.get_mut(&room_id) {
                        r.inflight = None;
                    }
                    self.emit(ClientEvent::Error(e)).await;
                }
                _ => {
                    // Refused for good: keeping it would block everything queued after it.
                    let _ = self.config.store.outbox_remove(&cmid);
                    if let Some(r) = self.rooms.get_mut(&room_id) {
                        r.inflight = None;
                    }
                    self.emit(ClientEvent::SendFailed {
                        room_id,
                        client_msg_id: cmid,
                        error: e,
                    })
                    .await;
                    self.pump(room_id, out);
                }
            },
            (Some("join"), Some(room_id), _)
                if matches!(e.code, ErrorCode::StorageError | ErrorCode::RateLimited) =>
            {
                // The host's trouble, and passing: keep the room and ask again.
                let wait = Duration::from_millis(e.retry_after_ms.unwrap_or(2000).max(250));
                if let Some(r) = self.rooms.get_mut(&room_id) {
                    r.rejoin_at = Some(Instant::now() + wait);
                }
                self.emit(ClientEvent::Error(e)).await;
            }
            (Some("join"), Some(room_id), _) => {
                // Do not retry a refused join with the same passcode on every reconnect.
                self.rooms.remove(&room_id);
                self.emit(ClientEvent::JoinFailed { room_id, error: e })
                    .await;
            }
            (Some("hello"), _, _) if e.code == ErrorCode::UnsupportedVersion => {
                return Err(End::Fatal(e.message));
            }
            _ => self.emit(ClientEvent::Error(e)).await,
        }
        Ok(())
    }
}

/// The dead-link probe: after a send, silence for `probe_after` sends a ping; silence
/// for `probe_after` more means the link is dead.
#[derive(Default)]
struct Probe {
    ping_at: Option<Instant>,
    dead_at: Option<Instant>,
}

enum ProbeStep {
    Wait,
    Ping,
    Dead,
}

impl Probe {
    fn next_wake(&self) -> Option<Instant> {
        self.dead_at.or(self.ping_at)
    }

    fn sent(&mut self, now: Instant, after: Duration) {
        if self.ping_at.is_none() && self.dead_at.is_none() {
            self.ping_at = Some(now + after);
        }
    }

    /// Anything from the host shows the link works.
    fn heard(&mut self, now: Instant, awaiting: bool, after: Duration) {
        self.dead_at = None;
        self.ping_at = awaiting.then(|| now + after);
    }

    fn due(&mut self, now: Instant, awaiting: bool, after: Duration) -> ProbeStep {
        if self.dead_at.is_some_and(|t| now >= t) {
            return ProbeStep::Dead;
        }
        match self.ping_at {
            Some(t) if now >= t && awaiting => {
                self.ping_at = None;
                self.dead_at = Some(now + after);
                ProbeStep::Ping
            }
            Some(t) if now >= t => {
                self.ping_at = None;
                ProbeStep::Wait
            }
            _ => ProbeStep::Wait,
        }
    }
}

/// The largest seq a host can really have: SQLite integers are signed 64-bit (and the
/// client asks for `seq + 1`).
const MAX_SEQ: u64 = i64::MAX as u64 - 1;

/// Seqs are the host's claims: a hostile host can send 0 or `u64::MAX`. Messages whose
/// seq no host can have are dropped (and logged) before any arithmetic on them, and
/// head seqs are clamped, so nothing downstream overflows or stores a negative seq.
/// False when nothing of the frame is left to handle.
fn drop_impossible_seqs(frame: &mut HostFrame) -> bool {
    let sane = |m: &ChatMessage| {
        let ok = (1..=MAX_SEQ).contains(&m.seq);
        if !ok {
            tracing::warn!(seq = m.seq, room_id = %m.room_id, "dropped a message with an impossible seq");
        }
        ok
    };
    match frame {
        HostFrame::Joined(j) => {
            j.messages
                .retain(|m| sane(m) && m.room_id == j.room.room_id);
            j.head_seq = j.head_seq.min(MAX_SEQ);
            j.room.head_seq = j.room.head_seq.min(MAX_SEQ);
        }
        HostFrame::HistoryPage(p) => {
            let room_id = p.room_id;
            p.messages.retain(|m| sane(m) && m.room_id == room_id);
        }
        HostFrame::Message(m) => return sane(m),
        HostFrame::Welcome(w) => {
            for r in &mut w.rooms {
                r.head_seq = r.head_seq.min(MAX_SEQ);
            }
        }
        _ => {}
    }
    true
}

/// An announced fingerprint that contradicts a pin from an earlier visit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the host announces certificate {announced} but {pinned} was pinned on your first visit; not connecting (someone may be impersonating it)")]
pub struct FingerprintConflict {
    pub pinned: String,
    pub announced: String,
}

/// The fingerprint to expect for a room found by discovery. A pin from an earlier visit
/// outranks the (unauthenticated) TXT record, so a spoofed announcement carrying an
/// impostor's own fingerprint is refused rather than believed.
pub fn expected_for_announced(
    store: &Store,
    room_id: Uuid,
    host_id: Option<Uuid>,
    announced: Option<&str>,
) -> Result<Option<String>, StoreError> {
    let pinned = match store.pinned(&pin_key_room(room_id))? {
        Some(p) => Some(p),
        None => match host_id {
            Some(h) => store.pinned(&pin_key_host(h))?,
            None => None,
        },
    };
    Ok(pinned.or_else(|| announced.map(str::to_string)))
}

/// Pin keys in the store's `pins` table.
pub fn pin_key_addr(authority: &str) -> String {
    format!("addr:{authority}")
}

pub fn pin_key_room(room_id: Uuid) -> String {
    format!("room:{room_id}")
}

pub fn pin_key_host(host_id: Uuid) -> String {
    format!("host:{host_id}")
}

impl RoomIntent {
    fn new(passcode: Option<String>) -> Self {
        RoomIntent {
            passcode,
            joined: false,
            inflight: None,
            retry_at: None,
            rejoin_at: None,
            catching_up: false,
        }
    }
}
