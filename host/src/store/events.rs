//! Received deliveries: every payload becomes an event with a visible status, committed
//! before the sender hears 202.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::gate::Priority;
use super::sql::{ROWS_PER_ARRAY, Row, Sql, ToArg, args, execute_rows};
use super::webhooks::token_hash;
use super::{Store, StoreError};
use crate::model::event::EventStatus;
use crate::model::ids::{EventId, RecordId, WebhookId};
use crate::model::webhook::{Dedup, WebhookState};

/// A stored event.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// `evt_...`, time-ordered.
    pub id: EventId,
    /// The webhook that received it.
    pub webhook_id: WebhookId,
    /// Received-at, unix ms.
    pub received_at_ms: i64,
    /// Where it is on its way.
    pub status: EventStatus,
    /// The stage that failed, if any.
    pub stage: Option<String>,
    /// Why it has this status, for people.
    pub reason: Option<String>,
    /// The payload as received (one element of a batch).
    pub payload: Vec<u8>,
    /// What processing produced (properties per stage, trace, enrollments), as JSON.
    pub detail: Option<String>,
    /// The record the event matched.
    pub matched_record_id: Option<RecordId>,
    /// The id of the HTTP request that delivered it.
    pub request_id: Option<String>,
}

/// How processing ended for one event.
#[derive(Debug, Clone)]
pub struct Finished<'a> {
    /// The final status.
    pub status: EventStatus,
    /// The failing stage, if any.
    pub stage: Option<&'a str>,
    /// Why, for people.
    pub reason: Option<String>,
    /// Per-stage detail as JSON.
    pub detail: String,
    /// The matched record.
    pub matched_record_id: Option<RecordId>,
}

/// The columns [`event`] reads, in its order (a macro, so `concat!` can use it).
macro_rules! event_columns {
    () => {
        "id, webhook_id, received_at_ms, status, stage, reason, payload, detail_json, matched_record_id, request_id"
    };
}

const EVENT_COLUMNS: &str = event_columns!();

const SELECT_EVENT: &str = concat!("SELECT ", event_columns!(), " FROM events");

/// What ingest stored for one payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The new event's id.
    pub event_id: EventId,
    /// Its status.
    pub status: EventStatus,
    /// Its webhook.
    pub webhook_id: WebhookId,
}

/// Filters for listing events; `cursor` is the last id of the previous page.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only this webhook's events.
    pub webhook: Option<WebhookId>,
    /// Only events with this status.
    pub status: Option<EventStatus>,
    /// Only events matched to this record (the partial index `events_by_record`).
    pub record: Option<RecordId>,
    /// Page size.
    pub limit: u32,
    /// Events with ids after this one (newest first, so: older than this one).
    pub cursor: Option<EventId>,
    /// Instead, events with ids above this one, oldest first (following the log).
    pub since: Option<EventId>,
}

impl Store {
    /// Commit many requests' payloads as events in one transaction: one fsync for all of
    /// them (group commit). The first payload a webhook receives while
    /// `awaiting_test_event` becomes its test event; payloads for a webhook still being set
    /// up are kept as `not_ready`; a payload whose delivery id was seen before is kept as
    /// `duplicate` and answered with the original event's id. Per request: `None` means an
    /// unknown or deleted token.
    pub fn ingest_many(&self, jobs: Vec<IngestJob>) -> Result<Vec<Option<Vec<Receipt>>>, StoreError> {
        if let super::Db::Postgres(pg) = &self.db {
            // The webhooks first (lately looked-up ones from memory), each read committing by itself. Unless one waits for its
            // test event (its capture must commit with the event), the group's events then go
            // in one statement committing alone: one round trip and the WAL flush, where a
            // transaction took four to six (BEGIN, the reads, an insert per chunk, COMMIT).
            let known = self.with(|db| Known::read(db, &jobs, &pg.targets))?;
            if !known.capturing() {
                let Admitted { answers, rows } = self.with(|db| admit_group(&mut known.reading(db), jobs))?;
                if rows.len() <= ROWS_PER_ARRAY {
                    self.with(|db| insert_events(db, &rows, ""))?;
                } else {
                    self.transaction(Priority::Ingest, |tx| insert_events(tx, &rows, ""))?;
                }
                return Ok(answers);
            }
        }
        self.transaction(Priority::Ingest, |tx| {
            let Admitted { answers, rows } = admit_group(&mut InTransaction(tx), jobs)?;
            insert_events(tx, &rows, "")?;
            Ok(answers)
        })
    }

