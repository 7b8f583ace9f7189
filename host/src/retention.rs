//! The pruner: one background thread that deletes what retention no longer keeps — events
//! received longer ago than their webhook's retention (the server's default unless the
//! webhook has its own), enrollments that ended longer ago than the default, finished
//! imports, alert messages, per-minute counts older than two days — in small batches, off the ingest path.
//!
//! Why small, paced batches: SQLite has one writer, and ingest waits for the write lock; a
//! batch of [`BATCH`] rows holds it for a few milliseconds (the write gate also lets ingest
//! in first), and between batches the pruner rests [`REST`], so ingest's group commits
//! find the lock free in between. Space freed by
//! the deletes is reused by later inserts (SQLite's free pages), so at a steady load the
//! file stops growing after one retention period.

use std::sync::Arc;
use std::time::Duration;

use crate::model::ids::now_ms;
use crate::model::retention::Retention;
use crate::store::{Store, StoreError};
use crate::telemetry::metrics;
use crate::work::threads::Threads;

/// Rows per transaction.
const BATCH: u32 = 200;

/// The rest between two batches. Measured at 2,000 events/s in (`wasmhook-bench
/// retention`): 200 rows + 10 ms keeps up (file flat, ack p99 2.8x the run without
/// pruning); 64 rows + 5 ms, or resting twice as long as each batch took, fell behind
/// (1,100-1,500 pruned/s, the file grew) without a better p99 (3.1x, 4.1x): what ingest
/// pays is the deletes' share of the write-ahead log, not how they are sliced.
const REST: Duration = Duration::from_millis(10);

/// How long the per-minute counts are kept: the longest window read (a day), and a day more.
const COUNTS_KEPT_MS: i64 = 2 * 86_400_000;

/// The longest wait between two rounds.
const LONGEST_WAIT: Duration = Duration::from_secs(60);

/// The shortest wait between two rounds.
const SHORTEST_WAIT: Duration = Duration::from_secs(1);

/// Start the pruner on `node`; it runs until the node stops.
pub fn spawn(store: Arc<Store>, default: Retention, node: &Threads) -> std::io::Result<()> {
    let stopping = node.clone();
    node.spawn("wasmhook-retention", move || {
        let mut wait = SHORTEST_WAIT;
        while stopping.sleep(wait) {
            match round(&store, default, &stopping) {
                Ok(shortest) => wait = between_rounds(shortest),
                Err(e) => tracing::warn!(error = %e, "pruning old data failed; trying again in the next round"),
            }
        }
    })
}

/// A tenth of the shortest retention in use, within bounds: data is then kept at most
/// about 10% longer than asked.
fn between_rounds(shortest: Retention) -> Duration {
    Duration::from_millis(u64::try_from(shortest.ms() / 10).unwrap_or(0)).clamp(SHORTEST_WAIT, LONGEST_WAIT)
}

/// Prune everything due now; the shortest retention in use.
fn round(store: &Store, default: Retention, stopping: &Threads) -> Result<Retention, StoreError> {
    let now = now_ms();
    let mut shortest = default;
    for webhook in store.kept()? {
        let retention = webhook.retention.unwrap_or(default);
        if retention.ms() < shortest.ms() {
            shortest = retention;
        }
        let before = retention.cutoff(now);
        in_batches(stopping, || {
            let deleted = store.prune_events(&webhook.webhook_id, before, webhook.test_event_id.as_ref(), BATCH)?;
            metrics::rows_pruned("events", deleted);
            Ok(deleted)
        })?;
    }
    let before = default.cutoff(now);
    in_batches(stopping, || {
        let pruned = store.prune_enrollments(before, BATCH)?;
        metrics::rows_pruned("enrollments", pruned.deleted);
        metrics::rows_pruned("enrollment_logs", pruned.logs_cleared);
        Ok(pruned.deleted.max(pruned.logs_cleared))
    })?;
    metrics::rows_pruned("imports", store.prune_imports(before)?);
    metrics::rows_pruned("alert_messages", store.prune_alert_messages(before)?);
    // The dashboard reads a day at most; two are kept so a day's window is whole.
    let counts_before = crate::tally::minute_of(now - COUNTS_KEPT_MS);
    metrics::rows_pruned("tallies", store.prune_tallies(counts_before)?);
    Ok(shortest)
}

/// Run `batch` (which answers how many rows it took) until one takes less than a full
/// batch or the node stops, resting [`REST`] between two.
fn in_batches(stopping: &Threads, mut batch: impl FnMut() -> Result<u64, StoreError>) -> Result<(), StoreError> {
    while batch()? == u64::from(BATCH) && stopping.sleep(REST) {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_come_a_tenth_of_the_shortest_retention_apart_within_bounds() {
        let days = |d: f64| Retention::from_days(d).unwrap();
        assert_eq!(between_rounds(days(30.0)), LONGEST_WAIT);
        assert_eq!(between_rounds(days(0.0001)), SHORTEST_WAIT);
        assert_eq!(between_rounds(days(0.005)), Duration::from_millis(43_200));
    }
}
