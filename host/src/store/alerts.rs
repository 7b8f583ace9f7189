//! Alerts and their messages. A message is fired at most once per alert, kind and subject
//! per window: the insert checks that none was fired within the window, and a unique slot
//! (the fire time divided by the window) keeps two nodes of a cluster from both firing.
//! Messages are delivered from the table, so a restart resumes their retries, and a
//! delivery is claimed by moving its due time (compare-and-set), so one node sends it.

use super::gate::Priority;
use super::sql::args;
use super::{Store, StoreError};
use crate::model::alert::{Alert, AlertKind, MessageStatus, on_to_json, read_on};
use crate::model::ids::{AlertId, AlertMessageId};

/// A message to fire.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Its id (its `webhook-id`).
    pub id: AlertMessageId,
    /// The alert it is of.
    pub alert_id: AlertId,
    /// Its kind.
    pub kind: AlertKind,
    /// What it is about (a webhook or workflow id, a destination, `server`).
    pub subject: String,
    /// When (unix ms).
    pub fired_at_ms: i64,
    /// The JSON body sent.
    pub body: String,
}

/// A message as stored: what fired, and where its delivery is.
#[derive(Debug, Clone)]
pub struct Message {
    /// What fired.
    pub fired: NewMessage,
    /// Where it is.
    pub status: MessageStatus,
    /// Tries so far.
    pub attempts: u32,
    /// When it is tried next (pending), unix ms.
    pub next_attempt_at_ms: i64,
    /// How the last try failed.
    pub last_error: Option<String>,
    /// When its URL answered 2xx.
    pub delivered_at_ms: Option<i64>,
}

/// How one try of a message ended.
#[derive(Debug, Clone)]
pub enum Tried {
    /// Answered 2xx.
    Delivered,
    /// Failed; tried again at the time given.
    Retry(i64, String),
    /// Failed for good.
    Failed(String),
}

const ALERT_COLUMNS: &str = "id, name, url, secret, window_ms, kinds_json, webhook_id, created_at_ms";
const MESSAGE_COLUMNS: &str =
    "id, alert_id, kind, subject, fired_at_ms, body, status, attempts, next_attempt_at_ms, last_error, delivered_at_ms";

fn alert_of(mut r: super::sql::Row) -> Result<Alert, StoreError> {
    let kinds: String = r.get(5)?;
    let json: serde_json::Value = serde_json::from_str(&kinds)?;
    let on = read_on(&json).map_err(|(field, why)| crate::model::UnknownName {
        vocabulary: "alert kind",
        value: format!("{field}: {why}"),
    })?;
    Ok(Alert {
        id: r.get(0)?,
        name: r.get(1)?,
        url: r.get(2)?,
        secret: r.get(3)?,
        window_ms: r.get(4)?,
        on,
        webhook_id: r.get(6)?,
        created_at_ms: r.get(7)?,
    })
}

fn message_of(mut r: super::sql::Row) -> Result<Message, StoreError> {
    Ok(Message {
        fired: NewMessage {
            id: r.get(0)?,
            alert_id: r.get(1)?,
            kind: AlertKind::parse(&r.get::<String>(2)?)?,
            subject: r.get(3)?,
            fired_at_ms: r.get(4)?,
            body: r.get(5)?,
        },
        status: MessageStatus::parse(&r.get::<String>(6)?)?,
        attempts: u32::try_from(r.get::<i64>(7)?).unwrap_or(0),
        next_attempt_at_ms: r.get(8)?,
        last_error: r.get(9)?,
        delivered_at_ms: r.get(10)?,
    })
}

impl Store {
    /// Store a new alert.
    pub fn create_alert(&self, alert: &Alert) -> Result<(), StoreError> {
        let kinds = on_to_json(&alert.on).to_string();
        self.transaction(Priority::Background, |tx| {
            tx.execute(
                &format!("INSERT INTO alerts ({ALERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                args![
                    alert.id,
                    alert.name,
                    alert.url,
                    alert.secret,
                    alert.window_ms,
                    kinds,
                    alert.webhook_id,
                    alert.created_at_ms
                ],
            )
        })?;
        Ok(())
    }