    /// The oldest events waiting for the pipeline, read without claiming them (`wasmhook-bench match`).
    pub fn next_accepted(&self, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        self.with(|db| {
            db.query_map(&format!("{SELECT_EVENT} WHERE status = 'accepted' ORDER BY id LIMIT ?1"), args![limit], event)
        })
    }

    /// The webhooks that have events waiting for the pipeline.
    pub fn webhooks_waiting(&self) -> Result<Vec<WebhookId>, StoreError> {
        self.with(|db| {
            // One index seek per webhook (a skip scan of `events_waiting`), however long the
            // backlog. Each step is written `ORDER BY … LIMIT 1`, not `min()`: PostgreSQL
            // planned the first `min()` as an aggregate over the whole index (20,000 entries
            // and 2.9 ms a call in the nodes bench, where the seek reads one and takes 0.15 ms).
            let hint = db.dialect().indexed_by("events_waiting");
            db.query_map(
                &format!(
                    "WITH RECURSIVE w(id) AS (
                        SELECT (SELECT webhook_id FROM events {hint} WHERE status = 'accepted'
                                ORDER BY webhook_id LIMIT 1)
                        UNION ALL
                        SELECT (SELECT webhook_id FROM events {hint} WHERE status = 'accepted' AND webhook_id > w.id
                                ORDER BY webhook_id LIMIT 1)
                        FROM w WHERE w.id IS NOT NULL
                    ) SELECT id FROM w WHERE id IS NOT NULL"
                ),
                &[],
                |mut row| row.get(0),
            )
        })
    }

    /// The oldest events of one webhook waiting for the pipeline. On PostgreSQL they are
    /// claimed for this node: other nodes skip them (`SKIP LOCKED` while the claim is
    /// being taken, the lease after) until the lease runs out, so a node that dies
    /// mid-batch leaves its events to the others. Its own claims a node may take again.
    pub fn next_accepted_of(&self, webhook_id: &WebhookId, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
        let Some(claim) = self.claim() else {
            return self.with(|db| {
                let hint = db.dialect().indexed_by("events_waiting");
                db.query_map(
                    &format!(
                        "{SELECT_EVENT} {hint} WHERE webhook_id = ?1 AND status = 'accepted' ORDER BY id LIMIT ?2"
                    ),
                    args![webhook_id, limit],
                    event,
                )
            });
        };
        let now = crate::model::ids::now_ms();
        let columns = EVENT_COLUMNS.split(", ").map(|c| format!("e.{c}")).collect::<Vec<_>>().join(", ");
        let claimed = self.with(|db| {
            db.query_map(
                &format!(
                    "UPDATE events AS e SET claimed_by = ?3, lease_until_ms = ?4 + ?5
                     FROM (SELECT id, claimed_by AS previous FROM events
                           WHERE webhook_id = ?1 AND status = 'accepted'
                             AND (lease_until_ms IS NULL OR lease_until_ms < ?4 OR claimed_by = ?3)
                           ORDER BY id LIMIT ?2
                           FOR UPDATE SKIP LOCKED) AS claimed
                     WHERE e.id = claimed.id
                     RETURNING {columns}, claimed.previous"
                ),
                args![webhook_id, limit, claim.node, now, claim.lease_ms],
                |mut row| {
                    let previous: Option<String> = row.get(10)?;
                    Ok((event(row)?, previous))
                },
            )
        })?;
        let mut taken_over: HashMap<&str, usize> = HashMap::new();
        for previous in claimed.iter().filter_map(|(_, p)| p.as_deref()).filter(|p| *p != claim.node) {
            *taken_over.entry(previous).or_default() += 1;
        }
        for (node, events) in taken_over {
            tracing::info!(from = node, events, webhook = %webhook_id, "took over events whose claim ran out");
        }
        Ok(claimed.into_iter().map(|(event, _)| event).collect())
    }

    /// How many events wait for the pipeline.
    pub fn count_accepted(&self) -> Result<u64, StoreError> {
        let n: i64 = self.with(|db| db.value("SELECT count(*) FROM events WHERE status = 'accepted'", &[]))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Queue one event again for the pipeline; false if there is no such event.
    pub fn requeue(&self, id: &EventId) -> Result<bool, StoreError> {
        let changed = self.with(|db| {
            db.execute("UPDATE events SET status = 'accepted', stage = NULL, reason = NULL WHERE id = ?1", args![id])
        })?;
        Ok(changed == 1)
    }

    /// Queue again every event of a webhook and/or status; returns how many.
    pub fn requeue_matching(
        &self,
        webhook: Option<&WebhookId>,
        status: Option<EventStatus>,
    ) -> Result<usize, StoreError> {
        let changed = self.with(|db| {
            db.execute(
                "UPDATE events SET status = 'accepted', stage = NULL, reason = NULL
                 WHERE (?1 IS NULL OR webhook_id = ?1) AND (?2 IS NULL OR status = ?2) AND status != 'accepted'",
                args![webhook.map(WebhookId::as_str), status.map(EventStatus::as_str)],
            )
        })?;
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    /// One event by id.
    pub fn event(&self, id: &EventId) -> Result<Option<StoredEvent>, StoreError> {
        self.with(|db| db.query_opt(&format!("{SELECT_EVENT} WHERE id = ?1"), args![id])?.map(event).transpose())
    }

    /// Events newest first, filtered and paged.
    pub fn list_events(&self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let (bound, order) = match &filter.since {
            Some(since) => (Some(since.as_str()), "id > ?3 ORDER BY id ASC"),
            None => (filter.cursor.as_ref().map(EventId::as_str), "(?3 IS NULL OR id < ?3) ORDER BY id DESC"),
        };
        // A record's events are a range of their own index; `?5 IS NULL OR …` would keep
        // the planners from it.
        let record = if filter.record.is_some() { "matched_record_id = ?5" } else { "?5 IS NULL" };
        self.with(|db| {
            db.query_map(
                &format!(
                    "{SELECT_EVENT}
                     WHERE {record}
                       AND (?1 IS NULL OR webhook_id = ?1)
                       AND (?2 IS NULL OR status = ?2)
                       AND {order} LIMIT ?4"
                ),
                args![
                    filter.webhook.as_ref().map(WebhookId::as_str),
                    filter.status.map(EventStatus::as_str),
                    bound,
                    filter.limit,
                    filter.record.as_ref().map(RecordId::as_str)
                ],
                event,
            )
        })
    }

    /// The events with these ids (those that exist), in id order: one statement.
    pub fn events_by_ids(&self, ids: &[EventId]) -> Result<Vec<StoredEvent>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = (1..=ids.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        let args: Vec<&dyn ToArg> = ids.iter().map(|id| id as &dyn ToArg).collect();
        self.with(|db| db.query_map(&format!("{SELECT_EVENT} WHERE id IN ({marks}) ORDER BY id"), &args, event))
    }
}

fn event(mut row: Row) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        id: row.get(0)?,
        webhook_id: row.get(1)?,
        received_at_ms: row.get(2)?,
        status: EventStatus::parse(&row.get::<String>(3)?)?,
        stage: row.get(4)?,
        reason: row.get(5)?,
        payload: row.get(6)?,
        detail: row.get(7)?,
        matched_record_id: row.get(8)?,
        request_id: row.get(9)?,
    })
}

