//! Received deliveries: every payload becomes an event with a visible status, committed
//! before the sender hears 202.

use rusqlite::{OptionalExtension, params};

use super::webhooks::{WebhookState, token_hash};
use super::{Store, StoreError};

/// A stored event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// `evt_...`, time-ordered.
    pub id: String,
    /// The webhook that received it.
    pub webhook_id: String,
    /// Received-at, unix ms.
    pub received_at_ms: i64,
    /// `accepted`, `test_event`, `not_ready`, ...
    pub status: String,
    /// The stage that failed, if any.
    pub stage: Option<String>,
    /// Why it has this status, for people.
    pub reason: Option<String>,
    /// The payload as received (one element of a batch).
    pub payload: Vec<u8>,
}

/// What ingest stored for one payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The new event's id.
    pub event_id: String,
    /// Its status.
    pub status: &'static str,
}

/// Filters for listing events; `cursor` is the last id of the previous page.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this webhook's events.
    pub webhook: Option<String>,
    /// Only events with this status.
    pub status: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Events with ids after this one (newest first, so: older than this one).
    pub cursor: Option<String>,
}

impl Store {
    /// Commit one request's payloads as events, in one transaction. The first payload a
    /// webhook receives while `awaiting_test_event` becomes its test event; payloads for
    /// a webhook still being set up are kept as `not_ready`. `None`: unknown or deleted token.
    pub fn ingest(
        &self,
        token: &str,
        ids: &[String],
        payloads: &[Vec<u8>],
        received_at_ms: i64,
    ) -> Result<Option<Vec<Receipt>>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let webhook: Option<(String, String)> = tx
            .query_row(
                "SELECT id, state FROM webhooks WHERE token_sha256 = ?1 AND deleted_at_ms IS NULL",
                [token_hash(token)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((webhook_id, state)) = webhook else {
            return Ok(None);
        };
        let mut capture_test_event = state == WebhookState::AwaitingTestEvent.as_str();
        let mut receipts = Vec::with_capacity(payloads.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (id, webhook_id, received_at_ms, status, reason, payload)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (id, payload) in ids.iter().zip(payloads) {
                let (status, reason) = if capture_test_event {
                    tx.execute(
                        "UPDATE webhooks SET test_event_id = ?2, state = 'awaiting_mapping' WHERE id = ?1",
                        params![webhook_id, id],
                    )?;
                    capture_test_event = false;
                    (
                        "test_event",
                        Some("captured as the webhook's test event".to_string()),
                    )
                } else if state == WebhookState::Ready.as_str() {
                    ("accepted", None)
                } else {
                    let now = if state == WebhookState::AwaitingTestEvent.as_str() {
                        "awaiting_mapping"
                    } else {
                        &state
                    };
                    (
                        "not_ready",
                        Some(format!(
                            "the webhook is {now}: finish its set-up, then replay this event"
                        )),
                    )
                };
                insert.execute(params![
                    id,
                    webhook_id,
                    received_at_ms,
                    status,
                    reason,
                    payload
                ])?;
                receipts.push(Receipt {
                    event_id: id.clone(),
                    status,
                });
            }
        }
        tx.commit()?;
        Ok(Some(receipts))
    }

    /// One event by id.
    pub fn event(&self, id: &str) -> Result<Option<StoredEvent>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT id, webhook_id, received_at_ms, status, stage, reason, payload FROM events WHERE id = ?1",
                [id],
                row_to_event,
            )
            .optional()?)
    }

    /// Events newest first, filtered and paged.
    pub fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, webhook_id, received_at_ms, status, stage, reason, payload FROM events
             WHERE (?1 IS NULL OR webhook_id = ?1)
               AND (?2 IS NULL OR status = ?2)
               AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![filter.webhook, filter.status, filter.cursor, filter.limit],
            row_to_event,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn row_to_event(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        id: row.get(0)?,
        webhook_id: row.get(1)?,
        received_at_ms: row.get(2)?,
        status: row.get(3)?,
        stage: row.get(4)?,
        reason: row.get(5)?,
        payload: row.get(6)?,
    })
}
