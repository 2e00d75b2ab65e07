//! The session of a connection: the read loop (budgets, heartbeat, flood detection)
//! and a handler per client frame.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::Message;

use super::Ws;
use uuid::Uuid;

use crate::host_state::HostState;
use crate::limits::TokenBucket;
use crate::peer::Peer;
use crate::protocol::{
    self, capability, close, decode_client, relations, ClientFrame, ErrorCode, ErrorFrame,
    HistoryPage, HistoryRequest, HostFrame, Join, Joined, Member, PresenceEvent, RoomRef, Welcome,
    MAX_CLIENT_MSG_ID_LEN, PROTOCOL_VERSION,
};
use crate::room::{Refusal, Room};
use crate::store::{NewMessage, StoreError};

/// How a join's last step, under the room lock, ended.
enum JoinEnd {
    Entered,
    /// No longer hosted.
    Closed,
    Refused(Refusal),
}

pub(super) struct Session {
    pub(super) state: Arc<HostState>,
    pub(super) peer: Arc<Peer>,
    pub(super) addr: SocketAddr,
    pub(super) user: Option<Member>,
    pub(super) rooms: HashMap<Uuid, Arc<Room>>,
    pub(super) bucket: TokenBucket,
    pub(super) typing_bucket: TokenBucket,
    pub(super) frame_bucket: TokenBucket,
    pub(super) join_bucket: TokenBucket,
    pub(super) limited_streak: u32,
}

impl Session {
    /// Returns true when the connection ended by heartbeat timeout.
    pub(super) async fn read_loop(
        &mut self,
        stream: &mut SplitStream<Ws>,
        accepted_at: Instant,
    ) -> bool {
        let (handshake_timeout, heartbeat_timeout) = {
            let l = self.state.limits();
            (l.handshake_timeout, l.heartbeat_timeout)
        };
        let shutdown = self.state.shutdown().clone();
        let kicked = self.peer.kicked().clone();
        let mut deadline = accepted_at + handshake_timeout;
        loop {
            let msg = tokio::select! {
                biased;
                _ = kicked.cancelled() => return false,
                _ = shutdown.cancelled() => {
                    self.peer.kick(close::GOING_AWAY);
                    return false;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if self.user.is_some() {
                        tracing::info!(addr = %self.addr, "heartbeat timeout");
                        self.peer.kick(close::HEARTBEAT_TIMEOUT);
                        return true;
                    }
                    self.peer.kick(close::HELLO_REQUIRED);
                    return false;
                }
                m = stream.next() => m,
            };
            match msg {
                None => return false,
                // Boxed: a handler's state (a join's backlog read, a passcode check) is
                // large, and only lives while it runs, not in every idle connection.
                Some(Ok(Message::Text(text))) => Box::pin(self.on_text(&text)).await,
                Some(Ok(Message::Binary(_))) => {
                    self.peer.kick(close::UNSUPPORTED_DATA);
                    return false;
                }
                Some(Ok(Message::Close(_))) => return false,
                // Pings and pongs are frames too (§8): over the budget they get no error
                // frame (that would answer a flood with a flood) but count as a flood.
                Some(Ok(_)) => {
                    if self.frame_bucket.take().is_err() && self.limited() {
                        return false;
                    }
                }
                Some(Err(e)) => {
                    let code = match e {
                        WsError::Utf8(_) => close::INVALID_PAYLOAD,
                        WsError::Capacity(CapacityError::MessageTooLong { .. }) => close::TOO_BIG,
                        WsError::Capacity(_) => close::TOO_BIG,
                        WsError::Protocol(_) => 1002,
                        _ => close::NORMAL,
                    };
                    tracing::debug!(addr = %self.addr, error = %e, code, "read error");
                    self.peer.kick(code);
                    return false;
                }
            }
            if self.peer.kicked().is_cancelled() {
                return false;
            }
            // Any frame, pongs included, proves the peer alive.
            if self.user.is_some() {
                deadline = Instant::now() + heartbeat_timeout;
            }
        }
    }