    /// Every alert, oldest first.
    pub fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        self.with(|db| db.query_map(&format!("SELECT {ALERT_COLUMNS} FROM alerts ORDER BY id"), &[], alert_of))
    }

    /// One alert.
    pub fn alert(&self, id: &AlertId) -> Result<Option<Alert>, StoreError> {
        self.with(|db| {
            db.query_opt(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"), args![id])?
                .map(alert_of)
                .transpose()
        })
    }

    /// Delete an alert and its messages (pending ones are not sent); false if there was none.
    pub fn delete_alert(&self, id: &AlertId) -> Result<bool, StoreError> {
        let deleted = self.transaction(Priority::Background, |tx| {
            tx.execute("DELETE FROM alert_firings WHERE alert_id = ?1", args![id])?;
            tx.execute("DELETE FROM alerts WHERE id = ?1", args![id])
        })?;
        Ok(deleted == 1)
    }

    /// Fire `message` unless one of its alert, kind and subject fired less than `window_ms`
    /// before it; whether it fired.
    /// (The casts give PostgreSQL the parameters' types, which a select list does not.)
    pub fn fire_alert(&self, message: &NewMessage, window_ms: i64) -> Result<bool, StoreError> {
        let slot = message.fired_at_ms.div_euclid(window_ms.max(1));
        let since = message.fired_at_ms - window_ms;
        let fired = self.transaction(Priority::Background, |tx| {
            tx.execute(
                "INSERT INTO alert_firings (id, alert_id, kind, subject, slot, fired_at_ms, body, status, attempts,
                                            next_attempt_at_ms)
                 SELECT CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS TEXT), CAST(?4 AS TEXT), CAST(?5 AS BIGINT),
                        CAST(?6 AS BIGINT), CAST(?7 AS TEXT), 'pending', 0, CAST(?6 AS BIGINT)
                 WHERE NOT EXISTS (SELECT 1 FROM alert_firings
                                   WHERE alert_id = ?2 AND kind = ?3 AND subject = ?4 AND fired_at_ms > ?8)
                 ON CONFLICT DO NOTHING",
                args![
                    message.id,
                    message.alert_id,
                    message.kind,
                    message.subject,
                    slot,
                    message.fired_at_ms,
                    message.body,
                    since
                ],
            )
        })?;
        Ok(fired == 1)
    }

    /// Pending messages due at `now_ms`, soonest first, at most `limit`.
    pub fn due_alert_messages(&self, now_ms: i64, limit: u32) -> Result<Vec<Message>, StoreError> {
        self.with(|db| {
            db.query_map(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM alert_firings
                     WHERE status = 'pending' AND next_attempt_at_ms <= ?1 ORDER BY next_attempt_at_ms LIMIT ?2"
                ),
                args![now_ms, i64::from(limit)],
                message_of,
            )
        })
    }

    /// Claim `message` for one try until `lease_until_ms`: false if another node claimed it
    /// first (its due time moved).
    pub fn claim_alert_message(&self, message: &Message, lease_until_ms: i64) -> Result<bool, StoreError> {
        let claimed = self.transaction(Priority::Background, |tx| {
            tx.execute(
                "UPDATE alert_firings SET next_attempt_at_ms = ?3
                 WHERE id = ?1 AND status = 'pending' AND next_attempt_at_ms = ?2",
                args![message.fired.id, message.next_attempt_at_ms, lease_until_ms],
            )
        })?;
        Ok(claimed == 1)
    }

    /// Record how a try of message `id` ended at `now_ms`.
    pub fn alert_message_tried(&self, id: &AlertMessageId, tried: &Tried, now_ms: i64) -> Result<(), StoreError> {
        let (status, next, error, delivered) = match tried {
            Tried::Delivered => (MessageStatus::Delivered, now_ms, None, Some(now_ms)),
            Tried::Retry(at, why) => (MessageStatus::Pending, *at, Some(why.as_str()), None),
            Tried::Failed(why) => (MessageStatus::Failed, now_ms, Some(why.as_str()), None),
        };
        self.transaction(Priority::Background, |tx| {
            tx.execute(
                "UPDATE alert_firings SET status = ?2, attempts = attempts + 1, next_attempt_at_ms = ?3,
                     last_error = ?4, delivered_at_ms = ?5
                 WHERE id = ?1",
                args![id, status, next, error, delivered],
            )
        })?;
        Ok(())
    }

    /// `alert`'s latest messages, newest first, at most `limit`.
    pub fn alert_messages(&self, alert: &AlertId, limit: u32) -> Result<Vec<Message>, StoreError> {
        self.with(|db| {
            db.query_map(
                &format!(
                    "SELECT {MESSAGE_COLUMNS} FROM alert_firings WHERE alert_id = ?1
                     ORDER BY fired_at_ms DESC, id DESC LIMIT ?2"
                ),
                args![alert, i64::from(limit)],
                message_of,
            )
        })
    }

    /// Delete the messages that fired before `before_ms` and are no longer pending; how many.
    pub fn prune_alert_messages(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.transaction(Priority::Background, |tx| {
            tx.execute("DELETE FROM alert_firings WHERE fired_at_ms < ?1 AND status != 'pending'", args![before_ms])
        })
    }
}
