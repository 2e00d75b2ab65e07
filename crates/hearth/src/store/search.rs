//! Full-text search over the local cache (SQLite FTS5): one document per shown message,
//! holding its current text (the newest edit's, by seq); a deleted message has none.
//!
//! A document's rowid (`messages.search_doc`) is `ts << 20` plus a small tie-breaker,
//! so FTS5 walks matches newest first with `ORDER BY rowid DESC` and stops at the page
//! size: the first page costs the same whether a word matches ten messages or a million.
//! Date filters are rowid ranges.

use rusqlite::{params, Connection, OptionalExtension};
use rusqlite_migration::HookResult;
use uuid::Uuid;

use super::rows::parse_uuid;
use super::*;
use crate::protocol::{relations, Timestamp};

/// Bits below the timestamp in a document id: 2^20 messages can share a millisecond.
const TIE_BITS: u32 = 20;
/// A page of results is at most this long.
pub const MAX_SEARCH_PAGE: u32 = 200;
/// Highlighted text in a snippet is between these (private-use characters, never typed
/// in a message), so a renderer can mark it without reading any markup from the text.
pub const MARK_START: char = '\u{E000}';
pub const MARK_END: char = '\u{E001}';

/// The migration hook: indexes every message cached before search existed.
pub(super) fn index_existing(tx: &rusqlite::Transaction<'_>) -> HookResult {
    let rows: Vec<(String, i64)> = tx
        .prepare("SELECT room_id, seq FROM messages WHERE kind IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (room, seq) in rows {
        reindex(tx, &room, seq)?;
    }
    Ok(())
}

/// Brings the document of message `seq` in line with the cache: its current text if it
/// is a message to show, no document if it is an action, deleted, or not cached.
pub(super) fn reindex(conn: &Connection, room: &str, seq: i64) -> rusqlite::Result<()> {
    type Row = (
        Option<String>,
        Option<i64>,
        i64,
        String,
        Option<i64>,
        String,
    );
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT kind, deleted_seq, ts, user_id, search_doc, text FROM messages
             WHERE room_id = ?1 AND seq = ?2",
        )?
        .query_row(params![room, seq], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .optional()?;
    let Some((kind, deleted, ts, user, doc, text)) = row else {
        return Ok(());
    };
    if relations::is_action(kind.as_deref()) || deleted.is_some() {
        return unindex_doc(conn, room, seq, doc);
    }
    // The host lets only the author edit; the check here keeps a hostile host's edit
    // from changing what search finds under someone else's name.
    let current: String = conn
        .prepare_cached(
            // INDEXED BY: for `ORDER BY seq` the planner chose a backward scan of the
            // whole room, once per message indexed: ingest went quadratic (1,400 msg/s
            // at 100k messages; 27,000 with the index, docs/performance.md).
            "SELECT text FROM messages INDEXED BY messages_target
             WHERE room_id = ?1 AND target = ?2 AND kind = 'edit' AND user_id = ?3
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(params![room, seq, user], |r| r.get(0))
        .optional()?
        .unwrap_or(text);
    match doc {
        Some(doc) => {
            conn.prepare_cached("UPDATE message_search SET text = ?2 WHERE rowid = ?1")?
                .execute(params![doc, current])?;
        }
        None => {
            let doc = free_doc(conn, ts, seq)?;
            conn.prepare_cached(
                "INSERT INTO message_search (rowid, text, room_id, seq, user_id, room_key, user_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![doc, current, room, seq, user, key_token(room), key_token(&user)])?;
            conn.prepare_cached(
                "UPDATE messages SET search_doc = ?3 WHERE room_id = ?1 AND seq = ?2",
            )?
            .execute(params![room, seq, doc])?;
        }
    }
    Ok(())
}

fn unindex_doc(conn: &Connection, room: &str, seq: i64, doc: Option<i64>) -> rusqlite::Result<()> {
    if let Some(doc) = doc {
        conn.prepare_cached("DELETE FROM message_search WHERE rowid = ?1")?
            .execute([doc])?;
        conn.prepare_cached(
            "UPDATE messages SET search_doc = NULL WHERE room_id = ?1 AND seq = ?2",
        )?
        .execute(params![room, seq])?;
    }
    Ok(())
}

/// Drops the document of one cached message (about to be replaced).
pub(super) fn unindex_room_seq(conn: &Connection, room: &str, seq: i64) -> rusqlite::Result<()> {
    let doc: Option<i64> = conn
        .prepare_cached("SELECT search_doc FROM messages WHERE room_id = ?1 AND seq = ?2")?
        .query_row(params![room, seq], |r| r.get(0))
        .optional()?
        .flatten();
    unindex_doc(conn, room, seq, doc)
}

/// Drops the documents of a room's cached messages with seq > `after`.
pub(super) fn unindex_room(conn: &Connection, room: &str, after: i64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM message_search WHERE rowid IN
         (SELECT search_doc FROM messages WHERE room_id = ?1 AND seq > ?2 AND search_doc IS NOT NULL)",
        params![room, after],
    )?;
    Ok(())
}

/// A room or user id as one FTS5 token (hex, no dashes), so that a room or author
/// filter is part of the match: FTS5 intersects the short list of that author's
/// documents with the words' instead of checking every match one by one (an author with
/// no match took 0.5 s over 1M messages that way).
fn key_token(id: &str) -> String {
    format!("k{}", id.replace('-', ""))
}

/// A document id for a message at `ts`: time-ordered, and free.
fn free_doc(conn: &Connection, ts: Timestamp, seq: i64) -> rusqlite::Result<i64> {
    let ts = ts.clamp(0, (i64::MAX >> TIE_BITS) - 1);
    let mask = (1i64 << TIE_BITS) - 1;
    let mut doc = (ts << TIE_BITS) | (seq & mask);
    let mut taken = conn.prepare_cached("SELECT 1 FROM message_search WHERE rowid = ?1")?;
    // Messages committed in one batch share a ts; their seqs differ, so a clash needs
    // two rooms with the same seq in the same millisecond: rare, and one step each.
    while taken.exists([doc])? {
        doc += 1;
    }
    Ok(doc)
}

/// What to look for ([`Store::search`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchQuery {
    /// Words (all must match), `"a phrase"`, and `prefix*`.
    pub text: String,
    pub room_id: Option<Uuid>,
    pub author: Option<Uuid>,
    /// Messages at or after this time (ms since the epoch).
    pub since: Option<Timestamp>,
    /// Messages before this time.
    pub until: Option<Timestamp>,
    /// The next page: results older than this hit's `doc`.
    pub before_doc: Option<i64>,
    pub limit: u32,
}

