//! Plugins admins can attach: the built-ins, and components uploaded with
//! `PUT /plugins/{name}`, checked at upload (compiles, right world, size).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::http::{ApiError, ErrorBody, blocking, rfc3339};
use crate::model::ids::now_ms;
use crate::plugins::builtin::{self, BUILTINS};
use crate::plugins::limits::MIB;
use crate::plugins::{Limits, LoadError};
use crate::store::plugins::UploadedPlugin;

/// Largest plugin upload body: a component up to the most an admin may admit.
pub const MAX_UPLOAD_BYTES: usize = crate::plugins::limits::MAX_COMPONENT_CEILING;

/// Options of a plugin upload.
#[derive(Debug, serde::Deserialize)]
pub struct UploadQuery {
    /// Admit a component up to this many MiB (default 8, at most 64).
    max_size_mib: Option<usize>,
}

/// A plugin admins can attach, built in or uploaded.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Plugin)]
pub(crate) struct PluginView {
    name: String,
    /// `transform` or `action`.
    world: String,
    /// Hex SHA-256 of the component.
    sha256: String,
    /// Size of the component in bytes.
    size: u64,
    builtin: bool,
    /// What a built-in does.
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'static str>,
    /// When it was uploaded (RFC 3339); built-ins have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    uploaded_at: Option<String>,
}

/// Every plugin: the built-ins first, then the uploads.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PluginList {
    plugins: Vec<PluginView>,
}

/// An uploaded plugin, as stored.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct StoredPlugin {
    name: String,
    /// `transform` or `action`.
    world: String,
    /// Hex SHA-256 of the component.
    sha256: String,
    /// Size of the component in bytes.
    size: u64,
}

/// `GET /plugins`: built-ins and uploads with world, hash and size.
#[utoipa::path(
    get, operation_id = "plugins.list", path = "/plugins", tag = "plugins",
    responses(
        (status = 200, description = "Built-in and uploaded plugins with world, sha256 and size", body = PluginList),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<PluginList>, ApiError> {
    let mut plugins: Vec<PluginView> = BUILTINS
        .iter()
        .map(|b| PluginView {
            name: b.name.to_string(),
            world: b.world.name().to_string(),
            sha256: hex::encode(Sha256::digest(b.bytes)),
            size: b.bytes.len() as u64,
            builtin: true,
            summary: Some(b.summary),
            uploaded_at: None,
        })
        .collect();
    let store = state.store.clone();
    let uploads = blocking(move || Ok(store.list_plugins()?)).await?;
    plugins.extend(uploads.into_iter().map(|p| PluginView {
        name: p.name,
        world: p.world,
        sha256: p.sha256,
        size: u64::try_from(p.size).unwrap_or(0),
        builtin: false,
        summary: None,
        uploaded_at: Some(rfc3339(p.uploaded_at_ms)),
    }));
    Ok(Json(PluginList { plugins }))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
}

/// `PUT /plugins/{name}[?max_size_mib=N]` with the component bytes.
#[utoipa::path(
    put, operation_id = "plugins.upload", path = "/plugins/{name}", tag = "plugins",
    params(
        ("name" = String, Path, description = "The plugin name"),
        ("max_size_mib" = Option<u32>, Query, description = "Admit up to this many MiB (default 8, at most 64)"),
    ),
    request_body(content = Vec<u8>, content_type = "application/wasm", description = "The WebAssembly component"),
    responses(
        (status = 200, description = "Stored: name, world, sha256, size", body = StoredPlugin),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 409, description = "A built-in has this name", body = ErrorBody),
        (status = 413, description = "Larger than admitted (`max_size_mib`)", body = ErrorBody),
        (status = 422, description = "Not a component, wrong world, or imports what the sandbox lacks", body = ErrorBody),
    )
)]
pub async fn upload(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<UploadQuery>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<StoredPlugin>), ApiError> {
    if !valid_name(&name) {
        return Err(ApiError::invalid("name", "plugin names are lowercase letters, digits, `-` and `_` (64 at most)"));
    }
    let ceiling = crate::plugins::limits::MAX_COMPONENT_CEILING / MIB;
    let limits = match query.max_size_mib {
        Some(mib) if mib == 0 || mib > ceiling => {
            return Err(ApiError::invalid("max_size_mib", format!("between 1 and {ceiling} MiB")));
        }
        Some(mib) => Limits { component_bytes: mib * MIB, ..Limits::default() },
        None => Limits::default(),
    };
    if builtin::find(&name).is_some() {
        return Err(
            ApiError::new(StatusCode::CONFLICT, "builtin", format!("`{name}` is a built-in plugin")).with_field("name")
        );
    }
    let engine = state.engine.clone();
    let store = state.store.clone();
    let uploaded = blocking(move || {
        // Compile now so a broken or wrong-world component is refused here, not at event time.
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
    let size = u64::try_from(uploaded.size).unwrap_or(0);
    Ok((
        StatusCode::OK,
        Json(StoredPlugin { name: uploaded.name, world: uploaded.world, sha256: uploaded.sha256, size }),
    ))
}

fn refused(e: LoadError) -> ApiError {
    let ceiling = crate::plugins::limits::MAX_COMPONENT_CEILING / MIB;
    match e {
        LoadError::TooLarge { .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "plugin_refused",
            format!("{e}; an admin can admit up to {ceiling} MiB with max_size_mib (`plugin add --max-size-mib`)"),
        )
        .with_field("max_size_mib"),
        _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "plugin_refused", e.to_string()),
    }
}

/// `DELETE /plugins/{name}`: refused for built-ins and for plugins a webhook uses.
#[utoipa::path(
    delete, operation_id = "plugins.delete", path = "/plugins/{name}", tag = "plugins",
    params(
        ("name" = String, Path, description = "The plugin name"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Built in, or used by a webhook or workflow", body = ErrorBody),
        (status = 404, description = "No such plugin", body = ErrorBody),
    )
)]
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
            if let Some(address) = crate::model::workflow::uses_plugin(&workflow.actions, &name) {
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
