//! What happens to an accepted event, off the request path:
//! coerce → transform → match → enroll, each stage timed and written to the event.
//!
//! - [`transform`]: the webhook's chain of `transform` plugins.
//! - [`matching`]: the enrollment property against a unique record property.
//! - [`enroll`]: into every enabled workflow the webhook triggers.
//! - [`worker`]: the thread that drains accepted events.

pub mod enroll;
pub mod matching;
pub mod transform;
pub mod worker;

use std::time::Instant;

use serde_json::{Map, Value as Json, json};

use crate::coerce::{MappedType, coerce};
use crate::flatten::flatten;
use crate::plugins::{CallContext, PluginEngine};
use crate::store::events::{Finished, StoredEvent};
use crate::store::webhooks::{MappedProperty, WebhookState};
use crate::store::{Store, StoreError};
use crate::value::{Property, properties_to_json};

/// Everything a stage needs.
pub struct Pipeline<'a> {
    /// The store.
    pub store: &'a Store,
    /// The plugin engine.
    pub engine: &'a PluginEngine,
    /// Plugins already loaded, by name.
    pub plugins: &'a transform::PluginCache,
}

/// Per-stage record kept on the event.
struct Trace {
    stages: Vec<Json>,
}

impl Trace {
    fn stage<T>(&mut self, name: &str, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = work();
        self.stages.push(json!({"stage": name, "duration_us": started.elapsed().as_micros() as u64}));
        out
    }
}

fn mapped_type(p: &MappedProperty) -> MappedType {
    match p.kind.as_str() {
        "number" => MappedType::Number,
        "boolean" => MappedType::Boolean,
        "enum" => MappedType::Enum(p.options.clone()),
        _ => MappedType::String,
    }
}

impl Pipeline<'_> {
    /// Run one event through every stage and say how it ended. Store failures are returned
    /// (the event stays `accepted` and is retried); everything else ends in a status.
    pub fn process(&self, event: &StoredEvent) -> Result<Finished<'static>, StoreError> {
        let mut detail = Map::new();
        let mut trace = Trace { stages: Vec::new() };
        let finish = |status: &'static str,
                      stage: Option<&'static str>,
                      reason: Option<String>,
                      mut detail: Map<String, Json>,
                      trace: Trace,
                      matched: Option<String>| {
            detail.insert("trace".into(), Json::Array(trace.stages));
            Finished { status, stage, reason, detail: Json::Object(detail).to_string(), matched_record_id: matched }
        };

        let Some(webhook) = self.store.webhook_any(&event.webhook_id)? else {
            return Ok(finish(
                "failed",
                Some("config"),
                Some("the webhook no longer exists".into()),
                detail,
                trace,
                None,
            ));
        };
        if webhook.state != WebhookState::Ready {
            let reason =
                format!("the webhook is {}: finish its set-up, then replay this event", webhook.state.as_str());
            return Ok(finish("not_ready", None, Some(reason), detail, trace, None));
        }
        let Some(rule) = webhook.matching.clone() else {
            return Ok(finish("not_ready", None, Some("the webhook has no match rule".into()), detail, trace, None));
        };

        // coerce
        let payload: Json = serde_json::from_slice(&event.payload).unwrap_or(Json::Null);
        let coerced = trace.stage("coerce", || -> Result<Vec<Property>, String> {
            let fields: std::collections::HashMap<String, Json> =
                flatten(&payload).into_iter().map(|f| (f.path, f.value)).collect();
            let mut out = Vec::with_capacity(webhook.mapping.len());
            for mapped in &webhook.mapping {
                if let Some(value) = fields.get(&mapped.path) {
                    let typed = coerce(&mapped.path, value, &mapped_type(mapped)).map_err(|e| e.to_string())?;
                    out.push(Property::new(mapped.path.clone(), typed));
                }
            }
            Ok(out)
        });
        let properties = match coerced {
            Ok(p) => p,
            Err(reason) => return Ok(finish("failed", Some("coerce"), Some(reason), detail, trace, None)),
        };
        detail.insert("coerced".into(), properties_to_json(&properties));

        // transform
        let call = CallContext {
            event_id: event.id.clone(),
            webhook_id: event.webhook_id.clone(),
            received_at_ms: event.received_at_ms,
        };
        let chain = trace.stage("transform", || transform::run_chain(self, &webhook.transforms, &call, properties));
        detail.insert("transforms".into(), Json::Array(chain.steps));
        let properties = match chain.result {
            Ok(p) => p,
            Err(reason) => return Ok(finish("failed", Some("transform"), Some(reason), detail, trace, None)),
        };
        detail.insert("properties".into(), properties_to_json(&properties));

        // match
        let matched = trace.stage("match", || matching::find_record(self.store, &rule, &properties))?;
        let record = match matched {
            matching::Matched::Record(record) => record,
            matching::Matched::Unmatched(reason) => {
                return Ok(finish("unmatched", Some("match"), Some(reason), detail, trace, None));
            }
        };
        detail.insert("matched_record".into(), json!({"id": record.id, "object": record.object}));

        // enroll
        let enrolled =
            trace.stage("enroll", || enroll::enroll(self.store, &webhook.id, &rule.object, &record.id, &event.id))?;
        detail.insert("enrollments".into(), Json::Array(enrolled.rows));
        Ok(finish(enrolled.status, None, enrolled.reason, detail, trace, Some(record.id)))
    }
}
