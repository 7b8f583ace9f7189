//! The node's heartbeat: every [`HEARTBEAT_EVERY`] it writes what it is and the work it did
//! into the `nodes` table, so any node lists the cluster (`GET /nodes`); when it stops
//! cleanly it says so, and a node that died just stops beating (listed as not live after
//! [`crate::model::node::LIVE_WITHIN`]).

use std::sync::Arc;

use crate::model::node::{HEARTBEAT_EVERY, NodeSeen};
use crate::store::Store;
use crate::work::threads::Threads;

/// Write the first heartbeat now (so the node is listed as soon as it serves), then start
/// the thread that writes the others and the last one at stop.
pub fn start(store: Arc<Store>, mut seen: NodeSeen, threads: &Threads) -> std::io::Result<()> {
    beat(&store, &mut seen);
    let stopping = threads.clone();
    threads.spawn("wasmhook-heartbeat", move || {
        while stopping.sleep(HEARTBEAT_EVERY) {
            beat(&store, &mut seen);
        }
        seen.stopped_at_ms = Some(crate::model::ids::now_ms());
        beat(&store, &mut seen);
    })
}

/// One heartbeat; a failed write is logged and the next one tries again (listings then
/// show the node as late, which is what it is to the others).
fn beat(store: &Store, seen: &mut NodeSeen) {
    seen.heartbeat_at_ms = seen.stopped_at_ms.unwrap_or_else(crate::model::ids::now_ms);
    seen.work = crate::telemetry::metrics::work_done();
    if let Err(e) = store.beat(seen) {
        tracing::warn!(error = %e, "could not write this node's heartbeat");
    }
}

/// This machine's host name, as the kernel has it (`-` if unreadable).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "-".into())
}
