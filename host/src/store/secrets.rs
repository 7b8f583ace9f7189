//! Encrypted secrets (see `crate::secrets`): this module only stores the sealed bytes.

use super::gate::Priority;
use super::sql::args;
use super::{Store, StoreError};

/// A stored secret: name, nonce, ciphertext.
pub type Sealed = (String, Vec<u8>, Vec<u8>);

impl Store {
    /// Insert or replace a sealed secret.
    pub fn put_secret(&self, name: &str, nonce: &[u8], sealed: &[u8], now_ms: i64) -> Result<(), StoreError> {
        self.transaction(Priority::Background, |tx| {
            tx.execute(
                "INSERT INTO secrets (name, nonce, ciphertext, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET nonce = ?2, ciphertext = ?3, updated_at_ms = ?4",
                args![name, nonce, sealed, now_ms],
            )
        })?;
        Ok(())
    }

    /// The sealed secrets among `names` that exist: (name, nonce, ciphertext).
    pub fn sealed_secrets(&self, names: &[String]) -> Result<Vec<Sealed>, StoreError> {
        self.with(|db| {
            let mut out = Vec::new();
            for name in names {
                if let Some(mut r) =
                    db.query_opt("SELECT name, nonce, ciphertext FROM secrets WHERE name = ?1", args![name])?
                {
                    out.push((r.get(0)?, r.get(1)?, r.get(2)?));
                }
            }
            Ok(out)
        })
    }

    /// Names and last update (unix ms) of every admin secret (not webhook signing
    /// secrets, whose names hold a `:`); never the values.
    pub fn list_secrets(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.with(|db| {
            db.query_map(
                "SELECT name, updated_at_ms FROM secrets WHERE name NOT LIKE '%:%' ORDER BY name",
                &[],
                |mut r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
    }

    /// Delete a secret; false if there was none.
    pub fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        Ok(self
            .transaction(Priority::Background, |tx| tx.execute("DELETE FROM secrets WHERE name = ?1", args![name]))?
            == 1)
    }
}
