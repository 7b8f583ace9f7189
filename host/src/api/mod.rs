//! The HTTP server: public ingest, health, and the admin API behind a bearer token.
//!
//! - [`auth`]: the admin token.
//! - [`webhooks`]: webhook events, test event, mapping.
//! - [`events`]: the event log.
//! - [`plugins`]: the plugin listing.
//! - [`records`]: objects, properties and records.
//! - [`imports`]: bulk record imports and their progress.
//! - [`metrics`]: Prometheus metrics.
//! - [`server`]: the connection loop and its limits (header deadline and size, connections).
//! - [`workflows`]: workflows and their enrollments.
//! - [`ui`]: the embedded admin web UI.

pub mod auth;
pub mod events;
pub mod imports;
pub mod metrics;
pub mod plugins;
pub mod records;
pub mod secrets;
pub mod server;
pub mod signatures;
pub mod ui;
pub mod webhooks;
pub mod workflows;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;

use crate::store::{Store, StoreError};

/// Largest admin request body, but for plugin uploads.
const ADMIN_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// The admin bearer token.
    pub admin_token: auth::AdminToken,
    /// The SQLite store.
    pub store: Arc<Store>,
    /// The base URL webhook URLs are built on, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    /// The plugin engine (uploads are checked with it).
    pub engine: Arc<crate::plugins::PluginEngine>,
    /// Wakes the pipeline worker after a commit.
    pub waker: crate::pipeline::worker::Waker,
    /// Group-commits ingest requests.
    pub writer: crate::ingest::writer::Writer,
    /// The data dir (import uploads are spooled under it).
    pub data_dir: std::path::PathBuf,
    /// Encrypts secrets for custom code actions and signature checks.
    pub vault: Arc<crate::secrets::Vault>,
    /// The webhooks that check their senders.
    pub senders: Arc<crate::ingest::senders::Senders>,
    /// Per-webhook request rate limits.
    pub limits: Arc<crate::ingest::limits::RateLimits>,
    /// Events waiting for the pipeline, against their bound.
    pub backlog: Arc<crate::ingest::backlog::Backlog>,
    /// Time allowed for an ingest request's body to arrive.
    pub body_timeout: std::time::Duration,
    /// Renders the Prometheus metrics.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

/// An error answered as `{"error": {"code", "message", "field"}}` with its status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    retry_after: Option<u32>,
}

impl ApiError {
    /// Build an error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None, retry_after: None }
    }

    /// Name the request field (or header) at fault.
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    /// 400 `invalid_request` naming a field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message).with_field(field)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }

    /// Ask the client to retry after this many seconds (`Retry-After`).
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 503: storage is unavailable; nothing was changed.
    pub fn unavailable(message: String) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // Logged for the operator; the client gets no internals.
        tracing::error!(error = %e, "store error");
        ApiError::unavailable("storage error; the request was not applied".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = self.field {
            error["field"] = json!(field);
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
        }
        response
    }
}

/// Run store work on a blocking thread, never on the async runtime's.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ApiError::unavailable(format!("worker failed: {e}")))?
}

/// Parse a JSON request body that may be left out (empty or only whitespace: `None`).
pub fn parse_optional_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) { Ok(None) } else { parse_body(bytes).map(Some) }
}

/// Parse a JSON request body; a wrong value is answered with the path of its field.
pub fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let refuse = |message: String| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message);
    let mut input = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut input).map_err(|e| {
        let path = e.path().to_string();
        let error = refuse(format!("invalid JSON body: {}", e.inner()));
        if path == "." { error } else { error.with_field(&path) }
    })?;
    input.end().map_err(|e| refuse(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

/// The application router; tests drive it through the real binary.
pub fn app(state: Arc<AppState>) -> Router {
    let admin = Router::new()
        .route("/plugins", get(plugins::list))
        .route(
            "/plugins/{name}",
            put(plugins::upload).layer(DefaultBodyLimit::max(plugins::MAX_UPLOAD_BYTES)).delete(plugins::delete),
        )
        .route("/webhooks/{id}/transforms", put(webhooks::put_transforms))
        .route("/webhooks/{id}/transforms/test", post(webhooks::test_transforms))
        .route("/webhooks/{id}/match", put(webhooks::put_match))
        .route("/webhooks/{id}/dedup", put(webhooks::put_dedup))
        .route("/webhooks/{id}/rotate-token", post(webhooks::rotate_token))
        .route("/webhooks/{id}/rate-limit", put(webhooks::put_rate_limit).delete(webhooks::reset_rate_limit))
        .route("/webhooks/{id}/signature", put(signatures::put).get(signatures::show).delete(signatures::delete))
        .route("/workflows", post(workflows::create).get(workflows::list))
        .route("/workflows/{id}", get(workflows::show).patch(workflows::update).delete(workflows::delete))
        .route("/workflows/{id}/enrollments", get(workflows::enrollments))
        .route("/workflows/{id}/actions/{n}/test", post(workflows::test_action))
        .route("/enrollments/{id}", get(workflows::show_enrollment))
        .route("/secrets", get(secrets::list))
        .route("/secrets/{name}", put(secrets::put).delete(secrets::delete))
        .route("/events/replay", post(events::replay_many))
        .route("/events/{id}/replay", post(events::replay))
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route("/webhooks/{id}", get(webhooks::show).delete(webhooks::delete))
        .route("/webhooks/{id}/test-event", get(webhooks::test_event).delete(webhooks::reset_test_event))
        .route("/webhooks/{id}/mapping", put(webhooks::put_mapping))
        .route("/objects", get(records::list_objects).post(records::create_object))
        .route("/objects/{object}/properties", get(records::list_properties).post(records::create_property))
        .route("/objects/{object}/records", get(records::find_records).post(records::create_record))
        .route("/objects/{object}/records/import", post(imports::start))
        .route("/imports", get(imports::list))
        .route("/imports/{id}", get(imports::show))
        .route(
            "/objects/{object}/records/{id}",
            get(records::show_record).patch(records::update_record).delete(records::delete_record),
        )
        .route("/events", get(events::list))
        .route("/events/{id}", get(events::show))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_admin))
        // Workflow and mapping bodies are small; plugin uploads get their own, larger limit.
        .layer(DefaultBodyLimit::max(ADMIN_BODY_BYTES));
    let scrape = Router::new()
        .route("/metrics", get(metrics::render))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_admin));
    Router::new()
        .merge(scrape)
        .route("/healthz", get(healthz))
        .route("/ui", get(ui::index))
        .route("/ui/", get(ui::index))
        .route("/ui/{*path}", get(ui::asset))
        .route("/hooks/{token}", post(crate::ingest::receive))
        .nest("/api/v1", admin)
        .layer(axum::middleware::from_fn(crate::telemetry::request_id::assign))
        .with_state(state)
}

async fn healthz(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.store.clone();
    let version = blocking(move || Ok(store.schema_version()?)).await?;
    Ok(Json(json!({"status": "ok", "schema_version": version})))
}

/// Unix ms as RFC 3339 UTC text.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