    fn error(&self, code: ErrorCode, message: impl Into<String>, request: Option<&ClientFrame>) {
        let mut f = ErrorFrame::new(code, message);
        if let Some(r) = request {
            f.request = Some(r.kind().to_string());
            f.room_id = r.room_id();
            if let ClientFrame::Send(s) = r {
                f.client_msg_id = Some(s.client_msg_id.clone());
            }
        }
        self.peer.send(&HostFrame::Error(f));
    }

    /// Counts a refused frame; a connection that keeps going after many is a flood.
    fn limited(&mut self) -> bool {
        self.limited_streak += 1;
        if self.limited_streak >= self.state.limits().flood_close_after {
            tracing::warn!(addr = %self.addr, "closing flooding connection");
            self.peer.kick(close::FLOOD);
            return true;
        }
        false
    }

    async fn on_text(&mut self, text: &str) {
        if let Err(wait) = self.frame_bucket.take() {
            if self.limited() {
                return;
            }
            let mut f = ErrorFrame::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {} frames per second; slow down",
                    self.state.limits().frame_rate()
                ),
            );
            f.retry_after_ms = Some(wait.as_millis() as u64 + 1);
            // Named, where it can be read, so that the client knows which request was
            // not processed (a join it must ask again, a send it must resend).
            let r = protocol::RequestRef::read(text);
            (f.request, f.room_id, f.client_msg_id) = (r.request, r.room_id, r.client_msg_id);
            self.peer.send(&HostFrame::Error(f));
            return;
        }
        let frame = match decode_client(text) {
            Ok(f) => f,
            Err(e) => {
                let mut f = ErrorFrame::new(e.code(), e.to_string());
                f.request = e.request();
                f.room_id = e.room_id();
                f.client_msg_id = e.client_msg_id();
                self.peer.send(&HostFrame::Error(f));
                return;
            }
        };
        let user = match (&self.user, &frame) {
            (None, ClientFrame::Hello(_)) => None,
            (None, _) => {
                return self.error(ErrorCode::HelloRequired, "send hello first", Some(&frame));
            }
            (Some(_), ClientFrame::Hello(_)) => {
                return self.error(
                    ErrorCode::AlreadyGreeted,
                    "hello was already received",
                    Some(&frame),
                );
            }
            (Some(u), _) => Some(u.clone()),
        };
        match (&frame, user) {
            (ClientFrame::Hello(h), _) => self.on_hello(h, &frame),
            (ClientFrame::Join(j), Some(u)) => self.on_join(j, u, &frame).await,
            (ClientFrame::Leave(r), Some(_)) => self.on_leave(r, &frame),
            (ClientFrame::Send(s), Some(u)) => self.on_send(s, u, &frame).await,
            (ClientFrame::Typing(t), Some(u)) => {
                let Some(room) = self.joined_room(t.room_id, &frame) else {
                    return;
                };
                // Excess typing frames are dropped: they carry no data to lose.
                if self.typing_bucket.take().is_ok() {
                    room.set_typing(&u, t.active, self.state.limits().typing_ttl);
                }
            }
            (ClientFrame::History(h), Some(_)) => self.on_history(h, &frame).await,
            (ClientFrame::Rename(r), Some(mut u)) => match protocol::normalize_name(&r.name) {
                None => self.error(
                    ErrorCode::InvalidName,
                    "names are 1 to 64 characters, without control characters",
                    Some(&frame),
                ),
                Some(name) => {
                    u.name = name.clone();
                    for room in self.rooms.values() {
                        room.rename(u.user_id, &name);
                    }
                    self.user = Some(u);
                }
            },
            (_, None) => {} // handled above
        }
    }

    fn on_hello(&mut self, h: &protocol::Hello, frame: &ClientFrame) {
        if h.protocol != PROTOCOL_VERSION {
            self.error(
                ErrorCode::UnsupportedVersion,
                format!(
                    "this host speaks protocol {PROTOCOL_VERSION}, not {}",
                    h.protocol
                ),
                Some(frame),
            );
            self.peer.kick(close::UNSUPPORTED_VERSION);
            return;
        }
        let Some(name) = protocol::normalize_name(&h.name) else {
            return self.error(
                ErrorCode::InvalidName,
                "names are 1 to 64 characters, without control characters",
                Some(frame),
            );
        };
        let Some(verified) = self.check_identity(h, frame) else {
            return;
        };
        let user = Member {
            user_id: h.user_id,
            name,
            verified,
        };
        // Unlisted rooms only to those admitted before (§3.8).
        let mut rooms: Vec<_> = self
            .state
            .rooms_read()
            .values()
            .filter(|r| r.listed_to(&user))
            .map(|r| r.summary())
            .collect();
        self.user = Some(user);
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        let capabilities = protocol::capability::negotiate(&h.capabilities);
        self.peer
            .set_relations(capabilities.iter().any(|c| c == capability::RELATIONS));
        self.peer
            .set_files(capabilities.iter().any(|c| c == capability::FILES));
        self.peer.send(&HostFrame::Welcome(Welcome {
            protocol: PROTOCOL_VERSION,
            host_id: self.state.host_id(),
            host_name: self.state.host_name().to_string(),
            rooms,
            limits: self.state.limits().public(),
            capabilities,
            verified,
        }));
    }

    /// Whether `hello` proved its user id (§3.7); `None` when it was refused, and the
    /// connection is closing. Without a proof, a key-derived id is someone else's.
    fn check_identity(&mut self, h: &protocol::Hello, frame: &ClientFrame) -> Option<bool> {
        let fingerprint = self.state.fingerprint();
        let refused = match &h.identity {
            Some(proof) => match crate::identity::verify(proof, h.user_id, fingerprint) {
                // Over plaintext a man in the middle could have relayed the proof.
                Ok(()) => return Some(fingerprint.is_some()),
                Err(e) => (ErrorCode::IdentityInvalid, format!("identity refused: {e}")),
            },
            None if protocol::identity::is_key_derived(h.user_id) => (
                ErrorCode::IdentityRequired,
                "this user id belongs to a key: prove it with hello.identity".to_string(),
            ),
            None => return Some(false),
        };
        tracing::warn!(addr = %self.addr, user_id = %h.user_id, error = %refused.1, "hello refused");
        self.error(refused.0, refused.1, Some(frame));
        self.peer.kick(close::IDENTITY_REFUSED);
        None
    }

    fn joined_room(&mut self, room_id: Uuid, frame: &ClientFrame) -> Option<Arc<Room>> {
        // A room the host stopped hosting, or took this connection out of, was left
        // then (`left`, reason `closed` or `removed`).
        if self
            .rooms
            .get(&room_id)
            .is_some_and(|r| !r.lock().contains(self.peer.id))
        {
            self.rooms.remove(&room_id);
        }
        let room = self.rooms.get(&room_id).cloned();
        if room.is_none() {
            self.error(ErrorCode::NotJoined, "join the room first", Some(frame));
        }
        room
    }

    async fn on_join(&mut self, j: &Join, user: Member, frame: &ClientFrame) {
        if let Err(wait) = self.join_bucket.take() {
            if self.limited() {
                return;
            }
            let mut f = ErrorFrame::new(ErrorCode::RateLimited, "too many joins; slow down");
            f.request = Some("join".into());
            f.room_id = Some(j.room_id);
            f.retry_after_ms = Some(wait.as_millis() as u64 + 1);
            self.peer.send(&HostFrame::Error(f));
            return;
        }
        let Some(room) = self.state.room(j.room_id) else {
            return self.error(
                ErrorCode::UnknownRoom,
                "this host has no such room",
                Some(frame),
            );
        };
        let ticket = match room.admission(&user) {
            Ok(ticket) => ticket,
            Err(refusal) => return self.refuse(&room, &user, refusal, frame),
        };
        let token_ok = match (&room.pass_hash, j.passcode.as_deref(), &j.resume_token) {
            (Some(_), None | Some(""), Some(token)) => {
                let (store, hash) = (
                    Arc::clone(self.state.store()),
                    crate::passcode::token_hash(token),
                );
                let (room_id, user_id) = (room.id, user.user_id);
                tokio::task::spawn_blocking(move || {
                    store.room_token_matches(room_id, user_id, &hash)
                })
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(false)
            }
            _ => false,
        };
        if let Some(hash) = room.pass_hash.clone().filter(|_| !token_ok) {
            let Some(pass) = j.passcode.clone().filter(|p| !p.is_empty()) else {
                return self.error(
                    ErrorCode::PasscodeRequired,
                    "this room needs a passcode",
                    Some(frame),
                );
            };
            let ip = self.addr.ip();
            let throttle = self.state.throttle();
            // Argon2 checks take turns host-wide (memory and CPU stay bounded however many
            // connections join at once), and the throttle is consulted once it is this
            // join's turn, so failures recorded while it waited count.
            let state = Arc::clone(&self.state);
            let _turn = tokio::select! {
                permit = state.passcode_checks().turn() => permit,
                _ = self.peer.kicked().cancelled() => return,
                _ = self.state.shutdown().cancelled() => return,
            };
            if let Err(wait) = throttle.check(ip, room.id) {
                let mut f = ErrorFrame::new(
                    ErrorCode::Throttled,
                    "too many wrong passcodes; wait before trying again",
                );
                f.request = Some("join".into());
                f.room_id = Some(room.id);
                f.retry_after_ms = Some(wait.as_millis() as u64 + 1);
                self.peer.send(&HostFrame::Error(f));
                return;
            }
            let ok = state.passcode_checks().verify(hash, pass).await;
            if !ok {
                let wait = throttle.fail(ip, room.id);
                tracing::info!(addr = %self.addr, room = %room.id, "wrong passcode");
                let mut f = ErrorFrame::new(ErrorCode::WrongPasscode, "wrong passcode");
                f.request = Some("join".into());
                f.room_id = Some(room.id);
                if !wait.is_zero() {
                    f.retry_after_ms = Some(wait.as_millis() as u64);
                }
                self.peer.send(&HostFrame::Error(f));
                return;
            }
            throttle.succeed(ip, room.id);
        }
        // Passcode rooms hand out a resume token: the one presented stays valid (so a
        // lost `joined` costs nothing), a passcode join gets a new one.
        let resume_token = match room.pass_hash {
            Some(_) if token_ok => j.resume_token.clone(),
            Some(_) => {
                let token = crate::passcode::new_token();
                let (store, hash) = (
                    Arc::clone(self.state.store()),
                    crate::passcode::token_hash(&token),
                );
                let (room_id, user_id) = (room.id, user.user_id);
                let saved = tokio::task::spawn_blocking(move || {
                    store.put_room_token(room_id, user_id, &hash)
                })
                .await;
                matches!(saved, Ok(Ok(()))).then_some(token)
            }
            None => None,
        };
        if room.admit(&user) {
            let (store, room_id, user) = (Arc::clone(self.state.store()), room.id, user.clone());
            let saved =
                tokio::task::spawn_blocking(move || store.admit(room_id, user.user_id, &user.name))
                    .await;
            if !matches!(saved, Ok(Ok(()))) {
                // Admitted now all the same; a members-only room asks again after a restart.
                tracing::warn!(room = %room.id, "could not store the roster entry");
            }
        }
        let (joiner, user_id) = (user.clone(), user.user_id);
        let page = self.state.limits().max_history_page;
        let since = j.since_seq;
        let peer = Arc::clone(&self.peer);
        let r = Arc::clone(&room);
        let files = peer.files().then(|| Arc::clone(&self.state));
        let res = self
            .state
            .with_reader(move |reader| {
                // The backlog is read without the room lock: the fan-out task takes that
                // lock for every message, so holding it across a long read would stall
                // delivery in every room.
                let seen = r.lock().committed_head;
                let resume = since.filter(|&s| s <= seen);
                let (mut messages, mut has_more) = match resume {
                    Some(s) => {
                        let m = reader.after(r.id, s, seen, page)?;
                        let more = m.last().is_some_and(|l| l.seq < seen);
                        (m, more)
                    }
                    None => (reader.before(r.id, Some(seen + 1), page)?, false),
                };
                // The grant for the room's files (§15.1), read before the room lock
                // is taken (a store read), delivered only if the join succeeds.
                let files = match files {
                    Some(state) => Some(protocol::files::FilesGrant {
                        token: state.files().grants().issue(crate::files::grants::Grant {
                            room_id: r.id,
                            user_id: user.user_id,
                        }),
                        max_file_bytes: state.limits().max_file_bytes,
                        room_quota_bytes: state.limits().room_quota_bytes,
                        room_used_bytes: state.store().room_files_used(r.id).unwrap_or(0),
                    }),
                    None => None,
                };
                // Under the lock no message can be fanned out, so `joined` comes strictly
                // before every message after `head`; only what was committed during the
                // read above (usually nothing) is read here.
                let mut st = r.lock();
                let head = st.committed_head;
                if head > seen && !has_more {
                    let delta = reader.after(r.id, seen, head, page)?;
                    let complete = delta.last().is_some_and(|l| l.seq == head);
                    match resume {
                        Some(_) => {
                            messages.extend(delta);
                            has_more = !complete;
                        }
                        None if complete => {
                            messages.extend(delta);
                            let excess = messages.len().saturating_sub(page as usize);
                            messages.drain(..excess);
                        }
                        // A burst longer than a page: the latest page, read again.
                        None => messages = reader.before(r.id, Some(head + 1), page)?,
                    }
                }
                if st.is_closed() {
                    // Stopped hosting while this join read the backlog.
                    return Ok(JoinEnd::Closed);
                }
                if let Err(refusal) = r.may_enter(&st, &user, ticket) {
                    return Ok(JoinEnd::Refused(refusal));
                }
                st.add(r.id, user, Arc::clone(&peer));
                peer.send(&HostFrame::Joined(Joined {
                    room: r.summary_locked(&st),
                    members: st.members(),
                    messages: peer.readable(messages),
                    head_seq: head,
                    has_more,
                    resume_token,
                    files,
                }));
                Ok(JoinEnd::Entered)
            })
            .await;
        match res {
            Ok(JoinEnd::Entered) => {
                self.rooms.insert(room.id, room);
            }
            Ok(JoinEnd::Closed) => self.error(
                ErrorCode::UnknownRoom,
                "this host has no such room",
                Some(frame),
            ),
            Ok(JoinEnd::Refused(refusal)) => {
                if refusal == Refusal::Removed {
                    // The removal came while this join awaited and may have run before
                    // its token and roster writes: undo them, so the removal holds.
                    let (store, room_id, user_id) =
                        (Arc::clone(self.state.store()), room.id, user_id);
                    room.remove_user(user_id);
                    let undone =
                        tokio::task::spawn_blocking(move || store.remove_member(room_id, user_id))
                            .await;
                    if !matches!(undone, Ok(Ok(_))) {
                        tracing::warn!(room = %room.id, "could not revoke a racing join's token");
                    }
                }
                self.refuse(&room, &joiner, refusal, frame)
            }
            Err(e) => self.storage_error(e, frame),
        }
    }

    fn refuse(&self, room: &Room, user: &Member, refusal: Refusal, frame: &ClientFrame) {
        tracing::info!(addr = %self.addr, room = %room.id, user = %user.user_id, ?refusal, "join refused");
        let message = match refusal {
            Refusal::NotAMember => "this room is for its members only: ask its host to let you in",
            Refusal::Removed => "the host removed you from this room",
        };
        self.error(ErrorCode::NotAMember, message, Some(frame));
    }

    fn storage_error(&self, e: StoreError, frame: &ClientFrame) {
        tracing::error!(error = %e, "storage error");
        self.error(
            ErrorCode::StorageError,
            format!("the host could not read its log: {e}"),
            Some(frame),
        );
    }

    fn on_leave(&mut self, r: &RoomRef, frame: &ClientFrame) {
        match self.rooms.remove(&r.room_id) {
            Some(room) => {
                room.remove(self.peer.id, PresenceEvent::Leave);
                self.peer.send(&HostFrame::Left(protocol::Left {
                    room_id: r.room_id,
                    reason: None,
                }));
            }
            None => self.error(ErrorCode::NotJoined, "not in that room", Some(frame)),
        }
    }

    async fn on_send(&mut self, s: &protocol::Send, user: Member, frame: &ClientFrame) {
        let Some(room) = self.joined_room(s.room_id, frame) else {
            return;
        };
        let limits = self.state.limits();
        if s.client_msg_id.is_empty() || s.client_msg_id.len() > MAX_CLIENT_MSG_ID_LEN {
            return self.error(
                ErrorCode::InvalidClientMsgId,
                format!("client_msg_id must be 1 to {MAX_CLIENT_MSG_ID_LEN} bytes"),
                Some(frame),
            );
        }
        if let Err((code, why)) = check_action(s, self.peer.relations()) {
            return self.error(code, why, Some(frame));
        }
        if s.has_files() && !self.peer.files() {
            return self.error(
                ErrorCode::InvalidAttachment,
                "attachments need the `files` capability in hello",
                Some(frame),
            );
        }
        if let Err(why) = protocol::files::check_attachments(&s.attachments) {
            return self.error(ErrorCode::InvalidAttachment, why, Some(frame));
        }
        if s.has_files() && s.kind.is_some() {
            return self.error(
                ErrorCode::InvalidAttachment,
                "only a message carries files, not an action",
                Some(frame),
            );
        }
        if s.text.trim().is_empty()
            && s.kind.as_deref() != Some(relations::DELETE)
            && !s.has_files()
        {
            return self.error(ErrorCode::EmptyText, "message text is empty", Some(frame));
        }
        let chars = s.text.chars().count();
        if chars > limits.max_text_chars {
            return self.error(
                ErrorCode::TextTooLong,
                format!(
                    "message is {chars} characters; the limit is {}",
                    limits.max_text_chars
                ),
                Some(frame),
            );
        }
        if let Err(wait) = self.bucket.take() {
            let per_sec = limits.messages_per_sec;
            if self.limited() {
                return;
            }
            let mut f = ErrorFrame::new(
                ErrorCode::RateLimited,
                format!("more than {per_sec} messages per second; retry later"),
            );
            f.request = Some("send".into());
            f.room_id = Some(s.room_id);
            f.client_msg_id = Some(s.client_msg_id.clone());
            f.retry_after_ms = Some(wait.as_millis() as u64 + 1);
            self.peer.send(&HostFrame::Error(f));
            return;
        }
        self.limited_streak = 0;
        let msg = NewMessage {
            room_id: s.room_id,
            user_id: user.user_id,
            author: user.name,
            client_msg_id: s.client_msg_id.clone(),
            // A delete carries no text, whatever was sent with it.
            text: if s.kind.as_deref() == Some(relations::DELETE) {
                String::new()
            } else {
                s.text.clone()
            },
            by_owner: user.verified && room.owner_id() == Some(user.user_id),
            verified: user.verified,
            kind: s.kind.clone(),
            target: s.target,
            reply_to: s.reply_to,
            mentions: dedup(&s.mentions),
            mentions_room: s.mentions_room,
            attachments: s.attachments.clone(),
        };
        if s.kind.as_deref() == Some(relations::DELETE) {
            // The deleted message's files may now belong to no message at all.
            self.state.files().nudge();
        }
        if !self.state.append(msg, room, Arc::clone(&self.peer)).await {
            self.error(
                ErrorCode::StorageError,
                "the host is shutting down",
                Some(frame),
            );
        }
    }

    async fn on_history(&mut self, h: &HistoryRequest, frame: &ClientFrame) {
        let Some(room) = self.joined_room(h.room_id, frame) else {
            return;
        };
        let max = self.state.limits().max_history_page;
        let limit = h.limit.unwrap_or(max).clamp(1, max);
        if h.before_seq.is_some() && h.after_seq.is_some() {
            return self.error(
                ErrorCode::InvalidRequest,
                "give before_seq or after_seq, not both",
                Some(frame),
            );
        }
        let head = room.lock().committed_head;
        let (before, after) = (h.before_seq, h.after_seq);
        let id = room.id;
        let res = self
            .state
            .with_reader(move |r| match after {
                Some(a) => {
                    let m = r.after(id, a, head, limit)?;
                    let more = m.last().is_some_and(|l| l.seq < head);
                    Ok((m, more))
                }
                None => {
                    // Bounded by the head like every page (§10.3): never ahead of what
                    // this connection has been sent live.
                    let below = before.map_or(head + 1, |b| b.min(head + 1));
                    let m = r.before(id, Some(below), limit)?;
                    let more = m.first().is_some_and(|f| f.seq > 1);
                    Ok((m, more))
                }
            })
            .await;
        match res {
            Ok((messages, has_more)) => {
                self.peer.send(&HostFrame::HistoryPage(HistoryPage {
                    room_id: id,
                    messages: self.peer.readable(messages),
                    has_more,
                }));
            }
            Err(e) => self.storage_error(e, frame),
        }
    }
}

