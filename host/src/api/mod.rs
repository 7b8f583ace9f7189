//! The HTTP API: the router (public ingest, health, the OpenAPI document, and the admin
//! API behind a bearer token), its state, and the connection loop. Handlers read and
//! write through the store (SQLite or PostgreSQL) and answer errors as [`crate::http::ApiError`].
//!
//! - [`auth`]: the admin token.
//! - [`webhooks`]: webhook events and tokens; by concern below it, the test event, the set-up
//!   (mapping, transforms, match, dedup) and rate limits.
//! - [`signatures`]: sender signature settings per webhook.
//! - [`events`]: the event log and replay.
//! - [`plugins`]: plugin uploads and the listing.
//! - [`records`]: objects, properties and records.
//! - [`imports`]: bulk record imports and their progress.
//! - [`workflows`]: workflows, their enrollments, and trying one action.
//! - [`secrets`]: secrets for custom code actions (write-only).
//! - [`nodes`]: the nodes serving from the database, from their heartbeats.
//! - [`stats`]: the dashboard's series: events by status, percentiles, backlog, what needs attention.
//! - [`alerts`]: where an admin is told of trouble: create, list, show (with its messages), delete.
//! - [`metrics`]: Prometheus metrics.
//! - [`openapi`]: the OpenAPI document, generated from the handlers' annotations.
//! - [`server`]: the connection loop and its limits (header deadline and size, connections).
//! - [`linger`]: closing a connection so an early answer (a 413) reaches its sender.
//! - [`unread_body`]: saying `Connection: close` on an answer given before the body was read.
//! - [`ui`]: the embedded admin web UI.

pub mod alerts;
pub mod auth;
pub mod events;
pub mod imports;
pub mod linger;
pub mod metrics;
pub mod nodes;
pub mod openapi;
pub mod plugins;
pub mod records;
pub mod secrets;
pub mod server;
pub mod settle;
pub mod signatures;
pub mod stats;
pub mod ui;
pub mod unread_body;
pub mod webhooks;
pub mod workflows;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::{ApiError, ErrorBody, blocking};
use crate::store::Store;

/// Largest admin request body, but for plugin uploads.
const ADMIN_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Shared state of the HTTP handlers.
pub struct AppState {
    /// The admin bearer token.
    pub admin_token: auth::AdminToken,
    /// The store (SQLite or PostgreSQL).
    pub store: Arc<Store>,
    /// The base URL webhook URLs are built on, e.g. `http://127.0.0.1:8080`.
    pub public_url: String,
    /// The plugin engine (uploads are checked with it).
    pub engine: Arc<crate::plugins::PluginEngine>,
    /// What the ingest route works with (also: the pipeline's waker, sender checks, rate
    /// limits and the backlog, which admin routes update or read).
    pub ingest: crate::ingest::Ingest,
    /// The node's background threads (imports started through the API join them).
    pub threads: crate::work::threads::Threads,
    /// The data dir (import uploads are spooled under it).
    pub data_dir: std::path::PathBuf,
    /// Encrypts secrets for custom code actions and signature checks.
    pub vault: Arc<crate::secrets::Vault>,
    /// Renders the Prometheus metrics.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// How long events are kept when their webhook does not say (`serve --retention-days`).
    pub retention: crate::model::retention::Retention,
    /// This node's name (`GET /nodes` marks it).
    pub node_id: String,
}

/// A wizard rule's refusal is a 400 naming the field.
impl From<crate::wizard::Refusal> for ApiError {
    fn from(refused: crate::wizard::Refusal) -> Self {
        ApiError::invalid(&refused.field, refused.message)
    }
}

impl axum::extract::FromRef<Arc<AppState>> for crate::ingest::Ingest {
    fn from_ref(state: &Arc<AppState>) -> crate::ingest::Ingest {
        state.ingest.clone()
    }
}

/// The documented routes, without layers. Every route comes from a handler's
/// `#[utoipa::path]` through `routes!`, so the document lists every one.
pub struct Routes {
    /// The admin API, nested under `/api/v1` behind the admin token.
    pub admin: OpenApiRouter<Arc<AppState>>,
    /// `/metrics`, behind the admin token.
    pub scrape: OpenApiRouter<Arc<AppState>>,
    /// Ingest, health and the OpenAPI document: no token.
    pub public: OpenApiRouter<Arc<AppState>>,
}

impl Routes {
    /// Put the admin API under `/api/v1` beside the rest: the router, and the document of
    /// exactly what it routes.
    pub fn split(self) -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
        self.public.merge(self.scrape).nest("/api/v1", self.admin).split_for_parts()
    }
}

