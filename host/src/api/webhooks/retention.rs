//! A webhook's own retention: how long its events are kept (the server's default is
//! `serve --retention-days`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::{WebhookView, set_and_show};
use crate::api::AppState;
use crate::http::{ApiError, ErrorBody, JsonBody};
use crate::model::ids::WebhookId;
use crate::model::retention::Retention;

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct RetentionBody {
    /// Days its events are kept after they arrive (fractions allowed).
    days: Option<f64>,
}

/// `PUT /webhooks/{id}/retention {days}`.
#[utoipa::path(
    put, operation_id = "webhooks.put_retention", path = "/webhooks/{id}/retention", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    request_body = RetentionBody,
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
    JsonBody(body): JsonBody<RetentionBody>,
) -> Result<Json<WebhookView>, ApiError> {
    let days = body.days.ok_or_else(|| ApiError::invalid("days", "days is required"))?;
    let retention = Retention::from_days(days).map_err(|bounds| ApiError::invalid("days", bounds))?;
    set_retention(&state, id, Some(retention)).await
}

/// `DELETE /webhooks/{id}/retention`: back to the server's default.
#[utoipa::path(
    delete, operation_id = "webhooks.reset_retention", path = "/webhooks/{id}/retention", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    responses(
        (status = 200, description = "The webhook, back to the server's retention", body = WebhookView),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn reset(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
) -> Result<Json<WebhookView>, ApiError> {
    set_retention(&state, id, None).await
}

async fn set_retention(
    state: &Arc<AppState>,
    id: WebhookId,
    retention: Option<Retention>,
) -> Result<Json<WebhookView>, ApiError> {
    set_and_show(state, id, move |store, id| Ok(store.set_retention(id, retention)?)).await
}
