//! `POST /hooks/{token}`: the only public route. Checks run cheapest first, so a refusal
//! costs as little as possible: rate limit → backlog bound → declared size and framing → body (within
//! its deadline) → sender signature on the raw bytes → content type → JSON and its bounds;
//! then the payloads are committed and the answer is 202. Everything else happens off
//! this path.
//!
//! - [`backlog`]: the bound on events waiting for the pipeline.
//! - [`framing`]: a body over the limit (413) told apart from a misframed one (400, 501).
//! - [`limits`]: per-webhook request rate limits.
//! - [`payload`]: the body split into events, within depth, key and size bounds.
//! - [`refresh`]: on a shared database, sender checks and rate limits re-read every second.
//! - [`signature`]: sender verification schemes on the raw body.
//! - [`senders`]: which webhooks check their senders, in memory.
//! - [`slack`]: Slack's signed Request URL check, answered instead of stored.
//! - [`tokens`]: per-webhook values found by token hash, honouring rotation grace periods.
//! - [`writer`]: group commit of many requests: appended to the ingest log (SQLite) or one
//!   transaction (PostgreSQL).
//! - [`unapplied`]: what was acknowledged but is not in the database yet.
//! - [`applier`]: the ingest log recovered at start and stored while serving.

use std::sync::Arc;

pub mod applier;
pub(crate) mod backlog;
pub(crate) mod framing;
pub(crate) mod limits;
pub mod payload;
pub(crate) mod refresh;
pub(crate) mod senders;
pub mod signature;
pub(crate) mod slack;
pub(crate) mod tokens;
pub mod unapplied;
pub mod writer;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;
use std::ops::Deref;
use std::time::Duration;

use crate::http::{ApiError, ErrorBody};
use crate::model::event::EventStatus;
use crate::model::ids::{EventId, now_ms};
use crate::model::webhook::Dedup;
use crate::store::events::{IngestJob, Receipt};
use crate::telemetry::request_id::RequestId;
use crate::work::waker::Waker;
use writer::WriteError;

/// Largest request body accepted (the design's default).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the ingest route works with, and nothing else of the server's: axum hands it over
/// from the application's state (`FromRef`), so ingest does not know the admin API.
pub struct IngestState {
    /// Group-commits the payloads.
    pub writer: writer::Writer,
    /// The webhooks that check their senders.
    pub senders: Arc<senders::Senders>,
    /// Per-webhook request rate limits.
    pub limits: Arc<limits::RateLimits>,
    /// Events waiting for the pipeline, against their bound.
    pub backlog: Arc<backlog::Backlog>,
    /// Wakes the pipeline (admin routes: after a replay; ingest's own commits wake it from
    /// the writer).
    pub waker: Waker,
    /// Time allowed for a request's body to arrive.
    pub body_timeout: Duration,
    /// Where the statuses decided at receipt (`not_ready`, `duplicate`, `test_event`) are
    /// counted per minute; the pipeline counts the others.
    pub tally: Arc<crate::tally::Tally>,
}

/// A cheap handle on [`IngestState`] (one reference count per request, as before the split).
#[derive(Clone)]
pub struct Ingest(Arc<IngestState>);

impl Ingest {
    /// Share `state` with the ingest route.
    pub fn new(state: IngestState) -> Ingest {
        Ingest(Arc::new(state))
    }
}

impl Deref for Ingest {
    type Target = IngestState;

    fn deref(&self) -> &IngestState {
        &self.0
    }
}

/// Receive one delivery (an object) or a batch (an array of objects).
#[utoipa::path(post, operation_id = "ingest.receive", path = "/hooks/{token}", tag = "ingest", security(()),
    params(("token" = String, Path, description = "The webhook URL's secret token"),
           ("X-Request-Id" = Option<String>, Header, description = "Kept as the request id if plain (≤ 128 characters of A-Z a-z 0-9 - _ . :)")),
    request_body(content = Object, content_type = "application/json", description = "An object (one event) or an array of objects (one event each)"),
    responses(
        (status = 200, description = "Slack's Request URL check (`url_verification`, signed, on a webhook with the `slack` scheme): `{challenge}`; not stored", body = SlackChallenge),
        (status = 202, description = "Stored durably: `{event_id, status}`, or `{event_ids, events}` for a batch", body = Delivered),
        (status = 400, description = "Malformed JSON, with line and column; or a misframed body: `chunk_malformed`, `body_incomplete`", body = ErrorBody),
        (status = 401, description = "Signature missing or refused", body = ErrorBody),
        (status = 404, description = "Unknown or deleted URL", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 413, description = "Larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Neither an object nor an array of objects, or too deep or wide", body = ErrorBody),
        (status = 429, description = "Over the webhook's rate limit; see Retry-After", body = ErrorBody),
        (status = 501, description = "A Transfer-Encoding other than chunked (e.g. `gzip, chunked`)", body = ErrorBody),
        (status = 503, description = "Backlog full or storage unavailable; see Retry-After", body = ErrorBody)))]
