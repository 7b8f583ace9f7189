//! A webhook's own ingest rate limit (the default is generous for any one sender).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::{WebhookView, set_and_show};
use crate::api::AppState;
use crate::http::{ApiError, ErrorBody, JsonBody};
use crate::model::ids::WebhookId;

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct RateLimitBody {
    per_second: Option<f64>,
    burst: Option<f64>,
}

/// `PUT /webhooks/{id}/rate-limit {per_second, burst?}` (burst defaults to 2 × per_second).
#[utoipa::path(
    put, operation_id = "webhooks.put_rate_limit", path = "/webhooks/{id}/rate-limit", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    request_body = RateLimitBody,
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
    JsonBody(body): JsonBody<RateLimitBody>,
) -> Result<Json<WebhookView>, ApiError> {
    let per_second = body.per_second.ok_or_else(|| ApiError::invalid("per_second", "per_second is required"))?;
    if !(per_second.is_finite() && (0.1..=1_000_000.0).contains(&per_second)) {
        return Err(ApiError::invalid("per_second", "between 0.1 and 1000000 requests per second"));
    }
    let burst = body.burst.unwrap_or(2.0 * per_second);
    if !(burst.is_finite() && (1.0..=10_000_000.0).contains(&burst)) {
        return Err(ApiError::invalid("burst", "between 1 and 10000000 requests"));
    }
    let limit = crate::ingest::limits::RateLimit { per_second, burst };
    set_rate_limit(&state, id, Some(limit)).await
}

/// `DELETE /webhooks/{id}/rate-limit`: back to the default.
#[utoipa::path(
    delete, operation_id = "webhooks.reset_rate_limit", path = "/webhooks/{id}/rate-limit", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    responses(
        (status = 200, description = "The webhook, back to the default limit", body = WebhookView),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn reset(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
) -> Result<Json<WebhookView>, ApiError> {
    set_rate_limit(&state, id, None).await
}

async fn set_rate_limit(
    state: &Arc<AppState>,
    id: WebhookId,
    limit: Option<crate::ingest::limits::RateLimit>,
) -> Result<Json<WebhookView>, ApiError> {
    let limits = state.ingest.limits.clone();
    set_and_show(state, id, move |store, id| {
        let json = limit.map(|l| serde_json::to_string(&l)).transpose().map_err(crate::store::StoreError::from)?;
        let changed = store.set_rate_limit(id, json.as_deref())?;
        limits.reload(store)?;
        Ok(changed)
    })
    .await
}
