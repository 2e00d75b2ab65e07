//! The SQLite store: one file per install holding the host log (rooms this install
//! hosts and their messages) and the client cache (rooms joined, cached messages,
//! and the outbox of unacknowledged sends).
//!
//! WAL mode lets the host's single writer commit while readers page history.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use rusqlite_migration::{Migrations, M};
use uuid::Uuid;

use crate::protocol::{now_ms, ChatMessage, Timestamp};

/// The database file inside the data directory.
pub const DB_FILE: &str = "hearth.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {path} is corrupt or not a Hearth database ({detail}); move it aside to start fresh")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the database {path} is locked by another process; close the other Hearth instance or pick another --data-dir")]
    Locked { path: PathBuf },
    #[error("cannot write to {path}: {detail}")]
    Unwritable { path: PathBuf, detail: String },
    #[error("the disk holding the database is full")]
    DiskFull,
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("the data directory {path} is already used by a running host (lock file {lock})")]
    HostLocked { path: PathBuf, lock: PathBuf },
}

impl StoreError {
    fn from_sqlite(e: rusqlite::Error, path: &Path) -> Self {
        use rusqlite::ErrorCode as C;
        if let rusqlite::Error::SqliteFailure(f, ref msg) = e {
            let path = path.to_path_buf();
            let detail = msg.clone().unwrap_or_else(|| f.to_string());
            return match f.code {
                C::DatabaseCorrupt | C::NotADatabase => StoreError::Corrupt { path, detail },
                C::DatabaseBusy | C::DatabaseLocked => StoreError::Locked { path },
                C::DiskFull => StoreError::DiskFull,
                C::ReadOnly | C::CannotOpen | C::PermissionDenied | C::SystemIoFailure => {
                    StoreError::Unwritable { path, detail }
                }
                _ => StoreError::Sqlite(e),
            };
        }
        StoreError::Sqlite(e)
    }

    /// True when the failure is the disk (or the configured size cap) being full.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::DiskFull)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

        CREATE TABLE hosted_rooms (
            room_id    TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            pass_hash  TEXT,
            created_at INTEGER NOT NULL
        );
        CREATE TABLE host_messages (
            room_id       TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            ts            INTEGER NOT NULL,
            user_id       TEXT NOT NULL,
            author        TEXT NOT NULL,
            client_msg_id TEXT NOT NULL,
            text          TEXT NOT NULL,
            PRIMARY KEY (room_id, seq)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX host_messages_idempotency
            ON host_messages (room_id, user_id, client_msg_id);

        CREATE TABLE joined_rooms (
            room_id      TEXT PRIMARY KEY,
            name         TEXT NOT NULL,
            address      TEXT NOT NULL,
            host_id      TEXT,
            host_name    TEXT,
            has_passcode INTEGER NOT NULL DEFAULT 0,
            synced_seq   INTEGER NOT NULL DEFAULT 0,
            read_seq     INTEGER NOT NULL DEFAULT 0,
            joined_at    INTEGER NOT NULL
        );
        CREATE TABLE messages (
            room_id       TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            ts            INTEGER NOT NULL,
            user_id       TEXT NOT NULL,
            author        TEXT NOT NULL,
            client_msg_id TEXT NOT NULL,
            text          TEXT NOT NULL,
            PRIMARY KEY (room_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE outbox (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            room_id       TEXT NOT NULL,
            client_msg_id TEXT NOT NULL UNIQUE,
            text          TEXT NOT NULL,
            created_at    INTEGER NOT NULL
        );
        CREATE INDEX outbox_room ON outbox (room_id, id);
        "#,
        ),
        // Resume tokens: a client rejoins a passcode room without keeping the passcode.
        M::up(
            r#"
        CREATE TABLE room_tokens (
            room_id    TEXT NOT NULL,
            user_id    TEXT NOT NULL,
            token_hash TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (room_id, token_hash)
        ) WITHOUT ROWID;
        CREATE INDEX room_tokens_user ON room_tokens (room_id, user_id, created_at);
        ALTER TABLE joined_rooms ADD COLUMN resume_token TEXT;
        "#,
        ),
        // Certificate pins (trust on first use), by host address and by host id.
        M::up(
            r#"
        CREATE TABLE pins (
            key         TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            pinned_at   INTEGER NOT NULL
        ) WITHOUT ROWID;
        "#,
        ),
        // Message kinds (protocol §3.6): NULL is plain text.
        M::up(
            r#"
        ALTER TABLE host_messages ADD COLUMN kind TEXT;
        ALTER TABLE messages ADD COLUMN kind TEXT;
        "#,
        ),
        // Cached messages the host no longer has (its log went back in time: a restored
        // backup, a database copied without its -wal file). Kept, apart from the cache.
        M::up(
            r#"
        CREATE TABLE unhosted_messages (
            room_id       TEXT NOT NULL,
            seq           INTEGER NOT NULL,
            ts            INTEGER NOT NULL,
            user_id       TEXT NOT NULL,
            author        TEXT NOT NULL,
            client_msg_id TEXT NOT NULL,
            text          TEXT NOT NULL,
            kind          TEXT,
            set_aside_at  INTEGER NOT NULL
        );
        CREATE INDEX unhosted_by_room ON unhosted_messages (room_id, seq);
        "#,
        ),
    ])
}

