//! The OpenAPI 3 document of the admin and ingest API, generated from the handlers'
//! `#[utoipa::path]` annotations; the router is built from the same annotations
//! (`utoipa_axum::routes!`), so a route cannot exist without its entry. Served at
//! `GET /api/v1/openapi.json`.

use std::sync::Arc;

use axum::{Extension, Json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::{ErrorBody, ErrorDetail};

/// The document's fixed parts: title, version, tags, and the admin token as the default
/// security (public operations clear it).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "wasmhook",
        description = "Webhooks in, workflow enrollments out. Admin routes under /api/v1 take the admin \
                       token as a bearer token; ingest (POST /hooks/{token}) is public and authorised by \
                       its URL. Errors are {\"error\": {\"code\", \"message\", \"field\"?}}.",
        license(name = "Apache-2.0")
    ),
    modifiers(&AdminToken),
    security(("admin_token" = [])),
    tags(
        (name = "ingest", description = "Deliveries from third-party apps"),
        (name = "webhooks", description = "Webhook events: URL, test event, mapping, transforms, match, signature"),
        (name = "events", description = "The event log and replays"),
        (name = "workflows", description = "Workflows, enrollments and their steps"),
        (name = "records", description = "Objects, properties, records and imports"),
        (name = "plugins", description = "WebAssembly components"),
        (name = "secrets", description = "Secrets for custom code actions"),
        (name = "nodes", description = "The nodes serving from the database: heartbeats, claims, work done"),
        (name = "stats", description = "The dashboard: events by status over time, percentiles, backlog, what needs attention"),
        (name = "alerts", description = "Operational webhooks: trouble sent, signed, to an admin's URL"),
        (name = "operations", description = "Health, metrics and this document")
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
pub struct ApiDoc;

/// Adds the `admin_token` bearer scheme the default security names.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The admin token `serve` printed once and saved to `admin-token`"))
                    .build(),
            ),
        );
    }
}

/// The document, rendered once when the router is built (see [`super::app`]).
#[derive(Clone)]
pub struct Document(pub Arc<serde_json::Value>);

/// `GET /api/v1/openapi.json`: this API's OpenAPI 3 document (no token needed).
#[utoipa::path(get, operation_id = "openapi.document", path = "/api/v1/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
pub async fn document(Extension(document): Extension<Document>) -> Json<serde_json::Value> {
    Json(document.0.as_ref().clone())
}
