//! A per-webhook value (rate bucket, sender check) found by the hash of a request's token,
//! in memory. A webhook has one token, or two during a rotation's grace period; the old one
//! stops reaching the value the moment its grace ends, not at the next reload.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::store::webhooks::TokenKey;

/// A value and the time (unix ms) its token stops reaching it, if ever.
type Entry<T> = (Arc<T>, Option<i64>);

/// Values by token hash, each with the time its token stops working, if ever.
pub struct TokenTable<T> {
    by_hash: RwLock<Arc<HashMap<Vec<u8>, Entry<T>>>>,
}

impl<T> Default for TokenTable<T> {
    fn default() -> Self {
        TokenTable { by_hash: RwLock::new(Arc::new(HashMap::new())) }
    }
}

impl<T> TokenTable<T> {
    /// Replace the whole table: every token in `keys` whose webhook has a value.
    pub fn replace(&self, keys: &[TokenKey], values: &HashMap<String, Arc<T>>) {
        let table = keys
            .iter()
            .filter_map(|k| Some((k.hash.clone(), (values.get(&k.webhook_id)?.clone(), k.expires_ms))))
            .collect();
        *self.by_hash.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
    }

    /// The value reached by the token hashing (SHA-256) to `hash` at `now_ms`.
    pub fn get(&self, hash: &[u8], now_ms: i64) -> Option<Arc<T>> {
        let table = self.by_hash.read().unwrap_or_else(|p| p.into_inner()).clone();
        let (value, expires_ms) = table.get(hash)?;
        expires_ms.is_none_or(|end| now_ms < end).then(|| value.clone())
    }
}
