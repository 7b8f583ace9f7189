//! Alerts (operational webhooks): an admin registers a URL and the secret (by name) whose
//! Standard Webhooks key signs the messages, the kinds of trouble to be told of with their
//! thresholds, and the window; `watch` evaluates and delivers. A message is sent at most
//! once per alert, kind and subject per window, with the count and a link.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value as JsonValue;

use super::AppState;
use crate::http::{ApiError, ErrorBody, JsonBody, blocking, rfc3339};
use crate::model::alert::{
    Alert, AlertKind, DEFAULT_WINDOW_S, MAX_WINDOW_S, MIN_WINDOW_S, MessageStatus, on_to_json, read_on,
};
use crate::model::ids::{AlertId, WebhookId, now_ms};
use crate::model::signature::standard_webhooks_key;
use crate::plugins::outbound::AllowedHost;
use crate::secrets::valid_name;
use crate::store::alerts::Message;

/// Messages shown with an alert.
const MESSAGES_SHOWN: u32 = 50;

/// The longest name.
const MAX_NAME: usize = 100;

/// `POST /alerts`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAlert {
    /// What to call it (default: the URL's host).
    name: Option<String>,
    /// Where messages are POSTed (http or https).
    url: String,
    /// The secret (by name, `PUT /secrets/{name}`) holding the Standard Webhooks key
    /// (`whsec_<base64>`) that signs them.
    secret: String,
    /// The window counts are summed over, and the least time between two messages of one
    /// kind and subject: 60 to 86400 seconds (default 300).
    window_s: Option<u64>,
    /// The kinds of trouble and their thresholds: `events_failed`, `events_unmatched`,
    /// `enrollments_failed`, `breaker_opened` (times in the window, a whole number ≥ 1),
    /// `backlog` (a fraction of the backlog bound, above 0 and at most 1).
    #[schema(value_type = Object)]
    on: serde_json::Map<String, JsonValue>,
    /// Only this webhook's events and transform breakers (workflows and destinations are
    /// everyone's).
    webhook: Option<String>,
}

/// A webhook by id and name.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookRef {
    /// Its id.
    id: WebhookId,
    /// Its name.
    name: String,
}

/// One message of an alert.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct MessageView {
    /// Its id: the `webhook-id` it is sent with, the same on every try.
    id: String,
    /// Its kind.
    kind: AlertKind,
    /// What it is about (a webhook or workflow id, a destination, `server`).
    subject: String,
    /// When it fired.
    fired_at: String,
    /// Where it is.
    status: MessageStatus,
    /// Tries so far.
    attempts: u32,
    /// When it is tried next (pending only).
    next_attempt_at: Option<String>,
    /// How the last try failed.
    last_error: Option<String>,
    /// When its URL answered 2xx.
    delivered_at: Option<String>,
    /// The body sent.
    #[schema(value_type = Object)]
    body: JsonValue,
}

/// An alert.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AlertView {
    /// Its id.
    id: AlertId,
    /// Its name.
    name: String,
    /// Where messages are POSTed.
    url: String,
    /// The secret whose key signs them.
    secret: String,
    /// The window, seconds.
    window_s: u64,
    /// Kinds and thresholds.
    #[schema(value_type = Object)]
    on: JsonValue,
    /// Only this webhook, if set.
    webhook: Option<WebhookRef>,
    /// When it was made.
    created_at: String,
    /// Its latest messages, newest first (`GET /alerts/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<Vec<MessageView>>,
}

/// Every alert.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AlertList {
    alerts: Vec<AlertView>,
}

fn view(alert: Alert, webhook_name: Option<String>, messages: Option<Vec<Message>>) -> AlertView {
    AlertView {
        webhook: alert.webhook_id.map(|id| WebhookRef { name: webhook_name.unwrap_or_else(|| id.to_string()), id }),
        on: on_to_json(&alert.on),
        window_s: u64::try_from(alert.window_ms / 1000).unwrap_or(0),
        created_at: rfc3339(alert.created_at_ms),
        messages: messages.map(|all| all.into_iter().map(message_view).collect()),
        id: alert.id,
        name: alert.name,
        url: alert.url,
        secret: alert.secret,
    }
}

fn message_view(m: Message) -> MessageView {
    MessageView {
        id: m.fired.id.to_string(),
        kind: m.fired.kind,
        subject: m.fired.subject,
        fired_at: rfc3339(m.fired.fired_at_ms),
        next_attempt_at: (m.status == MessageStatus::Pending).then(|| rfc3339(m.next_attempt_at_ms)),
        status: m.status,
        attempts: m.attempts,
        last_error: m.last_error,
        delivered_at: m.delivered_at_ms.map(rfc3339),
        body: serde_json::from_str(&m.fired.body).unwrap_or(JsonValue::Null),
    }
}

