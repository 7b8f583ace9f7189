//! Webhook events through the wizard: create (Name), the URL (Connect), list, show,
//! delete and token rotation here; the wizard's other steps by concern:
//!
//! - [`test_event`]: the captured test event (Review), and asking for a new one.
//! - [`setup`]: the mapping (Map), the transform chain and trying it, the match rule, dedup.
//! - [`rate_limit`]: a webhook's own ingest rate limit.
//! - [`retention`]: how long a webhook's events are kept.

pub mod rate_limit;
pub mod retention;
pub mod setup;
pub mod test_event;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json_};

use super::AppState;
use crate::http::{ApiError, ErrorBody, JsonBody, OptionalJsonBody, blocking, rfc3339};
use crate::model::ids::{EventId, WebhookId, new_token, now_ms};
use crate::model::webhook::{Dedup, MAX_WEBHOOKS, MappedProperty, MatchRule, Webhook, WebhookState};
use crate::store::webhooks::CreateWebhookError;
use crate::wizard;

/// A webhook as the API answers it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Webhook)]
pub(crate) struct WebhookView {
    /// `wh_…`.
    id: WebhookId,
    name: String,
    /// The secret in the URL.
    token: String,
    /// The secret URL senders POST to.
    url: String,
    state: WebhookState,
    /// RFC 3339.
    created_at: String,
    /// The captured test event, once there is one.
    test_event_id: Option<EventId>,
    mapping: MappingView,
    /// The transform chain, in order.
    transforms: Vec<StepView>,
    /// How an event finds its record (set by `PUT …/match`).
    #[serde(rename = "match")]
    matching: Option<MatchRule>,
    dedup: Dedup,
    /// The replaced token that still works, while its grace period runs.
    previous_token: Option<PreviousToken>,
    /// Requests refused by the signature check since the server started.
    signature_failures: u64,
    /// The webhook's own rate limit, when it has one.
    rate_limit: Option<RateLimitView>,
    /// How long its events are kept.
    retention: RetentionView,
}

/// A webhook's mapping: payload paths to typed properties.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Mapping)]
pub(crate) struct MappingView {
    properties: Vec<MappedProperty>,
}

/// One step of a transform chain: a plugin and its settings (as sent, as answered).
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[schema(as = TransformStep)]
pub(crate) struct StepView {
    /// A built-in or uploaded transform plugin.
    plugin: String,
    /// Settings passed to the plugin, as text.
    #[serde(default)]
    #[schema(value_type = std::collections::HashMap<String, String>)]
    config: Map<String, Json_>,
}

/// A replaced token still accepted until `expires_at`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PreviousToken {
    /// RFC 3339.
    expires_at: String,
}

/// A webhook's rate limit and how many requests it refused since the server started.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookRateLimit)]
pub(crate) struct RateLimitView {
    per_second: f64,
    burst: f64,
    limited: u64,
}

/// How long a webhook's events are kept after they arrive, and whether that is its own
/// setting or the server's default.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookRetention)]
pub(crate) struct RetentionView {
    days: f64,
    /// `webhook` (set by `PUT …/retention`) or `default` (`serve --retention-days`).
    #[schema(example = "default")]
    source: &'static str,
}

/// All live webhooks, with the count used of the limit.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookList {
    webhooks: Vec<WebhookView>,
    count: usize,
    /// The most webhooks an installation has (100).
    limit: i64,
}

fn url(state: &AppState, token: &str) -> String {
    format!("{}/hooks/{token}", state.public_url.trim_end_matches('/'))
}

fn render(state: &AppState, w: &Webhook) -> WebhookView {
    WebhookView {
        id: w.id.clone(),
        name: w.name.clone(),
        token: w.token.clone(),
        url: url(state, &w.token),
        state: w.state,
        created_at: rfc3339(w.created_at_ms),
        test_event_id: w.test_event_id.clone(),
        mapping: MappingView { properties: w.mapping.clone() },
        transforms: w
            .transforms
            .iter()
            .map(|t| StepView {
                plugin: t.plugin.clone(),
                config: t.config.iter().map(|(k, v)| (k.clone(), Json_::from(v.as_str()))).collect(),
            })
            .collect(),
        matching: w.matching.clone(),
        dedup: w.dedup.clone(),
        previous_token: w
            .previous_token_expires_ms
            .filter(|&end| end > now_ms())
            .map(|end| PreviousToken { expires_at: rfc3339(end) }),
        signature_failures: state.ingest.senders.failures(w.id.as_str()),
        rate_limit: state.ingest.limits.for_webhook(w.id.as_str()).map(|b| {
            let limit = b.limit();
            RateLimitView {
                per_second: limit.per_second,
                burst: limit.burst,
                limited: b.limited.load(std::sync::atomic::Ordering::Relaxed),
            }
        }),
        retention: match w.retention {
            Some(own) => RetentionView { days: own.days(), source: "webhook" },
            None => RetentionView { days: state.retention.days(), source: "default" },
        },
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = NewWebhook)]
pub(crate) struct CreateBody {
    name: String,
}

