//! What ingest acknowledged (it is in the ingest log) but the database does not have yet:
//! the groups waiting for the applier, and what ingest's next decisions must see of them
//! (delivery ids for dedup, test events captured). Admin reads wait here until the database
//! has caught up with what was acknowledged before they began.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::model::event::EventStatus;
use crate::model::ids::{EventId, WebhookId};
use crate::store::events::NewEvent;
use crate::store::ingest_log::{LoggedGroup, SegmentStart, batch_len};

/// Acknowledged groups not yet in the database, and the decisions they carry.
pub struct Unapplied {
    inner: Mutex<Inner>,
    arrived: Condvar,
    applied: tokio::sync::watch::Sender<u64>,
}

struct Inner {
    groups: VecDeque<Arc<LoggedGroup>>,
    /// Delivery id → the event that first came with it, and its group.
    deliveries: HashMap<(WebhookId, String), (EventId, u64)>,
    /// Webhooks whose test event is in a group not yet applied.
    captured: HashMap<WebhookId, u64>,
    events: usize,
    appended: u64,
    /// The segment being appended to: segments before it may be deleted once the database
    /// has every group before its first.
    newest: SegmentStart,
    closed: bool,
}

impl Unapplied {
    /// Nothing waiting; the database has every group up to `applied`, and the segment being
    /// appended to is `newest`.
    pub fn new(applied: u64, newest: SegmentStart) -> Unapplied {
        let inner = Inner {
            groups: VecDeque::new(),
            deliveries: HashMap::new(),
            captured: HashMap::new(),
            events: 0,
            appended: applied,
            newest,
            closed: false,
        };
        Unapplied {
            inner: Mutex::new(inner),
            arrived: Condvar::new(),
            applied: tokio::sync::watch::Sender::new(applied),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Events acknowledged and not yet in the database.
    pub fn events(&self) -> usize {
        self.lock().events
    }

    /// The event that first came with delivery id `key` to `webhook`, if it is waiting here.
    pub fn original(&self, webhook: &WebhookId, key: &str) -> Option<EventId> {
        self.lock().deliveries.get(&(webhook.clone(), key.to_string())).map(|(id, _)| id.clone())
    }

    /// Whether `webhook`'s test event is waiting here (the database still says it awaits one).
    pub fn captured(&self, webhook: &WebhookId) -> bool {
        self.lock().captured.contains_key(webhook)
    }

    /// A group is in the log (acknowledged); `newest` is the segment it went into.
    pub fn push(&self, group: Arc<LoggedGroup>, newest: SegmentStart) {
        let mut inner = self.lock();
        inner.newest = newest;
        for event in &group.events {
            match (event.status, &event.delivery_id) {
                (EventStatus::Duplicate, _) => {}
                (_, Some(key)) => {
                    inner.deliveries.insert((event.webhook_id.clone(), key.clone()), (event.id.clone(), group.seq));
                }
                _ => {}
            }
            if event.status == EventStatus::TestEvent {
                inner.captured.insert(event.webhook_id.clone(), group.seq);
            }
        }
        inner.events += group.events.len();
        inner.appended = group.seq;
        inner.groups.push_back(group);
        drop(inner);
        self.arrived.notify_one();
    }

    /// The oldest waiting groups, at least one and at most about `max_events` events of
    /// `max_bytes` payload; blocks while none wait. `None` once closed with nothing left.
    pub fn next_batch(&self, max_events: usize, max_bytes: usize) -> Option<Vec<Arc<LoggedGroup>>> {
        let mut inner = self.lock();
        while inner.groups.is_empty() {
            if inner.closed {
                return None;
            }
            inner = self.arrived.wait(inner).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let n = batch_len(inner.groups.iter().map(Arc::as_ref), max_events, max_bytes);
        Some(inner.groups.iter().take(n).cloned().collect())
    }

    /// The database has every group up to `seq`: forget them, and let reads waiting for
    /// them go on.
    pub fn applied(&self, seq: u64) {
        let mut inner = self.lock();
        while inner.groups.front().is_some_and(|g| g.seq <= seq) {
            if let Some(group) = inner.groups.pop_front() {
                inner.events -= group.events.len();
            }
        }
        inner.deliveries.retain(|_, (_, group)| *group > seq);
        inner.captured.retain(|_, group| *group > seq);
        drop(inner);
        self.applied.send_replace(seq);
    }

    /// No more groups will come (the writer stopped).
    pub fn close(&self) {
        self.lock().closed = true;
        self.arrived.notify_all();
    }

    /// The segment being appended to.
    pub fn newest_segment(&self) -> SegmentStart {
        self.lock().newest
    }

    /// A waiting event by id, as ingest decided it.
    pub fn event(&self, id: &EventId) -> Option<NewEvent> {
        let inner = self.lock();
        inner.groups.iter().rev().flat_map(|g| g.events.iter()).find(|e| &e.id == id).cloned()
    }

    /// Wait until the database has every group acknowledged before this call, at most
    /// `timeout`; false if it has not caught up by then (a database that refuses writes).
    pub async fn settled(&self, timeout: Duration) -> bool {
        let target = self.lock().appended;
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(timeout, applied.wait_for(|seq| *seq >= target)).await.is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, status: EventStatus, key: Option<&str>) -> NewEvent {
        NewEvent {
            id: EventId::from_text(id),
            webhook_id: WebhookId::from_text("wh_1"),
            received_at_ms: 0,
            status,
            reason: None,
            payload: b"{}".to_vec(),
            delivery_id: key.map(str::to_string),
            request_id: None,
        }
    }

    #[tokio::test]
    async fn decisions_are_seen_until_applied_and_reads_wait_for_the_database() {
        let segment = |number, first_seq| SegmentStart { number, first_seq };
        let waiting = Arc::new(Unapplied::new(7, segment(0, 8)));
        let wh = WebhookId::from_text("wh_1");
        waiting.push(
            Arc::new(LoggedGroup {
                seq: 8,
                events: vec![
                    event("evt_a", EventStatus::TestEvent, None),
                    event("evt_b", EventStatus::Accepted, Some("k1")),
                    event("evt_c", EventStatus::Duplicate, Some("k1")),
                ],
            }),
            segment(0, 8),
        );
        waiting.push(
            Arc::new(LoggedGroup { seq: 9, events: vec![event("evt_d", EventStatus::Accepted, Some("k2"))] }),
            segment(1, 9),
        );
        assert_eq!(waiting.events(), 4);
        assert!(waiting.captured(&wh));
        assert_eq!(waiting.original(&wh, "k1"), Some(EventId::from_text("evt_b")));
        assert_eq!(waiting.event(&EventId::from_text("evt_d")).map(|e| e.status), Some(EventStatus::Accepted));
        assert_eq!(waiting.newest_segment(), segment(1, 9));
        assert!(!waiting.settled(Duration::from_millis(20)).await, "nothing applied yet");

        let batch = waiting.next_batch(3, 1 << 20).unwrap();
        assert_eq!(batch.iter().map(|g| g.seq).collect::<Vec<_>>(), vec![8], "a batch stays near its size");
        let reader = {
            let waiting = waiting.clone();
            tokio::spawn(async move { waiting.settled(Duration::from_secs(5)).await })
        };
        waiting.applied(8);
        assert!(!waiting.captured(&wh) && waiting.original(&wh, "k1").is_none());
        assert_eq!(waiting.original(&wh, "k2"), Some(EventId::from_text("evt_d")));
        waiting.applied(9);
        assert!(reader.await.unwrap(), "the read went on once the database had group 9");
        assert_eq!(waiting.events(), 0);
        waiting.close();
        assert!(waiting.next_batch(10, 1 << 20).is_none());
    }
}
