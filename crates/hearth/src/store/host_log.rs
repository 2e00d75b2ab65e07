//! The host side: rooms this install hosts, the host log writer (the only one that
//! assigns seqs) and the readers that page it.

use std::collections::HashMap;
use std::path::PathBuf;

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::rows::*;
use super::*;
use crate::protocol::files::Attachment;
use crate::protocol::{now_ms, relations, ChatMessage, Visibility};

impl Store {
    /// Finds the hosted room called `name`, or creates it. The passcode hash given
    /// replaces the stored one: the host's current settings define the room.
    pub fn open_hosted_room(&self, name: &str, pass_hash: Option<&str>) -> Result<HostedRoom> {
        let conn = self.conn();
        let found: Option<String> = conn
            .query_row(
                "SELECT room_id FROM hosted_rooms WHERE name = ?1 ORDER BY created_at LIMIT 1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let room_id = match found.and_then(|s| Uuid::parse_str(&s).ok()) {
            Some(id) => {
                // A changed passcode revokes every resume token handed out under the old one.
                let changed = conn
                    .execute(
                        "UPDATE hosted_rooms SET pass_hash = ?2 WHERE room_id = ?1 AND pass_hash IS NOT ?2",
                        params![id.to_string(), pass_hash],
                    )
                    .map_err(|e| self.err(e))?;
                if changed > 0 {
                    conn.execute(
                        "DELETE FROM room_tokens WHERE room_id = ?1",
                        [id.to_string()],
                    )
                    .map_err(|e| self.err(e))?;
                }
                id
            }
            None => {
                let id = Uuid::new_v4();
                conn.execute(
                    "INSERT INTO hosted_rooms (room_id, name, pass_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![id.to_string(), name, pass_hash, now_ms()],
                )
                .map_err(|e| self.err(e))?;
                id
            }
        };
        let head_seq = head_seq(&conn, room_id).map_err(|e| self.err(e))?;
        let policy = policy(&conn, room_id).map_err(|e| self.err(e))?;
        Ok(HostedRoom {
            room_id,
            name: name.to_string(),
            pass_hash: pass_hash.map(str::to_string),
            head_seq,
            policy,
        })
    }

    /// The hosted room called `name`, if any.
    pub fn find_hosted_room(&self, name: &str) -> Result<Option<HostedRoom>> {
        Ok(self.hosted_rooms()?.into_iter().find(|r| r.name == name))
    }

    /// Every room this install hosts.
    pub fn hosted_rooms(&self) -> Result<Vec<HostedRoom>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT room_id, name, pass_hash, visibility, members_only FROM hosted_rooms
                 ORDER BY created_at",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    RoomPolicy::from_row(&r.get::<_, String>(3)?, r.get(4)?),
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for (id, name, pass_hash, policy) in rows {
            let Ok(room_id) = Uuid::parse_str(&id) else {
                continue;
            };
            let head_seq = head_seq(&conn, room_id).map_err(|e| self.err(e))?;
            out.push(HostedRoom {
                room_id,
                name,
                pass_hash,
                head_seq,
                policy,
            });
        }
        Ok(out)
    }
}

/// A room this install hosts.
#[derive(Debug, Clone)]
pub struct HostedRoom {
    pub room_id: Uuid,
    pub name: String,
    /// Argon2 PHC string, when the room has a passcode.
    pub pass_hash: Option<String>,
    pub head_seq: u64,
    pub policy: RoomPolicy,
}

/// Who may see and join a hosted room, beyond its passcode (protocol §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoomPolicy {
    pub visibility: Visibility,
    /// Only identities on the room's roster (admitted before) may join.
    pub members_only: bool,
}

impl RoomPolicy {
    fn from_row(visibility: &str, members_only: bool) -> RoomPolicy {
        RoomPolicy {
            // An unknown value (a newer build's) is treated as the stricter one.
            visibility: Visibility::parse(visibility).unwrap_or(Visibility::Unlisted),
            members_only,
        }
    }
}

fn policy(conn: &Connection, room_id: Uuid) -> rusqlite::Result<RoomPolicy> {
    conn.query_row(
        "SELECT visibility, members_only FROM hosted_rooms WHERE room_id = ?1",
        [room_id.to_string()],
        |r| Ok(RoomPolicy::from_row(&r.get::<_, String>(0)?, r.get(1)?)),
    )
}

/// A message to append to the host log.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub room_id: Uuid,
    pub user_id: Uuid,
    pub author: String,
    pub client_msg_id: String,
    pub text: String,
    /// The host checked the author's key (protocol §3.7).
    pub verified: bool,
    /// An action (protocol §3.9), or None for a message.
    pub kind: Option<String>,
    pub target: Option<u64>,
    pub reply_to: Option<u64>,
    pub mentions: Vec<Uuid>,
    pub mentions_room: bool,
    /// The sender is the room's host owner, verified: may delete anyone's message.
    pub by_owner: bool,
    /// Files (protocol §3.10): each must be held by the room already.
    pub attachments: Vec<Attachment>,
}

