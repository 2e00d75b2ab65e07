//! "Your rooms": the room list, a room's messages and members, sending, drafts,
//! reading, leaving.

use std::collections::HashSet;

use hearth::protocol::relations::{self, Relation};
use hearth::protocol::{ChatMessage, Member};
use hearth::Client;
use uuid::Uuid;

use crate::views::*;
use crate::AppError;

use super::*;

impl App {
    pub(super) fn connection_of(&self, room_id: Uuid) -> Connection {
        lock(&self.inner.sessions)
            .values()
            .find(|s| s.rooms.contains(&room_id))
            .map(|s| s.connection.clone())
            .unwrap_or(Connection::Closed {
                reason: "not connected".into(),
            })
    }

    pub(super) fn room_view(
        &self,
        overview: hearth::store::RoomOverview,
        hosted: &HashSet<Uuid>,
        hostable: &HashSet<Uuid>,
    ) -> RoomView {
        let room = &overview.room;
        // One look at the room's session for both its connection and its host's limit.
        let (connection, max_text_chars) = lock(&self.inner.sessions)
            .values()
            .find(|s| s.rooms.contains(&room.room_id))
            .map(|s| (s.connection.clone(), s.max_text_chars))
            .unwrap_or((
                Connection::Closed {
                    reason: "not connected".into(),
                },
                DEFAULT_MAX_TEXT_CHARS,
            ));
        let online = match connection {
            Connection::Connected => lock(&self.inner.live)
                .get(&room.room_id)
                .map(|l| l.online)
                .unwrap_or(0),
            _ => 0,
        };
        RoomView {
            room_id: room.room_id,
            name: room.name.clone(),
            address: room.address.clone(),
            host_name: room.host_name.clone(),
            has_passcode: room.has_passcode,
            unread: overview.unread,
            mentions: overview.mentions,
            last_message: overview.last_message,
            unhosted: overview.unhosted,
            connection,
            online,
            hosted_by_me: hosted.contains(&room.room_id),
            hostable: hostable.contains(&room.room_id),
            read_seq: room.read_seq,
            fingerprint: overview.fingerprint,
            draft: overview.setting.unwrap_or_default(),
            access: self.access(room.room_id),
            max_text_chars,
        }
    }

    /// "Your rooms": every room joined, with unread counts and reachability.
    pub async fn rooms(&self) -> Result<Vec<RoomView>, AppError> {
        let hosted = self.hosted_ids();
        // SQLite off the runtime, in a fixed number of queries (not a few per room).
        let app = self.clone();
        tokio::task::spawn_blocking(move || {
            let hostable = app.hostable_ids()?;
            let overviews = app
                .inner
                .store
                .room_overviews(app.inner.user_id, draft_key)?;
            Ok(overviews
                .into_iter()
                .map(|o| app.room_view(o, &hosted, &hostable))
                .collect())
        })
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
    }

    pub fn members(&self, room_id: Uuid) -> Vec<Member> {
        if !matches!(self.connection_of(room_id), Connection::Connected) {
            return Vec::new();
        }
        lock(&self.inner.live)
            .get(&room_id)
            .map(|l| l.members.clone())
            .unwrap_or_default()
    }

