//! The pipeline worker's write transaction: the match lookups, enrollments and final
//! statuses of many events committed together, so the store costs one commit per batch.

use std::cell::RefCell;
use std::time::Duration;

use serde_json::Value as Json;

use super::events::{Finished, apply_groups};
use super::gate::Priority;
use super::ingest_log::LoggedGroup;
use super::records::record_id_by_unique;
use super::sql::{Dialect, Sql, args, execute_rows};
use super::workflows::StepSaved;
use super::{Store, StoreError};
use crate::model::ids::{EnrollmentId, EventId, RecordId};
use crate::model::workflow::{EnrollOutcome, EnrollmentStatus, Workflow};

/// One open write transaction of the worker. Everything done through it commits together
/// or not at all (then the events stay `accepted` and are processed again).
pub struct Batch<'a> {
    tx: &'a dyn Sql,
    /// Final statuses, written together just before the commit (a round trip each would
    /// be a quarter of the pipeline's statements on PostgreSQL).
    finished: RefCell<Vec<FinishedRow>>,
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
        let batch = Batch { tx, finished: RefCell::default() };
        let out = work(&batch)?;
        batch.write_finished()?;
        Ok(out)
    }
}

impl Batch<'_> {
    /// The id of the record whose unique `property` equals `value`: one indexed lookup.
    pub fn record_id_by_unique(
        &self,
        object: &str,
        property: &str,
        value: &Json,
    ) -> Result<Option<RecordId>, StoreError> {
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
        if let Some(refused) = self.enrolled_already(workflow, record_id, event_id)? {
            return Ok(refused);
        }
        let (status, trigger, finished) = if workflow.actions.is_empty() {
            (EnrollmentStatus::Completed, "{}".to_string(), Some(now_ms))
        } else {
            (EnrollmentStatus::Running, serde_json::to_string(trigger)?, None)
        };
        // On PostgreSQL another node may be enrolling the record at this moment: its row
        // and this one collide in a unique index (same event; a second running enrollment;
        // a second one of a workflow that does not re-enroll), the insert does nothing,
        // and the checks above, run again, say why. SQLite has one writer at a time.
        let inserted = match self.tx.dialect() {
            Dialect::Sqlite => self.tx.execute(
                "INSERT INTO enrollments (id, workflow_id, record_id, event_id, enrolled_at_ms, status, trigger_json,
                     next_attempt_at_ms, finished_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5, ?8)",
                args![new_id, workflow.id, record_id, event_id, now_ms, status, trigger, finished],
            )?,
            Dialect::Postgres => self.tx.execute(
                "INSERT INTO enrollments (id, workflow_id, record_id, event_id, enrolled_at_ms, status, trigger_json,
                     next_attempt_at_ms, finished_at_ms, once_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5, ?8, ?9)
                 ON CONFLICT DO NOTHING",
                args![
                    new_id,
                    workflow.id,
                    record_id,
                    event_id,
                    now_ms,
                    status,
                    trigger,
                    finished,
                    (!workflow.reenroll).then_some(record_id)
                ],
            )?,
        };
        if inserted == 0 {
            // Only a commit that collided can have made the insert do nothing.
            return self.enrolled_already(workflow, record_id, event_id)?.ok_or(StoreError::Conflict("enrollments"));
        }
        Ok(EnrollOutcome::Enrolled(new_id.clone()))
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
            |values| {
                format!(
                    "UPDATE events SET status = v.column2, stage = v.column3, reason = v.column4, detail_json = v.column5,
                         matched_record_id = v.column6, claimed_by = NULL, lease_until_ms = NULL
                     FROM (VALUES {values}) AS v
                     WHERE events.id = v.column1"
                )
            },
            |row| [&row.id, &row.status, &row.stage, &row.reason, &row.detail, &row.matched_record_id],
        )
    }
}
