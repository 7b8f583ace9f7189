//! `PUT|GET|DELETE /webhooks/{id}/signature`: how a webhook checks its senders. Secrets go
//! into the vault and are never answered; one or two are active (two while rotating).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use crate::http::{ApiError, ErrorBody, JsonBody, blocking, check_header_name};
use crate::ingest::senders::{SignatureSettings, secret_name};
use crate::ingest::signature::{DEFAULT_TOLERANCE_S, Scheme, Verifier};
use crate::model::ids::{WebhookId, now_ms};
use crate::model::webhook::Dedup;

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SignatureBody {
    scheme: Option<String>,
    secret: Option<String>,
    secrets: Option<Vec<String>>,
    tolerance_s: Option<i64>,
    header: Option<String>,
    encoding: Option<String>,
    prefix: Option<String>,
    timestamp_header: Option<String>,
}

/// The delivery-id header (or body path) each provider sends, used for dedup when the
/// webhook still has the default.
fn dedup_preset(scheme: &Scheme) -> Option<Dedup> {
    let header = |h: &str| Some(Dedup { header: Some(h.into()), body_path: None });
    match scheme {
        Scheme::StandardWebhooks => header("webhook-id"),
        Scheme::Github => header("X-GitHub-Delivery"),
        Scheme::Shopify => header("X-Shopify-Webhook-Id"),
        Scheme::Stripe => Some(Dedup { header: None, body_path: Some("id".into()) }),
        // Slack retries an event (`X-Slack-Retry-Num`) with the same `event_id`.
        Scheme::Slack => Some(Dedup { header: None, body_path: Some("event_id".into()) }),
        Scheme::HmacSha256 { .. } => None,
    }
}

/// A webhook's signature setting as answered: never a secret, only how many are active.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SignatureSetting)]
pub(crate) struct SignatureView {
    /// `standard-webhooks`, `github`, `stripe`, `shopify`, `slack` or `hmac-sha256`.
    scheme: &'static str,
    /// `hmac-sha256`: the header carrying the signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<String>,
    /// `hmac-sha256`: `hex` or `base64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    /// `hmac-sha256`: the prefix before the signature (`sha256=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    /// `hmac-sha256`: a header with the signed unix timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp_header: Option<String>,
    /// Allowed distance between the signed timestamp and our clock, seconds.
    tolerance_s: i64,
    /// How many secrets are active (2 while rotating).
    secrets: usize,
    /// Requests the check refused since the server started.
    failures: u64,
}

fn render(settings: &SignatureSettings, failures: u64) -> SignatureView {
    let named = |scheme| (scheme, None, None, None, None);
    let (scheme, header, encoding, prefix, timestamp_header) = match &settings.scheme {
        Scheme::StandardWebhooks => named("standard-webhooks"),
        Scheme::Github => named("github"),
        Scheme::Stripe => named("stripe"),
        Scheme::Shopify => named("shopify"),
        Scheme::Slack => named("slack"),
        Scheme::HmacSha256 { header, encoding, prefix, timestamp_header } => {
            ("hmac-sha256", Some(header.clone()), Some(encoding.as_str()), prefix.clone(), timestamp_header.clone())
        }
    };
    SignatureView {
        scheme,
        header,
        encoding,
        prefix,
        timestamp_header,
        tolerance_s: settings.tolerance_s,
        secrets: settings.secrets,
        failures,
    }
}

