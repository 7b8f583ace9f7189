//! The enrollment property must equal a unique property of exactly one existing record;
//! otherwise the event is `unmatched`, with the reason.

use serde_json::Value as Json;

use crate::model::ids::RecordId;
use crate::model::webhook::MatchRule;
use crate::store::StoreError;
use crate::store::batch::Batch;
use crate::value::{Property, Value};

/// The match stage's answer.
pub enum Matched {
    /// The id of the one record.
    Record(RecordId),
    /// Why there is none.
    Unmatched(String),
}

/// The event's key: the value of the rule's enrollment property, or why there is none.
pub fn key_of(rule: &MatchRule, properties: &[Property]) -> Result<Json, String> {
    match properties.iter().find(|p| p.name == rule.webhook_property).map(|p| &p.value) {
        None => Err(format!("the enrollment property `{}` is missing from the event", rule.webhook_property)),
        Some(Value::Null) => Err(format!("the enrollment property `{}` is null", rule.webhook_property)),
        Some(v) => Ok(v.to_json()),
    }
}

/// Look the event's key up in the object's unique index (or in what the batch read ahead).
pub fn find_record(batch: &Batch<'_>, rule: &MatchRule, properties: &[Property]) -> Result<Matched, StoreError> {
    let key = match key_of(rule, properties) {
        Ok(key) => key,
        Err(reason) => return Ok(Matched::Unmatched(reason)),
    };
    Ok(match batch.record_id_by_unique(&rule.object, &rule.record_property, &key)? {
        Some(id) => Matched::Record(id),
        None => Matched::Unmatched(format!("no {} record has {} = {key}", rule.object, rule.record_property)),
    })
}
