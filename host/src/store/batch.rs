//! The pipeline worker's write transaction: the match lookups, enrollments and final
//! statuses of many events committed together, so the store costs one commit per batch.

use std::time::Duration;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use serde_json::Value as Json;

use super::events::Finished;
use super::records::record_id_by_unique;
use super::workflows::{EnrollOutcome, StepSaved, Workflow};
use super::{Store, StoreError};

/// One open write transaction of the worker. Everything done through it commits together
/// or not at all (then the events stay `accepted` and are processed again).
pub struct Batch<'a> {
    tx: Transaction<'a>,
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
        let gate = self.write_gate(super::gate::Priority::Background);
        let mut conn = self.conn();
        let batch = Batch { tx: conn.transaction_with_behavior(TransactionBehavior::Immediate)? };
        let out = work(&batch)?;
        batch.tx.commit()?;
        Ok((out, gate.waited()))
    }
}

impl Batch<'_> {
    /// The id of the record whose unique `property` equals `value`: one indexed lookup.
    pub fn record_id_by_unique(
        &self,
        object: &str,
        property: &str,
        value: &Json,
    ) -> Result<Option<String>, StoreError> {
        Ok(record_id_by_unique(&self.tx, object, property, value)?)
    }

    /// Enroll `record_id` into `workflow` for `event_id`. Idempotent per (workflow, event,
    /// record); without re-enrollment a record enrolls once per workflow, and never while
    /// an enrollment of it is still running. A workflow with actions starts the
    /// enrollment `running` with the event's `trigger` data for its steps.
    pub fn enroll(
        &self,
        workflow: &Workflow,
        record_id: &str,
        event_id: &str,
        trigger: &Json,
        new_id: &str,
        now_ms: i64,
    ) -> Result<EnrollOutcome, StoreError> {
        let same_event: Option<String> = self
            .tx
            .prepare_cached("SELECT id FROM enrollments WHERE workflow_id = ?1 AND event_id = ?2 AND record_id = ?3")?
            .query_row(params![workflow.id, event_id, record_id], |r| r.get(0))
            .optional()?;
        if let Some(id) = same_event {
            // A replay or a second pass over the same event: the enrollment already exists.
            return Ok(EnrollOutcome::Enrolled(id));
        }
        let running: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT id FROM enrollments WHERE workflow_id = ?1 AND record_id = ?2 AND status = 'running' LIMIT 1",
            )?
            .query_row(params![workflow.id, record_id], |r| r.get(0))
            .optional()?;
        if let Some(id) = running {
            return Ok(EnrollOutcome::StillRunning(id));
        }
        if !workflow.reenroll {
            let before: Option<String> = self
                .tx
                .prepare_cached("SELECT id FROM enrollments WHERE workflow_id = ?1 AND record_id = ?2 LIMIT 1")?
                .query_row(params![workflow.id, record_id], |r| r.get(0))
                .optional()?;
            if before.is_some() {
                return Ok(EnrollOutcome::AlreadyEnrolled);
            }
        }
        let (status, trigger, finished) = if workflow.actions.is_empty() {
            ("completed", "{}".to_string(), Some(now_ms))
        } else {
            ("running", serde_json::to_string(trigger)?, None)
        };
        self.tx
            .prepare_cached(
                "INSERT INTO enrollments (id, workflow_id, record_id, event_id, enrolled_at_ms, status, trigger_json,
                     next_attempt_at_ms, finished_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?5, ?8)",
            )?
            .execute(params![new_id, workflow.id, record_id, event_id, now_ms, status, trigger, finished])?;
        Ok(EnrollOutcome::Enrolled(new_id.to_string()))
    }

    /// Set one property of a record (null removes it); false if there is no such record.
    pub fn write_property(
        &self,
        object: &str,
        record_id: &str,
        property: &str,
        value: &Json,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let current: Option<String> = self
            .tx
            .prepare_cached("SELECT properties_json FROM records WHERE object = ?1 AND id = ?2")?
            .query_row(params![object, record_id], |r| r.get(0))
            .optional()?;
        let Some(current) = current else {
            return Ok(false);
        };
        let mut properties: serde_json::Map<String, Json> = serde_json::from_str(&current)?;
        if value.is_null() {
            properties.remove(property);
        } else {
            properties.insert(property.to_string(), value.clone());
        }
        self.tx
            .prepare_cached("UPDATE records SET properties_json = ?2, updated_at_ms = ?3 WHERE id = ?1")?
            .execute(params![record_id, serde_json::to_string(&properties)?, now_ms])?;
        Ok(true)
    }

    /// Append one step to a running enrollment, with its effect on the record.
    pub fn save_step(&self, saved: &StepSaved, now_ms: i64) -> Result<(), StoreError> {
        if let Some((object, record_id, property, value)) = &saved.write {
            // A record deleted meanwhile: the step's entry says what it would have written.
            self.write_property(object, record_id, property, value, now_ms)?;
        }
        let finished = (saved.status != "running").then_some(now_ms);
        self.tx
            .prepare_cached(
                "UPDATE enrollments SET status = ?3,
                     steps_json = CASE WHEN ?2 IS NULL THEN steps_json ELSE json_insert(steps_json, '$[#]', json(?2)) END,
                     reason = ?4, next_attempt_at_ms = ?5, finished_at_ms = ?6
                 WHERE id = ?1 AND status = 'running'",
            )?
            .execute(params![
                saved.enrollment_id,
                saved.step.as_ref().map(serde_json::to_string).transpose()?,
                saved.status,
                saved.reason,
                saved.next_attempt_at_ms,
                finished
            ])?;
        Ok(())
    }

    /// Record how processing ended for one event.
    pub fn finish_event(&self, id: &str, done: &Finished<'_>) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(
                "UPDATE events SET status = ?2, stage = ?3, reason = ?4, detail_json = ?5, matched_record_id = ?6
                 WHERE id = ?1",
            )?
            .execute(params![id, done.status, done.stage, done.reason, done.detail, done.matched_record_id])?;
        Ok(())
    }
}
