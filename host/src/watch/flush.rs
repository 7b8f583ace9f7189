//! The `wasmhook-tally` thread: every second, what the stages counted goes to the store in
//! one transaction (a handful of upserts whatever the traffic: one per subject, minute and
//! kind of count). A flush the store refuses is put back for the next one; a crash loses
//! at most the last second's counts, which are telemetry: events keep their own status.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;
use crate::tally::Tally;
use crate::work::threads::Threads;

/// Time between two flushes: the dashboard and the alerts lag the stages by at most this.
pub const EVERY: Duration = Duration::from_secs(1);

/// Start the thread.
pub fn spawn(store: Arc<Store>, tally: Arc<Tally>, node: &Threads) -> std::io::Result<()> {
    let stopping = node.clone();
    node.spawn("wasmhook-tally", move || {
        while stopping.sleep(EVERY) {
            flush(&store, &tally);
        }
        // What the stages counted while stopping.
        flush(&store, &tally);
    })
}

/// Add what `tally` holds to the store.
pub fn flush(store: &Store, tally: &Tally) {
    let counts = tally.take();
    if counts.is_empty() {
        return;
    }
    if let Err(e) = store.add_tallies(&counts) {
        tracing::warn!(error = %e, "storing the dashboard's counts failed; they go with the next flush");
        tally.put_back(counts);
    }
}
