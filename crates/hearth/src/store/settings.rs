//! Identity and settings: this install's user and host ids, and key/value settings.

use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::*;

impl Store {
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

    /// This install's identity (its key pair), created on first use in the data
    /// directory.
    pub fn identity(&self) -> Result<std::sync::Arc<crate::identity::Identity>> {
        if let Some(id) = self.identity.get() {
            return Ok(std::sync::Arc::clone(id));
        }
        let dir = self.path.parent().unwrap_or(std::path::Path::new("."));
        let loaded = std::sync::Arc::new(crate::identity::Identity::load_or_create(dir)?);
        Ok(std::sync::Arc::clone(self.identity.get_or_init(|| loaded)))
    }

    /// This install's user id: derived from its identity key (docs/protocol.md §3.7).
    pub fn user_id(&self) -> Result<Uuid> {
        Ok(self.identity()?.user_id())
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

    /// Every setting whose key starts with `prefix`, by key.
    pub fn settings_with_prefix(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT key, value FROM settings WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([prefix], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }
}
