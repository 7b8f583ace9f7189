//! Enrollment into every enabled workflow of the matched object that the webhook triggers.

use serde_json::{Value as Json, json};

use crate::model::event::EventStatus;
use crate::model::ids::{EnrollmentId, EventId, RecordId, now_ms};
use crate::model::workflow::{EnrollOutcome, Workflow};
use crate::store::StoreError;
use crate::store::batch::Batch;

/// The enroll stage's answer: the event status, a reason, and one row per workflow.
pub struct Enrolled {
    /// `enrolled`, `already_enrolled` or `no_workflow`.
    pub status: EventStatus,
    /// Why, when nothing new was enrolled.
    pub reason: Option<String>,
    /// `{workflow_id, enrollment_id?, outcome}` per workflow.
    pub rows: Vec<Json>,
    /// How many enrollments were created.
    pub created: usize,
}

/// Enroll `record_id` for `event_id` into `workflows` (the enabled ones the webhook
/// triggers for `object`).
pub fn enroll(
    batch: &Batch<'_>,
    workflows: &[&Workflow],
    object: &str,
    record_id: &RecordId,
    event_id: &EventId,
    trigger: &Json,
) -> Result<Enrolled, StoreError> {
    if workflows.is_empty() {
        return Ok(Enrolled {
            status: EventStatus::NoWorkflow,
            reason: Some(format!("no enabled {object} workflow is triggered by this webhook")),
            rows: Vec::new(),
            created: 0,
        });
    }
    let mut rows = Vec::with_capacity(workflows.len());
    let mut created = 0;
    let mut still_running = false;
    for workflow in workflows {
        let now = now_ms();
        match batch.enroll(workflow, record_id, event_id, trigger, &EnrollmentId::new(now), now)? {
            EnrollOutcome::Enrolled(id) => {
                created += 1;
                rows.push(json!({"workflow_id": workflow.id, "enrollment_id": id, "outcome": "enrolled"}));
            }
            EnrollOutcome::AlreadyEnrolled => {
                rows.push(json!({"workflow_id": workflow.id, "outcome": "already_enrolled"}));
            }
            EnrollOutcome::StillRunning(id) => {
                still_running = true;
                rows.push(json!({"workflow_id": workflow.id, "outcome": "already_enrolled",
                    "reason": format!("enrollment {id} of this record is still running")}));
            }
        }
    }
    Ok(if created > 0 {
        Enrolled { status: EventStatus::Enrolled, reason: None, rows, created }
    } else {
        Enrolled {
            status: EventStatus::AlreadyEnrolled,
            reason: Some(if still_running {
                "the record's enrollment is still running its actions; it does not enroll again meanwhile".into()
            } else {
                "the record was enrolled before and these workflows do not re-enroll".into()
            }),
            rows,
            created,
        }
    })
}
