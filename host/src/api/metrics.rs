//! `GET /metrics` in Prometheus text format (behind the admin token): what
//! [`crate::telemetry::metrics`] recorded on the hot paths, plus gauges read at scrape
//! time (backlog, per-webhook refusals, running enrollments, the database size), so scraping costs the ingest
//! path nothing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::http::{ErrorBody, blocking};

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, operation_id = "metrics.render", path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain"),
              (status = 401, description = "Missing or wrong admin token", body = ErrorBody)))]
pub async fn render(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let store = state.store.clone();
    // One index range: only running enrollments are in it.
    match blocking(move || Ok(store.running_enrollments()?)).await {
        Ok(running) => metrics::gauge!("wasmhook_enrollments_running").set(running as f64),
        Err(e) => tracing::warn!(error = e.message(), "counting running enrollments for /metrics"),
    }
    let store = state.store.clone();
    match blocking(move || Ok(store.size()?)).await {
        Ok(size) => {
            metrics::gauge!("wasmhook_database_bytes").set(size.bytes as f64);
            if let Some(free) = size.free_bytes {
                metrics::gauge!("wasmhook_database_free_bytes").set(free as f64);
            }
        }
        Err(e) => tracing::warn!(error = e.message(), "reading the database size for /metrics"),
    }
    let backlog = &state.ingest.backlog;
    metrics::gauge!("wasmhook_backlog_events").set(backlog.len() as f64);
    metrics::gauge!("wasmhook_backlog_bound").set(backlog.bound() as f64);
    metrics::counter!("wasmhook_backlog_refused_total").absolute(backlog.refused());
    if let Some(unapplied) = state.ingest.writer.unapplied() {
        // Acknowledged into the ingest log, not yet in the database: near 0 unless the
        // database has stopped taking writes.
        metrics::gauge!("wasmhook_ingest_log_unapplied_events").set(unapplied.events() as f64);
    }
    // Every live webhook has a bucket: the in-memory table names them without a store read.
    for (webhook, bucket) in state.ingest.limits.buckets() {
        let signature_failures = state.ingest.senders.failures(&webhook);
        metrics::counter!("wasmhook_signature_failures_total", "webhook" => webhook.clone())
            .absolute(signature_failures);
        metrics::counter!("wasmhook_rate_limited_total", "webhook" => webhook)
            .absolute(bucket.limited.load(Ordering::Relaxed));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
