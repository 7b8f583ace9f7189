//! Which webhooks check their senders, kept in memory for the ingest path: at most 100
//! webhooks exist, so the whole table is rebuilt whenever a setting changes, and a request
//! costs one hash of its token and one map lookup.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::signature::{Scheme, Verifier};
use super::tokens::TokenTable;
use crate::secrets::{SecretError, Vault};
use crate::store::Store;

/// A webhook's stored signature settings (its secrets are sealed in the vault).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureSettings {
    /// The scheme and its options.
    #[serde(flatten)]
    pub scheme: Scheme,
    /// Allowed distance between the signed timestamp and our clock, seconds.
    pub tolerance_s: i64,
    /// How many secrets are active (2 while rotating).
    pub secrets: usize,
}

/// The vault name of a webhook's `n`th signing secret (`:` keeps it apart from the names
/// admins can give their own secrets).
pub fn secret_name(webhook_id: &str, n: usize) -> String {
    format!("webhook:{webhook_id}:{n}")
}

/// A webhook's check and its failure count.
pub struct Check {
    /// The webhook.
    pub webhook_id: String,
    /// Verifies requests.
    pub verifier: Verifier,
    /// Requests refused since start.
    pub failures: Arc<AtomicU64>,
}

/// Why the table could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SendersError {
    /// The store or vault failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Stored settings do not parse or their secrets are missing.
    #[error("webhook {0}: stored signature settings are unusable: {1}")]
    Corrupt(String, String),
}

/// The checks by token hash.
#[derive(Default)]
pub struct Senders {
    by_token: TokenTable<Check>,
    failures: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl Senders {
    /// Rebuild the table from the store (after any signature or webhook change).
    pub fn reload(&self, store: &Store, vault: &Vault) -> Result<(), SendersError> {
        let mut checks = HashMap::new();
        for (id, json) in store.signatures().map_err(SecretError::from)? {
            let settings: SignatureSettings =
                serde_json::from_str(&json).map_err(|e| SendersError::Corrupt(id.clone(), e.to_string()))?;
            let names: Vec<String> = (0..settings.secrets).map(|n| secret_name(&id, n)).collect();
            let secrets: Vec<String> = vault.get(store, &names)?.into_iter().map(|(_, v)| v).collect();
            let verifier = Verifier::new(settings.scheme, &secrets, settings.tolerance_s)
                .map_err(|e| SendersError::Corrupt(id.clone(), e.to_string()))?;
            let failures = self.counter(&id);
            checks.insert(id.clone(), Arc::new(Check { webhook_id: id, verifier, failures }));
        }
        let keys = store.token_keys(crate::model::ids::now_ms()).map_err(SecretError::from)?;
        self.by_token.replace(&keys, &checks);
        Ok(())
    }

    /// The check of the webhook whose token hashes (SHA-256) to `hash` at `now_ms`, if it
    /// has one.
    pub fn for_token_hash(&self, hash: &[u8], now_ms: i64) -> Option<Arc<Check>> {
        self.by_token.get(hash, now_ms)
    }

    /// Requests refused for a webhook since start.
    pub fn failures(&self, webhook_id: &str) -> u64 {
        self.counter(webhook_id).load(Ordering::Relaxed)
    }

    fn counter(&self, webhook_id: &str) -> Arc<AtomicU64> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).entry(webhook_id.to_string()).or_default().clone()
    }
}
