//! The pipeline worker: drains `accepted` events (those left by a crash included) batch by
//! batch, and wakes as soon as ingest commits new ones.
//!
//! Per batch: settings are read once, coerce and transform run on a bounded pool of
//! threads, then the events' matches, enrollments and statuses commit a few dozen per
//! transaction.
//!
//! Two lanes drain side by side, each with its own thread and store connection: the fast
//! lane takes webhooks whose events were measured cheap, the slow lane (one plugin thread,
//! a bulkhead) those measured slow and those not measured yet. A webhook whose plugin
//! spends tens of milliseconds per event therefore never holds a cheap webhook's batch
//! open; within a lane, each webhook gets a fair share of the batch (see [`super::fair`]).
//! A webhook is taken by one lane at a time, so no event is processed twice.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::{BatchConfig, TransformPlugins};
use super::fair::{FairShare, Lane};
use super::from_log::FromLog;
use super::{Prepared, conclude, prepare};
use crate::ingest::backlog::{Backlog, RecountClock};
use crate::model::event::EventStatus;
use crate::model::ids::WebhookId;
use crate::plugins::PluginEngine;
use crate::store::batch::Batch;
use crate::store::events::{Finished, StoredEvent};
use crate::store::gate::MAX_BACKGROUND_WAIT;
use crate::store::sql::Dialect;
use crate::store::{Store, StoreError};
use crate::tally::{Counted, Tally, bucket_of};
use crate::work::panic::panic_message;
use crate::work::pool::{self, yield_cpu_to_ingest};
use crate::work::threads::Threads;
use crate::work::waker::Waker;

/// How long an idle worker waits before looking again without a wake-up.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Longest wait between retries while the store keeps refusing a batch (a disk that stays
/// full or read-only): retrying is cheap but its log line is not.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Batches processed again at once after colliding with another node's commit, in a row.
const MAX_COLLISIONS_IN_A_ROW: u32 = 3;

/// Events per commit on SQLite. The write lock is the one thing the worker and ingest share:
/// a short hold lets a waiting ingest group in between two commits (see `store::gate`).
const COMMIT_EVERY: usize = 32;

/// Most events per commit when ingest keeps the write gate busy (about 10 ms of lock).
const MAX_COMMIT: usize = 256;

/// Plugin threads of the slow lane: however many slow webhooks there are, they share it.
const SLOW_LANE_THREADS: usize = 1;

/// Threads for the CPU phase when not configured: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// What both lanes (and the ingest log's applier, through [`FromLog`]) share.
pub(super) struct Shared {
    pub(super) engine: Arc<PluginEngine>,
    /// Compiled plugins and their breakers: a webhook moving lanes keeps its breaker.
    pub(super) plugins: TransformPlugins,
    share: Mutex<FairShare>,
    /// Webhooks a lane is processing a batch of (the applier needs none: the events it
    /// processes are not stored yet, so no lane can take them).
    taken: Mutex<HashSet<WebhookId>>,
    pub(super) act: Waker,
    pub(super) backlog: Arc<Backlog>,
    /// Where outcomes are counted per minute (the dashboard, the alerts).
    pub(super) tally: Arc<Tally>,
}

impl Shared {
    fn share(&self) -> std::sync::MutexGuard<'_, FairShare> {
        self.share.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What processing `events` cost (their CPU phases, `None` if not started): it sets
    /// each webhook's share of later batches and its lane.
    pub(super) fn observe(&self, events: &[StoredEvent], costs: Vec<Option<Duration>>) {
        self.share().observe_batch(events.iter().zip(costs).filter_map(|(e, cost)| Some((&e.webhook_id, cost?))));
    }

    /// Count the transform breakers that opened during a batch.
    pub(super) fn tally_openings(&self) {
        let now = crate::model::ids::now_ms();
        for (webhook, n) in self.plugins.breakers.take_opened() {
            self.tally.add(&webhook, now, Counted::BreakerOpened, n);
        }
    }

    /// Whether `webhook` was measured cheap (see [`FairShare::measured_cheap`]).
    pub(super) fn measured_cheap(&self, webhook: &WebhookId) -> bool {
        self.share().measured_cheap(webhook)
    }
}

