//! Row helpers shared by the host log and the client cache: message columns, paging,
//! and the synced-seq computation.

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use crate::protocol::files::Attachment;
use crate::protocol::{ChatMessage, Deleted};

pub(super) fn parse_uuid(s: String) -> Uuid {
    Uuid::parse_str(&s).unwrap_or(Uuid::nil())
}

pub(super) fn head_seq(conn: &Connection, room_id: Uuid) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM host_messages WHERE room_id = ?1",
        [room_id.to_string()],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v as u64)
}

pub(super) fn advance_synced(conn: &Connection, room_id: &str) -> rusqlite::Result<u64> {
    let mut synced: i64 = conn
        .query_row(
            "SELECT synced_seq FROM joined_rooms WHERE room_id = ?1",
            [room_id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let mut stmt = conn.prepare_cached(
        "SELECT seq FROM messages WHERE room_id = ?1 AND seq > ?2 ORDER BY seq LIMIT 1000",
    )?;
    loop {
        let seqs: Vec<i64> = stmt
            .query_map(params![room_id, synced], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let before = synced;
        for s in &seqs {
            if *s == synced + 1 {
                synced = *s;
            } else {
                break;
            }
        }
        if synced == before || seqs.len() < 1000 {
            break;
        }
    }
    conn.execute(
        "UPDATE joined_rooms SET synced_seq = ?2 WHERE room_id = ?1",
        params![room_id, synced],
    )?;
    Ok(synced as u64)
}

/// The columns of a message, in every message table, in [`row_to_msg`]'s order.
pub(super) const MSG_COLS: &str = "room_id, seq, ts, user_id, author, client_msg_id, text, kind, \
     verified, target, reply_to, mentions, mentions_room, deleted_seq, deleted_by, deleted_by_owner, attachments";

/// [`MSG_COLS`] as numbered parameters.
pub(super) const MSG_PARAMS: &str =
    "?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17";

pub(super) fn row_to_msg(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    let seq_col = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?.map(|v| v as u64))
    };
    let deleted = match (seq_col(13)?, r.get::<_, Option<String>>(14)?) {
        (Some(seq), Some(by)) => Some(Deleted {
            seq,
            by: parse_uuid(by),
            by_owner: r.get(15)?,
        }),
        _ => None,
    };
    Ok(ChatMessage {
        room_id: parse_uuid(r.get(0)?),
        seq: r.get::<_, i64>(1)? as u64,
        ts: r.get(2)?,
        user_id: parse_uuid(r.get(3)?),
        author: r.get(4)?,
        client_msg_id: r.get(5)?,
        text: r.get(6)?,
        kind: r.get(7)?,
        verified: r.get(8)?,
        target: seq_col(9)?,
        reply_to: seq_col(10)?,
        mentions: mentions_from_sql(r.get(11)?),
        mentions_room: r.get(12)?,
        deleted,
        attachments: attachments_from_sql(r.get(16)?),
    })
}

/// A message's columns as parameters, in [`MSG_COLS`]'s order.
pub(super) fn msg_params(m: &ChatMessage) -> [Box<dyn rusqlite::ToSql + '_>; 17] {
    let opt_seq = |v: Option<u64>| v.map(|s| i64::try_from(s).unwrap_or(i64::MAX));
    [
        Box::new(m.room_id.to_string()),
        Box::new(m.seq as i64),
        Box::new(m.ts),
        Box::new(m.user_id.to_string()),
        Box::new(m.author.as_str()),
        Box::new(m.client_msg_id.as_str()),
        Box::new(m.text.as_str()),
        Box::new(m.kind.as_deref()),
        Box::new(m.verified),
        Box::new(opt_seq(m.target)),
        Box::new(opt_seq(m.reply_to)),
        Box::new(mentions_to_sql(&m.mentions)),
        Box::new(m.mentions_room),
        Box::new(opt_seq(m.deleted.map(|d| d.seq))),
        Box::new(m.deleted.map(|d| d.by.to_string())),
        Box::new(m.deleted.is_some_and(|d| d.by_owner)),
        Box::new(attachments_to_sql(&m.attachments)),
    ]
}

/// Attachments are kept as their JSON array (NULL for none).
pub(super) fn attachments_to_sql(list: &[Attachment]) -> Option<String> {
    (!list.is_empty()).then(|| serde_json::to_string(list).unwrap_or_default())
}

fn attachments_from_sql(s: Option<String>) -> Vec<Attachment> {
    s.and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default()
}

/// Mentions are kept as a space-separated list of user ids (NULL for none).
pub(super) fn mentions_to_sql(ids: &[Uuid]) -> Option<String> {
    (!ids.is_empty()).then(|| {
        ids.iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    })
}

fn mentions_from_sql(s: Option<String>) -> Vec<Uuid> {
    s.map(|s| {
        s.split(' ')
            .filter_map(|id| Uuid::parse_str(id).ok())
            .collect()
    })
    .unwrap_or_default()
}

pub(super) fn page_after(
    conn: &Connection,
    table: &str,
    room_id: Uuid,
    after: u64,
    upto: u64,
    limit: u32,
) -> rusqlite::Result<Vec<ChatMessage>> {
    // Seqs are SQLite integers (i64): a bound past i64::MAX is past every seq (an `as`
    // cast would wrap it to a negative number and select from the start).
    let upto = i64::try_from(upto).unwrap_or(i64::MAX);
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MSG_COLS} FROM {table} WHERE room_id = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq ASC LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(
            params![room_id.to_string(), after, upto, limit as i64],
            row_to_msg,
        )?
        .collect();
    rows
}

pub(super) fn page_before(
    conn: &Connection,
    table: &str,
    room_id: Uuid,
    before: Option<u64>,
    limit: u32,
) -> rusqlite::Result<Vec<ChatMessage>> {
    let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MSG_COLS} FROM {table} WHERE room_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3"
    ))?;
    let mut rows: Vec<ChatMessage> = stmt
        .query_map(
            params![room_id.to_string(), before, limit as i64],
            row_to_msg,
        )?
        .collect::<rusqlite::Result<_>>()?;
    rows.reverse();
    Ok(rows)
}