/// How a connection is used; durability differs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The host log writer: every commit is fsynced before anyone is acknowledged.
    HostWriter,
    /// Reads, and the client cache (re-fetchable from the host, so NORMAL sync).
    General,
}

/// A handle to the install's database. Cheap to share behind an `Arc`.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// Caps the file size (in pages); used to enforce `--max-db-size`.
    max_page_count: Option<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database in `data_dir` and runs migrations.
    pub fn open(data_dir: &Path) -> Result<Store> {
        Self::open_with_limit(data_dir, None)
    }

    /// Like [`Store::open`], with the database file capped at `max_bytes`. Hitting the cap
    /// behaves exactly like a full disk.
    pub fn open_with_limit(data_dir: &Path, max_bytes: Option<u64>) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Unwritable {
            path: data_dir.to_path_buf(),
            detail: e.to_string(),
        })?;
        let path = data_dir.join(DB_FILE);
        let max_page_count = max_bytes.map(|b| (b / 4096).max(16));
        // Two processes opening a fresh directory at once would both see schema version 0
        // and both create the tables ("table settings already exists"): the migration
        // reads the version outside its transaction. One opens and migrates at a time.
        let _opening = lock_file(&data_dir.join("open.lock"), true)?;
        let mut conn = open_conn(&path, Role::General, max_page_count)?;
        check_integrity(&conn, &path)?;
        migrations().to_latest(&mut conn).map_err(|e| match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => {
                StoreError::from_sqlite(err, &path)
            }
            other => StoreError::Migration(other.to_string()),
        })?;
        Ok(Store {
            path,
            conn: Mutex::new(conn),
            max_page_count,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Copies the whole database, consistently, to the new file `dest` with SQLite's
    /// online backup, while hosts and clients keep using it: the one safe way to back up
    /// (copying `hearth.db` alone misses what is still in `hearth.db-wal`). The copy is
    /// checked before this returns.
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(StoreError::Unwritable {
                path: dest.to_path_buf(),
                detail: "the file exists already; give a new file name".into(),
            });
        }
        let src = open_conn(&self.path, Role::General, None)?;
        src.backup(rusqlite::MAIN_DB, dest, None)
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, msg) => StoreError::Unwritable {
                    path: dest.to_path_buf(),
                    detail: msg.unwrap_or_else(|| f.to_string()),
                },
                other => StoreError::Sqlite(other),
            })?;
        let copy = Connection::open(dest).map_err(|e| StoreError::from_sqlite(e, dest))?;
        check_integrity(&copy, dest)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent; keep going.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        StoreError::from_sqlite(e, &self.path)
    }

    /// Opens the host log writer: a dedicated connection with fsync on every commit.
    pub fn host_log(&self) -> Result<HostLog> {
        Ok(HostLog {
            conn: open_conn(&self.path, Role::HostWriter, self.max_page_count)?,
            path: self.path.clone(),
            next_seq: HashMap::new(),
        })
    }

    /// Opens an extra read connection (the host keeps a small pool of these).
    pub fn reader(&self) -> Result<Reader> {
        Ok(Reader {
            conn: open_conn(&self.path, Role::General, None)?,
            path: self.path.clone(),
        })
    }

    // ----- identity -----

    fn setting_uuid(&self, key: &str) -> Result<Uuid> {
        let conn = self.conn();
        let existing: Option<String> = conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))?;
        if let Some(v) = existing.and_then(|v| Uuid::parse_str(&v).ok()) {
            return Ok(v);
        }
        let id = Uuid::new_v4();
        conn.execute(
            "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
            params![key, id.to_string()],
        )
        .map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// This install's stable user id, created on first use.
    pub fn user_id(&self) -> Result<Uuid> {
        self.setting_uuid("user_id")
    }

    /// This install's stable host id, created on first use.
    pub fn host_id(&self) -> Result<Uuid> {
        self.setting_uuid("host_id")
    }

    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?1, ?2)",
                params![key, value],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn delete_setting(&self, key: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM settings WHERE key = ?1", [key])
            .map(drop)
            .map_err(|e| self.err(e))
    }

    // ----- host side -----

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
        Ok(HostedRoom {
            room_id,
            name: name.to_string(),
            pass_hash: pass_hash.map(str::to_string),
            head_seq,
        })
    }

    /// The hosted room called `name`, if any.
    pub fn find_hosted_room(&self, name: &str) -> Result<Option<HostedRoom>> {
        Ok(self.hosted_rooms()?.into_iter().find(|r| r.name == name))
    }

    /// Remembers the hash of a resume token issued to `user` for `room`. A user keeps
    /// several (one per device or install that joined), the newest few.
    pub fn put_room_token(&self, room_id: Uuid, user_id: Uuid, token_hash: &str) -> Result<()> {
        let (room, user) = (room_id.to_string(), user_id.to_string());
        let conn = self.conn();
        conn.execute(
            "INSERT OR REPLACE INTO room_tokens (room_id, user_id, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![room, user, token_hash, now_ms()],
        )
        .map_err(|e| self.err(e))?;
        conn.execute(
            "DELETE FROM room_tokens WHERE room_id = ?1 AND user_id = ?2 AND token_hash NOT IN
               (SELECT token_hash FROM room_tokens WHERE room_id = ?1 AND user_id = ?2
                ORDER BY created_at DESC LIMIT 8)",
            params![room, user],
        )
        .map(drop)
        .map_err(|e| self.err(e))
    }

    /// True when `token_hash` is the one issued to `user` for `room`.
    pub fn room_token_matches(
        &self,
        room_id: Uuid,
        user_id: Uuid,
        token_hash: &str,
    ) -> Result<bool> {
        let found: Option<i64> = self
            .conn()
            .query_row(
                "SELECT 1 FROM room_tokens WHERE room_id = ?1 AND user_id = ?2 AND token_hash = ?3",
                params![room_id.to_string(), user_id.to_string(), token_hash],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(found.is_some())
    }

    /// Client side: the resume token a host gave us for a room.
    pub fn set_resume_token(&self, room_id: Uuid, token: Option<&str>) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE joined_rooms SET resume_token = ?2 WHERE room_id = ?1",
                params![room_id.to_string(), token],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn resume_token(&self, room_id: Uuid) -> Result<Option<String>> {
        self.conn()
            .query_row(
                "SELECT resume_token FROM joined_rooms WHERE room_id = ?1",
                [room_id.to_string()],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// Pins `fingerprint` under `key` (`addr:HOST:PORT`, `host:HOST_ID` or `room:ROOM_ID`)
    /// if nothing is pinned there yet (trust on first use), and returns what is pinned
    /// now. An existing pin is never changed here: the ids in a key are what a host says
    /// about itself, so a host could otherwise claim another's id and take over its pin.
    pub fn pin_first(&self, key: &str, fingerprint: &str) -> Result<String> {
        let conn = self.conn();
        conn.execute(
            "INSERT OR IGNORE INTO pins (key, fingerprint, pinned_at) VALUES (?1, ?2, ?3)",
            params![key, fingerprint, now_ms()],
        )
        .map_err(|e| self.err(e))?;
        conn.query_row("SELECT fingerprint FROM pins WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .map_err(|e| self.err(e))
    }

    /// Replaces the pin under `key`: only for the user's explicit "trust the new
    /// certificate", after they compared it.
    pub fn replace_pin(&self, key: &str, fingerprint: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO pins (key, fingerprint, pinned_at) VALUES (?1, ?2, ?3)",
                params![key, fingerprint, now_ms()],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn pinned(&self, key: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT fingerprint FROM pins WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every room this install hosts.
    pub fn hosted_rooms(&self) -> Result<Vec<HostedRoom>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT room_id, name, pass_hash FROM hosted_rooms ORDER BY created_at")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for (id, name, pass_hash) in rows {
            let Ok(room_id) = Uuid::parse_str(&id) else {
                continue;
            };
            let head_seq = head_seq(&conn, room_id).map_err(|e| self.err(e))?;
            out.push(HostedRoom {
                room_id,
                name,
                pass_hash,
                head_seq,
            });
        }
        Ok(out)
    }

    // ----- client side -----

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
        for sql in [
            "DELETE FROM joined_rooms WHERE room_id = ?1",
            "DELETE FROM messages WHERE room_id = ?1",
            "DELETE FROM outbox WHERE room_id = ?1",
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
                .prepare_cached(
                    "INSERT OR IGNORE INTO messages (room_id, seq, ts, user_id, author, client_msg_id, text, kind)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
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
            let mut replace = tx
                .prepare_cached(
                    "UPDATE messages SET ts = ?3, user_id = ?4, author = ?5, client_msg_id = ?6, text = ?7, kind = ?8
                     WHERE room_id = ?1 AND seq = ?2",
                )
                .map_err(|e| self.err(e))?;
            for m in msgs {
                let (room, seq, user) =
                    (m.room_id.to_string(), m.seq as i64, m.user_id.to_string());
                let fields = params![
                    room,
                    seq,
                    m.ts,
                    user,
                    m.author,
                    m.client_msg_id,
                    m.text,
                    m.kind
                ];
                if ins.execute(fields).map_err(|e| self.err(e))? == 1 {
                    continue;
                }
                let unchanged: bool = same
                    .query_row(params![room, seq, user, m.client_msg_id], |r| r.get(0))
                    .map_err(|e| self.err(e))?;
                if !unchanged {
                    aside
                        .execute(params![room, seq, now_ms()])
                        .map_err(|e| self.err(e))?;
                    replace.execute(fields).map_err(|e| self.err(e))?;
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

    /// Messages after `read_seq` written by someone other than `me`.
    pub fn unread_count(&self, room_id: Uuid, me: Uuid) -> Result<u32> {
        self.conn()
            .query_row(
                "SELECT COUNT(*) FROM messages m JOIN joined_rooms j ON j.room_id = m.room_id
                 WHERE m.room_id = ?1 AND m.seq > j.read_seq AND m.user_id != ?2",
                params![room_id.to_string(), me.to_string()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u32)
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
             WHERE m.seq > j.read_seq AND m.user_id != ?1 GROUP BY m.room_id",
            &[&me.to_string()],
        )?;
        let mut last = HashMap::new();
        {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {MSG_COLS} FROM messages WHERE (room_id, seq) IN
                     (SELECT room_id, MAX(seq) FROM messages GROUP BY room_id)"
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
                    last_message: last.remove(&id),
                    fingerprint: pins.get(&format!("room:{id}")).cloned(),
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
            last_message: self.last_message(room_id)?,
            fingerprint: self.pinned(&format!("room:{room_id}"))?,
            setting: self.setting(&setting_key(room_id))?,
            room,
        }))
    }

    /// The newest cached message of a room.
    pub fn last_message(&self, room_id: Uuid) -> Result<Option<ChatMessage>> {
        Ok(self.cached_messages(room_id, None, 1)?.pop())
    }

    /// Every cached message of a room, ascending.
    pub fn all_cached_messages(&self, room_id: Uuid) -> Result<Vec<ChatMessage>> {
        let conn = self.conn();
        page_after(&conn, "messages", room_id, 0, u64::MAX, u32::MAX).map_err(|e| self.err(e))
    }

    /// Queues a message for sending; it stays until the host acknowledges it.
    pub fn outbox_push(
        &self,
        room_id: Uuid,
        client_msg_id: &str,
        text: &str,
    ) -> Result<OutboxEntry> {
        let conn = self.conn();
        let created_at = now_ms();
        conn.execute(
            "INSERT INTO outbox (room_id, client_msg_id, text, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![room_id.to_string(), client_msg_id, text, created_at],
        )
        .map_err(|e| self.err(e))?;
        Ok(OutboxEntry {
            id: conn.last_insert_rowid(),
            room_id,
            client_msg_id: client_msg_id.to_string(),
            text: text.to_string(),
            created_at,
        })
    }

    /// Pending sends of a room, in the order they were typed.
    pub fn outbox(&self, room_id: Uuid) -> Result<Vec<OutboxEntry>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, client_msg_id, text, created_at FROM outbox WHERE room_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([room_id.to_string()], |r| {
                Ok(OutboxEntry {
                    id: r.get(0)?,
                    room_id,
                    client_msg_id: r.get(1)?,
                    text: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// Removes an acknowledged send from the outbox.
    pub fn outbox_remove(&self, client_msg_id: &str) -> Result<()> {
        self.conn()
            .execute(
                "DELETE FROM outbox WHERE client_msg_id = ?1",
                [client_msg_id],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

fn open_conn(path: &Path, role: Role, max_page_count: Option<u64>) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| StoreError::from_sqlite(e, path))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| StoreError::from_sqlite(e, path))?;
    // Touching the schema here turns "file is not a database" into a clean error at open.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| StoreError::from_sqlite(e, path))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(%mode, "SQLite refused WAL mode");
    }
    let sync = match role {
        Role::HostWriter => "FULL",
        Role::General => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;"
    ))
    .map_err(|e| StoreError::from_sqlite(e, path))?;
    if role == Role::HostWriter {
        // Every append looks up and inserts into the idempotency index; past ~100k
        // messages the default 2 MiB cache misses on most of them (docs/performance.md).
        conn.execute_batch("PRAGMA cache_size = -16384")
            .map_err(|e| StoreError::from_sqlite(e, path))?;
    }
    if let Some(pages) = max_page_count {
        conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
            .map_err(|e| StoreError::from_sqlite(e, path))?;
        // The cap is on the database file; without these the -wal file beside it could
        // grow past it (to 1,000 pages before SQLite checkpoints, and it never shrinks).
        // Checkpoint at a quarter of the cap, and truncate the WAL back to that after.
        let wal_pages = (pages / 4).max(16);
        conn.execute_batch(&format!(
            "PRAGMA wal_autocheckpoint = {wal_pages}; PRAGMA journal_size_limit = {};",
            wal_pages * 4096
        ))
        .map_err(|e| StoreError::from_sqlite(e, path))?;
    }
    Ok(conn)
}

fn parse_uuid(s: String) -> Uuid {
    Uuid::parse_str(&s).unwrap_or(Uuid::nil())
}

fn head_seq(conn: &Connection, room_id: Uuid) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COALESCE(MAX(seq), 0) FROM host_messages WHERE room_id = ?1",
        [room_id.to_string()],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v as u64)
}

fn advance_synced(conn: &Connection, room_id: &str) -> rusqlite::Result<u64> {
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

const MSG_COLS: &str = "room_id, seq, ts, user_id, author, client_msg_id, text, kind";

fn row_to_msg(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChatMessage> {
    Ok(ChatMessage {
        room_id: parse_uuid(r.get(0)?),
        seq: r.get::<_, i64>(1)? as u64,
        ts: r.get(2)?,
        user_id: parse_uuid(r.get(3)?),
        author: r.get(4)?,
        client_msg_id: r.get(5)?,
        text: r.get(6)?,
        kind: r.get(7)?,
    })
}

fn page_after(
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

fn page_before(
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

/// A room this install hosts.
#[derive(Debug, Clone)]
pub struct HostedRoom {
    pub room_id: Uuid,
    pub name: String,
    /// Argon2 PHC string, when the room has a passcode.
    pub pass_hash: Option<String>,
    pub head_seq: u64,
}

/// A room this install has joined, as cached locally.
/// A joined room with what a room list shows of it ([`Store::room_overviews`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RoomOverview {
    pub room: JoinedRoom,
    pub unread: u32,
    pub last_message: Option<ChatMessage>,
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

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub room_id: Uuid,
    pub client_msg_id: String,
    pub text: String,
    pub created_at: Timestamp,
}

/// A message to append to the host log.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: Uuid,
    pub user_id: Uuid,
    pub author: String,
    pub client_msg_id: String,
    pub text: String,
}

/// What happened to one appended message.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    /// Stored now with a fresh seq.
    Stored(ChatMessage),
    /// Already stored earlier under the same (user, client message id).
    Duplicate(ChatMessage),
}

/// The host log writer. Only one exists per hosting process; it alone assigns seqs,
/// which is what keeps them gap-free.
pub struct HostLog {
    conn: Connection,
    path: PathBuf,
    next_seq: HashMap<Uuid, u64>,
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
                "INSERT INTO host_messages (room_id, seq, ts, user_id, author, client_msg_id, text)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (room_id, user_id, client_msg_id) DO NOTHING",
            )?;
            for m in batch {
                let room = m.room_id.to_string();
                let user = m.user_id.to_string();
                let seq = match self.next_seq.get(&m.room_id) {
                    Some(s) => *s,
                    None => head_seq(&tx, m.room_id)? + 1,
                };
                let inserted = ins.execute(params![
                    room,
                    seq as i64,
                    ts,
                    user,
                    m.author,
                    m.client_msg_id,
                    m.text
                ])?;
                if inserted == 0 {
                    let orig = find.query_row(params![room, user, m.client_msg_id], row_to_msg)?;
                    out.push(Appended::Duplicate(orig));
                    continue;
                }
                self.next_seq.insert(m.room_id, seq + 1);
                out.push(Appended::Stored(ChatMessage {
                    room_id: m.room_id,
                    seq,
                    ts,
                    user_id: m.user_id,
                    author: m.author.clone(),
                    client_msg_id: m.client_msg_id.clone(),
                    text: m.text.clone(),
                    kind: None,
                }));
            }
        }
        tx.commit()?;
        Ok(out)
    }
}

/// A read-only view of the host log, for history pages and resumes.
pub struct Reader {
    conn: Connection,
    path: PathBuf,
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

/// Takes the exclusive "this data directory is hosting" lock; held for the life of the
/// returned file. Two hosts on one log would both assign seqs.
pub fn lock_for_hosting(data_dir: &Path) -> Result<std::fs::File> {
    let lock = data_dir.join("host.lock");
    lock_file(&lock, false)?.ok_or_else(|| StoreError::HostLocked {
        path: data_dir.to_path_buf(),
        lock,
    })
}

/// An exclusive advisory lock on `path`, held while the returned file lives: waiting
/// for it (`wait`), or `None` when another process holds it.
fn lock_file(path: &Path, wait: bool) -> Result<Option<std::fs::File>> {
    let unwritable = |e: std::io::Error| StoreError::Unwritable {
        path: path.to_path_buf(),
        detail: e.to_string(),
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(unwritable)?;
    if wait {
        file.lock().map_err(unwritable)?;
        return Ok(Some(file));
    }
    Ok(file.try_lock().is_ok().then_some(file))
}

/// `PRAGMA quick_check` at open: damage found now, with the file named and what to do,
/// rather than as a storage error in the middle of paging history later.
fn check_integrity(conn: &Connection, path: &Path) -> Result<()> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| StoreError::from_sqlite(e, path))?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| StoreError::from_sqlite(e, path))?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("integrity check: {}", problems.join("; ")),
    })
}