/// Start the worker; `threads` bounds how many OS threads run cheap webhooks' plugins at
/// once (the slow lane adds one). It stops when every [`Waker`] is dropped.
/// `act` is woken after each batch (new enrollments may have steps to run).
/// `backlog` is told what the worker finishes, and recounted now and then; `tally` counts
/// each outcome. Also returns the way the ingest log's applier stores events processed (SQLite).
pub fn spawn(
    store: Arc<Store>,
    engine: Arc<PluginEngine>,
    threads: usize,
    act: Waker,
    backlog: Arc<Backlog>,
    tally: Arc<Tally>,
    node: &Threads,
) -> std::io::Result<(Waker, FromLog)> {
    let slow_store = store.worker_connection().map_err(std::io::Error::other)?;
    let shared = Arc::new(Shared {
        engine,
        plugins: TransformPlugins::default(),
        share: Mutex::default(),
        taken: Mutex::default(),
        act,
        backlog,
        tally,
    });
    let (fast_tx, fast_rx) = sync_channel(1);
    let (slow_tx, slow_rx) = sync_channel(1);
    let (fast, fast_node, slow_node) = (shared.clone(), node.clone(), node.clone());
    let shared_for_log = shared.clone();
    node.spawn("wasmhook-pipeline", move || run(Lane::Fast, &store, &fast, threads, &fast_rx, &fast_node))?;
    node.spawn("wasmhook-pipeline-slow", move || {
        run(Lane::Slow, &slow_store, &shared, SLOW_LANE_THREADS, &slow_rx, &slow_node)
    })?;
    let from_log = FromLog::new(shared_for_log, threads);
    Ok((Waker::of(vec![fast_tx, slow_tx]), from_log))
}

fn run(lane: Lane, store: &Store, shared: &Shared, threads: usize, wake: &Receiver<()>, node: &Threads) {
    let mut recount = RecountClock::default();
    let mut retry_delay = IDLE_POLL;
    let mut collisions = 0;
    // Stopping leaves what is not processed `accepted`: the next start drains it.
    while !node.stopping() {
        let (events, taken, budget) = match next_batch(lane, store, shared, threads) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "cannot read accepted events; retrying");
                (Vec::new(), Taken::none(shared), None)
            }
        };
        // One lane recounts; both would only double the count queries.
        if lane == Lane::Fast
            && recount.due(events.is_empty())
            && let Err(e) = shared.backlog.recount(store)
        {
            tracing::error!(error = %e, "cannot count the backlog");
        }
        if events.is_empty() {
            drop(taken);
            match wake.recv_timeout(IDLE_POLL) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let finished = Cell::new(0u64);
        let processed = contain_panics(
            &events,
            |part| {
                let costs =
                    process_batch(store, &shared.engine, &shared.plugins, &shared.tally, threads, part, budget)?;
                finished.set(finished.get() + costs.iter().flatten().count() as u64);
                shared.observe(part, costs);
                Ok(())
            },
            |event, why| fail_internal(store, &shared.tally, event, why),
        );
        shared.tally_openings();
        drop(taken);
        match processed {
            Ok(()) => {
                shared.backlog.finished(finished.get());
                retry_delay = IDLE_POLL;
                collisions = 0;
            }
            // Another node's commit collided with this batch's enrollments: processed again
            // at once, it reads what that node committed (a few times in a row at most; then
            // as any other error, so a collision that keeps coming cannot spin).
            Err(StoreError::Conflict(what)) if collisions < MAX_COLLISIONS_IN_A_ROW => {
                collisions += 1;
                tracing::debug!(what, "a batch collided with another node's; again");
            }
            Err(e) => {
                // What did not commit stays `accepted` and is retried (the backlog gauge
                // over-counts until its next recount, never under-counts).
                tracing::error!(error = %e, events = events.len(), retry_in_ms = retry_delay.as_millis() as u64, "a batch hit a storage error; retrying");
                node.sleep(retry_delay);
                retry_delay = (retry_delay * 2).min(MAX_RETRY_DELAY);
            }
        }
        shared.act.wake();
    }
}

/// Webhooks a lane has taken for its current batch; given back on drop (a panic or a
/// storage error included).
struct Taken<'a> {
    shared: &'a Shared,
    webhooks: Vec<WebhookId>,
}

impl<'a> Taken<'a> {
    fn none(shared: &'a Shared) -> Taken<'a> {
        Taken { shared, webhooks: Vec::new() }
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        let mut taken = self.shared.taken.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for webhook in &self.webhooks {
            taken.remove(webhook);
        }
    }
}

/// The lane's next batch: a fair share of the waiting events of each webhook in this lane
/// that the other lane is not processing, oldest first; and each webhook's time budget.
fn next_batch<'a>(
    lane: Lane,
    store: &Store,
    shared: &'a Shared,
    threads: usize,
) -> Result<(Vec<StoredEvent>, Taken<'a>, Option<Duration>), StoreError> {
    let waiting = store.webhooks_waiting()?;
    let quotas = {
        let share = shared.share();
        let mut taken = shared.taken.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mine: Vec<WebhookId> =
            waiting.into_iter().filter(|w| share.lane(w) == lane && !taken.contains(w)).collect();
        taken.extend(mine.iter().cloned());
        share.quotas(&mine, threads)
    };
    let budget = FairShare::budget(quotas.len(), threads);
    let taken = Taken { shared, webhooks: quotas.iter().map(|(w, _)| w.clone()).collect() };
    let mut events = Vec::new();
    for (webhook, quota) in &quotas {
        events.extend(store.next_accepted_of(webhook, *quota)?);
    }
    events.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    Ok((events, taken, Some(budget)))
}

