//! Certificate pins (trust on first use): what is pinned, never replaced but by the
//! user's explicit trust (docs/security.md).

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::*;
use crate::protocol::now_ms;

impl Store {
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
}

/// Pin keys in the `pins` table.
pub fn pin_key_addr(authority: &str) -> String {
    format!("addr:{authority}")
}

pub fn pin_key_room(room_id: Uuid) -> String {
    format!("room:{room_id}")
}

pub fn pin_key_host(host_id: Uuid) -> String {
    format!("host:{host_id}")
}