/// The checks on an action that need nothing but the frame (protocol §3.9); the rules
/// that need the log (the target exists, who wrote it) run inside the commit.
fn check_action(s: &protocol::Send, negotiated: bool) -> Result<(), (ErrorCode, String)> {
    if s.has_relation() && !negotiated {
        return Err((
            ErrorCode::InvalidAction,
            "replies, mentions and actions need the `relations` capability in hello".into(),
        ));
    }
    match s.kind.as_deref() {
        None if s.target.is_some() => Err((
            ErrorCode::InvalidAction,
            "only an action (edit, delete, react, unreact) has a target".into(),
        )),
        None => Ok(()),
        Some(k) if !relations::is_action(Some(k)) => Err((
            ErrorCode::InvalidAction,
            format!("unknown action `{k}`: edit, delete, react or unreact"),
        )),
        Some(_) if s.target.is_none() => Err((
            ErrorCode::InvalidAction,
            "an action needs a target seq".into(),
        )),
        Some(relations::REACT | relations::UNREACT) if !relations::valid_reaction(&s.text) => {
            Err((
                ErrorCode::InvalidAction,
                format!(
                    "a reaction is one emoji, at most {} bytes",
                    relations::MAX_REACTION_BYTES
                ),
            ))
        }
        Some(_) => Ok(()),
    }
    .and_then(|()| {
        if s.mentions.len() > relations::MAX_MENTIONS {
            return Err((
                ErrorCode::InvalidAction,
                format!("at most {} mentions", relations::MAX_MENTIONS),
            ));
        }
        Ok(())
    })
}

/// Mentions as a set, in the order first given.
fn dedup(ids: &[Uuid]) -> Vec<Uuid> {
    let mut out: Vec<Uuid> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(id) {
            out.push(*id);
        }
    }
    out
}
