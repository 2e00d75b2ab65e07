//! What the client does with each frame from the host: caching, resume paging, acks,
//! errors, and the checks on what a host claims (seqs, pins).

use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::task::{End, Task};
use super::*;
use crate::protocol::{
    ChatMessage, ClientFrame, ErrorCode, ErrorFrame, HistoryRequest, HostFrame, LeftReason,
    PresenceEvent,
};
use crate::store::JoinedRoom;

impl Task {
    /// Caches `msgs`; returns the synced seq. Cached messages the host replaced by
    /// others are set aside as "not on the host" and reported (`set_aside` adds the ones
    /// already moved for this frame).
    pub(super) async fn cache(
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

    pub(super) async fn on_frame(
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
                self.relations = w
                    .capabilities
                    .iter()
                    .any(|c| c == crate::protocol::capability::RELATIONS);
                self.files = w
                    .capabilities
                    .iter()
                    .any(|c| c == crate::protocol::capability::FILES);
                self.emit(ClientEvent::Welcome(w.clone())).await;
                // Rooms named by id only (manual join of a single-room host) resolve here.
                let ids: Vec<Uuid> = self.rooms.keys().copied().collect();
                for id in ids {
                    out.push(self.join_frame(id));
                }
            }
            HostFrame::Joined(j) => {
                let room_id = j.room.room_id;
                // A stale `joined` (an older join got in) is as good as the latest.
                if let Some(r) = self.rooms.get_mut(&room_id) {
                    r.answered();
                }
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
                if let Some(grant) = &j.files {
                    self.signals.set_files(
                        room_id,
                        crate::files::transfer::Endpoint {
                            authority: self.config.invite.authority(),
                            fingerprint: self.fingerprint.clone(),
                            room_id,
                            grant: grant.clone(),
                        },
                    );
                }
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
                let _ = store.note_seen(
                    room_id,
                    j.members.iter().map(|m| (m.user_id, m.name.as_str())),
                );
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
            HostFrame::Presence(p) => {
                if p.event == PresenceEvent::Join {
                    let member = (p.member.user_id, p.member.name.as_str());
                    let _ = self.config.store.note_seen(p.room_id, [member]);
                }
                self.emit(ClientEvent::Presence(p)).await
            }
            HostFrame::Typing(t) => {
                if t.member.user_id != self.user_id {
                    self.emit(ClientEvent::Typing(t)).await;
                }
            }
            HostFrame::Left(l) => match l.reason {
                // Our own leave: the intent is gone already.
                None => self.emit(ClientEvent::Left { room_id: l.room_id }).await,
                // The host owner removed us: the intent goes (a reconnect must not walk
                // straight back in), and so does the token, which the host revoked.
                Some(LeftReason::Removed) => {
                    self.rooms.remove(&l.room_id);
                    let _ = self.config.store.set_resume_token(l.room_id, None);
                    self.emit(ClientEvent::Removed { room_id: l.room_id }).await;
                }
                // The host stopped hosting it. The intent stays: the room is joined again
                // after a reconnect, or when asked (the app retries rooms not hosted).
                Some(_) => {
                    if let Some(r) = self.rooms.get_mut(&l.room_id) {
                        r.not_joined();
                    }
                    self.emit(ClientEvent::RoomClosed { room_id: l.room_id })
                        .await;
                }
            },
            HostFrame::Error(e) => self.on_error(e, out).await?,
        }
        Ok(())
    }

    pub(super) async fn on_error(
        &mut self,
        e: ErrorFrame,
        out: &mut Vec<ClientFrame>,
    ) -> Result<(), End> {
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
                if self.rooms.get_mut(&room_id).is_some_and(|r| r.answered()) =>
            {
                // The answer to a join asked again since (a passcode typed anew): the
                // newer one's answer is the one that counts, and it is on its way.
                tracing::debug!(%room_id, code = ?e.code, "refusal of a superseded join");
            }
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