pub async fn receive(
    State(state): State<Ingest>,
    Path(token): Path<String>,
    request_id: Option<Extension<RequestId>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match accept(state, token, request_id.map(|Extension(RequestId(id))| id), headers, body).await {
        Ok((response, code)) => {
            crate::telemetry::metrics::ingest_answered(response.status().as_u16(), code);
            response
        }
        Err(error) => {
            crate::telemetry::metrics::ingest_answered(error.status().as_u16(), error.code());
            error.into_response()
        }
    }
}

async fn accept(
    state: Ingest,
    token: String,
    request_id: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(Response, &'static str), ApiError> {
    // Hashed once for both in-memory tables (rate limits, sender checks).
    let token_key = crate::store::webhooks::token_hash(&token);
    let arrived_ms = now_ms();
    if let Some(bucket) = state.limits.for_token_hash(&token_key, arrived_ms)
        && let Err(wait_s) = bucket.take().await
    {
        let limit = bucket.limit();
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this webhook takes {} requests/s (bursts of {}); retry after {wait_s} s, nothing was stored",
                limit.per_second, limit.burst
            ),
        )
        .with_retry_after(u32::try_from(wait_s).unwrap_or(u32::MAX)));
    }
    if !state.backlog.admit() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "backlog_full",
            format!(
                "{} events are waiting to be processed (the bound is {}); retry after {} s, nothing was stored",
                state.backlog.len(),
                state.backlog.bound(),
                backlog::RETRY_AFTER_S
            ),
        )
        .with_retry_after(backlog::RETRY_AFTER_S));
    }
    if let Some(length) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && length > MAX_BODY_BYTES
    {
        return Err(framing::too_large(MAX_BODY_BYTES));
    }
    framing::check_transfer_encoding(&headers)?;
    let bytes = tokio::time::timeout(state.body_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the body did not arrive within {} s; nothing was stored", state.body_timeout.as_secs_f64()),
            )
        })?
        .map_err(|error| framing::body_refused(&error, MAX_BODY_BYTES))?;
    let mut signed_by_slack = false;
    if let Some(check) = state.senders.for_token_hash(&token_key, arrived_ms) {
        signed_by_slack = matches!(check.verifier.scheme(), signature::Scheme::Slack);
        let now = arrived_ms.div_euclid(1000);
        if let Err(refusal) = check.verifier.verify(|name| headers.get(name).and_then(|v| v.to_str().ok()), &bytes, now)
        {
            check.failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(webhook = %check.webhook_id, code = refusal.code(), "signature refused");
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                refusal.code(),
                format!("the request's signature was refused: {refusal}; nothing was stored"),
            ));
        }
    }
    check_content_type(&headers)?;
    let payload::Split { payloads, parsed, batch } = payload::split(&bytes)?;
    if signed_by_slack
        && !batch
        && let Some(challenge) = parsed.first().and_then(slack::url_challenge)
    {
        let answer = axum::Json(SlackChallenge { challenge: challenge.to_string() });
        return Ok(((StatusCode::OK, answer).into_response(), "url_verification"));
    }
    let received_at_ms = now_ms();
    let ids: Vec<EventId> = payloads.iter().map(|_| EventId::new(received_at_ms)).collect();
    let job = IngestJob {
        token,
        ids,
        payloads,
        received_at_ms,
        // Parsed once here; the writer only looks a path up if the webhook dedups by body.
        delivery_ids: Box::new(move |dedup, _| delivery_ids(dedup, &headers, &parsed, batch)),
        request_id,
    };
    let receipts = state
        .writer
        .submit(job)
        .await
        .map_err(|e| {
            if let WriteError::Storage(reason) = &e {
                tracing::error!(%reason, "ingest could not store an event");
            }
            // A full queue clears in moments; a full disk or a held lock takes an operator.
            let retry_after = if matches!(e, WriteError::Overloaded) { 1 } else { 30 };
            ApiError::unavailable(format!("{e}; nothing was accepted")).with_retry_after(retry_after)
        })?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no webhook has this URL"))?;
    let decided = receipts.iter().filter(|r| r.status != EventStatus::Accepted);
    state.tally.add_all(
        decided.map(|r| (r.webhook_id.as_str(), crate::tally::Counted::Event(r.status), 1)),
        crate::model::ids::now_ms(),
    );
    for receipt in &receipts {
        crate::telemetry::metrics::event_received(receipt.status.as_str());
        tracing::debug!(event_id = %receipt.event_id, status = receipt.status.as_str(), "event stored");
    }
    // The writer counted them in the backlog, and the pipeline is woken once the database
    // has them (on SQLite, by the applier).
    let stored = |r: &Receipt| EventReceipt { event_id: r.event_id.clone(), status: r.status };
    let body = if batch {
        let event_ids = receipts.iter().map(|r| r.event_id.clone()).collect();
        Delivered::Batch(StoredBatch { event_ids, events: receipts.iter().map(stored).collect(), status: "accepted" })
    } else {
        Delivered::One(stored(&receipts[0]))
    };
    Ok(((StatusCode::ACCEPTED, axum::Json(body)).into_response(), "accepted"))
}

