//! The event log: every delivery with its status and reason.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use axum::http::StatusCode;

use super::AppState;
use crate::http::{ApiError, ErrorBody, OptionalJsonBody, blocking, rfc3339};
use crate::store::events::{EventFilter, StoredEvent};

/// Query of `GET /events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this webhook's events.
    webhook: Option<String>,
    /// Only events with this status.
    status: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// Newest first, continuing below this id (a previous page's `next_cursor`).
    cursor: Option<String>,
    /// Oldest first, the events with ids above this one (a previous page's `next_since`).
    since: Option<String>,
    /// Instead of a page: these events (comma-separated ids, at most 100), to see how
    /// each is doing.
    ids: Option<String>,
}

/// Most ids one `ids=` lookup takes.
const MAX_IDS: usize = 100;

/// Largest page.
const MAX_PAGE: u32 = 500;

fn summary(e: &StoredEvent) -> Json_ {
    json!({
        "id": e.id,
        "webhook_id": e.webhook_id,
        "received_at": rfc3339(e.received_at_ms),
        "status": e.status,
        "stage": e.stage,
        "reason": e.reason,
    })
}

/// `GET /events?webhook=&status=&limit=&cursor=`, newest first; with `since=ID` instead,
/// the events with ids above it, oldest first; with `ids=` those events (`events tail`
/// follows the log with these two).
#[utoipa::path(
    get, operation_id = "events.list", path = "/events", tag = "events",
    params(
        ListQuery,
    ),
    responses(
        (status = 200, description = "Events newest first (`next_cursor`), or with `since` oldest first (`next_since`)", body = Object),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Result<Json<Json_>, ApiError> {
    if let Some(ids) = q.ids {
        if q.cursor.is_some() || q.since.is_some() {
            return Err(ApiError::invalid("ids", "give `ids`, or page with `cursor` or `since`, not both"));
        }
        let ids: Vec<String> = ids.split(',').filter(|id| !id.is_empty()).map(str::to_string).collect();
        if ids.len() > MAX_IDS {
            return Err(ApiError::invalid("ids", format!("at most {MAX_IDS} ids")));
        }
        let store = state.store.clone();
        let events = blocking(move || Ok(store.events_by_ids(&ids)?)).await?;
        return Ok(Json(json!({"events": events.iter().map(summary).collect::<Vec<_>>()})));
    }
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid("limit", format!("limit must be 1..={MAX_PAGE}")));
    }
    if q.since.is_some() && q.cursor.is_some() {
        return Err(ApiError::invalid("since", "give `since` (oldest first) or `cursor` (newest first), not both"));
    }
    let following = q.since.is_some();
    let filter = EventFilter { webhook: q.webhook, status: q.status, limit, cursor: q.cursor, since: q.since };
    let store = state.store.clone();
    let events = blocking(move || Ok(store.list_events(&filter)?)).await?;
    // Newest first pages on with `cursor`, oldest first with `since`; both take the last id.
    let next = (events.len() == limit as usize).then(|| events.last().map(|e| e.id.clone())).flatten();
    let (next_cursor, next_since) = if following { (None, next) } else { (next, None) };
    Ok(Json(json!({
        "events": events.iter().map(summary).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
        "next_since": next_since,
    })))
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
        (status = 200, description = "Payload, properties after each stage, trace, matched record, enrollments, request id", body = Object),
        (status = 404, description = "No such event", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    let store = state.store.clone();
    let event = blocking(move || Ok(store.event(&id)?)).await?.ok_or_else(|| ApiError::not_found("event"))?;
    let mut body = summary(&event);
    body["payload"] = serde_json::from_slice(&event.payload).unwrap_or(Json_::Null);
    body["matched_record_id"] = json!(event.matched_record_id);
    body["request_id"] = json!(event.request_id);
    let detail: Json_ = event.detail.as_deref().and_then(|d| serde_json::from_str(d).ok()).unwrap_or(json!({}));
    for key in ["coerced", "transforms", "properties", "matched_record", "enrollments", "trace"] {
        body[key] = detail.get(key).cloned().unwrap_or(Json_::Null);
    }
    body["processed_at"] = json!(detail.get("processed_at_ms").and_then(Json_::as_i64).map(rfc3339));
    Ok(Json(body))
}

/// `POST /events/{id}/replay`: run the event again through the current configuration.
#[utoipa::path(
    post, operation_id = "events.replay", path = "/events/{id}/replay", tag = "events",
    params(
        ("id" = String, Path, description = "The event id"),
    ),
    responses(
        (status = 202, description = "Queued again", body = Object),
        (status = 404, description = "No such event", body = ErrorBody),
    )
)]
pub async fn replay(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Json_>), ApiError> {
    let store = state.store.clone();
    let event_id = id.clone();
    let queued = blocking(move || Ok(store.requeue(&event_id)?)).await?;
    if !queued {
        return Err(ApiError::not_found("event"));
    }
    state.ingest.backlog.added(1);
    state.ingest.waker.wake();
    Ok((StatusCode::ACCEPTED, Json(json!({"event_id": id, "status": "accepted"}))))
}

/// Body of `POST /events/replay`.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
pub struct ReplayFilter {
    webhook: Option<String>,
    status: Option<String>,
}

/// `POST /events/replay {webhook?, status?}`: replay every matching event.
#[utoipa::path(
    post, operation_id = "events.replay_many", path = "/events/replay", tag = "events",
    request_body = ReplayFilter,
    responses(
        (status = 202, description = "How many were queued again", body = Object),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
    )
)]
pub async fn replay_many(
    State(state): State<Arc<AppState>>,
    OptionalJsonBody(filter): OptionalJsonBody<ReplayFilter>,
) -> Result<(StatusCode, Json<Json_>), ApiError> {
    let filter = filter.unwrap_or_default();
    if filter.webhook.is_none() && filter.status.is_none() {
        return Err(ApiError::invalid("webhook", "name a webhook or a status (or both) to replay"));
    }
    let store = state.store.clone();
    let count =
        blocking(move || Ok(store.requeue_matching(filter.webhook.as_deref(), filter.status.as_deref())?)).await?;
    state.ingest.backlog.added(count as u64);
    state.ingest.waker.wake();
    Ok((StatusCode::ACCEPTED, Json(json!({"replayed": count}))))
}