/// `PUT /webhooks/{id}/signature {scheme, secret | secrets, tolerance_s?, header?, encoding?,
/// prefix?, timestamp_header?}`: takes effect for the next request.
#[utoipa::path(
    put, operation_id = "signatures.put", path = "/webhooks/{id}/signature", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    request_body = SignatureBody,
    responses(
        (status = 200, description = "The setting (never the secret)", body = SignatureView),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
    JsonBody(body): JsonBody<SignatureBody>,
) -> Result<Json<SignatureView>, ApiError> {
    let id_text = id.as_str().to_string();
    let scheme_name = body.scheme.ok_or_else(|| ApiError::invalid("scheme", "scheme is required"))?;
    let mut scheme_json = json!({"scheme": scheme_name});
    if scheme_name == "hmac-sha256" {
        scheme_json["header"] =
            json!(body.header.ok_or_else(|| ApiError::invalid("header", "hmac-sha256 needs the signature's header"))?);
        for (field, name) in
            [("header", scheme_json["header"].as_str()), ("timestamp_header", body.timestamp_header.as_deref())]
        {
            name.map_or(Ok(()), |name| check_header_name(field, name))?;
        }
        for (key, value) in
            [("encoding", body.encoding), ("prefix", body.prefix), ("timestamp_header", body.timestamp_header)]
        {
            if let Some(value) = value {
                scheme_json[key] = json!(value);
            }
        }
    }
    let scheme: Scheme = serde_json::from_value(scheme_json).map_err(|e| {
        ApiError::invalid(
            "scheme",
            format!(
                "{e}; schemes: standard-webhooks, github, stripe, shopify, slack, hmac-sha256 (encoding hex|base64)"
            ),
        )
    })?;
    let secrets = match (body.secret, body.secrets) {
        (Some(one), None) => vec![one],
        (None, Some(many)) => many,
        _ => return Err(ApiError::invalid("secret", "give `secret`, or `secrets` (two while rotating: new first)")),
    };
    let tolerance_s = body.tolerance_s.unwrap_or(DEFAULT_TOLERANCE_S);
    if !(1..=86_400).contains(&tolerance_s) {
        return Err(ApiError::invalid("tolerance_s", "between 1 and 86400 seconds"));
    }
    Verifier::new(scheme.clone(), &secrets, tolerance_s).map_err(|e| ApiError::invalid("secret", e.0))?;
    let settings = SignatureSettings { scheme, tolerance_s, secrets: secrets.len() };
    let (store, vault, senders) = (state.store.clone(), state.vault.clone(), state.ingest.senders.clone());
    let saved = settings.clone();
    blocking(move || {
        let webhook = store.webhook(&id)?.ok_or_else(|| ApiError::not_found("webhook"))?;
        let now = now_ms();
        for (n, secret) in secrets.iter().enumerate() {
            vault
                .put(&store, &secret_name(id.as_str(), n), secret, now)
                .map_err(|e| ApiError::unavailable(e.to_string()))?;
        }
        let json = serde_json::to_string(&saved).map_err(crate::store::StoreError::from)?;
        store.set_signature(&id, Some(&json))?;
        if webhook.dedup == Dedup::default_header()
            && let Some(preset) = dedup_preset(&saved.scheme)
        {
            store.set_dedup(&id, &preset)?;
        }
        senders.reload(&store, &vault).map_err(|e| ApiError::unavailable(e.to_string()))?;
        Ok(())
    })
    .await?;
    tracing::info!(scheme = ?settings.scheme, "webhook signature set");
    // The same count `GET` answers: refusals since start, which a new setting does not reset.
    Ok(Json(render(&settings, state.ingest.senders.failures(id_text.as_str()))))
}

/// `GET /webhooks/{id}/signature`: the settings (never the secrets) and refusals since start.
#[utoipa::path(
    get, operation_id = "signatures.show", path = "/webhooks/{id}/signature", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    responses(
        (status = 200, description = "The setting and how many requests it refused", body = SignatureView),
        (status = 404, description = "No such webhook or signature setting", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<WebhookId>,
) -> Result<Json<SignatureView>, ApiError> {
    let store = state.store.clone();
    let found = blocking(move || {
        let found = store.signatures()?.into_iter().find(|(w, _)| w.as_str() == id.as_str());
        Ok(found)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("signature setting"))?;
    let settings: SignatureSettings =
        serde_json::from_str(&found.1).map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(Json(render(&settings, state.ingest.senders.failures(&found.0))))
}

/// `DELETE /webhooks/{id}/signature`: stop checking (and forget the secrets).
#[utoipa::path(
    delete, operation_id = "signatures.delete", path = "/webhooks/{id}/signature", tag = "webhooks",
    params(
        ("id" = String, Path, description = "The webhook id"),
    ),
    responses(
        (status = 204, description = "No signature check any more"),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn delete(State(state): State<Arc<AppState>>, Path(id): Path<WebhookId>) -> Result<StatusCode, ApiError> {
    let (store, vault, senders) = (state.store.clone(), state.vault.clone(), state.ingest.senders.clone());
    blocking(move || {
        if !store.set_signature(&id, None)? {
            return Err(ApiError::not_found("webhook"));
        }
        for n in 0..2 {
            store.delete_secret(&secret_name(id.as_str(), n))?;
        }
        senders.reload(&store, &vault).map_err(|e| ApiError::unavailable(e.to_string()))?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
