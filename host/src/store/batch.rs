//! The pipeline worker's write transaction: the match lookups, enrollments and final
//! statuses of many events committed together, so the store costs one commit per batch.

use std::cell::RefCell;
use std::time::Duration;

use serde_json::Value as Json;

use super::events::{Finished, apply_groups};
use super::gate::Priority;
use super::ingest_log::LoggedGroup;
use super::read_ahead::ReadAhead;
use super::records::{record_id_by_unique, unique_key};
use super::sql::{Dialect, Sql, ToArg, args, execute_rows};
use super::workflows::StepSaved;
use super::{Store, StoreError};
use crate::model::ids::{EnrollmentId, EventId, RecordId, WorkflowId};
use crate::model::workflow::{EnrollOutcome, EnrollmentStatus, Workflow};

/// One open write transaction of the worker. Everything done through it commits together
/// or not at all (then the events stay `accepted` and are processed again).
pub struct Batch<'a> {
    tx: &'a dyn Sql,
    /// Final statuses, written together just before the commit (a round trip each would
    /// be a quarter of the pipeline's statements on PostgreSQL).
    finished: RefCell<Vec<FinishedRow>>,
    /// Match lookups and enrollment checks read for all the batch's events at once.
    ahead: RefCell<ReadAhead>,
    /// Enrollments decided from what was read ahead, inserted together before the commit.
    pending: RefCell<Vec<NewEnrollment>>,
}

/// One enrollment to insert.
struct NewEnrollment {
    id: EnrollmentId,
    workflow_id: WorkflowId,
    record_id: RecordId,
    event_id: EventId,
    at_ms: i64,
    status: EnrollmentStatus,
    trigger: String,
    finished_at_ms: Option<i64>,
    /// The record, for a workflow that enrolls it once (PostgreSQL's unique index).
    once_key: Option<RecordId>,
}

/// One event's final status, as [`Batch::finish_event`] is given it.
struct FinishedRow {
    id: EventId,
    status: crate::model::event::EventStatus,
    stage: Option<String>,
    reason: Option<String>,
    detail: String,
    matched_record_id: Option<RecordId>,
}

