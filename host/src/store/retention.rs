//! Deleting what retention no longer keeps, a small batch per transaction so the writer
//! lock is never held long (ingest waits for it), and the database's size for `/metrics`.
//!
//! Never deleted: an event still `accepted` (waiting for or in the pipeline), a webhook's
//! test event (its mapping was made from it), a running enrollment. An ended enrollment of
//! a workflow that does not re-enroll keeps its row without its log, because that row is
//! what refuses the record a second enrollment.

use super::gate::Priority;
use super::sql::args;
use super::{Store, StoreError};
use crate::model::ids::{EventId, IdKind, WebhookId, id_floor};
use crate::model::retention::Retention;

/// A webhook's events as retention sees them (deleted webhooks included: their events go too).
#[derive(Debug, Clone)]
pub struct Kept {
    /// The webhook.
    pub webhook_id: WebhookId,
    /// Its own retention, if not the default.
    pub retention: Option<Retention>,
    /// Its test event, which is kept.
    pub test_event_id: Option<EventId>,
}

/// What one batch over enrollments did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnrollmentsPruned {
    /// Enrollments deleted (of re-enrolling workflows).
    pub deleted: u64,
    /// Enrollments whose trigger and step log were cleared (the row stays).
    pub logs_cleared: u64,
}

/// The database's size.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseSize {
    /// Bytes it takes (SQLite: the file, without the WAL; PostgreSQL: the database).
    pub bytes: u64,
    /// Of those, bytes free for reuse (SQLite's free pages); PostgreSQL does not say.
    pub free_bytes: Option<u64>,
}

impl Store {
    /// Set (or with `None` clear) `id`'s own retention; false if there is no such webhook.
    pub fn set_retention(&self, id: &WebhookId, retention: Option<Retention>) -> Result<bool, StoreError> {
        let ms = retention.map(Retention::ms);
        let changed = self.transaction(Priority::Background, |tx| {
            tx.execute("UPDATE webhooks SET retention_ms = ?2 WHERE id = ?1 AND deleted_at_ms IS NULL", args![id, ms])
        })?;
        Ok(changed == 1)
    }

    /// Every webhook ever made, with what retention needs to know of it.
    pub fn kept(&self) -> Result<Vec<Kept>, StoreError> {
        self.with(|db| {
            db.query_map("SELECT id, retention_ms, test_event_id FROM webhooks", &[], |mut r| {
                Ok(Kept {
                    webhook_id: r.get(0)?,
                    retention: r.get::<Option<i64>>(1)?.map(Retention::from_ms),
                    test_event_id: r.get(2)?,
                })
            })
        })
    }

