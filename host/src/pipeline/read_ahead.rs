//! Before a batch's events are matched and enrolled one by one, what those steps will ask
//! the store is read for all of them at once: the records their keys name, and what those
//! records enrolled into the workflows the events trigger. A few statements per batch
//! instead of two or more per event (on PostgreSQL each was a round trip).

use serde_json::Value as Json;

use super::config::BatchConfig;
use super::{Prepared, matching};
use crate::model::ids::{EventId, RecordId};
use crate::model::webhook::MatchRule;
use crate::model::workflow::Workflow;
use crate::store::StoreError;
use crate::store::batch::Batch;
use crate::store::events::StoredEvent;

/// Read, for all of `events` at once, what matching and enrolling them will ask the store
/// (the records their keys name; what those records enrolled into the workflows they
/// trigger): a few statements per batch instead of two or more per event.
pub(super) fn read_ahead(
    batch: &Batch<'_>,
    config: &BatchConfig,
    events: &[(&StoredEvent, Prepared)],
) -> Result<(), StoreError> {
    // Keys per (object, property) of the match rules in the batch (usually one).
    let mut keys: Vec<(&MatchRule, Vec<Json>)> = Vec::new();
    let to_match = events.iter().filter_map(|(event, prepared)| match prepared {
        Prepared::ToMatch { rule, properties, .. } => Some((*event, rule, matching::key_of(rule, properties).ok()?)),
        Prepared::Done(_) => None,
    });
    let to_match: Vec<_> = to_match.collect();
    for (_, rule, key) in &to_match {
        let same = |r: &&MatchRule| r.object == rule.object && r.record_property == rule.record_property;
        match keys.iter_mut().find(|(r, _)| same(r)) {
            Some((_, values)) => values.push(key.clone()),
            None => keys.push((rule, vec![key.clone()])),
        }
    }
    for (rule, values) in &keys {
        batch.read_ahead_records(&rule.object, &rule.record_property, values)?;
    }
    // Per workflow: the (event, record) pairs matched.
    let mut per_workflow: Vec<(&Workflow, Vec<(EventId, RecordId)>)> = Vec::new();
    for (event, rule, key) in &to_match {
        let Some(record) = batch.record_id_by_unique(&rule.object, &rule.record_property, key)? else { continue };
        for workflow in config.workflows_for(&event.webhook_id, &rule.object) {
            let pair = (event.id.clone(), record.clone());
            match per_workflow.iter_mut().find(|(w, _)| w.id == workflow.id) {
                Some((_, pairs)) => pairs.push(pair),
                None => per_workflow.push((workflow, vec![pair])),
            }
        }
    }
    for (workflow, matched) in &per_workflow {
        batch.read_ahead_enrollments(workflow, matched)?;
    }
    Ok(())
}
