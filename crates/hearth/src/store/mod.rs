//! The SQLite store: one file per install holding the host log (rooms this install
//! hosts and their messages) and the client cache (rooms joined, cached messages,
//! and the outbox of unacknowledged sends).
//!
//! WAL mode lets the host's single writer commit while readers page history.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

mod cache;
mod files;
mod host_log;
mod migrations;
mod outbox;
mod people;
mod roster;
mod rows;
mod search;
mod settings;
mod tokens;
mod trust;

pub use cache::{Cached, JoinedRoom, RoomOverview};
pub use files::UploadRow;
pub use host_log::{Appended, HostLog, HostedRoom, NewMessage, Reader, Refusal, RoomPolicy};
use migrations::migrations;
pub use outbox::OutboxEntry;
pub use people::{SeenPerson, VerifiedPerson};
pub use roster::RosterEntry;
pub use search::{fts5_query, SearchHit, SearchQuery, MARK_END, MARK_START, MAX_SEARCH_PAGE};
pub use trust::{pin_key_addr, pin_key_host, pin_key_room};

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
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
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
    /// This install's identity, loaded from beside the database on first use.
    identity: std::sync::OnceLock<std::sync::Arc<crate::identity::Identity>>,
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
            identity: std::sync::OnceLock::new(),
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
    // secure_delete: a deleted message's text (protocol §3.9) is overwritten in the file,
    // not left in a free page for anyone who reads the file.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;"
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
mod relations_tests;
#[cfg(test)]
mod tests;