/// A refused body is answered in the error shape: 400 for JSON that does not parse, 422
/// with the rule's code and the event at fault for JSON the bounds refuse.
impl From<payload::PayloadError> for ApiError {
    fn from(refused: payload::PayloadError) -> Self {
        let message = refused.to_string();
        match refused {
            payload::PayloadError::Malformed { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", message)
            }
            payload::PayloadError::Refused { code, at, .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_field(&at)
            }
        }
    }
}

/// The answer to Slack's Request URL check: the challenge it sent.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct SlackChallenge {
    challenge: String,
}

/// The answer to a delivery: one event, or a batch's events in order.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum Delivered {
    /// A delivery of one object.
    One(EventReceipt),
    /// A delivery of an array of objects.
    Batch(StoredBatch),
}

/// One stored event: `accepted` (queued for the pipeline), `not_ready` (the webhook's
/// set-up is not finished), `duplicate` or `test_event`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct EventReceipt {
    event_id: EventId,
    status: EventStatus,
}

/// A batch, stored as one event per element, in order.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct StoredBatch {
    event_ids: Vec<EventId>,
    events: Vec<EventReceipt>,
    /// `accepted`: the whole batch is stored.
    status: &'static str,
}

/// Longest delivery id used for dedup; longer ones are not trusted as ids.
const MAX_DELIVERY_ID: usize = 512;

/// One optional delivery id per payload, from the webhook's dedup setting: a header (each
/// element of a batch gets `<id>#<index>`) or a path in each payload.
fn delivery_ids(dedup: &Dedup, headers: &HeaderMap, payloads: &[Json], batch: bool) -> Vec<Option<String>> {
    let usable = |v: String| (!v.is_empty() && v.len() <= MAX_DELIVERY_ID).then_some(v);
    if let Some(name) = &dedup.header {
        let value = headers.get(name.as_str()).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string());
        return match value.and_then(usable) {
            Some(v) if batch => (0..payloads.len()).map(|i| Some(format!("{v}#{i}"))).collect(),
            Some(v) => vec![Some(v)],
            None => vec![None; payloads.len()],
        };
    }
    if let Some(path) = &dedup.body_path {
        return payloads
            .iter()
            .map(|json| {
                let field = crate::flatten::flatten(json).into_iter().find(|f| &f.path == path)?;
                match field.value {
                    Json::String(s) => usable(s),
                    Json::Number(n) => usable(n.to_string()),
                    _ => None,
                }
            })
            .collect();
    }
    vec![None; payloads.len()]
}

/// Only `application/json`, with an optional UTF-8 charset parameter.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let refuse = |got: &str| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send JSON with `Content-Type: application/json` (got {got})"),
        )
        .with_field("Content-Type")
    };
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(refuse("no Content-Type"));
    };
    let text = value.to_str().map_err(|_| refuse("an unreadable Content-Type"))?;
    let mut parts = text.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(refuse(&format!("`{text}`")));
    }
    for param in parts.filter(|p| !p.is_empty()) {
        let (key, val) = param.split_once('=').unwrap_or((param, ""));
        if key.trim().eq_ignore_ascii_case("charset") {
            let charset = val.trim().trim_matches('"');
            if !charset.eq_ignore_ascii_case("utf-8") && !charset.eq_ignore_ascii_case("utf8") {
                return Err(refuse(&format!("charset `{charset}`; only UTF-8 is accepted")));
            }
        }
    }
    Ok(())
}
