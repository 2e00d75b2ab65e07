//! Row helpers shared by the host log and the client cache: message columns, paging,
//! and the synced-seq computation.

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use crate::protocol::ChatMessage;

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

pub(super) const MSG_COLS: &str =
    "room_id, seq, ts, user_id, author, client_msg_id, text, kind, verified";

pub(super) fn row_to_msg(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
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
    })
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