/// Run `process` on the whole batch; if it panics (a bug in wasmhook, never a plugin's
/// fault: plugin traps are values), run it on each event alone and hand each one that
/// panics on its own to `fail`, so one bad event neither stops the worker nor holds the
/// others back.
fn contain_panics(
    events: &[StoredEvent],
    process: impl Fn(&[StoredEvent]) -> Result<(), StoreError>,
    fail: impl Fn(&StoredEvent, String) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let attempt = |part: &[StoredEvent]| std::panic::catch_unwind(AssertUnwindSafe(|| process(part)));
    match attempt(events) {
        Ok(result) => result,
        Err(_) => {
            for event in events {
                if let Err(panic) = attempt(std::slice::from_ref(event)) {
                    let message = panic_message(panic.as_ref());
                    tracing::error!(event = %event.id, %message, "processing an event panicked");
                    fail(event, message)?;
                }
            }
            Ok(())
        }
    }
}

/// Give an event that crashed its processing a visible end, instead of retrying it forever.
fn fail_internal(store: &Store, tally: &Tally, event: &StoredEvent, why: String) -> Result<(), StoreError> {
    let done = Finished {
        status: EventStatus::Failed,
        stage: Some("internal"),
        reason: Some(format!(
            "wasmhook hit an internal error processing this event ({why}); the event is kept and can be replayed"
        )),
        detail: "{}".into(),
        matched_record_id: None,
    };
    store.batch(|batch| batch.finish_event(&event.id, &done))?;
    settled_metrics(vec![(event, done.status, 0, Duration::ZERO)], tally);
    Ok(())
}

/// The thread's CPU time (zero if unreadable). An event's cost is measured in it, not in
/// wall time: on a busy machine a cheap event preempted halfway would otherwise look slow.
fn cpu_now() -> Duration {
    crate::cpu_clock::thread_cpu_time().unwrap_or_default()
}

/// Process `events` and commit their outcomes together; the CPU time each event's CPU
/// phase (coerce and transforms) took, in order. With a `budget`, once a webhook's events have
/// spent it in this batch its remaining ones are not started (`None`): they stay
/// `accepted` for the next batch, so a webhook that turned slow holds the batch up by at
/// most one call per thread.
pub fn process_batch(
    store: &Store,
    engine: &PluginEngine,
    plugins: &TransformPlugins,
    tally: &Tally,
    threads: usize,
    events: &[StoredEvent],
    budget: Option<Duration>,
) -> Result<Vec<Option<Duration>>, StoreError> {
    let config = BatchConfig::load(store, engine, plugins, events)?;
    let timed = prepare_all(engine, &config, threads, events, budget);
    let costs = cpu_costs(&timed);
    let mut prepared = timed.into_iter();
    // PostgreSQL has no write lock for ingest to wait on: the batch commits at once (each
    // commit, and each chunk's read-ahead and status statements, is a round trip).
    let whole = store.dialect() == Dialect::Postgres;
    let (mut rest, mut chunk) = (events, if whole { events.len() } else { COMMIT_EVERY });
    while !rest.is_empty() {
        let (part, tail) = rest.split_at(chunk.min(rest.len()));
        let (settled, waited) =
            store.batch_timed(|batch| conclude_all(batch, &config, part.iter().zip(prepared.by_ref())))?;
        settled_metrics(settled, tally);
        // Held back as long as the gate ever holds a background writer: ingest is busy
        // without a pause, so each entry is dear and the next commit takes more events
        // (short commits under a steady load would cap processing at a chunk per wait).
        chunk = if whole {
            chunk
        } else if waited >= MAX_BACKGROUND_WAIT {
            (chunk * 2).min(MAX_COMMIT)
        } else {
            COMMIT_EVERY
        };
        rest = tail;
    }
    Ok(costs)
}

/// An event's CPU phase done, and the CPU time and the wall time it took; `None` if not started.
pub(super) type Timed = Option<(Prepared, Duration, Duration)>;

/// The CPU time each event's CPU phase took (`None`: not started).
pub(super) fn cpu_costs(timed: &[Timed]) -> Vec<Option<Duration>> {
    timed.iter().map(|t| t.as_ref().map(|(_, cpu, _)| *cpu)).collect()
}

