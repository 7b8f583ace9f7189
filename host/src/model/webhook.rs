//! A webhook as the wizard builds it: its state, the mapping of payload fields to typed
//! properties, the transform chain, the match rule and where delivery ids come from.

use serde::{Deserialize, Serialize};

use super::event::EventStatus;
use super::ids::{EventId, WebhookId};
use super::property::PropertyType;
use super::vocabulary;

/// The delivery-id header used unless a webhook says otherwise (Standard Webhooks).
pub const DEFAULT_DEDUP_HEADER: &str = "webhook-id";

/// How many live webhooks an installation may have (the product we replace allows 100).
pub const MAX_WEBHOOKS: i64 = 100;

vocabulary! {
    /// Where a webhook is in the set-up wizard.
    WebhookState, "webhook state" {
        /// Waiting for the first payload, which becomes the test event.
        AwaitingTestEvent = "awaiting_test_event",
        /// The test event is in; fields need mapping.
        AwaitingMapping = "awaiting_mapping",
        /// Mapped; the enrollment property needs choosing.
        AwaitingMatch = "awaiting_match",
        /// Events flow through the pipeline.
        Ready = "ready",
    }
}

impl WebhookState {
    /// The status (and reason) of a delivery that reaches a webhook in this state and is
    /// not captured as its test event: accepted for the pipeline once the webhook is
    /// ready, otherwise kept `not_ready` with what the admin has left to do. (A webhook
    /// still awaiting its test event here lost the capture to a concurrent delivery, so it
    /// is awaiting its mapping by now.)
    pub fn admit(self) -> (EventStatus, Option<String>) {
        match self {
            WebhookState::Ready => (EventStatus::Accepted, None),
            WebhookState::AwaitingTestEvent => WebhookState::AwaitingMapping.admit(),
            waiting => (
                EventStatus::NotReady,
                Some(format!("the webhook is {waiting}: finish its set-up, then replay this event")),
            ),
        }
    }
}

/// One mapped property: a payload path, its label for people, and its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MappedProperty {
    /// The flattened path, which is also the property's name.
    pub path: String,
    /// The label shown to people.
    pub label: String,
    /// `string`, `enum`, `number` or `boolean` ([`PropertyType::is_mappable`]).
    #[serde(rename = "type")]
    pub kind: PropertyType,
    /// The allowed values of an `enum`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

/// One step of a webhook's transform chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformStep {
    /// Plugin name (built-in or uploaded).
    pub plugin: String,
    /// Settings passed to the plugin, in order.
    pub config: Vec<(String, String)>,
}

/// How an event finds its record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MatchRule {
    /// The record object, e.g. `contacts`.
    pub object: String,
    /// The event property holding the key (a mapped path or a transform's output).
    pub webhook_property: String,
    /// The object's unique property it must equal.
    pub record_property: String,
}

/// Where a delivery's id comes from, so a redelivery is recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub struct Dedup {
    /// A request header (case-insensitive), e.g. `webhook-id` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A flattened path in the payload, e.g. `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_path: Option<String>,
}

impl Dedup {
    /// The default: the `webhook-id` header.
    pub fn default_header() -> Dedup {
        Dedup { header: Some("webhook-id".into()), body_path: None }
    }
}

/// A stored webhook.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// `wh_...`
    pub id: WebhookId,
    /// Its name.
    pub name: String,
    /// The secret in its URL.
    pub token: String,
    /// Wizard state.
    pub state: WebhookState,
    /// Creation time, unix ms.
    pub created_at_ms: i64,
    /// The captured test event, if any.
    pub test_event_id: Option<EventId>,
    /// The mapping.
    pub mapping: Vec<MappedProperty>,
    /// The transform chain, in order.
    pub transforms: Vec<TransformStep>,
    /// The match rule, once chosen.
    pub matching: Option<MatchRule>,
    /// Where delivery ids come from (neither field set: no dedup).
    pub dedup: Dedup,
    /// Until when (unix ms) the token replaced by the last rotation still works.
    pub previous_token_expires_ms: Option<i64>,
    /// How long its events are kept, when not the server's default.
    pub retention: Option<crate::model::retention::Retention>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_accepted_only_when_ready() {
        assert_eq!(WebhookState::Ready.admit(), (EventStatus::Accepted, None));
        let (status, reason) = WebhookState::AwaitingMatch.admit();
        assert_eq!(status, EventStatus::NotReady);
        assert_eq!(reason.unwrap(), "the webhook is awaiting_match: finish its set-up, then replay this event");
        let (_, reason) = WebhookState::AwaitingTestEvent.admit();
        assert!(reason.unwrap().contains("awaiting_mapping"), "a lost capture means the mapping is next");
    }
}