/// What happened to one appended message.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    /// Stored now with a fresh seq.
    Stored(ChatMessage),
    /// Already stored earlier under the same (user, client message id).
    Duplicate(ChatMessage),
    /// An action the log's rules refuse (protocol §3.9); nothing was stored.
    Refused(Refusal),
}

/// Why an action was refused, checked inside the commit so that no other append can
/// slip between the check and the write (a delete racing an edit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such message in the room, or one the action cannot apply to.
    UnknownTarget,
    /// The target is deleted.
    TargetDeleted,
    /// Someone else's message.
    NotAuthor,
    /// An attachment names a file the room does not hold (with that size).
    FileMissing,
}

/// The stored facts about a target, as the rules need them.
struct TargetRow {
    user_id: String,
    kind: Option<String>,
    verified: bool,
    target: Option<i64>,
    deleted: bool,
}

/// The host log writer. Only one exists per hosting process; it alone assigns seqs,
/// which is what keeps them gap-free.
pub struct HostLog {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
    pub(super) next_seq: HashMap<Uuid, u64>,
}

impl HostLog {
    /// Appends a batch in one transaction (group commit). Either every message in the
    /// batch is durable when this returns `Ok`, or none is and no seq was consumed.
    pub fn append_batch(&mut self, batch: &[NewMessage]) -> Result<Vec<Appended>> {
        let snapshot = self.next_seq.clone();
        let result = self.try_append(batch);
        if result.is_err() {
            // The transaction rolled back; so do the seqs it had taken.
            self.next_seq = snapshot;
        }
        result.map_err(|e| StoreError::from_sqlite(e, &self.path))
    }

    fn try_append(&mut self, batch: &[NewMessage]) -> rusqlite::Result<Vec<Appended>> {
        let ts = now_ms();
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut find = tx.prepare_cached(&format!(
                "SELECT {MSG_COLS} FROM host_messages WHERE room_id = ?1 AND user_id = ?2 AND client_msg_id = ?3"
            ))?;
            // The insert itself detects a resend (the unique idempotency index): one index
            // walk per message instead of a lookup and then an insert. Only a duplicate
            // pays for the lookup of the original.
            let mut ins = tx.prepare_cached(
                "INSERT INTO host_messages (room_id, seq, ts, user_id, author, client_msg_id, text,
                   verified, kind, target, reply_to, mentions, mentions_room, attachments)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                 ON CONFLICT (room_id, user_id, client_msg_id) DO NOTHING",
            )?;
            for m in batch {
                let room = m.room_id.to_string();
                let user = m.user_id.to_string();
                let seq = match self.next_seq.get(&m.room_id) {
                    Some(s) => *s,
                    None => head_seq(&tx, m.room_id)? + 1,
                };
                let mut target = m.target;
                if m.kind.is_some() || m.reply_to.is_some() || !m.attachments.is_empty() {
                    // A resend is answered as such, whatever happened to its target since.
                    if let Some(orig) = find
                        .query_row(params![room, user, m.client_msg_id], row_to_msg)
                        .optional()?
                    {
                        out.push(Appended::Duplicate(orig));
                        continue;
                    }
                    match check_relations(&tx, m, seq)? {
                        Ok(t) => target = t,
                        Err(r) => {
                            out.push(Appended::Refused(r));
                            continue;
                        }
                    }
                    if !super::files::room_holds(&tx, &room, &m.attachments)? {
                        out.push(Appended::Refused(Refusal::FileMissing));
                        continue;
                    }
                }
                let inserted = ins.execute(params![
                    room,
                    seq as i64,
                    ts,
                    user,
                    m.author,
                    m.client_msg_id,
                    m.text,
                    m.verified,
                    m.kind,
                    target.map(|t| t as i64),
                    m.reply_to.map(|t| t as i64),
                    mentions_to_sql(&m.mentions),
                    m.mentions_room,
                    attachments_to_sql(&m.attachments)
                ])?;
                if inserted == 0 {
                    let orig = find.query_row(params![room, user, m.client_msg_id], row_to_msg)?;
                    out.push(Appended::Duplicate(orig));
                    continue;
                }
                self.next_seq.insert(m.room_id, seq + 1);
                if !m.attachments.is_empty() {
                    super::files::reference(&tx, &room, seq as i64, &m.attachments)?;
                }
                if m.kind.as_deref() == Some(relations::DELETE) {
                    if let Some(t) = target {
                        erase(&tx, &room, t as i64, seq as i64, &user, m.by_owner)?;
                    }
                }
                out.push(Appended::Stored(ChatMessage {
                    room_id: m.room_id,
                    seq,
                    ts,
                    user_id: m.user_id,
                    author: m.author.clone(),
                    client_msg_id: m.client_msg_id.clone(),
                    text: m.text.clone(),
                    kind: m.kind.clone(),
                    verified: m.verified,
                    target,
                    reply_to: m.reply_to,
                    mentions: m.mentions.clone(),
                    mentions_room: m.mentions_room,
                    deleted: None,
                    attachments: m.attachments.clone(),
                }));
            }
        }
        tx.commit()?;
        Ok(out)
    }
}

