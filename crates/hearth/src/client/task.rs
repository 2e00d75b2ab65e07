//! The task behind a [`Client`]: the connection with its reconnects and backoff, the
//! session loop, the commands from the handle, and the outbox pump (one send in
//! flight per room).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

use super::probe::{Probe, ProbeStep};
use super::*;
use crate::connection::ws_config;
use crate::protocol::{
    self, close, encode, ClientFrame, HistoryRequest, HostFrame, Join, RoomRef, TypingState,
    PROTOCOL_VERSION,
};

pub(super) struct RoomIntent {
    pub(super) passcode: Option<String>,
    pub(super) joined: bool,
    /// The outbox entry awaiting its ack, and when it may be (re)sent.
    pub(super) inflight: Option<String>,
    pub(super) retry_at: Option<Instant>,
    /// A join refused for a passing reason (the host could not read its log, too many
    /// joins) is sent again at this time; the room is never dropped for it.
    pub(super) rejoin_at: Option<Instant>,
    /// Resume paging in progress.
    pub(super) catching_up: bool,
    /// Join frames sent on this connection and not answered yet. The host answers each
    /// in order (`joined` or an error), so the oldest answer belongs to the oldest.
    pub(super) joins_unanswered: u32,
    /// How many of those were sent before the latest `join` asked of us: their answers
    /// are stale (a refusal of a passcode typed before the right one) and not reported.
    pub(super) joins_superseded: u32,
}

impl RoomIntent {
    pub(super) fn new(passcode: Option<String>) -> Self {
        RoomIntent {
            passcode,
            joined: false,
            inflight: None,
            retry_at: None,
            rejoin_at: None,
            catching_up: false,
            joins_unanswered: 0,
            joins_superseded: 0,
        }
    }

    /// A new `join` asked of us: what is still unanswered answers an older one.
    pub(super) fn superseding(passcode: Option<String>, old: Option<RoomIntent>) -> Self {
        let mut intent = RoomIntent::new(passcode);
        if let Some(old) = old {
            intent.joins_unanswered = old.joins_unanswered;
            intent.joins_superseded = old.joins_unanswered;
        }
        intent
    }

    /// Takes one answer to a join off the count; true when it answers a superseded one.
    pub(super) fn answered(&mut self) -> bool {
        self.joins_unanswered = self.joins_unanswered.saturating_sub(1);
        if self.joins_superseded > 0 {
            self.joins_superseded -= 1;
            return true;
        }
        false
    }

    /// Out of the room (the connection dropped, or the host closed the room): the send in
    /// flight goes again after the next `joined`, and resume paging starts over.
    pub(super) fn not_joined(&mut self) {
        self.joined = false;
        self.inflight = None;
        self.catching_up = false;
    }

    /// The connection is gone, and with it every answer still owed on it.
    pub(super) fn disconnected(&mut self) {
        self.not_joined();
        self.joins_unanswered = 0;
        self.joins_superseded = 0;
    }
}

pub(super) struct Task {
    pub(super) config: ClientConfig,
    pub(super) user_id: Uuid,
    /// Proves `user_id` in every `hello` (protocol §3.7).
    pub(super) identity: Arc<crate::identity::Identity>,
    pub(super) name: String,
    pub(super) events: mpsc::Sender<ClientEvent>,
    pub(super) cmds: mpsc::Receiver<Command>,
    pub(super) signals: Arc<Signals>,
    pub(super) rooms: HashMap<Uuid, RoomIntent>,
    /// Fingerprint of the current connection (None: plaintext or not connected).
    pub(super) fingerprint: Option<String>,
    /// Who the host said it is in its last `welcome`: kept with each joined room, so
    /// the app can name the host while it is away.
    pub(super) host: Option<(Uuid, String)>,
    /// The host negotiated `relations` (protocol §3.9) in its last `welcome`.
    pub(super) relations: bool,
    /// ... and `files` (§3.10).
    pub(super) files: bool,
}

pub(super) type WsStream = tokio_tungstenite::WebSocketStream<Box<dyn crate::connection::Io>>;

pub(super) enum End {
    Lost(String),
    /// Lost, and the host is known not to be running.
    HostDown(String),
    Fatal(String),
    Shutdown,
}

impl Task {
    /// Waits while the consumer is behind (backpressure on the connection), but not
    /// past a shutdown: the run loop sees the stop next.
    pub(super) async fn emit(&self, e: ClientEvent) {
        tokio::select! {
            _ = self.events.send(e) => {}
            _ = self.signals.stop.cancelled() => {}
        }
    }

