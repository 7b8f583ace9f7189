//! What a pipeline batch reads ahead, for all its events at once: the records their keys
//! match and what each (workflow, record) pair has enrolled. The per-event questions
//! (`Batch::record_id_by_unique`, the enrollment checks) are then answered from memory
//! instead of a statement each — on PostgreSQL a round trip each, which made a drained
//! event cost ~0.28 ms of the database's CPU (issue 25's first measurement).
//!
//! Only what was read ahead is answered from here; anything else still asks the database.
//! The batch keeps it true as it writes (an enrollment it inserts is added), and drops it
//! where a write it does not follow could change it (a record's property written, a step
//! saved).

use std::collections::{HashMap, HashSet};

use super::StoreError;
use super::records::unique_holders;
use super::sql::{Sql, ToArg, query_rows};
use crate::model::ids::{EnrollmentId, EventId, RecordId, WorkflowId};

/// The answers read ahead for one batch.
#[derive(Default)]
pub(super) struct ReadAhead {
    /// Per `(object, property)` (a batch has one or a few): unique value → the record
    /// holding it, or none.
    holders: Vec<((String, String), Holders)>,
    /// Per workflow, per record: its enrollments as far as the checks need them.
    enrollments: HashMap<WorkflowId, HashMap<RecordId, Enrolled>>,
}

/// Unique values of one property → the record holding each, or none.
type Holders = HashMap<String, Option<RecordId>>;

/// What a record has enrolled into one workflow, as the enrollment checks ask it.
#[derive(Default)]
pub(super) struct Enrolled {
    /// The enrollment each event of the batch made, if it made one already (a replay).
    pub by_event: HashMap<EventId, EnrollmentId>,
    /// One running enrollment, if any.
    pub running: Option<EnrollmentId>,
    /// One enrollment of any status, if any (read for workflows that do not re-enroll).
    pub any: Option<EnrollmentId>,
}

impl ReadAhead {
    /// The holder of a unique value, if it was read ahead (`Some(None)`: read, no holder).
    pub fn holder(&self, object: &str, property: &str, key: &str) -> Option<Option<RecordId>> {
        let (_, holders) = self.holders.iter().find(|((o, p), _)| o == object && p == property)?;
        holders.get(key).cloned()
    }

    /// What `record` has enrolled into `workflow`, if it was read ahead.
    pub fn enrolled(&self, workflow: &WorkflowId, record: &RecordId) -> Option<&Enrolled> {
        self.enrollments.get(workflow)?.get(record)
    }

    /// Read the holders of `keys` (unique values of `object`'s `property`) in a few queries.
    pub fn read_holders(
        &mut self,
        db: &dyn Sql,
        object: &str,
        property: &str,
        keys: &[String],
    ) -> Result<(), StoreError> {
        let at = match self.holders.iter().position(|((o, p), _)| o == object && p == property) {
            Some(at) => at,
            None => {
                self.holders.push(((object.to_string(), property.to_string()), HashMap::new()));
                self.holders.len() - 1
            }
        };
        let holders = &mut self.holders[at].1;
        let unread = keys.iter().filter(|k| !holders.contains_key(*k));
        holders.extend(unique_holders(db, object, property, unread)?);
        Ok(())
    }

    /// Read what the records of `matched` (event, record) pairs have enrolled into
    /// `workflow` (a running enrollment; unless it re-enrolls, any enrollment) and whether
    /// each event enrolled its record already, in a few queries.
    pub fn read_enrollments(
        &mut self,
        db: &dyn Sql,
        workflow: &WorkflowId,
        reenroll: bool,
        matched: &[(EventId, RecordId)],
    ) -> Result<(), StoreError> {
        let records: Vec<&RecordId> = matched.iter().map(|(_, r)| r).collect::<HashSet<_>>().into_iter().collect();
        let rows = query_rows(
            db,
            &records,
            &[workflow],
            |rows, next| {
                // Only a workflow that does not re-enroll asks whether a record enrolled before.
                let any = if reenroll {
                    "NULL".to_string()
                } else {
                    format!(
                        "(SELECT id FROM enrollments WHERE workflow_id = ?{next} AND record_id = v.column1 LIMIT 1)"
                    )
                };
                format!(
                    "SELECT v.column1,
                         (SELECT id FROM enrollments WHERE workflow_id = ?{next} AND record_id = v.column1 AND status = 'running' LIMIT 1),
                         {any}
                     FROM ({rows}) AS v"
                )
            },
            |record| [*record as &dyn ToArg],
        )?;
        let known = self.enrollments.entry(workflow.clone()).or_default();
        for mut row in rows {
            let record: RecordId = row.get(0)?;
            known.insert(record, Enrolled { by_event: HashMap::new(), running: row.get(1)?, any: row.get(2)? });
        }
        // An event enrolled its record already only when it is processed again (a replay,
        // or a batch processed again after its commit was cut short): one seek per event in
        // the unique index.
        let rows = query_rows(
            db,
            matched,
            &[workflow],
            |rows, next| {
                format!(
                    "SELECT v.column1, v.column2,
                         (SELECT id FROM enrollments WHERE workflow_id = ?{next} AND event_id = v.column1 AND record_id = v.column2)
                     FROM ({rows}) AS v"
                )
            },
            |(event, record)| [event as &dyn ToArg, record],
        )?;
        for mut row in rows {
            let (event, record, id): (EventId, RecordId, Option<EnrollmentId>) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            if let (Some(id), Some(enrolled)) = (id, known.get_mut(&record)) {
                enrolled.by_event.insert(event, id);
            }
        }
        Ok(())
    }

    /// The batch inserted enrollment `id` of `record` into `workflow` for `event`.
    pub fn inserted(
        &mut self,
        workflow: &WorkflowId,
        record: &RecordId,
        event: &EventId,
        id: &EnrollmentId,
        running: bool,
    ) {
        if let Some(enrolled) = self.enrollments.get_mut(workflow).and_then(|known| known.get_mut(record)) {
            enrolled.by_event.insert(event.clone(), id.clone());
            enrolled.any.get_or_insert_with(|| id.clone());
            if running {
                enrolled.running = Some(id.clone());
            }
        }
    }

    /// Forget every enrollment read ahead (a step was saved: statuses move).
    pub fn forget_enrollments(&mut self) {
        self.enrollments.clear();
    }

    /// Forget every holder read ahead (a record's properties were written).
    pub fn forget_holders(&mut self) {
        self.holders.clear();
    }
}
