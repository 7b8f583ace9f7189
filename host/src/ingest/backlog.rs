//! The bound on unprocessed events: when more than the bound are waiting for the
//! pipeline, ingest answers 503 with `Retry-After` instead of letting the backlog (and the
//! time to the last event's enrollment) grow without limit.
//!
//! The gauge is kept without touching the database on the ingest path: the ingest writer
//! adds what it commits, the worker subtracts what it finishes and now and then recounts
//! from the store (which also picks up replays), and the ingest log's applier subtracts what
//! it finished from memory (never stored waiting, so no recount sees it). Between recounts it
//! over-counts rather than under-: only an applier batch finished while a recount runs can
//! make it read low, by that batch, until the next recount.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::store::{Store, StoreError};

/// The default bound: far beyond any normal burst, well before the disk fills.
pub const DEFAULT_BOUND: u64 = 1_000_000;

/// How long a refused sender is asked to wait.
pub const RETRY_AFTER_S: u32 = 5;

/// How often a busy worker recounts from the store.
const RECOUNT_EVERY: Duration = Duration::from_secs(1);

/// Unprocessed events against their bound.
pub struct Backlog {
    bound: u64,
    /// As of the last recount, less what the worker finished since.
    counted: AtomicU64,
    /// Committed by ingest since the last recount.
    added: AtomicU64,
    /// Requests refused since start.
    refused: AtomicU64,
}

impl Backlog {
    /// A gauge with this bound, starting from what the store holds.
    pub fn open(store: &Store, bound: u64) -> Result<Backlog, StoreError> {
        let counted = AtomicU64::new(store.count_accepted()?);
        Ok(Backlog { bound, counted, added: AtomicU64::new(0), refused: AtomicU64::new(0) })
    }

    /// Events waiting for the pipeline (an upper estimate between recounts).
    pub fn len(&self) -> u64 {
        self.counted.load(Ordering::Relaxed) + self.added.load(Ordering::Relaxed)
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    /// Requests refused for a full backlog since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// May one more request be stored? Counts the refusal if not.
    pub fn admit(&self) -> bool {
        let open = self.len() < self.bound;
        if !open {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        open
    }

    /// Ingest committed `n` events for the pipeline.
    pub fn added(&self, n: u64) {
        self.added.fetch_add(n, Ordering::Relaxed);
    }

    /// The worker finished `n` events.
    pub fn finished(&self, n: u64) {
        let _ = self.counted.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| Some(c.saturating_sub(n)));
    }

    /// The ingest log's applier finished `n` events from memory: ingest added them, and
    /// they were never stored waiting, so no recount will see them.
    pub fn finished_unstored(&self, n: u64) {
        let _ = self.added.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| Some(a.saturating_sub(n)));
    }

    /// Recount from the store. Ingest commits racing the count are in both the count and
    /// `added` until the next recount: an over-count, on the safe side.
    pub fn recount(&self, store: &Store) -> Result<(), StoreError> {
        let before = self.added.load(Ordering::Relaxed);
        let stored = store.count_accepted()?;
        self.counted.store(stored, Ordering::Relaxed);
        // Saturating: the applier may have taken its own finished events off meanwhile.
        let _ = self.added.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |a| Some(a.saturating_sub(before)));
        Ok(())
    }
}

/// When the worker recounts next: at once when idle, else once per [`RECOUNT_EVERY`].
#[derive(Default)]
pub struct RecountClock(Option<Instant>);

impl RecountClock {
    /// Whether to recount now; `idle` when the worker found nothing to do.
    pub fn due(&mut self, idle: bool) -> bool {
        let due = idle || self.0.is_none_or(|last| last.elapsed() >= RECOUNT_EVERY);
        if due {
            self.0 = Some(Instant::now());
        }
        due
    }
}
