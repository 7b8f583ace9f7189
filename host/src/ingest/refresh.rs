//! On a shared database, the settings ingest keeps in memory (signature checks and rate
//! limits, by token) are re-read every [`REFRESH`], so a change made through another node
//! applies here within that delay. What the pipeline and the act stage use (mapping,
//! transforms, match, workflows, plugin versions) they read from the database per batch,
//! so it applies from the next batch on every node.

use std::sync::Arc;
use std::time::Duration;

use super::limits::RateLimits;
use super::senders::Senders;
use crate::secrets::Vault;
use crate::store::Store;
use crate::work::threads::Threads;

/// How often settings are re-read: the longest a change made on another node takes to
/// apply to this node's ingest.
pub const REFRESH: Duration = Duration::from_secs(1);

/// Start the refresh thread; it runs until the node stops.
pub fn spawn(
    store: Arc<Store>,
    vault: Arc<Vault>,
    senders: Arc<Senders>,
    limits: Arc<RateLimits>,
    node: &Threads,
) -> std::io::Result<()> {
    let stopping = node.clone();
    node.spawn("wasmhook-refresh", move || {
        while stopping.sleep(REFRESH) {
            // A failed read keeps the settings last read; the next round tries again.
            if let Err(e) = senders.reload(&store, &vault) {
                tracing::warn!(error = %e, "could not re-read webhook signature settings");
            }
            if let Err(e) = limits.reload(&store) {
                tracing::warn!(error = %e, "could not re-read webhook rate limits");
            }
        }
    })
}