    /// A page of cached history (newest first page when `before_seq` is `None`). When the
    /// cache runs out before seq 1, the older page is fetched from the host and
    /// announced with [`AppEvent::HistoryLoaded`].
    pub fn messages(
        &self,
        room_id: Uuid,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<MessagePage, AppError> {
        let store = &self.inner.store;
        let messages = store.cached_messages(room_id, before_seq, limit.clamp(1, 500))?;
        let oldest = messages.first().map(|m| m.seq).or(before_seq);
        let at_start = match oldest {
            Some(s) => s <= 1,
            None => store.last_message(room_id)?.is_none(),
        };
        if messages.len() < limit as usize && !at_start {
            if let Some(client) = self.client_for(room_id) {
                let _ = client.history(room_id, oldest);
            }
        }
        let pending = store
            .outbox(room_id)?
            .into_iter()
            .map(PendingView::of)
            .collect();
        Ok(MessagePage {
            room_id,
            at_start,
            messages,
            pending,
        })
    }

    /// Messages of a room kept here that its host no longer has, oldest set aside first.
    pub fn unhosted_messages(&self, room_id: Uuid) -> Result<Vec<ChatMessage>, AppError> {
        Ok(self.inner.store.unhosted_messages(room_id)?)
    }

    pub(super) fn client_for(&self, room_id: Uuid) -> Option<Client> {
        lock(&self.inner.sessions)
            .values()
            .find(|s| s.rooms.contains(&room_id))
            .map(|s| s.client.clone())
    }

    /// Queues a message. It is in the persisted outbox when this returns and is delivered
    /// exactly once, whenever the host is reachable.
    pub fn send(&self, room_id: Uuid, text: &str) -> Result<PendingView, AppError> {
        self.send_with(room_id, text, &Relation::default())
    }

    /// [`App::send`] for a reply, mentions, or an action on a message (protocol §3.9):
    /// queued in the same outbox, so it survives being offline and a restart.
    pub fn send_with(
        &self,
        room_id: Uuid,
        text: &str,
        relation: &Relation,
    ) -> Result<PendingView, AppError> {
        let is_delete = relation.kind.as_deref() == Some(relations::DELETE);
        if text.trim().is_empty() && !is_delete && relation.attachments.is_empty() {
            return Err(AppError::Invalid("the message is empty".into()));
        }
        if relations::is_action(relation.kind.as_deref()) != relation.target.is_some() {
            return Err(AppError::Invalid(
                "an edit, delete or reaction names the message it acts on".into(),
            ));
        }
        let client = self.client_for(room_id).ok_or(AppError::NotJoined)?;
        let e = client.send_with(room_id, text, relation)?;
        Ok(PendingView::of(e))
    }

    /// Full-text search over the cached messages of every joined room, newest first.
    pub fn search(&self, q: &SearchRequest) -> Result<Vec<SearchHitView>, AppError> {
        let store = &self.inner.store;
        let hits = store.search(&hearth::store::SearchQuery {
            text: q.text.clone(),
            room_id: q.room_id,
            author: q.author,
            since: q.since,
            until: q.until,
            before_doc: match &q.before_doc {
                Some(d) => Some(
                    d.parse()
                        .map_err(|_| AppError::Invalid("not a search position".into()))?,
                ),
                None => None,
            },
            limit: 50,
        })?;
        let names: std::collections::HashMap<Uuid, String> = store
            .joined_rooms()?
            .into_iter()
            .map(|r| (r.room_id, r.name))
            .collect();
        Ok(hits
            .into_iter()
            .map(|h| SearchHitView {
                room: names.get(&h.room_id).cloned().unwrap_or_default(),
                room_id: h.room_id,
                seq: h.seq,
                ts: h.ts,
                user_id: h.user_id,
                author: h.author,
                snippet: h.snippet,
                doc: h.doc.to_string(),
            })
            .collect())
    }

    /// Saves the composer's draft for a room ("" clears it); it survives a restart.
    pub fn set_draft(&self, room_id: Uuid, text: &str) -> Result<(), AppError> {
        let key = draft_key(room_id);
        if text.is_empty() {
            self.inner.store.delete_setting(&key)?;
        } else {
            self.inner.store.set_setting(&key, text)?;
        }
        Ok(())
    }

    pub fn typing(&self, room_id: Uuid, active: bool) {
        if let Some(c) = self.client_for(room_id) {
            let _ = c.typing(room_id, active);
        }
    }

    pub fn mark_read(&self, room_id: Uuid, seq: u64) -> Result<(), AppError> {
        Ok(self.inner.store.set_read_seq(room_id, seq)?)
    }

    /// Leaves a room and forgets its local history.
    pub fn leave(&self, room_id: Uuid) -> Result<(), AppError> {
        let mut sessions = lock(&self.inner.sessions);
        let mut empty = None;
        for (addr, s) in sessions.iter_mut() {
            if s.rooms.remove(&room_id) {
                let _ = s.client.leave(room_id);
                if s.rooms.is_empty() {
                    empty = Some(addr.clone());
                }
            }
        }
        if let Some(addr) = empty {
            if let Some(s) = sessions.remove(&addr) {
                s.client.shutdown();
            }
        }
        drop(sessions);
        lock(&self.inner.access).remove(&room_id);
        lock(&self.inner.user_joins).remove(&room_id);
        self.inner.store.delete_setting(&draft_key(room_id))?;
        self.inner.store.forget_room(room_id)?;
        Ok(())
    }
}
