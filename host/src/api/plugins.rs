//! Plugins admins can attach: the built-ins, and components uploaded with
//! `PUT /plugins/{name}`, checked at upload (compiles, right world, size).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value as Json_, json};
use sha2::{Digest, Sha256};

use super::{ApiError, AppState, blocking, rfc3339};
use crate::ids::now_ms;
use crate::plugins::builtin::{self, BUILTINS};
use crate::plugins::{Limits, LoadError};
use crate::store::plugins::UploadedPlugin;

/// Largest request body accepted on admin routes (a component up to the engine's limit).
pub const MAX_UPLOAD_BYTES: usize = 16 * 1024 * 1024;

/// `GET /plugins`: built-ins and uploads with world, hash and size.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Json_>, ApiError> {
    let mut plugins: Vec<Json_> = BUILTINS
        .iter()
        .map(|b| {
            json!({
                "name": b.name,
                "world": b.world.name(),
                "sha256": hex::encode(Sha256::digest(b.bytes)),
                "size": b.bytes.len(),
                "builtin": true,
                "summary": b.summary,
            })
        })
        .collect();
    let store = state.store.clone();
    let uploads = blocking(move || Ok(store.list_plugins()?)).await?;
    plugins.extend(uploads.iter().map(|p| {
        json!({
            "name": p.name, "world": p.world, "sha256": p.sha256, "size": p.size,
            "builtin": false, "uploaded_at": rfc3339(p.uploaded_at_ms),
        })
    }));
    Ok(Json(json!({ "plugins": plugins })))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

/// `PUT /plugins/{name}` with the component bytes.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Json_>), ApiError> {
    if !valid_name(&name) {
        return Err(ApiError::invalid("name", "plugin names are lowercase letters, digits, `-` and `_` (64 at most)"));
    }
    if builtin::find(&name).is_some() {
        return Err(
            ApiError::new(StatusCode::CONFLICT, "builtin", format!("`{name}` is a built-in plugin")).with_field("name")
        );
    }
    let engine = state.engine.clone();
    let store = state.store.clone();
    let uploaded = blocking(move || {
        // Compile now so a broken or wrong-world component is refused here, not at event time.
        let limits = Limits::default();
        let loaded = engine.load_any(&bytes, &limits).map_err(refused)?;
        let plugin = UploadedPlugin {
            name,
            world: loaded.world.name().to_string(),
            sha256: loaded.sha256.clone(),
            size: bytes.len() as i64,
            uploaded_at_ms: now_ms(),
        };
        store.put_plugin(&plugin, &bytes)?;
        Ok(plugin)
    })
    .await?;
    Ok((
        StatusCode::OK,
        Json(json!({"name": uploaded.name, "world": uploaded.world, "sha256": uploaded.sha256, "size": uploaded.size})),
    ))
}

fn refused(e: LoadError) -> ApiError {
    let status = match e {
        LoadError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, "plugin_refused", e.to_string())
}

/// `DELETE /plugins/{name}`: refused for built-ins and for plugins a webhook uses.
pub async fn delete(State(state): State<Arc<AppState>>, Path(name): Path<String>) -> Result<StatusCode, ApiError> {
    if builtin::find(&name).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "builtin",
            format!("`{name}` is built in and cannot be deleted"),
        ));
    }
    let store = state.store.clone();
    blocking(move || {
        if store.plugins_in_use()?.contains(&name) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "in_use",
                format!("`{name}` is in a webhook's transform chain; remove it there first"),
            ));
        }
        for workflow in store.list_workflows()? {
            if let Some(address) = crate::act::model::uses_plugin(&workflow.actions, &name) {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "in_use",
                    format!("`{name}` runs in step {address} of workflow {}; remove it there first", workflow.id),
                ));
            }
        }
        if store.delete_plugin(&name)? { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::not_found("plugin")) }
    })
    .await
}
