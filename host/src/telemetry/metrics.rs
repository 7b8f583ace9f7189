//! Metric names and recording: counters and histograms through the `metrics` facade, so the
//! hot paths pay an atomic add; `/metrics` renders them (api::metrics) with gauges read at
//! scrape time. Without an installed recorder (tests, benches) every call is a no-op.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Ingest answers, by HTTP status and error code (`accepted` for 202).
pub const INGEST_REQUESTS: &str = "wasmhook_ingest_requests_total";
/// Events stored by ingest, by the status they were stored with.
pub const EVENTS_RECEIVED: &str = "wasmhook_events_received_total";
/// Events the pipeline finished, by final status.
pub const EVENTS_PROCESSED: &str = "wasmhook_events_processed_total";
/// Time from an event's receipt to its final status, in seconds.
pub const EVENT_LATENCY: &str = "wasmhook_event_latency_seconds";
/// Time each pipeline stage (coerce, transform, match, enroll) took per event, in seconds.
pub const STAGE_DURATION: &str = "wasmhook_stage_duration_seconds";
/// Plugin calls, by plugin, world and outcome (`ok` or the failure kind).
pub const PLUGIN_CALLS: &str = "wasmhook_plugin_calls_total";
/// Plugin call wall time (instantiate + call), by plugin and world, in seconds.
pub const PLUGIN_CALL_DURATION: &str = "wasmhook_plugin_call_duration_seconds";
/// Workflow action steps run, by type and outcome.
pub const ACTION_STEPS: &str = "wasmhook_action_steps_total";
/// Action plugins' HTTP requests, by destination (the step's `allowed_hosts` entry that
/// matched, or `not_allowed`) and answer (status code, `unreachable`, `refused`, `broken`).
pub const OUTBOUND_REQUESTS: &str = "wasmhook_outbound_requests_total";
/// Time from an outbound request to its answer's head (or its failure), by destination, in seconds.
pub const OUTBOUND_DURATION: &str = "wasmhook_outbound_request_duration_seconds";
/// Custom code tries held back because every destination their step may reach was paused
/// by its breaker, by the destination whose pause ends first.
pub const OUTBOUND_HELD: &str = "wasmhook_outbound_held_tries_total";
/// Enrollments created by the pipeline.
pub const ENROLLMENTS_STARTED: &str = "wasmhook_enrollments_started_total";
/// Events processed by the ingest log's applier, from memory (SQLite).
pub const EVENTS_FROM_LOG: &str = "wasmhook_events_processed_from_log_total";
/// Enrollments that ended, by status (`completed`, `failed`).
pub const ENROLLMENTS_ENDED: &str = "wasmhook_enrollments_ended_total";
/// Record import rows applied (created, updated or refused as a duplicate).
pub const IMPORT_ROWS: &str = "wasmhook_import_rows_total";
/// Rows retention deleted (or, for `enrollment_logs`, emptied), by table.
pub const PRUNED_ROWS: &str = "wasmhook_pruned_rows_total";

/// Histogram buckets in seconds: 50 µs to 30 s, for plugin calls and whole-event latency.
const BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];

/// The process-wide recorder, installed on first use (before serving): later calls (a
/// second node in one process, as in-process tests start) share it. Durations render as
/// Prometheus histograms (quantiles can then be aggregated across scrapes and nodes).
pub fn install() -> Result<PrometheusHandle, BuildError> {
    static INSTALLED: std::sync::Mutex<Option<PrometheusHandle>> = std::sync::Mutex::new(None);
    let mut installed = INSTALLED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(handle) = installed.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .install_recorder()?;
    *installed = Some(handle.clone());
    Ok(handle)
}

/// Count one ingest answer.
pub fn ingest_answered(status: u16, code: &'static str) {
    metrics::counter!(INGEST_REQUESTS, "status" => status_label(status), "code" => code).increment(1);
}

/// Count `rows` of `table` pruned by retention.
pub fn rows_pruned(table: &'static str, rows: u64) {
    metrics::counter!(PRUNED_ROWS, "table" => table).increment(rows);
}

