//! What happens to an accepted event, off the request path:
//! coerce → transform → match → enroll, each stage timed and written to the event.
//!
//! A batch of events goes through in two phases: [`prepare`] (coerce and transform: CPU
//! work, run in parallel, no store access) and [`conclude`] (match and enroll: store work,
//! all events in one transaction).
//!
//! - [`config`]: the webhooks, workflows and plugins a batch is processed with.
//! - [`fair`]: how many waiting events of each webhook a batch takes.
//! - [`breaker`]: plugins paused after timing out again and again.
//! - [`transform`]: the webhook's chain of `transform` plugins.
//! - [`matching`]: the enrollment property against a unique record property.
//! - `read_ahead`: what matching and enrolling a batch will ask, read for all of it at once.
//! - [`enroll`]: into every enabled workflow the webhook triggers.
//! - [`worker`]: the thread that drains accepted events batch by batch.

pub mod breaker;
pub mod config;
pub mod enroll;
pub mod fair;
pub mod from_log;
pub mod matching;
mod read_ahead;
pub mod transform;
pub mod worker;

use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use crate::coerce::{MappedType, coerce};
use crate::flatten::flatten;
use crate::model::event::EventStatus;
use crate::model::ids::{RecordId, WebhookId};
use crate::model::property::PropertyType;
use crate::model::webhook::{MappedProperty, MatchRule, WebhookState};
use crate::plugins::{CallContext, PluginEngine};
use crate::store::StoreError;
use crate::store::batch::Batch;
use crate::store::events::{Finished, StoredEvent};
use crate::value::{Property, properties_to_json};
use config::BatchConfig;

/// What an event has produced so far: per-stage detail and timings.
pub struct Draft {
    detail: Map<String, Json>,
    stages: Vec<Json>,
}

impl Draft {
    fn new() -> Draft {
        Draft { detail: Map::new(), stages: Vec::new() }
    }

    fn stage<T>(&mut self, name: &'static str, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = work();
        let took = started.elapsed();
        crate::telemetry::metrics::stage_took(name, took);
        self.stages.push(json!({"stage": name, "duration_us": took.as_micros() as u64}));
        out
    }

    fn finish(
        mut self,
        status: EventStatus,
        stage: Option<&'static str>,
        reason: Option<String>,
        matched_record_id: Option<RecordId>,
    ) -> Finished<'static> {
        self.detail.insert("trace".into(), Json::Array(self.stages));
        // When the outcome was decided: with `received_at`, how long the event waited.
        self.detail.insert("processed_at_ms".into(), json!(crate::model::ids::now_ms()));
        Finished { status, stage, reason, detail: Json::Object(self.detail).to_string(), matched_record_id }
    }
}

