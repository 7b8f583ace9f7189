//! Which alerts fire now. Each alert's kinds are counted over its window from the stored
//! per-minute counts (summed in SQL, one query per distinct window), per subject: a
//! webhook's failed or unmatched events, a workflow's failed enrollments, a breaker that
//! opened; the backlog is read from memory. A subject at or over the threshold fires one
//! message, aggregated: its count, the window, a link to what it is about. The store keeps
//! it to one per alert, kind and subject per window (`Store::fire_alert`), never one per event.

use std::collections::HashMap;

use serde_json::json;

use crate::http::rfc3339;
use crate::ingest::backlog::Backlog;
use crate::model::alert::{Alert, AlertKind, SubjectKind};
use crate::model::event::EventStatus;
use crate::model::ids::AlertMessageId;
use crate::store::alerts::NewMessage;
use crate::store::tallies::{Names, StoredCount};
use crate::store::{Store, StoreError};
use crate::tally::{Counted, minute_of};

/// The subject of the backlog alert.
pub const SERVER: &str = "server";

/// The count an alert kind sums, if it is a count.
fn counted(kind: AlertKind) -> Option<Counted> {
    match kind {
        AlertKind::EventsFailed => Some(Counted::Event(EventStatus::Failed)),
        AlertKind::EventsUnmatched => Some(Counted::Event(EventStatus::Unmatched)),
        AlertKind::EnrollmentsFailed => Some(Counted::EnrollmentFailed),
        AlertKind::BreakerOpened => Some(Counted::BreakerOpened),
        AlertKind::Backlog => None,
    }
}

/// One message an alert should send now (before the store's once-per-window check).
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    /// Its kind.
    pub kind: AlertKind,
    /// Its subject (a webhook or workflow id, a destination, [`SERVER`]).
    pub subject: String,
    /// What was counted (events, enrollments, openings; the backlog's length).
    pub count: u64,
}

/// What `alert` should send, from `counts` (summed per subject over its window) and the
/// backlog's length and bound.
pub fn due(alert: &Alert, counts: &[StoredCount], backlog: (u64, u64)) -> Vec<Due> {
    let mut found = Vec::new();
    for &(kind, threshold) in &alert.on {
        let Some(what) = counted(kind) else {
            let (waiting, bound) = backlog;
            if bound > 0 && waiting as f64 >= threshold * bound as f64 {
                found.push(Due { kind, subject: SERVER.into(), count: waiting });
            }
            continue;
        };
        let mut per_subject: HashMap<&str, u64> = HashMap::new();
        for c in counts.iter().filter(|c| c.what == what) {
            // A webhook's alert hears of its events and its transform steps' breakers only.
            let of_webhook = alert.webhook_id.as_ref().is_none_or(|only| only.as_str() == c.subject);
            if of_webhook || kind.subject_kind() == SubjectKind::Workflow {
                *per_subject.entry(&c.subject).or_default() += c.count;
            }
        }
        let mut over: Vec<Due> = per_subject
            .into_iter()
            .filter(|(_, n)| *n as f64 >= threshold)
            .map(|(subject, count)| Due { kind, subject: subject.to_string(), count })
            .collect();
        over.sort_by(|a, b| a.subject.cmp(&b.subject));
        found.extend(over);
    }
    found
}

/// The message for `due`: a Standard Webhooks payload (`type`, `timestamp`, `data`) saying
/// what, how many, over which window, about whom, with a link to look at it.
pub fn message(alert: &Alert, due: &Due, names: &Names, public_url: &str, now_ms: i64) -> NewMessage {
    let threshold = alert.on.iter().find(|(k, _)| *k == due.kind).map_or(0.0, |(_, t)| *t);
    let window_s = alert.window_ms / 1000;
    let ui = format!("{}/ui/#", public_url.trim_end_matches('/'));
    let (subject, link, what) = match due.kind.subject_kind() {
        SubjectKind::Webhook | SubjectKind::Breaker if names.webhooks.contains_key(&due.subject) => {
            let name = &names.webhooks[&due.subject];
            let status = match due.kind {
                AlertKind::EventsFailed => "failed",
                AlertKind::EventsUnmatched => "unmatched",
                _ => "",
            };
            let link = if status.is_empty() {
                format!("{ui}/webhooks/{}", due.subject)
            } else {
                format!("{ui}/events?webhook={}&status={status}", due.subject)
            };
            (json!({"type": "webhook", "id": due.subject, "name": name}), link, format!("webhook “{name}”"))
        }
        SubjectKind::Workflow => {
            let name = names.workflows.get(&due.subject).cloned().unwrap_or_else(|| due.subject.clone());
            let link = format!("{ui}/workflows/{}", due.subject);
            (json!({"type": "workflow", "id": due.subject, "name": name}), link, format!("workflow “{name}”"))
        }
        SubjectKind::Server => (json!({"type": "server"}), format!("{ui}/dashboard"), "the server".to_string()),
        SubjectKind::Webhook | SubjectKind::Breaker => {
            // A destination's breaker (or a webhook deleted since).
            let link = format!("{ui}/dashboard");
            (json!({"type": "destination", "id": due.subject}), link, format!("`{}`", due.subject))
        }
    };
    let window = crate::act::retry::human(std::time::Duration::from_secs(u64::try_from(window_s).unwrap_or(0)));
    let text = match due.kind {
        AlertKind::EventsFailed => format!("{} events of {what} failed in the last {window}", due.count),
        AlertKind::EventsUnmatched => format!("{} events of {what} matched no record in the last {window}", due.count),
        AlertKind::EnrollmentsFailed => {
            format!("{} enrollments of {what} failed after their retries in the last {window}", due.count)
        }
        AlertKind::BreakerOpened => format!("a breaker of {what} opened {} times in the last {window}", due.count),
        AlertKind::Backlog => format!(
            "{} events wait to be processed, at least {:.0}% of the backlog bound",
            due.count,
            threshold * 100.0
        ),
    };
    let threshold_json = if due.kind.is_fraction() { json!(threshold) } else { json!(threshold as u64) };
    let body = json!({
        "type": format!("alert.{}", due.kind),
        "timestamp": rfc3339(now_ms),
        "data": {
            "alert": {"id": alert.id, "name": alert.name},
            "kind": due.kind,
            "subject": subject,
            "count": due.count,
            "threshold": threshold_json,
            "window_s": window_s,
            "from": rfc3339(now_ms - alert.window_ms),
            "to": rfc3339(now_ms),
            "message": text,
            "link": link,
        }
    });
    NewMessage {
        id: AlertMessageId::new(now_ms),
        alert_id: alert.id.clone(),
        kind: due.kind,
        subject: due.subject.clone(),
        fired_at_ms: now_ms,
        body: body.to_string(),
    }
}

