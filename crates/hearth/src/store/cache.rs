//! The client side: rooms joined, the cache of their messages and how far it is
//! complete, messages the host no longer has, and what a room list shows.

use std::collections::HashMap;

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::rows::*;
use super::search;
use super::*;
use crate::protocol::{now_ms, relations, ChatMessage};

impl Store {
    /// Records (or refreshes) a room this install has joined.
    pub fn upsert_joined_room(&self, room: &JoinedRoom) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO joined_rooms (room_id, name, address, host_id, host_name, has_passcode, joined_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (room_id) DO UPDATE SET name = excluded.name, address = excluded.address,
                   host_id = COALESCE(excluded.host_id, host_id), host_name = COALESCE(excluded.host_name, host_name),
                   has_passcode = excluded.has_passcode",
                params![
                    room.room_id.to_string(),
                    room.name,
                    room.address,
                    room.host_id.map(|h| h.to_string()),
                    room.host_name,
                    room.has_passcode,
                    now_ms()
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn joined_rooms(&self) -> Result<Vec<JoinedRoom>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT room_id, name, address, host_id, host_name, has_passcode, synced_seq, read_seq
                 FROM joined_rooms ORDER BY joined_at",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(JoinedRoom {
                    room_id: parse_uuid(r.get::<_, String>(0)?),
                    name: r.get(1)?,
                    address: r.get(2)?,
                    host_id: r
                        .get::<_, Option<String>>(3)?
                        .and_then(|s| Uuid::parse_str(&s).ok()),
                    host_name: r.get(4)?,
                    has_passcode: r.get(5)?,
                    synced_seq: r.get::<_, i64>(6)? as u64,
                    read_seq: r.get::<_, i64>(7)? as u64,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    pub fn joined_room(&self, room_id: Uuid) -> Result<Option<JoinedRoom>> {
        Ok(self
            .joined_rooms()?
            .into_iter()
            .find(|r| r.room_id == room_id))
    }

    pub fn forget_room(&self, room_id: Uuid) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let id = room_id.to_string();
        search::unindex_room(&tx, &id, 0).map_err(|e| self.err(e))?;
        for sql in [
            "DELETE FROM joined_rooms WHERE room_id = ?1",
            "DELETE FROM messages WHERE room_id = ?1",
            "DELETE FROM outbox WHERE room_id = ?1",
            "DELETE FROM resume_tokens WHERE room_id = ?1",
        ] {
            tx.execute(sql, [&id]).map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Moves the cached messages of `room_id` after `head` to the messages "not on the
    /// host" and brings the synced and read seqs back to `head`: the host's log went back
    /// in time, and what it no longer has must not pass for what it has. Returns how many
    /// were set aside.
    pub fn set_aside_beyond(&self, room_id: Uuid, head: u64) -> Result<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let (id, head) = (room_id.to_string(), i64::try_from(head).unwrap_or(i64::MAX));
        search::unindex_room(&tx, &id, head).map_err(|e| self.err(e))?;
        // Edits set aside change what their (kept) targets read: index those again after.
        let edited: Vec<i64> = tx
            .prepare(
                "SELECT DISTINCT target FROM messages
                 WHERE room_id = ?1 AND seq > ?2 AND kind = 'edit' AND target <= ?2",
            )
            .and_then(|mut st| {
                st.query_map(params![id, head], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<i64>>>()
            })
            .map_err(|e| self.err(e))?;
        let moved = tx
            .execute(
                &format!(
                    "INSERT INTO unhosted_messages ({MSG_COLS}, set_aside_at)
                     SELECT {MSG_COLS}, ?3 FROM messages WHERE room_id = ?1 AND seq > ?2"
                ),
                params![id, head, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        tx.execute(
            "DELETE FROM messages WHERE room_id = ?1 AND seq > ?2",
            params![id, head],
        )
        .map_err(|e| self.err(e))?;
        for target in edited {
            search::reindex(&tx, &id, target).map_err(|e| self.err(e))?;
        }
        tx.execute(
            "UPDATE joined_rooms SET synced_seq = MIN(synced_seq, ?2), read_seq = MIN(read_seq, ?2)
             WHERE room_id = ?1",
            params![id, head],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(moved)
    }

    /// The messages of `room_id` that this computer has and its host no longer has.
    pub fn unhosted_messages(&self, room_id: Uuid) -> Result<Vec<ChatMessage>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {MSG_COLS} FROM unhosted_messages WHERE room_id = ?1 ORDER BY set_aside_at, seq"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([room_id.to_string()], row_to_msg)
            .and_then(|r| r.collect())
            .map_err(|e| self.err(e));
        rows
    }

    /// Caches messages (idempotent by `(room, seq)`) and advances the room's synced seq.
    /// A cached message that the host now has another message in place of (same seq,
    /// another sender or id: its log went back and on) is set aside as "not on the host"
    /// and replaced. Returns the synced seq and how many were set aside.
    ///
    /// `contiguous_from`: when these messages are known to follow `synced_seq` with no
    /// gap before them (a resume page, or the latest page on a first join), the synced
    /// point may jump to that floor first.
    pub fn cache_messages(
        &self,
        room_id: Uuid,
        msgs: &[ChatMessage],
        floor: Option<u64>,
    ) -> Result<Cached> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut set_aside = 0;
        {
            let mut ins = tx
                .prepare_cached(&format!(
                    "INSERT OR IGNORE INTO messages ({MSG_COLS}) VALUES ({MSG_PARAMS})"
                ))
                .map_err(|e| self.err(e))?;
            let mut same = tx
                .prepare_cached(
                    "SELECT user_id = ?3 AND client_msg_id = ?4 FROM messages WHERE room_id = ?1 AND seq = ?2",
                )
                .map_err(|e| self.err(e))?;
            let mut aside = tx
                .prepare_cached(&format!(
                    "INSERT INTO unhosted_messages ({MSG_COLS}, set_aside_at)
                     SELECT {MSG_COLS}, ?3 FROM messages WHERE room_id = ?1 AND seq = ?2"
                ))
                .map_err(|e| self.err(e))?;
            let mut drop_row = tx
                .prepare_cached("DELETE FROM messages WHERE room_id = ?1 AND seq = ?2")
                .map_err(|e| self.err(e))?;
            // Who wrote it, and the earliest we know of them in this room ("new" marks).
            let mut seen = tx
                .prepare_cached(
                    "INSERT INTO room_people (room_id, user_id, name, first_seen_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (room_id, user_id) DO UPDATE
                     SET first_seen_at = MIN(first_seen_at, excluded.first_seen_at)",
                )
                .map_err(|e| self.err(e))?;
            for m in msgs {
                let (room, seq, user) =
                    (m.room_id.to_string(), m.seq as i64, m.user_id.to_string());
                seen.execute(params![room, user, m.author, m.ts])
                    .map_err(|e| self.err(e))?;
                let fields = msg_params(m);
                let fields = rusqlite::params_from_iter(fields.iter());
                if ins.execute(fields).map_err(|e| self.err(e))? == 1 {
                    apply(&tx, m).map_err(|e| self.err(e))?;
                    continue;
                }
                let unchanged: bool = same
                    .query_row(params![room, seq, user, m.client_msg_id], |r| r.get(0))
                    .map_err(|e| self.err(e))?;
                if !unchanged {
                    aside
                        .execute(params![room, seq, now_ms()])
                        .map_err(|e| self.err(e))?;
                    search::unindex_room_seq(&tx, &room, seq).map_err(|e| self.err(e))?;
                    drop_row
                        .execute(params![room, seq])
                        .map_err(|e| self.err(e))?;
                    let fields = msg_params(m);
                    ins.execute(rusqlite::params_from_iter(fields.iter()))
                        .map_err(|e| self.err(e))?;
                    apply(&tx, m).map_err(|e| self.err(e))?;
                    set_aside += 1;
                }
            }
        }
        let id = room_id.to_string();
        if let Some(floor) = floor {
            tx.execute(
                "UPDATE joined_rooms SET synced_seq = MAX(synced_seq, ?2) WHERE room_id = ?1",
                params![id, floor as i64],
            )
            .map_err(|e| self.err(e))?;
        }
        let synced = advance_synced(&tx, &id).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Cached { synced, set_aside })
    }

    /// The highest seq up to which this client has every message since it joined.
    pub fn synced_seq(&self, room_id: Uuid) -> Result<u64> {
        self.conn()
            .query_row(
                "SELECT synced_seq FROM joined_rooms WHERE room_id = ?1",
                [room_id.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(0) as u64)
            .map_err(|e| self.err(e))
    }

    pub fn set_read_seq(&self, room_id: Uuid, seq: u64) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE joined_rooms SET read_seq = MAX(read_seq, ?2) WHERE room_id = ?1",
                params![room_id.to_string(), seq as i64],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Cached messages of a room, ascending; `before_seq` pages backwards.
    pub fn cached_messages(
        &self,
        room_id: Uuid,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>> {
        let conn = self.conn();
        page_before(&conn, "messages", room_id, before_seq, limit).map_err(|e| self.err(e))
    }

    /// Messages after `read_seq` written by someone other than `me` (actions on messages,
    /// such as edits and reactions, are not new messages).
    pub fn unread_count(&self, room_id: Uuid, me: Uuid) -> Result<u32> {
        self.conn()
            .query_row(
                "SELECT COUNT(*) FROM messages m JOIN joined_rooms j ON j.room_id = m.room_id
                 WHERE m.room_id = ?1 AND m.seq > j.read_seq AND m.user_id != ?2 AND (m.kind IS NULL OR m.kind NOT IN ('edit', 'delete', 'react', 'unreact'))",
                params![room_id.to_string(), me.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u32)
            .map_err(|e| self.err(e))
    }

    /// Unread messages that mention `me` by id, or the whole room.
    pub fn unread_mentions(&self, room_id: Uuid, me: Uuid) -> Result<u32> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT COUNT(*) FROM messages m JOIN joined_rooms j ON j.room_id = m.room_id
                     WHERE m.room_id = ?2 AND m.seq > j.read_seq AND m.user_id != ?1 AND {MENTIONS_ME}"
                ),
                params![me.to_string(), room_id.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .map_err(|e| self.err(e))
    }

    /// Per joined room, what a room list shows: unread count (messages after the read
    /// seq that are not `me`'s), newest cached message, pinned fingerprint, and the
    /// setting stored under `setting_key(room)` (the app's drafts). A fixed number of
    /// queries however many rooms there are.
    pub fn room_overviews(
        &self,
        me: Uuid,
        setting_key: impl Fn(Uuid) -> String,
    ) -> Result<Vec<RoomOverview>> {
        let rooms = self.joined_rooms()?;
        let conn = self.conn();
        let err = |e| self.err(e);
        let by_room = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<HashMap<String, i64>> {
            let mut stmt = conn.prepare(sql).map_err(err)?;
            let rows = stmt
                .query_map(p, |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .and_then(|r| r.collect())
                .map_err(err);
            rows
        };
        let unread = by_room(
            "SELECT m.room_id, COUNT(*) FROM messages m JOIN joined_rooms j ON j.room_id = m.room_id
             WHERE m.seq > j.read_seq AND m.user_id != ?1 AND (m.kind IS NULL OR m.kind NOT IN ('edit', 'delete', 'react', 'unreact')) GROUP BY m.room_id",
            &[&me.to_string()],
        )?;
        let unhosted = by_room(
            "SELECT room_id, COUNT(*) FROM unhosted_messages GROUP BY room_id",
            &[],
        )?;
        let mentions = by_room(
            &format!(
                "SELECT m.room_id, COUNT(*) FROM messages m JOIN joined_rooms j ON j.room_id = m.room_id
                 WHERE m.seq > j.read_seq AND m.user_id != ?1 AND {MENTIONS_ME} GROUP BY m.room_id"
            ),
            &[&me.to_string()],
        )?;
        let mut last = HashMap::new();
        {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {MSG_COLS} FROM messages WHERE (room_id, seq) IN
                     (SELECT room_id, MAX(seq) FROM messages WHERE {NOT_AN_ACTION} GROUP BY room_id)"
                ))
                .map_err(err)?;
            let rows: Vec<ChatMessage> = stmt
                .query_map([], row_to_msg)
                .and_then(|r| r.collect())
                .map_err(err)?;
            for m in rows {
                last.insert(m.room_id, m);
            }
        }
        let strings = |sql: &str| -> Result<HashMap<String, String>> {
            let mut stmt = conn.prepare(sql).map_err(err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .and_then(|r| r.collect())
                .map_err(err);
            rows
        };
        let pins = strings("SELECT key, fingerprint FROM pins WHERE key LIKE 'room:%'")?;
        let settings = strings("SELECT key, value FROM settings")?;
        Ok(rooms
            .into_iter()
            .map(|room| {
                let id = room.room_id;
                RoomOverview {
                    unread: unread
                        .get(&id.to_string())
                        .map(|&n| u32::try_from(n).unwrap_or(u32::MAX))
                        .unwrap_or(0),
                    mentions: mentions
                        .get(&id.to_string())
                        .map(|&n| u32::try_from(n).unwrap_or(u32::MAX))
                        .unwrap_or(0),
                    last_message: last.remove(&id),
                    unhosted: unhosted
                        .get(&id.to_string())
                        .map(|&n| u32::try_from(n).unwrap_or(u32::MAX))
                        .unwrap_or(0),
                    fingerprint: pins.get(&super::pin_key_room(id)).cloned(),
                    setting: settings.get(&setting_key(id)).cloned(),
                    room,
                }
            })
            .collect())
    }

    /// [`Store::room_overviews`] for one room.
    pub fn room_overview(
        &self,
        room_id: Uuid,
        me: Uuid,
        setting_key: impl Fn(Uuid) -> String,
    ) -> Result<Option<RoomOverview>> {
        let Some(room) = self.joined_room(room_id)? else {
            return Ok(None);
        };
        Ok(Some(RoomOverview {
            unread: self.unread_count(room_id, me)?,
            mentions: self.unread_mentions(room_id, me)?,
            last_message: self.last_message(room_id)?,
            unhosted: u32::try_from(self.unhosted_messages(room_id)?.len()).unwrap_or(u32::MAX),
            fingerprint: self.pinned(&super::pin_key_room(room_id))?,
            setting: self.setting(&setting_key(room_id))?,
            room,
        }))
    }

    /// The newest cached message of a room, not counting actions (a reaction or an edit
    /// is not what a room list previews).
    pub fn last_message(&self, room_id: Uuid) -> Result<Option<ChatMessage>> {
        self.conn()
            .query_row(
                &format!(
                    "SELECT {MSG_COLS} FROM messages WHERE room_id = ?1 AND {NOT_AN_ACTION}
                     ORDER BY seq DESC LIMIT 1"
                ),
                [room_id.to_string()],
                row_to_msg,
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every cached message of a room, ascending.
    pub fn all_cached_messages(&self, room_id: Uuid) -> Result<Vec<ChatMessage>> {
        let conn = self.conn();
        page_after(&conn, "messages", room_id, 0, u64::MAX, u32::MAX).map_err(|e| self.err(e))
    }
}

/// A row that is a message, not an action on one (protocol §3.9).
const NOT_AN_ACTION: &str = "(kind IS NULL OR kind NOT IN ('edit', 'delete', 'react', 'unreact'))";

/// A message (`m`) that mentions the user `?1`: mentions are space-separated user ids.
const MENTIONS_ME: &str = "(m.kind IS NULL AND m.deleted_seq IS NULL AND (m.mentions_room = 1 OR instr(m.mentions, ?1) > 0))";

/// Applies a newly cached message to what the cache shows: a deletion erases its target's
/// text and its edits' texts (the cache forgets them, it does not only hide them); an
/// edit changes what search finds; a message is indexed.
fn apply(conn: &rusqlite::Connection, m: &ChatMessage) -> rusqlite::Result<()> {
    let room = m.room_id.to_string();
    match (m.kind.as_deref(), m.target) {
        (Some(relations::DELETE), Some(target)) => {
            let target = i64::try_from(target).unwrap_or(i64::MAX);
            // The host refuses a delete by anyone but the author or the host owner; the
            // cache has no list of owners, so it takes the host's word here.
            conn.prepare_cached(
                "UPDATE messages SET text = '', mentions = NULL, mentions_room = 0, attachments = NULL,
                   deleted_seq = ?3, deleted_by = ?4,
                   deleted_by_owner = (user_id != ?4)
                 WHERE room_id = ?1 AND seq = ?2 AND kind IS NULL",
            )?
            .execute(params![room, target, m.seq as i64, m.user_id.to_string()])?;
            conn.prepare_cached(
                // INDEXED BY: the planner otherwise walks the whole room (docs/performance.md).
                "UPDATE messages INDEXED BY messages_target SET text = '', mentions = NULL, mentions_room = 0
                 WHERE room_id = ?1 AND target = ?2 AND kind = 'edit'",
            )?
            .execute(params![room, target])?;
            search::reindex(conn, &room, target)
        }
        (Some(relations::EDIT), Some(target)) => {
            search::reindex(conn, &room, i64::try_from(target).unwrap_or(i64::MAX))
        }
        (None, _) => search::reindex(conn, &room, m.seq as i64),
        _ => Ok(()),
    }
}

/// A joined room with what a room list shows of it ([`Store::room_overviews`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RoomOverview {
    pub room: JoinedRoom,
    pub unread: u32,
    /// Of the unread, those that mention `me` (by id, or `@room`).
    pub mentions: u32,
    pub last_message: Option<ChatMessage>,
    /// Messages kept here that the host no longer has ([`Store::unhosted_messages`]).
    pub unhosted: u32,
    pub fingerprint: Option<String>,
    pub setting: Option<String>,
}

/// What [`Store::cache_messages`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cached {
    /// The highest seq up to which the cache has every message.
    pub synced: u64,
    /// Cached messages replaced by the host's different ones, kept apart.
    pub set_aside: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JoinedRoom {
    pub room_id: Uuid,
    pub name: String,
    /// `host:port` the room was last reached at.
    pub address: String,
    pub host_id: Option<Uuid>,
    pub host_name: Option<String>,
    pub has_passcode: bool,
    pub synced_seq: u64,
    pub read_seq: u64,
}
