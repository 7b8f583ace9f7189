//! The enrollment property must equal a unique property of exactly one existing record;
//! otherwise the event is `unmatched`, with the reason.

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

/// Look the event's key up in the object's unique index.
pub fn find_record(batch: &Batch<'_>, rule: &MatchRule, properties: &[Property]) -> Result<Matched, StoreError> {
    let value = properties.iter().find(|p| p.name == rule.webhook_property).map(|p| &p.value);
    let key = match value {
        None => {
            return Ok(Matched::Unmatched(format!(
                "the enrollment property `{}` is missing from the event",
                rule.webhook_property
            )));
        }
        Some(Value::Null) => {
            return Ok(Matched::Unmatched(format!("the enrollment property `{}` is null", rule.webhook_property)));
        }
        Some(v) => v.to_json(),
    };
    Ok(match batch.record_id_by_unique(&rule.object, &rule.record_property, &key)? {
        Some(id) => Matched::Record(id),
        None => Matched::Unmatched(format!("no {} record has {} = {key}", rule.object, rule.record_property)),
    })
}
