//! The outbox: messages typed and not yet acknowledged by the host, in order.

use rusqlite::params;
use uuid::Uuid;

use super::*;
use crate::protocol::{now_ms, relations::Relation, Timestamp};

impl Store {
    /// Queues a message for sending; it stays until the host acknowledges it.
    pub fn outbox_push(
        &self,
        room_id: Uuid,
        client_msg_id: &str,
        text: &str,
    ) -> Result<OutboxEntry> {
        self.outbox_push_with(room_id, client_msg_id, text, &Relation::default())
    }

    /// Queues a reply, a message with mentions, or an action (protocol §3.9).
    pub fn outbox_push_with(
        &self,
        room_id: Uuid,
        client_msg_id: &str,
        text: &str,
        relation: &Relation,
    ) -> Result<OutboxEntry> {
        let conn = self.conn();
        let created_at = now_ms();
        let rel = (!relation.is_plain())
            .then(|| serde_json::to_string(relation))
            .transpose()
            .map_err(|e| StoreError::Migration(format!("cannot encode a relation: {e}")))?;
        conn.execute(
            "INSERT INTO outbox (room_id, client_msg_id, text, created_at, relation) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![room_id.to_string(), client_msg_id, text, created_at, rel],
        )
        .map_err(|e| self.err(e))?;
        Ok(OutboxEntry {
            id: conn.last_insert_rowid(),
            room_id,
            client_msg_id: client_msg_id.to_string(),
            text: text.to_string(),
            created_at,
            relation: relation.clone(),
        })
    }

    /// Pending sends of a room, in the order they were typed.
    pub fn outbox(&self, room_id: Uuid) -> Result<Vec<OutboxEntry>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, client_msg_id, text, created_at, relation FROM outbox WHERE room_id = ?1 ORDER BY id",
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
                    // Written by this build from a Relation; unreadable means plain.
                    relation: r
                        .get::<_, Option<String>>(4)?
                        .and_then(|j| serde_json::from_str(&j).ok())
                        .unwrap_or_default(),
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

#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    pub id: i64,
    pub room_id: Uuid,
    pub client_msg_id: String,
    pub text: String,
    pub created_at: Timestamp,
    pub relation: Relation,
}
