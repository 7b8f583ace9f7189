//! Events straight from the ingest log (SQLite). The applier hands each batch of
//! acknowledged groups here; the `accepted` events of webhooks measured cheap are coerced,
//! transformed, matched and enrolled from memory and stored once, already processed, in the
//! transaction that stores the groups and the log position. The rest — a webhook that is
//! slow or not measured yet, events past a webhook's share of the batch, and every event
//! while the applier is behind — are stored `accepted`, and the lanes process them from the
//! database as before.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use super::config::BatchConfig;
use super::fair::FairShare;
use super::worker::{Shared, conclude_all, cpu_costs, prepare_all, settled_metrics};
use crate::ingest::applier::Apply;
use crate::model::event::EventStatus;
use crate::model::ids::WebhookId;
use crate::store::events::StoredEvent;
use crate::store::ingest_log::LoggedGroup;
use crate::store::{Store, StoreError};
use crate::work::panic::panic_message;

/// Past this many acknowledged events waiting behind a batch, the batch is stored as it
/// came: processing in the applier would let the log's backlog grow toward its bound
/// (32,768 events), while the lanes can catch up from the database. Half the bound: a
/// disk stall of a second at ~8k events/s stays below it (with 4,096 it did not, and the
/// rest of that run was stored unprocessed).
const BEHIND: usize = 4096;

/// The pipeline's [`Apply`], used by the ingest log's applier.
pub struct FromLog {
    shared: Arc<Shared>,
    threads: usize,
}

impl FromLog {
    pub(super) fn new(shared: Arc<Shared>, threads: usize) -> FromLog {
        FromLog { shared, threads }
    }

    /// The events to process now: the `accepted` ones of webhooks measured cheap, and how
    /// many webhooks they are of. A lane may be processing the same webhook's events from
    /// the database meanwhile; it cannot see these (they are not stored yet), and the two
    /// transactions are serialised, so each event is processed once and each enrollment
    /// rule holds.
    fn pick(&self, groups: &[&LoggedGroup]) -> (Vec<StoredEvent>, usize) {
        let mut cheap: HashMap<&WebhookId, bool> = HashMap::new();
        let events: Vec<StoredEvent> = groups
            .iter()
            .flat_map(|g| &g.events)
            .filter(|e| e.status == EventStatus::Accepted)
            .filter(|e| *cheap.entry(&e.webhook_id).or_insert_with(|| self.shared.measured_cheap(&e.webhook_id)))
            .map(|e| e.clone().stored())
            .collect();
        (events, cheap.values().filter(|c| **c).count())
    }

    /// Process `events` from memory and store them, with the groups, in one transaction;
    /// how many were finished (the rest, past their webhook's share, stay `accepted`).
    fn process(
        &self,
        store: &Store,
        groups: &[&LoggedGroup],
        durable: bool,
        events: &[StoredEvent],
        webhooks: usize,
    ) -> Result<usize, StoreError> {
        let shared = &self.shared;
        let config = BatchConfig::load(store, &shared.engine, &shared.plugins, events)?;
        let budget = FairShare::budget(webhooks, self.threads);
        let timed = prepare_all(&shared.engine, &config, self.threads, events, Some(budget));
        let costs = cpu_costs(&timed);
        let settled = store
            .apply_logged_batch(groups, durable, |batch| conclude_all(batch, &config, events.iter().zip(timed)))?;
        let settled_len = settled.len();
        let finished = settled_len as u64;
        settled_metrics(settled, &shared.tally);
        shared.tally_openings();
        crate::telemetry::metrics::events_processed_from_log(finished);
        shared.observe(events, costs);
        shared.backlog.finished_unstored(finished);
        shared.act.wake();
        Ok(settled_len)
    }
}

impl Apply for FromLog {
    fn apply(&self, store: &Store, groups: &[&LoggedGroup], durable: bool, behind: usize) -> Result<usize, StoreError> {
        let accepted = groups.iter().flat_map(|g| &g.events).filter(|e| e.status == EventStatus::Accepted).count();
        let as_logged = || store.apply_logged(groups, durable).map(|()| accepted);
        if behind > BEHIND {
            return as_logged();
        }
        let (events, webhooks) = self.pick(groups);
        if events.is_empty() {
            return as_logged();
        }
        let outcome =
            std::panic::catch_unwind(AssertUnwindSafe(|| self.process(store, groups, durable, &events, webhooks)));
        match outcome {
            Ok(result) => result.map(|finished| accepted.saturating_sub(finished)),
            Err(panic) => {
                // A bug in wasmhook (plugin traps are values): the lanes process these events
                // one by one, giving the one that panics a visible end.
                tracing::error!(message = %panic_message(panic.as_ref()), events = events.len(),
                    "processing events from the ingest log panicked; they are stored as they came, for the pipeline");
                as_logged()
            }
        }
    }
}
