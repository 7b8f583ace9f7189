//! The event log: every delivery with its status and reason.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;

use axum::http::StatusCode;

use super::AppState;
use crate::http::{ApiError, ErrorBody, OptionalJsonBody, blocking, rfc3339};
use crate::model::event::EventStatus;
use crate::model::ids::{EventId, RecordId, WebhookId};
use crate::store::events::{EventFilter, StoredEvent};

/// Query of `GET /events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this webhook's events.
    webhook: Option<WebhookId>,
    /// Only events with this status.
    status: Option<String>,
    /// Only events matched to this record (`rec_…`).
    record: Option<RecordId>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// Newest first, continuing below this id (a previous page's `next_cursor`).
    cursor: Option<EventId>,
    /// Oldest first, the events with ids above this one (a previous page's `next_since`).
    since: Option<EventId>,
    /// Instead of a page: these events (comma-separated ids, at most 100), to see how
    /// each is doing.
    ids: Option<String>,
}

/// A `status` filter: an event status by name, or a 400 naming the field and the names
/// (an unknown one would otherwise match nothing and look like an empty log).
fn status_filter(status: Option<&str>) -> Result<Option<EventStatus>, ApiError> {
    status
        .map(|name| {
            EventStatus::parse(name).map_err(|_| {
                let names: Vec<&str> = EventStatus::ALL.iter().map(|s| s.as_str()).collect();
                ApiError::invalid("status", format!("`{name}` is not an event status; one of: {}", names.join(", ")))
            })
        })
        .transpose()
}

/// Most ids one `ids=` lookup takes.
const MAX_IDS: usize = 100;

/// Largest page.
const MAX_PAGE: u32 = 500;

/// An event in the log: its status and, when it did not succeed, the stage and reason.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EventSummary {
    /// `evt_…`, sortable by arrival.
    id: EventId,
    webhook_id: WebhookId,
    /// RFC 3339.
    received_at: String,
    status: EventStatus,
    /// The stage that decided its status (`coerce`, `transform`, `match`, ...).
    stage: Option<String>,
    /// Why it has its status, in words.
    reason: Option<String>,
    /// The record it matched, once matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    matched_record_id: Option<RecordId>,
}

/// A page of the event log.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EventPage {
    events: Vec<EventSummary>,
    /// Newest first: the `cursor` of the next page, when there may be one.
    next_cursor: Option<EventId>,
    /// With `since`: the `since` of the next page, when there may be one.
    next_since: Option<EventId>,
}

/// One event with everything that happened to it.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct EventDetail {
    /// `evt_…`.
    id: EventId,
    webhook_id: WebhookId,
    /// RFC 3339.
    received_at: String,
    status: EventStatus,
    /// The stage that decided its status.
    stage: Option<String>,
    /// Why it has its status, in words.
    reason: Option<String>,
    /// The JSON payload as received.
    payload: Json_,
    /// The record it matched, once matched.
    matched_record_id: Option<RecordId>,
    /// The id of the HTTP request that delivered it (also in the server's log).
    request_id: Option<String>,
    /// The mapped fields after coercion, by name.
    #[schema(value_type = Option<Object>)]
    coerced: Json_,
    /// Each transform step: plugin, sha256, duration, output or error, log.
    #[schema(value_type = Option<Vec<crate::pipeline::transform::StepTrace>>)]
    transforms: Json_,
    /// The properties after the whole chain, by name.
    #[schema(value_type = Option<Object>)]
    properties: Json_,
    /// `{id, object}` of the matched record.
    #[schema(value_type = Option<Object>)]
    matched_record: Json_,
    /// The workflows it enrolled the record in (or why not).
    #[schema(value_type = Option<Vec<Object>>)]
    enrollments: Json_,
    /// Each stage with its duration in microseconds.
    #[schema(value_type = Option<Vec<Object>>)]
    trace: Json_,
    /// RFC 3339, once processed.
    processed_at: Option<String>,
}

/// An event queued again.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Replayed {
    event_id: EventId,
    /// `accepted`: waiting for the pipeline.
    status: EventStatus,
}

/// How many events a bulk replay queued again.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ReplayCount {
    replayed: usize,
}

fn summary(e: &StoredEvent) -> EventSummary {
    EventSummary {
        id: e.id.clone(),
        webhook_id: e.webhook_id.clone(),
        received_at: rfc3339(e.received_at_ms),
        status: e.status,
        stage: e.stage.clone(),
        reason: e.reason.clone(),
        matched_record_id: e.matched_record_id.clone(),
    }
}