/// One request's payloads, as the ingest handler hands them to the writer.
pub struct IngestJob {
    /// The token from the URL.
    pub token: String,
    /// One new event id per payload.
    pub ids: Vec<EventId>,
    /// The payloads (one element of a batch each).
    pub payloads: Vec<Vec<u8>>,
    /// When the request arrived, unix ms.
    pub received_at_ms: i64,
    /// Turns the webhook's dedup setting into one optional delivery id per payload.
    pub delivery_ids: DeliveryIds,
    /// The HTTP request's id (X-Request-Id), stored with each of its events.
    pub request_id: Option<String>,
}

/// Computes one optional delivery id per payload from the webhook's dedup setting.
pub type DeliveryIds = Box<dyn FnOnce(&Dedup, &[Vec<u8>]) -> Vec<Option<String>> + Send>;

/// What ingest needs of a webhook, looked up once per token and group.
#[derive(Debug, Clone)]
pub struct Target {
    /// The webhook.
    pub id: WebhookId,
    /// Its set-up state (decides `accepted`, `not_ready` or the test-event capture).
    pub state: WebhookState,
    /// How it recognises a redelivery.
    pub dedup: Dedup,
}

/// The lookups and the one change ingest's decisions need, answered by a transaction on
/// PostgreSQL and by the database plus what the ingest log holds but the database does
/// not have yet on SQLite.
pub trait Admission {
    /// The live webhook behind `token` (or its predecessor within its grace period).
    fn target(&mut self, token: &str, at_ms: i64) -> Result<Option<Target>, StoreError>;
    /// The event that first came with delivery id `key` to `webhook`, if any.
    fn original(&mut self, webhook: &WebhookId, key: &str) -> Result<Option<EventId>, StoreError>;
    /// Capture `event` as `webhook`'s test event; false if something else captured first.
    fn capture(&mut self, webhook: &WebhookId, event: &EventId) -> Result<bool, StoreError>;
}

