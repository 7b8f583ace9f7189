//! Encrypted secrets (see `crate::secrets`): this module only stores the sealed bytes.

use rusqlite::params;

use super::{Store, StoreError};

/// A stored secret: name, nonce, ciphertext.
pub type Sealed = (String, Vec<u8>, Vec<u8>);

impl Store {
    /// Insert or replace a sealed secret.
    pub fn put_secret(&self, name: &str, nonce: &[u8], sealed: &[u8], now_ms: i64) -> Result<(), StoreError> {
        let _gate = self.write_gate(super::gate::Priority::Background);
        self.conn().execute(
            "INSERT INTO secrets (name, nonce, ciphertext, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (name) DO UPDATE SET nonce = ?2, ciphertext = ?3, updated_at_ms = ?4",
            params![name, nonce, sealed, now_ms],
        )?;
        Ok(())
    }

    /// The sealed secrets among `names` that exist: (name, nonce, ciphertext).
    pub fn sealed_secrets(&self, names: &[String]) -> Result<Vec<Sealed>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT name, nonce, ciphertext FROM secrets WHERE name = ?1")?;
        let mut out = Vec::new();
        for name in names {
            let mut rows = stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            if let Some(row) = rows.next() {
                out.push(row?);
            }
        }
        Ok(out)
    }

    /// Names and last update (unix ms) of every admin secret (not webhook signing
    /// secrets, whose names hold a `:`); never the values.
    pub fn list_secrets(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT name, updated_at_ms FROM secrets WHERE instr(name, ':') = 0 ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Delete a secret; false if there was none.
    pub fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        let _gate = self.write_gate(super::gate::Priority::Background);
        Ok(self.conn().execute("DELETE FROM secrets WHERE name = ?1", [name])? == 1)
    }
}