    /// Delete up to `limit` of `webhook`'s events received before `before_ms` (never one
    /// still `accepted`, never `keep`); how many went. Event ids sort by receipt time, so
    /// the range is one walk of the (webhook, id) index.
    pub fn prune_events(
        &self,
        webhook: &WebhookId,
        before_ms: i64,
        keep: Option<&EventId>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let below = id_floor(IdKind::Event, before_ms);
        let keep = keep.map_or("", EventId::as_str);
        self.transaction(Priority::Background, |tx| {
            tx.execute(
                "DELETE FROM events WHERE id IN (
                     SELECT id FROM events WHERE webhook_id = ?1 AND id < ?2 AND status != 'accepted' AND id != ?3
                     ORDER BY id LIMIT ?4)",
                args![webhook, below, keep, i64::from(limit)],
            )
        })
    }

    /// Up to `limit` enrollments that ended before `before_ms`: deleted if their workflow
    /// re-enrolls, else their trigger and step log cleared.
    pub fn prune_enrollments(&self, before_ms: i64, limit: u32) -> Result<EnrollmentsPruned, StoreError> {
        self.transaction(Priority::Background, |tx| {
            let ended = |reenroll: i64| {
                format!(
                    "SELECT e.id FROM enrollments e JOIN workflows w ON w.id = e.workflow_id
                     WHERE e.finished_at_ms IS NOT NULL AND e.log_pruned = 0 AND e.finished_at_ms < ?1
                       AND e.status != 'running' AND w.reenroll = {reenroll}
                     ORDER BY e.finished_at_ms LIMIT ?2"
                )
            };
            let limit = i64::from(limit);
            let deleted =
                tx.execute(&format!("DELETE FROM enrollments WHERE id IN ({})", ended(1)), args![before_ms, limit])?;
            let logs_cleared = tx.execute(
                &format!(
                    "UPDATE enrollments SET trigger_json = '{{}}', steps_json = '[]', log_pruned = 1 WHERE id IN ({})",
                    ended(0)
                ),
                args![before_ms, limit],
            )?;
            Ok(EnrollmentsPruned { deleted, logs_cleared })
        })
    }

    /// Delete the record imports that finished before `before_ms`; how many.
    pub fn prune_imports(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.transaction(Priority::Background, |tx| {
            tx.execute("DELETE FROM imports WHERE finished_at_ms IS NOT NULL AND finished_at_ms < ?1", args![before_ms])
        })
    }

    /// How big the database is now.
    pub fn size(&self) -> Result<DatabaseSize, StoreError> {
        self.with(|db| match db.dialect() {
            super::sql::Dialect::Sqlite => {
                let pages: i64 = db.value("SELECT page_count FROM pragma_page_count()", &[])?;
                let free: i64 = db.value("SELECT freelist_count FROM pragma_freelist_count()", &[])?;
                let page: i64 = db.value("SELECT page_size FROM pragma_page_size()", &[])?;
                let bytes = |n: i64| u64::try_from(n.saturating_mul(page)).unwrap_or(0);
                Ok(DatabaseSize { bytes: bytes(pages), free_bytes: Some(bytes(free)) })
            }
            super::sql::Dialect::Postgres => {
                let bytes: i64 = db.value("SELECT pg_database_size(current_database())", &[])?;
                Ok(DatabaseSize { bytes: u64::try_from(bytes).unwrap_or(0), free_bytes: None })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::new_id;

    const DAY: i64 = 86_400_000;

    fn store_with_webhook() -> (tempfile::TempDir, Store, WebhookId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let webhook = WebhookId::new(0);
        store.create_webhook(&webhook, "w", "whk_test", 0).unwrap();
        (dir, store, webhook)
    }

    fn event(store: &Store, webhook: &WebhookId, received_at_ms: i64, status: &str) -> EventId {
        let id = EventId::from_text(new_id(IdKind::Event, received_at_ms));
        store
            .with(|db| {
                db.execute(
                    "INSERT INTO events (id, webhook_id, received_at_ms, status, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
                    args![id, webhook, received_at_ms, status, b"{}".to_vec()],
                )
            })
            .unwrap();
        id
    }

    fn count(store: &Store, sql: &str) -> i64 {
        store.with(|db| db.value(sql, &[])).unwrap()
    }

    #[test]
    fn events_waiting_or_kept_as_the_test_event_are_never_pruned() {
        let (_dir, store, webhook) = store_with_webhook();
        let now = 100 * DAY;
        let test_event = event(&store, &webhook, DAY, "test_event");
        let waiting = event(&store, &webhook, DAY, "accepted");
        for status in ["enrolled", "unmatched", "failed", "duplicate", "not_ready"] {
            event(&store, &webhook, 2 * DAY, status);
        }
        let recent = event(&store, &webhook, now - DAY, "enrolled");
        let cutoff = Retention::from_days(30.0).unwrap().cutoff(now);
        assert_eq!(store.prune_events(&webhook, cutoff, Some(&test_event), 3).unwrap(), 3, "a batch is bounded");
        assert_eq!(store.prune_events(&webhook, cutoff, Some(&test_event), 3).unwrap(), 2);
        assert_eq!(store.prune_events(&webhook, cutoff, Some(&test_event), 3).unwrap(), 0);
        let left: Vec<EventId> =
            store.with(|db| db.query_map("SELECT id FROM events ORDER BY id", &[], |mut r| r.get(0))).unwrap();
        let mut expected = vec![test_event, waiting, recent];
        expected.sort();
        assert_eq!(left, expected);
    }

    #[test]
    fn running_enrollments_stay_and_once_enrollments_keep_their_row() {
        let (_dir, store, _webhook) = store_with_webhook();
        let now = 100 * DAY;
        store
            .with(|db| {
                for (id, reenroll) in [("wf_again", 1), ("wf_once", 0)] {
                    db.execute(
                        "INSERT INTO workflows (id, name, object, enabled, reenroll, triggers_json, created_at_ms)
                         VALUES (?1, ?1, 'contacts', 1, ?2, '[]', 0)",
                        args![id, reenroll],
                    )?;
                }
                let rows: [(&str, &str, &str, Option<i64>); 5] = [
                    ("enr_1", "wf_again", "completed", Some(DAY)),
                    ("enr_2", "wf_again", "failed", Some(DAY)),
                    ("enr_3", "wf_again", "running", None),
                    ("enr_4", "wf_again", "completed", Some(now - DAY)),
                    ("enr_5", "wf_once", "completed", Some(DAY)),
                ];
                for (id, workflow, status, finished) in rows {
                    db.execute(
                        "INSERT INTO enrollments (id, workflow_id, record_id, event_id, enrolled_at_ms, status,
                             trigger_json, steps_json, finished_at_ms)
                         VALUES (?1, ?2, 'rec_1', ?1, 0, ?3, '{\"a\":1}', '[{\"step\":1}]', ?4)",
                        args![id, workflow, status, finished],
                    )?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let cutoff = Retention::from_days(30.0).unwrap().cutoff(now);
        assert_eq!(store.prune_enrollments(cutoff, 10).unwrap(), EnrollmentsPruned { deleted: 2, logs_cleared: 1 });
        assert_eq!(store.prune_enrollments(cutoff, 10).unwrap(), EnrollmentsPruned::default(), "nothing walked twice");
        assert_eq!(count(&store, "SELECT count(*) FROM enrollments WHERE id IN ('enr_3', 'enr_4', 'enr_5')"), 3);
        assert_eq!(count(&store, "SELECT count(*) FROM enrollments"), 3);
        assert_eq!(
            count(
                &store,
                "SELECT count(*) FROM enrollments WHERE id = 'enr_5' AND steps_json = '[]' AND trigger_json = '{}'"
            ),
            1
        );
    }
}