/// What one group's decisions produced: an answer per request and the rows to store.
pub struct Admitted {
    /// Per request: its receipts, or `None` for an unknown or deleted token.
    pub answers: Vec<Option<Vec<Receipt>>>,
    /// The events to store, in order.
    pub rows: Vec<NewEvent>,
}

/// Decide every request of a group: the webhook by token, dedup by delivery id, the
/// test-event capture, then `accepted` or `not_ready` by the webhook's state. A redelivery
/// within the group is a duplicate of the first, as it would be of a stored one.
pub fn admit_group(admission: &mut dyn Admission, jobs: Vec<IngestJob>) -> Result<Admitted, StoreError> {
    let mut group = Group::default();
    let answers = jobs.into_iter().map(|job| ingest_one(admission, &mut group, job)).collect::<Result<Vec<_>, _>>()?;
    Ok(Admitted { answers, rows: group.rows })
}

/// What one group commit gathers before it writes: the webhooks looked up, the event rows
/// to insert, and the delivery ids those rows take.
#[derive(Default)]
struct Group {
    webhooks: HashMap<String, Option<Target>>,
    rows: Vec<NewEvent>,
    originals: HashMap<(WebhookId, String), EventId>,
}

/// One event row to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// Its id.
    pub id: EventId,
    /// The webhook that received it.
    pub webhook_id: WebhookId,
    /// When its request arrived, unix ms.
    pub received_at_ms: i64,
    /// As decided at ingest: `accepted`, `not_ready`, `duplicate` or `test_event`.
    pub status: EventStatus,
    /// Why, for people.
    pub reason: Option<String>,
    /// The payload as received.
    pub payload: Vec<u8>,
    /// Its delivery id, when the webhook dedups.
    pub delivery_id: Option<String>,
    /// The HTTP request's id.
    pub request_id: Option<String>,
}

