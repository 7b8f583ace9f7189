//! The HTTP server: health and the admin API's plugin listing, behind a bearer token.

pub mod auth;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::plugins::builtin::BUILTINS;

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// The admin bearer token.
    pub admin_token: auth::AdminToken,
    /// The schema version of the open store (reported by health).
    pub schema_version: i64,
}

/// An error answered as `{"error": {"code", "message"}}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// Build an error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

/// The application router; tests drive it directly or through the real binary.
pub fn app(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .route("/plugins", get(list_plugins))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .nest("/api/v1", admin)
        .with_state(state)
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({"status": "ok", "schema_version": state.schema_version}))
}

async fn list_plugins() -> Json<serde_json::Value> {
    let plugins: Vec<_> = BUILTINS
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
    Json(json!({ "plugins": plugins }))
}