/// An event after the CPU phase.
pub enum Prepared {
    /// It already has its final status (not ready, a coerce or transform failure, ...).
    Done(Finished<'static>),
    /// Its properties are ready to be matched with `rule`.
    ToMatch {
        /// The webhook's match rule.
        rule: MatchRule,
        /// The properties after the transform chain.
        properties: Vec<Property>,
        /// Detail so far.
        draft: Draft,
    },
}

fn mapped_type(p: &MappedProperty) -> MappedType {
    match p.kind {
        PropertyType::Number => MappedType::Number,
        PropertyType::Boolean => MappedType::Boolean,
        PropertyType::Enum => MappedType::Enum(p.options.clone()),
        // Dates are mapped as strings (a transform turns them into unix time); the wizard
        // refuses the other types, so a stored mapping has only these.
        PropertyType::String | PropertyType::Date | PropertyType::Datetime => MappedType::String,
    }
}

/// The mapped fields of an event's payload, typed by the built-in rules.
fn coerce_event(mapping: &[MappedProperty], event: &StoredEvent) -> Result<Vec<Property>, String> {
    let payload: Json = serde_json::from_slice(&event.payload).unwrap_or(Json::Null);
    let fields: std::collections::HashMap<String, Json> =
        flatten(&payload).into_iter().map(|f| (f.path, f.value)).collect();
    let mut out = Vec::with_capacity(mapping.len());
    for mapped in mapping {
        if let Some(value) = fields.get(&mapped.path) {
            let typed = coerce(&mapped.path, value, &mapped_type(mapped)).map_err(|e| e.to_string())?;
            out.push(Property::new(mapped.path.clone(), typed));
        }
    }
    Ok(out)
}

fn call_context(event: &StoredEvent) -> CallContext {
    CallContext {
        event_id: event.id.to_string(),
        webhook_id: event.webhook_id.to_string(),
        received_at_ms: event.received_at_ms,
    }
}

/// Coerce `event` with `webhook`'s mapping and run its transform chain, storing nothing:
/// what an admin sees when trying a chain on the captured test event. The answer has the
/// coerced properties, each step's output or error, and the final properties or error.
pub fn preview(engine: &PluginEngine, config: &BatchConfig, webhook_id: &WebhookId, event: &StoredEvent) -> Preview {
    let nothing = Preview { coerced: None, steps: Vec::new(), properties: None, stage: None, error: None };
    let Some(webhook) = config.webhook(webhook_id) else {
        return Preview { error: Some("the webhook no longer exists".into()), ..nothing };
    };
    let properties = match coerce_event(&webhook.mapping, event) {
        Ok(p) => p,
        Err(reason) => return Preview { stage: Some("coerce"), error: Some(reason), ..nothing },
    };
    let coerced = Some(properties_to_json(&properties));
    let chain = transform::run_chain(engine, config, &webhook.transforms, &call_context(event), properties);
    match chain.result {
        Ok(out) => Preview { coerced, steps: chain.steps, properties: Some(properties_to_json(&out)), ..nothing },
        Err(reason) => {
            Preview { coerced, steps: chain.steps, stage: Some("transform"), error: Some(reason), ..nothing }
        }
    }
}

/// A transform chain tried on the test event, nothing stored: the coerced properties, each
/// step's trace, and the final properties or the stage that failed and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The mapped fields, typed (absent if coercion failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    coerced: Option<Json>,
    /// What each step that ran did, in order.
    steps: Vec<transform::StepTrace>,
    /// The properties after the whole chain, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    properties: Option<Json>,
    /// `coerce` or `transform`: where it stopped, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<&'static str>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Coerce and transform one event. Touches no store, so events run in parallel.
pub fn prepare(engine: &PluginEngine, config: &BatchConfig, event: &StoredEvent) -> Prepared {
    let mut draft = Draft::new();
    let Some(webhook) = config.webhook(&event.webhook_id) else {
        return Prepared::Done(draft.finish(
            EventStatus::Failed,
            Some("config"),
            Some("the webhook no longer exists".into()),
            None,
        ));
    };
    if webhook.state != WebhookState::Ready {
        let reason = format!("the webhook is {}: finish its set-up, then replay this event", webhook.state);
        return Prepared::Done(draft.finish(EventStatus::NotReady, None, Some(reason), None));
    }
    let Some(rule) = webhook.matching.clone() else {
        return Prepared::Done(draft.finish(
            EventStatus::NotReady,
            None,
            Some("the webhook has no match rule".into()),
            None,
        ));
    };

    let coerced = draft.stage("coerce", || coerce_event(&webhook.mapping, event));
    let properties = match coerced {
        Ok(p) => p,
        Err(reason) => return Prepared::Done(draft.finish(EventStatus::Failed, Some("coerce"), Some(reason), None)),
    };
    draft.detail.insert("coerced".into(), properties_to_json(&properties));

    let call = call_context(event);
    let chain =
        draft.stage("transform", || transform::run_chain(engine, config, &webhook.transforms, &call, properties));
    draft.detail.insert("transforms".into(), serde_json::to_value(&chain.steps).unwrap_or(Json::Null));
    let properties = match chain.result {
        Ok(p) => p,
        Err(reason) => return Prepared::Done(draft.finish(EventStatus::Failed, Some("transform"), Some(reason), None)),
    };
    draft.detail.insert("properties".into(), properties_to_json(&properties));
    Prepared::ToMatch { rule, properties, draft }
}

/// How one event ended, and how many enrollments it created.
pub struct Concluded {
    /// The final status and detail, to store.
    pub finished: Finished<'static>,
    /// Enrollments created (one per workflow it newly enrolled into).
    pub enrollments: usize,
}

/// Match and enroll one prepared event inside the batch's transaction, and say how it
/// ended. Store failures are returned (the whole batch stays `accepted` and is retried).
pub fn conclude(
    batch: &Batch<'_>,
    config: &BatchConfig,
    event: &StoredEvent,
    prepared: Prepared,
) -> Result<Concluded, StoreError> {
    let ended = |finished| Ok(Concluded { finished, enrollments: 0 });
    let (rule, properties, mut draft) = match prepared {
        Prepared::Done(done) => return ended(done),
        Prepared::ToMatch { rule, properties, draft } => (rule, properties, draft),
    };
    let matched = draft.stage("match", || matching::find_record(batch, &rule, &properties))?;
    let record_id = match matched {
        matching::Matched::Record(id) => id,
        matching::Matched::Unmatched(reason) => {
            return ended(draft.finish(EventStatus::Unmatched, Some("match"), Some(reason), None));
        }
    };
    draft.detail.insert("matched_record".into(), json!({"id": record_id, "object": rule.object}));
    let workflows: Vec<_> = config.workflows_for(&event.webhook_id, &rule.object).collect();
    let trigger = json!({
        "properties": properties_to_json(&properties),
        "webhook_id": event.webhook_id,
        "received_at_ms": event.received_at_ms,
    });
    let enrolled =
        draft.stage("enroll", || enroll::enroll(batch, &workflows, &rule.object, &record_id, &event.id, &trigger))?;
    draft.detail.insert("enrollments".into(), Json::Array(enrolled.rows));
    let enrollments = enrolled.created;
    Ok(Concluded { finished: draft.finish(enrolled.status, None, enrolled.reason, Some(record_id)), enrollments })
}
