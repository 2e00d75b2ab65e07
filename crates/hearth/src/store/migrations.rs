//! The schema, as an ordered list of migrations (rusqlite_migration). Never edit one
//! that has shipped: add another.

use rusqlite_migration::{Migrations, M};

pub(super) fn migrations() -> Migrations<'static> {
    Migrations::new(steps())
}

/// The schema version before the client's resume tokens moved out of `joined_rooms`.
#[cfg(test)]
pub(super) const BEFORE_RESUME_TOKENS: usize = 5;

/// The schema version before message actions and search (#14).
#[cfg(test)]
pub(super) const BEFORE_RELATIONS: usize = 8;

/// Every migration, oldest first.
fn steps() -> Vec<M<'static>> {
    vec![
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
        // The client's resume tokens, apart from the rooms joined: a token can arrive
        // before the first join completes (our own host issues one to our own client).
        M::up(
            r#"
        CREATE TABLE resume_tokens (
            room_id TEXT PRIMARY KEY,
            token   TEXT NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO resume_tokens (room_id, token)
            SELECT room_id, resume_token FROM joined_rooms WHERE resume_token IS NOT NULL;
        ALTER TABLE joined_rooms DROP COLUMN resume_token;
        "#,
        ),
        // Verified authors (protocol §3.7): 1 when the host checked the author's key.
        M::up(
            r#"
        ALTER TABLE host_messages ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE unhosted_messages ADD COLUMN verified INTEGER NOT NULL DEFAULT 0;
        "#,
        ),
        // Rooms that are not for everyone (protocol §3.8): the host's room policy and its
        // roster (identities it admitted); the client's people (whom the user verified,
        // and when each identity was first seen in each room).
        M::up(
            r#"
        ALTER TABLE hosted_rooms ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
        ALTER TABLE hosted_rooms ADD COLUMN members_only INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE room_roster (
            room_id     TEXT NOT NULL,
            user_id     TEXT NOT NULL,
            name        TEXT NOT NULL,
            admitted_at INTEGER NOT NULL,
            PRIMARY KEY (room_id, user_id)
        ) WITHOUT ROWID;
        CREATE TABLE verified_people (
            user_id     TEXT PRIMARY KEY,
            name        TEXT NOT NULL,
            verified_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE room_people (
            room_id       TEXT NOT NULL,
            user_id       TEXT NOT NULL,
            name          TEXT NOT NULL,
            first_seen_at INTEGER NOT NULL,
            PRIMARY KEY (room_id, user_id)
        ) WITHOUT ROWID;
        "#,
        ),
        // Message actions (protocol §3.9): relations on every message table, the
        // host's erasure marks, and the cache's full-text index of current texts.
        M::up_with_hook(
            r#"
        ALTER TABLE host_messages ADD COLUMN target INTEGER;
        ALTER TABLE host_messages ADD COLUMN reply_to INTEGER;
        ALTER TABLE host_messages ADD COLUMN mentions TEXT;
        ALTER TABLE host_messages ADD COLUMN mentions_room INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE host_messages ADD COLUMN deleted_seq INTEGER;
        ALTER TABLE host_messages ADD COLUMN deleted_by TEXT;
        ALTER TABLE host_messages ADD COLUMN deleted_by_owner INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX host_messages_target ON host_messages (room_id, target)
            WHERE target IS NOT NULL;

        ALTER TABLE messages ADD COLUMN target INTEGER;
        ALTER TABLE messages ADD COLUMN reply_to INTEGER;
        ALTER TABLE messages ADD COLUMN mentions TEXT;
        ALTER TABLE messages ADD COLUMN mentions_room INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN deleted_seq INTEGER;
        ALTER TABLE messages ADD COLUMN deleted_by TEXT;
        ALTER TABLE messages ADD COLUMN deleted_by_owner INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN search_doc INTEGER;
        CREATE INDEX messages_target ON messages (room_id, target) WHERE target IS NOT NULL;

        ALTER TABLE unhosted_messages ADD COLUMN target INTEGER;
        ALTER TABLE unhosted_messages ADD COLUMN reply_to INTEGER;
        ALTER TABLE unhosted_messages ADD COLUMN mentions TEXT;
        ALTER TABLE unhosted_messages ADD COLUMN mentions_room INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE unhosted_messages ADD COLUMN deleted_seq INTEGER;
        ALTER TABLE unhosted_messages ADD COLUMN deleted_by TEXT;
        ALTER TABLE unhosted_messages ADD COLUMN deleted_by_owner INTEGER NOT NULL DEFAULT 0;

        -- A queued send's relation (protocol::relations::Relation as JSON), NULL if plain.
        ALTER TABLE outbox ADD COLUMN relation TEXT;

        -- One document per shown message, its current text; the rowid is its search_doc,
        -- ordered by time (store/search.rs), so "newest first" needs no sort.
        CREATE VIRTUAL TABLE message_search USING fts5 (
            text,
            room_id UNINDEXED,
            seq UNINDEXED,
            user_id UNINDEXED,
            room_key,
            user_key,
            tokenize = 'unicode61 remove_diacritics 2'
        );
        "#,
            super::search::index_existing,
        ),
        // Files (protocol §3.10, §15): attachments on every message table; the host's
        // blobs, which rooms hold which, which messages reference them and the uploads
        // under way; the client's cache of downloaded files and its queued uploads.
        M::up(
            r#"
        ALTER TABLE host_messages ADD COLUMN attachments TEXT;
        ALTER TABLE messages ADD COLUMN attachments TEXT;
        ALTER TABLE unhosted_messages ADD COLUMN attachments TEXT;

        -- A blob on disk (files/<file_id>), stored once however many rooms hold it.
        CREATE TABLE host_files (
            file_id   TEXT PRIMARY KEY,
            size      INTEGER NOT NULL,
            stored_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- A room holds a file once it was uploaded to it; the room's quota counts these.
        -- `referenced`: a message has carried it (so its last deletion frees it at once;
        -- an upload never sent is swept after a grace period).
        CREATE TABLE host_room_files (
            room_id     TEXT NOT NULL,
            file_id     TEXT NOT NULL,
            size        INTEGER NOT NULL,
            uploaded_by TEXT NOT NULL,
            uploaded_at INTEGER NOT NULL,
            referenced  INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (room_id, file_id)
        ) WITHOUT ROWID;
        CREATE INDEX host_room_files_file ON host_room_files (file_id);
        CREATE TABLE host_message_files (
            room_id TEXT NOT NULL,
            file_id TEXT NOT NULL,
            seq     INTEGER NOT NULL,
            PRIMARY KEY (room_id, file_id, seq)
        ) WITHOUT ROWID;
        CREATE INDEX host_message_files_seq ON host_message_files (room_id, seq);
        CREATE TABLE host_uploads (
            upload_id  TEXT PRIMARY KEY,
            room_id    TEXT NOT NULL,
            user_id    TEXT NOT NULL,
            file_id    TEXT NOT NULL,
            size       INTEGER NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID;

        -- The client's uploads under way, so that a restart resumes them.
        CREATE TABLE file_uploads (
            room_id    TEXT NOT NULL,
            file_id    TEXT NOT NULL,
            upload_id  TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (room_id, file_id)
        ) WITHOUT ROWID;
        CREATE TABLE file_cache (
            file_id   TEXT PRIMARY KEY,
            size      INTEGER NOT NULL,
            last_used INTEGER NOT NULL,
            keep      INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID;
        "#,
        ),
    ]
}