impl Store {
    /// Run `work` in one write transaction, committed when it returns `Ok`.
    pub fn batch<T>(&self, work: impl FnOnce(&Batch<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        Ok(self.batch_timed(work)?.0)
    }

    /// [`batch`](Self::batch), also saying how long the write gate held it back for ingest.
    pub fn batch_timed<T>(
        &self,
        work: impl FnOnce(&Batch<'_>) -> Result<T, StoreError>,
    ) -> Result<(T, Duration), StoreError> {
        self.transaction_timed(Priority::Background, |tx| Batch::run(tx, work))
    }

    /// Store ingest-log groups with the position they reach (as [`Store::apply_logged`])
    /// and run `work`, a pipeline batch on their events, in the same transaction: an event
    /// processed from memory reaches the disk once, already processed. `durable` commits
    /// with a full fsync (segments are deleted next).
    pub fn apply_logged_batch<T>(
        &self,
        groups: &[&LoggedGroup],
        durable: bool,
        work: impl FnOnce(&Batch<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let run = |tx: &dyn Sql| {
            apply_groups(tx, groups)?;
            Batch::run(tx, work)
        };
        match &self.db {
            super::Db::Sqlite(s) if durable => s.transaction_synced(Priority::Ingest, run).map(|(out, _)| out),
            _ => self.transaction(Priority::Ingest, run),
        }
    }
}

impl<'a> Batch<'a> {
    /// Run `work` on a batch in `tx`, then write the final statuses it gathered.
    fn run<T>(tx: &'a dyn Sql, work: impl FnOnce(&Batch<'_>) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let batch = Batch { tx, finished: RefCell::default(), ahead: RefCell::default(), pending: RefCell::default() };
        let out = work(&batch)?;
        batch.insert_pending()?;
        batch.write_finished()?;
        Ok(out)
    }
}

impl Batch<'_> {
    /// Read the records holding `values` (of `object`'s unique `property`) for the events to
    /// come, in a few statements: [`record_id_by_unique`](Self::record_id_by_unique) then
    /// answers them from memory.
    pub fn read_ahead_records(&self, object: &str, property: &str, values: &[Json]) -> Result<(), StoreError> {
        let keys: Vec<String> = values.iter().filter_map(unique_key).collect();
        self.ahead.borrow_mut().read_holders(self.tx, object, property, &keys)
    }

    /// Read what the records of `matched` (event, record) pairs have enrolled into
    /// `workflow`, and whether each event enrolled its record already, for the events to
    /// come: [`enroll`](Self::enroll)'s checks then run in memory.
    pub fn read_ahead_enrollments(
        &self,
        workflow: &Workflow,
        matched: &[(EventId, RecordId)],
    ) -> Result<(), StoreError> {
        self.ahead.borrow_mut().read_enrollments(self.tx, &workflow.id, workflow.reenroll, matched)
    }

    /// The id of the record whose unique `property` equals `value`: read ahead, or one
    /// indexed lookup.
    pub fn record_id_by_unique(
        &self,
        object: &str,
        property: &str,
        value: &Json,
    ) -> Result<Option<RecordId>, StoreError> {
        if let Some(key) = unique_key(value)
            && let Some(holder) = self.ahead.borrow().holder(object, property, &key)
        {
            return Ok(holder);
        }
        record_id_by_unique(self.tx, object, property, value)
    }

    /// Enroll `record_id` into `workflow` for `event_id`. Idempotent per (workflow, event,
    /// record); without re-enrollment a record enrolls once per workflow, and never while
    /// an enrollment of it is still running. A workflow with actions starts the
    /// enrollment `running` with the event's `trigger` data for its steps.
    pub fn enroll(
        &self,
        workflow: &Workflow,
        record_id: &RecordId,
        event_id: &EventId,
        trigger: &Json,
        new_id: &EnrollmentId,
        now_ms: i64,
    ) -> Result<EnrollOutcome, StoreError> {
        let checked_in_memory = self.ahead.borrow().enrolled(&workflow.id, record_id).is_some();
        if let Some(refused) = self.enrolled_already(workflow, record_id, event_id)? {
            return Ok(refused);
        }
        let (status, trigger, finished_at_ms) = if workflow.actions.is_empty() {
            (EnrollmentStatus::Completed, "{}".to_string(), Some(now_ms))
        } else {
            (EnrollmentStatus::Running, serde_json::to_string(trigger)?, None)
        };
        let row = NewEnrollment {
            id: new_id.clone(),
            workflow_id: workflow.id.clone(),
            record_id: record_id.clone(),
            event_id: event_id.clone(),
            at_ms: now_ms,
            status,
            trigger,
            finished_at_ms,
            once_key: (!workflow.reenroll).then(|| record_id.clone()),
        };
        if checked_in_memory {
            // Inserted with the batch's others before the commit (a statement each was a
            // round trip per enrolled event on PostgreSQL). Should another node's commit
            // collide with one of them meanwhile, the batch is rolled back and processed
            // again, and then reads that node's enrollment.
            self.ahead.borrow_mut().inserted(
                &workflow.id,
                record_id,
                event_id,
                new_id,
                status == EnrollmentStatus::Running,
            );
            self.pending.borrow_mut().push(row);
            return Ok(EnrollOutcome::Enrolled(new_id.clone()));
        }
        // On PostgreSQL another node may be enrolling the record at this moment: its row
        // and this one collide in a unique index (same event; a second running enrollment;
        // a second one of a workflow that does not re-enroll), the insert does nothing,
        // and the checks above, run again, say why. SQLite has one writer at a time.
        if insert_enrollments(self.tx, std::slice::from_ref(&row))? == 0 {
            return self.enrolled_already(workflow, record_id, event_id)?.ok_or(StoreError::Conflict("enrollments"));
        }
        Ok(EnrollOutcome::Enrolled(new_id.clone()))
    }

    /// Insert the enrollments decided in memory; one that collided with another node's
    /// commit fails the batch (it is rolled back and processed again).
    fn insert_pending(&self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if insert_enrollments(self.tx, &pending)? < pending.len() as u64 {
            return Err(StoreError::Conflict("enrollments"));
        }
        Ok(())
    }

    /// Why `record_id` cannot enroll into `workflow` for `event_id` now, if it cannot: the
    /// event enrolled it already (the answer is that enrollment), a run of it is going,
    /// or it enrolled before and the workflow does not re-enroll.
    fn enrolled_already(
        &self,
        workflow: &Workflow,
        record_id: &RecordId,
        event_id: &EventId,
    ) -> Result<Option<EnrollOutcome>, StoreError> {
        if let Some(known) = self.ahead.borrow().enrolled(&workflow.id, record_id) {
            return Ok(if let Some(id) = known.by_event.get(event_id) {
                Some(EnrollOutcome::Enrolled(id.clone()))
            } else if let Some(id) = &known.running {
                Some(EnrollOutcome::StillRunning(id.clone()))
            } else if !workflow.reenroll && known.any.is_some() {
                Some(EnrollOutcome::AlreadyEnrolled)
            } else {
                None
            });
        }
        // The database answers only for what it has.
        self.insert_pending()?;
        // One statement for the three questions: each is a round trip on PostgreSQL.
        let mut found = self.tx.query_one(
            "SELECT
                 (SELECT id FROM enrollments WHERE workflow_id = ?1 AND event_id = ?2 AND record_id = ?3),
                 (SELECT id FROM enrollments WHERE workflow_id = ?1 AND record_id = ?3 AND status = 'running' LIMIT 1),
                 (SELECT id FROM enrollments WHERE workflow_id = ?1 AND record_id = ?3 LIMIT 1)",
            args![workflow.id, event_id, record_id],
        )?;
        let (same_event, running, before): (Option<EnrollmentId>, Option<EnrollmentId>, Option<EnrollmentId>) =
            (found.get(0)?, found.get(1)?, found.get(2)?);
        if let Some(id) = same_event {
            // A replay or a second pass over the same event: the enrollment already exists.
            return Ok(Some(EnrollOutcome::Enrolled(id)));
        }
        if let Some(id) = running {
            return Ok(Some(EnrollOutcome::StillRunning(id)));
        }
        if !workflow.reenroll && before.is_some() {
            return Ok(Some(EnrollOutcome::AlreadyEnrolled));
        }
        Ok(None)
    }

    /// Set one property of a record (null removes it); false if there is no such record.
    pub fn write_property(
        &self,
        object: &str,
        record_id: &RecordId,
        property: &str,
        value: &Json,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let current: Option<String> = self
            .tx
            .value_opt("SELECT properties_json FROM records WHERE object = ?1 AND id = ?2", args![object, record_id])?;
        let Some(current) = current else {
            return Ok(false);
        };
        // A unique property may be the one written.
        self.ahead.borrow_mut().forget_holders();
        let mut properties: serde_json::Map<String, Json> = serde_json::from_str(&current)?;
        if value.is_null() {
            properties.remove(property);
        } else {
            properties.insert(property.to_string(), value.clone());
        }
        self.tx.execute(
            "UPDATE records SET properties_json = ?2, updated_at_ms = ?3 WHERE id = ?1",
            args![record_id, serde_json::to_string(&properties)?, now_ms],
        )?;
        Ok(true)
    }

    /// Append one step to a running enrollment, with its effect on the record.
    pub fn save_step(&self, saved: &StepSaved, now_ms: i64) -> Result<(), StoreError> {
        if let Some((object, record_id, property, value)) = &saved.write {
            // A record deleted meanwhile: the step's entry says what it would have written.
            self.write_property(object, record_id, property, value, now_ms)?;
        }
        let finished = (saved.status != EnrollmentStatus::Running).then_some(now_ms);
        self.ahead.borrow_mut().forget_enrollments();
        // Appends the step's (compact) JSON to the array's text: the same statement on both
        // backends, and the steps keep their key order.
        self.tx.execute(
            "UPDATE enrollments SET status = ?3,
                 steps_json = CASE WHEN ?2 IS NULL THEN steps_json
                     WHEN steps_json = '[]' THEN '[' || ?2 || ']'
                     ELSE substr(steps_json, 1, length(steps_json) - 1) || ',' || ?2 || ']' END,
                 reason = ?4, next_attempt_at_ms = ?5, finished_at_ms = ?6, claimed_by = NULL, lease_until_ms = NULL
             WHERE id = ?1 AND status = 'running'",
            args![
                saved.enrollment_id,
                saved.step.as_ref().map(serde_json::to_string).transpose()?,
                saved.status,
                saved.reason,
                saved.next_attempt_at_ms,
                finished
            ],
        )?;
        Ok(())
    }

    /// Record how processing ended for one event (written with the batch's commit).
    pub fn finish_event(&self, id: &EventId, done: &Finished<'_>) -> Result<(), StoreError> {
        self.finished.borrow_mut().push(FinishedRow {
            id: id.clone(),
            status: done.status,
            stage: done.stage.map(str::to_string),
            reason: done.reason.clone(),
            detail: done.detail.clone(),
            matched_record_id: done.matched_record_id.clone(),
        });
        Ok(())
    }

    /// Write the final statuses gathered, a few multi-row statements for all of them.
    fn write_finished(&self) -> Result<(), StoreError> {
        execute_rows(
            self.tx,
            &self.finished.borrow(),
            |rows| {
                format!(
                    "UPDATE events SET status = v.column2, stage = v.column3, reason = v.column4, detail_json = v.column5,
                         matched_record_id = v.column6, claimed_by = NULL, lease_until_ms = NULL
                     FROM ({rows}) AS v
                     WHERE events.id = v.column1"
                )
            },
            |row| [&row.id, &row.status, &row.stage, &row.reason, &row.detail, &row.matched_record_id],
        )?;
        Ok(())
    }
}

/// Insert `rows` in a few multi-row statements; how many were inserted. On PostgreSQL a row
/// that collides with another node's in a unique index is skipped (`ON CONFLICT DO
/// NOTHING`), and the count says so; SQLite has one writer at a time.
fn insert_enrollments(tx: &dyn Sql, rows: &[NewEnrollment]) -> Result<u64, StoreError> {
    const COLUMNS: &str = "id, workflow_id, record_id, event_id, enrolled_at_ms, status, trigger_json, next_attempt_at_ms, finished_at_ms";
    fn fields(row: &NewEnrollment) -> [&dyn ToArg; 10] {
        [
            &row.id,
            &row.workflow_id,
            &row.record_id,
            &row.event_id,
            &row.at_ms,
            &row.status,
            &row.trigger,
            &row.at_ms,
            &row.finished_at_ms,
            &row.once_key,
        ]
    }
    match tx.dialect() {
        // Only PostgreSQL's schema has once_key (SQLite has one writer: the checks suffice).
        Dialect::Sqlite => execute_rows(
            tx,
            rows,
            |rows| format!("INSERT INTO enrollments ({COLUMNS}) {rows}"),
            |row| {
                let [id, workflow, record, event, at, status, trigger, next, finished, _once] = fields(row);
                [id, workflow, record, event, at, status, trigger, next, finished]
            },
        ),
        Dialect::Postgres => execute_rows(
            tx,
            rows,
            |rows| format!("INSERT INTO enrollments ({COLUMNS}, once_key) {rows} ON CONFLICT DO NOTHING"),
            fields,
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::ids::WebhookId;

    fn workflow(id: &str, reenroll: bool) -> Workflow {
        Workflow {
            id: WorkflowId::from_text(id),
            name: id.into(),
            object: "contacts".into(),
            enabled: true,
            reenroll,
            triggers: vec![WebhookId::from_text("wh")],
            actions: Vec::new(),
            created_at_ms: 0,
        }
    }

    /// Contacts rec_1..rec_3 (external ids cus_1..cus_3) and the workflow wf_once, into
    /// which evt_old enrolled rec_1.
    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.create_object("contacts", "Contacts").unwrap();
        store
            .with(|db| {
                for n in 1..=3 {
                    let (record, key) = (format!("rec_{n}"), format!("cus_{n}"));
                    db.execute(
                        "INSERT INTO records (id, object, properties_json, created_at_ms, updated_at_ms)
                         VALUES (?1, 'contacts', '{}', 0, 0)",
                        args![record],
                    )?;
                    db.execute(
                        "INSERT INTO record_unique_values (object, property, value, record_id)
                         VALUES ('contacts', 'external_id', ?1, ?2)",
                        args![key, record],
                    )?;
                }
                db.execute(
                    "INSERT INTO workflows (id, name, object, enabled, reenroll, triggers_json, created_at_ms)
                     VALUES ('wf_once', 'wf_once', 'contacts', 1, 0, '[]', 0)",
                    &[],
                )?;
                db.execute(
                    "INSERT INTO enrollments (id, workflow_id, record_id, event_id, enrolled_at_ms, status, trigger_json)
                     VALUES ('enr_old', 'wf_once', 'rec_1', 'evt_old', 0, 'completed', '{}')",
                    &[],
                )?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        (dir, store)
    }

    fn ids(text: &[&str]) -> Vec<(EventId, RecordId)> {
        text.iter()
            .map(|pair| {
                let (event, record) = pair.split_once('/').unwrap();
                (EventId::from_text(event), RecordId::from_text(record))
            })
            .collect()
    }

    #[test]
    fn what_is_read_ahead_answers_as_the_database_would_and_enrollments_decided_from_it_are_inserted() {
        let (_dir, store) = store();
        let once = workflow("wf_once", false);
        let outcomes = store
            .batch(|batch| {
                let keys = [json!("cus_1"), json!("cus_2"), json!("cus_9"), json!(true)];
                batch.read_ahead_records("contacts", "external_id", &keys)?;
                let found: Vec<Option<RecordId>> = keys
                    .iter()
                    .map(|key| batch.record_id_by_unique("contacts", "external_id", key))
                    .collect::<Result<_, _>>()?;
                assert_eq!(found, [Some(RecordId::from_text("rec_1")), Some(RecordId::from_text("rec_2")), None, None]);
                let matched = ids(&["evt_1/rec_1", "evt_2/rec_2", "evt_3/rec_2", "evt_old/rec_1"]);
                batch.read_ahead_enrollments(&once, &matched)?;
                let mut outcomes = Vec::new();
                for (event, record) in &matched {
                    outcomes.push(batch.enroll(&once, record, event, &json!({}), &EnrollmentId::new(0), 0)?);
                }
                // Nothing is inserted yet: the new enrollment waits for the commit.
                let rows: i64 = batch.tx.value("SELECT count(*) FROM enrollments", &[])?;
                assert_eq!(rows, 1);
                // A record not read ahead is checked in the database, which is given what
                // waits first.
                let rec_3 = RecordId::from_text("rec_3");
                let evt_4 = EventId::from_text("evt_4");
                outcomes.push(batch.enroll(&once, &rec_3, &evt_4, &json!({}), &EnrollmentId::new(0), 0)?);
                let rows: i64 = batch.tx.value("SELECT count(*) FROM enrollments", &[])?;
                assert_eq!(rows, 3);
                Ok(outcomes)
            })
            .unwrap();
        let enrolled_ids: Vec<String> = outcomes
            .iter()
            .filter_map(|o| match o {
                EnrollOutcome::Enrolled(id) => Some(id.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(outcomes[0], EnrollOutcome::AlreadyEnrolled, "rec_1 enrolled before: {outcomes:?}");
        assert!(matches!(outcomes[1], EnrollOutcome::Enrolled(_)), "{outcomes:?}");
        assert_eq!(outcomes[2], EnrollOutcome::AlreadyEnrolled, "evt_2 enrolled rec_2 in this batch: {outcomes:?}");
        assert_eq!(outcomes[3], EnrollOutcome::Enrolled(EnrollmentId::from_text("enr_old")), "a replay: {outcomes:?}");
        assert!(matches!(outcomes[4], EnrollOutcome::Enrolled(_)), "{outcomes:?}");
        let stored: Vec<(String, String, String)> = store
            .with(|db| {
                db.query_map("SELECT id, record_id, event_id FROM enrollments ORDER BY event_id", &[], |mut r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
            })
            .unwrap();
        assert_eq!(stored.len(), 3, "{stored:?}");
        assert_eq!((stored[0].1.as_str(), stored[0].2.as_str()), ("rec_2", "evt_2"));
        assert_eq!((stored[1].1.as_str(), stored[1].2.as_str()), ("rec_3", "evt_4"));
        assert_eq!(stored[2].0, "enr_old");
        assert!(enrolled_ids.contains(&stored[0].0) && enrolled_ids.contains(&stored[1].0));
    }
}