impl NewEvent {
    /// The event as it reads once stored, before the pipeline saw it.
    pub fn stored(self) -> StoredEvent {
        StoredEvent {
            id: self.id,
            webhook_id: self.webhook_id,
            received_at_ms: self.received_at_ms,
            status: self.status,
            stage: None,
            reason: self.reason,
            payload: self.payload,
            detail: None,
            matched_record_id: None,
            request_id: self.request_id,
        }
    }
}

/// How long a node trusts a webhook it looked up for ingest (PostgreSQL), in any state but
/// `awaiting_test_event` (a capture is decided in the transaction that stores it): another
/// node's change to it (deleted, a state moved on or back, a new dedup rule, its token
/// rotated away) reaches this node's ingest within this time, as other ingest settings do through
/// `ingest/refresh.rs`; this node's own changes clear the cache at once. The events of
/// such a moment are not lost: the pipeline reads the webhook again per batch, so they
/// end `not_ready` (a set-up just finished elsewhere: replayable) or `failed` with the
/// reason (docs/deploy.md). Without the cache a group cost two round
/// trips (the lookup, then the insert and its WAL flush).
const TARGET_TRUSTED_MS: i64 = 1_000;

/// Webhooks ingest looked up lately, by the SHA-256 of the token that named them
/// (only a current token: a previous one's grace ends on its own clock), each trusted for
/// [`TARGET_TRUSTED_MS`] (PostgreSQL).
#[derive(Debug, Default)]
pub struct TargetCache(std::sync::Mutex<HashMap<Vec<u8>, (Target, i64)>>);

impl TargetCache {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, (Target, i64)>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The webhook `hash` names, if looked up within its trust at `now_ms`.
    fn get(&self, hash: &[u8], now_ms: i64) -> Option<Target> {
        self.held().get(hash).filter(|(_, until)| *until > now_ms).map(|(target, _)| target.clone())
    }

    fn put(&self, hash: Vec<u8>, target: Target, now_ms: i64) {
        let mut held = self.held();
        // Bounded by the webhooks (at most 100), but tokens rotate: drop what expired.
        if held.len() >= 1024 {
            held.retain(|_, (_, until)| *until > now_ms);
        }
        held.insert(hash, (target, now_ms + TARGET_TRUSTED_MS));
    }

    /// Keep `target`, looked up by a current token, unless it waits for its test event:
    /// whether a delivery is that test event is decided in the transaction that captures it.
    fn offer(&self, hash: Vec<u8>, target: &Target, now_ms: i64) {
        if target.state != WebhookState::AwaitingTestEvent {
            self.put(hash, target.clone(), now_ms);
        }
    }

    /// Forget every webhook (one of them changed on this node).
    pub fn clear(&self) {
        self.held().clear();
    }
}

/// The webhooks a group's tokens name, read before deciding (PostgreSQL).
struct Known(HashMap<String, Option<Target>>);

impl Known {
    /// Each distinct token's webhook, as of its first request in the group: from `cache`
    /// when it was looked up lately and not waiting for its test event, else from the
    /// database.
    fn read(db: &dyn Sql, jobs: &[IngestJob], cache: &TargetCache) -> Result<Known, StoreError> {
        let mut known = HashMap::new();
        for job in jobs {
            if known.contains_key(&job.token) {
                continue;
            }
            let hash = token_hash(&job.token);
            let target = match cache.get(&hash, job.received_at_ms) {
                Some(cached) => Some(cached),
                None => {
                    let (target, current) = find_target_by(db, &hash, job.received_at_ms)?;
                    if let Some(found) = target.as_ref().filter(|_| current) {
                        cache.offer(hash, found, job.received_at_ms);
                    }
                    target
                }
            };
            known.insert(job.token.clone(), target);
        }
        Ok(Known(known))
    }

    /// Whether a webhook waits for its test event (the group must then be one transaction).
    fn capturing(&self) -> bool {
        self.0.values().flatten().any(|t| t.state == WebhookState::AwaitingTestEvent)
    }

