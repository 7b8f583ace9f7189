//! The `wasmhook-alerts` thread: every [`EVERY`], evaluate the alerts (`super::evaluate`),
//! then send the messages due. A message is POSTed as JSON, signed the Standard Webhooks
//! way with its alert's secret (`webhook-id` is the message's id on every try, so a
//! receiver can deduplicate), through the host's outbound sender (the private-network
//! rule, the TLS roots, the destination's breaker). It is retried like a `send_webhook`
//! step: a 429, a 5xx or no answer runs again on [`SCHEDULE`] (or the answer's
//! `Retry-After`); any other answer fails it, with the reason kept on the message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Watch;
use crate::act::retry::{self, Decision};
use crate::act::send_webhook::{delivery_headers, unanswered};
use crate::model::alert::Alert;
use crate::model::ids::{AlertId, now_ms};
use crate::model::workflow::{RetrySchedule, Signing};
use crate::plugins::outbound::{AllowedHost, Outgoing};
use crate::store::StoreError;
use crate::store::alerts::{Message, Tried};
use crate::work::panic::panic_message;
use crate::work::threads::Threads;

/// Time between two rounds: an alert goes out at most this long after its flush.
pub const EVERY: Duration = Duration::from_secs(2);

/// Retries: 30 s after the first try, doubling up to an hour apart, for a day (an alert
/// older than that says nothing the dashboard does not).
pub const SCHEDULE: RetrySchedule = RetrySchedule { first_s: 30, max_s: 3600, for_s: 86_400 };

/// How long a node holds a message it is sending before another may try it (a try takes
/// at most the outbound time limit, well under this).
const LEASE_MS: i64 = 60_000;

/// Messages sent per round, at most.
const PER_ROUND: u32 = 32;

/// Start the thread.
pub fn spawn(watch: Arc<Watch>, node: &Threads) -> std::io::Result<()> {
    let stopping = node.clone();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    node.spawn("wasmhook-alerts", move || {
        while stopping.sleep(EVERY) {
            // A bug in a round (a panic) is logged and the next round runs: alerts must not
            // stop for good while the server goes on.
            let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| round(&watch, &runtime)));
            if let Err(panic) = round {
                tracing::error!(message = %panic_message(panic.as_ref()), "an alerts round panicked; the next round runs as usual");
            }
        }
    })
}

/// Evaluate, then send what is due.
fn round(watch: &Watch, runtime: &tokio::runtime::Runtime) {
    let now = now_ms();
    if let Err(e) = super::evaluate::evaluate(&watch.store, &watch.backlog, &watch.public_url, now) {
        tracing::warn!(error = %e, "evaluating alerts failed; trying again in the next round");
    }
    if let Err(e) = deliver_due(watch, runtime, now) {
        tracing::warn!(error = %e, "sending alerts failed; trying again in the next round");
    }
}

/// Send the messages due at `now`, each claimed first. The store is called outside the
/// runtime (on PostgreSQL it blocks on its own), only the request runs on it.
fn deliver_due(watch: &Watch, runtime: &tokio::runtime::Runtime, now: i64) -> Result<(), StoreError> {
    let due = watch.store.due_alert_messages(now, PER_ROUND)?;
    if due.is_empty() {
        return Ok(());
    }
    let alerts: HashMap<AlertId, Alert> = watch.store.alerts()?.into_iter().map(|a| (a.id.clone(), a)).collect();
    for message in due {
        if !watch.store.claim_alert_message(&message, now + LEASE_MS)? {
            continue;
        }
        let tried = match alerts.get(&message.fired.alert_id).map(|alert| signed(watch, alert, &message)) {
            Some(Ok(request)) => runtime.block_on(send(watch, request, &message)),
            Some(Err(tried)) => tried,
            None => Tried::Failed("its alert was deleted".into()),
        };
        if let Tried::Failed(why) | Tried::Retry(_, why) = &tried {
            tracing::warn!(message = %message.fired.id, alert = %message.fired.alert_id, reason = %why, "an alert was not delivered");
        }
        watch.store.alert_message_tried(&message.fired.id, &tried, now_ms())?;
    }
    Ok(())
}

/// A message ready to send: where, and its signed headers.
struct Signed {
    uri: http::Uri,
    destination: AllowedHost,
    headers: Vec<(String, String)>,
}

/// `message` to `alert`'s URL, signed with its secret's key now; a message that cannot be
/// sent fails with the reason.
fn signed(watch: &Watch, alert: &Alert, message: &Message) -> Result<Signed, Tried> {
    let uri: http::Uri = alert.url.parse().map_err(|_| Tried::Failed(format!("`{}` is not a URL", alert.url)))?;
    let destination = AllowedHost::of_uri(&uri).map_err(Tried::Failed)?;
    let found =
        watch.vault.get(&watch.store, std::slice::from_ref(&alert.secret)).map_err(|e| Tried::Failed(e.to_string()))?;
    let Some((_, key)) = found.into_iter().next() else {
        return Err(Tried::Failed(format!("secret `{}` is not set", alert.secret)));
    };
    let signing = Signing::StandardWebhooks { secret: alert.secret.clone() };
    let mut headers = delivery_headers(message.fired.id.as_str());
    let signed = crate::act::signing::headers(
        &signing,
        &key,
        message.fired.id.as_str(),
        now_ms() / 1000,
        message.fired.body.as_bytes(),
    )
    .map_err(Tried::Failed)?;
    headers.extend(signed);
    Ok(Signed { uri, destination, headers })
}

/// One try of `message`, and what becomes of it.
async fn send(watch: &Watch, request: Signed, message: &Message) -> Tried {
    let Signed { uri, destination, headers } = request;
    let outgoing =
        Outgoing { method: "POST", uri: &uri, headers: &headers, body: message.fired.body.as_bytes().to_vec() };
    let sent = watch.engine.send(&destination, outgoing).await;
    if let Ok(response) = &sent.response
        && (200..300).contains(&response.status)
    {
        return Tried::Delivered;
    }
    let now = now_ms();
    if let Some(cause) = retry::cause_of_last(&sent.exchanges) {
        return match retry::decide(&cause, &SCHEDULE, message.attempts + 1, message.fired.fired_at_ms, now) {
            Decision::RetryAt { at_ms, reason } => Tried::Retry(at_ms, reason),
            Decision::GiveUp { reason } => Tried::Failed(reason),
        };
    }
    let request = crate::plugins::outbound::shown("POST", &uri);
    Tried::Failed(match &sent.response {
        Ok(response) => format!("{request} answered {}", response.status),
        Err(why) => {
            let how = sent.exchanges.last().and_then(|e| unanswered(&e.answer)).unwrap_or_else(|| why.clone());
            format!("{request}: {how}")
        }
    })
}
