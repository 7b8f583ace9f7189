//! `GET /metrics` in Prometheus text format (behind the admin token): counters recorded on
//! the hot paths through the `metrics` facade, plus gauges read from the in-memory state
//! (backlog, per-webhook refusals) at scrape time, so scraping costs the ingest path nothing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use metrics_exporter_prometheus::{BuildError, PrometheusBuilder, PrometheusHandle};

use super::AppState;

/// Ingest answers, by HTTP status and error code (`accepted` for 202).
pub const INGEST_REQUESTS: &str = "wasmhook_ingest_requests_total";

/// Install the process-wide recorder; call once, before serving.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    PrometheusBuilder::new().install_recorder()
}

/// Count one ingest answer.
pub fn ingest_answered(status: u16, code: &'static str) {
    metrics::counter!(INGEST_REQUESTS, "status" => status_label(status), "code" => code).increment(1);
}

/// Static labels for the statuses ingest answers, so counting allocates nothing.
fn status_label(status: u16) -> &'static str {
    match status {
        202 => "202",
        400 => "400",
        401 => "401",
        404 => "404",
        408 => "408",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        503 => "503",
        _ => "other",
    }
}

/// `GET /metrics`.
pub async fn render(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let backlog = &state.backlog;
    metrics::gauge!("wasmhook_backlog_events").set(backlog.len() as f64);
    metrics::gauge!("wasmhook_backlog_bound").set(backlog.bound() as f64);
    metrics::counter!("wasmhook_backlog_refused_total").absolute(backlog.refused());
    // Every live webhook has a bucket: the in-memory table names them without a store read.
    for (webhook, bucket) in state.limits.buckets() {
        let signature_failures = state.senders.failures(&webhook);
        metrics::counter!("wasmhook_signature_failures_total", "webhook" => webhook.clone())
            .absolute(signature_failures);
        metrics::counter!("wasmhook_rate_limited_total", "webhook" => webhook)
            .absolute(bucket.limited.load(Ordering::Relaxed));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
