//! The ingest log's other end (SQLite): at start, groups the database does not have are
//! applied again ([`recover`]); while serving, one thread ([`spawn`]) stores what ingest
//! acknowledged, many groups per transaction, recording the position each transaction
//! reaches, and deletes the segments the database no longer needs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::unapplied::Unapplied;
use crate::crash;
use crate::store::ingest_log::{self, LogError, LoggedGroup, Segment, batch_len};
use crate::store::{Store, StoreError};
use crate::work::threads::Threads;
use crate::work::waker::Waker;

/// Most events stored per transaction. Bigger batches amortise the commit; past a few
/// thousand the transaction holds the write gate long enough to delay the pipeline's.
const MAX_APPLY_EVENTS: usize = 4096;

/// Most payload bytes stored per transaction: the write-ahead log holds a transaction whole,
/// so a batch of large events is kept to what a nearly full disk can still take.
const MAX_APPLY_BYTES: usize = 4 * 1024 * 1024;

/// How the applier stores a batch of acknowledged groups: the pipeline's
/// (`pipeline::from_log`) processes what it can at once and stores it processed, in the
/// same transaction, and the rest as it came (`accepted`, for the pipeline's lanes). A
/// trait so the ingest layer does not reach up into the pipeline.
pub trait Apply: Send {
    /// Store `groups` with the position they reach, in one transaction (`durable`: with a
    /// full fsync, segments are deleted next). `behind`: acknowledged events waiting after
    /// them. Returns how many events it left `accepted` for the pipeline's lanes.
    fn apply(&self, store: &Store, groups: &[&LoggedGroup], durable: bool, behind: usize) -> Result<usize, StoreError>;
}

/// Why the log could not be recovered at start.
#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    /// Reading or writing the log's files.
    #[error(transparent)]
    Log(#[from] LogError),
    /// Applying what it held.
    #[error("applying the ingest log: {0}")]
    Store(#[from] StoreError),
}

/// The log after a start: everything it held is in the database, its old segments are
/// gone, and a new segment is made.
pub struct Recovered {
    /// The log's directory.
    pub dir: PathBuf,
    /// The new segment, numbered after every segment the log had.
    pub first: Segment,
    /// The last group the database has; the next group is one more.
    pub applied: u64,
}

/// Apply every logged group past the database's position, make that durable, delete the
/// segments and open a new one. A record cut short by a crash was never acknowledged: it is
/// reported and ignored.
pub fn recover(store: &Store, data_dir: &Path) -> Result<Recovered, RecoverError> {
    let dir = ingest_log::open_dir(data_dir)?;
    let applied = store.log_applied()?;
    let mut last = applied;
    let mut replayed = 0usize;
    let found = ingest_log::segments(&dir)?;
    for (_, path) in &found {
        let read = ingest_log::read_segment(path)?;
        if read.ignored_bytes > 0 {
            tracing::warn!(segment = %path.display(), bytes = read.ignored_bytes,
                "ignored the end of an ingest log segment: a record cut short by a crash, never acknowledged");
        }
        let mut pending: &[LoggedGroup] = &read.groups[read.groups.partition_point(|g| g.seq <= applied)..];
        while !pending.is_empty() {
            let (batch, rest) = pending.split_at(batch_len(pending, MAX_APPLY_EVENTS, MAX_APPLY_BYTES));
            store.apply_logged(&batch.iter().collect::<Vec<_>>(), false)?;
            replayed += batch.iter().map(|g| g.events.len()).sum::<usize>();
            pending = rest;
        }
        last = read.groups.iter().map(|g| g.seq).fold(last, u64::max);
    }
    if !found.is_empty() {
        // Durable before the segments go: an empty group records the position with a fsync.
        store.apply_logged(&[&LoggedGroup { seq: last, events: Vec::new() }], true)?;
        ingest_log::remove_all(&dir)?;
    }
    if replayed > 0 {
        tracing::info!(events = replayed, "applied events the ingest log held from before the restart");
    }
    let number = found.last().map_or(0, |(n, _)| n + 1);
    let first = ingest_log::make_segment(&dir, number)?;
    Ok(Recovered { dir, first, applied: last })
}

/// Start the applier on its own connection; it ends once the writer closed `unapplied` and
/// everything was applied (or, when stopping, at a failure: the log keeps the rest).
pub fn spawn(
    store: Store,
    unapplied: Arc<Unapplied>,
    dir: PathBuf,
    apply: Box<dyn Apply>,
    waker: Waker,
    threads: &Threads,
) -> std::io::Result<()> {
    let stop = threads.clone();
    threads.spawn("wasmhook-applier", move || run(&store, &unapplied, &dir, apply.as_ref(), &waker, &stop))
}

fn run(store: &Store, unapplied: &Unapplied, dir: &Path, apply: &dyn Apply, waker: &Waker, threads: &Threads) {
    let mut reclaimed_below = unapplied.newest_segment().number;
    let mut failures = 0u32;
    while let Some(batch) = unapplied.next_batch(MAX_APPLY_EVENTS, MAX_APPLY_BYTES) {
        let groups: Vec<&LoggedGroup> = batch.iter().map(Arc::as_ref).collect();
        let Some(last) = groups.last().map(|g| g.seq) else { continue };
        let behind = unapplied.events().saturating_sub(groups.iter().map(|g| g.events.len()).sum());
        // Segments before the newest hold only groups before its first: once this batch
        // reaches there, commit with a fsync and delete them.
        let newest = unapplied.newest_segment();
        let reclaim = newest.number > reclaimed_below && last + 1 >= newest.first_seq;
        match apply.apply(store, &groups, reclaim, behind) {
            Ok(left) => {
                crash::at(crash::Point::Applied);
                failures = 0;
                unapplied.applied(last);
                // Only for work: woken after every batch, the lanes spent a tenth of the CPU
                // looking for accepted events while only `not_ready` ones were acknowledged.
                if left > 0 {
                    waker.wake();
                }
                if reclaim {
                    match ingest_log::reclaim(dir, newest.number) {
                        Ok(_) => reclaimed_below = newest.number,
                        Err(e) => {
                            tracing::warn!(error = %e, "could not delete applied ingest log segments; will retry")
                        }
                    }
                }
            }
            Err(e) => {
                failures += 1;
                tracing::error!(error = %e, events = unapplied.events(),
                    "could not store acknowledged events in the database; they stay in the ingest log, retrying");
                if threads.stopping() {
                    tracing::warn!(
                        "stopping with acknowledged events still in the ingest log; the next start applies them"
                    );
                    return;
                }
                // 100 ms, doubling to 3.2 s.
                threads.sleep(Duration::from_millis(50 << failures.min(6)));
            }
        }
    }
}
