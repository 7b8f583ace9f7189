//! What the operator watches, kept up behind the stages: the per-minute counts the stages
//! tally (`crate::tally`) flushed to the store, where the dashboard's series read them, and
//! the alerts evaluated from them and delivered.
//!
//! - [`flush`]: the `wasmhook-tally` thread: adds what was counted to the store every second.
//! - [`evaluate`]: which alerts fire now: counts over each alert's window against its thresholds.
//! - [`deliver`]: the `wasmhook-alerts` thread: evaluates, then sends the messages due, signed
//!   (Standard Webhooks) and retried like a `send_webhook` step.

pub mod deliver;
pub mod evaluate;
pub mod flush;

use std::sync::Arc;

use crate::ingest::backlog::Backlog;
use crate::plugins::PluginEngine;
use crate::secrets::Vault;
use crate::store::Store;
use crate::tally::Tally;
use crate::work::threads::Threads;

/// What the watch threads work with.
pub struct Watch {
    /// The store (its own connection: a flush never waits behind an admin request).
    pub store: Arc<Store>,
    /// What the stages counted.
    pub tally: Arc<Tally>,
    /// The backlog and its bound (the `backlog` alert).
    pub backlog: Arc<Backlog>,
    /// The engine whose outbound sender (the private-network rule, breakers) sends alerts.
    pub engine: Arc<PluginEngine>,
    /// Where alerts' signing secrets are.
    pub vault: Arc<Vault>,
    /// The server's public URL, for the links in alerts.
    pub public_url: String,
}

/// Start the flush and the alerts threads on `node`; they run until it stops (the flush
/// writes what is left before it ends).
pub fn spawn(watch: Watch, node: &Threads) -> std::io::Result<()> {
    let watch = Arc::new(watch);
    flush::spawn(watch.store.clone(), watch.tally.clone(), node)?;
    deliver::spawn(watch, node)
}