    pub(super) async fn run(mut self) {
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
                r.disconnected();
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
                    _ = self.signals.stop.cancelled() => {
                        self.emit(ClientEvent::State(ConnectionState::Closed { reason: "closed".into() })).await;
                        return;
                    }
                    c = self.cmds.recv() => match c {
                        None => {
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

    pub(super) fn backoff(&self, attempt: u32) -> Duration {
        let min = self.config.backoff_min.as_secs_f64();
        let max = self.config.backoff_max.as_secs_f64();
        let exp = (min * 2f64.powi(attempt.saturating_sub(1).min(16) as i32)).min(max);
        // "Equal jitter": half fixed, half random, so reconnect storms spread out.
        let jitter = rand::rng().random_range(0.5..=1.0);
        Duration::from_secs_f64(exp * jitter)
    }

    /// A `join` asked of us: the room's intent starts afresh, and answers still owed to
    /// earlier joins of it are known to be stale.
    fn intend_join(&mut self, room_id: Uuid, passcode: Option<String>) {
        let old = self.rooms.remove(&room_id);
        self.rooms
            .insert(room_id, RoomIntent::superseding(passcode, old));
    }

    pub(super) async fn offline_command(&mut self, c: Command) {
        match c {
            Command::Join { room_id, passcode } => {
                self.intend_join(room_id, passcode);
            }
            Command::Leave(room_id) => {
                self.rooms.remove(&room_id);
            }
            Command::Rename(n) => self.name = n,
            // Flush, typing and history wait for the connection.
            _ => {}
        }
    }

    pub(super) async fn connect(&mut self) -> Result<WsStream, End> {
        // Joins queued before this attempt decide which pins apply: take them in first.
        if self.signals.stop.is_cancelled() {
            return Err(End::Shutdown);
        }
        while let Ok(c) = self.cmds.try_recv() {
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

    pub(super) async fn session(&mut self, ws: WsStream) -> (End, bool) {
        let mut greeted = false;
        let end = self.run_session(ws, &mut greeted).await;
        (end, greeted)
    }

    pub(super) async fn run_session(&mut self, mut ws: WsStream, greeted: &mut bool) -> End {
        let hello = ClientFrame::Hello(protocol::Hello {
            protocol: PROTOCOL_VERSION,
            user_id: self.user_id,
            name: self.name.clone(),
            capabilities: protocol::capability::all(),
            // Signed for the certificate this connection was shown (none: plaintext).
            identity: Some(self.identity.prove(self.fingerprint.as_deref())),
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
                            // Our key or proof was refused: trying again would only repeat it.
                            if code == close::IDENTITY_REFUSED {
                                return End::Fatal(format!("host refused our identity: {reason}"));
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
                _ = self.signals.stop.cancelled() => {
                    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                    return End::Shutdown;
                }
                c = self.cmds.recv() => match c {
                    None => {
                        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
                        return End::Shutdown;
                    }
                    Some(c) => self.command(c, *greeted, &mut out),
                },
                _ = self.signals.flush_wanted.notified() => {
                    for room_id in self.signals.take_flushes() {
                        self.pump(room_id, &mut out);
                    }
                }
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
                let mut queue: std::collections::VecDeque<ClientFrame> = out.into();
                while let Some(f) = queue.pop_front() {
                    // An older host would store an edit or a reaction as a new message:
                    // refuse it here, once, rather than send it.
                    if let ClientFrame::Send(s) = &f {
                        if (!self.relations && s.has_relation()) || (!self.files && s.has_files()) {
                            self.refuse_unsupported(s).await;
                            let mut more = Vec::new();
                            self.pump(s.room_id, &mut more);
                            queue.extend(more);
                            continue;
                        }
                    }
                    if let ClientFrame::Join(j) = &f {
                        if let Some(r) = self.rooms.get_mut(&j.room_id) {
                            r.joins_unanswered += 1;
                        }
                    }
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
    pub(super) fn awaiting_ack(&self) -> bool {
        self.rooms.values().any(|r| r.inflight.is_some())
    }

    pub(super) fn join_frame(&self, room_id: Uuid) -> ClientFrame {
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

    pub(super) fn command(&mut self, c: Command, greeted: bool, out: &mut Vec<ClientFrame>) {
        match c {
            Command::Join { room_id, passcode } => {
                self.intend_join(room_id, passcode);
                if greeted {
                    out.push(self.join_frame(room_id));
                }
            }
            Command::Leave(room_id) => {
                if self.rooms.remove(&room_id).is_some() {
                    out.push(ClientFrame::Leave(RoomRef { room_id }));
                }
            }
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
            Command::ReconnectNow => {}
        }
    }

    /// A send this host cannot take (it did not negotiate `relations`): out of the
    /// outbox, and reported as failed for good.
    async fn refuse_unsupported(&mut self, s: &protocol::Send) {
        let _ = self.config.store.outbox_remove(&s.client_msg_id);
        if let Some(r) = self.rooms.get_mut(&s.room_id) {
            r.inflight = None;
        }
        let mut error = if s.has_files() && !self.files {
            protocol::ErrorFrame::new(
                protocol::ErrorCode::InvalidAttachment,
                "this host runs an older Hearth that cannot take files",
            )
        } else {
            protocol::ErrorFrame::new(
                protocol::ErrorCode::InvalidAction,
                "this host runs an older Hearth without replies, edits, reactions or mentions",
            )
        };
        error.request = Some("send".into());
        error.room_id = Some(s.room_id);
        error.client_msg_id = Some(s.client_msg_id.clone());
        self.emit(ClientEvent::SendFailed {
            room_id: s.room_id,
            client_msg_id: s.client_msg_id.clone(),
            error,
        })
        .await;
    }

    /// Sends the next outbox entry of a room if nothing is in flight.
    pub(super) fn pump(&mut self, room_id: Uuid, out: &mut Vec<ClientFrame>) {
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
                    let rel = e.relation;
                    out.push(ClientFrame::Send(protocol::Send {
                        room_id,
                        client_msg_id: e.client_msg_id,
                        text: e.text,
                        kind: rel.kind,
                        target: rel.target,
                        reply_to: rel.reply_to,
                        mentions: rel.mentions,
                        mentions_room: rel.mentions_room,
                        attachments: rel.attachments,
                    }));
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read outbox"),
        }
    }
}