    /// Decisions from these webhooks, and from `db` for redeliveries.
    fn reading<'a>(&'a self, db: &'a dyn Sql) -> Prefetched<'a> {
        Prefetched { known: self, db }
    }
}

/// [`Admission`] from webhooks read before (none capturing), each redelivery lookup a
/// statement of its own.
struct Prefetched<'a> {
    known: &'a Known,
    db: &'a dyn Sql,
}

impl Admission for Prefetched<'_> {
    fn target(&mut self, token: &str, at_ms: i64) -> Result<Option<Target>, StoreError> {
        match self.known.0.get(token) {
            Some(target) => Ok(target.clone()),
            None => find_target(self.db, token, at_ms),
        }
    }

    fn original(&mut self, webhook: &WebhookId, key: &str) -> Result<Option<EventId>, StoreError> {
        find_original(self.db, webhook, key)
    }

    fn capture(&mut self, _webhook: &WebhookId, _event: &EventId) -> Result<bool, StoreError> {
        // Only a webhook awaiting its test event captures, and such a group takes the
        // transaction: this would be a bug, refused rather than committed half.
        Err(StoreError::Conflict("a test event capture outside the group's transaction"))
    }
}

/// [`Admission`] inside the group's own transaction (PostgreSQL): the capture is a
/// conditional `UPDATE`, so of two nodes only one captures.
struct InTransaction<'a>(&'a dyn Sql);

impl Admission for InTransaction<'_> {
    fn target(&mut self, token: &str, at_ms: i64) -> Result<Option<Target>, StoreError> {
        find_target(self.0, token, at_ms)
    }

    fn original(&mut self, webhook: &WebhookId, key: &str) -> Result<Option<EventId>, StoreError> {
        find_original(self.0, webhook, key)
    }

    fn capture(&mut self, webhook: &WebhookId, event: &EventId) -> Result<bool, StoreError> {
        capture_test_event(self.0, webhook, event)
    }
}

fn find_target(db: &dyn Sql, token: &str, at_ms: i64) -> Result<Option<Target>, StoreError> {
    Ok(find_target_by(db, &token_hash(token), at_ms)?.0)
}

/// The webhook a token's SHA-256 names at `at_ms`, and whether it is its current token
/// (else a previous one within its grace).
fn find_target_by(db: &dyn Sql, hash: &[u8], at_ms: i64) -> Result<(Option<Target>, bool), StoreError> {
    let found = db.query_opt(
        "SELECT id, state, dedup_json, CASE WHEN token_sha256 = ?1 THEN 1 ELSE 0 END FROM webhooks
         WHERE deleted_at_ms IS NULL AND (token_sha256 = ?1
         OR (previous_token_sha256 = ?1 AND previous_token_expires_ms > ?2))",
        args![hash, at_ms],
    )?;
    match found {
        Some(mut row) => Ok((
            Some(Target {
                id: row.get(0)?,
                state: WebhookState::parse(&row.get::<String>(1)?)?,
                dedup: serde_json::from_str(&row.get::<String>(2)?)?,
            }),
            row.get::<i64>(3)? == 1,
        )),
        None => Ok((None, false)),
    }
}

fn find_original(db: &dyn Sql, webhook: &WebhookId, key: &str) -> Result<Option<EventId>, StoreError> {
    db.value_opt(
        "SELECT id FROM events WHERE webhook_id = ?1 AND delivery_id = ?2 AND status != 'duplicate'",
        args![webhook, key],
    )
}

fn capture_test_event(db: &dyn Sql, webhook: &WebhookId, event: &EventId) -> Result<bool, StoreError> {
    Ok(db.execute(
        "UPDATE webhooks SET test_event_id = ?2, state = 'awaiting_mapping'
         WHERE id = ?1 AND state = 'awaiting_test_event'",
        args![webhook, event],
    )? == 1)
}

impl Store {
    /// Forget the webhooks ingest trusts from memory (PostgreSQL): one changed on this node.
    pub fn forget_ingest_targets(&self) {
        if let super::Db::Postgres(pg) = &self.db {
            pg.targets.clear();
        }
    }

