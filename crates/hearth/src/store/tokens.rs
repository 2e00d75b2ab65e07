//! Resume tokens: their hashes on the host side, the token itself on the client side.

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::*;
use crate::protocol::now_ms;

impl Store {
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

    /// Client side: the resume token a host gave us for a room (None forgets it).
    /// Kept whether or not the room is joined yet.
    pub fn set_resume_token(&self, room_id: Uuid, token: Option<&str>) -> Result<()> {
        let conn = self.conn();
        let id = room_id.to_string();
        match token {
            Some(t) => conn.execute(
                "INSERT INTO resume_tokens (room_id, token) VALUES (?1, ?2)
                 ON CONFLICT (room_id) DO UPDATE SET token = excluded.token",
                params![id, t],
            ),
            None => conn.execute("DELETE FROM resume_tokens WHERE room_id = ?1", [id]),
        }
        .map(drop)
        .map_err(|e| self.err(e))
    }

    pub fn resume_token(&self, room_id: Uuid) -> Result<Option<String>> {
        self.conn()
            .query_row(
                "SELECT token FROM resume_tokens WHERE room_id = ?1",
                [room_id.to_string()],
                |r| r.get::<_, String>(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}
