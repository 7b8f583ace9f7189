//! A node of a cluster (one on the embedded store): what its heartbeat says of it.

use std::time::Duration;

/// How often a node writes its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(2);

/// A node whose last heartbeat is older than this is not live: five missed beats (a busy
/// machine delays one; a dead node misses them all).
pub const LIVE_WITHIN: Duration = Duration::from_secs(10);

/// Work a node did since it started (its process's counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct WorkDone {
    /// Events it stored from ingest requests.
    pub events_received: u64,
    /// Events its pipeline finished (any final status).
    pub events_processed: u64,
    /// Workflow action steps it ran (each try).
    pub steps_run: u64,
    /// Record import rows it applied.
    pub rows_imported: u64,
}

/// What a node says of itself in each heartbeat, and what a listing reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSeen {
    /// Its name (the `node-id` file in its data dir; claims carry it).
    pub id: String,
    /// The wasmhook version it runs.
    pub version: String,
    /// The address it serves HTTP on.
    pub address: String,
    /// The machine's host name.
    pub host: String,
    /// Its process id.
    pub pid: i64,
    /// When it started (unix ms).
    pub started_at_ms: i64,
    /// Its last heartbeat (unix ms, its own clock).
    pub heartbeat_at_ms: i64,
    /// When it stopped cleanly, if it did (a node that died just stops beating).
    pub stopped_at_ms: Option<i64>,
    /// Its work since it started.
    pub work: WorkDone,
}

impl NodeSeen {
    /// Whether it is serving at `now_ms`: not stopped, and beating.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.stopped_at_ms.is_none() && now_ms - self.heartbeat_at_ms <= LIVE_WITHIN.as_millis() as i64
    }
}
