//! Workflows (triggered by webhooks) and their enrollments.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// A stored workflow.
#[derive(Debug, Clone)]
pub struct Workflow {
    /// `wf_...`
    pub id: String,
    /// Its name.
    pub name: String,
    /// The object its records belong to.
    pub object: String,
    /// Whether it enrolls anything.
    pub enabled: bool,
    /// Whether a record may enroll again after its first enrollment.
    pub reenroll: bool,
    /// Webhooks that trigger it.
    pub triggers: Vec<String>,
    /// Created, unix ms.
    pub created_at_ms: i64,
}

/// One enrollment of a record into a workflow.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// `enr_...`
    pub id: String,
    /// The workflow.
    pub workflow_id: String,
    /// The enrolled record.
    pub record_id: String,
    /// The event that enrolled it.
    pub event_id: String,
    /// When, unix ms.
    pub enrolled_at_ms: i64,
}

/// What enrolling one record into one workflow did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// A new enrollment.
    Enrolled(String),
    /// Re-enrollment is off and the record was enrolled before.
    AlreadyEnrolled,
}

fn row_to_workflow(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Workflow, String)> {
    Ok((
        Workflow {
            id: r.get(0)?,
            name: r.get(1)?,
            object: r.get(2)?,
            enabled: r.get::<_, i64>(3)? == 1,
            reenroll: r.get::<_, i64>(4)? == 1,
            triggers: Vec::new(),
            created_at_ms: r.get(6)?,
        },
        r.get(5)?,
    ))
}

fn with_triggers((mut w, triggers): (Workflow, String)) -> Result<Workflow, StoreError> {
    w.triggers = serde_json::from_str(&triggers)?;
    Ok(w)
}

const SELECT_WORKFLOW: &str = "SELECT id, name, object, enabled, reenroll, triggers_json, created_at_ms FROM workflows";

impl Store {
    /// Insert or replace a workflow.
    pub fn put_workflow(&self, w: &Workflow) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO workflows (id, name, object, enabled, reenroll, triggers_json, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET name = ?2, object = ?3, enabled = ?4, reenroll = ?5, triggers_json = ?6",
            params![
                w.id,
                w.name,
                w.object,
                w.enabled,
                w.reenroll,
                serde_json::to_string(&w.triggers)?,
                w.created_at_ms
            ],
        )?;
        Ok(())
    }

    /// All workflows, oldest first.
    pub fn list_workflows(&self) -> Result<Vec<Workflow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("{SELECT_WORKFLOW} ORDER BY id"))?;
        let rows = stmt.query_map([], row_to_workflow)?;
        rows.map(|r| with_triggers(r?)).collect()
    }

    /// One workflow.
    pub fn workflow(&self, id: &str) -> Result<Option<Workflow>, StoreError> {
        let conn = self.conn();
        let found = conn.query_row(&format!("{SELECT_WORKFLOW} WHERE id = ?1"), [id], row_to_workflow).optional()?;
        found.map(with_triggers).transpose()
    }

    /// Delete a workflow and its enrollments.
    pub fn delete_workflow(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute("DELETE FROM workflows WHERE id = ?1", [id])? == 1)
    }

    /// A workflow's enrollments, newest first.
    pub fn enrollments(&self, workflow_id: &str) -> Result<Vec<Enrollment>, StoreError> {
        self.query_enrollments("workflow_id", workflow_id)
    }

    /// The enrollments an event made.
    pub fn enrollments_of_event(&self, event_id: &str) -> Result<Vec<Enrollment>, StoreError> {
        self.query_enrollments("event_id", event_id)
    }

    fn query_enrollments(&self, column: &str, value: &str) -> Result<Vec<Enrollment>, StoreError> {
        let conn = self.conn();
        // `column` is one of two fixed names chosen above, never input.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, workflow_id, record_id, event_id, enrolled_at_ms FROM enrollments WHERE {column} = ?1 ORDER BY id DESC"
        ))?;
        let rows = stmt.query_map([value], |r| {
            Ok(Enrollment {
                id: r.get(0)?,
                workflow_id: r.get(1)?,
                record_id: r.get(2)?,
                event_id: r.get(3)?,
                enrolled_at_ms: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
