//! Webhook events through the wizard: create (Name), the URL (Connect), the captured test
//! event (Review) and the mapping (Map).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::AppState;
use crate::flatten::flatten;
use crate::http::{ApiError, ErrorBody, JsonBody, OptionalJsonBody, blocking, rfc3339};
use crate::model::ids::{IdKind, new_id, new_token, now_ms};
use crate::model::webhook::{Dedup, MAX_WEBHOOKS, MatchRule, TransformStep, Webhook};
use crate::plugins::World;
use crate::plugins::builtin;
use crate::store::webhooks::CreateWebhookError;
use crate::wizard;

fn url(state: &AppState, token: &str) -> String {
    format!("{}/hooks/{token}", state.public_url.trim_end_matches('/'))
}

fn render(state: &AppState, w: &Webhook) -> Json_ {
    json!({
        "id": w.id,
        "name": w.name,
        "token": w.token,
        "url": url(state, &w.token),
        "state": w.state.as_str(),
        "created_at": rfc3339(w.created_at_ms),
        "test_event_id": w.test_event_id,
        "mapping": {"properties": w.mapping},
        "transforms": w.transforms.iter().map(|t| json!({
            "plugin": t.plugin,
            "config": t.config.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<String, Json_>>(),
        })).collect::<Vec<_>>(),
        "match": w.matching,
        "dedup": w.dedup,
        "previous_token": w.previous_token_expires_ms.filter(|&end| end > now_ms())
            .map(|end| json!({"expires_at": rfc3339(end)})),
        "signature_failures": state.ingest.senders.failures(&w.id),
        "rate_limit": state.ingest.limits.for_webhook(&w.id).map(|b| {
            let limit = b.limit();
            json!({"per_second": limit.per_second, "burst": limit.burst,
                   "limited": b.limited.load(std::sync::atomic::Ordering::Relaxed)})
        }),
    })
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
        (status = 201, description = "The webhook with its secret URL", body = Object),
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
        store.create_webhook(&new_id(IdKind::Webhook, now), &name, &new_token(), now).map_err(|e| match e {
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
        (status = 200, description = "Live webhooks, with the count and limit", body = Object),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Json_>, ApiError> {
    let store = state.store.clone();
    let webhooks = blocking(move || Ok(store.list_webhooks()?)).await?;
    Ok(Json(json!({
        "webhooks": webhooks.iter().map(|w| render(&state, w)).collect::<Vec<_>>(),
        "count": webhooks.len(),
        "limit": MAX_WEBHOOKS,
    })))
}

async fn load(state: &Arc<AppState>, id: String) -> Result<Webhook, ApiError> {
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
        (status = 200, description = "The webhook", body = Object),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    let webhook = load(&state, id).await?;
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
pub async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let deleted = change_tokens(&state, move |store| Ok(store.delete_webhook(&id, now_ms())?)).await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("webhook")) }
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
        (status = 200, description = "The webhook with its new URL", body = Object),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn rotate_token(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<RotateBody>,
) -> Result<Json<Json_>, ApiError> {
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
    Ok(Json(render(&state, &load(&state, id).await?)))
}

/// `GET /webhooks/{id}/test-event`: the captured payload, its fields and suggested types.
#[utoipa::path(
    get, operation_id = "webhooks.test_event", path = "/webhooks/{id}/test-event", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    responses(
        (status = 200, description = "The test event: payload, flattened fields with samples and suggested types", body = Object),
        (status = 404, description = "No such webhook or test event", body = ErrorBody),
    )
)]
pub async fn test_event(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Result<Json<Json_>, ApiError> {
    let webhook = load(&state, id).await?;
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
    let fields: Vec<Json_> = flatten(&payload)
        .into_iter()
        .map(|f| {
            let (suggested_type, transform) = suggest(&f.value);
            let mut field = json!({"path": f.path, "sample": f.value, "suggested_type": suggested_type});
            if let Some(t) = transform {
                field["suggested_transform"] = json!(t);
            }
            field
        })
        .collect();
    Ok(Json(json!({
        "event_id": event.id,
        "payload": payload,
        "received_at": rfc3339(event.received_at_ms),
        "fields": fields,
    })))
}

/// A type for a sample value; dates are mapped as strings and converted by strtotime.
fn suggest(sample: &Json_) -> (&'static str, Option<&'static str>) {
    match sample {
        Json_::Bool(_) => ("boolean", None),
        Json_::Number(_) => ("number", None),
        Json_::String(s) if looks_like_date(s) => ("string", Some("strtotime")),
        _ => ("string", None),
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
pub async fn reset_test_event(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let reset = blocking(move || Ok(store.reset_test_event(&id)?)).await?;
    if reset { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("webhook")) }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct MappingBody {
    properties: Vec<MappingEntry>,
}

#[derive(Deserialize, utoipa::ToSchema)]
struct MappingEntry {
    path: String,
    label: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    options: Vec<String>,
}

/// `PUT /webhooks/{id}/mapping {properties: [{path, label, type, options?}]}`.
#[utoipa::path(
    put, operation_id = "webhooks.put_mapping", path = "/webhooks/{id}/mapping", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    request_body = MappingBody,
    responses(
        (status = 200, description = "The webhook", body = Object),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put_mapping(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MappingBody>,
) -> Result<Json<Json_>, ApiError> {
    let entries = body.properties.into_iter().map(|e| wizard::MappingEntry {
        path: e.path,
        label: e.label,
        kind: e.kind,
        options: e.options,
    });
    let mapping = wizard::check_mapping(entries.collect())?;
    let store = state.store.clone();
    let webhook =
        blocking(move || Ok(store.set_mapping(&id, &mapping)?)).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(render(&state, &webhook)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = TransformStep)]
pub(crate) struct StepBody {
    plugin: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    config: serde_json::Map<String, Json_>,
}

/// A transform chain as sent, checked by the wizard's rules against the plugins there are.
fn check_chain(store: &crate::store::Store, steps: Vec<StepBody>) -> Result<Vec<TransformStep>, ApiError> {
    let uploads = store.list_plugins()?;
    let world_of = |name: &str| match builtin::find(name) {
        Some(b) => Some(b.world),
        None => uploads
            .iter()
            .find(|p| p.name == name)
            .map(|p| if p.world == World::Action.name() { World::Action } else { World::Transform }),
    };
    let steps = steps.into_iter().map(|s| wizard::StepEntry { plugin: s.plugin, config: s.config }).collect();
    Ok(wizard::check_chain(steps, &world_of)?)
}

/// `PUT /webhooks/{id}/transforms [{plugin, config}]`: the ordered chain.
#[utoipa::path(
    put, operation_id = "webhooks.put_transforms", path = "/webhooks/{id}/transforms", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    request_body = Vec<StepBody>,
    responses(
        (status = 200, description = "The webhook", body = Object),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put_transforms(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(steps): JsonBody<Vec<StepBody>>,
) -> Result<Json<Json_>, ApiError> {
    let store = state.store.clone();
    let webhook = blocking(move || {
        let chain = check_chain(&store, steps)?;
        Ok(store.set_transforms(&id, &chain)?)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(render(&state, &webhook)))
}

/// `POST /webhooks/{id}/transforms/test [steps]?`: run the mapping and a chain (the one
/// sent, else the saved one) on the captured test event, storing nothing; each step's
/// output or error.
#[utoipa::path(
    post, operation_id = "webhooks.test_transforms", path = "/webhooks/{id}/transforms/test", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    request_body = Option<Vec<StepBody>>,
    responses(
        (status = 200, description = "Each step's properties, output and log on the test event; nothing stored", body = Object),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn test_transforms(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    OptionalJsonBody(steps): OptionalJsonBody<Vec<StepBody>>,
) -> Result<Json<Json_>, ApiError> {
    let mut webhook = load(&state, id).await?;
    let Some(event_id) = webhook.test_event_id.clone() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "no_test_event", "no test event yet to try the chain on"));
    };
    let (store, engine) = (state.store.clone(), state.engine.clone());
    let answer = blocking(move || {
        if let Some(steps) = steps {
            webhook.transforms = check_chain(&store, steps)?;
        }
        let event = store.event(&event_id)?.ok_or_else(|| ApiError::not_found("test event"))?;
        let webhook_id = webhook.id.clone();
        let config = crate::pipeline::config::BatchConfig::for_preview(&store, &engine, webhook)?;
        Ok(crate::pipeline::preview(&engine, &config, &webhook_id, &event))
    })
    .await?;
    Ok(Json(answer))
}

/// `PUT /webhooks/{id}/match {object, webhook_property, record_property}`; the record
/// property must be unique on the object. A mapped webhook becomes `ready`.
#[utoipa::path(
    put, operation_id = "webhooks.put_match", path = "/webhooks/{id}/match", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    request_body = crate::model::webhook::MatchRule,
    responses(
        (status = 200, description = "The webhook (`ready` once mapped)", body = Object),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put_match(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(rule): JsonBody<MatchRule>,
) -> Result<Json<Json_>, ApiError> {
    let store = state.store.clone();
    let webhook = blocking(move || {
        wizard::check_match(&rule, store.properties(&rule.object)?.as_deref())?;
        Ok(store.set_match(&id, &rule)?)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(render(&state, &webhook)))
}

/// `PUT /webhooks/{id}/dedup {header}` or `{body_path}` or `{}` (no dedup): where the
/// delivery id of a redelivery comes from.
#[utoipa::path(
    put, operation_id = "webhooks.put_dedup", path = "/webhooks/{id}/dedup", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    request_body = crate::model::webhook::Dedup,
    responses(
        (status = 200, description = "The webhook", body = Object),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put_dedup(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(dedup): JsonBody<Dedup>,
) -> Result<Json<Json_>, ApiError> {
    if dedup.header.is_some() && dedup.body_path.is_some() {
        return Err(ApiError::invalid("header", "choose a header or a body path, not both"));
    }
    if let Some(h) = &dedup.header
        && axum::http::HeaderName::from_bytes(h.as_bytes()).is_err()
    {
        return Err(ApiError::invalid("header", format!("`{h}` is not a valid header name")));
    }
    if dedup.body_path.as_ref().is_some_and(|p| p.is_empty() || p.len() > wizard::MAX_PATH) {
        return Err(ApiError::invalid("body_path", format!("body_path must be 1 to {} bytes", wizard::MAX_PATH)));
    }
    let store = state.store.clone();
    let webhook =
        blocking(move || Ok(store.set_dedup(&id, &dedup)?)).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(render(&state, &webhook)))
}

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
        (status = 200, description = "The webhook", body = Object),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put_rate_limit(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RateLimitBody>,
) -> Result<Json<Json_>, ApiError> {
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
        (status = 200, description = "The webhook, back to the default limit", body = Object),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn reset_rate_limit(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Json_>, ApiError> {
    set_rate_limit(&state, id, None).await
}

async fn set_rate_limit(
    state: &Arc<AppState>,
    id: String,
    limit: Option<crate::ingest::limits::RateLimit>,
) -> Result<Json<Json_>, ApiError> {
    let (store, limits) = (state.store.clone(), state.ingest.limits.clone());
    let webhook = blocking(move || {
        let json = limit.map(|l| serde_json::to_string(&l)).transpose().map_err(crate::store::StoreError::from)?;
        if !store.set_rate_limit(&id, json.as_deref())? {
            return Err(ApiError::not_found("webhook"));
        }
        limits.reload(&store)?;
        store.webhook(&id)?.ok_or_else(|| ApiError::not_found("webhook"))
    })
    .await?;
    Ok(Json(render(state, &webhook)))
}
