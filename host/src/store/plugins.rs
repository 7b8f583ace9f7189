//! Uploaded plugin components (built-ins live in the binary).

use super::gate::Priority;
use super::sql::args;
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
        self.transaction(Priority::Background, |tx| {
            tx.execute(
                "INSERT INTO plugins (name, world, sha256, size, bytes, uploaded_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (name) DO UPDATE SET world = ?2, sha256 = ?3, size = ?4, bytes = ?5, uploaded_at_ms = ?6",
                args![p.name, p.world, p.sha256, p.size, bytes, p.uploaded_at_ms],
            )?;
            tx.execute(
                "INSERT INTO plugin_versions (sha256, world, bytes, uploaded_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
                args![p.sha256, p.world, bytes, p.uploaded_at_ms],
            )?;
            Ok(())
        })
    }

    /// The world and bytes of an uploaded component by its sha256.
    pub fn plugin_version(&self, sha256: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        self.with(|db| {
            db.query_opt("SELECT world, bytes FROM plugin_versions WHERE sha256 = ?1", args![sha256])?
                .map(|mut r| Ok((r.get(0)?, r.get(1)?)))
                .transpose()
        })
    }

    /// Every uploaded plugin (without bytes).
    pub fn list_plugins(&self) -> Result<Vec<UploadedPlugin>, StoreError> {
        self.with(|db| {
            db.query_map("SELECT name, world, sha256, size, uploaded_at_ms FROM plugins ORDER BY name", &[], |mut r| {
                Ok(UploadedPlugin {
                    name: r.get(0)?,
                    world: r.get(1)?,
                    sha256: r.get(2)?,
                    size: r.get(3)?,
                    uploaded_at_ms: r.get(4)?,
                })
            })
        })
    }

    /// A plugin's world and bytes.
    pub fn plugin_bytes(&self, name: &str) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        self.with(|db| {
            db.query_opt("SELECT world, bytes FROM plugins WHERE name = ?1", args![name])?
                .map(|mut r| Ok((r.get(0)?, r.get(1)?)))
                .transpose()
        })
    }

    /// The sha256 of an uploaded plugin's current bytes.
    pub fn plugin_sha256(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.with(|db| db.value_opt("SELECT sha256 FROM plugins WHERE name = ?1", args![name]))
    }

    /// Delete an uploaded plugin.
    pub fn delete_plugin(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self.with(|db| db.execute("DELETE FROM plugins WHERE name = ?1", args![name]))? == 1)
    }
}
