//! The pipeline worker: drains `accepted` events (those left by a crash included) batch by
//! batch, and wakes as soon as ingest commits new ones.
//!
//! Per batch: settings are read once, coerce and transform run on a bounded pool of
//! threads, then the events' matches, enrollments and statuses commit a few dozen per
//! transaction.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use super::config::{BatchConfig, PluginCache};
use super::{conclude, pool, prepare};
use crate::ingest::backlog::{Backlog, RecountClock};
use crate::plugins::PluginEngine;
use crate::store::events::{Finished, StoredEvent};
use crate::store::{Store, StoreError};

/// How long an idle worker waits before looking again without a wake-up.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Longest wait between retries while the store keeps refusing a batch (a disk that stays
/// full or read-only): retrying is cheap but its log line is not.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

/// Most events taken (settings read once, plugins fanned out) at a time.
const BATCH: u32 = 256;

/// Events per commit. The write lock is the one thing the worker and ingest share: a short
/// hold lets a waiting ingest group in between two commits (see `store::gate`).
const COMMIT_EVERY: usize = 32;

/// Wakes the worker; cheap to clone, never blocks (wake-ups coalesce).
#[derive(Clone)]
pub struct Waker(SyncSender<()>);

impl Waker {
    /// A waker for the thread reading the other end of `channel` (capacity 1).
    pub fn new(channel: SyncSender<()>) -> Waker {
        Waker(channel)
    }

    /// Say there is work.
    pub fn wake(&self) {
        let _ = self.0.try_send(());
    }
}

/// Threads for the CPU phase when not configured: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Start the worker; `threads` bounds how many OS threads run plugins at once. It stops
/// when every [`Waker`] is dropped.
/// `act` is woken after each batch (new enrollments may have steps to run).
/// `backlog` is told what the worker finishes, and recounted now and then.
pub fn spawn(
    store: Arc<Store>,
    engine: Arc<PluginEngine>,
    threads: usize,
    act: Waker,
    backlog: Arc<Backlog>,
) -> std::io::Result<Waker> {
    let (tx, rx) = sync_channel(1);
    std::thread::Builder::new()
        .name("wasmhook-pipeline".into())
        .spawn(move || run(&store, &engine, threads, &rx, &act, &backlog))?;
    Ok(Waker(tx))
}

/// Nice value of the threads that run plugins.
const NICENESS: libc::c_int = 10;

/// Lower the calling thread's scheduling priority. Under a flood, acknowledging (short,
/// latency-bound) then gets the CPU before plugin work (long, throughput-bound), which
/// catches up as soon as the flood eases. Only the pool's threads do this: the thread that
/// holds the write lock for a batch's commit keeps normal priority, or ingest would wait
/// for the lock behind a thread the scheduler keeps off the CPU.
fn yield_cpu_to_ingest() {
    // SAFETY: setpriority only reads its integer arguments; who = 0 with PRIO_PROCESS
    // means the calling thread on Linux.
    let failed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, NICENESS) } != 0;
    if failed {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not lower a pipeline thread's priority");
    }
}

fn run(store: &Store, engine: &PluginEngine, threads: usize, wake: &Receiver<()>, act: &Waker, backlog: &Backlog) {
    let cache = PluginCache::default();
    let mut recount = RecountClock::default();
    let mut retry_delay = IDLE_POLL;
    loop {
        let events = match store.next_accepted(BATCH) {
            Ok(events) => events,
            Err(e) => {
                tracing::error!(error = %e, "cannot read accepted events; retrying");
                Vec::new()
            }
        };
        if recount.due(events.is_empty())
            && let Err(e) = backlog.recount(store)
        {
            tracing::error!(error = %e, "cannot count the backlog");
        }
        if events.is_empty() {
            match wake.recv_timeout(IDLE_POLL) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let processed = contain_panics(
            &events,
            |part| process_batch(store, engine, &cache, threads, part),
            |event, why| fail_internal(store, event, why),
        );
        match processed {
            Ok(()) => {
                backlog.finished(events.len() as u64);
                retry_delay = IDLE_POLL;
            }
            Err(e) => {
                // Nothing of the batch committed: its events stay `accepted` and are retried.
                tracing::error!(error = %e, events = events.len(), retry_in_ms = retry_delay.as_millis() as u64, "a batch hit a storage error; retrying");
                std::thread::sleep(retry_delay);
                retry_delay = (retry_delay * 2).min(MAX_RETRY_DELAY);
            }
        }
        act.wake();
    }
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

/// The text a panic carried, for a failure reason.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// Give an event that crashed its processing a visible end, instead of retrying it forever.
fn fail_internal(store: &Store, event: &StoredEvent, why: String) -> Result<(), StoreError> {
    let done = Finished {
        status: "failed",
        stage: Some("internal"),
        reason: Some(format!(
            "wasmhook hit an internal error processing this event ({why}); the event is kept and can be replayed"
        )),
        detail: "{}".into(),
        matched_record_id: None,
    };
    store.batch(|batch| batch.finish_event(&event.id, &done))
}

/// Process `events` and commit their outcomes together.
pub fn process_batch(
    store: &Store,
    engine: &PluginEngine,
    cache: &PluginCache,
    threads: usize,
    events: &[StoredEvent],
) -> Result<(), StoreError> {
    let config = BatchConfig::load(store, engine, cache, events)?;
    let prepared = pool::map_parallel(threads, events, yield_cpu_to_ingest, |event| prepare(engine, &config, event));
    let mut prepared = prepared.into_iter();
    for part in events.chunks(COMMIT_EVERY) {
        store.batch(|batch| {
            for (event, prepared) in part.iter().zip(prepared.by_ref()) {
                let done = conclude(batch, &config, event, prepared)?;
                batch.finish_event(&event.id, &done)?;
                tracing::debug!(event = %event.id, status = done.status, "event processed");
            }
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::contain_panics;
    use crate::store::events::StoredEvent;

    fn event(id: &str) -> StoredEvent {
        StoredEvent {
            id: id.into(),
            webhook_id: "wh".into(),
            received_at_ms: 0,
            status: "accepted".into(),
            stage: None,
            reason: None,
            payload: Vec::new(),
            detail: None,
            matched_record_id: None,
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