/// `POST /webhooks {name}` → 201 with the secret URL.
#[utoipa::path(
    post, operation_id = "webhooks.create", path = "/webhooks", tag = "webhooks",
    request_body = CreateBody,
    responses(
        (status = 201, description = "The webhook with its secret URL", body = WebhookView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 409, description = "100 webhooks exist", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let name = wizard::check_name(&body.name)?;
    let store = state.store.clone();
    let created = blocking(move || {
        let now = now_ms();
        store.create_webhook(&WebhookId::new(now), &name, &new_token(), now).map_err(|e| match e {
            CreateWebhookError::LimitReached => ApiError::new(StatusCode::CONFLICT, "limit_reached", e.to_string()),
            CreateWebhookError::Store(e) => e.into(),
        })
    })
    .await?;
    let (store, limits) = (state.store.clone(), state.ingest.limits.clone());
    blocking(move || Ok(limits.reload(&store)?)).await?;
    Ok((StatusCode::CREATED, Json(render(&state, &created))).into_response())
}

/// `GET /webhooks`: all live webhooks, with the count used of the limit.
#[utoipa::path(
    get, operation_id = "webhooks.list", path = "/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "Live webhooks, with the count and limit", body = WebhookList),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<WebhookList>, ApiError> {
    let store = state.store.clone();
    let webhooks = blocking(move || Ok(store.list_webhooks()?)).await?;
    let count = webhooks.len();
    Ok(Json(WebhookList { webhooks: webhooks.iter().map(|w| render(&state, w)).collect(), count, limit: MAX_WEBHOOKS }))
}

async fn load_webhook(state: &Arc<AppState>, id: WebhookId) -> Result<Webhook, ApiError> {
    let store = state.store.clone();
    blocking(move || Ok(store.webhook(&id)?)).await?.ok_or_else(|| ApiError::not_found("webhook"))
}

/// `GET /webhooks/{id}`.
#[utoipa::path(
    get, operation_id = "webhooks.show", path = "/webhooks/{id}", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
) -> Result<Json<WebhookView>, ApiError> {
    let webhook = load_webhook(&state, id).await?;
    Ok(Json(render(&state, &webhook)))
}

/// `DELETE /webhooks/{id}`: the URL stops working at once; past events stay in the log.
#[utoipa::path(
    delete, operation_id = "webhooks.delete", path = "/webhooks/{id}", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    responses(
        (status = 204, description = "Deleted; its URL answers 404"),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<WebhookId>) -> Result<StatusCode, ApiError> {
    let deleted = change_tokens(&state, move |store| Ok(store.delete_webhook(&id, now_ms())?)).await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("webhook")) }
}

/// Apply `set` to the live webhook `id` (it answers false if there is none: 404), then
/// answer the webhook as it is now: the shape of every `PUT`/`DELETE` of one setting.
async fn set_and_show(
    state: &Arc<AppState>,
    id: WebhookId,
    set: impl FnOnce(&crate::store::Store, &WebhookId) -> Result<bool, ApiError> + Send + 'static,
) -> Result<Json<WebhookView>, ApiError> {
    let store = state.store.clone();
    let webhook = blocking(move || {
        if !set(&store, &id)? {
            return Err(ApiError::not_found("webhook"));
        }
        store.webhook(&id)?.ok_or_else(|| ApiError::not_found("webhook"))
    })
    .await?;
    Ok(Json(render(state, &webhook)))
}

/// Apply a change to which tokens reach which webhook, then rebuild the in-memory tables
/// the ingest path looks tokens up in.
async fn change_tokens<T: Send + 'static>(
    state: &Arc<AppState>,
    change: impl FnOnce(&crate::store::Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    let (vault, senders, limits) = (state.vault.clone(), state.ingest.senders.clone(), state.ingest.limits.clone());
    blocking(move || {
        let changed = change(&store)?;
        senders.reload(&store, &vault).map_err(|e| ApiError::unavailable(e.to_string()))?;
        limits.reload(&store)?;
        Ok(changed)
    })
    .await
}

/// Default grace period of a replaced token: a day, for senders that deploy slowly.
const DEFAULT_GRACE_S: i64 = 24 * 3600;

/// Longest grace period: a week.
const MAX_GRACE_S: i64 = 7 * 24 * 3600;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateBody {
    grace_seconds: Option<i64>,
}

/// `POST /webhooks/{id}/rotate-token {grace_seconds?}`: a new secret URL; the old one keeps
/// working for the grace period (default a day, 0 stops it at once).
#[utoipa::path(
    post, operation_id = "webhooks.rotate_token", path = "/webhooks/{id}/rotate-token", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    request_body = RotateBody,
    responses(
        (status = 200, description = "The webhook with its new URL", body = WebhookView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn rotate_token(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
    OptionalJsonBody(body): OptionalJsonBody<RotateBody>,
) -> Result<Json<WebhookView>, ApiError> {
    let body = body.unwrap_or_default();
    let grace_s = body.grace_seconds.unwrap_or(DEFAULT_GRACE_S);
    if !(0..=MAX_GRACE_S).contains(&grace_s) {
        return Err(ApiError::invalid("grace_seconds", format!("grace_seconds must be 0 to {MAX_GRACE_S} (a week)")));
    }
    let webhook_id = id.clone();
    let rotated = change_tokens(&state, move |store| {
        Ok(store.rotate_token(&webhook_id, &new_token(), grace_s * 1000, now_ms())?)
    })
    .await?;
    if !rotated {
        return Err(ApiError::not_found("webhook"));
    }
    tracing::info!(webhook = %id, grace_s, "webhook token rotated");
    Ok(Json(render(&state, &load_webhook(&state, id).await?)))
}
