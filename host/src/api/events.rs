//! The event log: every delivery with its status and reason.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::{ApiError, AppState, blocking, rfc3339};
use crate::store::events::{EventFilter, StoredEvent};

/// Query of `GET /events`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    webhook: Option<String>,
    status: Option<String>,
    limit: Option<u32>,
    cursor: Option<String>,
}

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

/// `GET /events?webhook=&status=&limit=&cursor=`, newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Json_>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::invalid(
            "limit",
            format!("limit must be 1..={MAX_PAGE}"),
        ));
    }
    let filter = EventFilter {
        webhook: q.webhook,
        status: q.status,
        limit,
        cursor: q.cursor,
    };
    let store = state.store.clone();
    let events = blocking(move || Ok(store.list_events(&filter)?)).await?;
    let next_cursor = (events.len() == limit as usize)
        .then(|| events.last().map(|e| e.id.clone()))
        .flatten();
    Ok(Json(json!({
        "events": events.iter().map(summary).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })))
}

/// `GET /events/{id}`: the summary plus the payload as received.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    let store = state.store.clone();
    let event = blocking(move || Ok(store.event(&id)?))
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let mut body = summary(&event);
    body["payload"] = serde_json::from_slice(&event.payload).unwrap_or(Json_::Null);
    Ok(Json(body))
}
