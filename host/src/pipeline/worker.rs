//! The pipeline worker: drains `accepted` events (those left by a crash included) and
//! wakes as soon as ingest commits new ones.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use super::Pipeline;
use crate::plugins::PluginEngine;
use crate::store::Store;

/// How long an idle worker waits before looking again without a wake-up.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Events taken per look.
const BATCH: u32 = 64;

/// Wakes the worker; cheap to clone, never blocks (wake-ups coalesce).
#[derive(Clone)]
pub struct Waker(SyncSender<()>);

impl Waker {
    /// Say there is work.
    pub fn wake(&self) {
        let _ = self.0.try_send(());
    }
}

/// Start the worker thread; it stops when every [`Waker`] is dropped.
pub fn spawn(store: Arc<Store>, engine: Arc<PluginEngine>) -> std::io::Result<Waker> {
    let (tx, rx) = sync_channel(1);
    std::thread::Builder::new().name("wasmhook-pipeline".into()).spawn(move || run(&store, &engine, &rx))?;
    Ok(Waker(tx))
}

fn run(store: &Store, engine: &PluginEngine, wake: &Receiver<()>) {
    let plugins = super::transform::PluginCache::default();
    let pipeline = Pipeline { store, engine, plugins: &plugins };
    loop {
        let batch = match store.next_accepted(BATCH) {
            Ok(batch) => batch,
            Err(e) => {
                tracing::error!(error = %e, "cannot read accepted events; retrying");
                Vec::new()
            }
        };
        if batch.is_empty() {
            match wake.recv_timeout(IDLE_POLL) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        for event in batch {
            let finished =
                pipeline.process(&event).and_then(|done| store.finish_event(&event.id, &done).map(|()| done));
            match finished {
                Ok(done) => tracing::debug!(event = %event.id, status = done.status, "event processed"),
                Err(e) => {
                    // Left `accepted`: the next look retries it.
                    tracing::error!(event = %event.id, error = %e, "event processing hit a storage error");
                    std::thread::sleep(IDLE_POLL);
                }
            }
        }
    }
}