/// Build [`Routes`].
pub fn routes() -> Routes {
    // Plugin uploads carry component bytes: their own, larger body limit.
    let (schemas, paths, upload) = routes!(plugins::upload, plugins::delete);
    let upload = (schemas, paths, upload.layer(DefaultBodyLimit::max(plugins::MAX_UPLOAD_BYTES)));
    let admin = OpenApiRouter::new()
        .routes(routes!(plugins::list))
        .routes(upload)
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::show, webhooks::delete))
        .routes(routes!(webhooks::test_event::show, webhooks::test_event::reset))
        .routes(routes!(webhooks::setup::put_mapping))
        .routes(routes!(webhooks::setup::put_transforms))
        .routes(routes!(webhooks::setup::test_transforms))
        .routes(routes!(webhooks::setup::put_match))
        .routes(routes!(webhooks::setup::put_dedup))
        .routes(routes!(webhooks::rotate_token))
        .routes(routes!(webhooks::rate_limit::put, webhooks::rate_limit::reset))
        .routes(routes!(webhooks::retention::put, webhooks::retention::reset))
        .routes(routes!(signatures::put, signatures::show, signatures::delete))
        .routes(routes!(workflows::create, workflows::list))
        .routes(routes!(workflows::show, workflows::update, workflows::delete))
        .routes(routes!(workflows::enrollments))
        .routes(routes!(workflows::test_action))
        .routes(routes!(workflows::show_enrollment))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::put, secrets::delete))
        .routes(routes!(events::list))
        .routes(routes!(events::show))
        .routes(routes!(events::replay))
        .routes(routes!(events::replay_many))
        .routes(routes!(records::list_objects, records::create_object))
        .routes(routes!(records::list_properties, records::create_property))
        .routes(routes!(records::list_records, records::create_record))
        .routes(routes!(records::show_record, records::update_record, records::delete_record))
        .routes(routes!(records::record_enrollments))
        .routes(routes!(imports::start))
        .routes(routes!(imports::list))
        .routes(routes!(imports::show))
        .routes(routes!(nodes::list))
        .routes(routes!(stats::show))
        .routes(routes!(alerts::create, alerts::list))
        .routes(routes!(alerts::show, alerts::delete));
    let public = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(crate::ingest::receive))
        .routes(routes!(healthz))
        .routes(routes!(openapi::document));
    Routes { admin, scrape: OpenApiRouter::new().routes(routes!(metrics::render)), public }
}

/// The application router; tests drive it through the real binary.
pub fn app(state: Arc<AppState>) -> Router {
    let Routes { admin, scrape, public } = routes();
    let admin_only = || axum::middleware::from_fn_with_state(state.clone(), auth::require_admin);
    let admin = admin
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), settle::wait_for_acknowledged))
        .route_layer(admin_only())
        // Workflow and mapping bodies are small; plugin uploads have their own, larger limit.
        .layer(DefaultBodyLimit::max(ADMIN_BODY_BYTES));
    let scrape = scrape.route_layer(admin_only());
    let (api, document) = Routes { admin, scrape, public }.split();
    let document = openapi::Document(Arc::new(serde_json::to_value(&document).unwrap_or_default()));
    api
        // The web UI's pages and assets are not API: they stay out of the document.
        .route("/ui", get(ui::index))
        .route("/ui/", get(ui::index))
        .route("/ui/{*path}", get(ui::asset))
        .layer(axum::Extension(document))
        .layer(axum::middleware::from_fn(crate::http::json_errors))
        .layer(axum::middleware::from_fn(crate::telemetry::request_id::assign))
        .with_state(state)
}

/// The server answers and so does its store.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    /// `ok`.
    status: &'static str,
    /// The store's migration version (the same on SQLite and PostgreSQL).
    schema_version: i64,
}

/// `GET /healthz`: the store answers; its schema version.
#[utoipa::path(get, operation_id = "api.healthz", path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "`{status: ok, schema_version}`", body = Health),
              (status = 503, description = "The store does not answer", body = ErrorBody)))]
async fn healthz(State(state): State<Arc<AppState>>) -> Result<Json<Health>, ApiError> {
    let store = state.store.clone();
    let version = blocking(move || Ok(store.schema_version()?)).await?;
    Ok(Json(Health { status: "ok", schema_version: version }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::routes;

    /// Every path the router serves, read from its debug form (axum lists its route table
    /// there, then its fallback's): the router is the truth the document is checked against.
    fn served_paths(router: &axum::Router<std::sync::Arc<super::AppState>>) -> BTreeSet<String> {
        let text = format!("{router:?}");
        let table = text.split("fallback_router").next().unwrap_or_default();
        let mut paths = BTreeSet::new();
        for piece in table.split('"').skip(1).step_by(2) {
            if piece.starts_with('/') {
                paths.insert(piece.to_string());
            }
        }
        paths
    }

    #[test]
    fn every_route_is_in_the_openapi_document() {
        let (router, document) = routes().split();
        let served = served_paths(&router);
        let documented: BTreeSet<String> = document.paths.paths.keys().cloned().collect();
        assert!(served.len() >= 30, "the route table was read: {served:?}");
        assert_eq!(served, documented, "served and documented paths differ");
        for (path, item) in &document.paths.paths {
            let operations = [&item.get, &item.put, &item.post, &item.patch, &item.delete];
            for operation in operations.into_iter().flatten() {
                assert!(operation.operation_id.is_some(), "{path}: an operation without an id");
                assert!(!operation.responses.responses.is_empty(), "{path}: an operation without responses");
            }
        }
    }

    /// Every answer with a JSON body names its schema: no `{"type": "object"}` placeholder
    /// (tests/openapi.rs checks that served answers fit the schemas named).
    #[test]
    fn every_answer_with_a_body_names_its_schema() {
        let (_, document) = routes().split();
        let document = serde_json::to_value(&document).unwrap();
        let mut answers = 0;
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    let schema = &response["content"]["application/json"]["schema"];
                    if path == "/api/v1/openapi.json" || schema.is_null() {
                        continue;
                    }
                    answers += 1;
                    assert!(schema["$ref"].is_string(), "{method} {path} {status} answers an unnamed schema: {schema}");
                }
            }
        }
        assert!(answers >= 90, "{answers} answers with a body");
    }
}
