//! The nodes serving from this database: each writes a heartbeat (what it is, the work it
//! did) every few seconds, so any node can list the cluster (`GET /nodes`); and the claims
//! each holds, read from the claims themselves.

use std::collections::HashMap;

use super::gate::Priority;
use super::sql::args;
use super::{Store, StoreError};
use crate::model::node::{NodeSeen, WorkDone};

/// How long a node that stopped beating stays listed (`?all=true`) before a heartbeat of
/// another node deletes it.
const FORGOTTEN_AFTER_MS: i64 = 24 * 3_600_000;

/// Claims a node holds, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClaimsHeld {
    /// Events it claimed for its pipeline whose lease has not run out.
    pub events: u64,
    /// Running enrollments it claimed for its act stage whose lease has not run out.
    pub enrollments: u64,
}

impl Store {
    /// Record `node`'s heartbeat (inserting it on its first), and forget nodes silent for a day.
    pub fn beat(&self, node: &NodeSeen) -> Result<(), StoreError> {
        let work = node.work;
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.transaction(Priority::Background, |tx| {
            tx.execute(
                "INSERT INTO nodes (id, version, address, host, pid, started_at_ms, heartbeat_at_ms, stopped_at_ms,
                                    events_received, events_processed, steps_run, rows_imported)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (id) DO UPDATE SET version = ?2, address = ?3, host = ?4, pid = ?5,
                     started_at_ms = ?6, heartbeat_at_ms = ?7, stopped_at_ms = ?8, events_received = ?9,
                     events_processed = ?10, steps_run = ?11, rows_imported = ?12",
                args![
                    node.id,
                    node.version,
                    node.address,
                    node.host,
                    node.pid,
                    node.started_at_ms,
                    node.heartbeat_at_ms,
                    node.stopped_at_ms,
                    count(work.events_received),
                    count(work.events_processed),
                    count(work.steps_run),
                    count(work.rows_imported)
                ],
            )?;
            tx.execute("DELETE FROM nodes WHERE heartbeat_at_ms < ?1", args![node.heartbeat_at_ms - FORGOTTEN_AFTER_MS])
        })?;
        Ok(())
    }

    /// The nodes whose last heartbeat is at or after `since_ms`, by id.
    pub fn nodes_seen_since(&self, since_ms: i64) -> Result<Vec<NodeSeen>, StoreError> {
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        self.with(|db| {
            db.query_map(
                "SELECT id, version, address, host, pid, started_at_ms, heartbeat_at_ms, stopped_at_ms,
                        events_received, events_processed, steps_run, rows_imported
                 FROM nodes WHERE heartbeat_at_ms >= ?1 ORDER BY id",
                args![since_ms],
                |mut r| {
                    Ok(NodeSeen {
                        id: r.get(0)?,
                        version: r.get(1)?,
                        address: r.get(2)?,
                        host: r.get(3)?,
                        pid: r.get(4)?,
                        started_at_ms: r.get(5)?,
                        heartbeat_at_ms: r.get(6)?,
                        stopped_at_ms: r.get(7)?,
                        work: WorkDone {
                            events_received: count(r.get(8)?),
                            events_processed: count(r.get(9)?),
                            steps_run: count(r.get(10)?),
                            rows_imported: count(r.get(11)?),
                        },
                    })
                },
            )
        })
    }

    /// The claims each node holds at `now_ms`, by node id. Claimed events are waiting
    /// (`accepted`) and claimed enrollments running, so both reads stay within partial
    /// indexes: bounded by the backlog and the running enrollments, not the tables.
    pub fn claims_held(&self, now_ms: i64) -> Result<HashMap<String, ClaimsHeld>, StoreError> {
        let mut held: HashMap<String, ClaimsHeld> = HashMap::new();
        self.with(|db| {
            for (table, status) in [("events", "accepted"), ("enrollments", "running")] {
                let counts: Vec<(String, i64)> = db.query_map(
                    &format!(
                        "SELECT claimed_by, count(*) FROM {table}
                         WHERE status = '{status}' AND claimed_by IS NOT NULL AND lease_until_ms >= ?1
                         GROUP BY claimed_by"
                    ),
                    args![now_ms],
                    |mut r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                for (node, n) in counts {
                    let entry = held.entry(node).or_default();
                    let n = u64::try_from(n).unwrap_or(0);
                    if table == "events" {
                        entry.events = n;
                    } else {
                        entry.enrollments = n;
                    }
                }
            }
            Ok::<_, StoreError>(())
        })?;
        Ok(held)
    }
}