/// Evaluate every alert at `now_ms` and fire what is due; how many messages fired.
pub fn evaluate(store: &Store, backlog: &Backlog, public_url: &str, now_ms: i64) -> Result<usize, StoreError> {
    let alerts = store.alerts()?;
    if alerts.is_empty() {
        return Ok(0);
    }
    let kinds: Vec<Counted> = AlertKind::ALL.iter().filter_map(|k| counted(*k)).collect();
    let mut per_window: HashMap<i64, Vec<StoredCount>> = HashMap::new();
    let backlog = (backlog.len(), backlog.bound());
    let mut names: Option<Names> = None;
    let mut fired = 0;
    for alert in &alerts {
        let counts = match per_window.entry(alert.window_ms) {
            std::collections::hash_map::Entry::Occupied(read) => read.into_mut(),
            std::collections::hash_map::Entry::Vacant(unread) => {
                unread.insert(store.tally_totals(minute_of(now_ms - alert.window_ms), &kinds)?)
            }
        };
        for due in due(alert, counts, backlog) {
            let names = match &mut names {
                Some(names) => names,
                unread => unread.insert(store.names()?),
            };
            let message = message(alert, &due, names, public_url, now_ms);
            if store.fire_alert(&message, alert.window_ms)? {
                tracing::info!(alert = %alert.id, kind = %due.kind, subject = %due.subject, count = due.count, "alert fired");
                fired += 1;
            }
        }
    }
    Ok(fired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::{AlertId, WebhookId};

    fn count(subject: &str, minute: i64, what: Counted, count: u64) -> StoredCount {
        StoredCount { subject: subject.into(), minute, what, count }
    }

    fn alert(on: Vec<(AlertKind, f64)>, webhook: Option<&str>) -> Alert {
        Alert {
            id: AlertId::from_text("alr_1"),
            name: "ops".into(),
            url: "https://ops.example.com/hooks".into(),
            secret: "OPS_KEY".into(),
            window_ms: 300_000,
            on,
            webhook_id: webhook.map(WebhookId::from_text),
            created_at_ms: 0,
        }
    }

    #[test]
    fn counts_in_the_window_per_subject_reach_the_threshold() {
        let unmatched = Counted::Event(EventStatus::Unmatched);
        let counts = vec![
            count("wh_a", 96, unmatched, 5),
            count("wh_b", 99, unmatched, 4),
            count("wh_b", 99, Counted::Event(EventStatus::Failed), 9),
            count("wf_x", 98, Counted::EnrollmentFailed, 1),
        ];
        let on =
            vec![(AlertKind::EventsUnmatched, 5.0), (AlertKind::EnrollmentsFailed, 1.0), (AlertKind::Backlog, 0.5)];
        let found = due(&alert(on.clone(), None), &counts, (10, 100));
        assert_eq!(
            found,
            vec![
                Due { kind: AlertKind::EventsUnmatched, subject: "wh_a".into(), count: 5 },
                Due { kind: AlertKind::EnrollmentsFailed, subject: "wf_x".into(), count: 1 },
            ]
        );
        let found = due(&alert(on, Some("wh_b")), &counts, (60, 100));
        assert_eq!(
            found,
            vec![
                Due { kind: AlertKind::EnrollmentsFailed, subject: "wf_x".into(), count: 1 },
                Due { kind: AlertKind::Backlog, subject: SERVER.into(), count: 60 },
            ],
            "wh_a's events are not wh_b's alert's; the backlog is over half"
        );
    }

    #[test]
    fn a_message_names_its_subject_and_links_to_its_events() {
        let a = alert(vec![(AlertKind::EventsUnmatched, 5.0)], None);
        let mut names = Names::default();
        names.webhooks.insert("wh_a".into(), "Orders".into());
        let due = Due { kind: AlertKind::EventsUnmatched, subject: "wh_a".into(), count: 7 };
        let m = message(&a, &due, &names, "https://hooks.example.com/", 1_700_000_000_000);
        let body: serde_json::Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(body["type"], "alert.events_unmatched");
        assert_eq!(body["data"]["subject"], json!({"type": "webhook", "id": "wh_a", "name": "Orders"}));
        assert_eq!(body["data"]["link"], "https://hooks.example.com/ui/#/events?webhook=wh_a&status=unmatched");
        assert_eq!(body["data"]["count"], 7);
        assert_eq!(body["data"]["threshold"], 5);
        assert_eq!(body["data"]["message"], "7 events of webhook “Orders” matched no record in the last 5 min");
        assert!(m.id.as_str().starts_with("msg_"));
    }
}
