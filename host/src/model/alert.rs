//! Alerts (operational webhooks): where an admin is told of trouble, which kinds of trouble
//! and from how much on, over what window; and the messages sent, one per alert, kind and
//! subject per window at most.

use super::ids::{AlertId, WebhookId};
use super::vocabulary;

vocabulary! {
    /// A kind of trouble an alert can be told of.
    AlertKind, "alert kind" {
        /// A webhook's events failed (a stage failed) at least `threshold` times in the window.
        EventsFailed = "events_failed",
        /// A webhook's events matched no record at least `threshold` times in the window.
        EventsUnmatched = "events_unmatched",
        /// A workflow's enrollments failed after their step's retries at least `threshold`
        /// times in the window.
        EnrollmentsFailed = "enrollments_failed",
        /// A breaker opened (a transform step timing out, a destination failing) at least
        /// `threshold` times in the window.
        BreakerOpened = "breaker_opened",
        /// The events waiting to be processed reached `threshold` (a fraction, 0–1) of the
        /// server's backlog bound.
        Backlog = "backlog",
    }
}

vocabulary! {
    /// Where an alert message is.
    MessageStatus, "alert message status" {
        /// Not delivered yet: sent at its next attempt.
        Pending = "pending",
        /// Answered 2xx by the alert's URL.
        Delivered = "delivered",
        /// Refused (a 4xx other than 408 and 429), or still failing after its retries.
        Failed = "failed",
    }
}

impl AlertKind {
    /// Whether the kind's threshold is a fraction of a bound (else a count in the window).
    pub fn is_fraction(self) -> bool {
        self == AlertKind::Backlog
    }

    /// What the kind's subject is.
    pub fn subject_kind(self) -> SubjectKind {
        match self {
            AlertKind::EventsFailed | AlertKind::EventsUnmatched => SubjectKind::Webhook,
            AlertKind::EnrollmentsFailed => SubjectKind::Workflow,
            AlertKind::BreakerOpened => SubjectKind::Breaker,
            AlertKind::Backlog => SubjectKind::Server,
        }
    }
}

/// What an alert message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    /// A webhook (its id).
    Webhook,
    /// A workflow (its id).
    Workflow,
    /// A breaker: a webhook's transform step (the webhook's id) or a destination.
    Breaker,
    /// The server as a whole.
    Server,
}

/// The shortest window: counts are kept per minute.
pub const MIN_WINDOW_S: u64 = 60;
/// The longest window: the dashboard's day.
pub const MAX_WINDOW_S: u64 = 86_400;
/// The window when none is given.
pub const DEFAULT_WINDOW_S: u64 = 300;

/// An alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its id.
    pub id: AlertId,
    /// What the admin calls it.
    pub name: String,
    /// Where its messages are POSTed.
    pub url: String,
    /// The secret (by name) whose Standard Webhooks key signs them.
    pub secret: String,
    /// The window counts are summed over, and the least time between two messages of one
    /// kind and subject.
    pub window_ms: i64,
    /// The kinds it is told of, each with its threshold, in declaration order.
    pub on: Vec<(AlertKind, f64)>,
    /// Only this webhook's trouble (events, its transform breakers), if set.
    pub webhook_id: Option<WebhookId>,
    /// When it was made (unix ms).
    pub created_at_ms: i64,
}

/// Why a threshold is refused, for the `on.<kind>` field; `None` if it is fine.
pub fn threshold_refused(kind: AlertKind, threshold: f64) -> Option<&'static str> {
    if kind.is_fraction() {
        (!(threshold > 0.0 && threshold <= 1.0)).then_some("a fraction of the backlog bound, above 0 and at most 1")
    } else {
        (!((1.0..=1e9).contains(&threshold) && threshold.fract() == 0.0))
            .then_some("a whole number of times in the window, from 1 to 1000000000")
    }
}

/// The kinds and thresholds as stored and answered: `{"events_unmatched": 5, ...}`.
pub fn on_to_json(on: &[(AlertKind, f64)]) -> serde_json::Value {
    let number = |kind: AlertKind, t: f64| {
        if kind.is_fraction() { serde_json::json!(t) } else { serde_json::json!(t as u64) }
    };
    serde_json::Value::Object(on.iter().map(|(kind, t)| (kind.as_str().to_string(), number(*kind, *t))).collect())
}

/// Read the kinds and thresholds as sent (`{"events_unmatched": 5, ...}`) or stored: at least
/// one, each kind known and its threshold valid, in declaration order (so lists read alike
/// whatever order they were sent in). An error names the field (`on`, `on.<kind>`) and why.
pub fn read_on(json: &serde_json::Value) -> Result<Vec<(AlertKind, f64)>, (String, String)> {
    let object = json.as_object().filter(|o| !o.is_empty()).ok_or_else(|| {
        let kinds: Vec<&str> = AlertKind::ALL.iter().map(|k| k.as_str()).collect();
        ("on".to_string(), format!("at least one kind of trouble: {}", kinds.join(", ")))
    })?;
    let mut on = Vec::with_capacity(object.len());
    for (name, threshold) in object {
        let field = format!("on.{name}");
        let kind = AlertKind::parse(name).map_err(|e| (field.clone(), e.to_string()))?;
        let threshold = threshold.as_f64().ok_or_else(|| (field.clone(), "the threshold is a number".to_string()))?;
        if let Some(why) = threshold_refused(kind, threshold) {
            return Err((field, why.to_string()));
        }
        on.push((kind, threshold));
    }
    on.sort_by_key(|(kind, _)| AlertKind::ALL.iter().position(|k| k == kind));
    Ok(on)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_counts_or_a_fraction_and_read_back_in_order() {
        assert_eq!(threshold_refused(AlertKind::EventsUnmatched, 5.0), None);
        assert!(threshold_refused(AlertKind::EventsUnmatched, 0.0).is_some());
        assert!(threshold_refused(AlertKind::EventsFailed, 2.5).is_some());
        assert_eq!(threshold_refused(AlertKind::Backlog, 0.8), None);
        assert!(threshold_refused(AlertKind::Backlog, 1.5).is_some());
        assert!(threshold_refused(AlertKind::Backlog, f64::NAN).is_some());
        let on = vec![(AlertKind::Backlog, 0.5), (AlertKind::EventsFailed, 3.0)];
        let json = on_to_json(&on);
        assert_eq!(json, serde_json::json!({"backlog": 0.5, "events_failed": 3}));
        assert_eq!(read_on(&json).unwrap(), vec![(AlertKind::EventsFailed, 3.0), (AlertKind::Backlog, 0.5)]);
        assert_eq!(read_on(&serde_json::json!({"nope": 1})).unwrap_err().0, "on.nope");
        assert_eq!(read_on(&serde_json::json!({"backlog": 2})).unwrap_err().0, "on.backlog");
        assert_eq!(read_on(&serde_json::json!({})).unwrap_err().0, "on");
    }
}