/// The per-platform default data directory.
pub fn default_data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", "Hearth", "Hearth").map(|d| d.data_dir().to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two processes (here: threads, each with its own connection, which SQLite locks
    /// the same way) opening one fresh data directory at the same moment both succeed.
    #[test]
    fn concurrent_first_opens_of_a_fresh_directory_both_succeed() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let start = std::sync::Arc::new(std::sync::Barrier::new(2));
            let opens: Vec<_> = (0..2)
                .map(|_| {
                    let (path, start) = (dir.path().to_path_buf(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        Store::open(&path).map(|s| s.user_id().is_ok())
                    })
                })
                .collect();
            for o in opens {
                assert!(o.join().unwrap().unwrap(), "both opens succeed");
            }
        }
    }

    /// The room list's overview (a fixed number of queries) says what the per-room
    /// queries say, for every room.
    #[test]
    fn room_overviews_agree_with_the_per_room_queries() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let me = Uuid::new_v4();
        let other = Uuid::new_v4();
        let mut rooms = Vec::new();
        for r in 0..5u64 {
            let room = Uuid::new_v4();
            rooms.push(room);
            store
                .upsert_joined_room(&JoinedRoom {
                    room_id: room,
                    name: format!("غرفة {r}"),
                    address: "127.0.0.1:1".into(),
                    host_id: None,
                    host_name: None,
                    has_passcode: false,
                    synced_seq: 0,
                    read_seq: 0,
                })
                .unwrap();
            let msgs: Vec<ChatMessage> = (1..=r * 10)
                .map(|seq| ChatMessage {
                    room_id: room,
                    seq,
                    ts: seq as i64,
                    user_id: if seq % 3 == 0 { me } else { other },
                    author: "Ann".into(),
                    client_msg_id: format!("c{seq}"),
                    text: format!("{seq} 🙂"),
                    kind: None,
                })
                .collect();
            store.cache_messages(room, &msgs, None).unwrap();
            if r % 2 == 0 {
                store.set_read_seq(room, r * 5).unwrap();
                store.pin_first(&format!("room:{room}"), "ab").unwrap();
                store
                    .set_setting(&format!("draft:{room}"), "half-typed")
                    .unwrap();
            }
        }
        let all = store.room_overviews(me, |r| format!("draft:{r}")).unwrap();
        assert_eq!(all.len(), 5);
        for o in all {
            let one = store
                .room_overview(o.room.room_id, me, |r| format!("draft:{r}"))
                .unwrap()
                .unwrap();
            assert_eq!(o, one);
        }
        let first = store
            .room_overview(rooms[4], me, |r| format!("draft:{r}"))
            .unwrap()
            .unwrap();
        // 40 messages, 20 read; of the other 20, those not mine (seq % 3 != 0).
        assert_eq!(
            first.unread,
            (21..=40).filter(|s| s % 3 != 0).count() as u32
        );
        assert_eq!(first.last_message.map(|m| m.seq), Some(40));
        assert_eq!(first.setting.as_deref(), Some("half-typed"));
    }

    /// Damage is found at open, naming the file, not later in the middle of paging.
    #[test]
    fn a_damaged_database_is_refused_at_open_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let room = Uuid::new_v4();
            store
                .upsert_joined_room(&JoinedRoom {
                    room_id: room,
                    name: "Big".into(),
                    address: "127.0.0.1:1".into(),
                    host_id: None,
                    host_name: None,
                    has_passcode: false,
                    synced_seq: 0,
                    read_seq: 0,
                })
                .unwrap();
            let msgs: Vec<ChatMessage> = (1..=2000)
                .map(|seq| ChatMessage {
                    room_id: room,
                    seq,
                    ts: 0,
                    user_id: Uuid::nil(),
                    author: "مريم".into(),
                    client_msg_id: format!("c{seq}"),
                    text: format!("message {seq} 🙂 {}", "x".repeat(200)),
                    kind: None,
                })
                .collect();
            store.cache_messages(room, &msgs, None).unwrap();
        }
        let path = dir.path().join(DB_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 40 * 4096, "a database of many pages");
        // 64 flipped bytes: the headers of a few b-tree pages in the middle.
        for page in [20usize, 21, 22, 23] {
            for b in &mut bytes[page * 4096..page * 4096 + 16] {
                *b ^= 0xff;
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let Err(err) = Store::open(dir.path()) else {
            panic!("a damaged file was accepted")
        };
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("move it aside"), "{msg}");
    }

    fn msg(room: Uuid, user: Uuid, cmid: &str) -> NewMessage {
        NewMessage {
            room_id: room,
            user_id: user,
            author: "a".into(),
            client_msg_id: cmid.into(),
            text: format!("text {cmid}"),
        }
    }

    #[test]
    fn group_commit_is_gap_free_and_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let room = store.open_hosted_room("General", None).unwrap();
        let mut log = store.host_log().unwrap();
        let u = Uuid::new_v4();
        let out = log
            .append_batch(&[
                msg(room.room_id, u, "a"),
                msg(room.room_id, u, "b"),
                msg(room.room_id, u, "a"),
            ])
            .unwrap();
        let seqs: Vec<_> = out
            .iter()
            .map(|a| match a {
                Appended::Stored(m) => (m.seq, false),
                Appended::Duplicate(m) => (m.seq, true),
            })
            .collect();
        assert_eq!(seqs, vec![(1, false), (2, false), (1, true)]);
        let reader = store.reader().unwrap();
        assert_eq!(reader.head_seq(room.room_id).unwrap(), 2);
        // A new writer (after a restart) continues from the stored head.
        drop(log);
        let mut log = store.host_log().unwrap();
        let out = log.append_batch(&[msg(room.room_id, u, "c")]).unwrap();
        assert!(matches!(&out[0], Appended::Stored(m) if m.seq == 3));
    }

    #[test]
    fn a_full_database_rolls_back_without_consuming_seqs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with_limit(dir.path(), Some(256 * 1024)).unwrap();
        let room = store.open_hosted_room("Full", None).unwrap();
        let mut log = store.host_log().unwrap();
        let u = Uuid::new_v4();
        let mut stored = 0u64;
        let mut failed = false;
        for i in 0..10_000 {
            let mut m = msg(room.room_id, u, &format!("m{i}"));
            m.text = "x".repeat(2000);
            match log.append_batch(&[m]) {
                Ok(_) => stored += 1,
                Err(e) => {
                    assert!(e.is_full(), "{e}");
                    failed = true;
                    break;
                }
            }
        }
        assert!(failed, "the cap was never reached");
        let reader = store.reader().unwrap();
        assert_eq!(reader.head_seq(room.room_id).unwrap(), stored);
        let all = reader.after(room.room_id, 0, u64::MAX, u32::MAX).unwrap();
        assert_eq!(all.len() as u64, stored);
        assert!(all.iter().enumerate().all(|(i, m)| m.seq == i as u64 + 1));
    }

    #[test]
    fn corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(DB_FILE),
            b"this is not sqlite, just garbage bytes....",
        )
        .unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("corrupt"), "{err}");
    }

    #[test]
    fn client_cache_tracks_contiguous_sync_point() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let room = Uuid::new_v4();
        store
            .upsert_joined_room(&JoinedRoom {
                room_id: room,
                name: "r".into(),
                address: "127.0.0.1:1".into(),
                host_id: None,
                host_name: None,
                has_passcode: false,
                synced_seq: 0,
                read_seq: 0,
            })
            .unwrap();
        let m = |seq| ChatMessage {
            room_id: room,
            seq,
            ts: 0,
            user_id: Uuid::nil(),
            author: "a".into(),
            client_msg_id: format!("c{seq}"),
            text: "t".into(),
            kind: None,
        };
        assert_eq!(
            store
                .cache_messages(room, &[m(1), m(2), m(4)], None)
                .unwrap()
                .synced,
            2
        );
        assert_eq!(store.cache_messages(room, &[m(3)], None).unwrap().synced, 4);
        assert_eq!(
            store
                .cache_messages(room, &[m(3), m(4)], None)
                .unwrap()
                .synced,
            4
        );
        assert_eq!(store.all_cached_messages(room).unwrap().len(), 4);
    }
}
