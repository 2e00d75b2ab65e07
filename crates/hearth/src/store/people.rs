//! The client side of identity (protocol §3.7): the people this user verified by
//! comparing identity codes, and when each identity was first seen in each room.

use rusqlite::params;
use uuid::Uuid;

use super::*;
use crate::protocol::now_ms;

/// A person the user verified: this identity, under the name it had then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPerson {
    pub user_id: Uuid,
    pub name: String,
    pub verified_at: i64,
}

/// An identity seen in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenPerson {
    pub user_id: Uuid,
    /// The name it was first seen with.
    pub name: String,
    pub first_seen_at: i64,
}

impl Store {
    /// Marks an identity verified (or, with `None`, no longer verified).
    pub fn set_verified(&self, user_id: Uuid, name: Option<&str>) -> Result<()> {
        let conn = self.conn();
        match name {
            Some(name) => conn.execute(
                "INSERT INTO verified_people (user_id, name, verified_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (user_id) DO UPDATE SET name = excluded.name",
                params![user_id.to_string(), name, now_ms()],
            ),
            None => conn.execute(
                "DELETE FROM verified_people WHERE user_id = ?1",
                [user_id.to_string()],
            ),
        }
        .map(drop)
        .map_err(|e| self.err(e))
    }

    pub fn verified_people(&self) -> Result<Vec<VerifiedPerson>> {
        let rows = self.people_rows(
            "SELECT user_id, name, verified_at FROM verified_people ORDER BY verified_at",
            [],
        )?;
        Ok(rows
            .into_iter()
            .map(|(user_id, name, verified_at)| VerifiedPerson {
                user_id,
                name,
                verified_at,
            })
            .collect())
    }

    /// Records identities seen in a room; the first sighting of each is kept.
    pub fn note_seen<'a>(
        &self,
        room_id: Uuid,
        people: impl IntoIterator<Item = (Uuid, &'a str)>,
    ) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO room_people (room_id, user_id, name, first_seen_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(|e| self.err(e))?;
            let (room, now) = (room_id.to_string(), now_ms());
            for (user_id, name) in people {
                stmt.execute(params![room, user_id.to_string(), name, now])
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Every identity seen in a room, first seen first.
    pub fn seen_in_room(&self, room_id: Uuid) -> Result<Vec<SeenPerson>> {
        let rows = self.people_rows(
            "SELECT user_id, name, first_seen_at FROM room_people WHERE room_id = ?1
             ORDER BY first_seen_at, user_id",
            [room_id.to_string()],
        )?;
        Ok(rows
            .into_iter()
            .map(|(user_id, name, first_seen_at)| SeenPerson {
                user_id,
                name,
                first_seen_at,
            })
            .collect())
    }

    /// `(user id, name, time)` rows, the shape of every table of people here (verified,
    /// seen, a host's roster). Rows whose user id does not parse are skipped.
    pub(super) fn people_rows(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<(Uuid, String, i64)>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<(String, String, i64)>>>()
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, name, at)| Some((Uuid::parse_str(&id).ok()?, name, at)))
            .collect())
    }

    /// When this install first joined a room (`None`: not joined).
    pub fn joined_at(&self, room_id: Uuid) -> Result<Option<i64>> {
        use rusqlite::OptionalExtension;
        self.conn()
            .query_row(
                "SELECT joined_at FROM joined_rooms WHERE room_id = ?1",
                [room_id.to_string()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The authors of a room's cached messages whose key the host checked.
    pub fn verified_authors(&self, room_id: Uuid) -> Result<std::collections::HashSet<Uuid>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT DISTINCT user_id FROM messages WHERE room_id = ?1 AND verified = 1",
            )
            .map_err(|e| self.err(e))?;
        let ids = stmt
            .query_map([room_id.to_string()], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        Ok(ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect())
    }
}