/// The log's rules for an action or a reply (protocol §3.9), against what is committed
/// (and what this batch wrote before it). Returns the target to store: an edit of an
/// edit is stored as an edit of the original.
fn check_relations(
    tx: &Connection,
    m: &NewMessage,
    seq: u64,
) -> rusqlite::Result<Result<Option<u64>, Refusal>> {
    let room = m.room_id.to_string();
    let load = |t: u64| -> rusqlite::Result<Option<TargetRow>> {
        if t == 0 || t >= seq {
            return Ok(None);
        }
        tx.prepare_cached(
            "SELECT user_id, kind, verified, target, deleted_seq IS NOT NULL FROM host_messages
             WHERE room_id = ?1 AND seq = ?2",
        )?
        .query_row(params![room, t as i64], |r| {
            Ok(TargetRow {
                user_id: r.get(0)?,
                kind: r.get(1)?,
                verified: r.get(2)?,
                target: r.get(3)?,
                deleted: r.get(4)?,
            })
        })
        .optional()
    };
    if let Some(r) = m.reply_to {
        match load(r)? {
            Some(t) if !relations::is_action(t.kind.as_deref()) => {}
            _ => return Ok(Err(Refusal::UnknownTarget)),
        }
    }
    let Some(kind) = m.kind.as_deref() else {
        return Ok(Ok(None));
    };
    let Some(mut target) = m.target else {
        return Ok(Err(Refusal::UnknownTarget));
    };
    let Some(mut row) = load(target)? else {
        return Ok(Err(Refusal::UnknownTarget));
    };
    if kind == relations::EDIT && row.kind.as_deref() == Some(relations::EDIT) {
        // Edits always point at the original (Matrix's rule).
        let Some(orig) = row.target.and_then(|t| u64::try_from(t).ok()) else {
            return Ok(Err(Refusal::UnknownTarget));
        };
        target = orig;
        let Some(r) = load(target)? else {
            return Ok(Err(Refusal::UnknownTarget));
        };
        row = r;
    }
    if relations::is_action(row.kind.as_deref()) {
        return Ok(Err(Refusal::UnknownTarget));
    }
    if row.deleted {
        return Ok(Err(Refusal::TargetDeleted));
    }
    // The same identity: the same user id, and verified if the message was (an
    // unverified client claiming a verified author's id is not that author).
    let author = row.user_id == m.user_id.to_string() && (m.verified || !row.verified);
    let allowed = match kind {
        relations::EDIT => author,
        relations::DELETE => author || m.by_owner,
        _ => true,
    };
    if !allowed {
        return Ok(Err(Refusal::NotAuthor));
    }
    Ok(Ok(Some(target)))
}

/// A deletion takes the text out of the log, not only out of view: the message's text,
/// mentions and files, and the texts of its edits. Reactions stay (they hold no text of
/// it). A file no other message of the room carries leaves the room; its bytes leave
/// the disk with the next sweep (`files::HostFiles::sweep`).
fn erase(
    tx: &Connection,
    room: &str,
    target: i64,
    seq: i64,
    by: &str,
    by_owner: bool,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE host_messages SET text = '', mentions = NULL, mentions_room = 0, attachments = NULL,
           deleted_seq = ?3, deleted_by = ?4,
           deleted_by_owner = ?5 AND user_id != ?4
         WHERE room_id = ?1 AND seq = ?2",
    )?
    .execute(params![room, target, seq, by, by_owner])?;
    tx.prepare_cached(
        // INDEXED BY: the planner otherwise walks the whole room inside the commit.
        "UPDATE host_messages INDEXED BY host_messages_target SET text = '', mentions = NULL,
           mentions_room = 0
         WHERE room_id = ?1 AND target = ?2 AND kind = 'edit'",
    )?
    .execute(params![room, target])?;
    super::files::unreference(tx, room, target)?;
    Ok(())
}

/// A read-only view of the host log, for history pages and resumes.
pub struct Reader {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
}

impl Reader {
    pub fn after(
        &self,
        room_id: Uuid,
        after_seq: u64,
        upto: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>> {
        page_after(&self.conn, "host_messages", room_id, after_seq, upto, limit)
            .map_err(|e| StoreError::from_sqlite(e, &self.path))
    }

    pub fn before(
        &self,
        room_id: Uuid,
        before_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<ChatMessage>> {
        page_before(&self.conn, "host_messages", room_id, before_seq, limit)
            .map_err(|e| StoreError::from_sqlite(e, &self.path))
    }

    pub fn head_seq(&self, room_id: Uuid) -> Result<u64> {
        head_seq(&self.conn, room_id).map_err(|e| StoreError::from_sqlite(e, &self.path))
    }
}
