//! The wizard's Map step and what follows it: the mapping, the transform chain (and trying
//! it on the test event), the match rule, and where a redelivery's id comes from.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::{StepView, WebhookView, load_webhook, render};
use crate::api::AppState;
use crate::http::{ApiError, ErrorBody, JsonBody, OptionalJsonBody, blocking};
use crate::model::ids::WebhookId;
use crate::model::webhook::{Dedup, MatchRule, TransformStep};
use crate::pipeline::Preview;
use crate::plugins::World;
use crate::plugins::builtin;
use crate::wizard;

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
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put_mapping(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
    JsonBody(body): JsonBody<MappingBody>,
) -> Result<Json<WebhookView>, ApiError> {
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

/// A transform chain as sent, checked by the wizard's rules against the plugins there are.
fn check_chain(store: &crate::store::Store, steps: Vec<StepView>) -> Result<Vec<TransformStep>, ApiError> {
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
    request_body = Vec<StepView>,
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put_transforms(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
    JsonBody(steps): JsonBody<Vec<StepView>>,
) -> Result<Json<WebhookView>, ApiError> {
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
    request_body = Option<Vec<StepView>>,
    responses(
        (status = 200, description = "Each step's properties, output and log on the test event; nothing stored", body = Preview),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn test_transforms(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
    OptionalJsonBody(steps): OptionalJsonBody<Vec<StepView>>,
) -> Result<Json<Preview>, ApiError> {
    let mut webhook = load_webhook(&state, id).await?;
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
        (status = 200, description = "The webhook (`ready` once mapped)", body = WebhookView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put_match(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
    JsonBody(rule): JsonBody<MatchRule>,
) -> Result<Json<WebhookView>, ApiError> {
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
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put_dedup(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
    JsonBody(dedup): JsonBody<Dedup>,
) -> Result<Json<WebhookView>, ApiError> {
    if dedup.header.is_some() && dedup.body_path.is_some() {
        return Err(ApiError::invalid("header", "choose a header or a body path, not both"));
    }
    if let Some(h) = &dedup.header {
        crate::http::check_header_name("header", h)?;
    }
    if dedup.body_path.as_ref().is_some_and(|p| p.is_empty() || p.len() > wizard::MAX_PATH) {
        return Err(ApiError::invalid("body_path", format!("body_path must be 1 to {} bytes", wizard::MAX_PATH)));
    }
    let store = state.store.clone();
    let webhook =
        blocking(move || Ok(store.set_dedup(&id, &dedup)?)).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(Json(render(&state, &webhook)))
}