/// The alert `body` asks for, checked field by field (the secret and webhook are checked
/// against the store by the caller).
fn checked(body: NewAlert, now: i64) -> Result<Alert, ApiError> {
    let uri: http::Uri = body.url.parse().map_err(|_| ApiError::invalid("url", "an absolute http or https URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(ApiError::invalid("url", "an absolute http or https URL"));
    }
    AllowedHost::of_uri(&uri).map_err(|why| ApiError::invalid("url", why))?;
    if !valid_name(&body.secret) {
        return Err(ApiError::invalid("secret", "a secret name is 1 to 64 letters, digits, `_` or `-`"));
    }
    let window_s = body.window_s.unwrap_or(DEFAULT_WINDOW_S);
    if !(MIN_WINDOW_S..=MAX_WINDOW_S).contains(&window_s) {
        return Err(ApiError::invalid("window_s", format!("from {MIN_WINDOW_S} to {MAX_WINDOW_S} seconds")));
    }
    let on = read_on(&JsonValue::Object(body.on)).map_err(|(field, why)| ApiError::invalid(&field, why))?;
    let name = match body.name.map(|n| n.trim().to_string()) {
        Some(name) if name.is_empty() || name.chars().count() > MAX_NAME => {
            return Err(ApiError::invalid("name", format!("1 to {MAX_NAME} characters")));
        }
        Some(name) => name,
        None => uri.host().unwrap_or_default().to_string(),
    };
    Ok(Alert {
        id: AlertId::new(now),
        name,
        url: body.url,
        secret: body.secret,
        window_ms: i64::try_from(window_s * 1000).unwrap_or(i64::MAX),
        on,
        webhook_id: body.webhook.filter(|w| !w.is_empty()).map(WebhookId::from_text),
        created_at_ms: now,
    })
}

/// `POST /alerts`: register an alert.
#[utoipa::path(
    post, operation_id = "alerts.create", path = "/alerts", tag = "alerts",
    request_body = NewAlert,
    responses(
        (status = 201, description = "Registered", body = AlertView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<NewAlert>,
) -> Result<(StatusCode, Json<AlertView>), ApiError> {
    let alert = checked(body, now_ms())?;
    let (store, vault) = (state.store.clone(), state.vault.clone());
    let created = blocking(move || {
        let found =
            vault.get(&store, std::slice::from_ref(&alert.secret)).map_err(|e| ApiError::unavailable(e.to_string()))?;
        let Some((_, key)) = found.into_iter().next() else {
            return Err(ApiError::invalid(
                "secret",
                format!("no secret `{}`: set it first (PUT /secrets/{{name}})", alert.secret),
            ));
        };
        if standard_webhooks_key(key.trim()).is_none() {
            return Err(ApiError::invalid(
                "secret",
                format!("secret `{}` is not a Standard Webhooks key (whsec_<base64>)", alert.secret),
            ));
        }
        let webhook_name = match &alert.webhook_id {
            Some(id) => Some(store.webhook(id)?.ok_or_else(|| ApiError::invalid("webhook", "no such webhook"))?.name),
            None => None,
        };
        store.create_alert(&alert)?;
        tracing::info!(alert = %alert.id, url = %alert.url, "alert registered");
        Ok(view(alert, webhook_name, None))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /alerts`: every alert, oldest first.
#[utoipa::path(
    get, operation_id = "alerts.list", path = "/alerts", tag = "alerts",
    responses((status = 200, description = "The alerts", body = AlertList))
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<AlertList>, ApiError> {
    let store = state.store.clone();
    let alerts = blocking(move || {
        let names = store.names()?;
        Ok(store
            .alerts()?
            .into_iter()
            .map(|a| {
                let name = a.webhook_id.as_ref().and_then(|id| names.webhooks.get(id.as_str()).cloned());
                view(a, name, None)
            })
            .collect())
    })
    .await?;
    Ok(Json(AlertList { alerts }))
}

/// `GET /alerts/{id}`: one alert and its latest messages.
#[utoipa::path(
    get, operation_id = "alerts.show", path = "/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The alert's id")),
    responses(
        (status = 200, description = "The alert, with its latest messages", body = AlertView),
        (status = 404, description = "No such alert", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<Arc<AppState>>, Path(id): Path<AlertId>) -> Result<Json<AlertView>, ApiError> {
    let store = state.store.clone();
    let found = blocking(move || {
        let alert = store.alert(&id)?.ok_or_else(|| ApiError::not_found("alert"))?;
        let messages = store.alert_messages(&id, MESSAGES_SHOWN)?;
        let name = match &alert.webhook_id {
            Some(w) => store.webhook_any(w)?.map(|w| w.name),
            None => None,
        };
        Ok(view(alert, name, Some(messages)))
    })
    .await?;
    Ok(Json(found))
}

/// `DELETE /alerts/{id}`: stop an alert (its pending messages are not sent).
#[utoipa::path(
    delete, operation_id = "alerts.delete", path = "/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The alert's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such alert", body = ErrorBody),
    )
)]
pub async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<AlertId>) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let deleted = blocking(move || Ok(store.delete_alert(&id)?)).await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("alert")) }
}
