//! `GET /stats`: how webhooks are doing over the last hour or day, for the dashboard. Read
//! from the per-minute counts every node flushes (`crate::tally`, `store/tallies.rs`), so
//! a day costs the same to serve at ten events a minute or ten thousand: events by status
//! per bucket (stacked by the page), latency and transform-time percentiles from
//! histograms, the backlog, and what needs attention (unmatched and failed events per
//! webhook, failed enrollments per workflow, breakers that opened), each with its name.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::http::{ApiError, ErrorBody, blocking, rfc3339};
use crate::model::event::EventStatus;
use crate::model::ids::{WebhookId, now_ms};
use crate::store::tallies::{Names, StoredCount};
use crate::tally::{BUCKETS, Counted, minute_of, quantile_us};

/// Query of `GET /stats`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// `1h` (the default; 60 buckets of a minute) or `1d` (144 buckets of 10 minutes).
    window: Option<String>,
    /// Only this webhook (else every webhook, summed).
    webhook: Option<String>,
}

/// A webhook or a workflow, by id and name.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Named {
    /// Its id.
    id: String,
    /// Its name (the id, if it was deleted).
    name: String,
}

/// One bucket of the series.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Bucket {
    /// Its start.
    at: String,
    /// Its start, unix ms.
    at_ms: i64,
    /// Events that reached each status in it (statuses with none are left out).
    #[schema(value_type = Object)]
    counts: BTreeMap<&'static str, u64>,
}

/// Percentiles of a duration, in ms (each within a factor of √2: read from histograms
/// of two buckets per doubling); null without events.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Percentiles {
    /// Events measured.
    count: u64,
    /// Median.
    p50: Option<f64>,
    /// 90th percentile.
    p90: Option<f64>,
    /// 99th percentile.
    p99: Option<f64>,
}

/// The backlog now.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct BacklogNow {
    /// Events waiting to be processed.
    waiting: u64,
    /// The bound past which ingest answers 503.
    bound: u64,
}

/// A webhook with unmatched or failed events in the window.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WebhookTrouble {
    /// The webhook.
    webhook: Named,
    /// Events that matched no record.
    unmatched: u64,
    /// Events a stage failed.
    failed: u64,
    /// Transform breakers that opened.
    breakers_opened: u64,
}

/// A workflow whose enrollments failed in the window.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct WorkflowTrouble {
    /// The workflow.
    workflow: Named,
    /// Enrollments that failed after their retries.
    failed: u64,
}

/// A destination whose breaker opened in the window.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct DestinationTrouble {
    /// The destination (`https://host:port`).
    destination: String,
    /// Times its breaker opened.
    breakers_opened: u64,
}

/// What needs attention in the window, worst first.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Attention {
    /// Webhooks with unmatched or failed events, or breakers that opened.
    webhooks: Vec<WebhookTrouble>,
    /// Workflows with failed enrollments.
    workflows: Vec<WorkflowTrouble>,
    /// Destinations whose breakers opened.
    destinations: Vec<DestinationTrouble>,
}

/// The answer of `GET /stats`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Stats {
    /// `1h` or `1d`.
    window: &'static str,
    /// Seconds per bucket.
    bucket_s: u64,
    /// The window's start.
    from: String,
    /// Now.
    to: String,
    /// The webhook shown, or null for all of them.
    webhook: Option<Named>,
    /// The statuses present in the window, in the order the page stacks them.
    statuses: Vec<EventStatus>,
    /// Events per bucket by status, oldest first, every bucket of the window.
    series: Vec<Bucket>,
    /// Events per status over the window.
    #[schema(value_type = Object)]
    totals: BTreeMap<&'static str, u64>,
    /// Time from receipt to the final status.
    latency_ms: Percentiles,
    /// Time in the coerce and transform stage (the plugin calls).
    transform_ms: Percentiles,
    /// The backlog now.
    backlog: BacklogNow,
    /// What needs attention.
    attention: Attention,
}

/// The windows, with their length and bucket.
const WINDOWS: [(&str, i64, i64); 2] = [("1h", 60, 1), ("1d", 1440, 10)];

