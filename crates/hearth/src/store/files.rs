//! The file tables (protocol §3.10, §15): on the host, which blobs it stores, which
//! rooms hold them, which messages carry them and the uploads under way; on a client,
//! its cache of downloaded files. The bytes live beside the database (`crate::files`).

use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use super::*;
use crate::protocol::files::Attachment;
use crate::protocol::now_ms;

/// An upload under way on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub upload_id: String,
    pub room_id: Uuid,
    pub user_id: Uuid,
    pub file_id: String,
    pub size: u64,
    pub created_at: i64,
}

/// The files an attachment list names: each file and each thumbnail.
fn named(list: &[Attachment]) -> impl Iterator<Item = (&str, u64)> {
    list.iter().flat_map(|a| {
        std::iter::once((a.file_id.as_str(), a.size))
            .chain(a.thumbnail.iter().map(|t| (t.file_id.as_str(), t.size)))
    })
}

/// Inside the commit: does the room hold every file of `list`, each with its size?
pub(super) fn room_holds(
    tx: &Connection,
    room: &str,
    list: &[Attachment],
) -> rusqlite::Result<bool> {
    let mut stmt =
        tx.prepare_cached("SELECT size FROM host_room_files WHERE room_id = ?1 AND file_id = ?2")?;
    for (id, size) in named(list) {
        let held: Option<i64> = stmt.query_row(params![room, id], |r| r.get(0)).optional()?;
        if held != i64::try_from(size).ok() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Inside the commit: the message `seq` carries the files of `list`.
pub(super) fn reference(
    tx: &Connection,
    room: &str,
    seq: i64,
    list: &[Attachment],
) -> rusqlite::Result<()> {
    let mut ins = tx.prepare_cached(
        "INSERT OR IGNORE INTO host_message_files (room_id, file_id, seq) VALUES (?1, ?2, ?3)",
    )?;
    let mut mark = tx.prepare_cached(
        "UPDATE host_room_files SET referenced = 1 WHERE room_id = ?1 AND file_id = ?2",
    )?;
    for (id, _) in named(list) {
        ins.execute(params![room, id, seq])?;
        mark.execute(params![room, id])?;
    }
    Ok(())
}

/// Inside the commit of a deletion: the message `seq` carries its files no more, and a
/// file no other message of the room carries leaves the room.
pub(super) fn unreference(tx: &Connection, room: &str, seq: i64) -> rusqlite::Result<()> {
    let ids: Vec<String> = tx
        .prepare_cached("SELECT file_id FROM host_message_files WHERE room_id = ?1 AND seq = ?2")?
        .query_map(params![room, seq], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if ids.is_empty() {
        return Ok(());
    }
    tx.prepare_cached("DELETE FROM host_message_files WHERE room_id = ?1 AND seq = ?2")?
        .execute(params![room, seq])?;
    let mut drop = tx.prepare_cached(
        "DELETE FROM host_room_files WHERE room_id = ?1 AND file_id = ?2 AND NOT EXISTS
           (SELECT 1 FROM host_message_files WHERE room_id = ?1 AND file_id = ?2)",
    )?;
    for id in ids {
        drop.execute(params![room, id])?;
    }
    Ok(())
}

impl Store {
    /// Bytes the room's files take on the host, with the uploads to it under way (what
    /// they will take once complete), for the quota.
    pub fn room_files_used(&self, room_id: Uuid) -> Result<u64> {
        let conn = self.conn();
        conn.query_row(
            "SELECT (SELECT COALESCE(SUM(size), 0) FROM host_room_files WHERE room_id = ?1)
                  + (SELECT COALESCE(SUM(size), 0) FROM host_uploads WHERE room_id = ?1)",
            [room_id.to_string()],
            |r| r.get::<_, i64>(0),
        )
        .map(|v| v.max(0) as u64)
        .map_err(|e| self.err(e))
    }

    /// The size of `file_id` if the room holds it.
    pub fn room_file(&self, room_id: Uuid, file_id: &str) -> Result<Option<u64>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT size FROM host_room_files WHERE room_id = ?1 AND file_id = ?2",
            params![room_id.to_string(), file_id],
            |r| r.get::<_, i64>(0),
        )
        .optional()
        .map(|v| v.map(|s| s.max(0) as u64))
        .map_err(|e| self.err(e))
    }

    /// Is the blob `file_id` stored (for any room)?
    pub fn blob_stored(&self, file_id: &str) -> Result<bool> {
        let conn = self.conn();
        conn.query_row(
            "SELECT 1 FROM host_files WHERE file_id = ?1",
            [file_id],
            |_| Ok(()),
        )
        .optional()
        .map(|v| v.is_some())
        .map_err(|e| self.err(e))
    }

    /// Records a new upload, if the room's quota has room for it (checked and reserved in
    /// one transaction, so that two uploads cannot both take the last bytes). Returns the
    /// bytes used before it on success, or those used when refused.
    pub fn create_upload(&self, u: &UploadRow, quota: u64) -> Result<Result<u64, u64>> {
        let mut conn = self.conn();
        // IMMEDIATE: a read that then writes would fail with SQLITE_BUSY (not wait)
        // when the host log commits in between.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let used: i64 = tx
            .query_row(
                "SELECT (SELECT COALESCE(SUM(size), 0) FROM host_room_files WHERE room_id = ?1)
                      + (SELECT COALESCE(SUM(size), 0) FROM host_uploads WHERE room_id = ?1)",
                [u.room_id.to_string()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let used = used.max(0) as u64;
        if used.saturating_add(u.size) > quota {
            return Ok(Err(used));
        }
        tx.execute(
            "INSERT INTO host_uploads (upload_id, room_id, user_id, file_id, size, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                u.upload_id,
                u.room_id.to_string(),
                u.user_id.to_string(),
                u.file_id,
                u.size as i64,
                u.created_at
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(Ok(used))
    }

    /// An upload under way, by its id.
    pub fn upload(&self, upload_id: &str) -> Result<Option<UploadRow>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT upload_id, room_id, user_id, file_id, size, created_at FROM host_uploads
             WHERE upload_id = ?1",
            [upload_id],
            |r| {
                Ok(UploadRow {
                    upload_id: r.get(0)?,
                    room_id: rows::parse_uuid(r.get(1)?),
                    user_id: rows::parse_uuid(r.get(2)?),
                    file_id: r.get(3)?,
                    size: r.get::<_, i64>(4)?.max(0) as u64,
                    created_at: r.get(5)?,
                })
            },
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// An upload whose bytes are stored and verified: the blob is recorded (once) and the
    /// room holds it.
    pub fn complete_upload(&self, u: &UploadRow) -> Result<()> {
        let mut conn = self.conn();
        // IMMEDIATE: a read that then writes would fail with SQLITE_BUSY (not wait)
        // when the host log commits in between.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let now = now_ms();
        tx.execute(
            "INSERT OR IGNORE INTO host_files (file_id, size, stored_at) VALUES (?1, ?2, ?3)",
            params![u.file_id, u.size as i64, now],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "INSERT OR IGNORE INTO host_room_files (room_id, file_id, size, uploaded_by, uploaded_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                u.room_id.to_string(),
                u.file_id,
                u.size as i64,
                u.user_id.to_string(),
                now
            ],
        )
        .map_err(|e| self.err(e))?;
        tx.execute(
            "DELETE FROM host_uploads WHERE upload_id = ?1",
            [&u.upload_id],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))
    }

    /// Forgets an upload (refused, abandoned or cancelled).
    pub fn drop_upload(&self, upload_id: &str) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM host_uploads WHERE upload_id = ?1", [upload_id])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Housekeeping: files uploaded to a room but never sent, after `unsent_before`, leave
    /// it; uploads untouched since `stale_before` are forgotten (their ids returned, to
    /// delete their partial files); blobs no room holds any more are forgotten (their ids
    /// returned, to delete from the disk).
    pub fn sweep_files(
        &self,
        unsent_before: i64,
        stale_before: i64,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let mut conn = self.conn();
        // IMMEDIATE: a read that then writes would fail with SQLITE_BUSY (not wait)
        // when the host log commits in between.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let ids = |tx: &rusqlite::Transaction<'_>, sql: &str, arg: Option<i64>| {
            let mut stmt = tx.prepare(sql)?;
            let rows: rusqlite::Result<Vec<String>> = match arg {
                Some(a) => stmt.query_map([a], |r| r.get::<_, String>(0))?.collect(),
                None => stmt.query_map([], |r| r.get::<_, String>(0))?.collect(),
            };
            rows
        };
        let run = || -> rusqlite::Result<(Vec<String>, Vec<String>)> {
            tx.execute(
                "DELETE FROM host_room_files WHERE referenced = 0 AND uploaded_at < ?1",
                [unsent_before],
            )?;
            let stale = ids(
                &tx,
                "SELECT upload_id FROM host_uploads WHERE created_at < ?1",
                Some(stale_before),
            )?;
            tx.execute(
                "DELETE FROM host_uploads WHERE created_at < ?1",
                [stale_before],
            )?;
            let orphans = ids(
                &tx,
                "SELECT file_id FROM host_files f WHERE NOT EXISTS
                   (SELECT 1 FROM host_room_files r WHERE r.file_id = f.file_id)",
                None,
            )?;
            tx.execute(
                "DELETE FROM host_files WHERE NOT EXISTS
                   (SELECT 1 FROM host_room_files r WHERE r.file_id = host_files.file_id)",
                [],
            )?;
            Ok((stale, orphans))
        };
        let out = run().map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    /// Every upload under way (to tell live partial files from leftovers).
    pub fn upload_ids(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT upload_id FROM host_uploads")
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|e| self.err(e));
        ids
    }

    // The client's side.

    /// The attachment (or thumbnail, as an attachment) `file_id` names in a cached
    /// message of the room, newest first.
    pub fn find_attachment(&self, room_id: Uuid, file_id: &str) -> Result<Option<Attachment>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT attachments FROM messages WHERE room_id = ?1 AND attachments IS NOT NULL
                   AND instr(attachments, ?2) > 0 ORDER BY seq DESC LIMIT 16",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![room_id.to_string(), file_id], |r| {
                r.get::<_, String>(0)
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        for json in rows {
            let list: Vec<Attachment> = serde_json::from_str(&json).unwrap_or_default();
            for a in list {
                if a.file_id == file_id {
                    return Ok(Some(a));
                }
                if let Some(t) = a.thumbnail.filter(|t| t.file_id == file_id) {
                    return Ok(Some(Attachment {
                        file_id: t.file_id,
                        name: format!("preview of {}", a.name),
                        size: t.size,
                        mime: t.mime,
                        width: Some(t.width),
                        height: Some(t.height),
                        thumbnail: None,
                    }));
                }
            }
        }
        Ok(None)
    }

    // The client's uploads under way.

    /// The upload this client started for `file_id` in the room, if any.
    pub fn my_upload(&self, room_id: Uuid, file_id: &str) -> Result<Option<String>> {
        let conn = self.conn();
        conn.query_row(
            "SELECT upload_id FROM file_uploads WHERE room_id = ?1 AND file_id = ?2",
            params![room_id.to_string(), file_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| self.err(e))
    }

    /// Records (or, with `None`, forgets) this client's upload of `file_id`.
    pub fn set_my_upload(
        &self,
        room_id: Uuid,
        file_id: &str,
        upload_id: Option<&str>,
    ) -> Result<()> {
        let conn = self.conn();
        match upload_id {
            Some(u) => conn.execute(
                "INSERT OR REPLACE INTO file_uploads (room_id, file_id, upload_id, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![room_id.to_string(), file_id, u, now_ms()],
            ),
            None => conn.execute(
                "DELETE FROM file_uploads WHERE room_id = ?1 AND file_id = ?2",
                params![room_id.to_string(), file_id],
            ),
        }
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    // The client's cache of downloaded files.

    /// A file now complete in the cache.
    pub fn cache_put(&self, file_id: &str, size: u64) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO file_cache (file_id, size, last_used) VALUES (?1, ?2, ?3)
             ON CONFLICT (file_id) DO UPDATE SET last_used = excluded.last_used",
            params![file_id, size as i64, now_ms()],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }

    /// Is `file_id` in the cache? Marks it used.
    pub fn cache_touch(&self, file_id: &str) -> Result<bool> {
        let conn = self.conn();
        conn.execute(
            "UPDATE file_cache SET last_used = ?2 WHERE file_id = ?1",
            params![file_id, now_ms()],
        )
        .map(|n| n > 0)
        .map_err(|e| self.err(e))
    }

    /// Keeps a file out of eviction, or lets it go again.
    pub fn cache_keep(&self, file_id: &str, keep: bool) -> Result<bool> {
        let conn = self.conn();
        conn.execute(
            "UPDATE file_cache SET keep = ?2 WHERE file_id = ?1",
            params![file_id, keep],
        )
        .map(|n| n > 0)
        .map_err(|e| self.err(e))
    }

    /// The cached files, newest use first: (file id, size, kept).
    pub fn cache_files(&self) -> Result<Vec<(String, u64, bool)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT file_id, size, keep FROM file_cache ORDER BY last_used DESC")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64, r.get(2)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e));
        rows
    }

    /// What to evict so that the cache fits in `limit` bytes: the least recently used
    /// files not kept, oldest first. Their rows are removed; the caller deletes the bytes.
    pub fn cache_evict(&self, limit: u64) -> Result<Vec<String>> {
        let files = self.cache_files()?;
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        let mut out = Vec::new();
        for (id, size, keep) in files.into_iter().rev() {
            if total <= limit {
                break;
            }
            if keep {
                continue;
            }
            total -= size;
            out.push(id);
        }
        let conn = self.conn();
        let mut del = conn
            .prepare_cached("DELETE FROM file_cache WHERE file_id = ?1")
            .map_err(|e| self.err(e))?;
        for id in &out {
            del.execute([id]).map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// Forgets a cached file whose bytes are gone.
    pub fn cache_forget(&self, file_id: &str) -> Result<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM file_cache WHERE file_id = ?1", [file_id])
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}
