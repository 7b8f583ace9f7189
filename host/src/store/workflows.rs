//! Workflows (triggered by webhooks) and their enrollments.

use serde_json::Value as Json;

use super::gate::Priority;
use super::sql::{Row, args};
use super::{Store, StoreError};
use crate::model::ids::{EnrollmentId, EventId, RecordId, WorkflowId};
use crate::model::step::StepEntry;
use crate::model::workflow::{Enrollment, EnrollmentStatus, Workflow};

/// A running enrollment's new state after one step.
#[derive(Debug, Clone)]
pub struct StepSaved {
    /// The enrollment.
    pub enrollment_id: EnrollmentId,
    /// The step entry appended, if a step ran.
    pub step: Option<StepEntry>,
    /// Where the enrollment is now.
    pub status: EnrollmentStatus,
    /// Why it failed.
    pub reason: Option<String>,
    /// When the next step may run.
    pub next_attempt_at_ms: i64,
    /// A property written by the step: (object, record id, property, value; null clears).
    pub write: Option<(String, RecordId, String, Json)>,
}

fn workflow(mut r: Row) -> Result<Workflow, StoreError> {
    Ok(Workflow {
        id: r.get(0)?,
        name: r.get(1)?,
        object: r.get(2)?,
        enabled: r.get::<i64>(3)? == 1,
        reenroll: r.get::<i64>(4)? == 1,
        triggers: serde_json::from_str(&r.get::<String>(5)?)?,
        created_at_ms: r.get(6)?,
        actions: serde_json::from_str(&r.get::<String>(7)?)?,
    })
}

const SELECT_WORKFLOW: &str =
    "SELECT id, name, object, enabled, reenroll, triggers_json, created_at_ms, actions_json FROM workflows";

impl Store {
    /// Insert or replace a workflow.
    pub fn put_workflow(&self, w: &Workflow) -> Result<(), StoreError> {
        let (triggers, actions) = (serde_json::to_string(&w.triggers)?, serde_json::to_string(&w.actions)?);
        self.with(|db| {
            db.execute(
                "INSERT INTO workflows (id, name, object, enabled, reenroll, triggers_json, created_at_ms, actions_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET name = ?2, object = ?3, enabled = ?4, reenroll = ?5, triggers_json = ?6,
                     actions_json = ?8",
                args![w.id, w.name, w.object, w.enabled, w.reenroll, triggers, w.created_at_ms, actions],
            )
        })?;
        Ok(())
    }

    /// All workflows, oldest first.
    pub fn list_workflows(&self) -> Result<Vec<Workflow>, StoreError> {
        self.with(|db| db.query_map(&format!("{SELECT_WORKFLOW} ORDER BY id"), &[], workflow))
    }

    /// One workflow.
    pub fn workflow(&self, id: &WorkflowId) -> Result<Option<Workflow>, StoreError> {
        self.with(|db| db.query_opt(&format!("{SELECT_WORKFLOW} WHERE id = ?1"), args![id])?.map(workflow).transpose())
    }

    /// Delete a workflow and its enrollments.
    pub fn delete_workflow(&self, id: &WorkflowId) -> Result<bool, StoreError> {
        // PostgreSQL's schema has no foreign key to cascade the deletion (migration 23).
        let deleted = self.transaction(Priority::Background, |tx| {
            tx.execute("DELETE FROM enrollments WHERE workflow_id = ?1", args![id])?;
            tx.execute("DELETE FROM workflows WHERE id = ?1", args![id])
        })?;
        Ok(deleted == 1)
    }

    /// A workflow's enrollments, newest first.
    pub fn enrollments(&self, workflow_id: &WorkflowId) -> Result<Vec<Enrollment>, StoreError> {
        self.query_enrollments("workflow_id", workflow_id.as_str())
    }

    /// The enrollments an event made.
    pub fn enrollments_of_event(&self, event_id: &EventId) -> Result<Vec<Enrollment>, StoreError> {
        self.query_enrollments("event_id", event_id.as_str())
    }

    /// A record's enrollments in every workflow, newest first, at most `limit`: an index
    /// seek per workflow (`enrollments_by_record` leads with the workflow; workflows are few,
    /// and an index of their own on every enrollment would cost the drain a write each).
    pub fn enrollments_of_record(&self, record_id: &RecordId, limit: u32) -> Result<Vec<Enrollment>, StoreError> {
        self.with(|db| {
            db.query_map(
                &format!(
                    "{SELECT_ENROLLMENT} WHERE workflow_id IN (SELECT id FROM workflows) AND record_id = ?1
                     ORDER BY id DESC LIMIT ?2"
                ),
                args![record_id, limit],
                enrollment,
            )
        })
    }

    /// One enrollment with its steps.
    pub fn enrollment(&self, id: &EnrollmentId) -> Result<Option<Enrollment>, StoreError> {
        Ok(self.query_enrollments("id", id.as_str())?.pop())
    }