/// Coerce and transform `events` on `threads` pool threads; with a `budget`, a webhook's
/// events are not started once its events in this call spent it.
pub(super) fn prepare_all(
    engine: &PluginEngine,
    config: &BatchConfig,
    threads: usize,
    events: &[StoredEvent],
    budget: Option<Duration>,
) -> Vec<Timed> {
    let spent: Mutex<HashMap<WebhookId, Duration>> = Mutex::default();
    let over_budget = |webhook: &WebhookId| {
        let spent = spent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        budget.is_some_and(|budget| spent.get(webhook).is_some_and(|s| *s >= budget))
    };
    pool::map_parallel(threads, events, yield_cpu_to_ingest, |event| {
        if over_budget(&event.webhook_id) {
            return None;
        }
        let (started, cpu_started) = (Instant::now(), cpu_now());
        let prepared = prepare(engine, config, event);
        let took = started.elapsed();
        *spent.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).entry(event.webhook_id.clone()).or_default() +=
            took;
        Some((prepared, cpu_now().saturating_sub(cpu_started), took))
    })
}

/// What one event's processing ended in, once its batch is committed: its status, the
/// enrollments it made, and the time its coerce and transform stage took.
pub(super) type Settled<'e> = (&'e StoredEvent, EventStatus, usize, Duration);

/// Match, enroll and record the final status of each prepared event, in `batch`.
pub(super) fn conclude_all<'e>(
    batch: &Batch<'_>,
    config: &BatchConfig,
    events: impl Iterator<Item = (&'e StoredEvent, Timed)>,
) -> Result<Vec<Settled<'e>>, StoreError> {
    let (events, walls): (Vec<(&StoredEvent, Prepared)>, Vec<Duration>) =
        events.filter_map(|(event, timed)| timed.map(|(prepared, _, wall)| ((event, prepared), wall))).unzip();
    super::read_ahead::read_ahead(batch, config, &events)?;
    let mut settled = Vec::with_capacity(events.len());
    for ((event, prepared), wall) in events.into_iter().zip(walls) {
        let concluded = conclude(batch, config, event, prepared)?;
        batch.finish_event(&event.id, &concluded.finished)?;
        settled.push((event, concluded.finished.status, concluded.enrollments, wall));
    }
    Ok(settled)
}

/// Counted (metrics, and per minute in `tally`) and logged once committed: a rolled-back
/// batch is processed again.
pub(super) fn settled_metrics(settled: Vec<Settled<'_>>, tally: &Tally) {
    let now = crate::model::ids::now_ms();
    let mut counts = Vec::with_capacity(settled.len() * 3);
    for (event, status, enrollments, transform) in settled {
        let latency = Duration::from_millis(u64::try_from(now - event.received_at_ms).unwrap_or(0));
        let subject = event.webhook_id.as_str();
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        counts.extend([
            (subject, Counted::Event(status), 1),
            (subject, Counted::Latency(bucket_of(us(latency))), 1),
            (subject, Counted::Transform(bucket_of(us(transform))), 1),
        ]);
        crate::telemetry::metrics::event_processed(status.as_str(), latency);
        crate::telemetry::metrics::enrollments_started(enrollments);
        tracing::debug!(event_id = %event.id, request_id = event.request_id.as_deref(), status = status.as_str(), "event processed");
    }
    tally.add_all(counts, now);
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::contain_panics;
    use crate::model::ids::{EventId, WebhookId};
    use crate::store::events::StoredEvent;

    fn event(id: &str) -> StoredEvent {
        StoredEvent {
            id: EventId::from_text(id),
            webhook_id: WebhookId::from_text("wh"),
            received_at_ms: 0,
            status: crate::model::event::EventStatus::Accepted,
            stage: None,
            reason: None,
            payload: Vec::new(),
            detail: None,
            matched_record_id: None,
            request_id: None,
        }
    }

    #[test]
    fn a_panicking_event_fails_alone_and_the_rest_are_processed() {
        let events: Vec<_> = ["evt_1", "evt_2", "evt_3"].into_iter().map(event).collect();
        let processed = Mutex::new(Vec::new());
        let failed = Mutex::new(Vec::new());
        let outcome = contain_panics(
            &events,
            |part| {
                assert!(part.iter().all(|e| e.id != "evt_2"), "boom on {}", part.len());
                processed.lock().unwrap().extend(part.iter().map(|e| e.id.clone()));
                Ok(())
            },
            |e, why| {
                failed.lock().unwrap().push((e.id.clone(), why));
                Ok(())
            },
        );
        assert!(outcome.is_ok());
        assert_eq!(*processed.lock().unwrap(), ["evt_1", "evt_3"]);
        let failed = failed.into_inner().unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].0, "evt_2");
        assert!(failed[0].1.contains("boom on 1"), "{failed:?}");
    }
}
