//! The host side of rooms that are not for everyone (protocol §3.8): each hosted room's
//! policy, and its roster, the verified identities the host admitted.

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::*;
use crate::protocol::now_ms;

/// An identity the host admitted to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub user_id: Uuid,
    /// The name it last joined with.
    pub name: String,
    pub admitted_at: i64,
}

impl Store {
    /// Replaces a hosted room's policy; false if this store hosts no such room.
    pub fn set_room_policy(&self, room_id: Uuid, policy: RoomPolicy) -> Result<bool> {
        self.conn()
            .execute(
                "UPDATE hosted_rooms SET visibility = ?2, members_only = ?3 WHERE room_id = ?1",
                params![
                    room_id.to_string(),
                    policy.visibility.as_str(),
                    policy.members_only
                ],
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))
    }

    /// Puts a verified identity on a room's roster, or updates the name it has there.
    pub fn admit(&self, room_id: Uuid, user_id: Uuid, name: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO room_roster (room_id, user_id, name, admitted_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (room_id, user_id) DO UPDATE SET name = excluded.name",
                params![room_id.to_string(), user_id.to_string(), name, now_ms()],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Takes an identity off a room's roster and revokes its resume tokens, in one
    /// transaction. True if it was on the roster or held a token.
    pub fn remove_member(&self, room_id: Uuid, user_id: Uuid) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let (room, user) = (room_id.to_string(), user_id.to_string());
        let mut n = tx
            .execute(
                "DELETE FROM room_roster WHERE room_id = ?1 AND user_id = ?2",
                params![room, user],
            )
            .map_err(|e| self.err(e))?;
        n += tx
            .execute(
                "DELETE FROM room_tokens WHERE room_id = ?1 AND user_id = ?2",
                params![room, user],
            )
            .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// A room's roster, oldest admission first.
    pub fn roster(&self, room_id: Uuid) -> Result<Vec<RosterEntry>> {
        let rows = self.people_rows(
            "SELECT user_id, name, admitted_at FROM room_roster WHERE room_id = ?1
             ORDER BY admitted_at, user_id",
            [room_id.to_string()],
        )?;
        Ok(rows
            .into_iter()
            .map(|(user_id, name, admitted_at)| RosterEntry {
                user_id,
                name,
                admitted_at,
            })
            .collect())
    }

    /// Whether an identity is on a room's roster.
    pub fn on_roster(&self, room_id: Uuid, user_id: Uuid) -> Result<bool> {
        self.conn()
            .query_row(
                "SELECT 1 FROM room_roster WHERE room_id = ?1 AND user_id = ?2",
                params![room_id.to_string(), user_id.to_string()],
                |_| Ok(()),
            )
            .optional()
            .map(|f| f.is_some())
            .map_err(|e| self.err(e))
    }
}
