//! Secrets for custom code actions: write-only. Routes take values in and answer names
//! only; values are never returned or logged.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::http::{ApiError, ErrorBody, JsonBody, blocking, rfc3339};
use crate::model::ids::now_ms;
use crate::secrets::valid_name;

/// Largest secret value accepted.
const MAX_VALUE_BYTES: usize = 64 * 1024;

#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct SecretBody {
    value: Option<String>,
}

/// `PUT /secrets/{name} {value}` → 204; replaces an earlier value.
#[utoipa::path(
    put, operation_id = "secrets.put", path = "/secrets/{name}", tag = "secrets",
    params(
        ("name" = String, Path, description = "The secret name"),
    ),
    request_body = SecretBody,
    responses(
        (status = 204, description = "Stored, sealed at rest"),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
    )
)]
pub async fn put(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<SecretBody>,
) -> Result<StatusCode, ApiError> {
    if !valid_name(&name) {
        return Err(ApiError::invalid("name", "a secret name is 1 to 64 letters, digits, `_` or `-`"));
    }
    let value = body.value.ok_or_else(|| ApiError::invalid("value", "value (a string) is required"))?;
    if value.is_empty() || value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::invalid("value", format!("value must be 1 to {MAX_VALUE_BYTES} bytes")));
    }
    let (store, vault) = (state.store.clone(), state.vault.clone());
    blocking(move || {
        vault.put(&store, &name, &value, now_ms()).map_err(|e| ApiError::unavailable(e.to_string()))?;
        tracing::info!(secret = %name, "secret set");
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A secret's name and when it was last set; never its value.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SecretName {
    name: String,
    /// RFC 3339.
    updated_at: String,
}

/// Every secret's name.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SecretList {
    secrets: Vec<SecretName>,
}

/// `GET /secrets`: names and when each was last set.
#[utoipa::path(
    get, operation_id = "secrets.list", path = "/secrets", tag = "secrets",
    responses(
        (status = 200, description = "Secret names (never values)", body = SecretList),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<SecretList>, ApiError> {
    let store = state.store.clone();
    let rows = blocking(move || Ok(store.list_secrets()?)).await?;
    let secrets = rows.into_iter().map(|(name, at)| SecretName { name, updated_at: rfc3339(at) }).collect();
    Ok(Json(SecretList { secrets }))
}

/// `DELETE /secrets/{name}`.
#[utoipa::path(
    delete, operation_id = "secrets.delete", path = "/secrets/{name}", tag = "secrets",
    params(
        ("name" = String, Path, description = "The secret name"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such secret", body = ErrorBody),
    )
)]
pub async fn delete(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    let store = state.store.clone();
    let deleted = blocking(move || Ok(store.delete_secret(&name)?)).await?;
    if deleted { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("secret")) }
}