/// This process's work, for its heartbeat (`GET /nodes`): counted beside the metrics,
/// which the facade does not read back. Shared by the nodes of one process, like them.
static WORK: Work = Work {
    events_received: AtomicU64::new(0),
    events_processed: AtomicU64::new(0),
    steps_run: AtomicU64::new(0),
    rows_imported: AtomicU64::new(0),
};

struct Work {
    events_received: AtomicU64,
    events_processed: AtomicU64,
    steps_run: AtomicU64,
    rows_imported: AtomicU64,
}

/// The work this process did since it started.
pub fn work_done() -> crate::model::node::WorkDone {
    crate::model::node::WorkDone {
        events_received: WORK.events_received.load(Ordering::Relaxed),
        events_processed: WORK.events_processed.load(Ordering::Relaxed),
        steps_run: WORK.steps_run.load(Ordering::Relaxed),
        rows_imported: WORK.rows_imported.load(Ordering::Relaxed),
    }
}

/// Count `rows` import rows applied.
pub fn rows_imported(rows: u64) {
    WORK.rows_imported.fetch_add(rows, Ordering::Relaxed);
    metrics::counter!(IMPORT_ROWS).increment(rows);
}

/// Count one event stored by ingest with `status` (`accepted`, `test_event`, `not_ready`, `duplicate`).
pub fn event_received(status: &'static str) {
    WORK.events_received.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(EVENTS_RECEIVED, "status" => status).increment(1);
}

/// Count one event the pipeline finished, and how long after its receipt.
pub fn event_processed(status: &'static str, latency: Duration) {
    WORK.events_processed.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(EVENTS_PROCESSED, "status" => status).increment(1);
    metrics::histogram!(EVENT_LATENCY).record(latency.as_secs_f64());
}

/// Record one stage of one event.
pub fn stage_took(stage: &'static str, took: Duration) {
    metrics::histogram!(STAGE_DURATION, "stage" => stage).record(took.as_secs_f64());
}

/// Count one plugin call and its duration.
pub fn plugin_called(plugin: &str, world: &'static str, outcome: &'static str, took: Duration) {
    let plugin = plugin.to_string();
    metrics::counter!(PLUGIN_CALLS, "plugin" => plugin.clone(), "world" => world, "outcome" => outcome).increment(1);
    metrics::histogram!(PLUGIN_CALL_DURATION, "plugin" => plugin, "world" => world).record(took.as_secs_f64());
}

/// Count one outbound request of an action plugin and its duration.
pub fn outbound_request(destination: &str, answer: String, took: Duration) {
    let destination = destination.to_string();
    metrics::counter!(OUTBOUND_REQUESTS, "destination" => destination.clone(), "answer" => answer).increment(1);
    metrics::histogram!(OUTBOUND_DURATION, "destination" => destination).record(took.as_secs_f64());
}

/// Count one try held back by a paused destination.
pub fn outbound_step_held(destination: &str) {
    metrics::counter!(OUTBOUND_HELD, "destination" => destination.to_string()).increment(1);
}

/// Count one action step.
pub fn action_step(kind: &'static str, outcome: &'static str) {
    WORK.steps_run.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(ACTION_STEPS, "type" => kind, "outcome" => outcome).increment(1);
}

/// Count events the ingest log's applier processed from memory (stored once, processed).
pub fn events_processed_from_log(count: u64) {
    metrics::counter!(EVENTS_FROM_LOG).increment(count);
}

/// Count enrollments the pipeline created.
pub fn enrollments_started(count: usize) {
    metrics::counter!(ENROLLMENTS_STARTED).increment(count as u64);
}

/// Count one enrollment that ended.
pub fn enrollment_ended(status: &'static str) {
    metrics::counter!(ENROLLMENTS_ENDED, "status" => status).increment(1);
}

/// Static labels for the statuses ingest answers, so counting allocates nothing.
fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        202 => "202",
        400 => "400",
        401 => "401",
        404 => "404",
        408 => "408",
        413 => "413",
        415 => "415",
        422 => "422",
        429 => "429",
        501 => "501",
        503 => "503",
        _ => "other",
    }
}