    /// [`Admission::target`] read from the database, outside any transaction.
    pub fn ingest_target(&self, token: &str, at_ms: i64) -> Result<Option<Target>, StoreError> {
        self.with(|db| find_target(db, token, at_ms))
    }

    /// [`Admission::original`] read from the database, outside any transaction.
    pub fn original_delivery(&self, webhook: &WebhookId, key: &str) -> Result<Option<EventId>, StoreError> {
        self.with(|db| find_original(db, webhook, key))
    }

    /// The last ingest-log group the database has (0 before the first).
    pub fn log_applied(&self) -> Result<u64, StoreError> {
        let seq: Option<i64> = self.with(|db| db.value_opt("SELECT seq FROM ingest_log_applied WHERE id = 1", &[]))?;
        Ok(seq.and_then(|s| u64::try_from(s).ok()).unwrap_or(0))
    }

    /// Store logged groups in one transaction with the position they reach, so a group is
    /// in the database exactly when the position says so; rows already there (same id) are
    /// left as they are. `durable` commits with a full fsync: a reclaim of the log's
    /// segments follows, and they must not go before the rows they held are on disk.
    pub fn apply_logged(&self, groups: &[&super::ingest_log::LoggedGroup], durable: bool) -> Result<(), StoreError> {
        self.apply_logged_batch(groups, durable, |_| Ok(()))
    }
}

/// The groups' rows and the position they reach, written in `tx`.
pub(super) fn apply_groups(tx: &dyn Sql, groups: &[&super::ingest_log::LoggedGroup]) -> Result<(), StoreError> {
    let Some(last) = groups.last() else {
        return Ok(());
    };
    let seq = i64::try_from(last.seq).unwrap_or(i64::MAX);
    for group in groups {
        insert_events(tx, &group.events, " ON CONFLICT (id) DO NOTHING")?;
        for event in group.events.iter().filter(|e| e.status == EventStatus::TestEvent) {
            capture_test_event(tx, &event.webhook_id, &event.id)?;
        }
    }
    tx.execute(
        "INSERT INTO ingest_log_applied (id, seq) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
        args![seq],
    )?;
    Ok(())
}

/// Apply logged groups to a database file that is not the server's (a backup's copy).
pub fn apply_logged_to(
    conn: &rusqlite::Connection,
    groups: &[&super::ingest_log::LoggedGroup],
) -> Result<(), StoreError> {
    super::sqlite::in_transaction(conn, |tx| apply_groups(tx, groups))
}

/// `INSERT INTO events` of the rows `rows` gives (a [`RowSource`](super::sql::RowSource) query).
fn insert_statement(rows: &str, suffix: &str) -> String {
    format!(
        "INSERT INTO events (id, webhook_id, received_at_ms, status, reason, payload, delivery_id, request_id)
         {rows}{suffix}"
    )
}

/// An event row's arguments, in [`insert_statement`]'s column order.
fn event_fields(row: &NewEvent) -> [&dyn ToArg; 8] {
    [
        &row.id,
        &row.webhook_id,
        &row.received_at_ms,
        &row.status,
        &row.reason,
        &row.payload,
        &row.delivery_id,
        &row.request_id,
    ]
}

fn insert_events(tx: &dyn Sql, rows: &[NewEvent], suffix: &str) -> Result<(), StoreError> {
    execute_rows(tx, rows, |rows| insert_statement(rows, suffix), event_fields)?;
    Ok(())
}

