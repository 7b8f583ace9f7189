//! The captured test event (the wizard's Review step): its payload, flattened fields with
//! samples and suggested types, and asking for a new one.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value as Json_;

use super::load_webhook;
use crate::api::AppState;
use crate::flatten::flatten;
use crate::http::{ApiError, ErrorBody, blocking, rfc3339};
use crate::model::ids::{EventId, WebhookId};
use crate::model::property::PropertyType;

/// The captured test event and what the wizard suggests for each of its fields.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TestEvent {
    event_id: EventId,
    /// The JSON payload as received.
    payload: Json_,
    /// RFC 3339.
    received_at: String,
    /// Every scalar field of the payload, by flattened path.
    fields: Vec<TestEventField>,
}

/// One field of the test event.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TestEventField {
    /// The flattened path, e.g. `customer.email` or `items[0].sku`.
    path: String,
    /// The value in the test event.
    sample: Json_,
    /// `string`, `number` or `boolean`; dates are mapped as strings.
    suggested_type: PropertyType,
    /// A plugin that would convert it (`strtotime` for a date).
    #[serde(skip_serializing_if = "Option::is_none")]
    suggested_transform: Option<&'static str>,
}

/// `GET /webhooks/{id}/test-event`: the captured payload, its fields and suggested types.
#[utoipa::path(
    get, operation_id = "webhooks.test_event", path = "/webhooks/{id}/test-event", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    responses(
        (status = 200, description = "The test event: payload, flattened fields with samples and suggested types", body = TestEvent),
        (status = 404, description = "No such webhook or test event", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<Arc<AppState>>, Path(id): Path<WebhookId>) -> Result<Json<TestEvent>, ApiError> {
    let webhook = load_webhook(&state, id).await?;
    let Some(event_id) = webhook.test_event_id else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_test_event",
            "no test event yet: send a JSON payload to the webhook's URL",
        ));
    };
    let store = state.store.clone();
    let event =
        blocking(move || Ok(store.event(&event_id)?)).await?.ok_or_else(|| ApiError::not_found("test event"))?;
    let payload: Json_ = serde_json::from_slice(&event.payload).unwrap_or(Json_::Null);
    let fields = flatten(&payload)
        .into_iter()
        .map(|f| {
            let (suggested_type, suggested_transform) = suggest(&f.value);
            TestEventField { path: f.path, sample: f.value, suggested_type, suggested_transform }
        })
        .collect();
    Ok(Json(TestEvent { event_id: event.id, received_at: rfc3339(event.received_at_ms), payload, fields }))
}

/// A type for a sample value; dates are mapped as strings and converted by strtotime.
fn suggest(sample: &Json_) -> (PropertyType, Option<&'static str>) {
    match sample {
        Json_::Bool(_) => (PropertyType::Boolean, None),
        Json_::Number(_) => (PropertyType::Number, None),
        Json_::String(s) if looks_like_date(s) => (PropertyType::String, Some("strtotime")),
        _ => (PropertyType::String, None),
    }
}

/// A date-like string: strtotime parses it, and it carries a date's worth of digits
/// (so `A-1001` or `now` are not dates, but `2024-03-10T09:15:00Z` and `Mar 10 2024` are).
fn looks_like_date(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let all_digits = s.bytes().all(|c| c.is_ascii_digit());
    digits >= 6 && !all_digits && strtotime::strtotime(s, 0, strtotime::ParsedZone::Offset(0)).is_ok()
}

/// `DELETE /webhooks/{id}/test-event`: wait for a new test event.
#[utoipa::path(
    delete, operation_id = "webhooks.reset_test_event", path = "/webhooks/{id}/test-event", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    responses(
        (status = 204, description = "The next delivery becomes the test event"),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn reset(State(state): State<Arc<AppState>>, Path(id): Path<WebhookId>) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let reset = blocking(move || Ok(store.reset_test_event(&id)?)).await?;
    if reset { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("webhook")) }
}