    /// Running enrollments whose next step is due at `now_ms`, oldest first. On
    /// PostgreSQL they are claimed for this node for its lease, like events (see
    /// [`Store::next_accepted_of`]), so no two nodes run the same step.
    pub fn due_enrollments(&self, now_ms: i64, limit: u32) -> Result<Vec<Enrollment>, StoreError> {
        let Some(claim) = self.claim() else {
            return self.with(|db| {
                db.query_map(
                    &format!(
                        "{SELECT_ENROLLMENT} WHERE status = 'running' AND next_attempt_at_ms <= ?1
                         ORDER BY next_attempt_at_ms, id LIMIT ?2"
                    ),
                    args![now_ms, limit],
                    enrollment,
                )
            });
        };
        let mut due = self.with(|db| {
            // The act stage looks after every pipeline batch, most often to find nothing
            // due (enrollments without actions end as they are made): a seek in the
            // partial index says so, where the claim took 0.3 ms of planning a call
            // (pg_stat_statements, nodes bench: 2% of PostgreSQL's CPU while draining).
            let due_now = db.query_opt(
                "SELECT 1 FROM enrollments WHERE status = 'running' AND next_attempt_at_ms <= ?1 LIMIT 1",
                args![now_ms],
            )?;
            if due_now.is_none() {
                return Ok(Vec::new());
            }
            db.query_map(
                &format!(
                    "UPDATE enrollments SET claimed_by = ?3, lease_until_ms = ?1 + ?4
                     WHERE id IN (
                         SELECT id FROM enrollments
                         WHERE status = 'running' AND next_attempt_at_ms <= ?1
                           AND (lease_until_ms IS NULL OR lease_until_ms < ?1 OR claimed_by = ?3)
                         ORDER BY next_attempt_at_ms, id LIMIT ?2
                         FOR UPDATE SKIP LOCKED)
                     RETURNING {ENROLLMENT_COLUMNS}"
                ),
                args![now_ms, limit, claim.node, claim.lease_ms],
                enrollment,
            )
        })?;
        due.sort_by(|a, b| (a.next_attempt_at_ms, &a.id).cmp(&(b.next_attempt_at_ms, &b.id)));
        Ok(due)
    }

    /// How many enrollments are running (a partial index holds only those).
    pub fn running_enrollments(&self) -> Result<u64, StoreError> {
        let count: i64 = self.with(|db| {
            let hint = db.dialect().indexed_by("enrollments_running_by_record");
            db.value(&format!("SELECT count(*) FROM enrollments {hint} WHERE status = 'running'"), &[])
        })?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// When the earliest running enrollment is due, if any runs.
    pub fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        // A seek in `enrollments_running`, written `ORDER BY … LIMIT 1`: PostgreSQL may plan
        // `min()` over a partial index as an aggregate of every entry (see `webhooks_waiting`).
        self.with(|db| {
            db.value(
                "SELECT (SELECT next_attempt_at_ms FROM enrollments
                         WHERE status = 'running' AND next_attempt_at_ms IS NOT NULL
                         ORDER BY next_attempt_at_ms LIMIT 1)",
                &[],
            )
        })
    }

    /// Commit the steps just run, each with its effect, in one transaction: a step and the
    /// property it wrote land together or not at all, so no step runs twice.
    pub fn save_steps(&self, saved: &[StepSaved], now_ms: i64) -> Result<(), StoreError> {
        self.batch(|batch| {
            for s in saved {
                batch.save_step(s, now_ms)?;
            }
            Ok(())
        })
    }

    fn query_enrollments(&self, column: &str, value: &str) -> Result<Vec<Enrollment>, StoreError> {
        // `column` is one of fixed names chosen in this module, never input.
        self.with(|db| {
            db.query_map(&format!("{SELECT_ENROLLMENT} WHERE {column} = ?1 ORDER BY id DESC"), args![value], enrollment)
        })
    }
}

/// The columns [`enrollment`] reads, in its order (a macro, so `concat!` can use it).
macro_rules! enrollment_columns {
    () => {
        "id, workflow_id, record_id, event_id, enrolled_at_ms, status, reason, trigger_json, steps_json,
         next_attempt_at_ms, finished_at_ms"
    };
}

const ENROLLMENT_COLUMNS: &str = enrollment_columns!();

const SELECT_ENROLLMENT: &str = concat!("SELECT ", enrollment_columns!(), " FROM enrollments");

fn enrollment(mut r: Row) -> Result<Enrollment, StoreError> {
    Ok(Enrollment {
        id: r.get(0)?,
        workflow_id: r.get(1)?,
        record_id: r.get(2)?,
        event_id: r.get(3)?,
        enrolled_at_ms: r.get(4)?,
        status: EnrollmentStatus::parse(&r.get::<String>(5)?)?,
        reason: r.get(6)?,
        trigger: serde_json::from_str(&r.get::<String>(7)?)?,
        steps: serde_json::from_str(&r.get::<String>(8)?)?,
        next_attempt_at_ms: r.get(9)?,
        finished_at_ms: r.get(10)?,
    })
}