fn ingest_one(
    admission: &mut dyn Admission,
    group: &mut Group,
    job: IngestJob,
) -> Result<Option<Vec<Receipt>>, StoreError> {
    let IngestJob { token, ids, payloads, received_at_ms, delivery_ids, request_id } = job;
    let target = match group.webhooks.entry(token) {
        Entry::Occupied(known) => known.into_mut(),
        Entry::Vacant(new) => {
            let found = admission.target(new.key(), received_at_ms)?;
            new.insert(found)
        }
    };
    let Some(Target { id, state, dedup }) = target else {
        return Ok(None);
    };
    let webhook_id: &WebhookId = id;
    let keys = delivery_ids(dedup, &payloads);
    let mut capture_test_event = *state == WebhookState::AwaitingTestEvent;
    let mut receipts = Vec::with_capacity(payloads.len());
    let row = |id: &EventId, status, reason, payload, delivery_id| NewEvent {
        id: id.clone(),
        webhook_id: webhook_id.clone(),
        received_at_ms,
        status,
        reason,
        payload,
        delivery_id,
        request_id: request_id.clone(),
    };
    for (index, (id, payload)) in ids.iter().zip(payloads).enumerate() {
        let key = keys.get(index).cloned().flatten();
        if let Some(key) = &key {
            let seen: Option<EventId> = match group.originals.get(&(webhook_id.clone(), key.clone())) {
                Some(first) => Some(first.clone()),
                None => admission.original(webhook_id, key)?,
            };
            if let Some(first) = seen {
                let reason = format!("duplicate of {first} (delivery id {key:?})");
                group.rows.push(row(id, EventStatus::Duplicate, Some(reason), payload, Some(key.clone())));
                receipts.push(Receipt {
                    event_id: first,
                    status: EventStatus::Duplicate,
                    webhook_id: webhook_id.clone(),
                });
                continue;
            }
            group.originals.insert((webhook_id.clone(), key.clone()), id.clone());
        }
        // Only the request that moves the webhook on captures: on PostgreSQL another node
        // may have captured meanwhile, and its commit makes this capture change nothing.
        let captured = capture_test_event && admission.capture(webhook_id, id)?;
        if capture_test_event {
            capture_test_event = false;
            // Later requests of this group see the state the capture left.
            *state = WebhookState::AwaitingMapping;
        }
        let (status, reason) = if captured {
            (EventStatus::TestEvent, Some("captured as the webhook's test event".to_string()))
        } else {
            state.admit()
        };
        group.rows.push(row(id, status, reason, payload, key));
        receipts.push(Receipt { event_id: id.clone(), status, webhook_id: webhook_id.clone() });
    }
    Ok(Some(receipts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_is_trusted_for_a_second_and_forgotten_on_a_change() {
        let cache = TargetCache::default();
        let target = Target { id: WebhookId::from_text("wh_a"), state: WebhookState::Ready, dedup: Dedup::default() };
        cache.put(b"hash".to_vec(), target, 1_000);
        assert!(cache.get(b"hash", 1_999).is_some_and(|t| t.id == "wh_a"));
        assert!(cache.get(b"hash", 2_000).is_none(), "trusted for TARGET_TRUSTED_MS only");
        assert!(cache.get(b"other", 1_500).is_none());
        cache.put(b"hash".to_vec(), cache_target(), 5_000);
        cache.clear();
        assert!(cache.get(b"hash", 5_001).is_none(), "a change on this node forgets at once");
    }

    #[test]
    fn a_webhook_waiting_for_its_test_event_is_never_kept() {
        let cache = TargetCache::default();
        let mut target = cache_target();
        for state in [WebhookState::AwaitingMapping, WebhookState::AwaitingMatch, WebhookState::Ready] {
            target.state = state;
            cache.offer(b"hash".to_vec(), &target, 1_000);
            assert_eq!(cache.get(b"hash", 1_001).map(|t| t.state), Some(state));
        }
        cache.clear();
        target.state = WebhookState::AwaitingTestEvent;
        cache.offer(b"hash".to_vec(), &target, 1_000);
        assert!(cache.get(b"hash", 1_001).is_none(), "its capture is decided in the transaction");
    }

    fn cache_target() -> Target {
        Target { id: WebhookId::from_text("wh_b"), state: WebhookState::Ready, dedup: Dedup::default() }
    }
}