/// `GET /stats?window=1h|1d[&webhook=ID]`: events per bucket by status, latency and
/// transform-time percentiles, the backlog, what needs attention.
#[utoipa::path(
    get, operation_id = "stats.show", path = "/stats", tag = "stats",
    params(StatsQuery),
    responses(
        (status = 200, description = "The window's series and figures", body = Stats),
        (status = 400, description = "Invalid request; `error.field` names the field", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    )
)]
pub async fn show(State(state): State<Arc<AppState>>, Query(q): Query<StatsQuery>) -> Result<Json<Stats>, ApiError> {
    let window_name = q.window.as_deref().unwrap_or("1h");
    let Some(&(window, minutes, bucket_minutes)) = WINDOWS.iter().find(|(name, ..)| *name == window_name) else {
        return Err(ApiError::invalid("window", "`1h` or `1d`"));
    };
    let store = state.store.clone();
    let only = q.webhook.filter(|w| !w.is_empty()).map(WebhookId::from_text);
    let only_webhook = only.clone();
    let now = now_ms();
    let this_minute = minute_of(now);
    // The current minute is the last bucket's; the window is whole buckets before it.
    let first_minute = (this_minute - minutes + 1).div_euclid(bucket_minutes) * bucket_minutes;
    let (webhook, series, trouble, names) = blocking(move || {
        let webhook = match &only {
            Some(id) => Some(store.webhook_any(id)?.ok_or_else(|| ApiError::not_found("webhook"))?),
            None => None,
        };
        let series = store.tally_series(only.as_ref().map(WebhookId::as_str), first_minute)?;
        let kinds = [
            Counted::Event(EventStatus::Unmatched),
            Counted::Event(EventStatus::Failed),
            Counted::EnrollmentFailed,
            Counted::BreakerOpened,
        ];
        let trouble = store.tally_totals(first_minute, &kinds)?;
        let names = store.names()?;
        Ok((webhook, series, trouble, names))
    })
    .await?;
    let mut buckets: Vec<BTreeMap<&'static str, u64>> = vec![BTreeMap::new(); (minutes / bucket_minutes) as usize + 1];
    let mut totals: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut latency, mut transform) = ([0u64; BUCKETS as usize], [0u64; BUCKETS as usize]);
    for StoredCount { minute, what, count, .. } in &series {
        match what {
            Counted::Event(status) => {
                let at = usize::try_from((minute - first_minute) / bucket_minutes).unwrap_or(usize::MAX);
                if let Some(bucket) = buckets.get_mut(at) {
                    *bucket.entry(status.as_str()).or_default() += count;
                    *totals.entry(status.as_str()).or_default() += count;
                }
            }
            Counted::Latency(b) => latency[usize::from(*b)] += count,
            Counted::Transform(b) => transform[usize::from(*b)] += count,
            Counted::EnrollmentFailed | Counted::BreakerOpened => {}
        }
    }
    // Trailing buckets past now (the rounding of the first) are not shown.
    let shown = usize::try_from((this_minute - first_minute) / bucket_minutes + 1).unwrap_or(0);
    buckets.truncate(shown);
    let statuses = EventStatus::ALL.iter().copied().filter(|s| totals.contains_key(s.as_str())).collect();
    let series = buckets
        .into_iter()
        .enumerate()
        .map(|(i, counts)| {
            let at_ms = (first_minute + i as i64 * bucket_minutes) * 60_000;
            Bucket { at: rfc3339(at_ms), at_ms, counts }
        })
        .collect();
    let backlog = &state.ingest.backlog;
    Ok(Json(Stats {
        window,
        bucket_s: u64::try_from(bucket_minutes * 60).unwrap_or(60),
        from: rfc3339(first_minute * 60_000),
        to: rfc3339(now),
        webhook: webhook.map(|w| Named { id: w.id.to_string(), name: w.name }),
        statuses,
        series,
        totals,
        latency_ms: percentiles(&latency),
        transform_ms: percentiles(&transform),
        backlog: BacklogNow { waiting: backlog.len(), bound: backlog.bound() },
        attention: attention(&trouble, &names, only_webhook.as_ref()),
    }))
}

/// Percentiles of a histogram, in ms.
fn percentiles(histogram: &[u64; BUCKETS as usize]) -> Percentiles {
    // To the microsecond.
    let ms = |q: f64| quantile_us(histogram, q).map(|us| us.round() / 1000.0);
    Percentiles { count: histogram.iter().sum(), p50: ms(0.5), p90: ms(0.9), p99: ms(0.99) }
}

/// What needs attention, from the window's counts of trouble: per webhook (only `only`, if
/// given), per workflow, per destination, each worst first.
fn attention(trouble: &[StoredCount], names: &Names, only: Option<&WebhookId>) -> Attention {
    let mut webhooks: HashMap<&str, [u64; 3]> = HashMap::new();
    let mut workflows: HashMap<&str, u64> = HashMap::new();
    let mut destinations: HashMap<&str, u64> = HashMap::new();
    for c in trouble {
        let subject = c.subject.as_str();
        let is_webhook = names.webhooks.contains_key(subject);
        let of_only = only.is_none_or(|only| only.as_str() == subject);
        match c.what {
            Counted::Event(EventStatus::Unmatched) if of_only => webhooks.entry(subject).or_default()[0] += c.count,
            Counted::Event(EventStatus::Failed) if of_only => webhooks.entry(subject).or_default()[1] += c.count,
            Counted::BreakerOpened if is_webhook && of_only => webhooks.entry(subject).or_default()[2] += c.count,
            Counted::BreakerOpened if !is_webhook => *destinations.entry(subject).or_default() += c.count,
            Counted::EnrollmentFailed => *workflows.entry(subject).or_default() += c.count,
            _ => {}
        }
    }
    let named = |id: &str, from: &HashMap<String, String>| Named {
        id: id.to_string(),
        name: from.get(id).cloned().unwrap_or_else(|| id.to_string()),
    };
    let mut webhooks: Vec<WebhookTrouble> = webhooks
        .into_iter()
        .map(|(id, [unmatched, failed, breakers_opened])| WebhookTrouble {
            webhook: named(id, &names.webhooks),
            unmatched,
            failed,
            breakers_opened,
        })
        .collect();
    webhooks.sort_by(|a, b| {
        (b.unmatched + b.failed + b.breakers_opened, &a.webhook.name)
            .cmp(&(a.unmatched + a.failed + a.breakers_opened, &b.webhook.name))
    });
    let mut workflows: Vec<WorkflowTrouble> = workflows
        .into_iter()
        .map(|(id, failed)| WorkflowTrouble { workflow: named(id, &names.workflows), failed })
        .collect();
    workflows.sort_by(|a, b| (b.failed, &a.workflow.name).cmp(&(a.failed, &b.workflow.name)));
    let mut destinations: Vec<DestinationTrouble> = destinations
        .into_iter()
        .map(|(destination, breakers_opened)| DestinationTrouble {
            destination: destination.to_string(),
            breakers_opened,
        })
        .collect();
    destinations.sort_by(|a, b| (b.breakers_opened, &a.destination).cmp(&(a.breakers_opened, &b.destination)));
    Attention { webhooks, workflows, destinations }
}
