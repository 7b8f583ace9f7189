//! Uploaded plugin components (built-ins live in the binary).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// An uploaded plugin.
#[derive(Debug, Clone)]
pub struct UploadedPlugin {
    /// Its name.
    pub name: String,
    /// `transform` or `action`.
    pub world: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Upload time, unix ms.
    pub uploaded_at_ms: i64,
}

impl Store {
    /// Insert or replace a plugin's component; the bytes are also kept by content, for
    /// workflow steps pinned to them.
    pub fn put_plugin(&self, p: &UploadedPlugin, bytes: &[u8]) -> Result<(), StoreError> {
        let _gate = self.write_gate(super::gate::Priority::Background);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO plugins (name, world, sha256, size, bytes, uploaded_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (name) DO UPDATE SET world = ?2, sha256 = ?3, size = ?4, bytes = ?5, uploaded_at_ms = ?6",
            params![p.name, p.world, p.sha256, p.size, bytes, p.uploaded_at_ms],
        )?;
        tx.execute(
            "INSERT OR IGNORE INTO plugin_versions (sha256, world, bytes, uploaded_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![p.sha256, p.world, bytes, p.uploaded_at_ms],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The world and bytes of an uploaded component by its sha256.
    pub fn plugin_version(&self, sha256: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT world, bytes FROM plugin_versions WHERE sha256 = ?1", [sha256], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    /// Every uploaded plugin (without bytes).
    pub fn list_plugins(&self) -> Result<Vec<UploadedPlugin>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT name, world, sha256, size, uploaded_at_ms FROM plugins ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok(UploadedPlugin {
                name: r.get(0)?,
                world: r.get(1)?,
                sha256: r.get(2)?,
                size: r.get(3)?,
                uploaded_at_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A plugin's world and bytes.
    pub fn plugin_bytes(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT world, bytes FROM plugins WHERE name = ?1", [name], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// The sha256 of an uploaded plugin's current bytes.
    pub fn plugin_sha256(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.conn().query_row("SELECT sha256 FROM plugins WHERE name = ?1", [name], |r| r.get(0)).optional()?)
    }

    /// Delete an uploaded plugin.
    pub fn delete_plugin(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute("DELETE FROM plugins WHERE name = ?1", [name])? == 1)
    }
}
