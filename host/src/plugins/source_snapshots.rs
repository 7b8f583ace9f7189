//! Which steps' sources have a snapshot of their own (the runtime pre-initialized with the
//! source compiled), which wait for one, and which to drop when there are too many: the
//! bookkeeping only; the engine makes the snapshots on a thread of its own.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

/// Sources with a snapshot at once. Each holds its compiled code in memory (the runtime's
/// 8.7 MB component, compiled), so a server with many workflows keeps the ones used last;
/// the others run on the shared snapshot (0.25 ms a call instead of 0.08 ms).
pub const MAX_SOURCE_SNAPSHOTS: usize = 8;

/// The sources' snapshots, by the source's SHA-256, with the work queued.
pub struct SourceSnapshots<T> {
    ready: HashMap<String, (Arc<T>, u64)>,
    queued: VecDeque<(String, String)>,
    /// Every source ever queued: a snapshot is made once per source and server, so a
    /// source dropped for room (or one whose snapshot failed) is not made again and again.
    tried: HashSet<String>,
    working: bool,
    uses: u64,
    capacity: usize,
}

impl<T> SourceSnapshots<T> {
    /// Room for `capacity` snapshots.
    pub fn new(capacity: usize) -> Self {
        SourceSnapshots {
            ready: HashMap::new(),
            queued: VecDeque::new(),
            tried: HashSet::new(),
            working: false,
            uses: 0,
            capacity: capacity.max(1),
        }
    }

    /// The snapshot of the source with hash `sha256`, if made (and kept).
    pub fn get(&mut self, sha256: &str) -> Option<Arc<T>> {
        self.uses += 1;
        let uses = self.uses;
        self.ready.get_mut(sha256).map(|(snapshot, used)| {
            *used = uses;
            snapshot.clone()
        })
    }

    /// Ask for a snapshot of `source` (hash `sha256`): queued unless it was asked for
    /// before, or the queue already holds as many as are kept (asking again later may
    /// queue it then). True when the caller must start a worker (none is running).
    pub fn want(&mut self, sha256: &str, source: &str) -> bool {
        if self.queued.len() >= self.capacity || !self.tried.insert(sha256.to_string()) {
            return false;
        }
        self.queued.push_back((sha256.to_string(), source.to_string()));
        !std::mem::replace(&mut self.working, true)
    }

    /// The next source to make a snapshot of; `None` ends the worker.
    pub fn next_job(&mut self) -> Option<(String, String)> {
        let job = self.queued.pop_front();
        self.working = job.is_some();
        job
    }

    /// Keep the snapshot made for `sha256`, dropping the least recently used one if full.
    pub fn made(&mut self, sha256: String, snapshot: Arc<T>) {
        if self.ready.len() >= self.capacity
            && let Some(oldest) = self.ready.iter().min_by_key(|(_, (_, used))| *used).map(|(sha, _)| sha.clone())
        {
            self.ready.remove(&oldest);
        }
        self.uses += 1;
        self.ready.insert(sha256, (snapshot, self.uses));
    }

    /// How many snapshots are kept.
    pub fn kept(&self) -> usize {
        self.ready.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_queued_once_and_the_least_recently_used_snapshot_makes_room() {
        let mut snapshots = SourceSnapshots::<u32>::new(2);
        assert!(snapshots.want("a", "source a"), "the first wish starts a worker");
        assert!(!snapshots.want("b", "source b"), "a worker is running");
        assert!(!snapshots.want("a", "source a"), "asked for before");
        assert_eq!(snapshots.next_job(), Some(("a".into(), "source a".into())));
        snapshots.made("a".into(), Arc::new(1));
        assert_eq!(snapshots.next_job(), Some(("b".into(), "source b".into())));
        snapshots.made("b".into(), Arc::new(2));
        assert_eq!(snapshots.next_job(), None, "the worker ends");
        assert_eq!(snapshots.get("a").as_deref(), Some(&1), "a is now used after b");
        assert!(snapshots.want("c", "source c"), "a new worker for a new source");
        assert_eq!(snapshots.next_job(), Some(("c".into(), "source c".into())));
        snapshots.made("c".into(), Arc::new(3));
        assert_eq!(snapshots.next_job(), None);
        assert_eq!(snapshots.kept(), 2);
        assert_eq!(snapshots.get("b"), None, "b was used least recently");
        assert_eq!(snapshots.get("a").as_deref(), Some(&1));
        assert!(!snapshots.want("b", "source b"), "a dropped source is not made again");

        // No more waits in the queue than are kept; one refused may be asked for again.
        assert!(snapshots.want("d", "d"));
        assert!(!snapshots.want("e", "e"));
        assert!(!snapshots.want("f", "f"), "the queue holds 2");
        assert_eq!(snapshots.next_job().map(|(sha, _)| sha).as_deref(), Some("d"));
        assert!(!snapshots.want("f", "f"), "a worker is running, and f is queued now");
        assert_eq!(snapshots.next_job().map(|(sha, _)| sha).as_deref(), Some("e"));
        assert_eq!(snapshots.next_job().map(|(sha, _)| sha).as_deref(), Some("f"));
    }
}