/// One message found, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub room_id: Uuid,
    pub seq: u64,
    pub ts: Timestamp,
    pub user_id: Uuid,
    pub author: String,
    /// Part of the current text around the matches, the matches between
    /// [`MARK_START`] and [`MARK_END`].
    pub snippet: String,
    /// For paging: pass as `before_doc` to get the hits after this one.
    pub doc: i64,
}

/// Turns what a person typed into an FTS5 query that cannot be a syntax error: every
/// word becomes a quoted term (FTS5's operators and column filters are not taken from
/// the input), `"…"` stays a phrase, and a trailing `*` makes a prefix. None when
/// nothing searchable is left.
pub fn fts5_query(input: &str) -> Option<String> {
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    let mut terms = Vec::new();
    for (i, part) in input.split('"').enumerate() {
        if i % 2 == 1 {
            // Inside quotes: a phrase.
            if !part.trim().is_empty() {
                terms.push(quote(part.trim()));
            }
            continue;
        }
        for word in part.split_whitespace() {
            let (word, prefix) = match word.strip_suffix('*') {
                Some(w) => (w.trim_end_matches('*'), true),
                None => (word, false),
            };
            // Only words with something the tokenizer keeps; "*" or "-" alone is noise.
            if !word.chars().any(char::is_alphanumeric) {
                continue;
            }
            let t = quote(word);
            terms.push(if prefix { format!("{t}*") } else { t });
        }
    }
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl Store {
    /// Searches the cached messages of every joined room: newest first, a page of
    /// `q.limit` (at most [`MAX_SEARCH_PAGE`]). Edited messages are found by their
    /// current text; deleted ones are not found.
    pub fn search(&self, q: &SearchQuery) -> Result<Vec<SearchHit>> {
        let Some(words) = fts5_query(&q.text) else {
            return Ok(Vec::new());
        };
        let mut expr = format!("text : ({words})");
        if let Some(r) = q.room_id {
            expr.push_str(&format!(
                " AND room_key : \"{}\"",
                key_token(&r.to_string())
            ));
        }
        if let Some(a) = q.author {
            expr.push_str(&format!(
                " AND user_key : \"{}\"",
                key_token(&a.to_string())
            ));
        }
        let low = q.since.map_or(0, |t| t.max(0) << TIE_BITS);
        let high = q
            .until
            .map_or(i64::MAX, |t| t.clamp(0, i64::MAX >> TIE_BITS) << TIE_BITS)
            .min(q.before_doc.unwrap_or(i64::MAX));
        let limit = q.limit.clamp(1, MAX_SEARCH_PAGE);
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT s.rowid, s.room_id, s.seq,
                        snippet(message_search, 0, char(57344), char(57345), '…', 24),
                        m.ts, m.user_id, m.author
                 FROM message_search s
                 JOIN messages m ON m.room_id = s.room_id AND m.seq = s.seq
                 WHERE message_search MATCH ?1 AND s.rowid >= ?2 AND s.rowid < ?3
                 ORDER BY s.rowid DESC LIMIT ?4",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![expr, low, high, limit], |r| {
                Ok(SearchHit {
                    doc: r.get(0)?,
                    room_id: parse_uuid(r.get(1)?),
                    seq: r.get::<_, i64>(2)? as u64,
                    snippet: r.get(3)?,
                    ts: r.get(4)?,
                    user_id: parse_uuid(r.get(5)?),
                    author: r.get(6)?,
                })
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.err(e));
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_queries_become_safe_fts5() {
        assert_eq!(fts5_query("hello world").unwrap(), r#""hello" "world""#);
        assert_eq!(
            fts5_query(r#"say "good morning" rel*"#).unwrap(),
            r#""say" "good morning" "rel"*"#
        );
        // Operators and column filters typed by a person are plain words.
        assert_eq!(
            fts5_query("text:NEAR(a OR b) -x").unwrap(),
            r#""text:NEAR(a" "OR" "b)" "-x""#
        );
        assert_eq!(fts5_query(r#"a"b"#).unwrap(), r#""a" "b""#);
        assert_eq!(fts5_query("  * - "), None);
        assert_eq!(fts5_query("مرحبا").unwrap(), "\"مرحبا\"");
    }
}