/// `GET /events?webhook=&status=&record=&limit=&cursor=`, newest first; with `since=ID` instead,
/// the events with ids above it, oldest first; with `ids=` those events (`events tail`
/// follows the log with these two).
#[utoipa::path(
    get, operation_id = "events.list", path = "/events", tag = "events",
    params(
        ListQuery,
    ),
    responses(
        (status = 200, description = "Events newest first (`next_cursor`), or with `since` oldest first (`next_since`)", body = EventPage),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Result<Json<EventPage>, ApiError> {
    if let Some(ids) = q.ids {
        if q.cursor.is_some() || q.since.is_some() {
            return Err(ApiError::invalid("ids", "give `ids`, or page with `cursor` or `since`, not both"));
        }
        let ids: Vec<EventId> = ids.split(',').filter(|id| !id.is_empty()).map(EventId::from_text).collect();
        if ids.len() > MAX_IDS {
            return Err(ApiError::invalid("ids", format!("at most {MAX_IDS} ids")));
        }
        let store = state.store.clone();
        let events = blocking(move || Ok(store.events_by_ids(&ids)?)).await?;
        let events = events.iter().map(summary).collect();
        return Ok(Json(EventPage { events, next_cursor: None, next_since: None }));
    }
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid("limit", format!("limit must be 1..={MAX_PAGE}")));
    }
    if q.since.is_some() && q.cursor.is_some() {
        return Err(ApiError::invalid("since", "give `since` (oldest first) or `cursor` (newest first), not both"));
    }
    let following = q.since.is_some();
    let status = status_filter(q.status.as_deref())?;
    let filter = EventFilter { webhook: q.webhook, status, record: q.record, limit, cursor: q.cursor, since: q.since };
    let store = state.store.clone();
    let events = blocking(move || Ok(store.list_events(&filter)?)).await?;
    // Newest first pages on with `cursor`, oldest first with `since`; both take the last id.
    let next = (events.len() == limit as usize).then(|| events.last().map(|e| e.id.clone())).flatten();
    let (next_cursor, next_since) = if following { (None, next) } else { (next, None) };
    Ok(Json(EventPage { events: events.iter().map(summary).collect(), next_cursor, next_since }))
}

/// `GET /events/{id}`: the summary, the id of the request that delivered it, the payload as received, the properties after
/// coercion and after each transform (with plugin hashes), the stage trace, the matched
/// record and the enrollments.
#[utoipa::path(
    get, operation_id = "events.show", path = "/events/{id}", tag = "events",
    params(
        ("id" = String, Path, description = "The event id"),
    ),
    responses(
        (status = 200, description = "Payload, properties after each stage, trace, matched record, enrollments, request id", body = EventDetail),
        (status = 404, description = "No such event", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<Arc<AppState>>, Path(id): Path<EventId>) -> Result<Json<EventDetail>, ApiError> {
    let store = state.store.clone();
    let looked_up = id.clone();
    let stored = blocking(move || Ok(store.event(&looked_up)?)).await?;
    // Acknowledged but not in the database yet (it is not taking writes): as ingest decided it.
    let waiting = || Some(state.ingest.writer.unapplied()?.event(&id)?.stored());
    let event = stored.or_else(waiting).ok_or_else(|| ApiError::not_found("event"))?;
    let mut detail: serde_json::Map<String, Json_> =
        event.detail.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or_default();
    let mut take = |key: &str| detail.remove(key).unwrap_or(Json_::Null);
    Ok(Json(EventDetail {
        id: event.id,
        webhook_id: event.webhook_id,
        received_at: rfc3339(event.received_at_ms),
        status: event.status,
        stage: event.stage,
        reason: event.reason,
        payload: serde_json::from_slice(&event.payload).unwrap_or(Json_::Null),
        matched_record_id: event.matched_record_id,
        request_id: event.request_id,
        coerced: take("coerced"),
        transforms: take("transforms"),
        properties: take("properties"),
        matched_record: take("matched_record"),
        enrollments: take("enrollments"),
        trace: take("trace"),
        processed_at: take("processed_at_ms").as_i64().map(rfc3339),
    }))
}

/// `POST /events/{id}/replay`: run the event again through the current configuration.
#[utoipa::path(
    post, operation_id = "events.replay", path = "/events/{id}/replay", tag = "events",
    params(
        ("id" = String, Path, description = "The event id"),
    ),
    responses(
        (status = 202, description = "Queued again", body = Replayed),
        (status = 404, description = "No such event", body = ErrorBody),
    )
)]
pub async fn replay(
    State(state): State<Arc<AppState>>,
    Path(id): Path<EventId>,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    let store = state.store.clone();
    let event_id = id.clone();
    let queued = blocking(move || Ok(store.requeue(&event_id)?)).await?;
    if !queued {
        return Err(ApiError::not_found("event"));
    }
    state.ingest.backlog.added(1);
    state.ingest.waker.wake();
    Ok((StatusCode::ACCEPTED, Json(Replayed { event_id: id, status: EventStatus::Accepted })))
}

/// Body of `POST /events/replay`.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
pub struct ReplayFilter {
    #[schema(value_type = Option<String>)]
    webhook: Option<WebhookId>,
    status: Option<String>,
}

/// `POST /events/replay {webhook?, status?}`: replay every matching event.
#[utoipa::path(
    post, operation_id = "events.replay_many", path = "/events/replay", tag = "events",
    request_body = ReplayFilter,
    responses(
        (status = 202, description = "How many were queued again", body = ReplayCount),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
    )
)]
pub async fn replay_many(
    State(state): State<Arc<AppState>>,
    OptionalJsonBody(filter): OptionalJsonBody<ReplayFilter>,
) -> Result<(StatusCode, Json<ReplayCount>), ApiError> {
    let filter = filter.unwrap_or_default();
    if filter.webhook.is_none() && filter.status.is_none() {
        return Err(ApiError::invalid("webhook", "name a webhook or a status (or both) to replay"));
    }
    let status = status_filter(filter.status.as_deref())?;
    let store = state.store.clone();
    let count = blocking(move || Ok(store.requeue_matching(filter.webhook.as_ref(), status)?)).await?;
    state.ingest.backlog.added(count as u64);
    state.ingest.waker.wake();
    Ok((StatusCode::ACCEPTED, Json(ReplayCount { replayed: count })))
}
